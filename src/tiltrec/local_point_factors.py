"""IMOD's ``localProjFactors`` at one column and slice, as a Numba function: the statement of the local model
(tiltrec.local_alignments) in IMOD's float32 operations and order, which the compiled kernel of whole slabs
(local_factors.py, projectors/local_factors.c) is tested against bit for bit, and which a reprojection's searches
evaluate at any point (reprojection.local_rays).

``tables[q, v, area]`` holds, per used view and local area, the model's ``cos_tilt, sin_tilt, cos_alpha,
sin_alpha, xz, yz, a11, a12, a21, a22, xadd, yadd`` (:func:`model_tables`); ``grid``: areas in X and Y, first area
centre in X and Y, spacing in X and Y; ``centres``: xcen_out, xcen_in, axis offset, centre slice.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from . import cpu_threads

cpu_threads.give_numba()  # the thread count set before Numba was loaded

F32 = np.float32
_JIT = dict(cache=True, nogil=True, fastmath=False, boundscheck=False, error_model="numpy")
TABLES = ("cos_tilt", "sin_tilt", "cos_alpha", "sin_alpha", "xz", "yz", "a11", "a12", "a21", "a22", "xadd", "yadd")


def model_tables(m) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(tables, grid, centres)`` of a local_alignments.LocalModel."""
    tables = np.stack([getattr(m, name) for name in TABLES]).astype(F32)
    grid = np.array([m.nx_areas, m.ny_areas, *m.start, *m.spacing], np.int64)
    centres = np.array([m.xcen_out, m.xcen_in, m.axis_offset, m.center_slice], F32)
    return tables, grid, centres


@njit(**_JIT)
def nint32(x):
    """Fortran NINT of a float32 as IMOD's local factors take it (float32 ``floor(|x| + 0.5)``)."""
    n = int(np.floor(abs(x) + F32(0.5)))
    return -n if x < F32(0.0) else n


@njit(**_JIT)
def area(position, start, spacing, count):
    """The lower area (0-based) along one axis and the fraction towards the next, clamped to the outer areas."""
    t = position - start
    if t < 0:
        t = 0
    elif t > (count - 1) * spacing:
        t = (count - 1) * spacing
    low = t // spacing
    if low > count - 2:
        low = count - 2
    return low, F32(t - low * spacing) / F32(spacing)


@njit(**_JIT)
def _corner(tables, v, k, f, xx, yy, xcen_in, axis, cen_slice):
    """One local area's terms of the four factors, weighted by ``f``."""
    ct, sb, ca, sa = tables[0, v, k], tables[1, v, k], tables[2, v, k], tables[3, v, k]
    xpf = ((xx * ct + (yy * sa) * sb) + xcen_in) + axis
    xpz = ca * sb + tables[4, v, k]
    ypf = yy * ca + cen_slice
    syz = sa - tables[5, v, k]
    fa11, fa12, fa21, fa22 = f * tables[6, v, k], f * tables[7, v, k], f * tables[8, v, k], f * tables[9, v, k]
    return (fa11 * xpf, fa12 * ypf, fa11 * xpz, fa12 * syz, fa21 * xpf, fa22 * ypf, fa21 * xpz, fa22 * syz,
            f * tables[10, v, k], f * tables[11, v, k])


@njit(**_JIT)
def factors_at(tables, grid, centres, v, j, lslice):
    """``xf, xz, yf, yz`` of column ``j`` (1-based) and view row ``lslice`` in used view ``v``."""
    one = F32(1.0)
    xcen_out, xcen_in, axis, cen_slice = centres[0], centres[1], centres[2], centres[3]
    nxa = grid[0]
    xx = F32(j) - xcen_out
    yy = F32(lslice) - cen_slice
    ix, fx = area(nint32((xx + xcen_in) + axis), grid[2], grid[4], nxa)
    iy, fy = area(lslice, grid[3], grid[5], grid[1])
    k = iy * nxa + ix
    a = _corner(tables, v, k, (one - fy) * (one - fx), xx, yy, xcen_in, axis, cen_slice)
    b = _corner(tables, v, k + 1, (one - fy) * fx, xx, yy, xcen_in, axis, cen_slice)
    c = _corner(tables, v, k + nxa, fy * (one - fx), xx, yy, xcen_in, axis, cen_slice)
    d = _corner(tables, v, k + nxa + 1, fy * fx, xx, yy, xcen_in, axis, cen_slice)
    # float32 sums strictly left to right: the four areas' X (Y) terms, then their slice terms, then the translations
    xadd = ((a[8] + b[8]) + c[8]) + d[8]
    yadd = ((a[9] + b[9]) + c[9]) + d[9]
    xf = (((((((a[0] + b[0]) + c[0]) + d[0]) + a[1]) + b[1]) + c[1]) + d[1]) + xadd
    xz = (((a[2] + b[2]) + c[2]) + d[2]) - (((a[3] + b[3]) + c[3]) + d[3])
    yf = (((((((a[4] + b[4]) + c[4]) + d[4]) + a[5]) + b[5]) + c[5]) + d[5]) + yadd
    yz = (((a[6] + b[6]) + c[6]) + d[6]) - (((a[7] + b[7]) + c[7]) + d[7])
    return xf, xz, yf, yz


@njit(**_JIT)
def factors_of_points(tables, grid, centres, columns, slices, out):
    """``out[0..3, s, v, c]`` = :func:`factors_at` of ``columns[c]`` and ``slices[s]`` in every view, point by point
    (for checks of the compiled kernel, which computes the same array)."""
    for s in range(slices.shape[0]):
        for v in range(tables.shape[1]):
            for c in range(columns.shape[0]):
                xf, xz, yf, yz = factors_at(tables, grid, centres, v, columns[c], slices[s])
                out[0, s, v, c], out[1, s, v, c], out[2, s, v, c], out[3, s, v, c] = xf, xz, yf, yz
