"""A corpus of bad inputs, generated here from a small valid series, each run through tiltrec-mpi as a user would.

Every case must end with exactly one line on stderr, ``tiltrec-mpi: error: FILE: problem``, the exit code 2 for
bad input or 1 for a runtime failure (a full disk), and no output file and no temporary file anywhere.  Cases run
in-process (typer's CliRunner) except where the process itself is the subject (a file-size limit).  The option
errors and the simplest file errors (a missing input, a short angle file) are in test_cli.py; readers on arbitrary
bytes in test_properties.py.
"""

import ast
import errno
import os
import re
import resource
import shutil
import struct
import subprocess
import warnings
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import h5py
import numpy as np
import pytest
import typer

from cli_helpers import BIN, MPIEXEC, cli, needs_mpi, one_line
from tiltrec.formats import read_volume, write_stack

NVIEWS, ROWS, WIDTH, THICK = 9, 8, 24, 8
ANGLES = np.linspace(-40.0, 40.0, NVIEWS)


def tlt_text(angles) -> str:
    return "".join(f"{a:g}\n" for a in angles)


@pytest.fixture
def s(tmp_path):
    """A valid series: ``s.stack`` (MRC), ``s.hdf`` (EMAN2), ``s.tlt``; ``s.out`` in an empty folder; and three
    impossible output paths."""
    views = np.random.default_rng(5).normal(size=(NVIEWS, ROWS, WIDTH)).astype(np.float32)
    folder = tmp_path / "in"
    folder.mkdir()
    write_stack(folder / "in.mrc", views)
    write_stack(folder / "in.hdf", views)
    (folder / "in.tlt").write_text(tlt_text(ANGLES))
    (tmp_path / "out").mkdir()
    return SimpleNamespace(root=tmp_path, views=views, stack=folder / "in.mrc", hdf=folder / "in.hdf",
                           tlt=folder / "in.tlt", out=tmp_path / "out" / "v.mrc",
                           nowhere=tmp_path / "nowhere" / "v.mrc", below_a_file=folder / "in.tlt" / "v.mrc",
                           the_input=folder / ".." / "in" / "in.mrc")


def patch(path, offset, fmt, *values):
    """Overwrite bytes of ``path`` at ``offset`` with ``struct.pack('<' + fmt, *values)``."""
    with open(path, "r+b") as stream:
        stream.seek(offset)
        stream.write(struct.pack("<" + fmt, *values))


# What damages the valid series: functions of ``s``.
def cut(size):
    return lambda s: s.stack.write_bytes(s.stack.read_bytes()[:size])


def header(offset, fmt, *values):
    return lambda s: patch(s.stack, offset, fmt, *values)


def value(index, number):
    """The views (MRC and HDF5) with ``number`` at ``index``."""

    def damage(s):
        views = s.views.copy()
        views[index] = number
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # mrcfile: NaN in the data
            write_stack(s.stack, views, overwrite=True)
            write_stack(s.hdf, views, overwrite=True)

    return damage


def angle_file(text):
    return lambda s: s.tlt.write_bytes(text if isinstance(text, bytes) else text.encode())


def eman2(change):
    """``change(handle)`` on the EMAN2 file, opened with h5py."""

    def damage(s):
        with h5py.File(s.hdf, "a") as handle:
            change(handle)

    return damage


def image_1(array):
    def change(handle):
        del handle["MDF/images/1/image"]
        handle["MDF/images/1/image"] = array

    return change


def as_directory(s):
    s.stack.unlink()
    s.stack.mkdir()


# Commands: functions of ``s`` giving tiltrec-mpi's arguments.
def mrc(s, *options):
    return [s.stack, s.tlt, s.out, "--thickness", THICK, *options]


def hdf(s):
    return [s.hdf, s.tlt, s.out, "--thickness", THICK]


def into(name, *options):
    """The MRC series reconstructed into ``s.<name>``."""
    return lambda s: [s.stack, s.tlt, getattr(s, name), "--thickness", THICK, *options]


