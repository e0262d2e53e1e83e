"""IMOD ``tilt``'s reprojection of a tomogram with local alignments (``RecFileToReproject`` with ``LOCALFILE``), as
Numba kernels.

With local alignments a voxel (column ``j``, thickness row ``i``, slice) projects in a view to
``xproj = xf + zz xz``, ``yproj = yf + zz yz`` (``zz`` = the row's height about the centre), with four factors
per column, slice and view (IMOD's localProjFactors: tiltrec.local_point_factors at any point, the compiled
local_alignments.view_factors for the loaded columns and slices, the same numbers).  A reprojection inverts that
map: the ray of output pixel ``(xproj, yproj)`` climbs through the tomogram in Z, and at each height the column
and slice that project onto the pixel are found by Newton steps on the bilinear interpolation of the factors of
the loaded columns and slices (at most five, as tilt's loadedProjectingPoint).  The first sample inside the volume
is followed by "jumps": tilt takes the point found a few pixels higher (``5 cos / max(0.2, |sin|)`` of Z) and
samples the points between linearly, repeating until the top; outside the jumps every sample is found on its own.
Z advances by a per-column step (the local ``delz``, interpolated from the local areas at columns half an area
spacing apart along the slice).

Like tilt, each ray's sum is kept in float64 and the samples in float32 in tilt's order of operations (no fused
multiply-adds), so the sums agree with tilt's to rounding.  Coordinates are tilt's: 1-based loaded columns (``1``
= the first column loaded, up to 100 beyond the reprojected range on each side), thickness rows of the reprojected
range, and slices of the tomogram (``line``: the slice and the output row).  The slices tilt "loads" for a run of
output lines bound where samples may come from; :func:`needed_slices` reproduces its estimate of them.

A kernel flags instead of guessing when it is given too little: ``MISSED_TABLE`` (a Newton step wanted the factors
of a slice beyond the table given), ``MISSED_VOLUME`` (a sample beyond the slices given); the caller then gives it
every slice tilt holds.  ``STALLED`` marks a ray on which tilt would loop for ever (a jump of no whole step).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .. import cpu_threads
from ..local_point_factors import area, factors_at

cpu_threads.give_numba()  # the thread count set before Numba was loaded

F32 = np.float32
_JIT = dict(cache=True, nogil=True, fastmath=False, boundscheck=False, error_model="numpy")
Y_TOLERANCE = F32(3.05)  # a point found this far beyond the loaded slices still counts as inside (tilt's ytol)
JUMP = F32(5.0)  # tilt's xjump: a jump spans about this many pixels of X
MISSED_TABLE, MISSED_VOLUME, STALLED = 1, 2, 4

# lp (float32) and li (int64) parameter vectors of the kernels
XPROJ_OFFSET, YPROJ_OFFSET, XCEN_OUT, YCEN_ADJ, XCEN_IN, AXIS, CENTER_SLICE, FILL, DX_WARP, YCEN_OUT = range(10)
NXLOAD, MIN_XLOAD, THICK, NWARP, WIDTH, MIN_Y, NSLICES, SPACING_X = range(8)


@njit(**_JIT)
def _nint(x):
    """Fortran NINT (halves away from zero), exact for any float32."""
    n = int(np.floor(abs(np.float64(x)) + 0.5))
    return -n if x < F32(0.0) else n


@njit(**_JIT)
def _cell_step(xproj, yproj, xp11, yp11, xp21, yp21, xp12, yp12):
    """One Newton step of tilt's searches: the fractions ``(fx, fy)`` across a cell, from where its corners (the
    point, the next column, the next slice) project, at which the linearised map reaches ``(xproj, yproj)``."""
    xerr, yerr = xproj - xp11, yproj - yp11
    dxpx, dxpy, dypx, dypy = xp21 - xp11, xp12 - xp11, yp21 - yp11, yp12 - yp11
    den = dxpx * dypy - dxpy * dypx
    return (xerr * dypy - yerr * dxpy) / den, (dxpx * yerr - dypx * xerr) / den


@njit(**_JIT)
def _find_point(tables, grid, centres, v, xproj, yproj, zz, xx, yy):
    """tilt's findProjectingPoint: the column ``xx`` and view row ``yy`` whose point at height ``zz`` projects to
    ``(xproj, yproj)`` in view ``v``, from the factors of any column and row (up to five Newton steps)."""
    for _ in range(5):
        ix = int(np.floor(xx))
        iy = int(np.floor(yy))
        xf11, xz11, yf11, yz11 = factors_at(tables, grid, centres, v, ix, iy)
        xf21, xz21, yf21, yz21 = factors_at(tables, grid, centres, v, ix + 1, iy)
        xf12, xz12, yf12, yz12 = factors_at(tables, grid, centres, v, ix, iy + 1)
        fx, fy = _cell_step(xproj, yproj, xf11 + xz11 * zz, yf11 + yz11 * zz, xf21 + xz21 * zz, yf21 + yz21 * zz,
                            xf12 + xz12 * zz, yf12 + yz12 * zz)
        xx = F32(ix) + fx
        yy = F32(iy) + fy
        if F32(-0.1) < fx < F32(1.1) and F32(-0.1) < fy < F32(1.1):
            break
    return xx, yy


@njit(parallel=True, **_JIT)
def needed_slices(tables, grid, centres, views, lp, li, first_line, out):
    """tilt's setNeededSlices for a reprojection with local alignments: ``out[k]`` = the first and last slice
    (1-based) that output line ``first_line + k`` needs, estimated from the bottom and top of the rays of columns
    about half an area spacing apart (``views[v]``: the view's global cos, -sin of the angle and of the X-axis
    tilt and its Z factors, which place the first guesses)."""
    width, thick, nslices, min_y = li[WIDTH], li[THICK], li[NSLICES], li[MIN_Y]
    xproj_offset, yproj_offset, xcen_out = lp[XPROJ_OFFSET], lp[YPROJ_OFFSET], lp[XCEN_OUT]
    xcen_in, axis, cen_slice, ycen_out = lp[XCEN_IN], lp[AXIS], lp[CENTER_SLICE], lp[YCEN_OUT]
    step = F32(li[SPACING_X] // 2)
    nassay = int(max(F32(2.0), F32(width) / step + F32(1.0)))
    dassay = (F32(width) - F32(1.0)) / (F32(nassay) - F32(1.0))
    for k in prange(out.shape[0]):
        line = first_line + k
        low, high = nslices + 1, 0
        for a in range(nassay):
            column = _nint(F32(1.0) + F32(a) * dassay)
            xproj = F32(column) + xproj_offset
            yproj = F32(line) + yproj_offset
            for v in range(views.shape[0]):
                cb, sb, ca, sa, xzf, yzf = views[v, 0], views[v, 1], views[v, 2], views[v, 3], views[v, 4], \
                    views[v, 5]
                for row in (1, thick):
                    zz = F32(row + min_y - 1) - ycen_out
                    yy = (yproj + zz * (sa - yzf) - cen_slice) / ca + cen_slice
                    xx = ((((xproj - (yy * sa) * sb) - zz * (ca * sb + xzf)) - xcen_in) - axis) / cb + xcen_out
                    xx, yy = _find_point(tables, grid, centres, v, xproj, yproj, zz, xx, yy)
                    at = int(max(F32(1.0), yy - yproj_offset))
                    low = min(low, at)
                    high = max(high, min(nslices, at + 1))
        out[k, 0] = max(1, low)
        out[k, 1] = min(nslices, high)


@njit(**_JIT)
def xproj_limits(tables, grid, centres, v, lp, li, load_lo, load_hi):
    """tilt's bounds on ``xproj`` in view ``v`` for a load of slices ``load_lo .. load_hi``: the lowest of the
    first loaded column's bottom and top voxels, the highest of the last one's (rays outside them, widened by 5
    pixels, add the fill value without a search)."""
    nxload, min_x, thick = li[NXLOAD], li[MIN_XLOAD], li[THICK]
    ycen_adj, yproj_offset = lp[YCEN_ADJ], lp[YPROJ_OFFSET]
    bottom, top = F32(1.0) - ycen_adj, F32(thick) - ycen_adj
    low, high = F32(10000000.0), F32(0.0)
    for load in range(load_lo, load_hi + 1):
        lslice = _nint(F32(load) + yproj_offset)
        xf, xz, _, _ = factors_at(tables, grid, centres, v, min_x, lslice)
        low = min(low, xf + bottom * xz, xf + top * xz)
        xf, xz, _, _ = factors_at(tables, grid, centres, v, min_x + nxload - 1, lslice)
        high = max(high, xf + bottom * xz, xf + top * xz)
    return low, high


@njit(**_JIT)
def _warp_delz(tables, grid, centres, area_delz, v, line, lp, li, out):
    """tilt's fillWarpDelz: the Z step along the rays at ``len(out)`` columns evenly spread over the loaded ones, the
    local areas' steps weighted as for the projection factors, from the view row of ``line``."""
    nxa = grid[0]
    one = F32(1.0)
    lslice = _nint(F32(line) + lp[YPROJ_OFFSET])
    iy, fy = area(lslice, grid[3], grid[5], grid[1])
    for i in range(out.shape[0]):
        xx = one + lp[DX_WARP] * F32(i)
        column = _nint(((((xx + F32(li[MIN_XLOAD])) - one) - lp[XCEN_OUT]) + lp[XCEN_IN]) + lp[AXIS])
        ix, fx = area(column, grid[2], grid[4], nxa)
        k = iy * nxa + ix
        out[i] = (one - fy) * (one - fx) * area_delz[v, k] + (one - fy) * fx * area_delz[v, k + 1] \
            + fy * (one - fx) * area_delz[v, k + nxa] + fy * fx * area_delz[v, k + nxa + 1]


