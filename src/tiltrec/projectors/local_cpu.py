"""Back-projection with IMOD's local alignments (tiltrec.local_alignments), as IMOD's tilt does it on the CPU: every
voxel samples the (filtered) views bilinearly at its own position, ``xproj = xf + zz xz``, ``yproj = yf + zz yz``
per column, view and slice; no cosine stretching.  A sample is taken where ``1 <= xproj <= nx`` and
``1 <= yproj <= ny`` (a ``yproj`` within 3.05 rows beyond the first or last row is moved onto it) and both rows it
reads are among those IMOD holds in memory for the run (local_alignments.loaded_rows); elsewhere it is 0, the
fill value once WBP has subtracted it from the views.

The kernel is compiled C (local.c, built with the package as ``tiltrec.projectors._local``): a column's samples
that need no edge rule are one vectorised run of gathers.  Each voxel adds its views in order with IMOD's float32
operations (no FMAs), so the result does not depend on the threads or the vector width."""

from __future__ import annotations

import ctypes

import numpy as np

from ..local_alignments import LocalModel, slab_samples, z_offsets
from . import _local

F32 = np.float32
COLUMN_BLOCK = 32  # columns one task takes (local.c's COLUMN_BLOCK): their samples in every view stay in cache
_LIB = ctypes.CDLL(_local.__file__)
_PTR, _LONG = ctypes.c_void_p, ctypes.c_long
_LIB.back_local.argtypes = [_PTR] + [_LONG] * 7 + [_PTR] * 6 + [_LONG] * 3 + [_PTR, ctypes.c_int]
_LIB.back_local.restype = None


def back_local(model: LocalModel, rows: np.ndarray, y0: int, y1: int, r0: int, run: tuple[int, int],
               ny: int, threads: int | None = None) -> np.ndarray:
    """Back-project ``rows`` (float32 ``(nviews, nrows, nx)``, the views' rows from ``r0``) into output slices from
    view rows ``[y0, y1)``: ``(thickness, width, y1 - y0)``.  ``run``: the slices of the whole reconstruction,
    which decide the rows IMOD holds; ``ny``: the views' rows."""
    import numba

    (xf, xz, yf, yz), legal0, legal1 = slab_samples(model, y0, y1, r0, rows.shape[1], run, ny)
    g = model.geometry
    rows = np.ascontiguousarray(rows, dtype=F32)
    zz = np.ascontiguousarray(z_offsets(model))
    threads = threads or numba.get_num_threads()
    out = np.zeros((g.thickness, g.width, y1 - y0), F32)
    scratch = np.empty((threads, COLUMN_BLOCK, g.thickness), F32)
    nviews, nrows, nx = rows.shape
    _LIB.back_local(rows.ctypes.data, nviews, nrows, nx, r0, ny, legal0, legal1, xf.ctypes.data, xz.ctypes.data,
                    yf.ctypes.data, yz.ctypes.data, zz.ctypes.data, out.ctypes.data, g.thickness, g.width, y1 - y0,
                    scratch.ctypes.data, threads)
    return out
