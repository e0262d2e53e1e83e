"""Reprojection of a tomogram (tilt.com with RecFileToReproject, and ``tiltrec reproject``) against IMOD 4.8.2's
tilt: the references in tests/data/reprojection were made by the unmodified tilt
(tests/data/make_reprojection_references.py)."""

import json
import subprocess
from pathlib import Path

import mrcfile
import numpy as np
import pytest

from cli_helpers import BIN, MPIEXEC, cli, leftovers, needs_mpi, one_line, tools_cli
from make_reprojection_references import materialize as link

DATA = Path(__file__).parent / "data" / "reprojection"
CASES = json.loads((DATA / "cases.json").read_text())
TOLERANCE = 1e-5  # of the reference's SD, for any pixel (measured: 0, bit for bit, on this machine)


def materialize(folder: Path, shared: Path, name: str, output: str = "ours.mrc") -> Path:
    """The case's files linked into ``folder`` and its parameter file; returns the parameter file."""
    link(folder, CASES[name]["inputs"], data=DATA, shared=shared)
    param = folder / "job.param"
    param.write_text(CASES[name]["param"] + f"OutputFile {output}\n")
    return param


@pytest.mark.parametrize("name", sorted(CASES))
def test_reprojection_equals_imods(name, shared_dir, tmp_path):
    param = materialize(tmp_path, shared_dir, name)
    result = cli("--com", param, "--quiet")
    assert result.exit_code == 0, result.output
    with mrcfile.open(DATA / f"{name}.mrc") as ref, mrcfile.open(tmp_path / "ours.mrc") as ours:
        theirs, mine = ref.data.astype(np.float64), ours.data.astype(np.float64)
        assert mine.shape == theirs.shape
        worst = float(np.abs(mine - theirs).max()) / theirs.std()
        print(f"{name}: {np.mean(mine == theirs):.4%} of the pixels equal, worst difference {worst:.2e} SD")
        assert worst <= TOLERANCE
        for field in ("nx", "ny", "nz", "mode", "mx", "my", "mz"):
            assert int(ours.header[field]) == int(ref.header[field]), field
        for field in ("cella", "origin"):
            assert np.allclose(ours.header[field].tolist(), ref.header[field].tolist()), field
        # tilt's header holds the range before rounding to an integer mode, tiltrec's that of the stored values
        rounding = 0.5 if int(ref.header.mode) in (0, 1) else 1e-3
        assert np.allclose([ours.header.dmin, ours.header.dmax, ours.header.dmean],
                           [ref.header.dmin, ref.header.dmax, ref.header.dmean], rtol=1e-5, atol=rounding)
        # the views' labels, then ours where tilt writes "TILT: Reprojection from tomogram"
        nlabels = int(ref.header.nlabl)
        assert int(ours.header.nlabl) == nlabels
        assert [bytes(x) for x in ours.header.label[:nlabels - 1]] == [bytes(x) for x in ref.header.label[:nlabels - 1]]
        assert b"Reprojection from tomogram" in bytes(ours.header.label[nlabels - 1])


def _run(folder, *args):
    result = cli(*args)
    return result.exit_code, result.stderr if hasattr(result, "stderr") else result.output


@pytest.mark.parametrize("change, message", [
    ("THICKNESS 32\n", "THICKNESS 31\n"),
])
def test_a_tomogram_of_other_sizes_is_refused_with_one_line(change, message, shared_dir, tmp_path):
    param = materialize(tmp_path, shared_dir, "jason_views")
    param.write_text(param.read_text().replace(change, message))
    result = cli("--com", param, "--quiet")
    assert result.exit_code == 2
    line = one_line(result.stderr)
    assert "jason64_wbp.rec" in line and "64 x 32 x 64" in line and "64 x 31 x 64" in line
    assert not (tmp_path / "ours.mrc").exists() and not leftovers(tmp_path)


@pytest.mark.parametrize("edit, words", [
    (lambda t: t.replace("RecFileToReproject jason64_wbp.rec\n", ""), "ViewsToReproject without RecFileToReproject"),
    (lambda t: t + "REPROJECT 0\n", "REPROJECT or ViewsToReproject, not both"),
    (lambda t: t.replace("ViewsToReproject 1,2,5,30,45,60,85,90", "ViewsToReproject 1,91"), "view 91 is outside 1-90"),
    (lambda t: t.replace("ViewsToReproject 1,2,5,30,45,60,85,90", "ViewsToReproject 1,x"), "ViewsToReproject"),
    (lambda t: t.replace("PERPENDICULAR", "PARALLEL"), "PERPENDICULAR"),
    (lambda t: t.replace("ZMinAndMaxReproj 20 27", "ZMinAndMaxReproj 20 64"), "not within 0-63"),
    (lambda t: t + "SIRTIterations 3\n", "RecFileToReproject with SIRTIterations"),
    (lambda t: t.replace("jason64_wbp.rec", "job.param"), "job.param"),
])
def test_a_wrong_reprojection_file_gets_one_line_and_writes_nothing(edit, words, shared_dir, tmp_path):
    param = materialize(tmp_path, shared_dir, "jason_views")
    param.write_text(edit(param.read_text()))
    result = cli("--com", param, "--quiet")
    assert result.exit_code == 2, result.output
    assert words in one_line(result.stderr)
    assert not (tmp_path / "ours.mrc").exists() and not leftovers(tmp_path)


def test_reconstruction_options_on_the_command_line_are_refused(shared_dir, tmp_path):
    param = materialize(tmp_path, shared_dir, "jason_views")
    result = cli("--com", param, "--quiet", "--thickness", "30")
    assert result.exit_code == 2
    assert "--thickness does not apply to a reprojection" in one_line(result.stderr)
    result = cli("--com", param, "--quiet", tmp_path / "stack.mrc", tmp_path / "x.tlt", tmp_path / "out.mrc")
    assert result.exit_code == 2 and "comes from the parameter file" in one_line(result.stderr)


