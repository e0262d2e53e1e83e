"""The tilted frame of a slab whose views share one X-axis tilt: projecting with pitch at the cost of no pitch.

With an X-axis tilt ``a`` a voxel at ``(X, Y, Z)`` projects to column ``u(X, Z')`` and row ``r(Y')`` of a view, where
``Y' = Y cos a - Z sin a`` and ``Z' = Y sin a + Z cos a`` (see coefficients.py).  In the tilted frame ``(Z', X, Y')``,
sampled at the slab's projection rows in ``Y'`` and on a unit lattice in ``Z'``, projection has no pitch: the flat
kernels back-project into that frame (``Q[k, x, m]``, row ``m`` of the slab's projections, ``Z' = z_lattice + k``)
without interpolating across rows.  The slab's voxels are then interpolated bilinearly from the frame in
``(Z', Y')`` (``compose``), and the forward projection runs the exact transpose (``compose`` transposed, then the
flat forward kernel), so the pair stays adjoint.  This is how IMOD's CPU code handles an X-axis tilt ("vertical
slices"); the second interpolation smooths slightly, like IMOD's.

The lattice in ``Z'`` is the same for every slab (offsets from the first thickness row's Z), so slabs assemble
exactly.  Views with different X-axis tilts (an X-tilt file) have no common frame: the direct bilinear kernels serve
them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..geometry import Geometry
from .coefficients import SlabCoefficients


@dataclass(frozen=True)
class PitchFrame:
    """The tilted frame of one slab: flat coefficients of the frame's lattice and the bilinear map back to the slab.

    Voxel ``(z, y)`` of the slab lies at lattice position ``kf = (y_first + y) sin a + (z_first + z) cos a - z_first
    - k0`` and slab projection row ``r = r_first + (y_first + y) cos a - (z_first + z) sin a``; it interpolates
    lattice rows ``floor(kf)`` and ``+1`` and projection rows ``floor(r)`` and ``+1``, where ``0 <= r < rows - 1``.
    The CPU kernels read these as tables (``k``, ``m``, ``w``); the CUDA kernels recompute them from the scalars.
    """

    coef: SlabCoefficients  # flat coefficients (u_dy = 0, r_dy = 1) of the lattice rows, per view
    shape: tuple[int, int, int]  # (lattice rows in Z', width, projection rows of the slab)
    y_first: float  # Y of the slab's first slice
    z_first: float  # Z of the first thickness row, the lattice's origin
    sin_a: float
    cos_a: float
    k0: int  # the frame's first lattice row (from the origin)
    r_first: float  # r of Y = Z = 0
    k: np.ndarray  # (thickness, slices) int32: the lattice row below each voxel
    m: np.ndarray  # (thickness, slices) int32: the slab projection row below each voxel (any row where outside)
    w: np.ndarray  # (4, thickness, slices) float32: weights of (k, m), (k, m+1), (k+1, m), (k+1, m+1); 0 outside

    @staticmethod
    def applies(geom: Geometry) -> bool:
        """Whether ``geom`` has an X-axis tilt that all its views share."""
        return geom.has_pitch and float(np.ptp(geom.pitch_radians)) == 0.0

    @classmethod
    def of(cls, geom: Geometry, y0: int, y1: int, r0: int, r1: int) -> "PitchFrame":
        """The frame of output slices ``[y0, y1)`` whose projections are the rows ``[r0, r1)``."""
        alpha = float(geom.pitch_radians[0])
        cos_a, sin_a = math.cos(alpha), math.sin(alpha)
        y_first, z_first = y0 + 1.0 - geom.center_slice, 1.0 - geom.zcen_out
        r_first = geom.center_slice - 1.0 - r0
        z = np.arange(geom.thickness, dtype=np.float64)[:, None] + z_first
        y = np.arange(y1 - y0, dtype=np.float64)[None, :] + y_first
        zp = y * sin_a + z * cos_a - z_first  # Z' from the lattice's origin
        r = r_first + y * cos_a - z * sin_a
        k0 = math.floor(zp.min())
        nq = math.floor(zp.max()) - k0 + 2
        kf = zp - k0
        nrows = r1 - r0
        inside = (r >= 0.0) & (r < nrows - 1)
        k = np.floor(kf).astype(np.int32)
        m = np.clip(np.floor(r), 0, max(0, nrows - 2)).astype(np.int32)  # any row will do where weights are 0
        fk = (kf - k).astype(np.float32)
        fm = np.where(inside, r - m, 0).astype(np.float32)
        w = np.stack([(1 - fk) * (1 - fm), (1 - fk) * fm, fk * (1 - fm), fk * fm]) * inside
        theta = geom.theta
        lattice = z_first + k0 + np.arange(nq, dtype=np.float64)
        u_row = (geom.xcen_in - 1.0 + (1.0 - geom.xcen_out) * np.cos(theta))[:, None] \
            - np.sin(theta)[:, None] * lattice[None, :]
        nv = geom.nviews
        f32 = np.float32
        coef = SlabCoefficients(u_row=np.ascontiguousarray(u_row, dtype=f32), u_dx=np.cos(theta).astype(f32),
                                u_dy=np.zeros(nv, f32), r_row=np.zeros((nv, nq), f32), r_dy=np.ones(nv, f32))
        return cls(coef=coef, shape=(nq, geom.width, nrows), y_first=y_first, z_first=z_first, sin_a=sin_a,
                   cos_a=cos_a, k0=k0, r_first=r_first, k=k, m=m, w=np.ascontiguousarray(w, dtype=np.float32))

