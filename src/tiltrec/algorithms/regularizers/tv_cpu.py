"""Total variation on the CPU: ADMM's regulariser steps as fused Numba kernels, one pass over the volume each.

The same operators as ``tv.TotalVariation`` (forward differences, Neumann edges, the Y halo of neighbouring
ranks), with the optional ``x >= 0`` component folded in: ``split`` computes the gradient, shrinks it and updates
``z`` and ``u`` voxel by voxel; ``divergences`` forms ``D^T z`` and ``D^T (z - u)`` and updates ``r``;
``add_normal`` is a 7-point Laplacian.  Volumes are ``[z, x, y]``; threads share the z rows.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ... import cpu_threads
from .tv import TotalVariation

cpu_threads.give_numba()  # the thread count set before Numba was loaded

_JIT = dict(cache=True, nogil=True, fastmath=True, boundscheck=False, error_model="numpy")

# Each thread takes whole z rows; within a row, loops run along contiguous Y rows of the volume (vectorised).


@njit(parallel=True, **_JIT)
def _laplacian_add(x, out, scale, before, after, has_before, has_after, identity):
    """out += scale * (D^T D x [+ x]): each voxel's difference to its neighbours inside the volume (along Y also
    the neighbouring ranks' slices ``before`` and ``after``, when ``has_...``)."""
    nz, nx, ny = x.shape
    s = np.float32(scale)
    count_y = np.full(ny, 2.0, np.float32)  # Y neighbours of each voxel of a row
    count_y[0] = 1.0 + has_before
    count_y[ny - 1] = (1.0 if ny > 1 else 0.0) + has_after
    if ny == 1:
        count_y[0] += has_before
    for k in prange(nz):
        near = np.empty(ny, np.float32)
        for i in range(nx):
            count = np.float32((k > 0) + (k < nz - 1) + (i > 0) + (i < nx - 1) + identity)
            near[:] = 0.0
            if k > 0:
                near += x[k - 1, i]
            if k < nz - 1:
                near += x[k + 1, i]
            if i > 0:
                near += x[k, i - 1]
            if i < nx - 1:
                near += x[k, i + 1]
            for j in range(1, ny):
                near[j] += x[k, i, j - 1]
            for j in range(ny - 1):
                near[j] += x[k, i, j + 1]
            if has_before:
                near[0] += before[k, i]
            if has_after:
                near[ny - 1] += after[k, i]
            for j in range(ny):
                out[k, i, j] += s * ((count + count_y[j]) * x[k, i, j] - near[j])


@njit(parallel=True, **_JIT)
def _split(x, z, u, t, after, has_after, positive):
    """z = shrink_t(D x + u) per voxel (and max(x + u, 0)), u = D x + u - z; returns (sum |D x|, |D x - z|^2)."""
    nz, nx, ny = x.shape
    value = 0.0
    primal = 0.0
    tt = np.float32(t)
    one = np.float32(1.0)
    for k in prange(nz):
        grad = np.zeros((3, ny), np.float32)
        value_k = 0.0
        primal_k = 0.0
        for i in range(nx):
            if k < nz - 1:
                grad[0] = x[k + 1, i] - x[k, i]
            if i < nx - 1:
                grad[1] = x[k, i + 1] - x[k, i]
            else:
                grad[1] = 0.0
            for j in range(ny - 1):
                grad[2, j] = x[k, i, j + 1] - x[k, i, j]
            grad[2, ny - 1] = after[k, i] - x[k, i, ny - 1] if has_after else 0.0
            sums = np.float32(0.0)
            misses = np.float32(0.0)
            for j in range(ny):
                g0, g1, g2 = grad[0, j], grad[1, j], grad[2, j]
                sums += np.sqrt(g0 * g0 + g1 * g1 + g2 * g2)
                v0, v1, v2 = g0 + u[0, k, i, j], g1 + u[1, k, i, j], g2 + u[2, k, i, j]
                f = one - tt / max(np.sqrt(v0 * v0 + v1 * v1 + v2 * v2), tt) if tt > 0 else one
                z0, z1, z2 = f * v0, f * v1, f * v2
                e0, e1, e2 = g0 - z0, g1 - z1, g2 - z2
                misses += e0 * e0 + e1 * e1 + e2 * e2
                z[0, k, i, j] = z0
                z[1, k, i, j] = z1
                z[2, k, i, j] = z2
                u[0, k, i, j] = v0 - z0
                u[1, k, i, j] = v1 - z1
                u[2, k, i, j] = v2 - z2
            if positive:
                for j in range(ny):
                    c = x[k, i, j]
                    v3 = c + u[3, k, i, j]
                    z3 = max(v3, np.float32(0.0))
                    misses += (c - z3) * (c - z3)
                    z[3, k, i, j] = z3
                    u[3, k, i, j] = v3 - z3
            value_k += sums
            primal_k += misses
        value += value_k
        primal += primal_k
    return value, primal


