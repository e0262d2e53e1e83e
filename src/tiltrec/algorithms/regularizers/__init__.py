"""Regularisers for ADMM, by name: each is ``R(x) = g(D x)`` with a linear ``D`` and a simple ``g``.

A regulariser works on volumes and on fields of ``components`` volumes stacked along a first axis, all arrays of
the module ``xp`` (NumPy or CuPy).  What ADMM calls:

- ``add_normal(x, out, scale)``: ``out += scale * D^T D x`` (in the CG steps);
- ``split(x, z, u, t) -> (value, primal)``: the z- and u-updates ``z = prox_{t g}(D x + u)``,
  ``u = D x + u - z``, in place; returns ``g(D x)`` and ``|D x - z|^2``;
- ``divergences(z, u, h, g, r=None, rho=0) -> dual``: ``h = D^T z`` and ``g = D^T (z - u)``, in place, adding
  ``rho * (change of g)`` to ``r``; returns ``|change of h|^2``.

Sums are this rank's part.  ``Regularizer`` builds these from the primitives ``forward`` (``out = D x``),
``adjoint`` (``out += sign D^T v``), ``prox`` and ``value``, with work arrays of its own; the CPU's total variation
fuses each into one pass of Numba kernels (``tv_cpu``).
"""

from __future__ import annotations

import numpy as np

from ...mpi.halo import Halo


class Regularizer:
    """``split``, ``divergences`` and ``add_normal`` from the primitives, for any backend."""

    components = 1

    def __init__(self, xp, halo: Halo):
        self.xp = xp
        self.halo = halo
        self._work = None

    def work(self, like):
        """Work arrays shaped after the volume ``like``: a field and two volumes (allocated once)."""
        if self._work is None:
            field = self.xp.zeros((self.components,) + like.shape, dtype=np.float32)
            self._work = field, self.xp.zeros((2,) + like.shape, dtype=np.float32)
        return self._work

    def add_normal(self, x, out, scale: float) -> None:
        dx, _ = self.work(x)
        self.forward(x, dx)
        dx *= np.float32(scale)
        self.adjoint(dx, out)

    def split(self, x, z, u, t: float) -> tuple[float, float]:
        xp = self.xp
        dx, volumes = self.work(x)
        self.forward(x, dx)
        value = self.value(dx, volumes)
        u += dx
        z[...] = u
        self.prox(z, t, volumes)
        u -= z
        dx -= z
        return value, float(xp.sum(xp.square(dx, out=dx), dtype=xp.float64))

    def divergences(self, z, u, h, g, r=None, rho: float = 0.0) -> float:
        xp = self.xp
        _, (new, _) = self.work(h)
        new[...] = 0
        self.adjoint(z, new)
        h -= new
        dual = float(xp.sum(xp.square(h, out=h), dtype=xp.float64))
        h[...] = new
        self.adjoint(u, new, sign=-1)
        if r is not None:
            g -= new
            g *= np.float32(rho)
            r -= g
        g[...] = new
        return dual


class NonNegative(Regularizer):
    """``base`` plus the constraint ``x >= 0``: one more component, the volume itself, projected onto ``>= 0``
    by the proximal map (no contribution to the value)."""

    def __init__(self, base: Regularizer):
        super().__init__(base.xp, base.halo)
        self.base = base
        self.components = base.components + 1

    def forward(self, x, out) -> None:
        self.base.forward(x, out[:-1])
        out[-1] = x

    def adjoint(self, v, out, sign: int = 1) -> None:
        self.base.adjoint(v[:-1], out, sign)
        (self.xp.add if sign > 0 else self.xp.subtract)(out, v[-1], out=out)

    def value(self, v, scratch) -> float:
        return self.base.value(v[:-1], scratch)

    def prox(self, v, t: float, scratch) -> None:
        self.base.prox(v[:-1], t, scratch)
        self.xp.maximum(v[-1], 0.0, out=v[-1])


def make_regularizer(name: str, xp, halo: Halo, positivity: bool = False) -> Regularizer:
    """The regulariser ``name`` ("tv" or "l1") for arrays of ``xp``, with ``x >= 0`` when ``positivity``; on
    NumPy arrays TV runs on fused Numba kernels."""
    from .l1 import L1
    from .tv import TotalVariation

    if name == "tv" and xp is np:
        from .tv_cpu import CpuTotalVariation

        return CpuTotalVariation(xp, halo, positivity)
    reg = {"tv": TotalVariation, "l1": L1}[name](xp, halo)
    return NonNegative(reg) if positivity else reg
