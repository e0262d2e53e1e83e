"""Reprojection of a tomogram with local alignments (tilt.com with RecFileToReproject and LOCALFILE, and ``tiltrec
reproject --local``) against IMOD 4.8.2's tilt: the references in tests/data/local_reprojection were made by the
unmodified tilt (tests/data/make_local_reprojection_references.py)."""

import json
import subprocess
from pathlib import Path

import mrcfile
import numpy as np
import pytest

from cli_helpers import BIN, MPIEXEC, cli, leftovers, needs_mpi, one_line, tools_cli
from make_local_reprojection_references import materialize as put

DATA = Path(__file__).parent / "data" / "local_reprojection"
LOCAL = Path(__file__).parent / "data" / "local"
CASES = json.loads((DATA / "cases.json").read_text())
# of the reference's SD, for any pixel.  Measured: 0 (every pixel bit for bit) on the development machine.  A ray's
# Newton steps compare positions with fixed bounds, so a last-bit change of a C library's cosf could move a sample
# to another cell; 1e-5 SD leaves room for that and none for a changed algorithm (one Newton step instead of up to
# five, no jumps, or one Z step for the whole slice moved every reference's worst pixel by 1e-4 to 10 SD).
TOLERANCE = 1e-5


def materialize(folder: Path, shared: Path, name: str, output: str = "ours.mrc", extra: str = "") -> Path:
    """The case's files in ``folder`` and its parameter file; returns the parameter file."""
    put(folder, CASES[name]["inputs"], data=DATA, local=LOCAL, shared=shared)
    param = folder / "job.param"
    param.write_text(CASES[name]["param"] + extra + f"OutputFile {output}\n")
    return param


def agreement(mine: np.ndarray, theirs: np.ndarray) -> tuple[float, float]:
    """The largest difference and the RMS difference, both over the reference's SD."""
    mine, theirs = mine.astype(np.float64), theirs.astype(np.float64)
    diff = mine - theirs
    sd = theirs.std()
    return float(np.abs(diff).max()) / sd, float(np.sqrt(np.mean(diff ** 2))) / sd


@pytest.mark.parametrize("name", sorted(CASES))
def test_local_reprojection_equals_imods(name, shared_dir, tmp_path):
    param = materialize(tmp_path, shared_dir, name)
    result = cli("--com", param, "--quiet")
    assert result.exit_code == 0, result.output
    with mrcfile.open(DATA / f"{name}.mrc") as ref, mrcfile.open(tmp_path / "ours.mrc") as ours:
        assert ours.data.shape == ref.data.shape
        worst, rms = agreement(ours.data, ref.data)
        print(f"{name}: {np.mean(ours.data == ref.data):.4%} of the pixels equal, max |diff| "
              f"{float(np.abs(ours.data.astype(np.float64) - ref.data).max()):.3g} ({worst:.2e} SD), RMS {rms:.2e} SD")
        assert worst <= TOLERANCE
        for field in ("nx", "ny", "nz", "mode", "mx", "my", "mz"):
            assert int(ours.header[field]) == int(ref.header[field]), field
        assert np.allclose(ours.header.cella.tolist(), ref.header.cella.tolist())


def test_the_factors_are_the_models(shared_dir, tmp_path):
    """The factors the searches evaluate point by point (local_point_factors) and those of the loaded columns and
    slices (the compiled kernel) are the same, bit for bit, for the reprojection's model of its angles."""
    from tiltrec.cli.imod_com import load
    from tiltrec.cli.imod_reproject import _local_request
    from tiltrec.local_alignments import _compute_factors, view_factors
    from tiltrec.local_point_factors import factors_of_points
    from tiltrec.reprojection.geometry import Request, plan

    param = materialize(tmp_path, shared_dir, "sim_local")
    p = load(param)
    local, _ = _local_request({"local": p.path("LOCALFILE"), "zfactors": p.path("ZFACTORFILE")}, 37, 10.0)
    series = np.loadtxt(LOCAL / "sim.tlt").astype(np.float32)
    req = Request(nx=64, ny=64, series_angles=series, angles=series[::4] + np.float32(0.5), width=64, thickness=28,
                  nslices=8, first_slice=57, pitch=6.0, offset=-1.0, local=local)
    lp = plan(req).local
    columns, slices = np.arange(-3, 70), np.arange(50, 66)
    points = np.empty((4, slices.size, len(req.angles), columns.size), np.float32)
    factors_of_points(lp.tables, lp.grid, lp.centres, columns, slices, points)
    compiled, _ = _compute_factors(lp.model, 0, 0, columns, slices)
    for q in range(4):
        assert np.array_equal(points[q], compiled[q]), q
    for v in range(len(req.angles)):
        assert np.array_equal(view_factors(lp.model, v, columns, slices), points[:, :, v, :]), v


def test_more_angles_than_views_are_reprojected(shared_dir, tmp_path):
    """IMOD's tilt writes infinities for the first angles when REPROJECT lists more angles than the series has
    views (make_local_reprojection_references.py shows it); tiltrec reprojects each as it does on its own."""
    many = ",".join(str(a) for a in range(-59, 60, 2))
    param = materialize(tmp_path, shared_dir, "empiar_full_ranges")
    text = param.read_text().replace("REPROJECT -52.5 -30.1 -2.25 0 14.8 47\n", f"REPROJECT {many}\n")
    param.write_text(text)
    assert cli("--com", param, "--quiet").exit_code == 0
    both = mrcfile.read(tmp_path / "ours.mrc")
    param.write_text(text.replace(many, ",".join(str(a) for a in range(-59, 0, 2))))
    assert cli("--com", param, "--quiet", "--overwrite").exit_code == 0
    assert np.isfinite(both).all() and np.array_equal(both[:30], mrcfile.read(tmp_path / "ours.mrc"))


