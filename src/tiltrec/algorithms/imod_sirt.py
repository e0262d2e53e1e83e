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
no X shift, no X-axis tilt; it also refuses an angle offset or a Z shift (not covered by the references).

The two projections are compiled kernels (projectors/imod_sirt_kernels.py) in float64 over blocks of slices; the
per-angle tables are made once per slab.  tests/imod_sirt_model.py builds the same operators as SciPy sparse
matrices, the model the kernels are tested against.
"""

from __future__ import annotations

import numpy as np

from .. import cpu_threads, filters
from ..errors import InputError
from ..options.model import Settings

DTOR = 0.0174532  # IMOD's degrees-to-radians constant (truncated)
F32 = np.float32


def check_geometry(geom) -> None:
    """IMOD's own limits for internal SIRT, and those of this reproduction."""
    if geom.has_pitch or geom.xshift or geom.zshift or geom.offset or geom.width != geom.nx \
            or geom.center_shift != (0.0, 0.0):
        raise InputError("IMOD's SIRT (SIRTIterations) needs the full width and no X-axis tilt, shift, angle "
                         "offset or subset; use --alg sirt for tiltrec's SIRT")


def trig(angle: float) -> tuple[float, float]:
    """IMOD's float32 cosine and minus sine of a tilt angle."""
    t = F32(DTOR) * F32(angle)
    return float(F32(np.cos(t))), float(-F32(np.sin(t)))


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
    from ..projectors import imod_sirt_kernels as k

    g = op.geom
    check_geometry(g)
    nv, nrows, nx = rows.shape
    width, thick = g.width, g.thickness
    npad = filters.imod_pad_length(nx)
    filter_scale = float(F32(nx) / F32(2.2))
    add, mult = settings.scale_pair()
    out_scale, out_add = mult * filter_scale, add / filter_scale
    start_w, diff_w, zero_weight = _weights(g, settings, npad, filter_scale)
    cb, sb = np.array([trig(float(a)) for a in g.angles]).T
    plan = k.plan(cb, sb, nx, width, thick)
    threads = cpu_threads.threads()
    recscale = filter_scale * nv

    views = np.ascontiguousarray(rows, dtype=np.float32)
    fill0 = (settings.data_mean / out_scale - out_add) * zero_weight
    x = k.blocks(nrows, thick, width)
    k.back(plan, filters.RowFilter(nx, npad, start_w).apply(views, workers=settings.threads), np.full(nrows, fill0),
           x, recscale, threads)
    pad_sample = nx + (npad - nx) // 2 - 1
    diff_filter = filters.RowFilter(nx, npad, diff_w)
    differences = np.empty((nv, nrows, width), dtype=np.float32)
    for _ in range(settings.iterations_for("imod-sirt")):
        k.reproject(plan, x, nrows, differences, views, threads)  # outside samples: the slice's mean
        filtered = diff_filter.apply(differences, workers=settings.threads, width=pad_sample + 1)
        edge = filtered[:, :, pad_sample].mean(axis=0, dtype=np.float64)
        k.back(plan, filtered, edge, x, -recscale, threads)
    if callback:
        callback(1)
    vol = k.from_blocks(x, nrows)
    del x
    vol += out_add
    vol *= out_scale
    return vol.astype(np.float32)