def sirt_in_slabs(s):
    return mrc(s, "--alg", "sirt", "--iter", "1", "--memory", "40K")


def link_to_input(s):
    os.symlink(s.stack, s.out)


FULL = 1024 + NVIEWS * ROWS * WIDTH * 4  # bytes of the valid MRC stack

# (id, damage, command, the file the message names (an attribute of s), text of the problem); all exit with 2
CASES = [
    # MRC sizes
    ("mrc-empty", cut(0), mrc, "stack", "is too short for an MRC file (0 bytes; the header alone is 1024)"),
    ("mrc-short", cut(700), mrc, "stack", "is too short for an MRC file (700 bytes"),
    ("mrc-header-only", cut(1024), mrc, "stack", "is truncated or has a damaged header: 24 x 8 x 9 mode-2 voxels"),
    ("mrc-one-byte-short", cut(FULL - 1), mrc, "stack", f"need {FULL} bytes, the file has {FULL - 1}"),
    ("mrc-nz-too-big", header(8, "i", NVIEWS + 1), mrc, "stack", "is truncated or has a damaged header"),
    ("mrc-extended-beyond-file", header(92, "i", 10 ** 6), mrc, "stack", "after 1000000 bytes of extended header"),
    ("mrc-extended-negative", header(92, "i", -64), mrc, "stack", "has a negative extended header size -64"),
    # MRC: absurd dimensions (Python integers: no int32 overflow, whatever the header says)
    ("mrc-nx-zero", header(0, "i", 0), mrc, "stack", "has impossible dimensions 0 x 8 x 9"),
    ("mrc-ny-negative", header(4, "i", -8), mrc, "stack", "has impossible dimensions 24 x -8 x 9"),
    ("mrc-2^44-voxels", header(0, "iii", 2 ** 16, 2 ** 16, 2 ** 12), mrc, "stack",
     f"65536 x 65536 x 4096 mode-2 voxels after 0 bytes of extended header need {1024 + 2 ** 46} bytes"),
    ("mrc-2^32-voxels-0-as-int32", header(0, "iii", 2 ** 16, 2 ** 16, 1), mrc, "stack",
     "65536 x 65536 x 1 mode-2 voxels"),
    # MRC modes and things that are not MRC
    ("mrc-mode-complex", header(12, "i", 4), mrc, "stack", "MRC mode 4 (complex floats) is not supported"),
    ("mrc-mode-rgb", header(12, "i", 16), mrc, "stack", "MRC mode 16 (RGB colour) is not supported"),
    ("mrc-mode-4bit", header(12, "i", 101), mrc, "stack", "MRC mode 101 (4-bit packed) is not supported"),
    ("mrc-mode-unknown", header(12, "i", 9), mrc, "stack", "has unknown MRC mode 9 (not an MRC file?)"),
    ("mrc-text-file", lambda s: s.stack.write_text("not an MRC file\n" * 200), mrc, "stack", "(not an MRC file?)"),
    ("mrc-directory", as_directory, mrc, "stack", "is a directory, not a file"),
    # values
    ("mrc-nan", value((2, 3, 4), np.nan), mrc, "stack", "view 3 contains NaN or Inf values"),
    ("mrc-inf-last-view", value((8, 7, 0), -np.inf), mrc, "stack", "view 9 contains NaN or Inf values"),
    ("mrc-inf-found-while-writing", value((4, 7, 0), np.inf), sirt_in_slabs, "stack",
     "view 5 contains NaN or Inf values"),
    ("hdf-nan", value((1, 0, 0), np.nan), hdf, "hdf", "view 2 contains NaN or Inf values"),
    # angle files
    ("tlt-empty", angle_file(""), mrc, "tlt", "contains no tilt angles"),
    ("tlt-blank-lines-only", angle_file("\n  \n\t\n"), mrc, "tlt", "contains no tilt angles"),
    ("tlt-two-columns", angle_file(tlt_text(ANGLES[:3]) + "-10 0.5\n" + tlt_text(ANGLES[4:])), mrc, "tlt",
     "line 4: '-10 0.5' is not a tilt angle"),
    ("tlt-comma-decimal", angle_file("-40,0\n" + tlt_text(ANGLES[1:])), mrc, "tlt",
     "line 1: '-40,0' is not a tilt angle"),
    ("tlt-nan", angle_file(tlt_text(ANGLES[:-1]) + "nan\n"), mrc, "tlt", "line 9: 'nan' is not a tilt angle"),
    ("tlt-overflow", angle_file("1e999\n" + tlt_text(ANGLES[1:])), mrc, "tlt", "line 1: '1e999' is not a finite angle"),
    ("tlt-binary", angle_file(b"\xff\xfe\x00\x01" * 8), mrc, "tlt", "is not a text file"),
    ("tlt-too-many", angle_file(tlt_text(np.linspace(-40, 40, NVIEWS + 1))), mrc, "tlt", "10 angles for 9 views"),
    ("tlt-too-few-and-blank-lines", angle_file("\n" + tlt_text(ANGLES[:-2]) + "\n\n"), mrc, "tlt",
     "7 angles for 9 views"),
    ("tlt-beyond-90", angle_file(tlt_text(np.r_[ANGLES[:4], 95.0, ANGLES[5:]])), mrc, "tlt",
     "view 5 has the tilt angle 95, not between -90 and 90 degrees"),
    ("tlt-exactly-minus-90", angle_file(tlt_text(np.r_[-90.0, ANGLES[1:]])), mrc, "tlt",
     "view 1 has the tilt angle -90, not between"),
    ("tlt-centidegrees", angle_file(tlt_text(ANGLES * 100)), mrc, "tlt", "view 1 has the tilt angle -4000"),
    # EMAN2 HDF5
    ("hdf-not-hdf5", lambda s: s.hdf.write_bytes(b"\x89HDF junk" * 300), hdf, "hdf", "is not a readable HDF5 file"),
    ("hdf-no-images-group", eman2(lambda h: h.move("MDF", "other")), hdf, "hdf",
     "is not an EMAN2 image file (no /MDF/images group)"),
    ("hdf-no-image-dataset", eman2(lambda h: h.__delitem__("MDF/images/3/image")), hdf, "hdf",
     "image 3 has no dataset /MDF/images/3/image"),
    ("hdf-image-missing", eman2(lambda h: h.__delitem__("MDF/images/4")), hdf, "hdf",
     "/MDF/images has a missing or wrong imageid_max attribute (8.0) for its 8 members"),
    ("hdf-no-imageid-max", eman2(lambda h: h["MDF/images"].attrs.__delitem__("imageid_max")), hdf, "hdf",
     "has a missing or wrong imageid_max attribute (None)"),
    ("hdf-ragged-images", eman2(image_1(np.zeros((ROWS, WIDTH + 1), np.float32))), hdf, "hdf",
     "image 1 has shape (8, 25); a tilt series needs 2-D images of one shape (8, 24)"),
    ("hdf-complex-image", eman2(image_1(np.zeros((ROWS, WIDTH), np.complex64))), hdf, "hdf",
     "image 1 has unsupported data type complex64"),
    # output
    ("out-folder-missing", None, into("nowhere"), "nowhere", "output directory"),
    ("out-below-a-file", None, into("below_a_file"), "below_a_file", "in.tlt is not a directory"),
    ("out-is-the-input", None, into("the_input", "--overwrite"), "the_input",
     "output would overwrite the input tilt series"),
    ("out-links-to-the-input", link_to_input, into("out", "--overwrite"), "out",
     "output would overwrite the input tilt series"),
]


