"""IMOD ``localProjFactors`` compiled: local_alignments._factors (the NumPy statement of the model) for every column
and slice, with the same float32 operations in the same order, so the numbers are the same bit for bit
(projectors/local_factors.c, part of the ``tiltrec.projectors._local`` extension)."""

from __future__ import annotations

import ctypes

import numpy as np

from . import cpu_threads
from .projectors import _local

_LIB = ctypes.CDLL(_local.__file__)
_PTR, _LONG = ctypes.c_void_p, ctypes.c_long
# columns, slices, twelve per-area tables, views, areas, centres, grid, out, span, threads
_LIB.local_factors.argtypes = [_PTR, _LONG, _PTR, _LONG] + [_PTR] * 12 + [_LONG, _LONG] + [_PTR] * 4 + [ctypes.c_int]
_LIB.local_factors.restype = None


def column_factors(columns, slices, cos_tilt, sin_tilt, cos_alpha, sin_alpha, xzf, yzf, a11, a12, a21, a22, xadd,
                   yadd, centres, grid, out) -> tuple[float, float]:
    """``out[0..3, slice, view, column]`` = xf, xz, yf, yz for 1-based ``columns`` and ``slices``; per-area tables
    ``[view, area]``; ``centres``: xcen_out, xcen_in, axis offset, centre slice, the bottom and top voxels' ``zz``;
    ``grid``: areas in X and Y, start X, Y, spacing X, Y.  Returns the lowest and highest ``yproj = yf + zz yz`` of
    those two voxels (float32 values, as local_alignments.row_span computes them); ``out`` None: only those."""
    columns, slices, grid = (np.ascontiguousarray(a, dtype=np.int64) for a in (columns, slices, grid))
    tables = [np.ascontiguousarray(t, dtype=np.float32) for t in (cos_tilt, sin_tilt, cos_alpha, sin_alpha, xzf, yzf,
                                                                  a11, a12, a21, a22, xadd, yadd)]
    centres = np.ascontiguousarray(centres, dtype=np.float32)
    nviews, nareas = tables[0].shape
    if out is not None and (out.shape != (4, slices.size, nviews, columns.size) or out.dtype != np.float32
                            or not out.flags.c_contiguous):
        raise ValueError(f"out {out.shape} {out.dtype}: C-contiguous float32 {(4, slices.size, nviews, columns.size)}")
    if centres.shape != (6,):
        raise ValueError(f"centres {centres.shape}: six values")
    span = np.empty(2, np.float32)
    _LIB.local_factors(columns.ctypes.data, columns.size, slices.ctypes.data, slices.size,
                       *(t.ctypes.data for t in tables), nviews, nareas, centres.ctypes.data, grid.ctypes.data,
                       None if out is None else out.ctypes.data, span.ctypes.data, cpu_threads.threads())
    return float(span[0]), float(span[1])
