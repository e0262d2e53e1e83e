"""Projection with IMOD's local alignments (tiltrec.local_alignments) on the CPU, as IMOD's tilt back-projects:
every voxel samples the (filtered) views bilinearly at its own position, ``xproj = xf + zz xz``,
``yproj = yf + zz yz`` per column, view and slice (projectors.local_samples); no cosine stretching.  A sample is
taken where ``1 <= xproj <= nx`` and ``1 <= yproj <= ny`` (a ``yproj`` within 3.05 rows beyond the first or last
row is moved onto it) and both rows it reads are among those IMOD holds in memory for the run
(local_alignments.loaded_rows); elsewhere it is 0, the fill value once WBP has subtracted it from the views.  The
forward projection is the exact transpose: each voxel spreads its value over the same pixels with the same
weights, so SIRT, SART and ADMM iterate a matched pair.

The kernels are compiled C (local.c, built with the package as ``tiltrec.projectors._local``).  Each voxel adds its
views in order with IMOD's float32 operations (no FMAs), and each projection pixel takes its voxels in an order
fixed by the slab alone, so the results do not depend on the threads or the vector width."""

from __future__ import annotations

import ctypes

import numpy as np

from . import _local
from .local_samples import LocalSamples

F32 = np.float32
COLUMN_BLOCK = 32  # columns one back-projection task takes (local.c's COLUMN_BLOCK): their samples stay in cache
SLICE_GROUP = 8  # slices a back-projection task sums before adding them to the volume (local.c's SLICE_GROUP)
FORWARD_PARTS = 8  # fixed groups of slices a one-view forward projection is split into (local.c's FORWARD_PARTS)
_LIB = ctypes.CDLL(_local.__file__)
_PTR, _LONG = ctypes.c_void_p, ctypes.c_long
_COMMON = [_PTR] + [_LONG] * 9 + [_PTR] * 5  # views, v0, v1, nviews, nrows, nx, r0, ny, legal0, legal1, factors, zz
_LIB.back_local.argtypes = _COMMON + [_PTR] + [_LONG] * 3 + [_PTR, ctypes.c_int]
_LIB.back_local.restype = None
_LIB.forward_local.argtypes = _COMMON + [_PTR] + [_LONG] * 3 + [_PTR, _PTR, ctypes.c_int]
_LIB.forward_local.restype = None


def _common(c: LocalSamples, views: np.ndarray, r0: int, ny: int) -> tuple:
    """The kernels' first arguments: the views of the pass ``(v1 - v0, nrows, nx)`` and the samples."""
    nviews = c.xf.shape[1]
    _, nrows, nx = views.shape
    if views.shape[0] != c.v1 - c.v0 or views.dtype != F32 or not views.flags.c_contiguous:
        raise ValueError(f"views {views.shape} {views.dtype} for views {c.v0}-{c.v1 - 1}: C-contiguous float32")
    return (views.ctypes.data, c.v0, c.v1, nviews, nrows, nx, r0, ny, c.legal0, c.legal1, c.xf.ctypes.data,
            c.xz.ctypes.data, c.yf.ctypes.data, c.yz.ctypes.data, c.zz.ctypes.data)


def _volume(vol: np.ndarray, c: LocalSamples) -> tuple[int, int, int]:
    thick, width, nslab = vol.shape
    if (c.zz.size, c.xf.shape[2], c.xf.shape[0]) != vol.shape or vol.dtype != F32 or not vol.flags.c_contiguous:
        raise ValueError(f"volume {vol.shape} {vol.dtype} for samples of {(c.zz.size, c.xf.shape[2], c.xf.shape[0])}")
    return thick, width, nslab


def back_local(c: LocalSamples, views: np.ndarray, vol: np.ndarray, r0: int, ny: int, threads: int) -> None:
    """``vol`` ``(thickness, width, nslab)`` += the back-projection of ``views`` (float32 ``(v1 - v0, nrows, nx)``,
    the pass's views' rows from ``r0``; ``ny``: the views' rows)."""
    dims = _volume(vol, c)
    scratch = np.empty((threads, SLICE_GROUP, COLUMN_BLOCK, dims[0]), F32)
    _LIB.back_local(*_common(c, views, r0, ny), vol.ctypes.data, *dims, scratch.ctypes.data, threads)


def forward_local(c: LocalSamples, vol: np.ndarray, views: np.ndarray, r0: int, ny: int, threads: int,
                  columns: np.ndarray) -> None:
    """``views`` (float32 ``(v1 - v0, nrows, nx)``, rows from ``r0``) += the projections of ``vol``; the transpose
    of :func:`back_local`.  ``columns``: float32 scratch of the volume's size (the kernel's copy of it, column by
    column), which a projector keeps from pass to pass."""
    dims = _volume(vol, c)
    if columns.size != vol.size or columns.dtype != F32 or not columns.flags.c_contiguous:
        raise ValueError(f"scratch {columns.shape} {columns.dtype} for a volume of {vol.size} values")
    parts = np.empty((FORWARD_PARTS,) + views.shape[1:], F32) if views.shape[0] == 1 else np.empty(1, F32)
    _LIB.forward_local(*_common(c, views, r0, ny), vol.ctypes.data, *dims, columns.ctypes.data, parts.ctypes.data,
                       threads)
