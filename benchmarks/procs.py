"""Run a command as a child process and measure it: wall time (start-up included) and its own peak RSS."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ProcResult:
    argv: list[str]
    wall: float  # seconds from fork to reaping, interpreter start-up and exit included
    peak_rss: int  # bytes: ru_maxrss of this one child (file-backed pages it touched count too)
    user: float  # CPU seconds
    system: float
    returncode: int
    output: str  # stdout + stderr

    @property
    def cpu_load(self) -> float:
        """Average busy cores over the run."""
        return (self.user + self.system) / self.wall if self.wall > 0 else 0.0


class CommandFailed(RuntimeError):
    pass


def program(name: str) -> str:
    """Path of a console script of the running environment (the venv's bin first), else from PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if not found:
        raise CommandFailed(f"cannot find {name}; is tiltrec installed in this environment?")
    return found


def run_measured(argv: list[str], env: dict | None = None, check: bool = True) -> ProcResult:
    """Run ``argv`` to completion; the child's rusage comes from wait4, so earlier children do not leak into its
    peak RSS (RUSAGE_CHILDREN would report the maximum over all children so far)."""
    with tempfile.TemporaryFile("w+") as log:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        log.seek(0)
        output = log.read()
    result = ProcResult(argv, wall, usage.ru_maxrss * 1024, usage.ru_utime, usage.ru_stime, proc.returncode,
                        output)
    if check and result.returncode != 0:
        raise CommandFailed(f"{shell_line(argv)} exited with {result.returncode}:\n{output[-2000:]}")
    return result


def shell_line(argv: list[str], short: bool = True) -> str:
    """The command as one would type it; programs and temporary files by their base name when ``short``."""
    if not short:
        return shlex.join(argv)
    parts = []
    for i, a in enumerate(argv):
        p = Path(a)
        if i == 0 or (p.is_absolute() and (p.exists() or p.parent.exists())):
            a = p.name
        parts.append(a)
    return shlex.join(parts)
