"""The regulariser base: ``split``, ``divergences`` and ``add_normal`` built from a regulariser's primitives, and
the constraint ``x >= 0`` as one more component (see the package's docstring)."""

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
