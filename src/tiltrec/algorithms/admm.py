"""ADMM for ``min_x 1/2 |A x - p|^2 + lambda R(x)`` with ``R(x) = g(D x)`` (total variation or L1).

The views may carry an unknown constant offset (the vacuum or ice level of cryo-EM images, or a file's storage
offset): ``A x - p`` is taken about its mean over all pixels of all views, which fits that offset too (without it
the offset, which no volume explains at every tilt, turns into broad false density along Z).

Scaled-form ADMM on the split ``z = D x`` (Boyd et al. 2011, section 3.1.1), with ``P`` removing that mean::

    x <- argmin 1/2 |P(A x - p)|^2 + rho/2 |D x - z + u|^2  (CG: (A^T P A + rho D^T D) x = A^T P p + rho D^T (z - u))
    z <- prox_{(lambda/rho) g}(D x + u)
    u <- u + D x - z

The x-step takes ``cg_iterations`` conjugate-gradient steps warm-started from the previous x; its residual
``r = b - M x`` is carried from one outer iteration to the next (only ``b`` changes, by ``rho`` times the change
of ``g = D^T (z - u)``), so each inner step costs one forward and one back-projection and nothing else is
recomputed.  ``P A x`` is carried the same way, for the objective; ``h = D^T z`` for the dual residual
``rho |D^T (z_new - z_old)|``.  Written against ``op.xp``: the same code runs on NumPy and CuPy arrays.  Under
MPI each rank holds one block of Y slices: the regulariser exchanges halo slices and every inner product is summed
over the ranks, so the iterates are those of one process.
"""

from __future__ import annotations

import math
import time

import numpy as np

from ..mpi.halo import Halo
from ..mpi.world import World
from . import iterating
from .cg import conjugate_gradient
from .reductions import local_dot
from .regularizers import make_regularizer
from ..options.model import Settings
from .state import NO_CHECKPOINT


def noise_level(xp, rows, world: World) -> float:
    """Standard deviation of the views' pixel noise, from the differences of neighbouring pixels along X
    (``sqrt(mean(diff^2) / 2)``; white noise dominates them in cryo-ET views), over every rank's rows."""
    diff = rows[..., 1:] - rows[..., :-1]
    total, count = world.allreduce([local_dot(xp, diff, diff), diff.size])
    return math.sqrt(total / count / 2.0) if count else 0.0


def weights(settings: Settings, sigma: float, nviews: int) -> tuple[float, float]:
    """Absolute ``(lambda, rho)`` from the relative ``--lambda`` and ``--rho``: ``lambda`` scales with the noise
    ``sigma`` times ``sqrt(nviews)`` (the size of the noise's back-projection), ``rho`` with ``nviews`` (the size
    of ``A^T A``), so that the defaults fit any data scale, noise level and number of views."""
    return settings.lam * sigma * math.sqrt(nviews), settings.rho * nviews


def admm(op, rows, settings: Settings, x0=None, callback=None, checkpoint=NO_CHECKPOINT, world: World | None = None,
         log=None):
    """ADMM reconstruction of one block of slices from its projection rows ``(nviews, nrows, nx)``.

    ``world``: the ranks holding the other blocks (None: this is the whole volume).  ``log``: an object told the
    absolute weights first (``log.weights(lam, rho, sigma)``), then called with a dict per outer iteration:
    iteration, objective, data, regularization (lambda R(x)), primal and dual residual, cg (the inner steps'
    residual reduction), seconds.
    """
    xp = op.xp
    world = world or World()
    dot = lambda a, b: float(world.allreduce([local_dot(xp, a, b)])[0])  # noqa: E731
    sigma = noise_level(xp, rows, world)
    lam, rho = weights(settings, sigma, op.geom.nviews)
    if log is not None:
        log.weights(lam, rho, sigma)
    reg = make_regularizer(settings.reg, xp, Halo(world), settings.positivity)
    field = (reg.components,) + op.vol_shape
    p = op.pack(rows)
    pixels = float(world.allreduce([p.size])[0])

    def center(a):  # remove the mean over every view's pixels (all ranks'): the data's unknown offset
        a -= np.float32(world.allreduce([float(xp.sum(a, dtype=xp.float64))])[0] / pixels)

    center(p)
    x = op.zeros_volume() if x0 is None else x0
    r, d, q, h, g = (op.zeros_volume() for _ in range(5))  # h = D^T z and g = D^T (z - u), kept up to date
    z, u = (xp.zeros(field, dtype=np.float32) for _ in range(2))
    ax, ad = op.zeros_projections(), op.zeros_projections()

    def fresh():  # z = D x0 and u = 0, so that b - M x0 = A^T P (p - A x0)
        if x0 is not None:
            op.forward(x, out=ax)
            center(ax)
            reg.forward(x, z)
        reg.divergences(z, u, h, g)
        xp.subtract(p, ax, out=ad)
        op.back(ad, out=r)

    def normal(v, out):  # out = (A^T P A + rho D^T D) v, leaving P A v in ad
        op.forward(v, out=ad)
        center(ad)
        op.back(ad, out=out)
        reg.add_normal(v, out, rho)

    def follow(alpha):  # x moved by alpha d: ax = P A x moves by alpha P A d
        xp.multiply(ad, np.float32(alpha), out=ad)
        xp.add(ax, ad, out=ax)

    def step(k):
        began = time.perf_counter()
        history = conjugate_gradient(normal, x, r, settings.cg_iter, dot, xp, d, q, on_step=follow)
        value, primal = reg.split(x, z, u, lam / rho)
        dual = reg.divergences(z, u, h, g, r, rho)  # r follows b = A^T P p + rho g
        xp.subtract(ax, p, out=ad)
        value, primal, dual, data = world.allreduce([value, primal, dual, local_dot(xp, ad, ad)])
        if log is not None:
            log({"iteration": k + 1, "objective": data / 2 + lam * value, "data": data / 2,
                 "regularization": lam * value, "primal": math.sqrt(primal), "dual": rho * math.sqrt(dual),
                 "cg": math.sqrt(history[-1] / history[0]) if history[0] > 0 else 0.0,
                 "seconds": time.perf_counter() - began})

    state = {"x": x, "z": z, "u": u, "r": r, "ax": ax, "h": h, "g": g}
    iterating.run(settings.iterations_for("admm"), step, state, xp, checkpoint, callback, fresh)
    if settings.positivity:  # x meets the constraint only in the limit; its copy z does at every iteration
        xp.maximum(x, 0.0, out=x)
    return x
