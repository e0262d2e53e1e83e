"""IMOD ``tilt``'s reprojection of a tomogram on the GPU: :func:`tiltrec.reprojection.imod_rays.reproject_lines`
run by the CUDA kernel ``reproject_lines`` (projectors/cuda/kernels/reproject.cu), one thread per output line and
view, with the same float32 operations, so that the rows equal the CPU's bit for bit.

The array module and the launcher are parameters, as for the CUDA projector: CuPy and a CupyLauncher on a GPU;
NumPy and the CPU emulator (tests/cuda_emulation) in the tests.  Importing this module imports neither CuPy nor
Numba.
"""

from __future__ import annotations

import numpy as np

from ..projectors.cuda.launcher import Launcher, blocks

BLOCK = (32, 4, 1)  # threads: 32 views (x) by 4 lines (y)


def reproject_lines_cuda(vol, first: int, last_slice: int, lines, views, params, out, xp, launcher: Launcher):
    """Reproject slices ``lines`` (1-based numbers) at every view into ``out[view, k, x]``: the contract of
    imod_rays.reproject_lines.  ``vol[s, z, x]`` (float32, slices ``first ..``) and ``out`` (float32, every
    element written) are ``xp`` arrays, C-contiguous; ``lines``, ``views`` and ``params`` may be host arrays
    (they are small: copied to the device here).  Returns ``out``."""
    _, thick, nx = vol.shape
    nviews, nlines, width = out.shape
    if vol.dtype != np.float32 or out.dtype != np.float32:
        raise TypeError("reproject_lines_cuda: vol and out must be float32")
    if views.shape != (nviews, 7) or len(lines) != nlines or len(params) != 10:
        raise ValueError(f"reproject_lines_cuda: views {views.shape}, {len(lines)} lines and {len(params)} "
                         f"parameters for an output of {out.shape}")

    def small(values, dtype):  # the small arrays on the device, contiguous, in the kernel's types
        return xp.ascontiguousarray(xp.asarray(values, dtype=dtype))

    # slice numbers as doubles: the launchers pass arrays of float32 or float64 only (exact for any slice number)
    args = (vol, small(lines, np.float64), small(views, np.float32), small(params, np.float32), out, np.int32(first),
            np.int32(last_slice), np.int32(thick), np.int32(nx), np.int32(nlines), np.int32(nviews), np.int32(width))
    grid = (blocks(nviews, BLOCK[0]), blocks(nlines, BLOCK[1]), 1)
    launcher.launch("reproject_lines", grid, BLOCK, args)
    return out