@njit(**_JIT)
def _loaded_point(table, t_first, xproj, yproj, zz, nxload, lo, hi, xx, yy):
    """tilt's loadedProjectingPoint: Newton steps (at most five) on the factors of the loaded columns and slices
    ``lo .. hi`` (``table[q, slice - t_first, column - 1]``), the cell clamped into them.  Returns the column and
    slice found and whether the table lacked a slice."""
    for it in range(5):
        ix = int(np.floor(xx))
        iy = int(np.floor(yy))
        outside = ix < 1 or ix >= nxload or iy < lo or iy >= hi
        if outside:
            ix = min(nxload - 1, max(1, ix))
            iy = min(hi - 1, max(lo, iy))
        r = iy - t_first
        if r < 0 or r + 1 >= table.shape[1]:
            return xx, yy, True
        c = ix - 1
        fx, fy = _cell_step(xproj, yproj, table[0, r, c] + table[1, r, c] * zz, table[2, r, c] + table[3, r, c] * zz,
                            table[0, r, c + 1] + table[1, r, c + 1] * zz, table[2, r, c + 1] + table[3, r, c + 1] * zz,
                            table[0, r + 1, c] + table[1, r + 1, c] * zz, table[2, r + 1, c] + table[3, r + 1, c] * zz)
        xx = F32(ix) + fx
        yy = F32(iy) + fy
        if F32(-0.1) < fx < F32(1.1) and F32(-0.1) < fy < F32(1.1):
            break
        if outside and (it > 0 or xx < F32(0.0) or xx > F32(nxload + 1) or yy < F32(lo) - F32(1.0)
                        or yy > F32(hi) + F32(1.0)):
            break
    return xx, yy, False


