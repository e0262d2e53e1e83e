"""Per-view, per-row projection coefficients of a slab: the geometry reduced to a few affine maps.

For view ``t``, thickness row ``z``, output column ``x`` and slab slice ``y`` (all 0-based, within the slab), the
sample position in the slab's projection rows is::

    u = u_row[t, z] + x * u_dx[t] + y * u_dy[t]      (column of the view, 0-based)
    r = r_row[t, z] + y * r_dy[t]                     (row, 0-based from the slab's first projection row)

Without pitch ``u_dy = 0``, ``r_dy = 1`` and ``r_row = y0 - r0 = 0``.  Every backend (CPU, CUDA) uses these.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..geometry import Geometry


@dataclass(frozen=True)
class SlabCoefficients:
    """Affine sample-position coefficients of one slab (float32 arrays, ready for kernels)."""

    u_row: np.ndarray  # (nviews, thickness)
    u_dx: np.ndarray  # (nviews,)
    u_dy: np.ndarray  # (nviews,)
    r_row: np.ndarray  # (nviews, thickness)
    r_dy: np.ndarray  # (nviews,)

    def subset(self, views: slice) -> "SlabCoefficients":
        """The coefficients of a contiguous range of views."""
        return SlabCoefficients(self.u_row[views], self.u_dx[views], self.u_dy[views], self.r_row[views],
                                self.r_dy[views])

    @classmethod
    def of(cls, geom: Geometry, y0: int, r0: int) -> "SlabCoefficients":
        """Coefficients for the slab whose first output slice is input row ``y0`` and first projection row ``r0``."""
        theta = geom.theta
        alpha = geom.pitch_radians
        cos_t, sin_t = np.cos(theta), np.sin(theta)
        cos_a, sin_a = np.cos(alpha), np.sin(alpha)
        z = np.arange(geom.thickness, dtype=np.float64) + 1.0 - geom.zcen_out
        y_first = y0 + 1.0 - geom.center_slice
        x_first = 1.0 - geom.xcen_out
        # Z' = Y sin a + Z cos a ;  u = xcen_in - 1 + X cos t - Z' sin t
        u_row = (geom.xcen_in - 1.0 + x_first * cos_t - y_first * sin_a * sin_t)[:, None] \
            - (cos_a * sin_t)[:, None] * z[None, :]
        # Y' = Y cos a - Z sin a ;  r = center_slice - 1 + Y' - r0
        r_row = (geom.center_slice - 1.0 + y_first * cos_a - r0)[:, None] - sin_a[:, None] * z[None, :]
        f32 = np.float32
        return cls(
            u_row=np.ascontiguousarray(u_row, dtype=f32),
            u_dx=cos_t.astype(f32),
            u_dy=(-sin_a * sin_t).astype(f32),
            r_row=np.ascontiguousarray(r_row, dtype=f32),
            r_dy=cos_a.astype(f32),
        )