@needs_mpi
@pytest.mark.mpi
def test_three_ranks_write_the_references_bit_for_bit(shared_dir, tmp_path):
    for name in ("sim_local", "empiar_full"):
        (tmp_path / name).mkdir()
        param = materialize(tmp_path / name, shared_dir, name)
        out = param.parent / "ranks3.mrc"
        done = subprocess.run([MPIEXEC, "-n", "3", str(BIN / "tiltrec-mpi"), "--com", str(param), "--quiet", "-o",
                               str(out)], capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        assert agreement(mrcfile.read(out), mrcfile.read(DATA / f"{name}.mrc"))[0] <= TOLERANCE


def test_the_tool_with_local_alignments_gives_imods_views(shared_dir, tmp_path):
    """``tiltrec reproject --local`` with the geometry as options: the reference's views and lines of its output
    are IMOD's (the reference reprojects every second view, slices 0-3)."""
    put(tmp_path, CASES["empiar_full"]["inputs"], data=DATA, local=LOCAL, shared=shared_dir)
    out = tmp_path / "tool.mrc"
    result = tools_cli("reproject", tmp_path / "empiar_full.rec", tmp_path / "empiar.tlt", out, "--values", "imod",
                       "--layout", "xzy", "--views-size", "128,128", "--slices", "0,5", "--pitch", "4", "--offset", "2",
                       "--axis-offset", "1.5", "--xshift", "2.5", "--zshift", "-3", "--local",
                       tmp_path / "empiar_full_local.xf", "--quiet")
    assert result.exit_code == 0, result.output
    mine = mrcfile.read(out)
    assert mine.shape == (51, 6, 120)
    assert agreement(mine[::2, :4], mrcfile.read(DATA / "empiar_full.mrc"))[0] <= TOLERANCE


@pytest.mark.parametrize("name, options", [
    ("empiar_zfac_angles", ["--zfactors", "empiar_zfac.zfac", "--pitch", "-3", "--slices", "100,107"]),
    ("empiar_localscale", ["--local-scale", "0.5", "--slices", "28,33"]),
])
def test_the_tool_takes_z_factors_and_a_local_scale(name, options, shared_dir, tmp_path):
    """--zfactors and --local-scale act as ZFACTORFILE and LOCALSCALE do: the tool's reprojection at the series'
    angles is the parameter file's at its views (whose angles and slices the references check)."""
    param = materialize(tmp_path, shared_dir, name)
    text = "".join(line + "\n" for line in param.read_text().splitlines()
                   if not line.startswith(("REPROJECT", "ZMinAndMaxReproj")))
    param.write_text(text)
    assert cli("--com", param, "--quiet").exit_code == 0
    inputs = CASES[name]["inputs"]
    rec = next(f for f in inputs if f.endswith(".rec"))
    local = next(f for f in inputs if f.endswith("_local.xf"))
    stack = next(f for f, source in inputs.items() if source.startswith("stack:"))
    with mrcfile.open(tmp_path / stack, header_only=True) as mrc:
        size = f"{int(mrc.header.nx)},{int(mrc.header.ny)}"
    result = tools_cli("reproject", tmp_path / rec, tmp_path / "empiar.tlt", tmp_path / "tool.mrc", "--values",
                       "imod", "--layout", "xzy", "--views-size", size, "--local", tmp_path / local, "--quiet",
                       *[str(tmp_path / o) if o.endswith(".zfac") else o for o in options])
    assert result.exit_code == 0, result.output
    assert np.array_equal(mrcfile.read(tmp_path / "tool.mrc"), mrcfile.read(tmp_path / "ours.mrc"))


@pytest.mark.parametrize("how", ["com", "tool"])
def test_a_malformed_local_file_gets_one_line_and_writes_nothing(how, shared_dir, tmp_path):
    param = materialize(tmp_path, shared_dir, "empiar_full")
    bad = tmp_path / "bad_local.xf"
    bad.write_text("".join((LOCAL / "empiar_full_local.xf").read_text().splitlines(keepends=True)[:-3]))
    if how == "com":
        param.write_text(param.read_text().replace("LOCALFILE empiar_full_local.xf", "LOCALFILE bad_local.xf"))
        result = cli("--com", param, "--quiet")
    else:
        result = tools_cli("reproject", tmp_path / "empiar_full.rec", tmp_path / "empiar.tlt", tmp_path / "ours.mrc",
                           "--values", "imod", "--layout", "xzy", "--views-size", "128,128", "--slices", "0,5",
                           "--local", bad, "--quiet")
    assert result.exit_code == 2, result.output
    assert "bad_local.xf" in one_line(result.stderr)
    assert not (tmp_path / "ours.mrc").exists() and not leftovers(tmp_path)


def test_the_tool_refuses_local_options_without_a_local_file(shared_dir, tmp_path):
    put(tmp_path, CASES["empiar_full"]["inputs"], data=DATA, local=LOCAL, shared=shared_dir)
    result = tools_cli("reproject", tmp_path / "empiar_full.rec", tmp_path / "empiar.tlt", tmp_path / "ours.mrc",
                       "--values", "imod", "--layout", "xzy", "--views-size", "128,128", "--slices", "0,5",
                       "--local-scale", "0.5", "--quiet")
    assert result.exit_code == 2 and "--local" in one_line(result.stderr)
    assert not (tmp_path / "ours.mrc").exists()