@njit(**_JIT)
def _sample(total, vol, s, iz, ix, fx, omfx, fy, omfy, fz, omfz):
    """``total`` (float64) plus the trilinear sample between slices ``s, s+1``, rows ``iz, iz+1`` and columns
    ``ix, ix+1`` (0-based), its lower row's part and its upper row's each rounded to float32 and added in turn."""
    d11, d12, d21, d22 = omfx * omfy, omfx * fy, fx * omfy, fx * fy
    low = omfz * (d11 * vol[s, iz, ix] + d12 * vol[s + 1, iz, ix] + d21 * vol[s, iz, ix + 1]
                  + d22 * vol[s + 1, iz, ix + 1])
    high = fz * (d11 * vol[s, iz + 1, ix] + d12 * vol[s + 1, iz + 1, ix] + d21 * vol[s, iz + 1, ix + 1]
                 + d22 * vol[s + 1, iz + 1, ix + 1])
    return (total + np.float64(low)) + np.float64(high)


@njit(**_JIT)
def _ray(vol, vol_first, table, t_first, xproj, yproj, cb, sb, ca, sa, xzf, yzf, lo, hi, xp_low, xp_high, warp,
         lp, li):
    """One output pixel: the sum along its ray (float64) and the flags."""
    nxload, thick, nwarp = li[NXLOAD], li[THICK], li[NWARP]
    ycen_adj, fill, dx_warp = lp[YCEN_ADJ], np.float64(lp[FILL]), lp[DX_WARP]
    one = F32(1.0)
    nvol = vol.shape[0]
    total = 0.0
    flags = 0
    zz = one - ycen_adj
    # the first guess: the global geometry's point at the bottom of the ray, in loaded columns and tomogram slices
    yy = (yproj + zz * (sa - yzf) - lp[CENTER_SLICE]) / ca + lp[CENTER_SLICE]
    xx = ((((xproj - (yy * sa) * sb) - zz * (ca * sb + xzf)) - lp[XCEN_IN]) - lp[AXIS]) / cb + lp[XCEN_OUT] \
        - F32(li[MIN_XLOAD] - 1)
    yy = yy - lp[YPROJ_OFFSET]
    last_done = False
    jumping = True
    zjump = JUMP * cb / max(F32(0.2), abs(sb))
    top = F32(thick + 1) - ycen_adj
    jump_top = (F32(thick) - ycen_adj) - one
    beyond = xproj < xp_low - F32(5.0) or xproj > xp_high + F32(5.0)
    while zz < top and not last_done:
        if beyond:
            total += fill
        else:
            xx, yy, missed = _loaded_point(table, t_first, xproj, yproj, zz, nxload, lo, hi, xx, yy)
            if missed:
                return total, MISSED_TABLE
            if yy < F32(lo) - Y_TOLERANCE or yy > F32(hi) + Y_TOLERANCE or xx < one or xx >= F32(nxload):
                total += fill
            else:
                ix = int(xx)
                fx = xx - F32(ix)
                yy = max(F32(lo), min(F32(hi) - F32(0.01), yy))
                iy = int(yy)
                fy = yy - F32(iy)
                iz = int(max(one, zz + ycen_adj))
                fz = (zz + ycen_adj) - F32(iz)
                omfz = one - fz
                if iz >= thick:  # a fraction of the top row, the last sample of the ray
                    iz = thick - 1
                    fz = omfz
                    omfz = F32(0.0)
                    last_done = True
                s = iy - vol_first
                if s < 0 or s + 1 >= nvol:
                    return total, MISSED_VOLUME
                total = _sample(total, vol, s, iz - 1, ix - 1, fx, one - fx, fy, one - fy, fz, omfz)
                while jumping:  # jumps up the ray, the points between them interpolated
                    x0, y0, z0 = xx, yy, zz
                    delz = warp[int(max(one, min(F32(nwarp), xx / dx_warp))) - 1]
                    njump = int(zjump / delz)
                    if zz + zjump > jump_top:
                        njump = int((jump_top - zz) / delz)
                        jumping = False
                    delx = dely = F32(0.0)
                    if njump > 0:
                        zz = zz + F32(njump) * delz
                        xx = xx + F32(njump) * sb
                        xx, yy, missed = _loaded_point(table, t_first, xproj, yproj, zz, nxload, lo, hi, xx, yy)
                        if missed:
                            return total, MISSED_TABLE
                        if yy < F32(lo) or yy > F32(hi) or xx < one or xx >= F32(nxload):
                            njump = 0
                            xx, yy, zz = x0, y0, z0
                            jumping = False
                        else:
                            delx = (xx - x0) / F32(njump)
                            dely = (yy - y0) / F32(njump)
                    elif jumping:  # tilt would try this jump for ever
                        flags |= STALLED
                        jumping = False
                    for j in range(1, njump + 1):
                        xx = x0 + F32(j) * delx
                        yy = y0 + F32(j) * dely
                        zz = z0 + F32(j) * delz
                        ix = int(xx)
                        fx = xx - F32(ix)
                        iy = min(int(yy), hi - 1)
                        fy = yy - F32(iy)
                        iz = int(zz + ycen_adj)
                        fz = (zz + ycen_adj) - F32(iz)
                        s = iy - vol_first
                        if s < 0 or s + 1 >= nvol:
                            return total, MISSED_VOLUME
                        total = _sample(total, vol, s, iz - 1, ix - 1, fx, one - fx, fy, one - fy, fz, one - fz)
        zz = zz + warp[int(max(one, min(F32(nwarp), xx / dx_warp))) - 1]
        xx = xx + sb
    return total, flags


