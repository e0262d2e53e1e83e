"""Plain NumPy back-projectors of IMOD ``tilt``'s geometry, for tests only.

``backproject_reference`` is the textbook model of ``shared/design/conventions.md`` ("projection
model"), written for clarity, not speed: one loop over views, everything else vectorised over the volume.
All formulas use IMOD's 1-based pixel indices; output column ``jj`` (0-based) is ``j = jj + 1``, etc.

* centres: ``xcen_in = nx/2 + 0.5``, ``center_slice = ny/2 + 0.5``,
  ``xcen_out = width//2 + 0.5 + xshift``, ``zcen_out = thickness//2 + 0.5 + zshift``;
* ``X = j - xcen_out``, ``Z = i - zcen_out``, ``Y = k - center_slice`` (k = slice, i.e. view row);
* X-axis tilt ``a``: ``Y' = Y cos a - Z sin a``, ``Z' = Y sin a + Z cos a``;
* view ``v`` (angle ``t = angle_v + offset``): ``xproj = xcen_in + X cos t - Z' sin t``,
  ``yproj = center_slice + Y'``;
* the sample is the linear (bilinear with pitch) interpolation of the view at ``(xproj, yproj)`` when
  ``1 <= xproj < nx`` and ``1 <= yproj <= ny`` (IMOD's legal range), else ``fill`` (scalar or per view).

``backproject_imod_cpu`` additionally emulates how IMOD's CPU code interpolates (cosine stretching of each
line at twice the sampling; with an X-axis tilt, untilted "vertical slices" and bilinear composition of the
output slices from them), to show that the filter recipe reproduces IMOD to float precision.
"""

from __future__ import annotations

import math

import numpy as np


def _centres(nx, ny, width, thickness, xshift, zshift):
    return nx / 2.0 + 0.5, ny / 2.0 + 0.5, width // 2 + 0.5 + xshift, thickness // 2 + 0.5 + zshift


def backproject_reference(views, angles_deg, *, width, thickness, offset=0.0, pitch=0.0, xshift=0.0,
                          zshift=0.0, fill=0.0):
    """Sum over views of the interpolated samples; volume ``[y, z, x]`` float64 of shape
    ``(ny, thickness, width)`` (one output slice per view row)."""
    views = np.asarray(views, dtype=np.float64)
    nv, ny, nx = views.shape
    angles = np.asarray(angles_deg, dtype=np.float64).ravel()
    assert angles.size == nv, "one angle per view"
    fills = np.broadcast_to(np.asarray(fill, dtype=np.float64), (nv,))
    xcen_in, cen_slice, xcen_out, zcen_out = _centres(nx, ny, width, thickness, xshift, zshift)

    X = np.arange(1, width + 1) - xcen_out  # (width,)
    Z = np.arange(1, thickness + 1) - zcen_out  # (thickness,)
    Y = np.arange(1, ny + 1) - cen_slice  # (ny,)
    a = math.radians(pitch)
    Yt = Y[:, None] * math.cos(a) - Z[None, :] * math.sin(a)  # Y' (ny, thickness)
    Zt = Y[:, None] * math.sin(a) + Z[None, :] * math.cos(a)  # Z' (ny, thickness)
    yproj = np.broadcast_to((cen_slice + Yt)[:, :, None], (ny, thickness, width))

    # rows to interpolate between (1-based iy and iy+1), the same for all views
    iy = np.clip(np.floor(yproj), 1, max(1, ny - 1)).astype(np.intp)
    fy = yproj - iy
    y_in = (yproj >= 1.0) & (yproj <= ny)
    r0 = iy - 1
    r1 = np.minimum(iy, ny - 1)

    vol = np.zeros((ny, thickness, width))
    for v in range(nv):
        t = math.radians(angles[v] + offset)
        xproj = xcen_in + X[None, None, :] * math.cos(t) - Zt[:, :, None] * math.sin(t)
        inside = (xproj >= 1.0) & (xproj < nx) & y_in
        ix = np.clip(np.floor(xproj), 1, max(1, nx - 1)).astype(np.intp)
        fx = xproj - ix
        c0 = ix - 1
        c1 = np.minimum(ix, nx - 1)
        img = views[v]
        val = ((1.0 - fy) * ((1.0 - fx) * img[r0, c0] + fx * img[r0, c1])
               + fy * ((1.0 - fx) * img[r1, c0] + fx * img[r1, c1]))
        vol += np.where(inside, val, fills[v])
    return vol


