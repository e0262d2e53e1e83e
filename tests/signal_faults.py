"""Run a tiltrec command with a signal sent at a moment too short to hit by timing (tests/test_interrupt.py):

    python signal_faults.py FAULT PROGRAM ARGS...     (under mpiexec too: every rank injects it)

FAULT is one of:

- ``callback``: the first forward projection of each process sends it SIGTERM from inside a ctypes callback, as a
  signal that arrives while Numba compiles (llvmlite calls back into Python) is handled there; an exception
  raised in a callback is printed as "Exception ignored" and dropped;
- ``cleanup``: SIGTERM at the first forward projection, and another one as the clean-up of a writer begins;
- ``scancel``: right after rank 0's commit, SIGTERM to every process of the job, the launcher's too, as Slurm's
  ``scancel`` does to a job that has just finished.
"""

import ctypes
import os
import signal
import sys
from pathlib import Path


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if _parent(int(entry.name)) == pid:
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue  # gone meanwhile
    return found


def _terminate_job() -> None:
    """SIGTERM to this process, its siblings, its parent and the parent's parent when under a launcher."""
    pids = [os.getpid()]
    if os.environ.get("PMI_RANK") is not None:
        proxy = os.getppid()
        pids = _children(proxy) + [proxy, _parent(proxy)]
    for pid in pids:
        os.kill(pid, signal.SIGTERM)


def _once(fn):
    done = []

    def call():
        if not done:
            done.append(True)
            fn()

    return call


def _in_callback(fn):
    """Call ``fn`` from C, through a ctypes callback."""
    ctypes.CFUNCTYPE(None)(fn)()


def _wrap(owner, name, before=None, after=None):
    original = getattr(owner, name)

    def wrapper(*args, **kwargs):
        if before:
            before()
        result = original(*args, **kwargs)
        if after:
            after()
        return result

    setattr(owner, name, wrapper)


def _sigterm():
    os.kill(os.getpid(), signal.SIGTERM)


def main() -> None:
    from tiltrec.cli import commands
    from tiltrec.formats.writer import VolumeWriter
    from tiltrec.projectors.cpu import CpuProjector

    fault, program, *args = sys.argv[1:]
    if fault == "callback":
        _wrap(CpuProjector, "forward", before=_once(lambda: _in_callback(_sigterm)))
    elif fault == "cleanup":
        _wrap(CpuProjector, "forward", before=_once(_sigterm))
        _wrap(VolumeWriter, "abort", before=_once(_sigterm))
    elif fault == "scancel":
        _wrap(VolumeWriter, "commit", after=_once(_terminate_job))
    else:
        raise SystemExit(f"unknown fault {fault!r}")
    sys.argv = [program, *args]
    entry = {"tiltrec-mpi": commands.tiltrec_mpi, "tiltrecz-mpi": commands.tiltrecz_mpi}[program]
    sys.exit(entry())


if __name__ == "__main__":
    main()
