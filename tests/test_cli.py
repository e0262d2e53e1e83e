"""The four reconstruction commands as users run them: options, outputs, headers and error messages.

Most runs call the Typer applications in-process (through typer's CliRunner, which captures stdout, stderr
and the exit code); a few start the installed console scripts to prove the entry points work.
"""

import os
import re
import subprocess
import sys
import warnings
from pathlib import Path
from types import SimpleNamespace

import mrcfile
import numpy as np
import pytest
from typer.main import get_command

from cli_helpers import FLAVORS, cli, gpu_usable, leftovers, one_line
from tiltrec.cli.commands import make_app
from tiltrec.formats import read_volume, write_stack
from tiltrec.simulate.phantom import cell_phantom
from tiltrec.simulate.project import project_volume

WIDTH, ROWS, THICK, PIXEL = 64, 32, 24, 2.5  # the generated series: 41 views of 64 x 32 pixels
ANGLES = np.arange(-60.0, 60.1, 3.0)
ALGS = ("bpt", "fbp", "wbp", "sirt", "sart")
ITER = {"sirt": ["--iter", "3"], "sart": ["--iter", "2"]}  # keep the iterative runs short
EMPIAR = "data/empiar10009/empiar_10009_64.mrc"
EMPIAR_TLT = "data/empiar10009/empiar_10009_128.tlt"
JASON = "data/jason64/jason64.ali"
JASON_TLT = "data/jason64/jason64.tlt"


def succeed(*args, prog="tiltrec-mpi"):
    result = cli(*args, prog=prog)
    assert result.exit_code == 0, result.stderr
    return result


def header(path):
    with mrcfile.open(path, header_only=True, permissive=True) as mrc:
        return mrc.header.copy()


def dims(path):
    h = header(path)
    return int(h.nx), int(h.ny), int(h.nz)


def volume(path):
    return read_volume(path)[0]


def assert_close(actual, expected, rtol=1e-5):
    """Equal shapes and max |actual - expected| <= rtol * max |expected|."""
    assert actual.shape == expected.shape
    assert np.abs(expected).max() > 0
    error = np.abs(actual.astype(np.float64) - expected).max() / np.abs(expected).max()
    assert error <= rtol, f"relative error {error:.2e} > {rtol:.0e}"


def slab_count(stderr: str) -> int:
    return int(re.search(r"(\d+) slab\(s\)", stderr)[1])


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    """A generated tilt series (41 views of a cell phantom, 2.5 A pixels) and its angle file."""
    folder = tmp_path_factory.mktemp("series")
    views = project_volume(cell_phantom(WIDTH, ROWS, THICK, seed=1), ANGLES)
    stack, tlt = folder / "cell.mrc", folder / "cell.tlt"
    write_stack(stack, views, pixel_size=PIXEL, overwrite=True)
    tlt.write_text("".join(f"{a:.2f}\n" for a in ANGLES))
    return SimpleNamespace(folder=folder, stack=stack, tlt=tlt, views=views)


@pytest.fixture(scope="module")
def full(series):
    """``full(alg, layout)``: the plain full-size run (data, stderr, path), computed once per module."""
    cache = {}

    def get(alg, layout="xzy"):
        if (alg, layout) not in cache:
            out = series.folder / f"full_{alg}_{layout}.mrc"
            result = succeed(series.stack, series.tlt, out, "--alg", alg, *ITER.get(alg, []),
                             "--thickness", THICK, "--layout", layout)
            cache[alg, layout] = SimpleNamespace(data=volume(out), stderr=result.stderr, path=out)
        return cache[alg, layout]

    return get


def run(series, out, *options, prog="tiltrec-mpi"):
    """Reconstruct the generated series into ``out`` quietly; returns the volume in file order."""
    succeed(series.stack, series.tlt, out, "--thickness", THICK, "-q", *options, prog=prog)
    return volume(out)


# ------------------------------------------------------------------------------ layouts, strategies


