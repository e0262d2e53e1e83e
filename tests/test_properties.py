"""Property-based tests of the readers of user files: whatever the bytes, only tiltrec's own errors escape.

The MRC header reader (``formats.open_stack``: header checks, extended-header tilts, the lazy reader) and the
angle-file parser (``formats.read_angles``, and the ``--exclude`` view lists) get arbitrary bytes, plausible
headers and valid files with random mutations.  Anything they accept must also read back without a crash; any
refusal must be an InputError of one line that names the file.  Runs are deterministic (derandomized, no example
database) and small enough for CI.
"""

import struct
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tiltrec.errors import InputError
from tiltrec.formats import open_stack, parse_view_list, read_angles, write_stack

PROPERTY = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
MRC_FIELDS = {"nx": (0, "i"), "ny": (4, "i"), "nz": (8, "i"), "mode": (12, "i"), "mx": (28, "i"),
              "mz": (36, "i"), "cella": (40, "f"), "dmin": (76, "f"), "dmax": (80, "f"), "ispg": (88, "i"),
              "nsymbt": (92, "i"), "exttyp": (104, "i"), "nversion": (108, "i"), "nint": (128, "h"),
              "nreal": (130, "h"), "imod_stamp": (152, "i"), "imod_flags": (156, "i"), "machst": (212, "i")}


def bytes_file(folder, raw, name):
    path = folder / name
    path.write_bytes(raw)
    return path


def only_input_errors(path, action):
    """Run ``action()``; it may fail only with a one-line InputError naming ``path``.  An open stack it returns
    must read every view."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = action()
            if hasattr(result, "close"):
                with result:
                    block = result.read(range(result.nviews), slice(0, result.ny))
                assert block.shape == (result.nviews, result.ny, result.nx) and block.dtype == np.float32
    except InputError as exc:
        assert "\n" not in str(exc) and str(exc).startswith(f"{path}: "), str(exc)


# ------------------------------------------------------------------------------------------------ MRC


@PROPERTY
@given(st.binary(max_size=2000), st.sampled_from(["s.mrc", "s.hdf"]))
def test_open_stack_on_any_bytes(tmp_path, raw, name):
    path = bytes_file(tmp_path, raw, name)
    only_input_errors(path, lambda: open_stack(path))


ITEM_BYTES = {0: 1, 1: 2, 2: 4, 4: 8, 6: 2, 7: 4, 12: 2, 101: 1}


@PROPERTY
@given(dims=st.tuples(*[st.integers(-1, 5)] * 3), mode=st.sampled_from(sorted(ITEM_BYTES)),
       extended=st.integers(-8, 300), counts=st.tuples(st.integers(-2, 130), st.integers(-2, 40)),
       stamp=st.sampled_from([b"DD\0\0", b"\x11\x11\0\0", b"\0" * 4]),
       exttyp=st.sampled_from([b"\0" * 4, b"SERI", b"AGAR", b"FEI1", b"FEI2", b"CCP4"]),
       slack=st.integers(-2, 2), fill=st.binary(min_size=1, max_size=64))
def test_open_stack_on_plausible_headers(tmp_path, dims, mode, extended, counts, stamp, exttyp, slack, fill):
    """Headers with small fields, followed by about as many bytes (random ones) as they announce."""
    header = bytearray(1024)
    struct.pack_into("<4i", header, 0, *dims, mode)
    struct.pack_into("<i4s", header, 92, extended, exttyp)
    struct.pack_into("<2h", header, 128, *counts)
    header[208:216] = b"MAP " + stamp
    size = max(0, extended + int(np.prod(dims)) * ITEM_BYTES[mode] + slack)
    tail = (fill * (size // len(fill) + 1))[:size]
    path = bytes_file(tmp_path, bytes(header) + tail, "s.mrc")
    only_input_errors(path, lambda: open_stack(path))


@pytest.fixture(scope="module")
def valid_stack(tmp_path_factory) -> bytes:
    """The bytes of a small valid stack with SerialEM tilt angles in its extended header."""
    path = tmp_path_factory.mktemp("valid") / "valid.mrc"
    write_stack(path, np.random.default_rng(0).normal(size=(3, 4, 5)).astype(np.float32), angles=[-30, 0, 30])
    return path.read_bytes()


@PROPERTY
@given(fields=st.lists(st.tuples(st.sampled_from(sorted(MRC_FIELDS)),
                                 st.one_of(st.integers(-3, 12), st.integers(-2 ** 31, 2 ** 31 - 1))),
                       min_size=1, max_size=3),
       flips=st.lists(st.tuples(st.integers(0, 1100), st.integers(0, 255)), max_size=3))
def test_open_stack_on_mutated_valid_files(tmp_path, valid_stack, fields, flips):
    """A valid stack with header fields set to random values and random bytes changed."""
    raw = bytearray(valid_stack)
    for name, value in fields:
        offset, kind = MRC_FIELDS[name]
        if kind == "h":
            value = max(-2 ** 15, min(2 ** 15 - 1, value))
        struct.pack_into("<" + kind, raw, offset, value)
    for offset, value in flips:
        raw[offset] = value
    path = bytes_file(tmp_path, bytes(raw), "m.mrc")
    only_input_errors(path, lambda: open_stack(path))


# ------------------------------------------------------------------------------------------- angles

ANGLE_LINES = st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr), st.integers().map(str),
                        st.sampled_from(["", "  ", "\t", "nan", "-inf", "1e999", "+.5", "5.", "1,5", "1 2",
                                         "# comment", "\x00", "\ufeff10", "٣"]),
                        st.text(max_size=12))


@PROPERTY
@given(st.binary(max_size=300), st.one_of(st.none(), st.integers(0, 5)))
def test_read_angles_on_any_bytes(tmp_path, raw, nviews):
    path = bytes_file(tmp_path, raw, "a.tlt")
    only_input_errors(path, lambda: read_angles(path, nviews))


@PROPERTY
@given(st.lists(ANGLE_LINES, max_size=8), st.sampled_from(["\n", "\r\n", "\r"]), st.integers(0, 8))
def test_read_angles_on_angle_like_lines(tmp_path, lines, newline, nviews):
    path = bytes_file(tmp_path, newline.join(lines).encode("utf-8", "surrogatepass"), "a.tlt")
    try:
        angles = read_angles(path, nviews)
    except InputError as exc:
        assert "\n" not in str(exc) and str(exc).startswith(f"{path}: ")
        return
    assert angles.shape == (nviews,) and np.all(np.isfinite(angles))


@PROPERTY
@given(st.text(alphabet="0123456789-, \t;x", max_size=20), st.integers(1, 50))
def test_view_lists_give_views_in_range_or_input_errors(text, nviews):
    try:
        views = parse_view_list(text, nviews)
    except InputError as exc:
        assert "\n" not in str(exc)
        return
    assert views == sorted(set(views)) and all(0 <= v < nviews for v in views)