def snapshot(folder: Path) -> dict:
    """Every file under ``folder`` (links as they are, not folders) with its size and modification time."""
    return {p: (p.lstat().st_size, p.lstat().st_mtime_ns) for p in folder.rglob("*") if not p.is_dir()}


def assert_no_output(s, before=None):
    """No new file beside the output, no temporary file anywhere; the inputs as ``before`` (if given)."""
    after = snapshot(s.root)
    assert not [p for p in after if p.name.endswith(".tmp")], sorted(after)
    if before is not None:
        assert after == before, set(after.items()) ^ set(before.items())
    else:
        assert list(s.out.parent.iterdir()) == []


@pytest.mark.parametrize("damage, command, named, problem", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(s, damage, command, named, problem):
    if damage is not None:
        damage(s)
    before = snapshot(s.root)
    result = cli(*command(s), "-q")
    assert result.exit_code == 2, result.stderr
    line = one_line(result.stderr)
    assert line.startswith(f"tiltrec-mpi: error: {getattr(s, named)}: "), line
    assert problem in line, line
    assert result.stdout == ""
    assert_no_output(s, before)


@contextmanager
def read_only(folder: Path):
    """``folder`` made read-only: by its mode, or for root (who ignores modes) by the immutable attribute."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        undo = ["chmod", "755", folder]
    elif shutil.which("chattr") and subprocess.run(["chattr", "+i", folder], capture_output=True).returncode == 0:
        undo = ["chattr", "-i", folder]
    else:
        pytest.skip("running as root, and chattr +i is not available here")
    try:
        yield
    finally:
        subprocess.run(undo, check=True)


def test_read_only_output_folder(s):
    with read_only(s.out.parent):
        result = cli(*mrc(s), "-q")
    assert result.exit_code == 2
    assert one_line(result.stderr) == (f"tiltrec-mpi: error: {s.out}: output directory {s.out.parent} is not "
                                       f"writable")
    assert_no_output(s)


# ------------------------------------------------------------------------------ inputs tiltrec accepts


def test_angle_file_layout_that_imod_accepts(s):
    """Blank lines, spaces, tabs, CRLF, a '+' sign and exponents are fine, without a warning."""
    text = "\r\n".join(["", f"  {ANGLES[0]:g}", "", *(f"{a:e}" for a in ANGLES[1:-1]), f"\t+{ANGLES[-1]:g} ", ""])
    angle_file(text)(s)
    result = cli(*mrc(s), "-q")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    s.tlt.write_text(tlt_text(ANGLES))
    reference = s.out.with_name("ref.mrc")
    assert cli(s.stack, s.tlt, reference, "--thickness", THICK, "-q").exit_code == 0
    np.testing.assert_array_equal(read_volume(s.out)[0], read_volume(reference)[0])


def test_duplicate_angles_are_used_with_a_warning(s):
    """IMOD accepts a repeated angle (a repeated exposure); tiltrec too, and says so in one line."""
    repeated = np.r_[ANGLES[:5], ANGLES[4], ANGLES[6:]]
    angle_file(tlt_text(repeated))(s)
    result = cli(*mrc(s, "--alg", "sirt", "--iter", "2"), "-q")
    assert result.exit_code == 0, result.stderr
    assert one_line(result.stderr) == (f"tiltrec-mpi: warning: {s.tlt}: views 5 and 6 have the same tilt angle 0; "
                                       f"both are used")
    assert np.isfinite(read_volume(s.out)[0]).all()


@needs_mpi
def test_a_warning_is_printed_once_under_mpi(s):
    angle_file(tlt_text(np.r_[ANGLES[:5], ANGLES[4], ANGLES[6:]]))(s)
    done = subprocess.run([MPIEXEC, "-n", "2", str(BIN / "tiltrec-mpi"), "-q", *map(str, mrc(s))],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert one_line(done.stderr).startswith(f"tiltrec-mpi: warning: {s.tlt}: views 5 and 6 have the same tilt")


def test_longer_file_than_its_header_says(s):
    """IMOD reads such a file and ignores the extra bytes; tiltrec too, with a warning."""
    with open(s.stack, "ab") as stream:
        stream.write(bytes(100))
    result = cli(*mrc(s), "-q")
    assert result.exit_code == 0, result.stderr
    assert one_line(result.stderr) == (f"tiltrec-mpi: warning: {s.stack}: the file is 100 bytes longer than its "
                                       f"header says; the extra bytes are ignored")


# ------------------------------------------------------------------------------ memory


def minimum(stderr: str) -> str:
    """The size a memory error asks for, as a --memory value."""
    number, unit = re.search(r"needs (?:about )?([\d.]+) (KiB|MiB|GiB)", stderr).groups()
    return f"{float(number) + 0.1}{unit[0]}"


@pytest.mark.parametrize("program, problem", [
    ("tiltrec-mpi", "--memory 1.0 KiB is too small: one slab needs "),
    ("tiltrecz-mpi", "the whole volume needs about "),
])
def test_memory_too_small_even_for_one_slice_says_the_minimum(s, program, problem):
    """Refused before any slab is computed, with the minimum; that minimum then works."""
    result = cli(*mrc(s, "--alg", "sirt", "--memory", "1K"), "-q", prog=program)
    assert result.exit_code == 2
    line = one_line(result.stderr)
    assert line.startswith(f"{program}: error: {problem}"), line
    assert_no_output(s)
    result = cli(*mrc(s, "--alg", "sirt", "--memory", minimum(line)), "-q", prog=program)
    assert result.exit_code == 0, result.stderr


def test_a_real_stack_of_more_than_2_to_the_31_voxels_gets_to_the_memory_check(s):
    """A sparse 65536 x 32769 x 1 byte stack (2 GiB on paper): read without integer overflow, and refused by the
    memory check with the minimum, not by a crash."""
    raw = bytearray(s.stack.read_bytes()[:1024])
    struct.pack_into("<4i", raw, 0, 2 ** 16, 2 ** 15 + 1, 1, 0)
    with open(s.stack, "wb") as stream:
        stream.write(raw)
        stream.truncate(1024 + 2 ** 16 * (2 ** 15 + 1))
    if s.stack.stat().st_blocks * 512 > 2 ** 20:
        pytest.skip("this file system does not keep sparse files sparse")
    s.tlt.write_text("0\n")
    result = cli(*mrc(s, "--alg", "sirt", "--slices", "0,0", "--memory", "1M"), "-q")
    assert result.exit_code == 2
    assert re.fullmatch(r"tiltrec-mpi: error: --memory 1\.0 MiB is too small: one slab needs [\d.]+ MiB",
                        one_line(result.stderr))
    assert_no_output(s)


# ------------------------------------------------------------------------------ runtime failures: exit 1


@pytest.mark.parametrize("suffix", [".mrc", ".hdf"])
def test_file_size_limit_is_named_and_nothing_is_left(s, suffix):
    """``ulimit -f`` (RLIMIT_FSIZE, as a full disk would) in the real process: exit 1, one line, no file."""
    out = s.out.with_suffix(suffix)

    def limited():  # 20 kB; the volume is 24 x 120 x 8 float32 voxels, 92 kB
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))

    done = subprocess.run([str(BIN / "tiltrec-mpi"), "-q", "--thickness", "120", s.stack, s.tlt, out],
                          preexec_fn=limited, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    line = one_line(done.stderr)
    assert line.startswith(f"tiltrec-mpi: error: {out}: cannot ") and "the file size limit was reached" in line
    assert_no_output(s)


def test_disk_full_while_writing(s, monkeypatch):
    """ENOSPC from a slab write (space was reserved, but a file system may not honour that): exit 1."""

    def full(*_):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "pwrite", full)  # the MRC writer's positioned writes
    result = cli(*mrc(s), "-q")
    assert result.exit_code == 1
    assert one_line(result.stderr) == (f"tiltrec-mpi: error: {s.out}: cannot write: the disk is full (no space left "
                                       f"on device)")
    assert_no_output(s)


@pytest.mark.parametrize("failure, code, line", [
    (OSError(errno.EIO, "Input/output error", "/data/t.mrc"), 1,
     "/data/t.mrc: cannot continue: input/output error (a failing disk or a lost network file system)"),
    (OSError(errno.EACCES, "Permission denied", "/data/t.mrc"), 2, "/data/t.mrc: cannot continue: Permission denied"),
    (MemoryError(), 1, "out of memory; lower --memory"),
], ids=["EIO", "EACCES", "MemoryError"])
def test_failures_no_reader_expected_are_one_line_too(capsys, failure, code, line):
    """What escapes the readers and writers (an OSError, MemoryError) still ends as one line and an exit code."""
    from tiltrec.cli.guard import guarded

    def action():
        raise failure

    with pytest.raises(typer.Exit) as stop:
        guarded("tiltrec-mpi", action)
    assert stop.value.exit_code == code
    assert one_line(capsys.readouterr().err) == f"tiltrec-mpi: error: {line}"


# ------------------------------------------------------------------------------ every message is documented

SRC = Path(__file__).resolve().parents[1] / "src" / "tiltrec"
TROUBLESHOOTING = Path(__file__).resolve().parents[1] / "docs" / "troubleshooting.md"
SHORTEST = 10  # characters: a shorter fixed text (``cannot``, ``line``) says too little to look up


def _literal_parts(node) -> list[str]:
    """The fixed text of a message expression: string constants, f-string parts, ``+`` and ``.format``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.JoinedStr):
        return [part.value for part in node.values if isinstance(part, ast.Constant)]
    if isinstance(node, ast.BinOp):
        return _literal_parts(node.left) + _literal_parts(node.right)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format":
        return _literal_parts(node.func.value)
    return []


