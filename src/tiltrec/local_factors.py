"""IMOD ``localProjFactors`` compiled: local_alignments._factors (the NumPy statement of the model) for every column
and slice, with the same float32 operations in the same order, so the numbers are the same bit for bit."""

from __future__ import annotations

import numpy as np
from numba import njit, prange

F32 = np.float32
_JIT = dict(cache=True, nogil=True, fastmath=False, boundscheck=False, error_model="numpy")


@njit(**_JIT)
def _nint(x):
    """Fortran NINT of a float32: nearest, halves away from zero."""
    return int(np.sign(x) * np.floor(np.abs(x) + F32(0.5)))


@njit(**_JIT)
def _area(position, start, spacing, count):
    """The lower area (0-based) along one axis and the fraction towards the next (IMOD ``local_factors``)."""
    t = min(max(position - start, 0), (count - 1) * spacing)
    lower = min(t // spacing, count - 2)
    return lower, F32(t - lower * spacing) / F32(spacing)


@njit(**_JIT)
def _corner(v, k, f, xx, yy, cos_tilt, sin_tilt, cos_alpha, sin_alpha, xzf, yzf, a11, a12, a21, a22, xadd, yadd,
            xcen_in, axis, cen_slice):
    """One area's terms of IMOD's sums: a11 and a12 parts of xf, of xz, the a21 and a22 parts of yf and yz, and the
    weighted translations."""
    sb, sa, ca = sin_tilt[v, k], sin_alpha[v, k], cos_alpha[v, k]
    xpf = ((xx * cos_tilt[v, k] + (yy * sa) * sb) + xcen_in) + axis
    xpz = ca * sb + xzf[v, k]
    ypf = yy * ca + cen_slice
    syz = sa - yzf[v, k]
    fa11, fa12, fa21, fa22 = f * a11[v, k], f * a12[v, k], f * a21[v, k], f * a22[v, k]
    return (fa11 * xpf, fa12 * ypf, fa11 * xpz, fa12 * syz, fa21 * xpf, fa22 * ypf, fa21 * xpz, fa22 * syz,
            f * xadd[v, k], f * yadd[v, k])


@njit(parallel=True, **_JIT)
def column_factors(columns, slices, cos_tilt, sin_tilt, cos_alpha, sin_alpha, xzf, yzf, a11, a12, a21, a22, xadd,
                   yadd, centres, grid, out):
    """``out[0..3, slice, view, column]`` = xf, xz, yf, yz for 1-based ``columns`` and ``slices``; ``centres``:
    xcen_out, xcen_in, axis offset, centre slice; ``grid``: areas in X and Y, start X, Y, spacing X, Y."""
    xcen_out, xcen_in, axis, cen_slice = centres[0], centres[1], centres[2], centres[3]
    nxa, nya, x0, y0, dx, dy = grid[0], grid[1], grid[2], grid[3], grid[4], grid[5]
    one = F32(1.0)
    for si in prange(slices.shape[0]):
        lsl = slices[si]
        yy = F32(lsl) - cen_slice
        iy, fy = _area(lsl, y0, dy, nya)
        for ci in range(columns.shape[0]):
            xj = F32(columns[ci])
            xx = xj - xcen_out
            ix, fx = _area(_nint((xx + xcen_in) + axis), x0, dx, nxa)
            k = iy * nxa + ix
            f1, f2, f3, f4 = (one - fy) * (one - fx), (one - fy) * fx, fy * (one - fx), fy * fx
            for v in range(cos_tilt.shape[0]):
                c1 = _corner(v, k, f1, xx, yy, cos_tilt, sin_tilt, cos_alpha, sin_alpha, xzf, yzf, a11, a12, a21,
                             a22, xadd, yadd, xcen_in, axis, cen_slice)
                c2 = _corner(v, k + 1, f2, xx, yy, cos_tilt, sin_tilt, cos_alpha, sin_alpha, xzf, yzf, a11, a12,
                             a21, a22, xadd, yadd, xcen_in, axis, cen_slice)
                c3 = _corner(v, k + nxa, f3, xx, yy, cos_tilt, sin_tilt, cos_alpha, sin_alpha, xzf, yzf, a11, a12,
                             a21, a22, xadd, yadd, xcen_in, axis, cen_slice)
                c4 = _corner(v, k + nxa + 1, f4, xx, yy, cos_tilt, sin_tilt, cos_alpha, sin_alpha, xzf, yzf, a11,
                             a12, a21, a22, xadd, yadd, xcen_in, axis, cen_slice)
                xadd_all = ((c1[8] + c2[8]) + c3[8]) + c4[8]
                yadd_all = ((c1[9] + c2[9]) + c3[9]) + c4[9]
                out[0, si, v, ci] = ((((((((c1[0] + c2[0]) + c3[0]) + c4[0]) + c1[1]) + c2[1]) + c3[1]) + c4[1])
                                     + xadd_all)
                out[1, si, v, ci] = (((c1[2] + c2[2]) + c3[2]) + c4[2]) - (((c1[3] + c2[3]) + c3[3]) + c4[3])
                out[2, si, v, ci] = ((((((((c1[4] + c2[4]) + c3[4]) + c4[4]) + c1[5]) + c2[5]) + c3[5]) + c4[5])
                                     + yadd_all)
                out[3, si, v, ci] = (((c1[6] + c2[6]) + c3[6]) + c4[6]) - (((c1[7] + c2[7]) + c3[7]) + c4[7])
