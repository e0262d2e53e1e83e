"""IMOD ``tilt``'s reprojection of a tomogram (``RecFileToReproject``), as a Numba kernel.

Each output pixel is a sum of samples taken one pixel apart along its ray through the tomogram; each sample
interpolates the tomogram linearly in X and Z (and between slices when the rays leave the slice: an X-axis tilt).
Samples that fall outside the tomogram add the fill value.  Like tilt, a ray is stepped in Z (one sample per
``delz`` of Z, which is one pixel of path) while ``|sin| x thickness <= |cos| x width``, and in X otherwise; where
a ray enters and leaves the volume, the end rows and columns are weighted as tilt weights them.  Arithmetic is
float32 in tilt's order of operations (no fused multiply-adds), so that the sums agree with tilt's to rounding.

Coordinates are tilt's: 1-based columns ``x``, rows ``z`` (the tomogram's thickness) and slices; ``line`` is a
slice of the tomogram and the output row.  ``vol[s, z, x]`` holds slices ``first .. first + len(vol) - 1`` (0-based
arrays, 1-based numbers), already divided as tilt divides them (see reprojection.geometry).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .. import cpu_threads

cpu_threads.give_numba()  # the thread count set before Numba was loaded

F32 = np.float32
_JIT = dict(cache=True, nogil=True, fastmath=False, boundscheck=False, error_model="numpy")
Y_TOLERANCE = F32(3.05)  # samples this far beyond the first or last slice take that slice (tilt's ytol)
EDGE = F32(0.01)  # how close to the last column or row a sample may come (tilt's eps)


@njit(**_JIT)
def _ceil(value):
    return int(np.ceil(value))


@njit(**_JIT)
def _add_xz(total, vol, s, iz, ix, fx, omfx, fz, omfz):
    """``total`` plus the bilinear sample of slice ``s`` between rows ``iz, iz+1`` and columns ``ix, ix+1``
    (0-based array), summed term by term as tilt sums it.  The complements ``omfx``, ``omfz`` are passed because
    tilt sets them apart from ``1 - f`` at the last row or column (only a fraction of it is inside)."""
    return total + (omfz * omfx) * vol[s, iz, ix] + (omfz * fx) * vol[s, iz, ix + 1] \
        + (fz * omfx) * vol[s, iz + 1, ix] + (fz * fx) * vol[s, iz + 1, ix + 1]


@njit(**_JIT)
def _add_xyz(total, vol, s, iz, ix, fx, omfx, fy, fz, omfz):
    """``total`` plus the trilinear sample between slices ``s, s+1``, rows ``iz, iz+1`` and columns ``ix, ix+1``
    (0-based array), in tilt's order: the lower row's part, then the upper row's."""
    omfy = F32(1.0) - fy
    d11, d12, d21, d22 = omfx * omfy, omfx * fy, fx * omfy, fx * fy
    low = d11 * vol[s, iz, ix] + d12 * vol[s + 1, iz, ix] + d21 * vol[s, iz, ix + 1] + d22 * vol[s + 1, iz, ix + 1]
    high = d11 * vol[s, iz + 1, ix] + d12 * vol[s + 1, iz + 1, ix] + d21 * vol[s, iz + 1, ix + 1] \
        + d22 * vol[s + 1, iz + 1, ix + 1]
    return total + omfz * low + fz * high


@njit(**_JIT)
def _step_count(span, step):
    """How many steps of ``step`` tilt takes over ``span`` pixels: one more when the last would cover a tenth."""
    num = F32(1.0) + F32(span - 1) / step
    count = int(num)
    if num - F32(count) >= F32(0.1):
        count += 1
    return count


@njit(**_JIT)
def _step(k, step, size, fill):
    """Step ``k`` (1-based) of a ray across ``size`` rows or columns: position, lower index, fraction, its
    complement and the fill weight; the last step past the end takes a fraction of the last one."""
    at = F32(1.0) + F32(k - 1) * step
    index = int(at)
    frac = at - F32(index)
    rest = F32(1.0) - frac
    weight = fill
    if at >= F32(size):
        at = F32(size)
        index = size - 1
        frac = rest
        rest = F32(0.0)
        weight = fill * frac
    return at, index, frac, rest, weight


@njit(**_JIT)
def _first_inside(at, step, size):
    """The first output pixel (1-based) whose sample at ``at + (pixel - 1) step`` lies within ``1 .. size``, as tilt
    first estimates it."""
    if at < F32(1.0):
        return _ceil((F32(1.0) - at) / step + F32(1.0))
    if at >= F32(size):
        return _ceil((F32(size) - at) / step + F32(1.0))
    return 1


