"""IMOD ``tilt``'s reprojection of a tomogram with local alignments on the GPU:
:func:`tiltrec.reprojection.local_rays.reproject_view` run by the CUDA kernel ``local_reproject_view``
(projectors/cuda/kernels/local_reproject.cu), one thread per output pixel, with the same float32 operations, so that
the pixels and the flags equal the CPU's bit for bit.

The array module and the launcher are parameters, as for the CUDA projector: CuPy and a CupyLauncher on a GPU;
NumPy and the CPU emulator (tests/cuda_emulation) in the tests.
"""

from __future__ import annotations

import numpy as np

from ..projectors.cuda.launcher import Launcher, blocks
from . import local_rays as lr

BLOCK = (32, 4, 1)  # threads: 32 columns (x, contiguous in the output) by 4 lines (y)


def warp_steps(tables, grid, centres, area_delz, v: int, lines, lp, li) -> np.ndarray:
    """Float32 ``[line, nwarp]``: each line's Z steps along the rays in view ``v`` (local_rays' per-line warp),
    computed on the host: they are a few numbers per line, from the local model's tables."""
    warp = np.empty((len(lines), int(li[lr.NWARP])), np.float32)
    for k, line in enumerate(np.asarray(lines).tolist()):
        lr._warp_delz(tables, grid, centres, area_delz, v, line, lp, li, warp[k])
    return warp


def reproject_view_cuda(vol, vol_first: int, table, t_first: int, tables, grid, centres, area_delz, v: int, view,
                        lines, loads, limits, lp, li, out, xp, launcher: Launcher) -> int:
    """Reproject output lines ``lines`` at view ``v`` into ``out[k, x]``: the contract of local_rays.reproject_view
    (returns the flags of all rays, 0: all done).  ``vol`` (float32 [slice, row, loaded column]), ``table``
    (float32 [4, slice, loaded column]: local_alignments.view_factors) and ``out`` (float32 [line, x], every
    element written) are ``xp`` arrays, C-contiguous; the others are host arrays (the plan's, and the view's small
    ones, copied to the device here).  Waits for the kernel: the flags decide whether the caller goes on."""
    nxload, thick = int(li[lr.NXLOAD]), int(li[lr.THICK])
    nlines, width = out.shape
    if vol.dtype != np.float32 or table.dtype != np.float32 or out.dtype != np.float32:
        raise TypeError("reproject_view_cuda: vol, table and out must be float32")
    if vol.shape[1:] != (thick, nxload) or table.shape[0] != 4 or table.shape[2] != nxload:
        raise ValueError(f"reproject_view_cuda: a volume {vol.shape} and a table {table.shape} for {thick} rows and "
                         f"{nxload} loaded columns")
    if len(lines) != nlines or np.shape(loads) != (nlines, 2) or np.shape(limits) != (nlines, 2):
        raise ValueError(f"reproject_view_cuda: {len(lines)} lines, loads {np.shape(loads)} and limits "
                         f"{np.shape(limits)} for an output of {out.shape}")

    def small(values, dtype):  # on the device, contiguous, in the kernel's types
        return xp.ascontiguousarray(xp.asarray(values, dtype=dtype))

    warp = warp_steps(tables, grid, centres, area_delz, v, lines, lp, li)
    flags = xp.empty((nlines, width), dtype=np.float32)
    # slice numbers as doubles: the launchers pass arrays of float32 or float64 only (exact for any slice number)
    arrays = (vol, table, small(warp, np.float32), small(lines, np.float64), small(loads, np.float64),
              small(limits, np.float32), out, flags)
    floats = [view[q] for q in range(6)] + [lp[q] for q in (lr.XPROJ_OFFSET, lr.YPROJ_OFFSET, lr.XCEN_OUT,
                                                            lr.YCEN_ADJ, lr.XCEN_IN, lr.AXIS, lr.CENTER_SLICE,
                                                            lr.FILL, lr.DX_WARP)]
    ints = (vol_first, *vol.shape, t_first, *table.shape[1:], nxload, li[lr.MIN_XLOAD], thick, li[lr.NWARP], nlines,
            width)
    args = (*arrays, *(np.float32(x) for x in floats), *(np.int32(n) for n in ints))
    launcher.launch("local_reproject_view", (blocks(width, BLOCK[0]), blocks(nlines, BLOCK[1]), 1), BLOCK, args)
    result = 0
    for value in xp.unique(flags).tolist():  # the flags that occur (a few distinct values), ORed
        result |= int(value)
    return result
