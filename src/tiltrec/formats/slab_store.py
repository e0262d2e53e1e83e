"""Storing a computed slab into a file's memory map: transpose, type conversion and statistics in one pass."""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(parallel=True, cache=True, nogil=True, boundscheck=False, error_model="numpy")
def _store(dst, src, lo, hi, integer):
    """dst[z, y, x] = clip(round?(src[z, x, y])); per-z min, max, sum and sum of squares of the stored values."""
    nz, nx, ny = src.shape
    stats = np.empty((nz, 4))
    for z in prange(nz):
        mn = np.inf
        mx = -np.inf
        total = 0.0
        squares = 0.0
        for y in range(ny):
            for x in range(nx):
                v = np.float64(src[z, x, y])
                if integer:
                    v = np.rint(v)
                v = min(max(v, lo), hi)
                dst[z, y, x] = v
                mn = min(mn, v)
                mx = max(mx, v)
                total += v
                squares += v * v
        stats[z, 0] = mn
        stats[z, 1] = mx
        stats[z, 2] = total
        stats[z, 3] = squares
    return stats


def store_slab(dst_zyx: np.ndarray, slab_zxy: np.ndarray) -> tuple[float, float, float, float]:
    """Write ``slab_zxy`` (thickness, width, nys) into ``dst_zyx`` (thickness, nys, width, any strides and any of
    the float32/int16/uint8 dtypes), rounding and clipping for integer types; returns the min, max, sum and sum of
    squares of the stored values."""
    kind = dst_zyx.dtype
    integer = kind.kind in "iu"
    limits = np.iinfo(kind) if integer else np.finfo(kind)
    stats = _store(dst_zyx, np.ascontiguousarray(slab_zxy, dtype=np.float32), float(limits.min),
                   float(limits.max), integer)
    return float(stats[:, 0].min()), float(stats[:, 1].max()), float(stats[:, 2].sum()), float(stats[:, 3].sum())
