"""CPU backend: the slab projector on the compiled flat kernels (flat.c), the local-alignment kernels (local.c), the
element-wise steps (elementwise.c) and Numba kernels (pitch: loaded only for pitched geometries)."""

from __future__ import annotations

from .. import cpu_threads
from . import elementwise
from . import flat_kernels as flat
from .base import SlabProjector
from .recycled import aligned_empty, aligned_zeros


class CpuProjector(SlabProjector):
    """CPU implementation of the slab projector."""

    def __init__(self, geom, y0: int, y1: int):
        super().__init__(geom, y0, y1)
        self._q = None  # the tilted frame's array, allocated on first use
        self._columns = None  # the local forward projection's copy of the volume, allocated on first use

    def zeros_volume(self):
        return aligned_zeros(self.vol_shape)

    def empty_volume(self):
        return aligned_empty(self.vol_shape)

    def zeros_projections(self):
        return aligned_zeros(self.proj_shape)

    def empty_projections(self):
        return aligned_empty(self.proj_shape)

    def _on_flat_kernels(self) -> bool:
        """Whether the slab's own geometry is the flat kernels' (no local alignments, no X-axis tilt)."""
        return not self.local and self.frame is None and not self.per_view_pitch

    def _rows_alike(self) -> bool:
        # the flat kernels compute every Y lane by the same operations, whatever the number of lanes (flat.c)
        return self._on_flat_kernels() and self.r1 - self.r0 == self.vol_shape[2]

    def weighted_residual(self, measured, projected, weight) -> None:
        elementwise.weighted_residual(_flat(measured), _flat(projected), _flat(weight))

    def add_weighted(self, x, update, weight, positivity: bool) -> None:
        elementwise.add_weighted(_flat(x), _flat(update), _flat(weight), bool(positivity))

    def scale_add(self, x, scale: float, add: float) -> None:
        elementwise.scale_add(_flat(x), scale, add)

    def _frame(self):
        """The tilted frame's array (pitch_frame.py), zeroed; allocated once per projector."""
        if self._q is None:
            self._q = aligned_zeros(self.frame.shape)
        else:
            self._q[...] = 0
        return self._q

    def _forward(self, vol, proj, c):
        if self.local:
            from .local_cpu import forward_local

            if self._columns is None:
                self._columns = aligned_zeros(self.vol_shape)
            forward_local(c, vol, proj, self.r0, self.geom.ny, cpu_threads.threads(), self._columns)
        elif self.frame is not None:
            from . import cpu_kernels as k

            f, q = self.frame, self._frame()
            k.compose_transposed(vol, q, f.k, f.m, f.w, k.COMPOSE_X_BLOCK)
            self._forward_flat(q, proj, c)
        elif self.per_view_pitch:
            from . import cpu_kernels as k

            k.forward_pitched(vol, proj, c.u_row, c.u_dx, c.u_dy, c.r_row, c.r_dy)
        else:
            self._forward_flat(vol, proj, c)

    def _back(self, proj, vol, c):
        if self.local:
            from .local_cpu import back_local

            back_local(c, proj, vol, self.r0, self.geom.ny, cpu_threads.threads())
        elif self.frame is not None:
            from . import cpu_kernels as k

            f, q = self.frame, self._frame()
            self._back_flat(proj, q, c)
            k.compose(q, vol, f.k, f.m, f.w, k.COMPOSE_X_BLOCK)
        elif self.per_view_pitch:
            from . import cpu_kernels as k

            k.back_pitched(proj, vol, c.u_row, c.u_dx, c.u_dy, c.r_row, c.r_dy)
        else:
            self._back_flat(proj, vol, c)

    def _back_flat(self, proj, vol, c) -> None:
        flat.back_flat(proj, vol, c.u_row, c.u_dx, cpu_threads.threads())

    def _back_overwrites(self) -> bool:
        return self._on_flat_kernels()

    def _back_into(self, proj, vol, c) -> None:
        flat.back_flat(proj, vol, c.u_row, c.u_dx, cpu_threads.threads(), overwrite=True)

    def back_scaled(self, proj, scale: float, add: float):
        if not self._back_overwrites():
            return super().back_scaled(proj, scale, add)
        # the kernel's last group of views scales its sums as scale_add would (the same bits): one pass fewer
        # over the volume
        vol = self.empty_volume()
        flat.back_flat(proj, vol, self.coef.u_row, self.coef.u_dx, cpu_threads.threads(), overwrite=True,
                       scale=(scale, add))
        return vol

    def back_add(self, proj, x, weight, positivity: bool, scratch) -> None:
        if not self._back_overwrites():
            return super().back_add(proj, x, weight, positivity, scratch)
        # the kernel's last group of views adds its sums to x as add_weighted would (the same bits), without
        # storing the back-projection and reading it again
        flat.back_flat(proj, scratch, self.coef.u_row, self.coef.u_dx, cpu_threads.threads(), overwrite=True,
                       add_to=x, weight=weight, positivity=positivity)

    def _forward_flat(self, vol, proj, c) -> None:
        flat.forward_flat(vol, proj, c.u_row, c.u_dx, cpu_threads.threads())


def _flat(a):
    """A C-contiguous array as a flat view (the element-wise kernels index flat arrays)."""
    if not a.flags.c_contiguous:
        raise ValueError("the element-wise kernels need C-contiguous arrays")
    return a.reshape(-1)
