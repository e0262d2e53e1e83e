"""Halo exchange along Y: neighbouring ranks that hold consecutive blocks of slices swap their edge slices.

Under the unified strategy rank ``r`` of a World holds one block of output slices, the blocks in rank order.
Operators that couple neighbouring slices (the total-variation gradient and divergence) need the last slice of
the block before and the first slice of the block after.  Volumes are ``[z, x, y]`` arrays (Y last); the slices
travel through host memory, so NumPy and CuPy arrays alike work with any MPI.
"""

from __future__ import annotations

import numpy as np

from .world import World


def _host(a) -> np.ndarray:
    """A contiguous NumPy copy of ``a`` (a NumPy or CuPy array)."""
    return np.ascontiguousarray(a.get() if hasattr(a, "get") else a, dtype=np.float32)


class Halo:
    """Edge slices of the neighbouring blocks of ``world`` (a single process has no neighbours)."""

    def __init__(self, world: World):
        self.world = world
        self.has_prev = world.comm is not None and world.rank > 0
        self.has_next = world.comm is not None and world.rank < world.size - 1

    def neighbours(self, a, xp):
        """``(last slice of the previous block, first slice of the next block)`` of the array ``a`` (Y last),
        None where there is no such block; arrays of module ``xp``."""
        if not (self.has_prev or self.has_next):
            return None, None
        from mpi4py import MPI

        comm, rank = self.world.comm, self.world.rank
        prev_rank = rank - 1 if self.has_prev else MPI.PROC_NULL
        next_rank = rank + 1 if self.has_next else MPI.PROC_NULL
        from_prev, from_next = np.empty(a.shape[:-1], np.float32), np.empty(a.shape[:-1], np.float32)
        comm.Sendrecv(_host(a[..., -1]), dest=next_rank, recvbuf=from_prev, source=prev_rank)
        comm.Sendrecv(_host(a[..., 0]), dest=prev_rank, recvbuf=from_next, source=next_rank)
        return (xp.asarray(from_prev) if self.has_prev else None,
                xp.asarray(from_next) if self.has_next else None)
