"""A result slab put into the output file's order and stored type on the GPU, with the statistics of the header
(``kernels/store.cu``), so that the host only writes it: on the CPU the transpose and the statistics of a
2048 x 512 x 128 slab took 80-100 ms of the writer thread's 115-135 ms per slab, and the GPU then waited for it."""

from __future__ import annotations

import numpy as np

from ...formats.layout import file_shape, slices_strides
from ...formats.writer import VolumeStats, stored_dtype
from .launcher import Launcher, blocks

BLOCK = (32, 8, 1)  # 32 consecutive slices (contiguous in the slab) per warp, 8 thickness rows
STATS_BYTES = 32  # per (thickness row, slice): the kernel's minimum, maximum, sum and sum of squares


def rounding(dtype: np.dtype) -> int:
    """The kernel's ``rounding`` code for a stored type: 0 float32, 1 integers, 2 float16."""
    return 1 if dtype.kind in "iu" else {4: 0, 2: 2}[dtype.itemsize]


def stored_block(writer, vol, x0: int, y0: int, width: int, nys: int, xp, launcher: Launcher):
    """Columns ``x0 .. x0+width-1`` and slices ``y0 .. y0+nys-1`` of the slab ``vol`` ([z][x][y], C-contiguous) as
    ``writer`` stores them: ``(block, stats)``, the block in the file order of ``writer.layout`` and the type of
    ``writer.mode``, and float64 statistics (formats.writer.VolumeStats's order, from its ``minimum`` on): minimum,
    maximum, sum and sum of squares of the stored values; of the computed ones, how many are NaN or infinite (the
    kernel's clipping would hide them), their minimum and maximum, and how many were clipped; both ``xp``
    arrays."""
    nz, nx, ny = vol.shape
    dtype = stored_dtype(writer.mode)
    limits = np.iinfo(dtype) if dtype.kind in "iu" else np.finfo(dtype)
    block = xp.empty(file_shape(writer.layout, width, nys, nz), np.float32)
    partial = xp.empty((nz * nys, 4), np.float64)
    sizes = (np.int32(n) for n in (nz, nx, ny, x0, y0, width, nys))
    strides = (np.int64(n) for n in slices_strides(writer.layout, width, nys, nz))
    launcher.launch("store_slab", (blocks(nys, BLOCK[0]), blocks(nz, BLOCK[1]), 1), BLOCK,
                    (vol, block, partial, *sizes, *strides, np.int32(rounding(dtype)), np.float64(limits.min),
                     np.float64(limits.max)))
    region = vol[:, x0:x0 + width, y0:y0 + nys]
    nonfinite = region.size - xp.count_nonzero(xp.isfinite(region))
    low, high = clip_thresholds(dtype)
    clipped = xp.count_nonzero(region < low) + xp.count_nonzero(region >= high)  # (one byte a voxel at a time)
    stats = xp.stack([partial[:, 0].min(), partial[:, 1].max(), partial[:, 2].sum(), partial[:, 3].sum()]
                     + [v.astype(np.float64) for v in (nonfinite, region.min(), region.max(), clipped)])
    return block.astype(dtype, copy=False), stats


def clip_thresholds(dtype: np.dtype) -> tuple[np.float32, np.float32]:
    """``(low, high)``: storing a computed (float32) value as ``dtype`` clips it when it is below ``low`` or at
    least ``high``.  Integers are rounded to nearest, ties to even, first: at both ends of the int16 and uint8
    ranges a tie half a step outside rounds inwards (-32768 and 0 are even), but past the odd maximum outwards."""
    if dtype.kind in "iu":
        limits = np.iinfo(dtype)
        return np.float32(limits.min - 0.5), np.float32(limits.max + 0.5)
    top = np.float32(np.finfo(dtype).max)
    with np.errstate(over="ignore"):  # float32's own maximum: the next value up is infinity
        return -top, np.nextafter(top, np.float32(np.inf))


def block_stats(count: int, stats) -> VolumeStats:
    """The VolumeStats of a block of ``count`` values from ``stored_block``'s statistics (on the host)."""
    low, high, total, squares, nonfinite, computed_low, computed_high, clipped = (float(v) for v in stats)
    return VolumeStats(count, low, high, total, squares, int(nonfinite), computed_low, computed_high, int(clipped))
