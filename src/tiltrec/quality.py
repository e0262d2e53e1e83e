"""Measures of how well a reconstruction matches the true volume."""

import numpy as np


def pearson(a, b) -> float:
    """Pearson correlation of two same-shape arrays (nan if either is constant)."""
    x, y = _centred_pair(a, b)
    denom = np.sqrt(np.dot(x, x) * np.dot(y, y))
    return float(np.dot(x, y) / denom) if denom > 0 else float("nan")


def fitted_rmse(recon, truth) -> float:
    """RMSE of the least-squares fit ``a * recon + b`` to ``truth``, divided by ``truth``'s std."""
    r, t = _centred_pair(recon, truth)
    rr = np.dot(r, r)
    a = np.dot(r, t) / rr if rr > 0 else 0.0
    spread = np.sqrt(np.mean(t * t))
    return float(np.sqrt(np.mean((t - a * r) ** 2)) / spread) if spread > 0 else float("nan")


def compare_to_truth(recon, truth, mask=None) -> dict:
    """``dict(correlation=..., nrmse=...)`` over all voxels, or those where ``mask`` is true."""
    recon, truth = np.asarray(recon), np.asarray(truth)
    if mask is not None:
        recon, truth = recon[mask], truth[mask]
    return {"correlation": pearson(recon, truth), "nrmse": fitted_rmse(recon, truth)}


def central_region(volume, fraction=0.8):
    """``volume`` without its y and x margins: the central ``fraction`` of axes 0 and -1.

    Works for ``[y, z, x]`` volumes and ``[y, x]`` images; z is kept whole.
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    v = np.asarray(volume)
    crop = [slice(None)] * v.ndim
    for axis in (0, v.ndim - 1):
        n = v.shape[axis]
        margin = int(round(n * (1 - fraction) / 2))
        crop[axis] = slice(margin, n - margin)
    return v[tuple(crop)]


def _centred_pair(a, b):
    """Both arrays flattened to float64 with their means removed; shapes must match."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    x, y = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    return x - x.mean(), y - y.mean()
