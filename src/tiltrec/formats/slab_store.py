"""Storing a computed slab into a file's block: transpose, type conversion and statistics in one pass, compiled
(slab_store.c)."""

from __future__ import annotations

import ctypes

import numpy as np

from .. import cpu_threads
from ._slab_store import __file__ as _LIBRARY  # (not `from . import`: the package imports this module)

_LIB = ctypes.CDLL(_LIBRARY)
_PTR, _LONG = ctypes.c_void_p, ctypes.c_long
_LIB.store_slab.argtypes = [_PTR, _LONG, _LONG, _LONG, _PTR, _LONG, _LONG, _LONG, ctypes.c_int, ctypes.c_double,
                            ctypes.c_double, _PTR, ctypes.c_int]
_LIB.store_slab.restype = None
_KINDS = {np.dtype(np.float32): 0, np.dtype(np.int16): 1, np.dtype(np.uint8): 2}


def store_slab(dst_zyx: np.ndarray, slab_zxy: np.ndarray) -> tuple[float, float, float, float]:
    """Write ``slab_zxy`` (thickness, width, nys) into ``dst_zyx`` (thickness, nys, width, any strides and any of
    the float32/int16/uint8 dtypes), rounding (halves to even) and clipping for integer types; returns the min, max,
    sum and sum of squares of the stored values, the number of NaN or infinite values in ``slab_zxy`` (counted only
    when there are any), the min and max of ``slab_zxy`` and the number of values clipped
    (formats.writer.VolumeStats)."""
    kind = _KINDS.get(dst_zyx.dtype)
    nz, nx, ny = slab_zxy.shape
    if kind is None or dst_zyx.shape != (nz, ny, nx) or not dst_zyx.flags.writeable:
        raise ValueError(f"store_slab: a writable float32, int16 or uint8 array of {(nz, ny, nx)}, got "
                         f"{dst_zyx.dtype} {dst_zyx.shape}")
    integer = dst_zyx.dtype.kind in "iu"
    limits = np.iinfo(dst_zyx.dtype) if integer else np.finfo(dst_zyx.dtype)
    src = np.ascontiguousarray(slab_zxy, dtype=np.float32)
    stats = np.empty((nz, 8))
    _LIB.store_slab(src.ctypes.data, nz, nx, ny, dst_zyx.ctypes.data, *dst_zyx.strides, kind, float(limits.min),
                    float(limits.max), stats.ctypes.data, cpu_threads.threads())
    nonfinite = 0 if np.isfinite(stats[:, 4]).all() else int(slab_zxy.size - np.count_nonzero(np.isfinite(slab_zxy)))
    return (float(stats[:, 0].min()), float(stats[:, 1].max()), float(stats[:, 2].sum()), float(stats[:, 3].sum()),
            nonfinite, float(stats[:, 5].min()), float(stats[:, 6].max()), int(stats[:, 7].sum()))
