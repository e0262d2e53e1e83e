"""SIGTERM at random moments of whole runs, the acceptance test of tiltrec.interrupts: no signal may be lost.

Each run starts with a cold Numba cache (a new NUMBA_CACHE_DIR: most of the run is then imports and compilation,
where a signal is easily dropped) and an older file at the output path.  SIGTERM comes at a random moment, to
the one process, or under ``mpiexec -n 2`` to every process of the job as ``scancel`` sends it.  Every run must
end within 5 s of the signal: with a non-zero exit code, the older file byte for byte as it was; or with exit
code 0 if it had already committed, and then with the complete new volume.  No temporary file may be left.

The default run signals a few runs of each kind (the whole test takes about a minute on two cores); set
TILTREC_STORM_RUNS=50 for a thorough run, TILTREC_STORM_SEED to vary the moments.
"""

import os
import random
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from cli_helpers import BIN, MPIEXEC, leftovers, needs_mpi
from tiltrec.formats import read_volume, write_stack

RUNS = int(os.environ.get("TILTREC_STORM_RUNS", "3"))
SEED = int(os.environ.get("TILTREC_STORM_SEED", "15"))
SPAN = {1: 10.0, 2: 14.0}  # seconds after the start within which the signal falls (a cold run takes about this)
OLDER = b"older result"


@pytest.fixture
def series(tmp_path):
    rng = np.random.default_rng(0)
    write_stack(tmp_path / "in.mrc", rng.random((31, 16, 96), dtype=np.float32))
    (tmp_path / "in.tlt").write_text("".join(f"{a}\n" for a in np.linspace(-60, 60, 31)))
    return tmp_path


def _descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (mpiexec, its proxy, the ranks: each in a session of its own)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += [child for child, parent in parents.items() if parent == current]
    return found


def _signal_all(pids) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass


@pytest.mark.slow
@pytest.mark.parametrize("ranks", [1, pytest.param(2, marks=[pytest.mark.mpi, needs_mpi])],
                         ids=["1-process", "2-ranks"])
def test_sigterm_at_random_moments_of_cold_runs(series, tmp_path_factory, ranks):
    rng = random.Random(SEED + ranks)
    out = series / "out.mrc"
    cmd = [str(BIN / "tiltrec-mpi"), "--alg", "sirt", "--iter", "3", "--thickness", "16", "--overwrite", "-q",
           str(series / "in.mrc"), str(series / "in.tlt"), str(out)]
    if ranks > 1:
        cmd = [MPIEXEC, "-n", str(ranks), *cmd]
    outcomes = []
    for run in range(RUNS):
        out.write_bytes(OLDER)
        cache = tmp_path_factory.mktemp("numba-cache")
        env = dict(os.environ, NUMBA_CACHE_DIR=str(cache))
        delay = rng.uniform(0.0, SPAN[ranks])
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        try:
            time.sleep(delay)
            _signal_all(_descendants(proc.pid) if ranks > 1 else [proc.pid])
            sent = time.monotonic()
            stdout, err = proc.communicate(timeout=60)
            took = time.monotonic() - sent
        finally:
            if proc.poll() is None:
                _signal_all(_descendants(proc.pid))
                proc.kill()
        what = f"run {run}, signal after {delay:.2f} s: exit {proc.returncode} after {took:.2f} s\n{stdout}{err}"
        assert took < 5, what
        if proc.returncode == 0:
            assert read_volume(out)[0].shape == (16, 16, 96), what
            assert "interrupted" not in err and "BAD TERMINATION" not in stdout, what
        else:
            assert out.read_bytes() == OLDER, what
            assert "Exception ignored" not in err and "Traceback" not in err, what
            assert err.count("interrupted") <= 1, what  # once for every rank (none: killed before Python was set up)
        assert leftovers(series) == [], what
        outcomes.append(proc.returncode)
    print(f"{ranks} rank(s), exit codes: {outcomes}")
