"""Noise and alignment errors for simulated tilt series ``(nviews, ny, nx)``."""

import numpy as np
from scipy import ndimage

KINDS = ("gaussian", "poisson")
MIN_COUNT = 0.5  # electrons; zero counts are read as this before taking the logarithm


def add_noise(views, *, kind="gaussian", snr=None, dose=None, rng) -> np.ndarray:
    """A noisy float32 copy of ``views``.

    ``gaussian``: white noise whose variance is each view's signal variance divided by ``snr``.
    ``poisson``: the views are projected densities ``p``; each pixel receives a Poisson count with
    mean ``dose * exp(-p / p_max)`` (Beer-Lambert attenuation scaled so the densest pixel of the
    series transmits 1/e; ``dose`` is electrons per pixel per view through vacuum), and the count
    is converted back to density, ``-p_max * log(count / dose)``, so the result has the units of
    ``views`` with shot noise that grows with density and falls with dose.
    ``rng`` is a ``numpy.random.Generator`` or a seed.
    """
    v = np.asarray(views, dtype=np.float32)
    rng = np.random.default_rng(rng)
    if kind == "gaussian":
        if snr is None or snr <= 0:
            raise ValueError(f"gaussian noise needs snr > 0, got {snr}")
        return _gaussian(v, snr, rng)
    if kind == "poisson":
        if dose is None or dose <= 0:
            raise ValueError(f"poisson noise needs dose > 0, got {dose}")
        return _poisson(v, dose, rng)
    raise ValueError(f"unknown noise kind {kind!r}; valid: {', '.join(KINDS)}")


def random_shifts(views, max_shift_px, rng, *, integer=False):
    """Shift each view by a random (dy, dx) within ``+-max_shift_px``; returns ``(shifted, shifts)``.

    Shifts are uniform (rounded to whole pixels with ``integer=True``), shape ``(nviews, 2)``; views
    are moved by cubic-spline interpolation with edge pixels extended (``mode="nearest"``).
    """
    v = np.asarray(views, dtype=np.float32)
    rng = np.random.default_rng(rng)
    shifts = rng.uniform(-max_shift_px, max_shift_px, size=(v.shape[0], 2))
    if integer:
        shifts = np.round(shifts)
    shifted = np.stack([ndimage.shift(view, s, mode="nearest") for view, s in zip(v, shifts)])
    return shifted.astype(np.float32), shifts


def _gaussian(v, snr, rng):
    """Add per-view white Gaussian noise at signal-to-noise variance ratio ``snr``."""
    sigma = np.sqrt(v.var(axis=(1, 2), dtype=np.float64) / snr)[:, None, None]
    return (v + sigma * rng.standard_normal(v.shape)).astype(np.float32)


def _poisson(v, dose, rng):
    """Shot noise on Beer-Lambert transmission, read back as projected density."""
    p_max = float(v.max()) if v.max() > 0 else 1.0
    counts = rng.poisson(dose * np.exp(-v.astype(np.float64) / p_max))
    return (-p_max * np.log(np.maximum(counts, MIN_COUNT) / dose)).astype(np.float32)
