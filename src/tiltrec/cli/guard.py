"""How every tiltrec command ends: one line on failure, the right exit code, clean-up on signals."""

from __future__ import annotations

import signal
import warnings

import typer

from ..errors import INTERRUPTED, Terminated, TiltrecError, os_failure
from ..mpi.world import launcher_rank
from ..progress import end_open_line

SIGNAL_EXITS = (130, 143)  # 128 + SIGINT, 128 + SIGTERM


def _raise_terminated(signum, frame):
    raise Terminated()


def _say(program: str, text: str) -> None:
    """``PROGRAM: text`` on stderr, on a line of its own even when a progress bar was cut short."""
    end_open_line()
    typer.echo(f"{program}: {text}", err=True)


def _warn_in_one_line(program: str):
    """A ``warnings.showwarning`` that prints ``PROGRAM: warning: message`` without Python's source line, once per
    job: under MPI every rank meets the same warnings, and rank 0 prints them."""

    def show(message, *_):
        if launcher_rank() == 0:
            _say(program, f"warning: {message}")

    return show


def guarded(program: str, action) -> None:
    """Run ``action()``; report failures as ``PROGRAM: error: ...`` and exit with their code.

    A signal ends the run as ``PROGRAM: interrupted; no output written`` with exit code 130 (SIGINT) or 143
    (SIGTERM), also when the ranks of an MPI job report it together.
    """
    signal.signal(signal.SIGTERM, _raise_terminated)
    with warnings.catch_warnings():
        warnings.showwarning = _warn_in_one_line(program)
        try:
            action()
        except TiltrecError as exc:
            if not getattr(exc, "silent", False):  # under MPI, rank 0 reports for everyone
                _say(program, str(exc) if exc.exit_code in SIGNAL_EXITS else f"error: {exc}")
            raise typer.Exit(exc.exit_code)
        except KeyboardInterrupt as exc:
            _say(program, INTERRUPTED)
            raise typer.Exit(SIGNAL_EXITS[isinstance(exc, Terminated)])
        except MemoryError:
            _say(program, "error: out of memory; lower --memory")
            raise typer.Exit(1)
        except OSError as exc:  # one that no reader or writer turned into a TiltrecError
            failure = os_failure(exc.filename or "tiltrec", "continue", exc)
            _say(program, f"error: {failure}")
            raise typer.Exit(failure.exit_code)
