"""IMOD ``tilt``'s CPU back-projection, reproduced: cosine-stretched lines and, with an X-axis tilt, vertical slices.

IMOD's CPU code interpolates twice.  Each view row is first resampled ("stretched") by ``1/cos(theta)`` at ``factor``
samples per pixel so that it runs in register with the output rows; the back-projection then interpolates the
stretched line linearly.  With a constant X-axis tilt ``a`` it back-projects every input row into an untilted
"vertical slice" (thickness ``int(thickness/cos a + 4.5)``, its Z centre moved by a whole number of pixels per row),
and interpolates each output slice bilinearly from the vertical slices around it, with IMOD's rules at the edges.
The result matches IMOD's CPU output to float precision (tests/test_imod_cpu.py); tiltrec's own projector
interpolates once, which is sharper but differs from IMOD by a few percent of the volume's standard deviation.
The three kernels (stretching, back-projecting the lines, composing output slices) are compiled
(imod_interp.c) and called through ctypes; their results do not depend on the threads (cpu_threads).

Samples outside the data contribute zero here: the caller back-projects ``filtered - fill`` and adds the fill once
per view, which equals IMOD's filling since interpolation weights sum to one.
"""

from __future__ import annotations

import ctypes
import math

import numpy as np

from .. import cpu_threads
from ..geometry import Geometry
from . import _imod_interp
from .recycled import aligned_zeros  # during a run, in recycled memory

MAX_STRETCH_ANGLE = 80.0  # IMOD stretches only when every tilt angle lies within +-80 degrees


class ImodCpuBackprojector:
    """Back-projection of one slab of ``geom`` the way IMOD's CPU code computes it.

    ``factor`` is IMOD's cosine-stretch sampling factor (``COSINTERP``; 2 by default, 0 = no stretching).
    """

    def __init__(self, geom: Geometry, factor: int = 2):
        self.geom = geom
        self.pitch = float(np.degrees(geom.pitch_radians[0])) if geom.has_pitch else 0.0
        if geom.has_pitch and np.ptp(geom.pitch_radians) > 0:
            raise ValueError("IMOD's vertical slices need one X-axis tilt for all views")
        too_steep = np.any(np.abs(geom.angles) > MAX_STRETCH_ANGLE)
        self.factor = 0 if too_steep else int(factor)
        a = math.radians(self.pitch)
        self.cos_a, self.sin_a = math.cos(a), math.sin(a)
        self.thick_bp = int(geom.thickness / self.cos_a + 4.5) if geom.has_pitch else geom.thickness
        self.ycen_fix = self.thick_bp // 2 + 0.5 + geom.zshift
        theta = geom.theta
        self.cb, self.sb = np.cos(theta), -np.sin(theta)
        self.soff, self.nxs = self._stretch_extent() if self.factor else (None, None)

    # --- layout of the stretched lines ---
    def _row_shift(self, row: float) -> float:
        """Whole-pixel Z shift of the vertical slice of 1-based input row ``row``."""
        return _fnint(math.tan(math.radians(self.pitch)) * (row - self.geom.center_slice)) if self.pitch else 0.0

    def _stretch_extent(self):
        """Per view: the offset and length of the stretched line, from where the volume's corners project."""
        g = self.geom
        if self.pitch:
            c = g.center_slice
            half = 0.5 * g.thickness * abs(self.sin_a)
            lo_row = max(1, int(c + (1 - c) * self.cos_a + g.zshift * self.sin_a - half - 1.0))
            hi_row = min(g.ny, int(c + (g.ny - c) * self.cos_a + g.zshift * self.sin_a + half + 2.0))
            shifts = (self._row_shift(lo_row), self._row_shift(hi_row))
        else:
            shifts = (0.0,)
        soff, nxs = np.empty(g.nviews), np.empty(g.nviews, dtype=np.int64)
        for v in range(g.nviews):
            lo, hi = float(g.nx), 1.0
            for ix in (1, g.width):
                for iz in (1, self.thick_bp):
                    for shift in shifts:
                        xp = (iz - self.ycen_fix + shift) * self.sb[v] + g.xcen_in + (ix - g.xcen_out) * self.cb[v]
                        lo, hi = max(1.0, min(lo, xp)), min(float(g.nx), max(hi, xp))
            soff[v] = lo / self.cb[v] - 1.0 / self.factor
            nxs[v] = int(self.factor * (hi - lo) / self.cb[v] + 2.0)
        return soff, nxs

    # --- the back-projection ---
    def back(self, proj: np.ndarray, y0: int, y1: int, r0: int) -> np.ndarray:
        """Sum over views for output slices [y0, y1) from projections ``(nviews, nx, rows)`` whose first row is
        ``r0`` (with pitch, they must cover ``geom.rows_needed(y0, y1)``); returns a ``(thickness, width, y1 - y0)``
        float32 volume."""
        g = self.geom
        lines, scale, count = self._lines(proj)
        if not g.has_pitch:
            out = aligned_zeros((g.thickness, g.width, y1 - y0))
            _back_lines(lines[:, :, y0 - r0:y1 - r0], out, *self._coefficients(self.ycen_fix),
                        scale, count, float(g.nx))
            return out
        vert = self._vertical_slices(lines, r0, proj.shape[2], scale, count)
        out = np.empty((g.thickness, g.width, y1 - y0), dtype=np.float32)
        _compose(vert, out, y0, r0, g.ny, g.thickness, self.thick_bp, g.center_slice, g.zshift, self.cos_a,
                 self.sin_a, math.tan(math.radians(self.pitch)))
        return out

    def _lines(self, proj):
        """The lines the back-projection interpolates (stretched or not), with the per-view sampling step and
        the number of samples each line holds."""
        g = self.geom
        if not self.factor:
            return proj, self.cb.astype(np.float64), np.full(g.nviews, g.nx, dtype=np.int64)
        lines = aligned_zeros((g.nviews, int(self.nxs.max()) + 1, proj.shape[2]))
        _stretch(proj, lines, self.soff, self.cb, self.nxs, float(self.factor))
        return lines, np.full(g.nviews, float(self.factor)), self.nxs

    def _coefficients(self, zcen: float):
        """Per view and thickness row (Z centre ``zcen``): the 1-based view column of output column 1 (``a0``) and
        its sample position in the line (``s0``)."""
        g = self.geom
        z = np.arange(1, self.thick_bp + 1) - zcen
        zpart = z[None, :] * self.sb[:, None] + g.xcen_in
        x1 = 1.0 - g.xcen_out
        a0 = zpart + x1 * self.cb[:, None]
        if self.factor:
            s0 = self.factor * (zpart / self.cb[:, None] + x1 - self.soff[:, None])
        else:
            s0 = a0
        return np.ascontiguousarray(a0), self.cb.astype(np.float64), np.ascontiguousarray(s0)

    def _vertical_slices(self, lines, r0: int, nrows: int, scale, count):
        """Untilted slices, one per input row, ``(thick_bp, width, nrows)``; rows with the same whole-pixel Z shift
        are back-projected together."""
        g = self.geom
        vert = aligned_zeros((self.thick_bp, g.width, nrows))
        base = self.ycen_fix + (1.0 / self.cos_a - 1.0) * g.zshift
        shifts = np.array([self._row_shift(r0 + i + 1) for i in range(nrows)])
        start = 0
        while start < nrows:
            stop = start + 1
            while stop < nrows and shifts[stop] == shifts[start]:
                stop += 1
            part = np.zeros((self.thick_bp, g.width, stop - start), dtype=np.float32)
            # a compact copy of the group's rows: the kernel reads them faster than every row's share of the lines
            _back_lines(np.ascontiguousarray(lines[:, :, start:stop]), part, *self._coefficients(base - shifts[start]),
                        scale, count, float(g.nx))
            vert[:, :, start:stop] = part
            start = stop
        return vert


