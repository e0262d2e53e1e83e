"""How every tiltrec command ends: one line on failure, the right exit code, clean-up on signals."""

from __future__ import annotations

import sys
import warnings

import typer

from ..errors import INTERRUPTED, TiltrecError, os_failure
from ..interrupts import exit_code, handled, raise_if_signalled
from ..mpi.world import launcher_rank, under_launcher
from ..options.spelling import CLI, speaking
from ..progress import end_open_line
from .streams import unfailing_output

SIGNALLED = 128  # exit codes above this one: the run was stopped by a signal (128 + its number)


def _say(program: str, text: str) -> None:
    """``PROGRAM: text`` on stderr, on a line of its own even when a progress bar was cut short."""
    end_open_line()
    print(f"{program}: {text}", file=sys.stderr, flush=True)


def _warn_in_one_line(program: str):
    """A ``warnings.showwarning`` that prints ``PROGRAM: warning: message`` without Python's source line, once per
    job: under MPI every rank meets the same warnings, and rank 0 prints them."""

    def show(message, *_):
        if launcher_rank() == 0:
            _say(program, f"warning: {message}")

    return show


def guarded(program: str, action) -> None:
    """Run ``action()``; report failures as ``PROGRAM: error: ...`` and exit with their code.

    A signal that ends a process by default (tiltrec.interrupts) ends the run as ``PROGRAM: interrupted; no
    output written`` with exit code 128 + its number (130 SIGINT, 143 SIGTERM, 129 SIGHUP, ...), also when the
    ranks of an MPI job report it together: there a signal stops a rank only where all ranks learn of it
    (mpi.collectively), elsewhere it is recorded until then.  Progress, warnings and messages that the standard
    streams cannot take are dropped (cli.streams).
    """
    with unfailing_output(), warnings.catch_warnings(), speaking(CLI):
        warnings.showwarning = _warn_in_one_line(program)
        try:
            with handled(raising=not under_launcher()):
                raise_if_signalled()  # one that came while the command line was read
                action()
        except TiltrecError as exc:
            if not getattr(exc, "silent", False):  # under MPI, rank 0 reports for everyone
                _say(program, str(exc) if exc.exit_code > SIGNALLED else f"error: {exc}")
            raise typer.Exit(exc.exit_code)
        except KeyboardInterrupt as exc:
            _say(program, INTERRUPTED)
            raise typer.Exit(exit_code(exc))
        except MemoryError:
            _say(program, "error: out of memory; lower --memory")
            raise typer.Exit(1)
        except OSError as exc:  # one that no reader or writer turned into a TiltrecError
            failure = os_failure(exc.filename or "tiltrec", "continue", exc)
            _say(program, f"error: {failure}")
            raise typer.Exit(failure.exit_code)
