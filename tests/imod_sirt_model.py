"""IMOD tilt's SIRT projections as SciPy sparse matrices, for tests only: the model the compiled kernels
(tiltrec.projectors.imod_sirt_kernels) are tested against.

Per view, ``backprojector`` is the direct linear back-projection of the view's line into the slice (IMOD's float32
limits of the columns that sample it; the others take the fill value) and ``reprojector`` IMOD's ray-driven
reprojection (unit steps along the ray, bilinear; samples outside the slice counted in ``fill``, each adding the
slice's mean).  Everything is float64 except the limits, which IMOD computes in float32.  ``backproject`` and
``reproject`` apply them as algorithms/imod_sirt.py's run loop did before the kernels, which reproduced IMOD's SIRT
references to 3e-6 of their standard deviation.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from tiltrec.algorithms.imod_sirt import F32, trig as _trig


def _trunc(x: float) -> int:
    return int(math.trunc(float(x)))


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


def backproject(angles, lines: np.ndarray, fill: np.ndarray, width: int, thick: int) -> np.ndarray:
    """The sum over views of the back-projections of ``lines`` ``(nviews, nrows, nx)``, voxels outside a line
    taking ``fill[row]``: ``(nrows, thick*width)``."""
    nrows, nx = lines.shape[1:]
    total = np.zeros((nrows, thick * width))
    for angle, line in zip(angles, lines):
        matrix, outside = backprojector(float(angle), nx, width, thick)
        total += (matrix @ line.T.astype(np.float64)).T
        total += outside[None, :] * fill[:, None]
    return total


def reproject(angles, x: np.ndarray, width: int, thick: int) -> np.ndarray:
    """The reprojections of slices ``x`` ``(nrows, thick*width)`` at every angle, samples outside a slice taking its
    mean: float32 ``(nviews, nrows, width)``."""
    outside_fill = x.mean(axis=1)
    projections = np.empty((len(angles), len(x), width), dtype=np.float32)
    for v, angle in enumerate(angles):
        matrix, fill = reprojector(float(angle), width, thick)
        projections[v] = (matrix @ x.T).T + fill[None, :] * outside_fill[:, None]
    return projections
