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
from .base import NonNegative, Regularizer


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
