"""The compiled projections of IMOD's SIRT (imod_sirt.c, built with the package as ``tiltrec.projectors._imod_sirt``),
for algorithms/imod_sirt.py.

Layouts:

- slices ``x[block, z, j, lane]``, float64: slice ``block * LANES + lane`` (a last block's extra lanes are unused),
  thickness row ``z``, column ``j``; see to_blocks and from_blocks;
- lines (views, filtered views, reprojections): float32 ``(nviews, nrows, n)`` with the columns contiguous; views and
  rows may be strided (the back-projection reads the first ``nx`` columns of each row).

The tables of a run (``Plan``) hold, per view and thickness row, the columns that sample the line and, per view, the
samples of every ray and how many of them fall outside the slice; both follow IMOD's rules as tests/imod_sirt_model.py
does.  Results do not depend on the number of threads.
"""

from __future__ import annotations

import ctypes
import math
from dataclasses import dataclass

import numpy as np

try:
    from . import _imod_sirt
except ImportError as error:  # a checkout used without installing: the C kernels are built by pip
    raise ImportError("tiltrec's compiled IMOD SIRT kernels (tiltrec.projectors._imod_sirt) are not built: "
                      "install tiltrec with pip (from a checkout: bin/test or `pip install -e .`), which compiles "
                      "them") from error

LANES = 16  # slices per block (imod_sirt.c's LANES)
BACK_ROWS = 8  # thickness rows per back-projection pass (imod_sirt.c's BACK_ROWS)
BACK_ROW = np.dtype([("jl", np.int64), ("jr", np.int64), ("x0", np.float64)])  # imod_sirt.c's BackRow
RAY_VIEW = np.dtype([("along_z", np.int64), ("count", np.int64), ("step", np.float64)])  # RayView
RAY_SAMPLE = np.dtype([("start", np.float64), ("fo", np.float64), ("weight", np.float64), ("io", np.int64),
                       ("first", np.int64), ("last", np.int64)])  # RaySample

_LIB = ctypes.CDLL(_imod_sirt.__file__)
_PTR, _LONG, _DOUBLE = ctypes.c_void_p, ctypes.c_long, ctypes.c_double
_LIB.back_plan.argtypes = [_LONG, _PTR, _PTR, _LONG, _LONG, _LONG, _PTR]
_LIB.back_plan.restype = None
_LIB.ray_plan.argtypes = [_LONG, _PTR, _PTR, _LONG, _LONG, _LONG, _PTR, _PTR, _PTR]
_LIB.ray_plan.restype = ctypes.c_int
_LIB.back.argtypes = [_PTR] + [_LONG] * 5 + [_PTR] * 4 + [_LONG, _LONG, _DOUBLE, _PTR, ctypes.c_int]
_LIB.back.restype = None
_LIB.reproject.argtypes = [_PTR] + [_LONG] * 4 + [_PTR, _PTR, _LONG] + [_PTR] * 4 + [ctypes.c_int]
_LIB.reproject.restype = None


@dataclass(frozen=True)
class Plan:
    """The per-angle tables of one run: ``cb``, ``sb`` (IMOD's float32 cosines and minus sines, as float64),
    ``back_rows`` ``(nviews, thick)`` BACK_ROW, ``ray_views`` ``(nviews,)`` RAY_VIEW, ``ray_samples``
    ``(nviews, maxk)`` RAY_SAMPLE and ``fill`` ``(nviews, width)``: the weighted count of each output pixel's samples
    that fall outside the slice."""

    nx: int
    width: int
    thick: int
    cb: np.ndarray
    sb: np.ndarray
    back_rows: np.ndarray
    ray_views: np.ndarray
    ray_samples: np.ndarray
    fill: np.ndarray

    @property
    def nviews(self) -> int:
        return len(self.cb)


def plan(cb: np.ndarray, sb: np.ndarray, nx: int, width: int, thick: int) -> Plan:
    """The tables for lines of ``nx`` samples and slices ``thick`` x ``width``, at the angles whose IMOD cosines and
    minus sines are ``cb``, ``sb``."""
    cb, sb = (np.ascontiguousarray(a, dtype=np.float64) for a in (cb, sb))
    nv = len(cb)
    back_rows = np.zeros((nv, thick), BACK_ROW)
    _LIB.back_plan(nv, cb.ctypes.data, sb.ctypes.data, nx, width, thick, back_rows.ctypes.data)
    # a ray takes at most one sample per unit step along its longer axis through the slice, plus an end
    maxk = 2 + math.ceil(math.hypot(width, thick))
    ray_views = np.zeros(nv, RAY_VIEW)
    ray_samples = np.zeros((nv, maxk), RAY_SAMPLE)
    fill = np.zeros((nv, width))
    if _LIB.ray_plan(nv, cb.ctypes.data, sb.ctypes.data, width, thick, maxk, ray_views.ctypes.data,
                     ray_samples.ctypes.data, fill.ctypes.data):
        raise ValueError(f"a ray takes more than {maxk} samples through a {thick} x {width} slice")
    return Plan(nx, width, thick, cb, sb, back_rows, ray_views, ray_samples, fill)


