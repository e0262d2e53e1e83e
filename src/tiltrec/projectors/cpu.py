"""CPU backend: the slab projector on Numba kernels."""

from __future__ import annotations

import numba
import numpy as np

from . import cpu_kernels as k
from .base import SlabProjector

Z_BLOCK = 16  # thickness rows a projection task keeps in cache while it loops over the views
FORWARD_TASKS = 16  # forward projections of fewer views split their thickness rows into this many partial sums


def _z_block(nz: int) -> int:
    """Z rows per back-projection task: Z_BLOCK, or fewer so that every thread gets at least two tasks."""
    return max(1, min(Z_BLOCK, nz // (2 * numba.get_num_threads())))


class CpuProjector(SlabProjector):
    """Numba implementation of the slab projector."""

    def __init__(self, geom, y0: int, y1: int):
        super().__init__(geom, y0, y1)
        self._q = None  # the tilted frame's array, allocated on first use

    def zeros_volume(self):
        return k.aligned_zeros(self.vol_shape)

    def zeros_projections(self):
        return k.aligned_zeros(self.proj_shape)

    def weighted_residual(self, measured, projected, weight) -> None:
        k.weighted_residual(_flat(measured), _flat(projected), _flat(weight))

    def add_weighted(self, x, update, weight, positivity: bool) -> None:
        k.add_weighted(_flat(x), _flat(update), _flat(weight), bool(positivity))

    def _frame(self):
        """The tilted frame's array (pitch_frame.py), zeroed; allocated once per projector."""
        if self._q is None:
            self._q = k.aligned_zeros(self.frame.shape)
        else:
            self._q[...] = 0
        return self._q

    def _forward(self, vol, proj, c):
        if self.frame is not None:
            f, q = self.frame, self._frame()
            k.compose_transposed(vol, q, f.k, f.m, f.w, k.COMPOSE_X_BLOCK)
            _forward_flat(q, proj, c)
        elif self.per_view_pitch:
            k.forward_pitched(vol, proj, c.u_row, c.u_dx, c.u_dy, c.r_row, c.r_dy)
        else:
            _forward_flat(vol, proj, c)

    def _back(self, proj, vol, c):
        if self.frame is not None:
            f, q = self.frame, self._frame()
            k.back_flat(proj, q, c.u_row, c.u_dx, _z_block(q.shape[0]))
            k.compose(q, vol, f.k, f.m, f.w, k.COMPOSE_X_BLOCK)
        elif self.per_view_pitch:
            k.back_pitched(proj, vol, c.u_row, c.u_dx, c.u_dy, c.r_row, c.r_dy)
        else:
            k.back_flat(proj, vol, c.u_row, c.u_dx, _z_block(vol.shape[0]))


def _forward_flat(vol, proj, c) -> None:
    """The flat forward projection into ``proj``; with fewer than FORWARD_TASKS views, each view's thickness rows
    are split among partial sums (kernel tasks) that are added afterwards.  The split depends on the views only,
    not on the threads, so results do not change with the number of threads or MPI ranks."""
    nv = proj.shape[0]
    parts = max(1, FORWARD_TASKS // nv)
    if parts == 1:
        k.forward_flat(vol, proj, c.u_row, c.u_dx, Z_BLOCK, 1)
        return
    partial = np.zeros((nv * parts,) + proj.shape[1:], dtype=np.float32)
    k.forward_flat(vol, partial, c.u_row, c.u_dx, Z_BLOCK, parts)
    proj += partial.reshape((nv, parts) + proj.shape[1:]).sum(axis=1)


def _flat(a):
    """A C-contiguous array as a flat view (the element-wise kernels index flat arrays)."""
    if not a.flags.c_contiguous:
        raise ValueError("the element-wise kernels need C-contiguous arrays")
    return a.reshape(-1)