@njit(**_JIT)
def _advance(at, first, step, size):
    """The start moved to the output pixel ``first``, one pixel further when it is still outside; (first, at)."""
    at = at + F32(first - 1) * step
    if at < F32(1.0) or at >= F32(size):
        first += 1
        at = at + step
    return first, at


@njit(**_JIT)
def _last_inside(at, first, step, size, count):
    """The last of ``count`` output pixels whose sample stays short of the ends of ``1 .. size`` by EDGE."""
    last = count
    if at + F32(last - first) * step >= F32(size) - EDGE:
        last = int((F32(size) - at) / step + F32(first))
        if at + F32(last - first) * step >= F32(size) - EDGE:
            last -= 1
    elif at + F32(last - first) * step < F32(1.0) + EDGE:
        last = int((F32(1.0) - at) / step + F32(first))
        if at + F32(last - first) * step < F32(1.0) + EDGE:
            last -= 1
    return last


@njit(**_JIT)
def _fill_outside(out, first, last, weight):
    """tilt's fill for the output pixels before ``first`` and after ``last`` (1-based): ``out[pixel, line]``."""
    width = out.shape[0]
    for i in range(min(first - 1, width)):
        for line in range(out.shape[1]):
            out[i, line] += weight
    for i in range(max(last, 0), width):
        for line in range(out.shape[1]):
            out[i, line] += weight


@njit(**_JIT)
def _rays_in_z(vol, first, last_slice, line, cb, sb, ca, sa, xzf, yzf, delz, tilted, p, out):
    """One output line at one angle, stepping the rays up through the rows (low tilt)."""
    width, thick = out.shape[0], vol.shape[1]
    xproj_offset, yproj_offset, xcen_out, ycen_out, xcen_in, center_slice, fill, min_x, min_y = \
        p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8]
    delx = F32(1.0) / cb
    for kz in range(1, _step_count(thick, delz) + 1):
        zz, iz, fz, omfz, pfill = _step(kz, delz, thick, fill)
        zz = zz + min_y - F32(1.0) - ycen_out
        yproj = F32(line) + yproj_offset
        yy = (yproj + zz * (sa - yzf) - center_slice) / ca
        yslice = yy + center_slice - yproj_offset
        if not tilted:
            yslice = F32(line)
        if yslice < F32(1.0) - Y_TOLERANCE or yslice > F32(last_slice) + Y_TOLERANCE:
            for i in range(width):
                out[i] += pfill
            continue
        iys = int(np.floor(yslice))
        fy = F32(0.0)
        if tilted:
            if iys < 1:
                iys, fy = 1, F32(0.0)
            elif iys >= last_slice:
                iys, fy = last_slice - 1, F32(1.0)
            else:
                fy = yslice - F32(iys)
        xproj = F32(1.0) + xproj_offset
        xx = (xproj - (yy * sa * sb + zz * (ca * sb + xzf) + xcen_in)) / cb + xcen_out - (min_x - F32(1.0))
        ixst, xx = _advance(xx, _first_inside(xx, delx, width), delx, width)
        ixnd = _last_inside(xx, ixst, delx, width, width)
        _fill_outside(out.reshape((width, 1)), ixst, ixnd, pfill)
        s = iys - first
        x8 = np.float64(xx)
        for i in range(ixst - 1, ixnd):
            ix = int(x8)
            fx = F32(x8 - ix)
            if tilted:
                out[i] = _add_xyz(out[i], vol, s, iz - 1, ix - 1, fx, F32(1.0) - fx, fy, fz, omfz)
            else:
                out[i] = _add_xz(out[i], vol, s, iz - 1, ix - 1, fx, F32(1.0) - fx, fz, omfz)
            x8 += np.float64(delx)


