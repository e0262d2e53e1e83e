"""How every tiltrec command ends: one line on failure, the right exit code, clean-up on signals."""

from __future__ import annotations

import signal
import warnings

import typer

from ..errors import Terminated, TiltrecError

def _raise_terminated(signum, frame):
    raise Terminated()


def _warn_in_one_line(program: str):
    """A ``warnings.showwarning`` that prints ``PROGRAM: warning: message`` without Python's source line."""

    def show(message, *_):
        typer.echo(f"{program}: warning: {message}", err=True)

    return show


def guarded(program: str, action) -> None:
    """Run ``action()``; report failures as ``PROGRAM: error: ...`` and exit with their code."""
    signal.signal(signal.SIGTERM, _raise_terminated)
    with warnings.catch_warnings():
        warnings.showwarning = _warn_in_one_line(program)
        try:
            action()
        except TiltrecError as exc:
            if not getattr(exc, "silent", False):  # under MPI, rank 0 reports for everyone
                typer.echo(f"{program}: error: {exc}", err=True)
            raise typer.Exit(exc.exit_code)
        except KeyboardInterrupt as exc:
            typer.echo(f"{program}: interrupted; no output written", err=True)
            raise typer.Exit(143 if isinstance(exc, Terminated) else 130)
        except MemoryError:
            typer.echo(f"{program}: error: out of memory; lower --memory", err=True)
            raise typer.Exit(1)