@pytest.mark.parametrize("alg", ALGS)
def test_layouts_have_their_dims_and_are_rotations_or_mirrors(full, alg):
    xzy, xyz, parallel = full(alg, "xzy"), full(alg, "xyz"), full(alg, "parallel")
    assert dims(xzy.path) == (WIDTH, THICK, ROWS)
    assert dims(xyz.path) == dims(parallel.path) == (WIDTH, ROWS, THICK)
    assert xzy.data.shape == (ROWS, THICK, WIDTH)
    # IMOD RotateBy90 (trimvol -rx): -90 degrees about X, the thickness reversed; PARALLEL: Y and Z swapped
    np.testing.assert_array_equal(xyz.data, xzy.data.transpose(1, 0, 2)[::-1])
    np.testing.assert_array_equal(parallel.data, xzy.data.transpose(1, 0, 2))
    assert np.abs(xzy.data).max() > 0


@pytest.mark.parametrize("alg", ["bpt", "fbp", "wbp", "sirt"])
def test_unified_command_matches_slab_command(series, full, tmp_path, alg):
    unified = run(series, tmp_path / "z.mrc", "--alg", alg, *ITER.get(alg, []), prog="tiltrecz-mpi")
    assert_close(unified, full(alg).data)


@pytest.mark.parametrize("alg", ALGS)
def test_small_memory_budget_gives_several_identical_slabs(series, full, tmp_path, alg):
    one_slab = full(alg)
    assert slab_count(one_slab.stderr) == 1
    result = succeed(series.stack, series.tlt, tmp_path / "m.mrc", "--alg", alg, *ITER.get(alg, []),
                     "--thickness", THICK, "--memory", "300K")
    assert slab_count(result.stderr) >= 3
    assert_close(volume(tmp_path / "m.mrc"), one_slab.data)


# ------------------------------------------------------------------------------ equivalent spellings


def test_method_equals_alg_iter_relax(series, tmp_path):
    a = run(series, tmp_path / "a.mrc", "--method", "SIRT,5,0.5")
    b = run(series, tmp_path / "b.mrc", "--alg", "sirt", "--iter", "5", "--relax", "0.5")
    c = run(series, tmp_path / "c.mrc", "--alg", "sirt", "--iter", "5")
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)  # the relaxation was taken from --method


def test_geometry_equals_offset_zshift_thickness(series, tmp_path):
    out = tmp_path / "g.mrc"
    succeed(series.stack, series.tlt, out, "--geometry", "2,0,3,24", "-q")
    b = run(series, tmp_path / "b.mrc", "--offset", "2", "--zshift", "3")
    c = run(series, tmp_path / "c.mrc")
    assert dims(out) == (WIDTH, 24, ROWS)
    np.testing.assert_array_equal(volume(out), b)
    assert not np.allclose(b, c)


def test_threads_do_not_change_the_result(series, full, tmp_path):
    assert_close(run(series, tmp_path / "t.mrc", "--alg", "sirt", "--iter", "3", "--threads", "1"), full("sirt").data)


def test_positional_arguments_equal_options(series, tmp_path):
    a = run(series, tmp_path / "a.mrc")
    succeed("-i", series.stack, "-t", series.tlt, "-o", tmp_path / "b.mrc", "--thickness", THICK, "-q")
    succeed("--input", series.stack, "--tiltfile", series.tlt, "--output", tmp_path / "c.mrc",
            "--thickness", THICK, "-q")
    np.testing.assert_array_equal(volume(tmp_path / "b.mrc"), a)
    np.testing.assert_array_equal(volume(tmp_path / "c.mrc"), a)


@pytest.mark.parametrize("alg", ["wbp", "sirt"])
def test_slices_are_those_of_the_full_run(series, full, tmp_path, alg):
    out = tmp_path / "s.mrc"
    part = run(series, out, "--alg", alg, *ITER.get(alg, []), "--slices", "10,19")
    assert dims(out) == (WIDTH, THICK, 10)
    assert_close(part, full(alg).data[10:20])
    assert header(out).origin.z == pytest.approx(-10 * PIXEL)  # xzy: file Z is the slice (input row), as IMOD
    xyz = run(series, tmp_path / "t.mrc", "--alg", alg, *ITER.get(alg, []), "--slices", "10,19", "--layout", "xyz")
    np.testing.assert_array_equal(xyz, part.transpose(1, 0, 2)[::-1])
    assert header(tmp_path / "t.mrc").origin.y == pytest.approx(-10 * PIXEL)


