"""Conjugate gradients for a symmetric positive definite system ``M x = b``, against any array module.

Each step lowers the energy ``1/2 x^T M x - b^T x`` (the M-norm of the error) and never raises it; the residual's
2-norm usually falls too but may rise for a step (a property of CG, not a fault).  ``beta`` is
``|r_new|^2 / |r_old|^2`` (Fletcher-Reeves; TiltRec negated it, which is why its ADMM diverged with more steps).
"""

from __future__ import annotations


def conjugate_gradient(apply, x, r, steps: int, dot, xp, d, q, on_step=None) -> list[float]:
    """``steps`` CG steps on ``M x = b`` from ``x``, whose residual ``r = b - M x`` is given; both are updated
    in place (warm start: the next call continues from them).

    Args:
        apply: ``apply(d, out)`` sets ``out = M d``.
        dot: ``dot(a, b) -> float``, the inner product (summed over every rank's part under MPI).
        xp: the array module of ``x``.
        d, q: work arrays shaped like ``x`` (search direction and ``M d``).
        on_step: ``on_step(alpha)`` after each ``x += alpha d``, while ``d`` still holds the direction (for
            quantities linear in ``x`` that the caller updates alongside, such as ``A x``).

    Returns:
        ``|r|^2`` before the first step and after each step taken (a step is skipped once ``r`` is zero).
    """
    scalar = x.dtype.type
    d[...] = r
    rr = dot(r, r)
    history = [rr]
    for _ in range(steps):
        if rr == 0.0:
            break
        apply(d, q)
        alpha = rr / dot(d, q)
        q *= scalar(alpha)
        r -= q
        xp.multiply(d, scalar(alpha), out=q)
        x += q
        if on_step:
            on_step(alpha)
        rr_new = dot(r, r)
        d *= scalar(rr_new / rr)
        d += r
        rr = rr_new
        history.append(rr)
    return history
