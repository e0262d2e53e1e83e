"""One-pass algorithms: plain back-projection (BPT), filtered (FBP) and IMOD's weighted back-projection (WBP)."""

from __future__ import annotations

import numpy as np

from .. import filters
from ..options.model import Settings


def bpt(op, rows, settings: Settings, x0=None, callback=None):
    """Plain back-projection, averaged over the views (values in the units of the data)."""
    vol = op.back(op.pack(rows))
    vol *= np.float32(1.0 / op.geom.nviews)
    if callback:
        callback(1)
    return vol


def angular_span(angles_deg) -> float:
    """Angle range the views sample, one step wider than first-to-last (each view stands for one step)."""
    a = np.sort(np.asarray(angles_deg, dtype=np.float64))
    return 180.0 if a.size < 2 else float((a[-1] - a[0]) * a.size / (a.size - 1))


def fbp(op, rows, settings: Settings, x0=None, callback=None):
    """Filtered back-projection with a textbook window, scaled to the true density."""
    g = op.geom
    rfilter = filters.fbp_filter(g.nx, settings.filter, settings.cutoff)
    vol = op.back(op.pack(rfilter.apply(rows, workers=settings.threads)))
    vol *= np.float32(filters.fbp_scale(g.nviews, angular_span(g.angles)))
    if callback:
        callback(1)
    return vol


def imod_interpolation(geom, settings: Settings) -> bool:
    """Whether WBP back-projects with IMOD's CPU interpolation (possible with one X-axis tilt for all views; with
    local alignments IMOD samples every voxel at its own position, which the local projector does whatever
    ``interp`` says)."""
    return settings.interp == "imod" and geom.local is None and float(np.ptp(geom.pitch_radians)) == 0.0


def imod_weighting(geom, settings: Settings) -> filters.RowFilter:
    """IMOD's radial weighting filter for the views of ``geom``; for tiltrec's single interpolation it includes
    the mean response of IMOD's cosine stretching, so that amplitudes match IMOD's CPU output."""
    cutoff, falloff = settings.radial if settings.radial else (None, None)
    return filters.imod_radial_filter(
        geom.nx, geom.angles + geom.offset, cutoff=cutoff, falloff=falloff, true_sigma=settings.true_sigma,
        fake_sirt_iterations=settings.fake_sirt, density_weighting=settings.density_weighting,
        hamming=settings.hamming, multiply=settings.multiply_gaussian,
        cosine_stretch=0 if imod_interpolation(geom, settings) or geom.local is not None else 2)


def wbp(op, rows, settings: Settings, x0=None, callback=None):
    """IMOD ``tilt``'s R-weighted back-projection: same weighting, edge fill and output scale.

    Samples outside the data take IMOD's fill value ``c``; since interpolation weights sum to one, that equals
    back-projecting ``filtered - c`` with zeros outside and adding ``c`` once per view.
    """
    g = op.geom
    rfilter = imod_weighting(g, settings)
    fill = np.float32(filters.imod_fill_value(settings.data_mean, rfilter))
    filtered = op.empty_projections()  # the filter writes every row, less the fill, in the projector's layout
    rfilter.apply(rows, workers=settings.threads, out=op.rows_view(filtered), subtract=fill)
    add, mult = settings.scale_pair()
    scale = filters.imod_wbp_scale(g.nviews, mult)
    shift = fill * g.nviews * scale + filters.imod_wbp_add(add, mult)
    if imod_interpolation(g, settings):
        from ..projectors.imod_cpu import ImodCpuBackprojector  # (compiled for the CPU: not loaded on a GPU)

        vol = ImodCpuBackprojector(g, settings.cosine_stretch).back(filtered, op.y0, op.y1, op.r0)
        op.scale_add(vol, scale, shift)
    else:
        vol = op.back_scaled(filtered, scale, shift)
    if callback:
        callback(1)
    return vol
