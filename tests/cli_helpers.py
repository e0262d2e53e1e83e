"""Running the commands as a user would from the shell: in-process, or as console scripts in a subprocess."""

import os
import shutil
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tiltrec.cli.commands import Flavor, make_app

BIN = Path(sys.executable).parent  # the console scripts of this Python (the .venv/bin of bin/test)
MPIEXEC = shutil.which("mpiexec", path=str(BIN)) or shutil.which("mpiexec")
needs_mpi = pytest.mark.skipif(MPIEXEC is None, reason="no mpiexec")
FLAVORS = {
    "tiltrec-mpi": Flavor("tiltrec-mpi", unified=False, backend="cpu"),
    "tiltrecz-mpi": Flavor("tiltrecz-mpi", unified=True, backend="cpu"),
    "tiltrec-cuda": Flavor("tiltrec-cuda", unified=False, backend="cuda"),
    "tiltrecz-cuda": Flavor("tiltrecz-cuda", unified=True, backend="cuda"),
}


def run_command(args, program="tiltrec-mpi"):
    """Run ``program args...``; returns the exit code (0 on success)."""
    try:
        make_app(FLAVORS[program])([str(a) for a in args], prog_name=program, standalone_mode=False)
    except SystemExit as exc:
        return exc.code
    except Exception as exc:  # typer/click's Exit carries exit_code
        code = getattr(exc, "exit_code", None)
        if code is None:
            raise
        return code
    return 0


def cli(*args, prog="tiltrec-mpi"):
    """Run ``prog args...`` in-process; the result has exit_code, stdout and stderr."""
    return CliRunner().invoke(make_app(FLAVORS[prog]), [str(a) for a in args], prog_name=prog,
                              catch_exceptions=False)


def tools_cli(*args):
    """Run ``tiltrec args...`` (the tools command) in-process, as ``cli``."""
    from tiltrec.cli.tools import app

    return CliRunner().invoke(app, [str(a) for a in args], prog_name="tiltrec", catch_exceptions=False)


def one_line(text: str) -> str:
    """The single line of ``text`` (which must end with one newline)."""
    assert text.endswith("\n") and text.count("\n") == 1, repr(text)
    return text[:-1]


def leftovers(folder: Path) -> list[str]:
    """Temporary output files (``.NAME.tiltrec-....tmp``) in ``folder``."""
    return [p.name for p in folder.iterdir() if p.name.startswith(".") and p.name.endswith(".tmp")]


def wait_until_writing(proc, folder, timeout=60.0, settle=1.0):
    """Wait until ``proc`` has created its temporary output in ``folder``, then ``settle`` seconds more."""
    deadline = time.monotonic() + timeout
    while not leftovers(folder):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(settle)


def gpu_usable() -> bool:
    """Whether CuPy is installed and sees a usable CUDA GPU (the -cuda commands then run instead of refusing)."""
    try:
        import cupy

        return bool(cupy.is_available())
    except Exception:  # not installed, or a broken CUDA installation
        return False


@contextmanager
def process_group(command, **popen):
    """``Popen(command)`` in a session of its own; whatever of it is still running at the end is killed (so that
    a failed test leaves no MPI ranks behind)."""
    proc = subprocess.Popen(command, start_new_session=True, **popen)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def run_group(command, timeout=180):
    """Run ``command`` to the end (see process_group); ``(returncode, stderr)``."""
    with process_group(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) as proc:
        _, err = proc.communicate(timeout=timeout)
    return proc.returncode, err


def phantom_series(folder: Path, angles, noise_seed: int) -> Path:
    """``folder/in.mrc`` and ``in.tlt``: the simulated cell (64 x 40 x 24, seed 3) projected at ``angles`` with
    noise (SNR 2, seed ``noise_seed``), 5 A pixels; returns ``folder``."""
    from tiltrec.formats import write_stack
    from tiltrec.simulate.noise import add_noise
    from tiltrec.simulate.phantom import cell_phantom
    from tiltrec.simulate.project import project_volume

    views = add_noise(project_volume(cell_phantom(64, 40, 24, seed=3), angles), snr=2.0, rng=noise_seed)
    write_stack(folder / "in.mrc", views, pixel_size=5.0)
    (folder / "in.tlt").write_text("".join(f"{a}\n" for a in angles))
    return folder


def interrupt_checkpoint_at(monkeypatch, count: int) -> None:
    """Make the ``count``-th checkpoint write raise KeyboardInterrupt (as a signal would), before writing."""
    from tiltrec.strategies.checkpoint import Checkpoint

    write, calls = Checkpoint._write, []

    def interrupted(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == count:
            raise KeyboardInterrupt
        return write(self, *args, **kwargs)

    monkeypatch.setattr(Checkpoint, "_write", interrupted)