@njit(parallel=True, **_JIT)
def reproject_view(vol, vol_first, table, t_first, tables, grid, centres, area_delz, v, view, lines, loads,
                   limits, lp, li, out):
    """Reproject output lines ``lines`` (tomogram slices, 1-based) at view ``v`` into ``out[k, x]``.

    ``vol[s, z, x]``: slices ``vol_first ..`` of the tomogram, its reprojected rows and loaded columns, divided as
    tilt divides them; ``table``: the factors of the loaded columns for slices ``t_first ..``
    (local_alignments.view_factors); ``view``: the view's global cos, -sin of the angle and of the X-axis tilt and
    Z factors;
    ``loads[k]``: the slices tilt holds for line ``k``'s run, ``limits[k]``: its :func:`xproj_limits`;
    ``area_delz[v, area]``: each local area's Z step.  Returns the flags of all rays (0: all done)."""
    cb, sb, ca, sa, xzf, yzf = view[0], view[1], view[2], view[3], view[4], view[5]
    width = out.shape[1]
    flags = np.zeros(lines.shape[0], np.int64)
    for k in prange(lines.shape[0]):
        warp = np.empty(li[NWARP], F32)
        _warp_delz(tables, grid, centres, area_delz, v, lines[k], lp, li, warp)
        yproj = F32(lines[k]) + lp[YPROJ_OFFSET]
        for i in range(width):
            xproj = F32(i + 1) + lp[XPROJ_OFFSET]
            total, flag = _ray(vol, vol_first, table, t_first, xproj, yproj, cb, sb, ca, sa, xzf, yzf, loads[k, 0],
                               loads[k, 1], limits[k, 0], limits[k, 1], warp, lp, li)
            out[k, i] = F32(total)
            flags[k] |= flag
    result = 0
    for k in range(lines.shape[0]):
        result |= flags[k]
    return result