@njit(parallel=True, **_JIT)
def _divergences(z, u, h, g, r, rho, before_z, before_u, has_before, y_edge, positive, update_r):
    """h = D^T z, g = D^T (z - u) per voxel (with the identity component); r += rho * (g - old g) if
    ``update_r``; returns |h - old h|^2."""
    nz, nx, ny = h.shape
    dual = 0.0
    rr = np.float32(rho)
    for k in prange(nz):
        dz = np.empty(ny, np.float32)
        du = np.empty(ny, np.float32)
        dual_k = 0.0
        for i in range(nx):
            dz[:] = 0.0
            du[:] = 0.0
            if k > 0:
                dz += z[0, k - 1, i]
                du += u[0, k - 1, i]
            if k < nz - 1:
                dz -= z[0, k, i]
                du -= u[0, k, i]
            if i > 0:
                dz += z[1, k, i - 1]
                du += u[1, k, i - 1]
            if i < nx - 1:
                dz -= z[1, k, i]
                du -= u[1, k, i]
            for j in range(1, ny):
                dz[j] += z[2, k, i, j - 1]
                du[j] += u[2, k, i, j - 1]
            for j in range(ny - 1):
                dz[j] -= z[2, k, i, j]
                du[j] -= u[2, k, i, j]
            if has_before:
                dz[0] += before_z[k, i]
                du[0] += before_u[k, i]
            if not y_edge:
                dz[ny - 1] -= z[2, k, i, ny - 1]
                du[ny - 1] -= u[2, k, i, ny - 1]
            if positive:
                dz += z[3, k, i]
                du += u[3, k, i]
            change = np.float32(0.0)
            for j in range(ny):
                change += (dz[j] - h[k, i, j]) * (dz[j] - h[k, i, j])
                h[k, i, j] = dz[j]
            dual_k += change
            dz -= du  # the new g
            if update_r:
                for j in range(ny):
                    r[k, i, j] += rr * (dz[j] - g[k, i, j])
            g[k, i] = dz
        dual += dual_k
    return dual


class CpuTotalVariation(TotalVariation):
    """Isotropic TV (with ``x >= 0`` when ``positivity``) whose ADMM steps run as fused Numba kernels."""

    def __init__(self, xp, halo, positivity: bool = False):
        super().__init__(xp, halo)
        self.positivity = positivity
        self.components = 4 if positivity else 3

    def _edges(self, before, after, like):
        """The neighbours' slices (contiguous), or placeholders the kernels ignore."""
        blank = np.zeros(like.shape[:2], np.float32)
        return tuple(blank if s is None else np.ascontiguousarray(s) for s in (before, after))

    def add_normal(self, x, out, scale: float) -> None:
        before, after = self.halo.neighbours(x, np)
        b, a = self._edges(before, after, x)
        _laplacian_add(x, out, scale, b, a, before is not None, after is not None, self.positivity)

    def split(self, x, z, u, t: float) -> tuple[float, float]:
        _, after = self.halo.neighbours(x, np)
        _, a = self._edges(None, after, x)
        value, primal = _split(x, z, u, t, a, after is not None, self.positivity)
        return float(value), float(primal)

    def divergences(self, z, u, h, g, r=None, rho: float = 0.0) -> float:
        before_z, _ = self.halo.neighbours(z[2], np)
        before_u, _ = self.halo.neighbours(u[2], np)
        bz, _ = self._edges(before_z, None, h)
        bu, _ = self._edges(before_u, None, h)
        return float(_divergences(z, u, h, g, h if r is None else r, rho, bz, bu, before_z is not None,
                                  not self.halo.has_next, self.positivity, r is not None))

    def forward(self, x, out) -> None:
        super().forward(x, out[:3])
        if self.positivity:
            out[3] = x

    def adjoint(self, v, out, sign: int = 1) -> None:
        super().adjoint(v[:3], out, sign)
        if self.positivity:
            (np.add if sign > 0 else np.subtract)(out, v[3], out=out)
