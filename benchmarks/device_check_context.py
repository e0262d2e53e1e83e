"""What the checks of ``benchmarks/device_check.py`` share: the commands of a backend, running them with a time
limit (each in a session of its own, so that the limit ends its children too: mpiexec's ranks), and the outcome
of a check."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.procs import shell_line

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = {  # the command that stands for each role, per backend
    "cuda": {"slab": "tiltrec-cuda", "unified": "tiltrecz-cuda"},
    "cpu": {"slab": "tiltrec-mpi", "unified": "tiltrecz-mpi"},
}
REFERENCE = {"slab": "tiltrec-mpi", "unified": "tiltrecz-mpi"}


class Failed(Exception):
    """The check found something wrong: FAIL, with this one-line reason."""


class Skipped(Exception):
    """The check does not apply here: SKIP, with this one-line reason."""


@dataclass
class Outcome:
    status: str  # PASS, FAIL or SKIP
    line: str
    details: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class Proc:
    """A finished command: exit code (124 when its time limit ended it), output, wall seconds."""

    argv: list[str]
    rc: int
    out: str
    err: str
    wall: float

    @property
    def timed_out(self) -> bool:
        return self.rc == 124

    def error_lines(self) -> list[str]:
        """The lines of stderr that are not progress display (which redraws itself with carriage returns)."""
        return [line for line in self.err.replace("\r", "\n").splitlines() if ": error:" in line or
                ": warning:" in line or line.startswith(("Traceback", "  File"))]

    def tail(self) -> str:
        lines = [line for line in self.err.replace("\r", "\n").splitlines() if line.strip()]
        return lines[-1][:300] if lines else f"exit code {self.rc}"


def _console_script(name: str) -> list[str]:
    """``name`` from this Python's folder (the venv), else from PATH, else started through this Python (an
    installation without its console scripts, e.g. the package on PYTHONPATH)."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return [str(beside)]
    found = shutil.which(name)
    if found:
        return [found]
    entry = {"tiltrec": "tools:main", "tiltrec-mpi": "commands:tiltrec_mpi", "tiltrecz-mpi": "commands:tiltrecz_mpi",
             "tiltrec-cuda": "commands:tiltrec_cuda", "tiltrecz-cuda": "commands:tiltrecz_cuda"}[name]
    module, function = entry.split(":")
    return [sys.executable, "-c", f"import sys; sys.argv[0] = {name!r}; from tiltrec.cli.{module} import "
                                  f"{function}; sys.exit({function}())"]


class Context:
    """What a check needs: the backend's commands, a temporary folder, a deadline, and a log of what it ran."""

    def __init__(self, backend: str, tmp: Path, data: Path, quick: bool):
        self.backend, self.tmp, self.data, self.quick = backend, tmp, data, quick
        self.deadline = float("inf")
        self.details: list[str] = []
        self.cache: dict = {}  # inputs made once for all checks

    @property
    def on_gpu(self) -> bool:
        return self.backend == "cuda"

    def name(self, role: str) -> str:
        """The command for ``role`` (slab, unified) on this backend."""
        return COMMANDS[self.backend][role]

    def command(self, name: str) -> list[str]:
        return _console_script(name)

    def device(self, role: str) -> list[str]:
        return self.command(self.name(role))

    def reference(self, role: str) -> list[str]:
        return self.command(REFERENCE[role])

    def mpiexec(self) -> str | None:
        return shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which("mpiexec")

    def env(self, **extra: str) -> dict:
        """The environment of the commands: this checkout importable (``python -m benchmarks...``)."""
        path = os.environ.get("PYTHONPATH")
        return dict(os.environ, PYTHONPATH=str(ROOT) + (os.pathsep + path if path else ""), **extra)

    def remaining(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise Failed("its time limit ran out")
        return left

    def note(self, text: str) -> None:
        self.details.append(text)

    def start(self, argv: list[str], env: dict | None = None, **popen) -> subprocess.Popen:
        """Start ``argv`` in a session of its own (so that a time limit ends it and any children: mpiexec's)."""
        self.note(f"`$ {shell_line([str(a) for a in argv])}`")
        return subprocess.Popen([str(a) for a in argv], start_new_session=True, env=env or self.env(),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)

    def finish(self, proc: subprocess.Popen, argv: list[str], started: float, timeout: float | None = None) -> Proc:
        limit = min(self.remaining(), timeout or float("inf"))
        try:
            out, err = proc.communicate(timeout=limit)
            rc = proc.returncode
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            rc = 124
        done = Proc([str(a) for a in argv], rc, out, err, time.monotonic() - started)
        if done.timed_out:
            self.note(f"  stopped after {limit:.0f} s (time limit)")
        return done

    def run(self, argv: list, env: dict | None = None, timeout: float | None = None, check: bool = True,
            preexec_fn=None) -> Proc:
        """Run ``argv`` to the end (or its time limit); with ``check`` a failure is the check's FAIL."""
        started = time.monotonic()
        proc = self.start(argv, env, preexec_fn=preexec_fn)
        done = self.finish(proc, argv, started, timeout)
        if check and done.rc != 0:
            what = "ran out of time" if done.timed_out else f"exited with {done.rc}: {done.tail()}"
            raise Failed(f"`{shell_line(done.argv)}` {what}")
        return done


@dataclass(frozen=True)
class Check:
    name: str
    issue_item: str  # the letter of the item of issue 20 it answers
    limit: float  # seconds
    fn: object  # Context -> str (the PASS line); raises Failed or Skipped


def run_check(check: Check, ctx: Context, budget_end: float) -> Outcome:
    """Run one check, to its own time limit or to ``budget_end``, whichever comes first; one that would have
    less than 20 seconds is skipped."""
    ctx.details = []
    started = time.monotonic()
    if started + min(check.limit, 20) > budget_end:
        return Outcome("SKIP", "the run's time budget is spent")
    ctx.deadline = min(started + check.limit, budget_end)
    try:
        outcome = Outcome("PASS", check.fn(ctx))
    except Skipped as exc:
        outcome = Outcome("SKIP", str(exc))
    except Failed as exc:
        outcome = Outcome("FAIL", str(exc))
    except Exception as exc:  # a bug of the check or an unexpected state: report it, go on with the others
        text = str(exc).strip().splitlines()
        outcome = Outcome("FAIL", f"{type(exc).__name__}: {text[0] if text else ''} (a fault of the check?)")
    outcome.details, outcome.seconds = ctx.details, time.monotonic() - started
    return outcome