def blocks(nrows: int, thick: int, width: int) -> np.ndarray:
    """Zeroed slices for ``nrows`` rows, in the kernels' layout."""
    return np.zeros((-(-nrows // LANES), thick, width, LANES))


def to_blocks(x: np.ndarray) -> np.ndarray:
    """Slices ``x[row, z, j]`` in the kernels' layout."""
    nrows, thick, width = x.shape
    padded = np.zeros((-(-nrows // LANES) * LANES, thick, width))
    padded[:nrows] = x
    return np.ascontiguousarray(padded.reshape(-1, LANES, thick, width).transpose(0, 2, 3, 1))


def from_blocks(xb: np.ndarray, nrows: int) -> np.ndarray:
    """The kernels' slices as a new array ``x[z, j, row]``."""
    nb, thick, width, lanes = xb.shape
    out = np.empty((thick, width, nrows))
    for b in range(nb):
        out[:, :, b * lanes:(b + 1) * lanes] = xb[b, :, :, :min(lanes, nrows - b * lanes)]
    return out


def _lines(lines: np.ndarray, nrows: int, n: int) -> tuple[np.ndarray, int, int]:
    """float32 lines ``(nviews, nrows, >= n)`` with contiguous columns, and their view and row strides in floats."""
    if lines.dtype != np.float32 or lines.strides[2] != 4:
        lines = np.ascontiguousarray(lines, dtype=np.float32)
    if lines.shape[1] != nrows or lines.shape[2] < n:
        raise ValueError(f"lines of shape {lines.shape} for {nrows} rows of {n} samples")
    return lines, lines.strides[0] // 4, lines.strides[1] // 4


def back(p: Plan, lines: np.ndarray, fill: np.ndarray, xb: np.ndarray, recscale: float, threads: int) -> None:
    """``xb += `` the back-projection of ``lines`` (float32 ``(nviews, nrows, >= nx)``, every view's line of each
    row) divided by ``recscale`` (negative: subtract); voxels that project outside a line add ``fill[row]``."""
    nrows = len(fill)
    lines, view_stride, row_stride = _lines(lines, nrows, p.nx)
    fill = np.ascontiguousarray(fill, dtype=np.float64)
    _check_blocks(xb, nrows, p)
    scratch = np.empty((threads, p.nviews * p.nx * LANES + BACK_ROWS * p.width * LANES))
    _LIB.back(lines.ctypes.data, p.nviews, nrows, p.nx, view_stride, row_stride, fill.ctypes.data,
              p.back_rows.ctypes.data, p.cb.ctypes.data, xb.ctypes.data, p.thick, p.width, recscale,
              scratch.ctypes.data, threads)


def reproject(p: Plan, xb: np.ndarray, nrows: int, out: np.ndarray, views: np.ndarray | None, threads: int) -> None:
    """``out[v, row, :] = `` float32 of the reprojection of slice ``row`` at view ``v``, samples outside the slice
    taking the slice's mean, minus ``views[v, row, :]`` (none: ``views`` None); ``out`` and ``views``: float32
    C-contiguous ``(nviews, nrows, width)``."""
    _check_blocks(xb, nrows, p)
    for a in (out,) if views is None else (out, views):
        if a.dtype != np.float32 or a.shape != (p.nviews, nrows, p.width) or not a.flags.c_contiguous:
            raise ValueError(f"need float32 C-contiguous ({p.nviews}, {nrows}, {p.width}), got {a.dtype} {a.shape}")
    scratch = np.empty((threads, p.width * LANES))
    _LIB.reproject(xb.ctypes.data, nrows, p.thick, p.width, p.nviews, p.ray_views.ctypes.data,
                   p.ray_samples.ctypes.data, p.ray_samples.shape[1], p.fill.ctypes.data,
                   None if views is None else views.ctypes.data, out.ctypes.data, scratch.ctypes.data, threads)


def _check_blocks(xb: np.ndarray, nrows: int, p: Plan) -> None:
    if xb.dtype != np.float64 or xb.shape != (-(-nrows // LANES), p.thick, p.width, LANES) \
            or not xb.flags.c_contiguous:
        raise ValueError(f"slices must be float64 C-contiguous blocks for {nrows} rows of {p.thick} x {p.width}, "
                         f"got {xb.dtype} {xb.shape}")
