"""A run writes only its own outputs: never a file it reads, never one file twice, never a file its options only
name in passing (a log, a plot), and a checkpoint can neither redirect writes nor resurrect damaged slices.

Each case keeps a snapshot of every file in the folder and checks, after a refused run, that all of them are byte
for byte as they were and that nothing new (a temporary file included) appeared.
"""

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from checkpoint_files import edit_meta
from cli_helpers import BIN, cli, interrupt_checkpoint_at, one_line, phantom_series, tools_cli

import tiltrec
from tiltrec.formats import read_volume
from tiltrec.formats.atomic import partial_name

ANGLES = np.arange(-60.0, 61.0, 6.0)
GEOMETRY = ["--thickness", "24"]


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    return phantom_series(tmp_path_factory.mktemp("safety"), ANGLES, noise_seed=7)


@pytest.fixture
def work(series, tmp_path):
    """A folder with the series (in.mrc, in.tlt) and an older output (old.mrc)."""
    for name in ("in.mrc", "in.tlt"):
        (tmp_path / name).write_bytes((series / name).read_bytes())
    (tmp_path / "old.mrc").write_bytes(b"an older result")
    return tmp_path


def snapshot(folder: Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file() and not p.is_symlink()}


def refused(folder, *args, prog="tiltrec-mpi", code=2, message=None):
    """Run ``prog args`` (``tiltrec``: the tools) expecting one error line and no change at all in ``folder``;
    returns the line."""
    before = snapshot(folder)
    links = sorted(p.name for p in folder.iterdir() if p.is_symlink())
    result = tools_cli(*args) if prog == "tiltrec" else cli(*args, prog=prog)
    line = one_line(result.stderr)
    assert result.exit_code == code, line
    assert snapshot(folder) == before, line
    assert sorted(p.name for p in folder.iterdir() if p.is_symlink()) == links
    if message is not None:
        assert message in line, line
    return line


# -------------------------------------------------------------------------------------------- outputs that are inputs
def test_checkpoint_naming_the_output_is_refused_before_any_work(work):
    """A checkpoint at the output's path would be removed after the output is committed, taking the output with it
    (exit 0, "wrote new.mrc", and no file): refused before any work."""
    new = work / "new.mrc"
    refused(work, "--overwrite", "--alg", "sirt", "--iter", "4", *GEOMETRY, "--checkpoint", new,
            "--checkpoint-every", "1", work / "in.mrc", work / "in.tlt", new,
            message="the checkpoint is the same file as the output")
    refused(work, "--alg", "admm", "--iter", "2", *GEOMETRY, "--checkpoint", work / "a.mrc", work / "in.mrc",
            work / "in.tlt", work / "a.mrc", prog="tiltrecz-mpi", message="the checkpoint is the same file as")
    refused(work, "--alg", "sirt", *GEOMETRY, "--split", "odd-even", "--checkpoint", work / "h_even.mrc",
            work / "in.mrc", work / "in.tlt", work / "h.mrc", message="the checkpoint is the same file as the even")


def test_no_output_may_be_an_input(work):
    """Every file written is checked against every file read, by identity (links, hard links, ../)."""
    stack, tlt = work / "in.mrc", work / "in.tlt"
    (work / "t_odd.mrc").write_bytes(stack.read_bytes())
    refused(work, *GEOMETRY, "--split", "odd-even", work / "t_odd.mrc", tlt, work / "t.mrc",
            message="the odd half would overwrite the input tilt series")
    (work / "angles.mrc").write_text(tlt.read_text())
    refused(work, *GEOMETRY, "--overwrite", stack, work / "angles.mrc", work / "angles.mrc",
            message="the output would overwrite the tilt angle file")
    (work / "x.mrc").write_text("0\n" * len(ANGLES))
    refused(work, *GEOMETRY, "--overwrite", "--xtilt", work / "x.mrc", stack, tlt, work / "x.mrc",
            message="the output would overwrite the X-axis tilt file")
    os.symlink(stack, work / "link.mrc")
    refused(work, *GEOMETRY, "--overwrite", stack, tlt, work / "link.mrc", message="would overwrite the input")
    os.link(tlt, work / "hard.mrc")
    refused(work, *GEOMETRY, "--overwrite", stack, tlt, work / "hard.mrc", message="tilt angle file")
    refused(work, *GEOMETRY, "--overwrite", stack, tlt, work / "sub" / ".." / "in.mrc")


