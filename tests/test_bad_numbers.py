"""Non-finite, absurd and impossible numbers, however they come in (options, tilt.com, -StandardInput, the Python
API, the data themselves), and bad sizes: each is refused in one line with exit code 2 before anything is written.

Every number a reconstruction takes is checked once, in ``options.request`` against its range in the option
table (``options.table``); tilt.com values are also refused where they are read (with their line).  The simulator checks
its own table, and the memory and disk space it needs, before it computes anything.
"""

import math
import os
import shutil
import warnings
from collections import namedtuple

import numpy as np
import pytest
from typer.testing import CliRunner

import tiltrec
from cli_helpers import FLAVORS, cli, one_line
from test_bad_inputs import s  # noqa: F401 (the valid series, a fixture)
from test_bad_inputs import ANGLES, NVIEWS, ROWS, THICK, WIDTH, assert_no_output, mrc, snapshot
from tiltrec.cli.commands import make_app
from tiltrec.cli.tools import app as tools_app
from tiltrec.errors import InputError
from tiltrec.formats import write_stack
from tiltrec.strategies.plan import format_bytes

SIRT = ("--alg", "sirt", "--iter", "1")
ADMM = ("--alg", "admm", "--iter", "1")

# (id, options added to a valid command, the one line's text after "error: "); all exit with 2 and write nothing
OPTION_CASES = [
    ("offset-nan", ["--offset", "nan"], "--offset must be between -90 and 90 degrees, got nan"),
    ("xshift-nan", ["--xshift", "nan"], "--xshift must be between -1e+06 and 1e+06 pixels, got nan"),
    ("zshift-nan", ["--zshift", "nan"], "--zshift must be between -1e+06 and 1e+06 pixels, got nan"),
    ("zshift-inf", ["--zshift", "inf"], "--zshift must be between -1e+06 and 1e+06 pixels, got inf"),
    ("method-relax-nan", ["-m", "SIRT,3,nan"], "--relax must be greater than 0 and less than 2, got nan"),
    ("relax-inf", [*SIRT, "--relax", "inf"], "--relax must be greater than 0 and less than 2, got inf"),
    ("relax-1e30", [*SIRT, "--relax", "1e30"], "--relax must be greater than 0 and less than 2, got 1e+30"),
    ("relax-0", [*SIRT, "--relax", "0"], "--relax must be greater than 0 and less than 2, got 0"),
    ("scale-nan", ["--scale", "nan,1"], "--scale ADD must be between -1e+12 and 1e+12, got nan"),
    ("scale-1e38", ["--scale", "0,1e38"], "--scale MULT must be non-zero, between -1e+12 and 1e+12, got 1e+38"),
    ("scale-0", ["--scale", "5,0"], "--scale MULT must be non-zero"),
    ("log-base-nan", ["--log-base", "nan"], "--log-base must be between -1e+12 and 1e+12, got nan"),
    ("pitch-nan", ["--pitch", "nan"], "--pitch must be between -90 and 90 degrees, got nan"),
    ("radial-nan", ["--radial", "nan,0.05"], "--radial CUTOFF must be positive"),
    ("radial-negative", ["--radial", "-1,0"], "--radial CUTOFF must be positive"),
    ("radial-zero", ["--radial", "0,0"], "--radial CUTOFF must be positive"),
    ("radial-below-one-pixel", ["--radial", "0.001,0"],
     f"RADIAL cutoff (--radial) of 0 pixels leaves no frequency unfiltered for rows of {WIDTH} pixels"),
    ("hamming-nan", ["--hamming", "nan"], "--hamming must be between 0 and 0.5 cycles/pixel, got nan"),
    ("memory-nan", ["--memory", "nan"], "--memory takes a size like 512M or 4G, got 'nan'"),
    ("memory-inf", ["--memory", "inf"], "--memory takes a size like 512M or 4G, got 'inf'"),
    ("memory-1e400", ["--memory", "1e400"], "--memory takes a size like 512M or 4G, got '1e400'"),
    ("memory-1e30", ["--memory", "1e30"], "--memory must be a number of bytes from 1 byte to 1024 TiB"),
    ("memory-1-byte", ["--memory", "1"], "--memory 1 byte is too small: one slab needs "),
    ("memory-half-a-byte", ["--memory", "0.5"], "--memory 1 byte is too small: one slab needs "),
    ("imod-sirt-without-iter", ["--alg", "imod-sirt"],
     "imod-sirt needs --iter (IMOD's SIRTIterations, which has no default)"),
    ("thickness-below-one-binned-pixel", ["--bin", "2", "--thickness", "1"],
     "--thickness 1 is less than one pixel after --bin 2"),
    ("split-with-one-view", ["--split", "odd-even", "--include", "5"], "--split odd-even: the even half is empty"),
]
ADMM_CASES = [
    ("rho-inf", ["--rho", "inf"], "--rho must be positive, from 1e-06 to 1e+06, got inf"),
    ("rho-1e300", ["--rho", "1e300"], "--rho must be positive, from 1e-06 to 1e+06, got 1e+300"),
    ("rho-1e-300", ["--rho", "1e-300"], "--rho must be positive, from 1e-06 to 1e+06, got 1e-300"),
    ("lambda-inf", ["--lambda", "inf"], "--lam must be positive or 0, at most 1e+06, got inf"),
    ("lambda-1e300", ["--lam", "1e300"], "--lam must be positive or 0, at most 1e+06, got 1e+300"),
]
GEOMETRY_CASES = [  # --geometry in place of --thickness
    ("geometry-nan", "nan,0,0,8", "--offset must be between -90 and 90 degrees, got nan"),
    ("geometry-zshift-inf", "0,0,inf,8", "--zshift must be between -1e+06 and 1e+06 pixels, got inf"),
    ("geometry-thickness-1.5", "0,0,0,1.5", "--geometry: --thickness takes a whole number, got '1.5'"),
    ("geometry-thickness-nan", "0,0,0,nan", "--geometry: --thickness takes a whole number, got 'nan'"),
]