Z_BLOCK = 16  # thickness rows a task keeps while it loops over the views (one view's lines stay in cache)

_LIB = ctypes.CDLL(_imod_interp.__file__)
_PTR, _LONG, _INT, _DOUBLE = ctypes.c_void_p, ctypes.c_long, ctypes.c_int, ctypes.c_double
_LIB.stretch.argtypes = [_PTR, _LONG, _LONG, _LONG, _LONG, _LONG, _PTR, _LONG, _LONG, _PTR, _PTR, _PTR, _DOUBLE,
                         _INT]
_LIB.stretch.restype = None
_LIB.back_lines.argtypes = [_PTR, _LONG, _LONG, _LONG, _PTR, _LONG, _LONG, _LONG, _PTR, _PTR, _PTR, _PTR, _PTR,
                            _DOUBLE, _LONG, _INT]
_LIB.back_lines.restype = None
_LIB.compose.argtypes = [_PTR, _LONG, _PTR, _LONG, _LONG, _LONG, _LONG, _LONG, _LONG, _LONG, _DOUBLE, _DOUBLE,
                         _DOUBLE, _DOUBLE, _DOUBLE, _INT, _PTR]
_LIB.compose.restype = None


def _rows_unit(a: np.ndarray, name: str, writeable: bool = False) -> tuple[np.ndarray, int, int]:
    """A float32 3-D array whose last axis has unit stride (``a`` itself when it has one, else a copy), with the
    strides of its first two axes in elements."""
    if a.ndim != 3 or a.dtype != np.float32:
        raise ValueError(f"{name}: a 3-D float32 array, got {a.dtype} {a.shape}")
    if a.strides[2] != 4 or a.strides[0] % 4 or a.strides[1] % 4:
        if writeable:
            raise ValueError(f"{name}: the rows (last axis) must be contiguous")
        a = np.ascontiguousarray(a)
    if writeable and not a.flags.writeable:
        raise ValueError(f"{name}: read-only")
    return a, a.strides[0] // 4, a.strides[1] // 4


