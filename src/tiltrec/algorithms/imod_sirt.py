"""IMOD ``tilt``'s internal SIRT (``SIRTIterations``), reproduced for drop-in use of IMOD parameter files.

IMOD's SIRT differs from tiltrec's (ASTRA-style) SIRT, so a tilt.com with ``SIRTIterations`` runs this instead.
Per slice, from IMOD 4.8.2's ``tilt`` (the model and the evidence are in docs/imod.md):

1. start: the views filtered with a flat filter (``a_v * filterScale`` with ``filterScale = nx/2.2``, 0.2 a_v at
   zero frequency, RADIAL's Gaussian roll-off, density weights ``a_v``), back-projected directly (no cosine
   stretching; outside samples take ``mean/filterScale * zeroWeight``), divided by ``filterScale * nviews``;
2. each iteration: reproject every view by IMOD's ray-driven sampling (unit steps along the ray, bilinear, the
   slice mean for samples outside the slice), subtract the views, filter the difference with a flat filter
   ``0.99 a_v filterScale cos(theta) / thickness`` up to the RADIAL cutoff and zero beyond, back-project it
   (outside samples take the mean of the filtered differences in the middle of the pad) and subtract
   ``1/(filterScale * nviews)`` of it;
3. output ``(x + add/filterScale) * mult * filterScale`` (``SCALE add mult``).

It reproduces IMOD's SIRT references to 3e-6 of their standard deviation.  Like IMOD it needs the full width,
no X shift, no X-axis tilt; it also refuses an angle offset or a Z shift (not covered by the references).  Its
sparse projection matrices hold about 6 x thickness x width entries per view, so it suits moderate sizes.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from .. import filters
from ..errors import InputError
from ..options.model import Settings

DTOR = 0.0174532  # IMOD's degrees-to-radians constant (truncated)
F32 = np.float32


def _trunc(x: float) -> int:
    return int(math.trunc(float(x)))


def check_geometry(geom) -> None:
    """IMOD's own limits for internal SIRT, and those of this reproduction."""
    if geom.has_pitch or geom.xshift or geom.zshift or geom.offset or geom.width != geom.nx \
            or geom.center_shift != (0.0, 0.0):
        raise InputError("IMOD's SIRT (SIRTIterations) needs the full width and no X-axis tilt, shift, angle "
                         "offset or subset; use --alg sirt for tiltrec's SIRT")


def _trig(angle: float) -> tuple[float, float]:
    """IMOD's float32 cosine and minus sine of a tilt angle."""
    t = F32(DTOR) * F32(angle)
    return float(F32(np.cos(t))), float(-F32(np.sin(t)))


@functools.lru_cache(maxsize=1024)
def backprojector(angle: float, nx: int, width: int, thick: int):
    """Direct linear back-projection of one view's line: a ``(thick*width, nx)`` matrix and the mask of voxels that
    project outside the line (they take the fill value)."""
    xcen_in, xcen_out, zcen = nx / 2.0 + 0.5, width // 2 + 0.5, thick // 2 + 0.5
    cb, sb = _trig(angle)
    rows, cols, vals = [], [], []
    outside = np.zeros((thick, width), bool)
    for i in range(1, thick + 1):
        zpart = F32(F32(i - zcen) * F32(sb) + F32(xcen_in))
        xl = F32((F32(1.0) - zpart) / F32(cb) + F32(xcen_out))
        xr = F32((F32(nx) - zpart) / F32(cb) + F32(xcen_out))
        xl, xr = min(xl, xr), max(xl, xr)
        jl = _trunc(xl) + (1 if _trunc(xl) < xl else 0)
        jr = _trunc(xr) - (1 if _trunc(xr) == xr else 0)
        jl, jr = max(jl, 1), min(jr, width)
        if jl > jr:
            outside[i - 1] = True
            continue
        outside[i - 1, :jl - 1] = True
        outside[i - 1, jr:] = True
        j = np.arange(jl, jr + 1)
        xproj = float(zpart) + (jl - xcen_out) * cb + (j - jl) * cb
        ip = np.floor(xproj).astype(int)
        frac = xproj - ip
        voxel = (i - 1) * width + (j - 1)
        rows += [voxel, voxel]
        cols += [ip - 1, ip]
        vals += [1.0 - frac, frac]
    return _sparse(rows, cols, vals, (thick * width, nx)), outside.ravel()


