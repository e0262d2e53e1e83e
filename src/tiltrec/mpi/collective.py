"""Agreeing on failure: every rank stops together, one message says which rank failed and why."""

from __future__ import annotations

from contextlib import contextmanager

from ..errors import INTERRUPTED, Terminated, TiltrecError
from .world import World


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
        return 143 if isinstance(exc, Terminated) else 130, INTERRUPTED
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
    """Run the block on every rank; if it fails anywhere, run ``cleanup`` and fail everywhere."""
    failure = None
    try:
        yield
    except (Exception, KeyboardInterrupt) as exc:
        failure = exc
    try:
        agree(world, failure)
    except BaseException:
        cleanup()
        raise
