"""Interrupted and killed runs: SIGINT and SIGTERM while reading, computing and writing, in one process and
under MPI; a rank killed outright; the temporary files that killed runs leave behind.

An interrupted run must stop within 5 s, exit 130 (SIGINT) or 143 (SIGTERM) with one line saying so, leave an
older file at the output path byte for byte and no temporary file.  Computing is hit by timing (SIRT with 100000
iterations, the signal sent half a second after the temporary output appears); reading a slab's rows and writing a
slab take milliseconds, so the TILTREC_STALL hook (tiltrec/formats/stall.py) holds every process there and says so.
"""

import os
import signal
import subprocess
import time
from contextlib import suppress

import numpy as np
import pytest

from cli_helpers import BIN, MPIEXEC, cli, leftovers, needs_mpi, one_line, wait_until_writing
from tiltrec.formats import read_volume, write_stack
from tiltrec.formats.atomic import temporary_name

OLDER = b"older result"
EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143}


@pytest.fixture
def job(tmp_path):
    """A tilt series (61 views of 256 x 64 pixels) and an older output file that must survive.  Afterwards, any run
    a failed test left behind is killed."""
    rng = np.random.default_rng(0)
    write_stack(tmp_path / "in.mrc", rng.random((61, 64, 256), dtype=np.float32))
    (tmp_path / "in.tlt").write_text("".join(f"{a}\n" for a in np.linspace(-60, 60, 61)))
    (tmp_path / "out.mrc").write_bytes(OLDER)
    yield tmp_path
    for pid in still_running(tmp_path):
        with suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGKILL)


def command(folder, ranks, iterations, *options):
    cmd = [str(BIN / "tiltrec-mpi"), "--alg", "sirt", "--iter", str(iterations), "--thickness", "64", "--overwrite",
           *options, str(folder / "in.mrc"), str(folder / "in.tlt"), str(folder / "out.mrc")]
    return [MPIEXEC, "-n", str(ranks), *cmd] if ranks > 1 else cmd


def start_in_phase(folder, ranks, phase):
    """Start a run and return once it is in ``phase`` (every rank, for the stalled phases)."""
    env = dict(os.environ)
    if phase == "compute":
        proc = subprocess.Popen(command(folder, ranks, 100000), stderr=subprocess.PIPE, text=True, env=env)
        wait_until_writing(proc, folder, settle=0.5)
        return proc
    marker = folder.parent / f"{folder.name}.stalled"
    env["TILTREC_STALL"] = f"{phase}:{marker}"
    proc = subprocess.Popen(command(folder, ranks, 1), stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 60
    while not marker.exists() or len(marker.read_text().split()) < ranks:
        assert proc.poll() is None and time.monotonic() < deadline, "the run never reached the stall"
        time.sleep(0.05)
    return proc


def still_running(folder) -> list[str]:
    """Processes whose command line names this test's output."""
    found = subprocess.run(["pgrep", "-f", str(folder / "out.mrc")], capture_output=True, text=True).stdout
    return found.split()


@pytest.mark.parametrize("ranks", [1, pytest.param(2, marks=needs_mpi)], ids=["1-process", "2-ranks"])
@pytest.mark.parametrize("phase", ["read", "compute", "write"])
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_stops_every_process_cleanly(job, ranks, phase, sig):
    proc = start_in_phase(job, ranks, phase)
    proc.send_signal(sig)
    sent = time.monotonic()
    _, err = proc.communicate(timeout=30)
    assert time.monotonic() - sent < 5
    assert proc.returncode == EXIT[sig], err
    assert [line for line in err.splitlines() if "interrupted" in line] == ["tiltrec-mpi: interrupted; no output "
                                                                              "written"], err
    assert (job / "out.mrc").read_bytes() == OLDER
    assert sorted(p.name for p in job.iterdir()) == ["in.mrc", "in.tlt", "out.mrc"]
    assert still_running(job) == []


@needs_mpi
def test_killing_one_rank_ends_the_job_and_the_next_run_sweeps_up(job):
    """SIGKILL to one rank: mpiexec ends every rank within seconds, without a final file; MPICH's kills rank 0
    outright too, so its temporary file stays, and the next run writing that output removes it."""
    (job / "out.mrc").unlink()
    proc = subprocess.Popen(command(job, 2, 100000), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until_writing(proc, job)
    ranks = [int(pid) for pid in still_running(job) if int(pid) != proc.pid]
    assert len(ranks) == 2
    os.kill(max(ranks), signal.SIGKILL)
    killed = time.monotonic()
    assert proc.wait(timeout=30) != 0
    assert time.monotonic() - killed < 5
    assert not (job / "out.mrc").exists() and still_running(job) == []
    stale = leftovers(job)
    done = subprocess.run(command(job, 1, 1, "-q"), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert [line for line in done.stderr.splitlines() if "removed the temporary file" in line] == [
        f"tiltrec-mpi: warning: {job / name}: removed the temporary file of an earlier run that was killed (process "
        f"{name.split('-')[-2]})" for name in stale]
    assert leftovers(job) == [] and read_volume(job / "out.mrc")[0].shape == (64, 64, 256)


def test_only_temporaries_of_dead_processes_on_this_host_are_removed(tmp_path):
    """A temporary file of a live process, or of another host (whose run may be alive on a shared file system),
    stays; one of a finished process goes."""
    views = np.random.default_rng(1).random((5, 4, 16), dtype=np.float32)
    write_stack(tmp_path / "in.mrc", views)
    (tmp_path / "in.tlt").write_text("-20\n-10\n0\n10\n20\n")
    out = tmp_path / "v.mrc"
    finished = subprocess.Popen(["true"])
    finished.wait()
    dead = temporary_name(out, finished.pid)
    alive = temporary_name(out, os.getppid())
    foreign = dead.with_name(dead.name.replace(".tiltrec-", ".tiltrec-otherhost-"))
    other_output = temporary_name(tmp_path / "w.mrc", finished.pid)
    for path in (dead, alive, foreign, other_output):
        path.write_bytes(b"partial")
    result = cli(tmp_path / "in.mrc", tmp_path / "in.tlt", out, "--thickness", 4, "-q")
    assert result.exit_code == 0, result.stderr
    assert one_line(result.stderr) == (f"tiltrec-mpi: warning: {dead}: removed the temporary file of an earlier run "
                                       f"that was killed (process {finished.pid})")
    assert sorted(leftovers(tmp_path)) == sorted(p.name for p in (alive, foreign, other_output))
