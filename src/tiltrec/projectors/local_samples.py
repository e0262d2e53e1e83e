"""A slab's sample positions under IMOD's local alignments (tiltrec.local_alignments): what the local kernels take
where the global geometry's kernels take SlabCoefficients.

Every voxel of thickness row ``i``, column ``j`` and slab slice ``s`` samples view ``v`` at
``xproj = xf[s, v, j] + zz[i] xz[s, v, j]``, ``yproj = yf[s, v, j] + zz[i] yz[s, v, j]`` (1-based), reading only view
rows in ``[legal0, legal1)``.  A projector pass covers the views ``[v0, v1)``; its projections hold just those."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..geometry import Geometry


@dataclass(frozen=True)
class LocalSamples:
    """The factors (float32 ``(nslab, nviews, width)``, all views), ``zz``, the legal rows and the views of a pass."""

    xf: np.ndarray
    xz: np.ndarray
    yf: np.ndarray
    yz: np.ndarray
    zz: np.ndarray
    legal0: int
    legal1: int
    v0: int
    v1: int

    def subset(self, views: slice) -> "LocalSamples":
        """The samples of a contiguous range of this pass's views."""
        chosen = range(self.v0, self.v1)[views]
        return replace(self, v0=chosen.start, v1=chosen.stop)

    @classmethod
    def of(cls, geom: Geometry, y0: int, y1: int, r0: int, nrows: int) -> "LocalSamples":
        """The samples of output slices ``[y0, y1)`` (view rows, 0-based) from the ``nrows`` view rows held from
        ``r0`` (local_alignments.slab_samples checks that they are the rows the samples read)."""
        from ..local_alignments import slab_samples, z_offsets

        (xf, xz, yf, yz), legal0, legal1 = slab_samples(geom.local, y0, y1, r0, nrows, geom.slices, geom.ny)
        return cls(xf, xz, yf, yz, np.ascontiguousarray(z_offsets(geom.local)), legal0, legal1, 0, geom.nviews)
