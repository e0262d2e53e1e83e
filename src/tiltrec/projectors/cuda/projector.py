"""CUDA backend: the slab projector on the kernels of ``kernels/projector.cu``.

The array module and the launcher are parameters: CuPy and :class:`~.launcher.CupyLauncher` on a GPU; NumPy and
the CPU emulator in the tests, which run the same kernels.
"""

from __future__ import annotations

from dataclasses import fields, replace

import numpy as np

from ..base import SlabProjector
from ..coefficients import SlabCoefficients
from .launcher import Launcher, blocks

BLOCK = (32, 8, 1)  # 32 consecutive Y (contiguous in memory) per warp, 8 columns
FLAT_BLOCK = 256  # threads per block of the element-wise kernels (kernels/update.cu)


class CudaProjector(SlabProjector):
    """The slab projector on a GPU (or on its emulation): ``xp`` arrays, kernels through ``launcher``."""

    def __init__(self, geom, y0: int, y1: int, xp, launcher: Launcher):
        super().__init__(geom, y0, y1)
        self.xp = xp
        self.launcher = launcher
        self._windows = None  # local alignments: the rows each slab slice's forward projection fills, when needed
        # the coefficients (or local samples, computed on the host: local_alignments.py) on the device; the slab
        # coefficients as doubles (the same values), which kernels/projector.cu computes with
        arrays = {f.name: getattr(self.coef, f.name) for f in fields(self.coef)}
        as_double = isinstance(self.coef, SlabCoefficients)
        self.coef = replace(self.coef, **{k: xp.asarray(a, dtype=np.float64 if as_double else a.dtype)
                                          for k, a in arrays.items() if isinstance(a, np.ndarray)})

    def _launch(self, name: str, fast: int, slow: int, planes: int, args: tuple) -> None:
        """One thread per element of a (planes, slow, fast) output, ``fast`` contiguous."""
        grid = (blocks(fast, BLOCK[0]), blocks(slow, BLOCK[1]), planes)
        self.launcher.launch(name, grid, BLOCK, args)

    def _launch_flat(self, name: str, arrays: tuple, *scalars) -> None:
        """One thread per element of the flat ``arrays`` (the first one's size, passed after them, then
        ``scalars``)."""
        n = arrays[0].size
        self.launcher.launch(name, (blocks(n, FLAT_BLOCK), 1, 1), (FLAT_BLOCK, 1, 1), (*arrays, np.int64(n), *scalars))

    def weighted_residual(self, measured, projected, weight) -> None:
        self._launch_flat("weighted_residual", (measured, projected, weight))

    def add_weighted(self, x, update, weight, positivity: bool) -> None:
        self._launch_flat("add_weighted", (x, update, weight), np.int32(bool(positivity)))

    def clip_negative(self, x) -> None:
        self._launch_flat("clip_negative", (x,))

    def _sizes(self, proj, vol) -> tuple:
        """``nv, ncol, nrow, nz, nx, ny`` as the kernels' ``int`` parameters."""
        return tuple(np.int32(n) for n in proj.shape + vol.shape)

    def _frame_args(self, vol) -> tuple:
        """The frame's sizes and map (kernels/frame.cu) for the slab volume ``vol``."""
        f = self.frame
        nq, nx, nr = (np.int32(n) for n in f.shape)
        nz, ny = (np.int32(n) for n in (vol.shape[0], vol.shape[2]))
        frame = (f.y_first, f.z_first, f.sin_a, f.cos_a, f.k0, f.r_first)
        return (nq, nx, nr, nz, ny) + tuple(np.float64(v) for v in frame)

    def _back(self, proj, vol, c):
        if self.local:  # kernels/local.cu
            g = self.geom
            sizes = (c.v0, c.v1, c.xf.shape[1]) + proj.shape[1:] + (self.r0, g.ny, c.legal0, c.legal1) + vol.shape
            self._launch("back_local", vol.shape[2], vol.shape[1], vol.shape[0],
                         (proj, c.xf, c.xz, c.yf, c.yz, c.zz, vol, *(np.int32(n) for n in sizes)))
        elif self.frame is not None:
            q = self.xp.zeros(self.frame.shape, dtype=np.float32)
            self._back_flat(proj, q, c)
            self._launch("compose", vol.shape[2], vol.shape[1], vol.shape[0], (q, vol) + self._frame_args(vol))
        elif self.per_view_pitch:
            nv, ncol, nrow, nz, nx, ny = self._sizes(proj, vol)
            args = (proj, vol, c.u_row, c.u_dx, c.u_dy, c.r_row, c.r_dy, nv, ncol, nrow, nz, nx, ny)
            self._launch("back_pitched", ny, nx, nz, args)
        else:
            self._back_flat(proj, vol, c)

    def _back_flat(self, proj, vol, c):
        nv, ncol, nrow, nz, nx, ny = self._sizes(proj, vol)
        self._launch("back_flat", ny, nx, nz, (proj, vol, c.u_row, c.u_dx, nv, ncol, nz, nx, ny))

    def _forward(self, vol, proj, c):
        if self.local:
            self._forward_local(vol, proj, c)
        elif self.frame is not None:
            q = self.xp.zeros(self.frame.shape, dtype=np.float32)
            nq, nx, nr = self.frame.shape
            self._launch("compose_transposed", nr, nx, nq, (vol, q) + self._frame_args(vol))
            self._forward_flat(q, proj, c)
        elif self.per_view_pitch:
            nv, ncol, nrow, nz, nx, ny = self._sizes(proj, vol)
            args = (vol, proj, c.u_row, c.u_dx, c.u_dy, c.r_row, c.r_dy, nv, ncol, nrow, nz, nx, ny)
            self._launch("forward_pitched", nrow, ncol, nv, args)
        else:
            self._forward_flat(vol, proj, c)

    def _forward_local(self, vol, proj, c):
        """kernels/local.cu: each slice's voxels into its own window of rows, then the windows summed in slice
        order; as many views at a time as keep the windows within the size of the projections."""
        if self._windows is None:
            self._windows = _row_windows(self.xp, c, self.r0, self.r1 - self.r0, self.geom.ny)
        g, (first, window) = self.geom, self._windows
        nv, nrows, nx = proj.shape
        nslab = vol.shape[2]
        per_view = nslab * window * nx
        chunk = max(1, min(nv, proj.size // per_view))
        parts = self.xp.empty(chunk * per_view, dtype=np.float32)
        for v in range(0, nv, chunk):
            n = min(chunk, nv - v)
            sizes = (c.v0 + v, n, c.xf.shape[1], nx, self.r0, g.ny, c.legal0, c.legal1) + vol.shape + (window,)
            self._launch("forward_local_parts", nslab, n, 1, (vol, c.xf, c.xz, c.yf, c.yz, c.zz, first, parts,
                                                              *(np.int32(k) for k in sizes)))
            self._launch("forward_local_sum", nx, nrows, n, (parts, first, proj[v:v + n],
                                                             *(np.int32(k) for k in (n, nslab, nrows, nx, window))))

    def _forward_flat(self, vol, proj, c):
        nv, ncol, nrow, nz, nx, ny = self._sizes(proj, vol)
        self._launch("forward_flat", ny, ncol, nv, (vol, proj, c.u_row, c.u_dx, nv, ncol, nz, nx, ny))


def _row_windows(xp, c, r0: int, nrows: int, ny: int) -> tuple[object, int]:
    """Per slab slice (``xp`` arrays), the first of the held view rows (from ``r0``) its voxels' forward
    projection can reach, and the window height that covers every slice: from the extreme ``yproj`` of the slice
    (the positions are linear along the thickness, so its ends bound them), clamped as IMOD's rules clamp, with two
    rows of margin for the float32 rounding of the positions and the row below the sample."""
    ends = [c.yf + z * c.yz for z in (c.zz[0], c.zz[-1])]
    low = xp.minimum(xp.maximum(xp.minimum(*ends).min(axis=(1, 2)), 1.0), ny)
    high = xp.minimum(xp.maximum(xp.maximum(*ends).max(axis=(1, 2)), 1.0), ny)
    first = xp.maximum(c.legal0, xp.floor(low).astype(np.int64) - 3) - r0
    first = xp.minimum(xp.maximum(first, 0), nrows - 1)
    stop = xp.minimum(c.legal1, xp.floor(high).astype(np.int64) + 3) - r0
    stop = xp.minimum(xp.maximum(stop, first + 1), nrows)
    return first.astype(np.float32), int((stop - first).max())