# ----------------------------------------------------------------------------- IMOD CPU emulation
def _nint(x):
    """Fortran NINT (half away from zero), elementwise."""
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def _stretched_backprojection(views, angles, width, thick_bp, zcen_rows, xcen_out, fill, factor,
                              stretch_extent):
    """IMOD PROJECT with cosine-stretched lines: row ``r`` of every view makes slice ``r`` with
    Z centre ``zcen_rows[r]``.  Returns ``(nrows, thick_bp, width)``."""
    nv, nr, nx = views.shape
    xcen_in = nx / 2.0 + 0.5
    X = np.arange(1, width + 1) - xcen_out
    Z = np.arange(1, thick_bp + 1)[None, :] - np.asarray(zcen_rows, dtype=np.float64)[:, None]  # (nr, thick)
    out = np.zeros((nr, thick_bp, width))
    for v in range(nv):
        t = math.radians(angles[v])
        cb, sb = math.cos(t), -math.sin(t)
        xpmin, xpmax = stretch_extent[v]
        soff = xpmin / cb - 1.0 / factor
        nxs = int(factor * (xpmax - xpmin) / cb + 2.0)
        # stretched line: sample i (1-based) is the view at xp = clamp((i/factor + soff) * cos, 1, nx)
        xp = np.clip((np.arange(1, nxs + 1) / factor + soff) * cb, 1.0, float(nx))
        ixp = np.floor(xp).astype(np.intp)
        dx = xp - ixp
        ixp1 = np.minimum(ixp + 1, nx)
        s = (1.0 - dx) * views[v][:, ixp - 1] + dx * views[v][:, ixp1 - 1]
        s = np.concatenate([s, s[:, -1:]], axis=1)  # guard sample past the end
        zpart = Z * sb + xcen_in  # (nr, thick)
        xproj = zpart[:, :, None] + X[None, None, :] * cb
        inside = (xproj >= 1.0) & (xproj < nx)
        xs = factor * (zpart[:, :, None] / cb + X[None, None, :] - soff)
        ip = np.floor(xs)
        fr = xs - ip
        ip = np.clip(ip.astype(np.intp), 1, nxs)
        flat = ip.reshape(nr, -1)
        s0 = np.take_along_axis(s, flat - 1, axis=1).reshape(ip.shape)
        s1 = np.take_along_axis(s, flat, axis=1).reshape(ip.shape)
        out += np.where(inside, (1.0 - fr) * s0 + fr * s1, fill)
    return out


