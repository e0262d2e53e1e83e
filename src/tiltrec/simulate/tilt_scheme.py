"""Tilt angles and the order in which a tilt series records them."""

import numpy as np

SCHEMES = ("sequential", "dose-symmetric", "bidirectional")


def tilt_angles(start=-60.0, stop=60.0, step=3.0) -> np.ndarray:
    """Angles ``start, start + step, ...`` up to ``stop`` (included when on the grid), float64."""
    if step == 0 or (stop - start) * step < 0:
        raise ValueError(f"cannot step from {start} to {stop} by {step}")
    n = int(np.floor((stop - start) / step + 1e-9)) + 1
    return start + step * np.arange(n, dtype=np.float64)


def acquisition_order(angles, scheme="sequential", group=2) -> np.ndarray:
    """Indices into ``angles`` in the order they were recorded.

    ``sequential``: from the most negative angle to the most positive.  ``dose-symmetric`` (Hagen):
    the angle nearest 0 first, then ``group`` angles on the positive side, ``group`` on the negative
    side, alternating outwards; when one side runs out the other finishes.  ``bidirectional``: from
    the angle nearest 0 to the positive end, then from next to 0 to the negative end.
    """
    if scheme not in SCHEMES:
        raise ValueError(f"unknown tilt scheme {scheme!r}; valid: {', '.join(SCHEMES)}")
    if int(group) != group or group < 1:
        raise ValueError(f"group must be a positive integer, got {group}")
    a = np.asarray(angles, dtype=np.float64)
    if a.ndim != 1 or a.size == 0:
        raise ValueError(f"expected a non-empty 1-D array of angles, got shape {a.shape}")
    by_angle = np.argsort(a, kind="stable")
    if scheme == "sequential":
        return by_angle
    first = int(np.argmin(np.abs(a[by_angle])))
    positive, negative = by_angle[first + 1 :], by_angle[:first][::-1]
    if scheme == "bidirectional":
        return np.concatenate([by_angle[first : first + 1], positive, negative])
    return np.concatenate([by_angle[first : first + 1], _alternate(positive, negative, int(group))])


def _alternate(a, b, group):
    """``group`` items of ``a``, then of ``b``, alternating until both are used up."""
    chunks = []
    for start in range(0, max(len(a), len(b)), group):
        chunks += [a[start : start + group], b[start : start + group]]
    return np.concatenate(chunks) if chunks else np.empty(0, dtype=np.intp)