def test_a_half_may_not_be_the_init_volume(work):
    tiltrec.reconstruct(work / "in.mrc", work / "in.tlt", work / "start.mrc", thickness=24)
    (work / "v_odd.mrc").write_bytes((work / "start.mrc").read_bytes())
    refused(work, "--alg", "sirt", "--iter", "2", *GEOMETRY, "--overwrite", "--split", "odd-even", "--init",
            work / "v_odd.mrc", work / "in.mrc", work / "in.tlt", work / "v.mrc",
            message="the odd half would overwrite the --init volume")


def test_tilt_com_whose_output_is_its_tilt_file(work):
    com = work / "tilt.com"
    com.write_text(f"$tilt -StandardInput\nInputProjections {work / 'in.mrc'}\nOutputFile {work / 'in.tlt'}\n"
                   f"TILTFILE {work / 'in.tlt'}\nTHICKNESS 24\n")
    refused(work, "--com", com, "--overwrite", message="the output would overwrite the tilt angle file")
    com.write_text(f"$tilt -StandardInput\nInputProjections {work / 'in.mrc'}\nOutputFile {com}\n"
                   f"TILTFILE {work / 'in.tlt'}\nTHICKNESS 24\n")
    refused(work, "--com", com, "--overwrite", message="the output would overwrite the tilt parameter file")


def test_two_outputs_may_not_be_one_file(work):
    """Output v.mrc with --split writes v_odd.mrc: a log or checkpoint of that name is refused."""
    refused(work, "--alg", "admm", "--iter", "2", *GEOMETRY, "--log", work / "v.mrc", work / "in.mrc",
            work / "in.tlt", work / "v.mrc", prog="tiltrecz-mpi", message="the log is the same file as the output")


# ---------------------------------------------------------------------------------------------- the tools' outputs
@pytest.fixture
def volume(work):
    tiltrec.reconstruct(work / "in.mrc", work / "in.tlt", work / "vol.mrc", thickness=24)
    return work / "vol.mrc"


def tool(folder, *args, code=2, message=None):
    return refused(folder, *args, prog="tiltrec", code=code, message=message)


def test_preview_and_frc_never_replace_a_file_they_should_not(work, volume):
    tool(work, "preview", volume, "-o", volume, message="the PNG would overwrite the volume")
    tool(work, "preview", volume, "-o", work / "in.mrc", message="name it .png")
    tool(work, "frc", volume, volume, "--plot", work / "in.tlt", message="name it .png")
    os.link(volume, work / "vol.png")
    tool(work, "frc", volume, volume, "--plot", work / "vol.png", "--overwrite",
         message="the plot would overwrite the first volume")
    tool(work, "preview", volume, "-o", work / "vol.png", "--overwrite", message="the PNG would overwrite the volume")
    os.unlink(work / "vol.png")
    (work / "p.png").write_bytes(b"an older picture")
    tool(work, "preview", volume, "-o", work / "p.png", message="already exists (use --overwrite")
    tool(work, "frc", volume, volume, "--plot", work / "p.png", message="already exists (use --overwrite")
    tool(work, "preview", volume, "-o", work / "p.jpg", message="name it .png")
    result = tools_cli("preview", volume, "-o", work / "p.png", "--overwrite")
    assert result.exit_code == 0 and (work / "p.png").read_bytes().startswith(b"\x89PNG")
    assert not [p for p in work.iterdir() if p.name.endswith(".tmp")]


# ---------------------------------------------------------------------------------------------- the iteration log
ADMM = ["--alg", "admm", "--iter", "2", "--cg-iter", "1", *GEOMETRY, "-q"]


def test_log_never_writes_into_another_file(work):
    """--log appends: it must never append to a file that is not a log (the input stack, the angle file, an old
    output)."""
    stack, tlt = work / "in.mrc", work / "in.tlt"
    for victim, message in ((stack, "the log would overwrite the input tilt series"),
                            (tlt, "the log would overwrite the tilt angle file"),
                            (work / "old.mrc", "is not a tiltrec iteration log")):
        refused(work, *ADMM, "--log", victim, stack, tlt, work / "v.mrc", prog="tiltrecz-mpi", message=message)
        refused(work, *ADMM, "--log", victim, "--overwrite", stack, tlt, work / "v.mrc", prog="tiltrecz-mpi",
                message=message)