def _vector(a, dtype, n: int, name: str) -> np.ndarray:
    a = np.ascontiguousarray(a, dtype=dtype)
    if a.size != n:
        raise ValueError(f"{name}: {n} values, got {a.size}")
    return a


def _stretch(P, S, soff, cb, nxs, factor):
    """S[t, k, r]: view t resampled at 1-based positions ``clamp((k + 1)/factor + soff) * cos, 1, nx)``, linearly;
    one guard sample repeats the last."""
    P, p0, p1 = _rows_unit(P, "stretch input")
    S, s0, s1 = _rows_unit(S, "stretched lines", writeable=True)
    nv, nx, nr = P.shape
    nxs = _vector(nxs, np.int64, nv, "line lengths")
    if S.shape[0] != nv or S.shape[2] != nr or (nv and (nxs.min() < 1 or nxs.max() >= S.shape[1])):
        raise ValueError(f"stretch: lines {S.shape} do not fit {nv} views of {nr} rows, lengths up to "
                         f"{nxs.max() if nv else 0} plus a guard")
    soff = _vector(soff, np.float64, nv, "offsets")
    cb = _vector(cb, np.float64, nv, "cosines")
    _LIB.stretch(P.ctypes.data, p0, p1, nv, nx, nr, S.ctypes.data, s0, s1, soff.ctypes.data, cb.ctypes.data,
                 nxs.ctypes.data, float(factor), cpu_threads.threads())


def _back_lines(S, V, a0, da, s0, ds, count, nx):
    """V[z, x, r] += sum over views of the line sample at ``s0[t, z] + x*ds[t]`` (1-based), where the voxel projects
    inside the view (``1 <= a0[t, z] + x*da[t] < nx``)."""
    S, st0, st1 = _rows_unit(S, "lines")
    if V.dtype != np.float32 or V.ndim != 3 or not V.flags.c_contiguous or not V.flags.writeable:
        raise ValueError(f"back_lines: a writeable C-contiguous float32 volume, got {V.dtype} {V.shape}")
    nv = S.shape[0]
    nz, nw, nr = V.shape
    if S.shape[2] != nr:
        raise ValueError(f"back_lines: lines of {S.shape[2]} rows for a volume of {nr}")
    # every array the kernel reads is held by a name here until it returns (a pointer keeps nothing alive)
    a0, s0 = _vector(a0, np.float64, nv * nz, "a0"), _vector(s0, np.float64, nv * nz, "s0")
    da, ds = _vector(da, np.float64, nv, "da"), _vector(ds, np.float64, nv, "ds")
    count = _vector(count, np.int64, nv, "count")
    _LIB.back_lines(S.ctypes.data, st0, st1, nv, V.ctypes.data, nz, nw, nr, a0.ctypes.data, da.ctypes.data,
                    s0.ctypes.data, ds.ctypes.data, count.ctypes.data, float(nx), Z_BLOCK, cpu_threads.threads())


def _fnint(x):
    """Fortran NINT: round half away from zero."""
    return math.copysign(math.floor(abs(x) + 0.5), x)


def _compose(vert, out, y0, r0, ny, thick, thick_bp, cen_slice, zshift, ca, sa, tan_a, branches=None):
    """Output slices from vertical slices: bilinear in (slice, Z), with IMOD's fall-backs where a neighbour is
    missing (use the slice or row before when the fraction is below 0.02), zero where none applies.

    ``branches``, if given (4 int64), receives how many (slice, Z) lines took each way: all four neighbours, the
    slice before, the row before, none."""
    vert = np.ascontiguousarray(vert, dtype=np.float32)
    if out.dtype != np.float32 or out.ndim != 3 or not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError(f"compose: a writeable C-contiguous float32 output, got {out.dtype} {out.shape}")
    nz, nw, nys = out.shape
    if vert.ndim != 3 or vert.shape[0] != thick_bp or vert.shape[1] != nw or nz != thick:
        raise ValueError(f"compose: vertical slices {vert.shape} and output {out.shape} do not match "
                         f"thickness {thick} ({thick_bp} vertical)")
    if branches is not None and (branches.dtype != np.int64 or branches.size != 4 or not branches.flags.c_contiguous):
        raise ValueError("compose: branches must be 4 contiguous int64")
    _LIB.compose(vert.ctypes.data, vert.shape[2], out.ctypes.data, thick, nw, nys, int(y0), int(r0), int(ny),
                 int(thick_bp), float(cen_slice), float(zshift), float(ca), float(sa), float(tan_a),
                 cpu_threads.threads(), None if branches is None else branches.ctypes.data)