def _sparse(rows: list, cols: list, vals: list, shape: tuple[int, int]):
    """A SciPy CSR matrix from lists of index and value arrays (empty lists: all zero)."""
    import scipy.sparse as sp  # here: only this compatibility path needs it

    if not rows:
        return sp.csr_matrix(shape)
    return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=shape)


def _ray_span(start: float, step: float, limit: int) -> tuple[int, float]:
    """IMOD's first 1-based output pixel whose sample ``start + (i - 1) * step`` lies within ``[1, limit)``, and
    that sample."""
    first = 1
    if start < 1:
        first = math.ceil((1.0 - start) / step + 1.0)
    elif start >= limit:
        first = math.ceil((limit - start) / step + 1.0)
    start = start + (first - 1) * step
    if start < 1 or start >= limit:
        first += 1
        start += step
    return first, start


@functools.lru_cache(maxsize=1024)
def reprojector(angle: float, width: int, thick: int):
    """IMOD's ray-driven reprojection of one slice at ``angle``: a ``(width, thick*width)`` matrix and, per output
    pixel, how many samples fell outside the slice (each adds the fill value)."""
    xcen, zcen, eps = width // 2 + 0.5, thick // 2 + 0.5, 0.01
    cb, sb = _trig(angle)
    rows, cols, vals = [], [], []
    fill = np.zeros(width)

    def add(i, iz, ix, f_z, f_x, scale):  # scale times the bilinear samples at (iz + f_z, ix + f_x), 1-based arrays
        voxel = (iz - 1) * width + (ix - 1)
        rows.extend((i - 1,) * 4)
        cols.extend((voxel, voxel + 1, voxel + width, voxel + width + 1))
        vals.extend((scale * (1 - f_z) * (1 - f_x), scale * (1 - f_z) * f_x, scale * f_z * (1 - f_x),
                     scale * f_z * f_x))

    # walk the shorter way through the slice: along the depth (most views) or along X (steep views)
    along_z = abs(sb * thick) <= abs(cb * width)
    outer_len, inner_len = (thick, width) if along_z else (width, thick)
    outer_step = cb if along_z else abs(sb)
    inner_step = float(F32(1.0) / F32(cb)) if along_z else float(F32(cb) / (F32(sb) * F32(abs(cb))))
    span = 1.0 + (outer_len - 1) / outer_step
    count = _trunc(span) + (1 if span - _trunc(span) >= 0.1 else 0)
    for k in range(1, count + 1):
        outer = 1 + (k - 1) * outer_step
        io, fo, weight = _trunc(outer), outer - _trunc(outer), 1.0
        if outer >= outer_len:  # a last sample past the far edge reads the edge, weighted by how far it falls short
            outer, io, fo, weight = outer_len, outer_len - 1, 1.0, 1.0 - fo
        if along_z:
            start = (1.0 - ((outer - zcen) * sb + xcen)) / cb + xcen
        else:
            start = (1.0 - xcen - (outer - xcen) * cb) / sb + zcen
        first, start = _ray_span(start, inner_step, inner_len)
        last = width
        if start + (last - first) * inner_step >= inner_len - eps:
            last = _trunc((inner_len - start) / inner_step + first)
            if start + (last - first) * inner_step >= inner_len - eps:
                last -= 1
        elif start + (last - first) * inner_step < 1 + eps:
            last = _trunc((1.0 - start) / inner_step + first)
            if start + (last - first) * inner_step < 1 + eps:
                last -= 1
        if first > 1:
            fill[:min(first - 1, width)] += weight
        if last < width:
            fill[max(last, 0):] += weight
        i = np.arange(max(first, 1), min(last, width) + 1)
        if i.size:
            inner = start + (i - first) * inner_step
            ii = np.trunc(inner).astype(np.int64)
            if along_z:
                add(i, io, ii, fo, inner - ii, weight)
            else:
                add(i, ii, io, inner - ii, fo, weight)
    return _sparse(rows, cols, vals, (width, thick * width)), fill


