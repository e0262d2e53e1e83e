"""Agreeing on failure: every rank stops together, one message says which rank failed and why."""

from __future__ import annotations

import signal
from contextlib import contextmanager

from ..errors import INTERRUPTED, Terminated, TiltrecError
from ..interrupts import complete, deferred, exit_code, interruptible, raise_if_signalled
from .world import World, launcher_gone


class RankFailure(TiltrecError):
    """A failure on some rank, raised on every rank; ``silent`` on all but rank 0, which reports it."""

    def __init__(self, message: str, exit_code: int, silent: bool):
        super().__init__(message)
        self.exit_code = exit_code
        self.silent = silent


def _describe(exc: BaseException) -> tuple[int, str]:
    if isinstance(exc, TiltrecError):
        return exc.exit_code, str(exc)
    if isinstance(exc, KeyboardInterrupt):
        return exit_code(exc), INTERRUPTED
    return 1, f"{type(exc).__name__}: {exc}"


def agree(world: World, failure: BaseException | None) -> None:
    """Collective: raise on every rank if any rank failed (a single process re-raises its own failure)."""
    if world.comm is None:
        if failure is not None:
            raise failure
        return
    reports = world.allgather(None if failure is None else _describe(failure))
    failed = [(rank, report) for rank, report in enumerate(reports) if report is not None]
    if not failed:
        return
    rank, (code, message) = failed[0]
    if len({report for _, report in failed}) > 1 or len(failed) < world.size:
        message = f"rank {rank}: {message}"
    raise RankFailure(message, code, silent=world.rank != 0)


@contextmanager
def collectively(world: World, cleanup=lambda: None):
    """Run the block on every rank; if it fails anywhere, run ``cleanup`` and fail everywhere.

    A signal may stop a rank only inside such a block (tiltrec.interrupts), where the other ranks learn of it;
    one that came before the block, or that a dropped exception left recorded only, stops the rank at its start
    or end.
    """
    failure = None
    try:
        with interruptible():
            raise_if_signalled()
            yield
            raise_if_signalled()
    except (Exception, KeyboardInterrupt) as exc:
        failure = exc
    _settle(world, failure, cleanup)


def _settle(world: World, failure: BaseException | None, cleanup) -> None:
    """Agree on ``failure``; if any rank failed, clean up (not cut short by a further signal) and fail."""
    try:
        agree(world, failure)
    except BaseException:
        with deferred():
            cleanup()
        raise


@contextmanager
def committing(world: World, cleanup=lambda: None):
    """Collective: run the block, which moves the outputs into place (on rank 0), only if no rank has received a
    signal or lost its launcher; else fail everywhere as interrupted, after ``cleanup``.

    From that check on, signals are only recorded: the commit is not cut short, and once it is done the run has
    succeeded, whatever signal comes later (``scancel`` signals every process of a job that may just have
    finished).
    """
    with deferred():
        with collectively(world, cleanup):
            if world.comm is not None and launcher_gone():  # the launcher was killed: nobody waits for the output
                raise Terminated(signal.SIGHUP)
        failure = None
        try:
            yield
        except (Exception, KeyboardInterrupt) as exc:
            failure = exc
        _settle(world, failure, cleanup)
        complete()
