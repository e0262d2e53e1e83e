"""IMOD ``tilt``'s CPU back-projection, reproduced: cosine-stretched lines and, with an X-axis tilt, vertical slices.

IMOD's CPU code interpolates twice.  Each view row is first resampled ("stretched") by ``1/cos(theta)`` at ``factor``
samples per pixel so that it runs in register with the output rows; the back-projection then interpolates the
stretched line linearly.  With a constant X-axis tilt ``a`` it back-projects every input row into an untilted
"vertical slice" (thickness ``int(thickness/cos a + 4.5)``, its Z centre moved by a whole number of pixels per row),
and interpolates each output slice bilinearly from the vertical slices around it, with IMOD's rules at the edges.
The result matches IMOD's CPU output to float precision (tests/test_imod_cpu.py); tiltrec's own projector
interpolates once, which is sharper but differs from IMOD by a few percent of the volume's standard deviation.

Samples outside the data contribute zero here: the caller back-projects ``filtered - fill`` and adds the fill once
per view, which equals IMOD's filling since interpolation weights sum to one.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from .. import cpu_threads
from ..geometry import Geometry
from .recycled import aligned_zeros  # during a run, in recycled memory

cpu_threads.give_numba()  # the thread count set before Numba was loaded

_JIT = dict(cache=True, nogil=True, fastmath=False, boundscheck=False, error_model="numpy")
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
            _back_lines(np.ascontiguousarray(lines[:, :, start:stop]), part, *self._coefficients(base - shifts[start]),
                        scale, count, float(g.nx))
            vert[:, :, start:stop] = part
            start = stop
        return vert


@njit(parallel=True, **_JIT)
def _stretch(P, S, soff, cb, nxs, factor):
    """S[t, k, r]: view t resampled at 1-based positions ``clamp((k + 1)/factor + soff) * cos, 1, nx)``, linearly;
    one guard sample repeats the last."""
    nv, nx, nr = P.shape
    for t in prange(nv):
        n = nxs[t]
        for k in range(n):
            xp = min(max(((k + 1) / factor + soff[t]) * cb[t], 1.0), float(nx))
            i = int(math.floor(xp))
            f = np.float32(xp - i)
            i1 = min(i + 1, nx)
            for r in range(nr):
                S[t, k, r] = (np.float32(1.0) - f) * P[t, i - 1, r] + f * P[t, i1 - 1, r]
        for r in range(nr):
            S[t, n, r] = S[t, n - 1, r]


Z_BLOCK = 16  # thickness rows a task keeps while it loops over the views (one view's lines stay in cache)


@njit(parallel=True, **(_JIT | {"fastmath": True}))
def _back_lines(S, V, a0, da, s0, ds, count, nx):
    """V[z, x, r] += sum over views of the line sample at ``s0[t, z] + x*ds[t]`` (1-based), where the voxel projects
    inside the view (``1 <= a0[t, z] + x*da[t] < nx``)."""
    nv = S.shape[0]
    nz, nw, nr = V.shape
    for zb in prange((nz + Z_BLOCK - 1) // Z_BLOCK):
        for t in range(nv):
            n = count[t]
            for z in range(zb * Z_BLOCK, min(nz, (zb + 1) * Z_BLOCK)):
                for x in range(nw):
                    xproj = a0[t, z] + x * da[t]
                    if xproj < 1.0 or xproj >= nx:
                        continue
                    s = s0[t, z] + x * ds[t]
                    ip = int(math.floor(s))
                    f = np.float32(s - ip)
                    ip = min(max(ip, 1), n)
                    for r in range(nr):
                        lo = S[t, ip - 1, r]
                        V[z, x, r] += lo + f * (S[t, ip, r] - lo)


@njit(**_JIT)
def _fnint(x):
    """Fortran NINT: round half away from zero (also called from Python)."""
    return math.copysign(math.floor(abs(x) + 0.5), x)


@njit(parallel=True, **_JIT)
def _compose(vert, out, y0, r0, ny, thick, thick_bp, cen_slice, zshift, ca, sa, tan_a):
    """Output slices from vertical slices: bilinear in (slice, Z), with IMOD's fall-backs where a neighbour is
    missing (use the slice or row before when the fraction is below 0.02), zero where none applies."""
    _, nw, _ = vert.shape
    nys = out.shape[2]
    vertcen = thick_bp // 2 + 0.5
    for k in prange(nys):
        cenl = y0 + k + 1 - cen_slice
        for j in range(thick):
            cenj = j + 1 - (thick // 2 + 0.5) - zshift
            vsl = cenl * ca - cenj * sa + cen_slice
            vycen = cenl * sa + cenj * ca
            ivsl = int(vsl)
            fx = vsl - ivsl
            exists = np.zeros(5, dtype=np.bool_)
            ivy = np.zeros(5, dtype=np.int64)
            fy = 0.0
            for i in range(1, 5):
                lv = ivsl + i - 2
                exists[i] = 1 <= lv <= ny
                vy = vycen + vertcen - _fnint(tan_a * (lv - cen_slice)) + zshift / ca
                ivy[i] = int(vy)
                if exists[i]:
                    fy = vy - ivy[i]
            ok0 = (_valid(exists, ivy, 2, 2, thick_bp) and _valid(exists, ivy, 2, 3, thick_bp)
                   and _valid(exists, ivy, 3, 2, thick_bp) and _valid(exists, ivy, 3, 3, thick_bp))
            res_a = (not ok0 and fx < 0.02 and _valid(exists, ivy, 2, 1, thick_bp)
                     and _valid(exists, ivy, 3, 1, thick_bp) and _valid(exists, ivy, 2, 2, thick_bp)
                     and _valid(exists, ivy, 3, 2, thick_bp))
            res_b = (not ok0 and not res_a and fy < 0.02 and _valid(exists, ivy, 1, 2, thick_bp)
                     and _valid(exists, ivy, 1, 3, thick_bp) and _valid(exists, ivy, 2, 2, thick_bp)
                     and _valid(exists, ivy, 3, 2, thick_bp) and _valid(exists, ivy, 2, 3, thick_bp))
            if not (ok0 or res_a or res_b):
                for x in range(nw):
                    out[j, x, k] = 0.0
                continue
            s_lo = 1 if res_a else 2
            roff = -1 if res_b else 0
            if res_a:
                fx += 1.0
            if res_b:
                fy += 1.0
            l_lo = min(max(ivsl + s_lo - 2, 1), ny) - 1 - r0
            l_hi = min(max(ivsl + s_lo - 1, 1), ny) - 1 - r0
            a_lo = min(max(ivy[s_lo] + roff, 1), thick_bp) - 1
            a_hi = min(max(ivy[s_lo] + roff + 1, 1), thick_bp) - 1
            b_lo = min(max(ivy[s_lo + 1] + roff, 1), thick_bp) - 1
            b_hi = min(max(ivy[s_lo + 1] + roff + 1, 1), thick_bp) - 1
            w11 = np.float32((1 - fy) * (1 - fx))
            w12 = np.float32((1 - fy) * fx)
            w21 = np.float32(fy * (1 - fx))
            w22 = np.float32(fy * fx)
            for x in range(nw):
                out[j, x, k] = (w11 * vert[a_lo, x, l_lo] + w12 * vert[b_lo, x, l_hi]
                                + w21 * vert[a_hi, x, l_lo] + w22 * vert[b_hi, x, l_hi])


@njit(**_JIT)
def _valid(exists, ivy, k, i, thick_bp):
    """Row offset ``k - 2`` at slice position ``i`` lies inside an existing vertical slice."""
    r = ivy[i] + (k - 2)
    return exists[i] and 1 <= r <= thick_bp
