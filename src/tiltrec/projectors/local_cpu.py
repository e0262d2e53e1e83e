"""Back-projection with IMOD's local alignments (tiltrec.local_alignments), as IMOD's tilt does it on the CPU: every
voxel samples the (filtered) views bilinearly at its own position, ``xproj = xf + zz xz``, ``yproj = yf + zz yz``
per column, view and slice; no cosine stretching.  A sample is taken where ``1 <= xproj <= nx`` and
``1 <= yproj <= ny`` (a ``yproj`` within 3.05 rows beyond the first or last row is moved onto it) and both rows it
reads are among those IMOD holds in memory for the run (local_alignments.loaded_rows); elsewhere it is 0, the
fill value once WBP has subtracted it from the views."""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ..errors import TiltrecError
from ..local_alignments import YTOL, LocalModel, loaded_rows, projection_factors, row_span, z_offsets

F32 = np.float32
_JIT = dict(cache=True, nogil=True, fastmath=False, boundscheck=False, error_model="numpy")


COLUMN_BLOCK = 32  # columns one task takes: their samples in all views for one slice stay in L1/L2


@njit(**_JIT)
def _checked(rows, v, r0, ny, legal0, legal1, x, y, col, i):
    """Add the sample at ``(x, y)`` to ``col[i]`` with every rule of IMOD's (edge rows, inside, loaded rows)."""
    one = F32(1.0)
    nx = rows.shape[2]
    ny_top = F32(ny)
    if y >= one - YTOL and y <= ny_top + YTOL:
        y = max(one, min(ny_top, y))
    if x < one or x > F32(nx) or y < one or y > ny_top:
        return
    ix = min(nx - 1, int(x))
    fx = x - F32(ix)
    iy = min(ny - 1, int(y))
    fy = y - F32(iy)
    if iy - 1 < legal0 or iy + 1 > legal1:
        return
    low, high = iy - 1 - r0, iy - r0
    col[i] = col[i] + (one - fy) * ((one - fx) * rows[v, low, ix - 1] + fx * rows[v, low, ix]) \
        + fy * ((one - fx) * rows[v, high, ix - 1] + fx * rows[v, high, ix])


@njit(**_JIT)
def _plain(x, y, nx, ny, legal0, legal1):
    """Whether the sample at ``(x, y)`` needs none of the rules: inside, not at the last column or row, both rows
    loaded (then the rules change nothing, and the sample is taken the short way)."""
    if x < F32(1.0) or x >= F32(nx - 1) or y < F32(1.0) or y >= F32(ny - 1):
        return False
    iy = int(y)
    return iy - 1 >= legal0 and iy + 1 <= legal1


COLUMN_BLOCK = 32  # columns one task takes: their samples in all views for one slice stay in L1/L2


@njit(parallel=True, **_JIT)
def _back_local(rows, r0, ny, legal0, legal1, xf, xz, yf, yz, zz, out):
    """``out[i, j, s] += samples`` of ``rows[v, r - r0, x]`` (views' rows ``r0 ..``, 0-based, of ``ny``) for slab
    slice ``s``, column ``j``, thickness row ``i``; rows ``legal0 <= r < legal1`` may be read.  A task takes a
    block of columns and goes slice by slice, so that the few rows of each view its samples read stay in cache;
    every voxel adds its views in order, as IMOD does.  Along a column's thickness the position moves linearly, so
    the samples that need no edge rule form one run, taken without tests; the ends go through every rule."""
    nviews, nrows, nx = rows.shape
    thick, width, nslab = out.shape
    one = F32(1.0)
    nblocks = (width + COLUMN_BLOCK - 1) // COLUMN_BLOCK
    for block in prange(nblocks):
        j0 = block * COLUMN_BLOCK
        j1 = min(width, j0 + COLUMN_BLOCK)
        acc = np.zeros((COLUMN_BLOCK, thick), np.float32)
        for s in range(nslab):
            acc[:, :] = F32(0.0)
            for v in range(nviews):
                for j in range(j0, j1):
                    a, b, c, d = xf[s, v, j], xz[s, v, j], yf[s, v, j], yz[s, v, j]
                    col = acc[j - j0]
                    first = 0
                    while first < thick and not _plain(a + zz[first] * b, c + zz[first] * d, nx, ny, legal0, legal1):
                        _checked(rows, v, r0, ny, legal0, legal1, a + zz[first] * b, c + zz[first] * d, col, first)
                        first += 1
                    last = thick - 1
                    while last >= first and not _plain(a + zz[last] * b, c + zz[last] * d, nx, ny, legal0, legal1):
                        _checked(rows, v, r0, ny, legal0, legal1, a + zz[last] * b, c + zz[last] * d, col, last)
                        last -= 1
                    for i in range(first, last + 1):
                        x = a + zz[i] * b
                        y = c + zz[i] * d
                        ix = int(x)
                        fx = x - F32(ix)
                        iy = int(y)
                        fy = y - F32(iy)
                        low = iy - 1 - r0
                        col[i] = col[i] + (one - fy) * ((one - fx) * rows[v, low, ix - 1] + fx * rows[v, low, ix]) \
                            + fy * ((one - fx) * rows[v, low + 1, ix - 1] + fx * rows[v, low + 1, ix])
            for j in range(j0, j1):
                for i in range(thick):
                    out[i, j, s] += acc[j - j0, i]


def back_local(model: LocalModel, rows: np.ndarray, y0: int, y1: int, r0: int, run: tuple[int, int],
               ny: int) -> np.ndarray:
    """Back-project ``rows`` (float32 ``(nviews, nrows, nx)``, the views' rows from ``r0``) into output slices from
    view rows ``[y0, y1)``: ``(thickness, width, y1 - y0)``.  ``run``: the slices of the whole reconstruction,
    which decide the rows IMOD holds; ``ny``: the views' rows."""
    legal0, legal1 = loaded_rows(model, *run)
    xf, xz, yf, yz = projection_factors(model, y0, y1)
    low, high = row_span(yf, yz, model)  # the rows the samples read must be those given (planned by slab_rows)
    if max(legal0, int(max(low, 1.0)) - 1) < r0 or min(legal1, int(min(high, ny)) + 1) > r0 + rows.shape[1]:
        raise TiltrecError(f"local alignments: slices {y0}-{y1 - 1} read view rows {int(low) - 1}-{int(high)}, "
                           f"beyond the {r0}-{r0 + rows.shape[1] - 1} planned (a fault of tiltrec; please report it)")
    legal1 = min(legal1, ny, r0 + rows.shape[1])
    legal0 = max(legal0, r0)
    g = model.geometry
    out = np.zeros((g.thickness, g.width, y1 - y0), np.float32)
    _back_local(np.ascontiguousarray(rows, dtype=np.float32), r0, ny, legal0, legal1, xf, xz, yf, yz,
                z_offsets(model), out)
    return out
