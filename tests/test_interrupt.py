"""Interrupted and killed runs: SIGINT and SIGTERM while reading, computing and writing, in one process and
under MPI; the other signals that end a process; signals where Python drops exceptions (a ctypes callback, the
clean-up), and after the commit; a rank killed outright, or its launcher; the temporary files that killed runs
leave behind; an input cut short during the run; closed or full standard streams.

An interrupted run must stop within 5 s, exit 128 + the signal's number (130 SIGINT, 143 SIGTERM) with one line
saying so, leave an older file at the output path byte for byte and no temporary file.  Computing is hit by timing
(SIRT with 100000 iterations, the signal sent half a second after the temporary output appears); reading a slab's
rows and writing a slab take milliseconds, so the TILTREC_STALL hook (tiltrec/formats/stall.py) holds every process
there and says so; moments shorter still are reached by tests/signal_faults.py.  Random moments of whole runs:
tests/test_signal_storm.py.
"""

import os
import signal
import subprocess
import sys
import time
from contextlib import suppress
from pathlib import Path

import numpy as np
import pytest

from cli_helpers import (BIN, MPIEXEC, cli, leftovers, needs_mpi, one_line, process_group, run_group,
                         wait_until_writing)
from tiltrec.errors import Terminated
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


# ------------------------------------------------------------------ signals that other code would have swallowed

HARNESS = Path(__file__).parent / "signal_faults.py"


def faulty_command(folder, ranks, fault, iterations=2):
    """``command`` run through tests/signal_faults.py with ``fault`` injected."""
    cmd = command(folder, 1, iterations)
    cmd = [sys.executable, str(HARNESS), fault, Path(cmd[0]).name, *cmd[1:]]
    return [MPIEXEC, "-n", str(ranks), *cmd] if ranks > 1 else cmd


def interrupted_cleanly(job, code, err):
    assert code == 143, err
    assert "Exception ignored" not in err and "Traceback" not in err, err
    assert [line for line in err.splitlines() if "interrupted" in line] == ["tiltrec-mpi: interrupted; no output "
                                                                              "written"], err
    assert (job / "out.mrc").read_bytes() == OLDER
    assert sorted(p.name for p in job.iterdir()) == ["in.mrc", "in.tlt", "out.mrc"]


@pytest.mark.parametrize("ranks", [1, pytest.param(2, marks=needs_mpi)], ids=["1-process", "2-ranks"])
def test_a_signal_handled_inside_a_ctypes_callback_still_stops_the_run(job, ranks):
    """SIGTERM handled while llvmlite calls back into Python (Numba compiling): the exception raised there is
    dropped by ctypes; the run must stop all the same, not finish and replace the older output."""
    code, err = run_group(faulty_command(job, ranks, "callback"), timeout=120)
    interrupted_cleanly(job, code, err)


def test_a_second_signal_during_the_clean_up_does_not_cut_it_short(job):
    """A second SIGTERM as the clean-up begins is only recorded: the temporary file goes, one line is
    printed."""
    code, err = run_group(faulty_command(job, 1, "cleanup"), timeout=120)
    interrupted_cleanly(job, code, err)


def test_two_signals_in_quick_succession_print_one_line(job):
    """Two SIGTERMs 10 ms apart."""
    proc = start_in_phase(job, 1, "read")
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    interrupted_cleanly(job, proc.returncode, err)


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2, signal.SIGALRM],
                         ids=lambda s: s.name)
def test_every_signal_that_would_end_the_process_cleans_up(job, sig):
    """A closed ssh session (SIGHUP), SIGQUIT, the user signals, a timer: handled like SIGTERM, exit
    128 + the signal's number."""
    proc = start_in_phase(job, 1, "read")
    proc.send_signal(sig)
    sent = time.monotonic()
    _, err = proc.communicate(timeout=30)
    assert time.monotonic() - sent < 5
    assert proc.returncode == 128 + sig, err
    assert one_line(err) == "tiltrec-mpi: interrupted; no output written"
    assert (job / "out.mrc").read_bytes() == OLDER
    assert sorted(p.name for p in job.iterdir()) == ["in.mrc", "in.tlt", "out.mrc"]


# ------------------------------------------------------------------ after the commit, and a launcher that is gone