def refused(result, text, program="tiltrec-mpi"):
    """Exit code 2 and the one line ``PROGRAM: error: ...`` containing ``text``."""
    assert result.exit_code == 2, result.stderr
    line = one_line(result.stderr)
    assert line.startswith(f"{program}: error: ") and text in line, line
    return line


@pytest.mark.parametrize("options, text", [c[1:] for c in OPTION_CASES], ids=[c[0] for c in OPTION_CASES])
def test_an_impossible_option_is_one_line_exit_2_and_writes_nothing(s, options, text):
    before = snapshot(s.root)
    refused(cli(*mrc(s, *options), "-q"), text)
    assert_no_output(s, before)


@pytest.mark.parametrize("options, text", [c[1:] for c in ADMM_CASES], ids=[c[0] for c in ADMM_CASES])
def test_an_impossible_admm_weight_is_refused(s, options, text):
    refused(cli(*mrc(s, *ADMM, *options), "-q", prog="tiltrecz-mpi"), text, "tiltrecz-mpi")
    assert_no_output(s)


@pytest.mark.parametrize("geometry, text", [c[1:] for c in GEOMETRY_CASES], ids=[c[0] for c in GEOMETRY_CASES])
def test_an_impossible_geometry_is_refused(s, geometry, text):
    refused(cli(s.stack, s.tlt, s.out, "--geometry", geometry, "-q"), text)
    assert_no_output(s)


# ------------------------------------------------------------------------------ tilt.com and -StandardInput

COM_CASES = [  # (id, lines added to a valid tilt.com, the problem after "FILE: ")
    ("scale-nan", "SCALE nan 1", "line 5: SCALE entry 1, 'nan', is not a finite number"),
    ("log-nan", "LOG nan", "line 5: LOG needs 1 number(s), got 'nan'"),
    ("xaxistilt-nan", "XAXISTILT nan", "line 5: XAXISTILT needs 1 number(s), got 'nan'"),
    ("offset-nan", "OFFSET nan", "line 5: OFFSET entry 1, 'nan', is not a finite number"),
    ("shift-nan", "SHIFT nan nan", "line 5: SHIFT entry 1, 'nan', is not a finite number"),
    ("radial-inf", "RADIAL 0.35 inf", "line 5: RADIAL entry 2, 'inf', is not a finite number"),
    ("thickness-inf", "THICKNESS inf", "line 4: THICKNESS needs 1 integer(s), got 'inf'"),
    ("thickness-negative", "THICKNESS -20", "line 4: THICKNESS must be at least 1, got -20"),
    ("width-zero", "WIDTH 0", "line 5: WIDTH must be at least 1, got 0"),
    ("binned-to-nothing", "IMAGEBINNED 1000000", "line 4: THICKNESS 8 is less than one pixel after IMAGEBINNED "
                                                 "1000000"),
    ("imagebinned-0", "IMAGEBINNED 0", "line 5: IMAGEBINNED must be at least 1, got 0"),
    ("xtiltinterp-7", "XTILTINTERP 7", "line 5: XTILTINTERP must be 0 to 3, got 7"),
    ("xtiltinterp-cubic", "XTILTINTERP 3", "tiltrec does not implement XTILTINTERP (interpolation order above 1)"),
    ("angles-nan", "ANGLES " + " ".join(f"{a:g}" for a in ANGLES[:5]) + " nan " + " ".join(
        f"{a:g}" for a in ANGLES[6:]), "line 4: ANGLES entry 6, 'nan', is not a finite number"),
]


