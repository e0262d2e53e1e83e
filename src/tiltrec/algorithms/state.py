"""How an iterative algorithm keeps its state across an interruption (``--checkpoint``, ``--resume``).

The run gives the algorithm a store with two methods:

- ``restore() -> (iteration, {name: array}) or None``: the state saved by an interrupted run of the same job
  (host NumPy arrays), or None to start afresh;
- ``save(iteration, {name: array})``: offered after every iteration with everything needed to go on exactly as
  if uninterrupted; the store decides whether to write it (``--checkpoint-every``).
"""

from __future__ import annotations


class NoCheckpoint:
    """The store of a run without checkpoints: nothing to restore, nothing saved."""

    def restore(self):
        return None

    def save(self, iteration: int, arrays: dict) -> None:
        pass


NO_CHECKPOINT = NoCheckpoint()


def load_into(xp, target, saved) -> None:
    """Copy a restored host array into the algorithm's array ``target`` (NumPy or CuPy)."""
    target[...] = xp.asarray(saved)