def test_log_is_refused_where_nothing_would_be_logged(work):
    refused(work, *GEOMETRY, "--log", work / "w.log", work / "in.mrc", work / "in.tlt", work / "v.mrc",
            message="--log applies to admm; not to ")


def test_an_existing_log_is_replaced_only_with_overwrite(work):
    log, out = work / "a.log", work / "v.mrc"
    args = [*ADMM, "--log", log, work / "in.mrc", work / "in.tlt"]
    assert cli(*args, out, prog="tiltrecz-mpi").exit_code == 0
    first = log.read_text()
    refused(work, *args, work / "w.mrc", prog="tiltrecz-mpi", message="already exists (use --overwrite")
    assert cli(*args, out, "--overwrite", prog="tiltrecz-mpi").exit_code == 0
    assert log.read_text().count("\n") == first.count("\n")  # replaced, not appended to


def test_a_log_link_is_replaced_not_written_through(work):
    target = work / "elsewhere.log"
    log = work / "a.log"
    os.symlink(target, log)  # dangling: writing through it would create a file the user never named
    result = cli(*ADMM, "--log", log, work / "in.mrc", work / "in.tlt", work / "v.mrc", prog="tiltrecz-mpi")
    assert result.exit_code == 2 and not target.exists()


# ----------------------------------------------------------------------------------------- resuming from a checkpoint
SIRT = dict(alg="sirt", iter=4, memory=400_000, thickness=24)  # several slabs


def interrupted_run(work, monkeypatch, stop_at=4):
    """A SIRT run with a checkpoint stopped after some slabs are written; returns (out, ckpt, partial)."""
    out, ck = work / "out.mrc", work / "run.ckpt"
    interrupt_checkpoint_at(monkeypatch, stop_at)
    with pytest.raises(KeyboardInterrupt), pytest.warns(UserWarning, match="kept"):
        tiltrec.reconstruct(work / "in.mrc", work / "in.tlt", out, checkpoint=ck, checkpoint_every=2, **SIRT)
    monkeypatch.undo()
    partial = partial_name(out, ck)
    assert partial.is_file() and ck.is_file()
    return out, ck, partial


def reference(work):
    tiltrec.reconstruct(work / "in.mrc", work / "in.tlt", work / "whole.mrc", **SIRT)
    return read_volume(work / "whole.mrc")[0]


def resume(work, out, ck, **options):
    tiltrec.reconstruct(work / "in.mrc", work / "in.tlt", out, checkpoint=ck, resume=True, **SIRT, **options)
    return read_volume(out)[0]


def test_an_edited_checkpoint_cannot_redirect_writes(work, monkeypatch):
    """The temporary files a resumed run writes follow from the output and the checkpoint, never from what
    the checkpoint file says."""
    out, ck, _ = interrupted_run(work, monkeypatch)
    stack = (work / "in.mrc").read_bytes()
    edit_meta(ck, lambda meta: meta.update(temporaries=[str(work / "in.mrc")]))
    np.testing.assert_array_equal(resume(work, out, ck), reference(work))
    assert (work / "in.mrc").read_bytes() == stack


def test_a_kept_partial_output_survives_other_runs(work, monkeypatch):
    """The next run writing the same output must not take the kept partial file for a killed run's leftover and
    remove it."""
    out, ck, partial = interrupted_run(work, monkeypatch)
    tiltrec.reconstruct(work / "in.mrc", work / "in.tlt", out, thickness=24, overwrite=True)
    assert partial.is_file()
    np.testing.assert_array_equal(resume(work, out, ck, overwrite=True), reference(work))
    assert not partial.exists() and not ck.exists()


@pytest.mark.parametrize("damage", ["zeroed", "garbled"])
def test_resuming_over_damaged_slices_computes_them_again(work, monkeypatch, damage):
    """Slices the checkpoint counts as written are checked against their checksums on resuming."""
    out, ck, partial = interrupted_run(work, monkeypatch)
    size = partial.stat().st_size
    with open(partial, "r+b") as f:
        f.seek(1024)
        f.write(bytes(size - 1024) if damage == "zeroed" else os.urandom(size - 1024))
    with pytest.warns(UserWarning, match="differ from what the checkpoint recorded"):
        volume = resume(work, out, ck)
    np.testing.assert_array_equal(volume, reference(work))