def tilt_com(s, extra: str) -> str:
    """A valid parameter file for the series (THICKNESS on line 4, ``extra`` from line 4 or 5 on)."""
    angles = "" if extra.startswith("ANGLES") else f"TILTFILE {s.tlt}\n"
    thickness = "" if extra.startswith("THICKNESS") else f"THICKNESS {THICK}\n"
    return f"InputProjections {s.stack}\nOutputFile {s.out}\n{angles}{thickness}{extra}\n"


@pytest.mark.parametrize("extra, problem", [c[1:] for c in COM_CASES], ids=[c[0] for c in COM_CASES])
def test_an_impossible_tilt_com_value_names_the_file_and_line(s, extra, problem):
    com = s.root / "tilt.com"
    com.write_text(tilt_com(s, extra))
    before = snapshot(s.root)
    line = refused(cli("--com", com, "-q"), problem)
    assert line.startswith(f"tiltrec-mpi: error: {com}: "), line
    assert_no_output(s, before)


def test_standard_input_is_checked_alike(s):
    result = CliRunner().invoke(make_app(FLAVORS["tiltrec-mpi"]), ["-StandardInput", "-q"],
                                input=tilt_com(s, "SCALE 0 1e38"), prog_name="tiltrec-mpi", catch_exceptions=False)
    refused(result, "--scale MULT must be non-zero, between -1e+12 and 1e+12, got 1e+38")
    assert_no_output(s)


# ------------------------------------------------------------------------------ the Python API

API_CASES = [
    ("offset-nan", dict(offset=math.nan), "offset must be between -90 and 90 degrees, got nan"),
    ("scale-overflow", dict(scale=(0.0, 1e38)), "scale MULT must be non-zero"),
    ("scale-one-number", dict(scale=(1.0,)), "scale takes 2 numbers (e.g. 0.35,0.05), got (1.0,)"),
    ("thickness-1.5", dict(thickness=1.5), "thickness takes a whole number, got 1.5"),
    ("memory-0", dict(memory=0), "memory must be a number of bytes from 1 byte to 1024 TiB, got 0"),
    ("memory-1-byte", dict(memory=1), "memory 1 byte is too small: one slab needs"),
    ("bin-too-coarse", dict(bin=64), "bin 64 does not fit views of"),
    ("rho-tiny", dict(alg="admm", unified=True, rho=1e-300), "rho must be positive"),
    ("xtilt-nan", dict(xtilt=(0.0,) * (NVIEWS - 1) + (math.nan,)), "xtilt must be between -90 and 90 degrees"),
    ("angles-nan", dict(angles=np.r_[ANGLES[:2], np.nan, ANGLES[3:]]),
     "tilt angles: the angle of view 3 is nan, not a finite number"),
    ("pixel-size-nan", dict(pixel_size=math.nan), "pixel_size must be positive, at most 1e+06 Angstrom, got nan"),
]


@pytest.mark.parametrize("options, text", [c[1:] for c in API_CASES], ids=[c[0] for c in API_CASES])
def test_the_python_api_checks_the_same_numbers(options, text):
    views = np.random.default_rng(5).normal(size=(NVIEWS, ROWS, WIDTH)).astype(np.float32)
    options = {"thickness": THICK, "angles": ANGLES, **options}
    with pytest.raises(InputError) as err:
        tiltrec.reconstruct(views, options.pop("angles"), **options)
    assert text in str(err.value) and not str(err.value).startswith("-")  # named as the Python keyword


# ------------------------------------------------------------------------------ the data and the files


def scaled_stack(s, factor):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the header's RMS overflows
        write_stack(s.stack, s.views * np.float32(factor), overwrite=True)


@pytest.mark.parametrize("options", [[], ["--alg", "imod-sirt", "--iter", "2"], ["--log-base", "0"],
                                     ["--alg", "sirt", "--iter", "2"], ["--alg", "fbp"], ["--alg", "sart"]],
                         ids=["wbp", "imod-sirt", "log", "sirt", "fbp", "sart"])
def test_data_too_large_for_float32_arithmetic_are_refused(s, options):
    """1e36 is finite, but sums over views and filter gains overflow float32: an all-NaN volume before.  The
    reader refuses such values, as NaN, whichever algorithm reads them."""
    scaled_stack(s, 1e36)
    refused(cli(*mrc(s, *options), "-q"), f"{s.stack}: view 1 has values up to ")
    assert_no_output(s)


def test_large_but_safe_data_still_reconstruct(s):
    scaled_stack(s, 1e9)
    result = cli(*mrc(s), "-q")
    assert result.exit_code == 0, result.stderr