def test_the_output_may_not_be_the_tomogram(shared_dir, tmp_path):
    param = materialize(tmp_path, shared_dir, "jason_views", output="jason64_wbp.rec")
    before = (tmp_path / "jason64_wbp.rec").stat()
    result = cli("--com", param, "--quiet", "--overwrite")
    assert result.exit_code == 2 and "would overwrite the tomogram" in one_line(result.stderr)
    after = (tmp_path / "jason64_wbp.rec").stat()
    assert (before.st_mtime_ns, before.st_size) == (after.st_mtime_ns, after.st_size)


def test_an_existing_output_is_kept_without_overwrite(shared_dir, tmp_path):
    param = materialize(tmp_path, shared_dir, "jason_views")
    (tmp_path / "ours.mrc").write_bytes(b"keep me")
    result = cli("--com", param, "--quiet")
    assert result.exit_code == 2 and "--overwrite" in one_line(result.stderr)
    assert (tmp_path / "ours.mrc").read_bytes() == b"keep me"


@needs_mpi
@pytest.mark.mpi
def test_two_ranks_write_the_same_file_bit_for_bit(shared_dir, tmp_path):
    param = materialize(tmp_path, shared_dir, "empiar_geomA_narrow")
    outputs = []
    for ranks in (1, 3):
        out = tmp_path / f"ranks{ranks}.mrc"
        cmd = [str(BIN / "tiltrec-mpi"), "--com", str(param), "--quiet", "-o", str(out)]
        if ranks > 1:
            cmd = [MPIEXEC, "-n", str(ranks), *cmd]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        outputs.append(mrcfile.read(out))
    assert np.array_equal(outputs[0], outputs[1])
    assert np.array_equal(outputs[0], mrcfile.read(DATA / "empiar_geomA_narrow.mrc"))


# ---------------------------------------------------------------- tiltrec reproject
def test_the_tool_equals_the_parameter_file_on_the_same_geometry(shared_dir, tmp_path):
    """``tiltrec reproject`` with the geometry options gives what tilt gives for the same request."""
    rec = shared_dir / "reference/imod-4.8.2/empiar_wbp_geomA.rec"
    angles = shared_dir / "data/empiar10009/empiar_10009_128.tlt"
    out = tmp_path / "tool.mrc"
    result = tools_cli("reproject", rec, angles, out, "--pitch", "5", "--offset", "3", "--xshift", "2.5",
                       "--zshift", "-4", "--values", "imod", "--quiet")
    assert result.exit_code == 0, result.output
    param = materialize(tmp_path, shared_dir, "empiar_geomA_narrow")
    param.write_text(param.read_text().replace("XMinAndMaxReproj 40 79\nZMinAndMaxReproj 60 65\n", ""))
    result = cli("--com", param, "--quiet")
    assert result.exit_code == 0, result.output
    assert np.array_equal(mrcfile.read(out), mrcfile.read(tmp_path / "ours.mrc"))


def test_the_tool_reads_the_scale_from_tiltrecs_label(tmp_path):
    """A tiltrec SIRT tomogram holds densities per pixel of path: its rays are summed as they are; a WBP one is on
    IMOD's scale (nx/2.2 times): divided.  A tomogram whose label does not tell is refused without --values."""
    rng = np.random.default_rng(1)
    vol = rng.random((6, 10, 32), dtype=np.float32)  # 6 slices, 10 thick, 32 wide (xzy file order)
    angles = tmp_path / "a.tlt"
    angles.write_text("-30\n0\n30\n")
    results = {}
    for label in ("tiltrec-mpi 0.1.0: SIRT 32x6x10 bin 1", "tiltrec-mpi 0.1.0: WBP 32x6x10 bin 1", "other"):
        path = tmp_path / f"{label.split()[-4] if label != 'other' else 'other'}.mrc"
        with mrcfile.new(path, overwrite=True) as mrc:
            mrc.set_data(vol)
            mrc.header.label[0] = label.encode()
            mrc.header.nlabl = 1
        out = tmp_path / f"out_{path.name}"
        result = tools_cli("reproject", path, angles, out, "--quiet")
        results[label] = result, out
    sirt, wbp, other = results.values()
    assert sirt[0].exit_code == 0 and wbp[0].exit_code == 0
    ratio = mrcfile.read(sirt[1]) / mrcfile.read(wbp[1])
    assert np.allclose(ratio, np.float32(32) / np.float32(2.2), rtol=1e-5)
    assert other[0].exit_code == 2 and "--values" in one_line(other[0].stderr)
    assert not other[1].exists()


def test_the_tool_takes_a_list_of_angles_that_starts_with_a_minus_sign(shared_dir, tmp_path):
    rec = shared_dir / "reference/imod-4.8.2/jason64_wbp.rec"
    listed, filed = tmp_path / "listed.mrc", tmp_path / "filed.mrc"
    (tmp_path / "a.tlt").write_text("-60\n0\n60\n")
    assert tools_cli("reproject", rec, "-60,0,60", listed, "--values", "imod", "--quiet").exit_code == 0
    assert tools_cli("reproject", rec, tmp_path / "a.tlt", filed, "--values", "imod", "--quiet").exit_code == 0
    assert np.array_equal(mrcfile.read(listed), mrcfile.read(filed))
    result = tools_cli("reproject", rec, "-60,0,60", tmp_path / "x.mrc", "--valuez", "imod")
    assert result.exit_code == 2 and "unexpected extra argument(s) (--valuez imod)" in result.output