@pytest.mark.parametrize("alg", ["fbp", "sirt"])
def test_exclude_equals_a_stack_without_those_views(shared_dir, tmp_path, alg):
    stack, tlt = shared_dir / EMPIAR, shared_dir / EMPIAR_TLT
    keep = [v for v in range(51) if v not in (0, 1, 2, 50)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no 'MAP ' stamp
        views, pixel = read_volume(stack)
    write_stack(tmp_path / "kept.mrc", views[keep], pixel_size=pixel)
    lines = [line for line in tlt.read_text().splitlines() if line.strip()]
    (tmp_path / "kept.tlt").write_text("".join(lines[v] + "\n" for v in keep))
    common = ["--alg", alg, *ITER.get(alg, []), "--thickness", "24", "--slices", "20,29", "-q"]
    succeed(stack, tlt, tmp_path / "a.mrc", "--exclude", "1-3,51", *common)
    succeed(tmp_path / "kept.mrc", tmp_path / "kept.tlt", tmp_path / "b.mrc", *common)
    succeed(stack, tlt, tmp_path / "c.mrc", *common)
    assert_close(volume(tmp_path / "a.mrc"), volume(tmp_path / "b.mrc"))
    assert not np.allclose(volume(tmp_path / "a.mrc"), volume(tmp_path / "c.mrc"), atol=1e-3)


# ------------------------------------------------------------------------------ size, shifts, modes


def test_bin_2_halves_the_output_and_equals_a_binned_stack(series, tmp_path):
    out = tmp_path / "b.mrc"
    binned = run(series, out, "--bin", "2")
    assert dims(out) == (WIDTH // 2, THICK // 2, ROWS // 2)
    assert float(header(out).cella.x) / int(header(out).mx) == pytest.approx(2 * PIXEL)
    views = series.views.reshape(len(ANGLES), ROWS // 2, 2, WIDTH // 2, 2).mean(axis=(2, 4))
    write_stack(tmp_path / "binned.mrc", views, pixel_size=2 * PIXEL)
    succeed(tmp_path / "binned.mrc", series.tlt, tmp_path / "ref.mrc", "--thickness", THICK // 2, "-q")
    assert_close(binned, volume(tmp_path / "ref.mrc"))


def test_width_crops_the_centre(series, full, tmp_path):
    out = tmp_path / "w.mrc"
    narrow = run(series, out, "--width", "48")
    assert dims(out) == (48, THICK, ROWS)
    assert_close(narrow, full("wbp").data[:, :, 8:56])


def test_xshift_moves_the_volume_right(series, full, tmp_path):
    out = tmp_path / "x.mrc"
    shifted = run(series, out, "--xshift", "5")
    assert dims(out) == (WIDTH, THICK, ROWS)
    assert_close(shifted[:, :, 5:], full("wbp").data[:, :, :-5])


def test_zshift_moves_the_volume_up(series, full, tmp_path):
    out = tmp_path / "z.mrc"
    shifted = run(series, out, "--zshift", "3")
    assert dims(out) == (WIDTH, THICK, ROWS)
    assert_close(shifted[:, 3:, :], full("wbp").data[:, :-3, :])


@pytest.mark.parametrize("mode, dtype", [(1, np.int16), (0, np.uint8), (12, np.float16)])
def test_output_modes(series, full, tmp_path, mode, dtype):
    """With --scale given (here IMOD's default 0,1), values are rounded and clipped as asked; a clip is said."""
    out = tmp_path / "m.mrc"
    result = succeed(series.stack, series.tlt, out, "--thickness", THICK, "--mode", mode, "--scale", "0,1", "-q")
    assert ("were clipped to mode 0's 0..255" in result.stderr) == (mode == 0)
    reference = full("wbp").data
    with mrcfile.open(out, permissive=True) as mrc:
        assert int(mrc.header.mode) == mode
        # IMOD's signed bytes: value - 128
        stored = (mrc.data.astype(np.int16) + 128).astype(np.uint8) if mode == 0 else mrc.data
        assert stored.dtype == dtype
        if dtype == np.float16:
            expected = reference.astype(np.float16)
        else:
            expected = np.clip(np.rint(reference), np.iinfo(dtype).min, np.iinfo(dtype).max).astype(dtype)
        np.testing.assert_array_equal(stored, expected)
    assert reference.min() < 0  # mode 0 really clipped something
    np.testing.assert_array_equal(volume(out), expected.astype(np.float32))  # read back as stored


@pytest.mark.parametrize("alg, mode", [("wbp", 0), ("sirt", 0), ("sirt", 1)])  # (a WBP fits mode 1 as it is)
def test_integer_modes_without_scale_are_refused_with_the_scale_to_use(series, tmp_path, alg, mode):
    """A SIRT volume of densities spans a few units: in mode 1 it became 5 distinct values, in mode 0 a WBP lost
    the voxels below 0; both without a word.  Without --scale such an output is refused, and the --scale the
    message gives (from the values as computed, not as clipped) makes a run that neither clips nor loses
    levels."""
    out = tmp_path / "m.mrc"
    args = [series.stack, series.tlt, out, "--alg", alg, *ITER.get(alg, []), "--thickness", THICK, "--mode", mode,
            "-q"]
    result = cli(*args)
    line = one_line(result.stderr)
    assert result.exit_code == 2 and "no output written: rerun with --scale" in line and not out.exists(), line
    scale = line.split("--scale ")[1].split(" ")[0]
    result = succeed(*args, "--scale", scale)
    assert "clipped" not in result.stderr
    stored = volume(out).astype(np.float64)
    low, high = (10, 245) if mode == 0 else (-15000, 15000)
    assert abs(stored.min() - low) <= 1 and abs(stored.max() - high) <= 1


@pytest.mark.parametrize("alg", ["bpt", "fbp", "sirt", "sart"])
def test_scale_applies_to_every_algorithm(series, full, tmp_path, alg):
    """--scale ADD,MULT is IMOD's SCALE, (value + ADD) * MULT, whatever the algorithm (not only for WBP)."""
    out = tmp_path / "s.mrc"
    succeed(series.stack, series.tlt, out, "--alg", alg, *ITER.get(alg, []), "--thickness", THICK,
            "--scale", "3,1000", "-q")
    np.testing.assert_allclose(volume(out), (full(alg).data + 3) * 1000, rtol=1e-5, atol=1e-3)


def test_hdf_output_is_an_eman2_volume(series, full, tmp_path):
    out = tmp_path / "v.hdf"
    data = run(series, out)
    np.testing.assert_array_equal(data, full("wbp").data)
    assert read_volume(out)[1] == pytest.approx(PIXEL)


# ------------------------------------------------------------------------------ iterative options


@pytest.mark.parametrize("alg", ["sirt", "sart"])
def test_init_continues_from_a_previous_volume(series, tmp_path, alg):
    """3 iterations, then 2 more from that volume: 5 iterations exactly when the X padding is off."""
    it = ["--alg", alg, "--iter"]
    run(series, tmp_path / "three.mrc", *it, "3", "--no-xpad")
    continued = run(series, tmp_path / "c.mrc", *it, "2", "--no-xpad", "--init", tmp_path / "three.mrc")
    fresh = run(series, tmp_path / "f.mrc", *it, "2", "--no-xpad")
    five = run(series, tmp_path / "five.mrc", *it, "5", "--no-xpad")
    assert_close(continued, five)
    assert np.abs(continued - fresh).max() > 0.1 * np.abs(fresh).max()
    # with the X padding (the default) the padded columns restart from zero, so only check it continues
    run(series, tmp_path / "three_x.mrc", *it, "3")
    padded = run(series, tmp_path / "p.mrc", *it, "2", "--init", tmp_path / "three_x.mrc")
    fresh = run(series, tmp_path / "f_x.mrc", *it, "2")
    assert np.abs(padded - fresh).max() > 0.1 * np.abs(fresh).max()


def test_init_in_xyz_layout(series, tmp_path):
    run(series, tmp_path / "a.mrc", "--alg", "sirt", "--iter", "3", "--layout", "xyz")
    b = run(series, tmp_path / "b.mrc", "--alg", "sirt", "--iter", "1", "--layout", "xyz",
            "--init", tmp_path / "a.mrc")
    assert b.shape == (THICK, ROWS, WIDTH)


def test_positivity_removes_negative_values(series, tmp_path):
    plain = run(series, tmp_path / "p.mrc", "--alg", "sirt", "--iter", "3")
    positive = run(series, tmp_path / "q.mrc", "--alg", "sirt", "--iter", "3", "--positivity")
    assert plain.min() < 0
    assert positive.min() >= 0
    assert header(tmp_path / "q.mrc").dmin >= 0


# ------------------------------------------------------------------------------ messages, help, header


def test_quiet_prints_nothing(series, tmp_path):
    result = succeed(series.stack, series.tlt, tmp_path / "q.mrc", "--thickness", THICK, "--quiet")
    assert result.stderr == ""
    assert result.stdout == ""


def test_summary_line_reports_gups(series, tmp_path):
    out = tmp_path / "s.mrc"
    result = succeed(series.stack, series.tlt, out, "--alg", "sirt", "--iter", "2", "--thickness", THICK)
    last = result.stderr.splitlines()[-1]
    assert last.startswith(f"tiltrec-mpi: wrote {out} ")
    assert re.search(r": [\d.]+ [GM]UPS, ", last)  # below 0.1 GUPS (a loaded machine) in MUPS
    assert f"{WIDTH} x {ROWS} x {THICK} voxels" in last and "SIRT" in last
    assert result.stdout == ""


def test_input_warning_is_one_line(shared_dir, tmp_path):
    """The EMPIAR stack lacks the MRC 'MAP ' stamp: one plain warning line, even with --quiet."""
    result = succeed(shared_dir / EMPIAR, shared_dir / EMPIAR_TLT, tmp_path / "e.mrc", "--thickness", "16",
                     "--slices", "30,33", "-q")
    line = one_line(result.stderr)
    assert line.startswith("tiltrec-mpi: warning: ") and "empiar_10009_64.mrc" in line and "MAP" in line


@pytest.mark.parametrize("prog", ["tiltrec-mpi", "tiltrecz-cuda"])
def test_help_lists_every_option_and_defaults(prog):
    result = cli("--help", prog=prog)
    assert result.exit_code == 0
    text = result.stdout
    assert text.startswith(f"Usage: {prog} [OPTIONS] [INPUT] [TILTFILE] [OUTPUT]")
    for param in get_command(make_app(FLAVORS[prog])).params:
        for name in param.opts + param.secondary_opts:
            if name.startswith("-"):
                assert re.search(rf"(^|[\s,/]){re.escape(name)}([\s,/]|$)", text, re.M), name
    flat = " ".join(text.split())
    for default in ["[default: wbp]", "[default: SIRT 10, SART 2, ADMM 30]", "[default: SIRT 1.0, SART 0.25]",
                    "[default: ramp]", "[default: xzy]", "[default: 2]", "[default: the view width]",
                    "[default: all]", "[default: the node's cores / its ranks]",
                    "[default: CPU: half the available RAM; GPU: its free memory]", "(sirt, sart only)"]:
        assert default in flat, default
    assert cli("-h", prog=prog).stdout == text


def test_header_pixel_size_label_and_statistics(shared_dir, tmp_path):
    out = tmp_path / "j.rec"
    succeed(shared_dir / JASON, shared_dir / JASON_TLT, out, "--alg", "sirt", "--iter", "2", "--thickness", 32,
            "--slices", "20,35", "-q")
    binned = tmp_path / "j2.rec"
    succeed(shared_dir / JASON, shared_dir / JASON_TLT, binned, "--thickness", 32, "--bin", "2", "-q")
    for path, pixel, alg in [(out, 32.0, "SIRT"), (binned, 64.0, "WBP")]:
        data, pixel_size = read_volume(path)
        assert pixel_size == pytest.approx(pixel)
        h = header(path)
        assert (float(h.cella.x), float(h.cella.y), float(h.cella.z)) == pytest.approx(
            tuple(pixel * n for n in dims(path)))
        with mrcfile.open(shared_dir / JASON, header_only=True, permissive=True) as source:
            kept = int(source.header.nlabl)  # the input's labels come first, as IMOD's programs keep them
        label = h.label[kept].decode()
        assert label.startswith("tiltrec-mpi ") and f": {alg} " in label
        assert int(h.nlabl) == kept + 1
        assert float(h.dmin) == data.min() and float(h.dmax) == data.max()
        assert float(h.dmean) == pytest.approx(data.mean(dtype=np.float64), rel=1e-5)
        assert float(h.rms) == pytest.approx(data.std(dtype=np.float64), rel=1e-4)


def test_jason64_as_its_tilt_com(shared_dir, tmp_path):
    """IMOD's tilt64.com options (RADIAL, XAXISTILT, SCALE, MODE 1) in tiltrec spelling."""
    out = tmp_path / "j.mrc"
    succeed(shared_dir / JASON, shared_dir / JASON_TLT, out, "--thickness", 32, "--radial", "0.35,0.05",
            "--pitch", "-1.6", "--scale", "0,0.1", "--mode", "1", "--slices", "10,25", "-q")
    assert dims(out) == (64, 32, 16)
    assert int(header(out).mode) == 1
    assert np.ptp(volume(out)) > 0


# ------------------------------------------------------------------------------ errors


def _errors():
    """(id, arguments, text the message must contain); ``s`` is the series, ``o`` the output path."""
    t = ["--thickness", THICK]
    return [
        ("missing-input", lambda s, o: [s.folder / "nope.mrc", s.tlt, o, *t], "nope.mrc"),
        ("missing-tiltfile", lambda s, o: [s.stack, s.folder / "nope.tlt", o, *t], "nope.tlt"),
        ("angle-count", lambda s, o: [s.stack, s.folder / "short.tlt", o, *t], "short.tlt: 40 angles for 41"),
        ("text-angle", lambda s, o: [s.stack, s.folder / "text.tlt", o, *t], "text.tlt: line 11"),
        ("no-thickness", lambda s, o: [s.stack, s.tlt, o], "--thickness"),
        ("thickness-0", lambda s, o: [s.stack, s.tlt, o, "--thickness", "0"], "--thickness"),
        ("thickness-negative", lambda s, o: [s.stack, s.tlt, o, "--thickness", "-5"], "--thickness"),
        ("geometry-thickness-0", lambda s, o: [s.stack, s.tlt, o, "--geometry", "0,0,0,0"], "--geometry"),
        ("width-negative", lambda s, o: [s.stack, s.tlt, o, *t, "--width", "-8"], "--width"),
        ("nan", lambda s, o: [s.folder / "nan.mrc", s.tlt, o, *t], "nan.mrc: view 6 contains NaN"),
        ("nan-while-writing", lambda s, o: [s.folder / "nan.mrc", s.tlt, o, *t, "--alg", "sirt", "--memory", "300K"],
         "nan.mrc: view 6 contains NaN"),
        ("output-is-input", lambda s, o: [s.folder / "copy.mrc", s.tlt, s.folder / "." / "copy.mrc", *t,
                                          "--overwrite"], "copy.mrc"),
        ("no-output-dir", lambda s, o: [s.stack, s.tlt, o.parent / "missing" / "v.mrc", *t], "missing"),
        ("unknown-alg", lambda s, o: [s.stack, s.tlt, o, *t, "--alg", "art"], "'art'"),
        ("unknown-method", lambda s, o: [s.stack, s.tlt, o, *t, "--method", "ART,3"], "--method: --alg takes one of"),
        ("bad-method", lambda s, o: [s.stack, s.tlt, o, *t, "--method", "SIRT,x"], "--method"),
        ("bad-filter", lambda s, o: [s.stack, s.tlt, o, *t, "--alg", "fbp", "--filter", "parzen"], "'parzen'"),
        ("bad-cutoff", lambda s, o: [s.stack, s.tlt, o, *t, "--alg", "fbp", "--cutoff", "0"], "--cutoff"),
        ("bad-radial", lambda s, o: [s.stack, s.tlt, o, *t, "--radial", "0.3"], "--radial"),
        ("bad-scale", lambda s, o: [s.stack, s.tlt, o, *t, "--scale", "a,b"], "--scale"),
        ("init-with-wbp", lambda s, o: [s.stack, s.tlt, o, *t, "--init", s.stack], "--init"),
        ("init-wrong-size", lambda s, o: [s.stack, s.tlt, o, *t, "--alg", "sirt", "--init", s.stack], "cell.mrc"),
        ("slices-beyond", lambda s, o: [s.stack, s.tlt, o, *t, "--slices", "10,32"], "--slices"),
        ("slices-reversed", lambda s, o: [s.stack, s.tlt, o, *t, "--slices", "19,10"], "--slices"),
        ("slices-binned", lambda s, o: [s.stack, s.tlt, o, *t, "--bin", "2", "--slices", "0,32"], "--slices 0,32"),
        ("exclude-beyond", lambda s, o: [s.stack, s.tlt, o, *t, "--exclude", "1-3,42"], "view 42 is outside 1-41"),
        ("exclude-all", lambda s, o: [s.stack, s.tlt, o, *t, "--exclude", "1-41"], "--exclude"),
        ("bad-memory", lambda s, o: [s.stack, s.tlt, o, *t, "--memory", "lots"], "'lots'"),
        ("tiny-memory", lambda s, o: [s.stack, s.tlt, o, *t, "--memory", "1K"], "--memory"),
        ("extension", lambda s, o: [s.stack, s.tlt, o.with_suffix(".tif"), *t], "v.tif: unsupported extension"),
        ("bad-mode", lambda s, o: [s.stack, s.tlt, o, *t, "--mode", "3"], "--mode takes one of 2, 1, 0, 12, got 3"),
        ("hdf-mode", lambda s, o: [s.stack, s.tlt, o.with_suffix(".hdf"), *t, "--mode", "1"], "v.hdf"),
        ("bad-layout", lambda s, o: [s.stack, s.tlt, o, *t, "--layout", "zyx"], "'zyx'"),
        ("missing-output", lambda s, o: [s.stack, s.tlt, *t], "OUTPUT"),
        ("output-twice", lambda s, o: [s.stack, s.tlt, o, "-o", o.with_name("w.mrc"), *t], "OUTPUT"),
    ]


@pytest.fixture(scope="module")
def bad_inputs(series):
    """Broken companions of the series: a stack with a NaN, short and textual angle files, a copy."""
    views = series.views.copy()
    views[5, 3, 7] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # mrcfile warns about the NaN
        write_stack(series.folder / "nan.mrc", views, pixel_size=PIXEL, overwrite=True)
    lines = [f"{a:.2f}\n" for a in ANGLES]
    (series.folder / "short.tlt").write_text("".join(lines[:-1]))
    (series.folder / "text.tlt").write_text("".join(lines[:10] + ["view eleven\n"] + lines[11:]))
    (series.folder / "copy.mrc").write_bytes(series.stack.read_bytes())
    return series


@pytest.mark.parametrize("make_args, expected", [case[1:] for case in _errors()], ids=[c[0] for c in _errors()])
def test_error_is_one_line_with_exit_2_and_no_output(bad_inputs, tmp_path, make_args, expected):
    out = tmp_path / "out" / "v.mrc"
    out.parent.mkdir()
    copy = bad_inputs.folder / "copy.mrc"
    before = copy.read_bytes()
    result = cli(*make_args(bad_inputs, out), "-q")
    assert result.exit_code == 2, result.stderr
    line = one_line(result.stderr)
    assert line.startswith("tiltrec-mpi: error: ")
    assert expected in line
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert list(out.parent.iterdir()) == []
    assert not leftovers(bad_inputs.folder)
    assert copy.read_bytes() == before


@pytest.mark.parametrize("args, option", [(["--alg", "sirt", "--iter", "0"], "error: --iter must be"),
                                          (["--thickness", "thick"], "error: --thickness takes a whole number"),
                                          (["--bogus"], "Error: No such option: --bogus"),
                                          (["--mode"], "Error: Option '--mode' requires an argument")])
def test_usage_errors_exit_2_and_name_the_option(series, tmp_path, args, option):
    """Click's own checks (an unknown option, a missing value: its last line 'Error: ...') and tiltrec's (a value
    of the wrong kind or range): exit 2, naming the option."""
    result = cli(series.stack, series.tlt, tmp_path / "v.mrc", "--thickness", THICK, *args)
    assert result.exit_code == 2
    last = result.stderr.strip().splitlines()[-1]
    assert option in last
    assert list(tmp_path.iterdir()) == []


def test_output_that_is_a_directory(series, tmp_path):
    (tmp_path / "v.mrc").mkdir()
    result = cli(series.stack, series.tlt, tmp_path / "v.mrc", "--thickness", THICK, "--overwrite")
    assert result.exit_code == 2
    assert one_line(result.stderr) == f"tiltrec-mpi: error: {tmp_path / 'v.mrc'}: is a directory"
    assert [p.name for p in tmp_path.iterdir()] == ["v.mrc"] and not any((tmp_path / "v.mrc").iterdir())


def test_existing_output_survives_without_overwrite(series, tmp_path):
    out = tmp_path / "v.mrc"
    old = os.urandom(3000)
    out.write_bytes(old)
    result = cli(series.stack, series.tlt, out, "--thickness", THICK, "-q")
    assert result.exit_code == 2
    line = one_line(result.stderr)
    assert line == f"tiltrec-mpi: error: {out}: already exists (use --overwrite to replace it)"
    assert out.read_bytes() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.mrc"]
    succeed(series.stack, series.tlt, out, "--thickness", THICK, "-q", "--overwrite")
    assert dims(out) == (WIDTH, THICK, ROWS)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.mrc"]


@pytest.mark.skipif(gpu_usable(), reason="a GPU is usable here")
@pytest.mark.parametrize("prog", ["tiltrec-cuda", "tiltrecz-cuda"])
def test_cuda_commands_without_a_gpu_point_to_the_mpi_commands(series, tmp_path, prog):
    out = tmp_path / "v.mrc"
    result = cli(series.stack, series.tlt, out, "--thickness", THICK, "-q", prog=prog)
    assert result.exit_code != 0
    line = one_line(result.stderr)
    assert line.startswith(f"{prog}: error: ") and prog.replace("-cuda", "-mpi") in line
    assert not out.exists() and leftovers(tmp_path) == []


# ------------------------------------------------------------------------------ console scripts


def script(name, *args, cwd):
    """Run the installed console script ``name`` with ``args``; returns the CompletedProcess."""
    exe = Path(sys.executable).parent / name
    return subprocess.run([str(exe), *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_console_script_reconstructs(shared_dir, tmp_path):
    done = script("tiltrec-mpi", shared_dir / EMPIAR, shared_dir / EMPIAR_TLT, "out.rec", "--alg", "sart",
                  "--iter", "1", "--thickness", "20", "--slices", "30,33", "--layout", "xyz", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    lines = done.stderr.strip().split("\n")
    assert lines[0].startswith("tiltrec-mpi: warning: ")  # the EMPIAR stack lacks the 'MAP ' stamp
    assert lines[-1].startswith("tiltrec-mpi: wrote out.rec (64 x 4 x 20 voxels, layout xyz")
    assert re.search(r" [\d.]+ [GM]UPS, ", lines[-1])
    assert dims(tmp_path / "out.rec") == (64, 4, 20)


def test_console_script_error(series, tmp_path):
    done = script("tiltrecz-mpi", series.stack, series.tlt, "out.mrc", "--alg", "sirt", "--init", "none.mrc",
                  "--thickness", THICK, cwd=tmp_path)
    assert done.returncode == 2
    assert one_line(done.stderr) == "tiltrecz-mpi: error: none.mrc: no such file"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(gpu_usable(), reason="a GPU is usable here")
def test_console_script_cuda(series, tmp_path):
    done = script("tiltrec-cuda", series.stack, series.tlt, "out.mrc", "--thickness", THICK, cwd=tmp_path)
    assert done.returncode != 0
    assert "tiltrec-mpi" in one_line(done.stderr)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("mpi, args, exits_now", [
    (False, ["--thickness", str(THICK)], True),  # success: straight out, without Python's teardown
    (False, [], False),  # an error (no thickness): the usual exit, with its code
    (True, ["--thickness", str(THICK)], False),  # MPI's finalisation must run
])
def test_a_successful_command_leaves_without_teardown_unless_under_mpi(series, tmp_path, monkeypatch, mpi, args,
                                                                       exits_now):
    from tiltrec.cli import commands

    class ExitedNow(Exception):
        pass

    def exit_now(code):
        raise ExitedNow(code)

    monkeypatch.setattr(commands.os, "_exit", exit_now)
    monkeypatch.setattr(commands, "start_process", lambda: None)  # (the test process keeps its handlers and pages)
    if mpi:
        monkeypatch.setitem(sys.modules, "mpi4py", sys.modules.get("mpi4py") or SimpleNamespace())
    else:
        monkeypatch.delitem(sys.modules, "mpi4py", raising=False)
    monkeypatch.setattr(sys, "argv", ["tiltrec-mpi", str(series.stack), str(series.tlt), str(tmp_path / "v.mrc"),
                                      "-q", *args])
    with pytest.raises(ExitedNow if exits_now else SystemExit) as raised:
        commands.tiltrec_mpi()
    if exits_now:
        assert raised.value.args == (0,) and dims(tmp_path / "v.mrc") == (WIDTH, THICK, ROWS)
    else:
        assert raised.value.code == (0 if mpi else 2)
