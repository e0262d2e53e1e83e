"""The Python API: arrays in and out, the same files as the command line, odd/even halves in one pass."""

import doctest

import mrcfile
import numpy as np
import pytest

import tiltrec
import tiltrec.api
from cli_helpers import run_command
from tiltrec.formats import read_volume, write_stack
from tiltrec.simulate.phantom import cell_phantom
from tiltrec.simulate.project import project_volume

ANGLES = np.arange(-60.0, 61.0, 3.0)


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    folder = tmp_path_factory.mktemp("api")
    views = project_volume(cell_phantom(64, 20, 24, seed=5), ANGLES)
    write_stack(folder / "in.mrc", views, pixel_size=4.0)
    (folder / "in.tlt").write_text("".join(f"{a}\n" for a in ANGLES))
    return folder, views


def test_docstring_examples_run():
    assert doctest.testmod(tiltrec.api, raise_on_error=True).attempted >= 2


@pytest.mark.parametrize("alg", ["wbp", "sirt"])
def test_arrays_in_arrays_out_equal_the_cli_file(series, tmp_path, alg):
    folder, views = series
    iterations = {"iter": 4} if alg == "sirt" else {}
    vol = tiltrec.reconstruct(views, ANGLES, thickness=24, alg=alg, pixel_size=4.0, **iterations)
    assert vol.shape == (20, 24, 64) and vol.dtype == np.float32
    assert run_command(["--quiet", "--alg", alg, *(["--iter", 4] if iterations else []), "--thickness", 24,
                        folder / "in.mrc", folder / "in.tlt", tmp_path / "cli.mrc"]) == 0
    np.testing.assert_array_equal(read_volume(tmp_path / "cli.mrc")[0], vol)


def test_api_and_cli_write_identical_files(series, tmp_path):
    folder, _ = series
    tiltrec.reconstruct(folder / "in.mrc", folder / "in.tlt", tmp_path / "api.mrc", thickness=24, alg="fbp",
                        filter="hann")
    assert run_command(["--quiet", "--alg", "fbp", "--filter", "hann", "--thickness", 24, folder / "in.mrc",
                        folder / "in.tlt", tmp_path / "cli.mrc"]) == 0
    with mrcfile.open(tmp_path / "api.mrc") as a, mrcfile.open(tmp_path / "cli.mrc") as b:
        np.testing.assert_array_equal(a.data, b.data)
        ha, hb = a.header.copy(), b.header.copy()
        ours = int(ha.nlabl) - 1  # the input's labels, then tiltrec's: program, version, algorithm, ..., time
        assert bytes(ha.label[ours]).startswith(b"tiltrec 0") and bytes(hb.label[ours]).startswith(b"tiltrec-mpi 0")
        assert bytes(ha.label[ours])[len(b"tiltrec"):50] == bytes(hb.label[ours])[len(b"tiltrec-mpi"):54]
        ha.label[ours] = hb.label[ours] = b""
        assert ha.tobytes() == hb.tobytes()


@pytest.mark.parametrize("alg", ["wbp", "sirt"])
def test_odd_even_halves_equal_separate_runs(series, tmp_path, alg):
    folder, _ = series
    n = ANGLES.size
    iterations = ["--iter", 3] if alg == "sirt" else []
    assert run_command(["--quiet", "--alg", alg, *iterations, "--thickness", 24, "--split", "odd-even",
                        folder / "in.mrc", folder / "in.tlt", tmp_path / "rec.mrc"]) == 0
    full = read_volume(tmp_path / "rec.mrc")[0]
    for half, dropped in (("odd", range(2, n + 1, 2)), ("even", range(1, n + 1, 2))):
        out = tmp_path / f"separate_{half}.mrc"
        assert run_command(["--quiet", "--alg", alg, *iterations, "--thickness", 24, "--exclude",
                            ",".join(map(str, dropped)), folder / "in.mrc", folder / "in.tlt", out]) == 0
        np.testing.assert_array_equal(read_volume(tmp_path / f"rec_{half}.mrc")[0], read_volume(out)[0])
    assert not np.array_equal(read_volume(tmp_path / "rec_odd.mrc")[0], full)


def test_split_on_arrays_returns_three_volumes(series):
    _, views = series
    full, odd, even = tiltrec.reconstruct(views, ANGLES, thickness=24, alg="bpt", split="odd-even")
    np.testing.assert_allclose((odd * 21 + even * 20) / 41, full, rtol=1e-5, atol=1e-5)


def test_bad_array_input_is_an_input_error(series):
    _, views = series
    with pytest.raises(tiltrec.errors.InputError, match="need 41 finite angles"):
        tiltrec.reconstruct(views, ANGLES[:-1], thickness=24)
    bad = views.copy()
    bad[3, 2, 1] = np.nan
    with pytest.raises(tiltrec.errors.InputError, match="view 4 contains NaN"):
        tiltrec.reconstruct(bad, ANGLES, thickness=24)


def test_imod_byte_stacks_read_by_mrcfile_are_not_taken_as_signed(series, tmp_path):
    """mrcfile reads IMOD's mode-0 stacks (unsigned bytes) as int8; reconstructed as they are, the values above
    127 turn negative (correlation -0.31 with the file's reconstruction on real data).  Such arrays are refused
    with the fix; the file itself is read with IMOD's rule, and the fixed array gives the file's result."""
    folder, views = series
    from tiltrec.formats.mrc import _stamp_imod

    scaled = np.rint((views - views.min()) / np.ptp(views) * 250).astype(np.uint8)
    with mrcfile.new(tmp_path / "bytes.mrc", scaled.view(np.int8)) as handle:
        _stamp_imod(handle.header)  # as IMOD writes unsigned bytes
    with mrcfile.open(tmp_path / "bytes.mrc") as handle:
        as_read = handle.data.copy()
    assert as_read.dtype == np.int8
    with pytest.raises(tiltrec.errors.InputError, match=r"pass views\.view\(np\.uint8\)"):
        tiltrec.reconstruct(as_read, ANGLES, thickness=24)
    from_file = tiltrec.reconstruct(tmp_path / "bytes.mrc", folder / "in.tlt", thickness=24)
    np.testing.assert_array_equal(tiltrec.reconstruct(as_read.view(np.uint8), ANGLES, thickness=24), from_file)