def test_a_fifo_as_input_is_not_a_regular_file(s):
    fifo = s.root / "in" / "pipe.mrc"
    os.mkfifo(fifo)
    refused(cli(fifo, s.tlt, s.out, "--thickness", THICK, "-q"),
            f"{fifo}: is not a regular file (a FIFO, a device or a socket)")
    assert_no_output(s)


def test_a_loop_of_symbolic_links_as_input_is_one_line(s):
    a, b = s.root / "in" / "a.mrc", s.root / "in" / "b.mrc"
    os.symlink(b, a)
    os.symlink(a, b)
    refused(cli(a, s.tlt, s.out, "--thickness", THICK, "-q"), f"{a}: ")
    assert_no_output(s)


def test_a_one_pixel_wide_view_is_not_blamed_on_the_binning(s):
    write_stack(s.stack, s.views[:, :, :1], overwrite=True)
    line = refused(cli(*mrc(s), "-q"), f"{s.stack}: the views are 1 pixel wide; a reconstruction needs at least 2")
    assert "bin" not in line


def test_nan_in_the_starting_volume_names_the_file_and_its_section(s):
    init = s.root / "in" / "init.mrc"
    volume = np.zeros((ROWS, THICK, WIDTH), np.float32)  # xzy: one file section per slice
    volume[5, 2, 3] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        write_stack(init, volume)
    refused(cli(*mrc(s, *SIRT, "--init", init), "-q"),
            f"{init}: the starting volume (--init) contains NaN or Inf values in section 6 of the file")
    assert_no_output(s)


@pytest.mark.parametrize("size, text", [(1, "1 byte"), (1000, "1000 bytes"), (1024, "1.0 KiB"),
                                        (3 << 30, "3.0 GiB")])
def test_sizes_are_said_sensibly(size, text):
    assert format_bytes(size) == text


# ------------------------------------------------------------------------------ tiltrec simulate

Simulated = namedtuple("Simulated", "exit_code stderr folder")


def simulate(tmp_path, *options):
    folder = tmp_path / "sim"
    result = CliRunner().invoke(tools_app, ["simulate", "--out", str(folder), *map(str, options)],
                                catch_exceptions=False)
    return Simulated(result.exit_code, result.stderr, folder)


SIMULATE_CASES = [
    ("slices-1", ["--slices", 1], "--slices must be a whole number of pixels, at least 8, got 1"),
    ("thickness-4", ["--thickness", 4], "--thickness must be a whole number of pixels, at least 8, got 4"),
    ("snr-0", ["--snr", 0], "--snr must be positive, at most 1e+12, got 0"),
    ("snr-nan", ["--snr", "nan"], "--snr must be positive, at most 1e+12, got nan"),
    ("dose-0", ["--noise", "poisson", "--dose", 0], "--dose must be positive"),
    ("range-nan", ["--range", "nan,60"], "--range FIRST must be between -90 and 90 degrees, got nan"),
    ("pitch-nan", ["--pitch", "nan"], "--pitch must be between -45 and 45 degrees, got nan"),
    ("shifts-inf", ["--shifts", "inf"], "--shifts must be between 0 and 1e+06 pixels, got inf"),
    ("pixel-size-0", ["--pixel-size", 0], "--pixel-size must be positive"),
    ("seed-negative", ["--seed", -1], "--seed must be a whole number from 0 to 2^63-1, got -1"),
    ("40-terabytes", ["--width", 100000, "--slices", 100000, "--thickness", 1000],
     "the simulation needs about "),
]


@pytest.mark.parametrize("options, text", [c[1:] for c in SIMULATE_CASES], ids=[c[0] for c in SIMULATE_CASES])
def test_simulate_refuses_impossible_values_before_writing(tmp_path, options, text):
    done = simulate(tmp_path, *options)
    assert done.exit_code == 2, done.stderr
    line = one_line(done.stderr)
    assert line.startswith("tiltrec: error: ") and text in line, line
    assert not done.folder.exists()


def test_simulate_checks_the_free_disk_space(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(1 << 40, 1 << 40, 1 << 20))
    done = simulate(tmp_path, "--width", 64, "--slices", 64, "--thickness", 32)
    assert done.exit_code == 2
    assert one_line(done.stderr).startswith(f"tiltrec: error: {tmp_path / 'sim'}: the files need ")
    assert "of disk space, more than the 1.0 MiB free there" in done.stderr
    assert not done.folder.exists()


@pytest.mark.parametrize("sizes", [(32, 8, 8), (8, 8, 8), (9, 11, 8)])
def test_simulate_works_at_its_smallest_sizes(tmp_path, sizes):
    width, slices, thickness = sizes
    done = simulate(tmp_path, "--width", width, "--slices", slices, "--thickness", thickness)
    assert done.exit_code == 0, done.stderr
    assert (done.folder / "specimen.mrc").exists()
