"""SIRT and SART, written once against the slab projector (NumPy or CuPy arrays alike).

Both use the standard normalised update (as ASTRA and TIGRE): ``x += relax * C A^T R (p - A x)`` with
``R = 1 / (A 1)`` (inverse ray lengths) and ``C = 1 / (A^T 1)`` (inverse voxel weights).  SIRT updates from all views
at once; SART from one view at a time, visiting the views in an order that spreads successive angles apart.
"""

from __future__ import annotations

import numpy as np

from ..options.model import Settings
from . import iterating
from .state import NO_CHECKPOINT


def _inverse(xp, a, tiny: float = 1e-6):
    """1/a where a > tiny, else 0; in place (``a`` is returned), so that no volume-sized temporaries are made."""
    small = a <= tiny
    a[small] = 1.0
    xp.reciprocal(a, out=a)
    a[small] = 0.0
    return a


def _row_weights(op):
    """``1 / (A 1)``: the inverse length of every ray through the slab (0 for rays that miss it)."""
    return _inverse(op.xp, op.forward_ones())


def sirt(op, rows, settings: Settings, x0=None, callback=None, checkpoint=NO_CHECKPOINT):
    """Simultaneous iterative reconstruction of one slab from its projection rows ``(nviews, nrows, nx)``."""
    xp = op.xp
    relax = np.float32(settings.relax_for("sirt"))
    p = op.pack(rows)
    row_weight = _row_weights(op)
    col_weight = _inverse(xp, op.back_ones())
    col_weight *= relax
    x = op.zeros_volume() if x0 is None else x0
    residual = op.zeros_projections()
    update = op.zeros_volume()

    def step(_k):
        op.forward(x, out=residual)
        op.weighted_residual(p, residual, row_weight)
        op.back_add(residual, x, col_weight, settings.positivity, scratch=update)

    iterating.run(settings.iterations_for("sirt"), step, {"x": x}, xp, checkpoint, callback)
    return x


def spread_order(n: int) -> np.ndarray:
    """A permutation of range(n) whose successive entries are far apart (golden-ratio sequence)."""
    return np.argsort((np.arange(n) * 0.6180339887498949) % 1.0, kind="stable")


def sart(op, rows, settings: Settings, x0=None, callback=None, checkpoint=NO_CHECKPOINT):
    """Simultaneous algebraic reconstruction, one view per update.

    Column weights are taken as 1: the linear-interpolation weights of a view sum to one for every voxel that
    projects inside it, and are smaller (a shorter, safe step) only at the view's edges.
    """
    xp = op.xp
    relax = np.float32(settings.relax_for("sart"))
    p = op.pack(rows)
    row_weight = _row_weights(op)
    row_weight *= relax
    x = op.zeros_volume() if x0 is None else x0
    residual = xp.zeros((1,) + op.proj_shape[1:], dtype=np.float32)

    def step(_k):
        for t in spread_order(op.geom.nviews):
            view = slice(int(t), int(t) + 1)
            op.forward(x, out=residual, views=view)
            op.weighted_residual(p[view], residual, row_weight[view])
            op.back(residual, out=x, accumulate=True, views=view)
            if settings.positivity:
                op.clip_negative(x)

    iterating.run(settings.iterations_for("sart"), step, {"x": x}, xp, checkpoint, callback)
    return x
