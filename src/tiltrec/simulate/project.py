"""Tilt series of a known volume, made with tiltrec's own forward projector (IMOD geometry)."""

from __future__ import annotations

import numpy as np

from ..geometry import Geometry
from ..projectors.cpu import CpuProjector

SLAB = 64  # slices projected together when slices are independent (no pitch)


def project_volume(volume_yzx, angles_deg, *, pitch: float = 0.0, offset: float = 0.0) -> np.ndarray:
    """Views ``(nviews, nslices, width)`` of a ``[y, z, x]`` volume: line integrals in voxel units.

    The views are as wide as the volume and have one row per slice; the tilt axis runs through the volume's
    centre, as for a tomogram reconstructed from them with the same angles and thickness.
    """
    vol = np.asarray(volume_yzx, dtype=np.float32)
    ny, thickness, width = vol.shape
    geom = Geometry(nx=width, ny=ny, angles=angles_deg, thickness=thickness, offset=offset, pitch=pitch)
    views = np.zeros((geom.nviews, ny, width), dtype=np.float32)
    step = ny if geom.has_pitch else SLAB
    for y0 in range(0, ny, step):
        y1 = min(ny, y0 + step)
        op = CpuProjector(geom, y0, y1)
        slab = np.ascontiguousarray(vol[y0:y1].transpose(1, 2, 0))
        views[:, op.r0:op.r1] += op.unpack(op.forward(slab))
    return views