@pytest.mark.parametrize("ranks", [1, pytest.param(2, marks=needs_mpi)], ids=["1-process", "2-ranks"])
def test_a_signal_just_after_the_commit_leaves_a_successful_run(job, ranks):
    """SIGTERM to every process of the job just after the output was moved into place (scancel of a job that has
    just finished): the run succeeded, and says nothing else (no "interrupted", no MPICH "BAD TERMINATION")."""
    with process_group(faulty_command(job, ranks, "scancel"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True) as proc:
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, out + err
    assert "interrupted" not in err and "BAD TERMINATION" not in out + err, out + err
    assert read_volume(job / "out.mrc")[0].shape == (64, 64, 256)
    assert leftovers(job) == []


@needs_mpi
def test_ranks_stop_when_their_launcher_is_killed(job):
    """SIGKILL to hydra_pmi_proxy: mpiexec fails at once; the ranks must not compute on and replace the output."""
    proc = subprocess.Popen(command(job, 2, 100000), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        wait_until_writing(proc, job, settle=0.5)
        ranks = [int(pid) for pid in still_running(job) if int(pid) != proc.pid]
        assert len(ranks) == 2
        proxy = {parent_of(pid) for pid in ranks}
        assert len(proxy) == 1
        os.kill(proxy.pop(), signal.SIGKILL)
        killed = time.monotonic()
        while still_running(job) and time.monotonic() - killed < 10:
            time.sleep(0.05)
        assert still_running(job) == [], "the ranks outlived their launcher"
        assert time.monotonic() - killed < 5
        assert proc.wait(timeout=30) != 0
        assert (job / "out.mrc").read_bytes() == OLDER
        assert leftovers(job) == []
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


# ------------------------------------------------------------------ an input that vanishes, broken standard streams

def test_an_input_stack_truncated_during_the_run_is_one_line(job):
    """The stack cut short while the run reads it (a network file system going away): no SIGBUS, but the
    documented one-line error naming the file and the view, exit 1, nothing left behind."""
    marker = job.parent / f"{job.name}.stalled"
    env = dict(os.environ, TILTREC_STALL=f"read:{marker}")
    proc = subprocess.Popen(command(job, 1, 1), stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert proc.poll() is None and time.monotonic() < deadline, "the run never reached the stall"
        time.sleep(0.05)
    os.truncate(job / "in.mrc", 1024 + 100)
    marker.unlink()  # the run goes on reading
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    line = one_line(err)
    assert line.startswith(f"tiltrec-mpi: error: {job / 'in.mrc'}: cannot read view ") and (
        "the file ended" in line and "truncated" in line), line
    assert (job / "out.mrc").read_bytes() == OLDER and leftovers(job) == []


SHELL_RUN = 'exec "$@" '


@pytest.mark.parametrize("redirect", [">&-", "2>&-", "2>/dev/full"])
def test_a_closed_or_full_standard_stream_does_not_fail_the_run(job, redirect):
    """Stdout closed, stderr closed or on a full disk: the progress bar and the summary are dropped, the run
    succeeds with exit 0 and a complete output."""
    done = subprocess.run(["sh", "-c", SHELL_RUN + redirect, "sh", *command(job, 1, 1)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert read_volume(job / "out.mrc")[0].shape == (64, 64, 256) and leftovers(job) == []
    if redirect == ">&-":
        assert "wrote" in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_standard_input_closed_for_standard_input_is_one_line(job):
    """Standard input closed: ``-StandardInput <&-``."""
    done = subprocess.run(["sh", "-c", SHELL_RUN + "<&-", "sh", str(BIN / "tiltrec-mpi"), "-StandardInput"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert one_line(done.stderr) == ("tiltrec-mpi: error: standard input is closed: give the tilt parameters on it "
                                     "(e.g. < tilt.com) or with --com FILE")


# ------------------------------------------------------------------ the mechanism (tiltrec.interrupts), in-process

def test_the_handler_raises_once_later_signals_are_only_recorded():
    from tiltrec import interrupts

    with interrupts.handled(raising=True):
        with pytest.raises(Terminated) as first:
            signal.raise_signal(signal.SIGTERM)
        signal.raise_signal(signal.SIGUSR1)  # recorded: no exception in whatever clean-up runs now
        with pytest.raises(Terminated) as again:  # a safe point: the first signal still counts
            interrupts.raise_if_signalled()
    assert first.value.exit_code == again.value.exit_code == 143


def test_an_exception_dropped_in_a_destructor_is_raised_again_at_once():
    from tiltrec import interrupts

    class SignalledWhileCollected:
        def __del__(self):
            signal.raise_signal(signal.SIGHUP)  # handled in here: Python prints "Exception ignored" and drops it

    start = time.monotonic()
    with interrupts.handled(raising=True), pytest.raises(Terminated) as raised:
        SignalledWhileCollected()
        time.sleep(5)  # the signal comes again once __del__ has returned, and cuts the wait short
    assert raised.value.exit_code == 129 and time.monotonic() - start < 1


def test_deferred_signals_wait_for_the_next_safe_point_and_none_counts_after_the_commit():
    from tiltrec import interrupts

    with interrupts.handled(raising=True):
        with interrupts.deferred():
            signal.raise_signal(signal.SIGINT)
            interrupts.raise_if_signalled()  # ranks in lockstep, a commit under way: recorded only
        with pytest.raises(KeyboardInterrupt):
            interrupts.raise_if_signalled()
        interrupts.complete()
        signal.raise_signal(signal.SIGTERM)
        interrupts.raise_if_signalled()