@njit(**_JIT)
def _rays_in_x(vol, first, last_slice, line, cb, sb, ca, sa, xzf, yzf, delz_in, tilted, p, out):
    """One output line at one angle, stepping the rays across the columns (high tilt)."""
    width, thick = out.shape[0], vol.shape[1]
    xproj_offset, yproj_offset, xcen_out, ycen_out, xcen_in, center_slice, fill, min_x, min_y = \
        p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8]
    lo, hi = F32(1.0), F32(last_slice)
    delx = abs(sb)
    delz = delz_in / (sb * abs(cb))
    dely = delz * (sa - yzf) / ca
    for kx in range(1, _step_count(width, delx) + 1):
        xx, ix, fx, omfx, pfill = _step(kx, delx, width, fill)
        ratio = sa * sb / ca
        xcen_adj = xcen_out - (min_x - F32(1.0))
        xproj = F32(1.0) + xproj_offset
        yproj = F32(line) + yproj_offset
        zz = (xproj - (yproj - center_slice) * ratio - xcen_in - (xx - xcen_adj) * cb) / \
            ((sa - yzf) * ratio + ca * sb + xzf)
        yy = (yproj + zz * (sa - yzf) - center_slice) / ca
        yslice = yy + center_slice - yproj_offset
        if not tilted:
            yslice = F32(line)
        zz = zz - (min_y - F32(1.0) - ycen_out)
        ixst = _first_inside(zz, delz, thick)
        if tilted:
            ysl = yslice + F32(ixst - 1) * dely
            if ysl < lo - Y_TOLERANCE:
                ixst = _ceil((lo - Y_TOLERANCE - yslice) / dely + F32(1.0))
            elif ysl > hi + Y_TOLERANCE:
                ixst = _ceil((hi + Y_TOLERANCE - yslice) / dely + F32(1.0))
        ixst, zz = _advance(zz, ixst, delz, thick)
        yslice = yslice + F32(ixst - 1) * dely
        if not tilted:
            yslice = F32(line)
        ixnd = _last_inside(zz, ixst, delz, thick, width)
        if tilted:
            ysl = yslice + F32(ixnd - ixst) * dely
            if ysl < lo - Y_TOLERANCE:
                ixnd = int((lo - Y_TOLERANCE - yslice) / dely + F32(ixst))
            elif ysl > hi + Y_TOLERANCE:
                ixnd = int((hi + Y_TOLERANCE - yslice) / dely + F32(ixst))
        ok_start, ok_end = ixst, ixnd  # the stretch where the slice may vary without leaving the volume
        if tilted:
            if yslice < lo:
                ok_start = _ceil((lo - yslice) / dely + F32(ixst))
                if yslice + F32(ok_start - ixst) * dely < lo + EDGE:
                    ok_start += 1
            elif yslice >= hi:
                ok_start = _ceil((hi - yslice) / dely + F32(ixst))
                if yslice + F32(ok_start - ixst) * dely >= hi - EDGE:
                    ok_start += 1
            yslice = yslice + F32(ok_start - ixst) * dely
            ysl = yslice + F32(ixnd - ok_start) * dely
            if ysl < lo:
                ok_end = int((lo - yslice) / dely + F32(ok_start))
                if yslice + F32(ok_end - ok_start) * dely < lo + EDGE:
                    ok_end -= 1
            elif ysl >= hi:
                ok_end = int((hi - yslice) / dely + F32(ok_start))
                if yslice + F32(ok_end - ok_start) * dely >= hi - EDGE:
                    ok_end -= 1
        _fill_outside(out.reshape((width, 1)), ixst, ixnd, pfill)
        if not tilted:
            s = line - first
            z8 = np.float64(zz)
            for i in range(ixst - 1, ixnd):
                iz = int(z8)
                fz = F32(z8 - iz)
                out[i] = _add_xz(out[i], vol, s, iz - 1, ix - 1, fx, omfx, fz, F32(1.0) - fz)
                z8 += np.float64(delz)
            continue
        y8 = np.float64(yslice)
        z8 = np.float64(zz + F32(ok_start - ixst) * delz)
        iys = int(y8)
        fy = F32(y8 - iys)
        for i in range(ok_start - 1, ok_end):
            iz = int(z8)
            fz = F32(z8 - iz)
            iys = int(y8)
            fy = F32(y8 - iys)
            out[i] = _add_xyz(out[i], vol, iys - first, iz - 1, ix - 1, fx, omfx, fy, fz, F32(1.0) - fz)
            z8 += np.float64(delz)
            y8 += np.float64(dely)
        # the slice held fixed: first past the stretch's end (continuing its Y and Z), then before its start
        for i in range(ok_end, ixnd):
            iz = int(z8)
            fz = F32(z8 - iz)
            out[i] = _add_xyz(out[i], vol, iys - first, iz - 1, ix - 1, fx, omfx, fy, fz, F32(1.0) - fz)
            z8 += np.float64(delz)
        y8 = np.float64(yslice)
        z8 = np.float64(zz)
        iys = int(y8)
        fy = F32(y8 - iys)
        for i in range(ixst - 1, ok_start - 1):
            iz = int(z8)
            fz = F32(z8 - iz)
            out[i] = _add_xyz(out[i], vol, iys - first, iz - 1, ix - 1, fx, omfx, fy, fz, F32(1.0) - fz)
            z8 += np.float64(delz)


