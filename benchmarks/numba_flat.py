"""The Numba flat projector pair the CPU backend used before the compiled kernels (flat.c): kept as the baseline
that ``bin/bench --only kernels`` runs beside the compiled pair, in the same run on the same data."""

from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

from tiltrec.projectors.cpu import CpuProjector

_JIT = dict(cache=True, nogil=True, fastmath=True, boundscheck=False, error_model="numpy")
Z_BLOCK = 16  # thickness rows a projection task keeps in cache while it loops over the views
FORWARD_TASKS = 16  # forward projections of fewer views split their thickness rows into this many partial sums


@njit(parallel=True, **_JIT)
def back_flat(P, V, u_row, u_dx, z_block):
    """V[z, x, y] += sum_t lerp(P[t, :, y], u(t, z, x)) for zero pitch; parallel over blocks of z rows."""
    nv, ncol, _ = P.shape
    nz, nx, ny = V.shape
    umax = ncol - 1.0
    for zb in prange((nz + z_block - 1) // z_block):
        for t in range(nv):
            c = u_dx[t]
            for z in range(zb * z_block, min(nz, (zb + 1) * z_block)):
                base = u_row[t, z]
                for x in range(nx):
                    u = base + x * c
                    if u < 0.0 or u >= umax:
                        continue
                    i = int(u)
                    f = np.float32(u - i)
                    # a full-range inner loop: LLVM vectorises range(ny) but not range(a, b)
                    for y in range(ny):
                        a = P[t, i, y]
                        V[z, x, y] += a + f * (P[t, i + 1, y] - a)


@njit(parallel=True, **_JIT)
def forward_flat(V, P, u_row, u_dx, z_block, parts):
    """P[t * parts + s, :, y] += part ``s`` of the transpose of back_flat for view t: the thickness rows z with
    ``z % parts == s``; the caller sums the parts.  Blocks of z rows in turn (a block stays in cache while every view
    reads it), the (view, part) tasks of a block in parallel, so no two threads write the same array plane; parts
    > 1 keep every thread busy with fewer views than threads (SART projects one view at a time)."""
    tasks, ncol, _ = P.shape
    nz, nx, ny = V.shape
    umax = ncol - 1.0
    for zb in range((nz + z_block - 1) // z_block):
        for task in prange(tasks):
            t = task // parts
            c = u_dx[t]
            for z in range(zb * z_block + task % parts, min(nz, (zb + 1) * z_block), parts):
                base = u_row[t, z]
                for x in range(nx):
                    u = base + x * c
                    if u < 0.0 or u >= umax:
                        continue
                    i = int(u)
                    f = np.float32(u - i)
                    g = np.float32(1.0) - f
                    for y in range(ny):
                        a = V[z, x, y]
                        P[task, i, y] += g * a
                        P[task, i + 1, y] += f * a


class NumbaFlatProjector(CpuProjector):
    """CpuProjector with the Numba flat pair instead of the compiled one."""

    def _back_overwrites(self) -> bool:
        return False  # the Numba kernel adds: back() zeroes the volume first, as the CPU backend did

    def _back_flat(self, proj, vol, c) -> None:
        z_block = max(1, min(Z_BLOCK, vol.shape[0] // (2 * numba.get_num_threads())))
        back_flat(proj, vol, c.u_row, c.u_dx, z_block)

    def _forward_flat(self, vol, proj, c) -> None:
        nv = proj.shape[0]
        parts = max(1, FORWARD_TASKS // nv)
        if parts == 1:
            forward_flat(vol, proj, c.u_row, c.u_dx, Z_BLOCK, 1)
            return
        partial = np.zeros((nv * parts,) + proj.shape[1:], dtype=np.float32)
        forward_flat(vol, partial, c.u_row, c.u_dx, Z_BLOCK, parts)
        proj += partial.reshape((nv, parts) + proj.shape[1:]).sum(axis=1)