def backproject_imod_cpu(views, angles_deg, *, width, thickness, offset=0.0, pitch=0.0, xshift=0.0,
                         zshift=0.0, fill=0.0, stretch_factor=2):
    """Emulation of IMOD 4.8.2 ``tilt``'s CPU back-projection sum (scalar ``fill``), ``[y, z, x]`` float64.

    Differs from :func:`backproject_reference` only in interpolation: lines are first stretched by
    ``1/cos`` at ``stretch_factor`` samples per pixel (IMOD ``COSINTERP`` default 1,2; off when a tilt
    exceeds 80 degrees or ``stretch_factor=0``); with ``pitch`` the untilted vertical slices (thickness
    ``int(thickness/cos a + 4.5)``) are back-projected from single view rows and every output slice is
    interpolated bilinearly from them, with IMOD's edge rules.
    """
    views = np.asarray(views, dtype=np.float64)
    nv, ny, nx = views.shape
    angles_raw = np.asarray(angles_deg, dtype=np.float64).ravel()
    angles = angles_raw + offset
    fill = float(fill)
    factor = 0 if np.any(np.abs(angles_raw) > 80.0) else int(stretch_factor)
    xcen_in, cen_slice, xcen_out, _ = _centres(nx, ny, width, thickness, xshift, zshift)
    a = math.radians(pitch)
    ca, sa = math.cos(a), math.sin(a)
    tan_a = sa / ca
    new_style = pitch != 0.0
    thick_bp = int(thickness / ca + 4.5) if new_style else thickness
    ycen_fix = thick_bp // 2 + 0.5 + zshift
    rows = np.arange(1, ny + 1)
    if new_style:
        zcen_rows = ycen_fix + (1.0 / ca - 1.0) * zshift - _nint(tan_a * (rows - cen_slice))
        ls_lo = max(1, int(cen_slice + (1 - cen_slice) * ca + zshift * sa - 0.5 * thickness * abs(sa) - 1.0))
        ls_hi = min(ny, int(cen_slice + (ny - cen_slice) * ca + zshift * sa + 0.5 * thickness * abs(sa) + 2.0))
    else:
        zcen_rows = np.full(ny, ycen_fix)
        ls_lo, ls_hi = 1, ny

    if factor:
        extent = []
        for v in range(nv):  # IMOD set_cos_stretch: corners of the reconstruction, clamped to [1, nx]
            t = math.radians(angles[v])
            cb, sb = math.cos(t), -math.sin(t)
            lo, hi = float(nx), 1.0
            for ix in (1, width):
                for iz in (1, thick_bp):
                    for ls in (ls_lo, ls_hi):
                        zz = iz - ycen_fix + (_nint(tan_a * (ls - cen_slice)) if new_style else 0.0)
                        xp = zz * sb + xcen_in + (ix - xcen_out) * cb
                        lo, hi = max(1.0, min(lo, xp)), min(float(nx), max(hi, xp))
            extent.append((lo, hi))
        vert = _stretched_backprojection(views, angles, width, thick_bp, zcen_rows, xcen_out, fill, factor,
                                         extent)
    else:
        from_rows = [backproject_reference(views[:, r:r + 1], angles, width=width, thickness=thick_bp,
                                           xshift=xshift, zshift=zcen_rows[r] - (thick_bp // 2 + 0.5),
                                           fill=fill)[0] for r in range(ny)]
        vert = np.stack(from_rows)
    if not new_style:
        return vert

    # COMPOSE: output slice L, row j from vertical slices (linear interpolation, IMOD's edge rules)
    L = rows[:, None].astype(np.float64)
    j = np.arange(1, thickness + 1)[None, :].astype(np.float64)
    cenj = j - (thickness // 2 + 0.5) - zshift
    cenl = L - cen_slice
    vsl = cenl * ca - cenj * sa + cen_slice
    vycen = cenl * sa + cenj * ca
    ivsl = np.trunc(vsl).astype(np.intp)
    fx = vsl - ivsl
    vertcen = thick_bp // 2 + 0.5
    exists, ivy, fy = {}, {}, np.zeros_like(fx)
    for i in range(1, 5):
        lv = ivsl + i - 2
        exists[i] = (lv >= 1) & (lv <= ny)
        vy = vycen + vertcen - _nint(tan_a * (lv - cen_slice)) + zshift / ca
        ivy[i] = np.trunc(vy).astype(np.intp)
        fy = np.where(exists[i], vy - ivy[i], fy)

    def valid(k, i):  # row offset k-2 in slice position i
        r = ivy[i] + (k - 2)
        return exists[i] & (r >= 1) & (r <= thick_bp)

    ok0 = valid(2, 2) & valid(2, 3) & valid(3, 2) & valid(3, 3)
    res_a = ~ok0 & (fx < 0.02) & valid(2, 1) & valid(3, 1) & valid(2, 2) & valid(3, 2)
    res_b = (~ok0 & ~res_a & (fy < 0.02) & valid(1, 2) & valid(1, 3) & valid(2, 2) & valid(3, 2)
             & valid(2, 3))
    s_lo = np.where(res_a, 1, 2)
    row_off = np.where(res_b, -1, 0)
    fx = np.where(res_a, fx + 1.0, fx)
    fy = np.where(res_b, fy + 1.0, fy)
    ok = ok0 | res_a | res_b

    def sample(spos, roff):
        lv = np.clip(ivsl + spos - 2, 1, ny)
        base = np.choose(spos - 1, [ivy[1], ivy[2], ivy[3], ivy[4]])
        r = np.clip(base + roff, 1, thick_bp)
        return vert[lv[:, :, None] - 1, r[:, :, None] - 1, np.arange(width)[None, None, :]]

    f = lambda w: w[:, :, None]  # noqa: E731
    val = (f((1 - fy) * (1 - fx)) * sample(s_lo, row_off) + f((1 - fy) * fx) * sample(s_lo + 1, row_off)
           + f(fy * (1 - fx)) * sample(s_lo, row_off + 1) + f(fy * fx) * sample(s_lo + 1, row_off + 1))
    return np.where(ok[:, :, None], val, fill * nv)
