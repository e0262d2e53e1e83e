"""Checkpoints: a run interrupted and resumed gives the uninterrupted result; another job's checkpoint is refused."""

import os
import signal
import subprocess
import time
from dataclasses import replace

import numpy as np
import pytest

from cli_helpers import (BIN, MPIEXEC, cli, interrupt_checkpoint_at, needs_mpi, one_line, phantom_series, process_group,
                         run_group)

import tiltrec
from tiltrec.algorithms import ALGORITHMS
from tiltrec.formats import read_volume

ANGLES = np.arange(-60.0, 61.0, 4.0)


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    return phantom_series(tmp_path_factory.mktemp("checkpoint"), ANGLES, noise_seed=4)


def reconstruct(series, out, **options):
    tiltrec.reconstruct(series / "in.mrc", series / "in.tlt", out, thickness=24, **options)


CASES = {
    "admm-unified": dict(alg="admm", unified=True, iter=12),
    "sirt-slabs-odd-even": dict(alg="sirt", iter=6, memory=600_000, split="odd-even"),
    "sart-unified": dict(alg="sart", unified=True, iter=5),
}


@pytest.mark.parametrize("case,every,stop_at", [("admm-unified", 5, 2), ("sirt-slabs-odd-even", 2, 7),
                                                ("sart-unified", 2, 2)])
def test_resume_gives_the_uninterrupted_result(series, tmp_path, monkeypatch, case, every, stop_at):
    options = CASES[case]
    reconstruct(series, tmp_path / "whole.mrc", **options)
    out, ck = tmp_path / "out.mrc", tmp_path / "run.ckpt"
    interrupt_checkpoint_at(monkeypatch, stop_at)
    with pytest.raises(KeyboardInterrupt), pytest.warns(UserWarning, match="kept: continue with --resume"):
        reconstruct(series, out, checkpoint=ck, checkpoint_every=every, **options)
    monkeypatch.undo()
    kept = sorted(p.name for p in tmp_path.iterdir())
    assert ck.exists() and not out.exists() and any(name.startswith(".out") for name in kept), kept
    reconstruct(series, out, checkpoint=ck, checkpoint_every=every, resume=True, **options)
    for name in ["", "_odd", "_even"] if options.get("split") else [""]:
        ours, whole = read_volume(tmp_path / f"out{name}.mrc")[0], read_volume(tmp_path / f"whole{name}.mrc")[0]
        assert np.abs(ours - whole).max() <= 1e-6 * np.abs(whole).max(), name
    assert not ck.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_the_slices_written_before_the_interruption_are_kept(series, tmp_path, monkeypatch):
    """Slice-based SIRT: finished slabs are not recomputed, and the header statistics cover all of them."""
    options = dict(alg="sirt", iter=3, memory=600_000)
    reconstruct(series, tmp_path / "whole.mrc", **options)
    out, ck = tmp_path / "out.mrc", tmp_path / "run.ckpt"
    interrupt_checkpoint_at(monkeypatch, 3)  # two slabs done
    with pytest.raises(KeyboardInterrupt), pytest.warns(UserWarning):
        reconstruct(series, out, checkpoint=ck, checkpoint_every=100, **options)
    monkeypatch.undo()
    runs, sirt = [], ALGORITHMS["sirt"]
    monkeypatch.setitem(ALGORITHMS, "sirt", replace(sirt, run=lambda op, *a, **k: runs.append(op.y0) or
                                                    sirt.run(op, *a, **k)))
    reconstruct(series, out, checkpoint=ck, resume=True, **options)
    assert 0 not in runs and len(runs) >= 1
    with open(out, "rb") as a, open(tmp_path / "whole.mrc", "rb") as b:
        header, reference = a.read(224), b.read(224)  # up to the labels (with the date)
    assert header == reference


def test_a_checkpoint_of_another_job_is_refused(series, tmp_path, monkeypatch):
    out, ck = tmp_path / "out.mrc", tmp_path / "run.ckpt"
    interrupt_checkpoint_at(monkeypatch, 2)
    with pytest.raises(KeyboardInterrupt), pytest.warns(UserWarning):
        reconstruct(series, out, checkpoint=ck, checkpoint_every=2, alg="admm", unified=True, iter=8)
    monkeypatch.undo()
    common = ["--alg", "admm", "--iter", "8", "--thickness", "24", "--checkpoint", ck, "--checkpoint-every", "2",
              series / "in.mrc", series / "in.tlt", out]
    result = cli(*common, "--resume", "--lambda", "2", prog="tiltrecz-mpi")
    assert result.exit_code == 2 and "another job (its algorithm settings differ)" in one_line(result.stderr)
    result = cli(*common, "--resume", "--width", "60", prog="tiltrecz-mpi")
    assert result.exit_code == 2 and "geometry" in one_line(result.stderr)
    result = cli(*common, prog="tiltrecz-mpi")  # a new run would overwrite it
    assert result.exit_code == 2 and "--resume" in one_line(result.stderr)
    assert ck.exists()


@pytest.mark.parametrize("args,message", [
    (["--resume"], "--resume works with --checkpoint"),
    (["--checkpoint", "{tmp}/none.ckpt", "--resume"], "no checkpoint to resume from"),
    (["--checkpoint", "{tmp}/c.ckpt", "--alg", "wbp"], "--checkpoint applies to sirt, sart, admm; not to wbp"),
    (["--checkpoint", "{tmp}/c.ckpt", "--output", "{tmp}/out.hdf"], "needs an MRC output"),
])
def test_checkpoint_options_are_checked(series, tmp_path, args, message):
    args = [str(a).format(tmp=tmp_path) for a in args]
    out = [] if "--output" in args else [tmp_path / "out.mrc"]
    result = cli("--alg", "sirt", "--thickness", "24", *args, series / "in.mrc", series / "in.tlt", *out)
    assert result.exit_code == 2 and message in one_line(result.stderr)
    assert not [p for p in tmp_path.iterdir() if p.suffix in (".mrc", ".hdf", ".tmp")]


def wait_for(path, proc, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)


@pytest.mark.parametrize("ranks", [1, pytest.param(2, marks=[pytest.mark.mpi, needs_mpi])])
def test_sigterm_then_resume(series, tmp_path, ranks):
    """A real SIGTERM (to the process, or to mpiexec): exit 143, checkpoint and partial output kept; the resumed
    run (same number of ranks) gives the uninterrupted result."""
    args = ["--alg", "admm", "--iter", "25", "--thickness", "24", "--quiet", series / "in.mrc", series / "in.tlt"]
    command = [str(BIN / "tiltrecz-mpi"), *map(str, args)]
    if ranks > 1:
        command = [MPIEXEC, "-n", str(ranks), *command]
    code, err = run_group(command + [str(tmp_path / "whole.mrc")])
    assert code == 0, err
    ck, out = tmp_path / "run.ckpt", tmp_path / "out.mrc"
    resumable = command + [str(out), "--checkpoint", str(ck), "--checkpoint-every", "1"]
    with process_group(resumable, stderr=subprocess.PIPE, text=True) as proc:
        wait_for(ck, proc)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 143, err
    assert "continue with --resume" in err and ck.exists() and not out.exists()
    assert len([p for p in tmp_path.iterdir() if p.name.startswith(".out.mrc")]) == 1
    code, err = run_group(resumable + ["--resume"])
    assert code == 0, err
    ours, whole = read_volume(out)[0], read_volume(tmp_path / "whole.mrc")[0]
    assert np.abs(ours - whole).max() <= 1e-6 * np.abs(whole).max()
    assert sorted(os.listdir(tmp_path)) == ["out.mrc", "whole.mrc"]