@njit(parallel=True, **_JIT)
def reproject_lines(vol, first, last_slice, lines, views, params, out):
    """Reproject slices ``lines`` (1-based numbers) at every view into ``out[view, k, x]`` (``k``: index into
    ``lines``).  ``views[v]``: cos, -sin of the angle, cos, -sin of the X-axis tilt, the two Z factors and the
    Z step ``delz`` (tilt's sign conventions); ``params``: see :func:`tiltrec.reprojection.geometry`; ``tilted``
    (params[9] != 0): rays may cross slices."""
    nviews = views.shape[0]
    width = out.shape[2]
    thick = vol.shape[1]
    tilted = params[9] != F32(0.0)
    for k in prange(lines.shape[0]):
        line = lines[k]
        for v in range(nviews):
            cb, sb, ca, sa, xzf, yzf, delz = views[v, 0], views[v, 1], views[v, 2], views[v, 3], views[v, 4], \
                views[v, 5], views[v, 6]
            row = out[v, k]
            row[:] = F32(0.0)
            if abs(sb * F32(thick)) <= abs(cb * F32(width)):
                _rays_in_z(vol, first, last_slice, line, cb, sb, ca, sa, xzf, yzf, delz, tilted, params, row)
            else:
                _rays_in_x(vol, first, last_slice, line, cb, sb, ca, sa, xzf, yzf, delz, tilted, params, row)


@njit(**_JIT)
def _add_lines(row, vol, iz, ix, w00, w01, w10, w11):
    """``row[l] += w00 v[iz, ix] + w01 v[iz, ix+1] + w10 v[iz+1, ix] + w11 v[iz+1, ix+1]`` for every line ``l``
    (the last axis), term by term in tilt's order."""
    a, b, c, d = vol[iz, ix], vol[iz, ix + 1], vol[iz + 1, ix], vol[iz + 1, ix + 1]
    for line in range(row.shape[0]):
        row[line] = row[line] + w00 * a[line] + w01 * b[line] + w10 * c[line] + w11 * d[line]


@njit(parallel=True, **_JIT)
def reproject_untilted(vol, views, params, out):
    """:func:`reproject_lines` for rays that stay in their slice (no X-axis tilt, no Z factors), every slice of the
    block at once: ``vol[z, x, line]``, ``out[view, x, line]``.  Without a tilt a ray's samples (columns, rows,
    weights) are the same in every slice, so each is computed once and applied along the contiguous line axis,
    with the same float32 operations per line as :func:`reproject_lines` (the results are the same bit for bit)."""
    thick, width = vol.shape[0], out.shape[1]
    fill, min_x, min_y, ycen_out = params[6], params[7], params[8], params[3]
    xproj_offset, xcen_out, xcen_in = params[0], params[2], params[4]
    for v in prange(views.shape[0]):
        cb, sb, ca, xzf, delz = views[v, 0], views[v, 1], views[v, 2], views[v, 4], views[v, 6]
        rows = out[v]
        rows[:] = F32(0.0)
        if abs(sb * F32(thick)) <= abs(cb * F32(width)):  # rays stepped up through the rows (as _rays_in_z)
            delx = F32(1.0) / cb
            for kz in range(1, _step_count(thick, delz) + 1):
                zz, iz, fz, omfz, pfill = _step(kz, delz, thick, fill)
                zz = zz + min_y - F32(1.0) - ycen_out
                xx = (F32(1.0) + xproj_offset - (F32(0.0) + zz * (ca * sb + xzf) + xcen_in)) / cb + xcen_out \
                    - (min_x - F32(1.0))
                ixst, xx = _advance(xx, _first_inside(xx, delx, width), delx, width)
                ixnd = _last_inside(xx, ixst, delx, width, width)
                _fill_outside(rows, ixst, ixnd, pfill)
                x8 = np.float64(xx)
                for i in range(ixst - 1, ixnd):
                    ix = int(x8)
                    fx = F32(x8 - ix)
                    omfx = F32(1.0) - fx
                    _add_lines(rows[i], vol, iz - 1, ix - 1, omfz * omfx, omfz * fx, fz * omfx, fz * fx)
                    x8 += np.float64(delx)
        else:  # rays stepped across the columns (as _rays_in_x)
            delx = abs(sb)
            dz = delz / (sb * abs(cb))
            for kx in range(1, _step_count(width, delx) + 1):
                xx, ix, fx, omfx, pfill = _step(kx, delx, width, fill)
                xcen_adj = xcen_out - (min_x - F32(1.0))
                zz = (F32(1.0) + xproj_offset - F32(0.0) - xcen_in - (xx - xcen_adj) * cb) / \
                    (F32(0.0) + ca * sb + xzf)
                zz = zz - (min_y - F32(1.0) - ycen_out)
                ixst, zz = _advance(zz, _first_inside(zz, dz, thick), dz, thick)
                ixnd = _last_inside(zz, ixst, dz, thick, width)
                _fill_outside(rows, ixst, ixnd, pfill)
                z8 = np.float64(zz)
                for i in range(ixst - 1, ixnd):
                    iz = int(z8)
                    fz = F32(z8 - iz)
                    omfz = F32(1.0) - fz
                    _add_lines(rows[i], vol, iz - 1, ix - 1, omfz * omfx, omfz * fx, fz * omfx, fz * fx)
                    z8 += np.float64(dz)