def message_sites() -> list[tuple[str, str]]:
    """``(file:line, longest fixed text)`` of every error and warning message in src/tiltrec: calls of
    TiltrecError and its subclasses, ``file_error`` (the problem) and ``warnings.warn``."""
    trees = {path: ast.parse(path.read_text()) for path in sorted(SRC.rglob("*.py"))}
    makers = {"TiltrecError": 0, "InputError": 0, "file_error": 1, "warn": 0}
    grown = True
    while grown:  # subclasses, wherever they are defined
        grown = False
        for tree in trees.values():
            for node in ast.walk(tree):
                if (isinstance(node, ast.ClassDef) and node.name not in makers
                        and any(getattr(base, "id", None) in makers for base in node.bases)):
                    makers[node.name] = 0
                    grown = True
    sites = []
    for path, tree in trees.items():
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            if name in makers and len(node.args) > makers[name]:
                parts = [piece.strip(" :;,.()/") for part in _literal_parts(node.args[makers[name]])
                         for piece in re.split(r"\{[^{}]*\}", part)]  # .format's {} placeholders
                text = max(parts, key=len, default="")
                if len(text) >= SHORTEST:
                    sites.append((f"{path.relative_to(SRC.parent)}:{node.lineno}", text))
    return sites


def _plain(text: str) -> str:
    return " ".join(text.replace("`", "").replace("\\", "").lower().split())


def test_every_message_is_in_troubleshooting():
    """Each message's fixed text appears in docs/troubleshooting.md (with its cause and fix)."""
    from tiltrec.errors import _EXHAUSTED, INTERRUPTED

    doc = _plain(TROUBLESHOOTING.read_text())
    sites = message_sites() + [("errors.py", INTERRUPTED), ("cli/guard.py", "out of memory; lower --memory")]
    sites += [("errors.py", reason) for reason in _EXHAUSTED.values()]
    assert len(sites) > 50  # the scan found the messages
    missing = [f"{where}: {text}" for where, text in sites if _plain(text) not in doc]
    assert not missing, "add to docs/troubleshooting.md:\n" + "\n".join(missing)
