"""Run a command as a child process and measure it: wall time (start-up included) and its own peak RSS."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

SPAWN = Path(__file__).resolve().with_name("spawn.py")


@dataclass(frozen=True)
class ProcResult:
    argv: list[str]
    wall: float  # seconds from spawn to reaping: interpreter start-up and exit included
    peak_rss: int  # bytes: ru_maxrss of this one process (file-backed pages it touched count too)
    user: float  # CPU seconds
    system: float
    returncode: int
    output: str  # stdout + stderr
    launched: float  # time.time() just before the spawn

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


def run_measured(argv: list[str], env: dict | None = None, check: bool = True,
                 stdin: Path | None = None) -> ProcResult:
    """Run ``argv`` to completion through the spawn.py launcher, which times it and reaps it with wait4 (so
    neither this process's own memory nor earlier children leak into its peak RSS).  ``stdin``: a file the command
    reads as its standard input (like ``< FILE``; else it reads nothing)."""
    with tempfile.TemporaryDirectory(prefix="tiltrec-spawn-") as tmp:
        result_path = Path(tmp) / "result.json"
        log_path = Path(tmp) / "output.log"
        with open(log_path, "w") as log, open(stdin if stdin is not None else os.devnull, "rb") as source:
            launcher = subprocess.run([sys.executable, "-S", str(SPAWN), str(result_path), *argv],
                                      stdin=source, stdout=log, stderr=subprocess.STDOUT, env=env)
        output = log_path.read_text(errors="replace")
        if launcher.returncode != 0 or not result_path.exists():
            raise CommandFailed(f"could not run {shell_line(argv)}:\n{output[-2000:]}")
        r = json.loads(result_path.read_text())
    result = ProcResult(list(argv), r["wall"], r["maxrss_kib"] * 1024, r["utime"], r["stime"], r["returncode"],
                        output, r["launched"])
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
