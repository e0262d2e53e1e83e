"""WBP with IMOD's local alignments through the commands (``--com`` with LOCALFILE, LOCALSCALE, ZFACTORFILE) against
IMOD 4.8.2's tilt on the references in tests/data/local (tests/data/make_local_references.py)."""

import json
import shutil
from pathlib import Path

import mrcfile
import numpy as np
import pytest

from cli_helpers import cli, leftovers, one_line
from local_reference import figures, input_stack

DATA = Path(__file__).parent / "data" / "local"
REFERENCES = json.loads((DATA / "references.json").read_text())
RMS_TOLERANCE, MAX_TOLERANCE = 0.001, 0.02  # % of the reference's SD (jason64: see below)
JASON = (0.03, 0.2)  # its values are -6527 +- 14: float32 rounding of the mean is 0.02 % of its SD


def materialize(folder: Path, shared: Path, name: str) -> Path:
    """The case's parameter file and every file it names, in ``folder``; returns the parameter file."""
    param = DATA / f"{name}.param"
    for line in param.read_text().splitlines():
        key, _, value = line.partition(" ")
        if key in ("TILTFILE", "LOCALFILE", "ZFACTORFILE") and not (folder / value).exists():
            shutil.copy(DATA / value, folder / value)
    views, pixel = input_stack(REFERENCES[name]["input"], shared, DATA)
    stack = folder / param.read_text().split("InputProjections ", 1)[1].split()[0]
    with mrcfile.new(stack, overwrite=True) as mrc:
        mrc.set_data(views)
        mrc.voxel_size = pixel
    text = param.read_text().replace(f"OutputFile {name}.rec", "OutputFile ours.rec")
    (folder / "job.param").write_text(text)
    return folder / "job.param"


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_local_wbp_equals_imods(name, shared_dir, tmp_path):
    param = materialize(tmp_path, shared_dir, name)
    result = cli("--com", param, "--quiet")
    assert result.exit_code == 0, result.output
    ours = mrcfile.read(tmp_path / "ours.rec")
    theirs = mrcfile.read(DATA / f"{name}.rec")
    corr, rms, worst = figures(theirs, ours)
    print(f"{name}: correlation {corr:.8f}, RMS {rms:.5f} %, largest {worst:.4f} % of the SD")
    rms_limit, max_limit = JASON if name.startswith("jason") else (RMS_TOLERANCE, MAX_TOLERANCE)
    assert rms <= rms_limit and worst <= max_limit


@pytest.mark.parametrize("extra, words", [
    ("SIRTIterations 4\n", "applies to bpt, fbp, wbp, sirt, sart, admm; not to imod-sirt (IMOD's LOCALFILE"),
    ("LOCALSCALE -1\n", None),  # tilt: 0 or less takes the scale from the pixel sizes
])
def test_what_tilt_refuses_or_ignores_with_a_local_file(extra, words, shared_dir, tmp_path):
    param = materialize(tmp_path, shared_dir, "empiar_shift")
    param.write_text(param.read_text() + extra)
    result = cli("--com", param, "--quiet")
    if words is None:
        assert result.exit_code == 0, result.output
        return
    assert result.exit_code == 2 and words in one_line(result.stderr)
    assert not (tmp_path / "ours.rec").exists() and not leftovers(tmp_path)


def test_a_damaged_local_file_gets_one_line_and_writes_nothing(shared_dir, tmp_path):
    param = materialize(tmp_path, shared_dir, "empiar_shift")
    local = tmp_path / "empiar_shift_local.xf"
    local.write_text("\n".join(local.read_text().splitlines()[:-3]) + "\n")  # truncated
    result = cli("--com", param, "--quiet")
    assert result.exit_code == 2 and "empiar_shift_local.xf" in one_line(result.stderr)
    assert not (tmp_path / "ours.rec").exists() and not leftovers(tmp_path)


def test_the_halves_use_the_local_alignments_of_their_views(shared_dir, tmp_path):
    """--split odd-even: each half equals a run on its own views (--include), local alignments and all."""
    param = materialize(tmp_path, shared_dir, "empiar_shift")
    assert cli("--com", param, "--quiet", "--split", "odd-even").exit_code == 0
    nviews = mrcfile.open(tmp_path / "empiar_u8.mrc", header_only=True).header.nz
    odd = ",".join(str(v) for v in range(1, int(nviews) + 1, 2))
    text = param.read_text().replace("OutputFile ours.rec", "OutputFile odd.rec")
    (tmp_path / "odd.param").write_text(text + f"INCLUDE {odd}\n")
    result = cli("--com", tmp_path / "odd.param", "--quiet")
    assert result.exit_code == 0, result.output
    assert np.array_equal(mrcfile.read(tmp_path / "ours_odd.rec"), mrcfile.read(tmp_path / "odd.rec"))
