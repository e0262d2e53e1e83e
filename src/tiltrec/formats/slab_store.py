"""Storing a computed slab into a file's memory map: transpose, type conversion and statistics in one pass."""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(parallel=True, cache=True, nogil=True, boundscheck=False, error_model="numpy")
def _store(dst, src, lo, hi, integer):
    """dst[z, y, x] = clip(round?(src[z, x, y])); per z: min, max, sum and sum of squares of the stored values;
    the sum of the values before clipping (not finite exactly when some value was NaN or infinite: clipping would
    hide them), their min and max, and how many were clipped."""
    nz, nx, ny = src.shape
    stats = np.empty((nz, 8))
    for z in prange(nz):
        mn = np.inf
        mx = -np.inf
        total = 0.0
        squares = 0.0
        raw = 0.0
        raw_mn = np.inf
        raw_mx = -np.inf
        clipped = 0.0
        for y in range(ny):
            for x in range(nx):
                v = np.float64(src[z, x, y])
                raw += v
                raw_mn = min(raw_mn, v)
                raw_mx = max(raw_mx, v)
                if integer:
                    v = np.rint(v)
                if v < lo or v > hi:
                    clipped += 1.0
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
        stats[z, 4] = raw
        stats[z, 5] = raw_mn
        stats[z, 6] = raw_mx
        stats[z, 7] = clipped
    return stats


def store_slab(dst_zyx: np.ndarray, slab_zxy: np.ndarray) -> tuple[float, float, float, float]:
    """Write ``slab_zxy`` (thickness, width, nys) into ``dst_zyx`` (thickness, nys, width, any strides and any of
    the float32/int16/uint8 dtypes), rounding and clipping for integer types; returns the min, max, sum and sum of
    squares of the stored values, the number of NaN or infinite values in ``slab_zxy`` (counted only when there
    are any), the min and max of ``slab_zxy`` and the number of values clipped (formats.writer.VolumeStats)."""
    kind = dst_zyx.dtype
    integer = kind.kind in "iu"
    limits = np.iinfo(kind) if integer else np.finfo(kind)
    stats = _store(dst_zyx, np.ascontiguousarray(slab_zxy, dtype=np.float32), float(limits.min),
                   float(limits.max), integer)
    nonfinite = 0 if np.isfinite(stats[:, 4]).all() else int(slab_zxy.size - np.count_nonzero(np.isfinite(slab_zxy)))
    return (float(stats[:, 0].min()), float(stats[:, 1].max()), float(stats[:, 2].sum()), float(stats[:, 3].sum()),
            nonfinite, float(stats[:, 5].min()), float(stats[:, 6].max()), int(stats[:, 7].sum()))
