"""How an iterative algorithm keeps its state across an interruption (``--checkpoint``, ``--resume``).

The run gives the algorithm a store with two methods:

- ``restore() -> (iteration, saved) or None``: the state saved by an interrupted run of the same job, or None to
  start afresh; ``saved.load(xp, name, array)`` copies its array ``name`` into the algorithm's ``array`` (NumPy or
  CuPy), refusing one of another shape or with values that are not finite;
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