def _weights(geom, settings: Settings, npad: int, filter_scale: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Filter set 1 (the start), set 2 (the differences) and IMOD's ``zeroWeight``."""
    nx = geom.nx
    cutoff, falloff = settings.radial if settings.radial else (None, None)
    atten = filters.imod_view_attenuation(geom.angles, settings.density_weighting)
    flat = filters.imod_radial_weights(nx, npad, cutoff=cutoff, falloff=falloff, flat=1.0)
    start = atten[:, None] * filter_scale * flat[None, :]
    start[:, 0] = 0.2 * atten
    passed = (flat == 1.0) | (np.arange(flat.size) == 0)  # below the RADIAL cutoff
    cos = np.cos(DTOR * geom.angles)
    differences = np.where(passed[None, :], (0.99 * atten * filter_scale * cos / geom.thickness)[:, None], 0.0)
    return start, differences, float(np.mean(0.2 * atten))


def imod_sirt(op, rows, settings: Settings, x0=None, callback=None):
    """IMOD's SIRT of one slab from its projection rows ``(nviews, nrows, nx)``; see the module docstring."""
    g = op.geom
    check_geometry(g)
    nv, nrows, nx = rows.shape
    width, thick = g.width, g.thickness
    npad = filters.imod_pad_length(nx)
    filter_scale = float(F32(nx) / F32(2.2))
    add, mult = settings.scale_pair()
    out_scale, out_add = mult * filter_scale, add / filter_scale
    start_w, diff_w, zero_weight = _weights(g, settings, npad, filter_scale)
    back = [backprojector(float(a), nx, width, thick) for a in g.angles]
    reproject = [reprojector(float(a), width, thick) for a in g.angles]
    recscale = filter_scale * nv

    def backproject(lines, fill):  # (nv, nrows, nx), fill per slice -> (nrows, thick*width)
        total = np.zeros((nrows, thick * width))
        for (matrix, outside), line in zip(back, lines):
            total += (matrix @ line.T.astype(np.float64)).T
            total += outside[None, :] * fill[:, None]
        return total

    views = np.asarray(rows, dtype=np.float32)
    first = filters.RowFilter(nx, npad, start_w).apply(views, workers=settings.threads)
    fill0 = (settings.data_mean / out_scale - out_add) * zero_weight
    x = backproject(first, np.full(nrows, fill0)) / recscale
    pad_sample = nx + (npad - nx) // 2 - 1
    diff_filter = filters.RowFilter(nx, npad, diff_w)
    for _ in range(settings.iterations_for("imod-sirt")):
        outside_fill = x.mean(axis=1)
        projections = np.empty((nv, nrows, width), dtype=np.float32)
        for v, (matrix, fill) in enumerate(reproject):
            projections[v] = (matrix @ x.T).T + fill[None, :] * outside_fill[:, None]
        projections -= views
        filtered = diff_filter.apply(projections, workers=settings.threads, width=pad_sample + 1)
        edge = filtered[:, :, pad_sample].mean(axis=0, dtype=np.float64)
        x -= backproject(filtered[:, :, :nx], edge) / recscale
    if callback:
        callback(1)
    vol = ((x + out_add) * out_scale).reshape(nrows, thick, width)
    return np.ascontiguousarray(vol.transpose(1, 2, 0), dtype=np.float32)
