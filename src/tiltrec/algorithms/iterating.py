"""The iteration loop every resumable algorithm runs (SIRT, SART, ADMM), written once: continue from the state a
checkpoint saved, report each iteration, offer the state to the checkpoint after it.  (CIL's ``Algorithm.run`` is
the pattern: the algorithm gives one step and the arrays that carry it from one iteration to the next.)"""

from __future__ import annotations

from typing import Callable

from .state import NO_CHECKPOINT


def run(iterations: int, step: Callable[[int], None], state: dict, xp, checkpoint=NO_CHECKPOINT, callback=None,
        fresh: Callable[[], None] | None = None) -> None:
    """``step(k)`` for every iteration ``k`` not yet done, up to ``iterations``.

    ``state``: the arrays (of module ``xp``) that carry the algorithm from one iteration to the next, by name: a
    saved state is loaded into them, and they are offered to ``checkpoint.save`` after every iteration.
    ``fresh()``: sets them up when there is no saved state.  ``callback(n)``: ``n`` iterations are done (the saved
    ones at once when continuing).
    """
    start = 0
    saved = checkpoint.restore()
    if saved is None:
        if fresh is not None:
            fresh()
    else:
        start, arrays = saved
        for name, array in state.items():
            arrays.load(xp, name, array)
        if callback:
            callback(start)
    for k in range(start, iterations):
        step(k)
        if callback:
            callback(1)
        checkpoint.save(k + 1, state)
