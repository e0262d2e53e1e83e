"""The projection operator of one slab of the tomogram, independent of the backend that computes it.

A slab is the output slices ``[y0, y1)`` (input rows, 0-based) with the projection rows ``[r0, r1)`` they need.
Volumes are ``(thickness, width, y1 - y0)`` arrays in ``[z, x, y]`` order; projections live in the operator's own
layout (``pack``/``unpack`` convert from and to ``(nviews, rows, nx)`` views): ``(nviews, nx, rows)`` for the
global geometry, whose kernels run along rows, and the views' own ``(nviews, rows, nx)`` with local alignments,
whose samples wander across rows.  Algorithms only combine these arrays element-wise, so they never see the layout.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from ..geometry import Geometry
from .coefficients import SlabCoefficients
from .local_samples import LocalSamples
from .pitch_frame import PitchFrame


class SlabProjector(ABC):
    """Forward projection ``A`` and back-projection ``A^T`` of one slab."""

    xp = np  # array module of the backend

    def __init__(self, geom: Geometry, y0: int, y1: int):
        self.geom = geom
        self.y0, self.y1 = y0, y1
        self.r0, self.r1 = geom.rows_needed(y0, y1)
        self.vol_shape = (geom.thickness, geom.width, y1 - y0)
        self.local = geom.local is not None  # IMOD's local alignments: every voxel its own position per view
        if self.local:
            self.proj_shape = (geom.nviews, self.r1 - self.r0, geom.nx)
            self.frame, self.per_view_pitch = None, False
            self.coef = LocalSamples.of(geom, y0, y1, self.r0, self.r1 - self.r0)
            return
        self.proj_shape = (geom.nviews, geom.nx, self.r1 - self.r0)
        # one X-axis tilt for all views: flat kernels in the tilted frame; else (per-view tilts) bilinear kernels
        self.frame = PitchFrame.of(geom, y0, y1, self.r0, self.r1) if PitchFrame.applies(geom) else None
        self.per_view_pitch = geom.has_pitch and self.frame is None
        self.coef = self.frame.coef if self.frame else SlabCoefficients.of(geom, y0, self.r0)

    # --- layout ---
    def zeros_volume(self):
        return self.xp.zeros(self.vol_shape, dtype=np.float32)

    def zeros_projections(self):
        return self.xp.zeros(self.proj_shape, dtype=np.float32)

    def empty_projections(self):
        """Projections in the operator layout whose values are not set (for rows written whole: rows_view)."""
        return self.xp.empty(self.proj_shape, dtype=np.float32)

    def pack(self, rows):
        """Projection rows ``(nviews, r1 - r0, nx)`` -> the operator layout."""
        out = self.empty_projections()  # rows_view covers every value
        self.rows_view(out)[...] = rows
        return out

    def rows_view(self, proj):
        """The operator-layout array ``proj`` seen as projection rows ``(nviews, r1 - r0, nx)`` (a view: writing
        rows into it packs them)."""
        return proj if self.local else proj.transpose(0, 2, 1)

    def unpack(self, proj):
        """Operator layout -> projection rows ``(nviews, r1 - r0, nx)``."""
        return self.xp.ascontiguousarray(self.rows_view(proj))

    # --- operators ---
    def forward(self, vol, out=None, views: slice = slice(None)):
        """``A vol``: projections of the slab in ``views`` (into ``out`` if given, which is overwritten).

        With ``views`` a range of views, ``out`` holds just those views.
        """
        if out is None:
            n = len(range(*views.indices(self.geom.nviews)))
            out = self.xp.zeros((n,) + self.proj_shape[1:], dtype=np.float32)
        else:
            out[...] = 0
        self._forward(vol, out, self.coef.subset(views))
        return out

    def back(self, proj, out=None, accumulate: bool = False, views: slice = slice(None)):
        """``A^T proj``: back-projection of ``proj`` (the projections in ``views``), added to ``out`` when
        ``accumulate``."""
        coef = self.coef.subset(views)
        if (out is None or not accumulate) and self._back_overwrites():
            # the kernel writes every voxel: no zeroing pass before it
            out = self.empty_volume() if out is None else out
            self._back_into(proj, out, coef)
            return out
        if out is None:
            out = self.zeros_volume()
        elif not accumulate:
            out[...] = 0
        self._back(proj, out, coef)
        return out

    def back_scaled(self, proj, scale: float, add: float):
        """``A^T proj * scale + add`` as a new volume: ``back`` followed by ``scale_add`` (WBP's output scale)."""
        vol = self.back(proj)
        self.scale_add(vol, scale, add)
        return vol

    def back_add(self, proj, x, weight, positivity: bool, scratch) -> None:
        """``x <- x + weight * A^T proj`` (then ``max(x, 0)`` with ``positivity``), as ``back`` into ``scratch`` (a
        volume, left with unspecified values) followed by ``add_weighted``: SIRT's update."""
        self.back(proj, out=scratch)
        self.add_weighted(x, scratch, weight, positivity)

    # --- the iterative algorithms' weights ---
    def forward_ones(self):
        """``A 1``: the projections of a slab of ones (each ray's length through the slab)."""
        if self._rows_alike():
            one = self.xp.zeros(self.proj_shape[:2] + (1,), dtype=np.float32)
            self._forward(self.xp.ones(self.vol_shape[:2] + (1,), dtype=np.float32), one, self.coef)
            out = self.zeros_projections()
            out[...] = one
            return out
        ones = self.zeros_volume()
        ones[...] = 1.0
        return self.forward(ones)

    def back_ones(self):
        """``A^T 1``: the back-projection of projections of ones (each voxel's weight)."""
        if self._rows_alike():
            one = self.xp.zeros(self.vol_shape[:2] + (1,), dtype=np.float32)
            self._back(self.xp.ones(self.proj_shape[:2] + (1,), dtype=np.float32), one, self.coef)
            out = self.zeros_volume()
            out[...] = one
            return out
        ones = self.zeros_projections()
        ones[...] = 1.0
        return self.back(ones)

    def _rows_alike(self) -> bool:
        """Whether every slice and projection row is computed by the same operations (a flat geometry on a backend
        whose kernels take any number of rows), so that ``A 1`` and ``A^T 1`` are one row's, repeated."""
        return False

    # --- the iterative algorithms' element-wise steps (kernels on the GPU) ---
    def weighted_residual(self, measured, projected, weight) -> None:
        """``projected <- (measured - projected) * weight``, in place."""
        self.xp.subtract(measured, projected, out=projected)
        projected *= weight

    def add_weighted(self, x, update, weight, positivity: bool) -> None:
        """``x <- x + update * weight`` (``update`` may be overwritten), then negative values to 0 with
        ``positivity``."""
        update *= weight
        x += update
        if positivity:
            self.clip_negative(x)

    def scale_add(self, x, scale: float, add: float) -> None:
        """``x <- x * scale + add`` in float32 (the product rounded, then the sum), in place."""
        x *= np.float32(scale)
        x += np.float32(add)

    def clip_negative(self, x) -> None:
        """``x <- max(x, 0)``, in place."""
        self.xp.maximum(x, 0.0, out=x)

    @abstractmethod
    def _forward(self, vol, proj, coef: SlabCoefficients | LocalSamples) -> None:
        """Accumulate ``A vol`` into ``proj``."""

    @abstractmethod
    def _back(self, proj, vol, coef: SlabCoefficients | LocalSamples) -> None:
        """Accumulate ``A^T proj`` into ``vol``."""

    def _back_overwrites(self) -> bool:
        """Whether ``_back_into`` can write ``A^T proj`` over a volume's values (else back() zeroes it first)."""
        return False

    def _back_into(self, proj, vol, coef: SlabCoefficients | LocalSamples) -> None:
        """Write ``A^T proj`` into ``vol`` without reading it (only where ``_back_overwrites()``)."""
        raise NotImplementedError

    def empty_volume(self):
        """A volume slab whose values are not set (for a kernel that writes every voxel)."""
        return self.xp.empty(self.vol_shape, dtype=np.float32)
