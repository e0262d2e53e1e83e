"""Numba kernels: the pitched projector pair, the tilted frame's compose pair and the dot products of
algorithms.reductions (the flat pair is compiled C: flat_kernels.py; the element-wise steps: elementwise.py).

Layouts (Y innermost so the interpolation weight, which does not depend on Y without pitch, is reused along a
contiguous, vectorised loop):

- volume slab ``V[z, x, y]``;
- projections ``P[t, u, r]``: view, column, row.

A sample at column ``u`` (row ``r``) exists when ``0 <= u < nu - 1`` (and ``0 <= r < nr - 1``), IMOD's legal range;
it interpolates columns ``floor(u)`` and ``floor(u) + 1``.  Samples outside contribute nothing: the algorithms add
IMOD's fill value where they need one.  Back and forward kernels apply the same rule, so they are exact transposes.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .. import cpu_threads

cpu_threads.give_numba()

_JIT = dict(cache=True, nogil=True, fastmath=True, boundscheck=False, error_model="numpy")


@njit(parallel=True, **_JIT)
def back_pitched(P, V, u_row, u_dx, u_dy, r_row, r_dy):
    """Bilinear back-projection with X-axis tilt: the sample row and column both move along Y."""
    nv, ncol, nrow = P.shape
    nz, nx, ny = V.shape
    umax = ncol - 1.0
    rmax = nrow - 1.0
    for z in prange(nz):
        for t in range(nv):
            c = u_dx[t]
            cy = u_dy[t]
            ry = r_dy[t]
            r_base = r_row[t, z]
            for x in range(nx):
                u_base = u_row[t, z] + x * c
                v = V[z, x]
                for y in range(ny):
                    u = u_base + y * cy
                    r = r_base + y * ry
                    if u < 0.0 or u >= umax or r < 0.0 or r >= rmax:
                        continue
                    i = int(u)
                    k = int(r)
                    f = np.float32(u - i)
                    g = np.float32(r - k)
                    a = P[t, i, k] + g * (P[t, i, k + 1] - P[t, i, k])
                    b = P[t, i + 1, k] + g * (P[t, i + 1, k + 1] - P[t, i + 1, k])
                    v[y] += a + f * (b - a)


@njit(parallel=True, **_JIT)
def forward_pitched(V, P, u_row, u_dx, u_dy, r_row, r_dy):
    """Transpose of back_pitched; parallel over views so that no two threads write the same view."""
    nv, ncol, nrow = P.shape
    nz, nx, ny = V.shape
    umax = ncol - 1.0
    rmax = nrow - 1.0
    for t in prange(nv):
        c = u_dx[t]
        cy = u_dy[t]
        ry = r_dy[t]
        for z in range(nz):
            r_base = r_row[t, z]
            for x in range(nx):
                u_base = u_row[t, z] + x * c
                v = V[z, x]
                for y in range(ny):
                    u = u_base + y * cy
                    r = r_base + y * ry
                    if u < 0.0 or u >= umax or r < 0.0 or r >= rmax:
                        continue
                    i = int(u)
                    k = int(r)
                    f = np.float32(u - i)
                    g = np.float32(r - k)
                    a = v[y]
                    fa = f * a
                    ga = a - fa
                    P[t, i, k] += ga - g * ga
                    P[t, i, k + 1] += g * ga
                    P[t, i + 1, k] += fa - g * fa
                    P[t, i + 1, k + 1] += g * fa


COMPOSE_X_BLOCK = 64  # columns per task of compose (bin/bench kernels; 16-128 within 20 % of each other)


@njit(parallel=True, **_JIT)
def compose(Q, V, k, m, w, x_block):
    """V[z, x, y] += bilinear interpolation of the tilted frame Q[:, x, :] at lattice row k[z, y] and projection row
    m[z, y] with weights w[:, z, y] (pitch_frame.py).  Parallel over blocks of columns; the column loop is innermost,
    so that the weights and rows of a voxel are loaded once for the whole block (2-3x faster than runs of slices)."""
    nz, nx, ny = V.shape
    for xb in prange((nx + x_block - 1) // x_block):
        x0, x1 = xb * x_block, min(nx, (xb + 1) * x_block)
        for z in range(nz):
            for y in range(ny):
                a, b = k[z, y], m[z, y]
                w0, w1, w2, w3 = w[0, z, y], w[1, z, y], w[2, z, y], w[3, z, y]
                for x in range(x0, x1):
                    V[z, x, y] += w0 * Q[a, x, b] + w1 * Q[a, x, b + 1] + w2 * Q[a + 1, x, b] + w3 * Q[a + 1, x, b + 1]


@njit(parallel=True, **_JIT)
def compose_transposed(V, Q, k, m, w, x_block):
    """Q[:, x, :] += transpose of compose; parallel over blocks of columns (no two threads write the same column)."""
    nz, nx, ny = V.shape
    for xb in prange((nx + x_block - 1) // x_block):
        x0, x1 = xb * x_block, min(nx, (xb + 1) * x_block)
        for z in range(nz):
            for y in range(ny):
                a, b = k[z, y], m[z, y]
                w0, w1, w2, w3 = w[0, z, y], w[1, z, y], w[2, z, y], w[3, z, y]
                for x in range(x0, x1):
                    v = V[z, x, y]
                    Q[a, x, b] += w0 * v
                    Q[a, x, b + 1] += w1 * v
                    Q[a + 1, x, b] += w2 * v
                    Q[a + 1, x, b + 1] += w3 * v


@njit(parallel=True, cache=True, nogil=True, fastmath=True, boundscheck=False)
def dot_rows(a, b):
    """``sum(a * b)`` of two same-shape 2-D float32 arrays, accumulated in float64 (algorithms/reductions.py)."""
    total = 0.0
    for i in prange(a.shape[0]):
        row = 0.0
        for j in range(a.shape[1]):
            row += np.float64(a[i, j]) * np.float64(b[i, j])
        total += row
    return total