def test_resuming_over_a_truncated_partial_output_is_refused(work, monkeypatch):
    out, ck, partial = interrupted_run(work, monkeypatch)
    os.truncate(partial, partial.stat().st_size // 2)
    result = cli("--alg", "sirt", "--iter", "4", "--memory", "400000", *GEOMETRY, "--checkpoint", ck, "--resume",
                 work / "in.mrc", work / "in.tlt", out)
    assert result.exit_code == 2 and "is not the partial output of this run" in one_line(result.stderr)
    assert not out.exists()


def test_a_partial_output_that_is_a_link_is_refused(work, monkeypatch):
    out, ck, partial = interrupted_run(work, monkeypatch)
    stack = (work / "in.mrc").read_bytes()
    partial.unlink()
    os.symlink(work / "in.mrc", partial)
    result = cli("--alg", "sirt", "--iter", "4", "--memory", "400000", *GEOMETRY, "--checkpoint", ck, "--resume",
                 work / "in.mrc", work / "in.tlt", out)
    line = one_line(result.stderr)  # the partial file is a link to the input: the file check sees it first
    assert result.exit_code == 2 and "would overwrite the input tilt series" in line, line
    assert (work / "in.mrc").read_bytes() == stack and not out.exists()


# ---------------------------------------------------------------------------------------------- damaged checkpoints
def resume_line(work, out, ck):
    result = cli("--alg", "sirt", "--iter", "4", "--memory", "400000", *GEOMETRY, "-q", "--checkpoint", ck, "--resume",
                 work / "in.mrc", work / "in.tlt", out)
    return result.exit_code, one_line(result.stderr)


@pytest.mark.parametrize("damage", ["empty", "truncated", "text"])
def test_a_damaged_checkpoint_is_one_line(work, monkeypatch, damage):
    out, ck, _ = interrupted_run(work, monkeypatch)
    data = ck.read_bytes()
    ck.write_bytes({"empty": b"", "truncated": data[:len(data) // 2], "text": b"hello\n"}[damage])
    code, line = resume_line(work, out, ck)
    assert code == 2 and f"{ck}: cannot be read as a tiltrec checkpoint" in line, line


CRAFTED = {
    "finished not a list": lambda m: m.update(finished={"a": 1}),
    "finished key out of range": lambda m: m["finished"].append([99] + m["finished"][0][1:]),
    "finished key of strings": lambda m: m["finished"].append(["0"] + m["finished"][0][1:]),
    "finished with NaN voxels": lambda m: m["finished"][0].__setitem__(8, 3),
    "finished stats not finite": lambda m: m["finished"][0].__setitem__(4, float("nan")),
    "current slab out of range": lambda m: m.update(current={"key": [0, 7], "iteration": 2}),
    "current iteration a string": lambda m: m.update(current={"key": [1, 0], "iteration": "2"}),
    "metadata a list": lambda m: (m.clear(), m.update(version=[])),
}


@pytest.mark.parametrize("craft", sorted(CRAFTED))
def test_crafted_checkpoint_metadata_is_one_line(work, monkeypatch, craft):
    out, ck, _ = interrupted_run(work, monkeypatch)
    edit_meta(ck, CRAFTED[craft])
    code, line = resume_line(work, out, ck)
    assert code == 2 and str(ck) in line, line
    assert not out.exists()


@pytest.mark.parametrize("state", ["wrong shape", "not finite", "missing", "late iteration"])
def test_a_crafted_saved_state_is_refused_before_other_slabs_are_computed(work, monkeypatch, state):
    """The slab whose state was saved is continued first, and its arrays are checked as they are loaded."""
    out, ck, _ = interrupted_run(work, monkeypatch)
    with np.load(ck) as stored:
        arrays = {name: stored[name] for name in stored.files}
    meta = json.loads(str(arrays["meta"]))
    assert meta["current"] is not None
    if state == "wrong shape":
        arrays["state_x"] = np.zeros(3, np.float32)
    elif state == "not finite":
        arrays["state_x"] = np.full_like(arrays["state_x"], np.nan)
    elif state == "missing":
        del arrays["state_x"]
    else:
        meta["current"]["iteration"] = 400
        arrays["meta"] = np.array(json.dumps(meta))
    with open(ck, "wb") as f:
        np.savez(f, **arrays)
    from tiltrec.algorithms import ALGORITHMS

    computed = []
    sirt = ALGORITHMS["sirt"]
    monkeypatch.setitem(ALGORITHMS, "sirt", type(sirt)(**{**sirt.__dict__, "run": lambda op, *a, **k: (
        computed.append(op.y0), sirt.run(op, *a, **k))[1]}))
    code, line = resume_line(work, out, ck)
    assert code == 2 and str(ck) in line, line
    assert len(computed) == 1  # the saved slab only: refused before any other work


# ---------------------------------------------------------------------------- temporary files, long names, full disks
def test_split_with_an_existing_half_leaves_no_temporary(work):
    (work / "v_even.mrc").write_bytes(b"an older half")
    refused(work, *GEOMETRY, "--split", "odd-even", work / "in.mrc", work / "in.tlt", work / "v.mrc",
            message="v_even.mrc: already exists")


def test_a_long_output_name_works(work):
    out = work / ("n" * 226 + ".mrc")  # 230 characters: its temporary name, longer, must stay within 255 bytes
    result = cli(*GEOMETRY, "-q", work / "in.mrc", work / "in.tlt", out)
    assert result.exit_code == 0, result.stderr
    assert out.is_file() and not [p for p in work.iterdir() if p.name.endswith(".tmp")]
    ck = work / ("c" * 250)
    result = cli("--alg", "sirt", "--iter", "2", *GEOMETRY, "-q", "--checkpoint", ck, "--checkpoint-every", "1",
                 work / "in.mrc", work / "in.tlt", work / "w.mrc")
    assert result.exit_code == 0, result.stderr


def test_a_read_only_checkpoint_folder_is_refused_before_any_work(work, monkeypatch):
    """The checkpoint's folder is checked with the outputs, before the first slabs are computed, and the message
    names the checkpoint (not the hidden file of its first save).  The folder is read-only to the access check (a
    test run as root writes anywhere)."""
    folder = work / "ro"
    folder.mkdir()
    access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: Path(path) != folder and access(path, mode, **kw))
    refused(work, "--alg", "sirt", *GEOMETRY, "--checkpoint", folder / "c.ckpt", work / "in.mrc", work / "in.tlt",
            work / "v.mrc", message=f"{folder / 'c.ckpt'}: output directory {folder} is not writable")


@pytest.fixture
def tiny_disk(tmp_path):
    """A 1 MiB file system (tmpfs; needs root), removed afterwards."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
                      capture_output=True).returncode:
        pytest.skip("cannot mount a small file system here")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_full_disk_for_checkpoint_is_a_runtime_failure(work, tiny_disk, series):
    """The checkpoint on a full disk: exit 1 (a runtime failure, as documented), one line naming it."""
    fill(tiny_disk)
    result = cli("--alg", "sirt", "--iter", "4", *GEOMETRY, "-q", "--checkpoint", tiny_disk / "c.ckpt",
                 "--checkpoint-every", "1", work / "in.mrc", work / "in.tlt", work / "v.mrc")
    line = one_line(result.stderr)
    assert result.exit_code == 1 and f"{tiny_disk / 'c.ckpt'}: cannot write the checkpoint: the disk is full" \
        in line, line
    assert not (work / "v.mrc").exists()
    assert not [p for p in list(work.iterdir()) + list(tiny_disk.iterdir()) if p.name.endswith(".tmp")]


@pytest.mark.parametrize("suffix", [".mrc", ".hdf"])
def test_full_disk_leaves_no_temporary(series, tiny_disk, suffix):
    out = tiny_disk / f"v{suffix}"
    result = cli("--thickness", "200", "-q", series / "in.mrc", series / "in.tlt", out)
    line = one_line(result.stderr)
    assert result.exit_code == 1 and line.startswith(f"tiltrec-mpi: error: {out}: cannot") and "disk is full" \
        in line, line
    assert list(tiny_disk.iterdir()) == []


def fill(disk: Path) -> None:
    """Leave no room on ``disk``."""
    with open(disk / "fill", "wb") as f:
        try:
            f.write(b"\0" * (1 << 20))
        except OSError:
            pass


def test_full_disk_for_the_log_names_it(work, tiny_disk):
    """The message names the log, not just "cannot continue"."""
    fill(tiny_disk)
    result = cli(*ADMM, "--log", tiny_disk / "a.log", work / "in.mrc", work / "in.tlt", work / "v.mrc",
                 prog="tiltrecz-mpi")
    line = one_line(result.stderr)
    assert result.exit_code == 1 and line.startswith(f"tiltrecz-mpi: error: {tiny_disk / 'a.log'}: cannot write "
                                                     f"the log: the disk is full"), line
    assert not (work / "v.mrc").exists()


def test_full_disk_for_a_png_names_it(work, volume, tiny_disk):
    fill(tiny_disk)
    result = tools_cli("preview", volume, "-o", tiny_disk / "p.png")
    line = one_line(result.stderr)
    assert result.exit_code == 1 and str(tiny_disk / "p.png") in line, line
    assert [p.name for p in tiny_disk.iterdir()] == ["fill"]


# ---------------------------------------------------------------------------------------------- non-finite
@pytest.mark.parametrize("mode", ["2", "1", "0", "12"])
def test_no_volume_with_nan_is_written(work, monkeypatch, mode):
    """Whatever produced them, NaN or infinite voxels stop the run before the output appears (the integer
    conversions and the clipping would otherwise hide them)."""
    from dataclasses import replace as swap

    from tiltrec.algorithms import ALGORITHMS

    wbp = ALGORITHMS["wbp"]

    def poisoned(op, *args, **kwargs):
        volume = wbp.run(op, *args, **kwargs)
        volume[0, 0, 0] = np.nan
        return volume

    monkeypatch.setitem(ALGORITHMS, "wbp", swap(wbp, run=poisoned))
    result = cli(*GEOMETRY, "-q", "--mode", mode, "--overwrite", work / "in.mrc", work / "in.tlt", work / "old.mrc")
    line = one_line(result.stderr)
    assert result.exit_code == 1 and "NaN or infinite values; no output written" in line, line
    assert (work / "old.mrc").read_bytes() == b"an older result"
    with pytest.raises(tiltrec.errors.TiltrecError, match="NaN or infinite"):
        tiltrec.reconstruct(work / "in.mrc", work / "in.tlt", thickness=24)


def test_the_command_line_process_keeps_the_input(work):
    """The same checks in a real process (the console script)."""
    stack = (work / "in.mrc").read_bytes()
    proc = subprocess.run([str(BIN / "tiltrec-mpi"), "--thickness", "24", "--overwrite", str(work / "in.mrc"),
                           str(work / "in.tlt"), str(work / "in.mrc")], capture_output=True, text=True)
    assert proc.returncode == 2 and "would overwrite the input tilt series" in proc.stderr
    assert (work / "in.mrc").read_bytes() == stack


def test_a_device_is_never_replaced(work, tmp_path):
    """``/dev/null`` as the output (to discard it) with --overwrite: os.replace would have put a file in the
    device's place for every program.  A device, FIFO or socket is refused as an output."""
    fifo = tmp_path / "pipe.mrc"
    os.mkfifo(fifo)
    for path in (Path(os.devnull), fifo):
        result = cli(*GEOMETRY, "--overwrite", "-q", work / "in.mrc", work / "in.tlt", path)
        assert result.exit_code == 2 and "is a device, a FIFO or a socket" in one_line(result.stderr)
    assert Path(os.devnull).is_char_device() and fifo.is_fifo()
    result = tools_cli("preview", work / "in.mrc", "--layout", "xzy", "-o", tmp_path / "p.png", "--overwrite")
    assert result.exit_code == 0


def test_simulate_checks_all_its_files_before_writing_any(tmp_path):
    """An existing NAME.tlt is found before NAME.mrc and NAME_truth.mrc are written, so nothing is half made."""
    (tmp_path / "s.tlt").write_text("kept\n")
    result = tools_cli("simulate", "--out", tmp_path, "--name", "s", "--width", "32", "--slices", "8",
                       "--thickness", "8")
    assert result.exit_code == 2 and "s.tlt: already exists" in one_line(result.stderr)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.tlt"] and (tmp_path / "s.tlt").read_text() == "kept\n"
