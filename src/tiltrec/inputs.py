"""The projections a reconstruction uses: the views kept after exclusion, read lazily by rows and binned."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import InputError, file_error
from .formats import TiltStack, parse_view_list, read_angles


@dataclass
class ProjectionSource:
    """Rows of the kept views of a tilt series, binned ``binning`` x ``binning`` on reading.

    Attributes:
        stack: the open tilt series.
        views: 0-based indices of the views used.
        angles: their tilt angles in degrees.
        binning: integer binning factor (1 = none).
    """

    stack: TiltStack
    views: list[int]
    angles: np.ndarray
    binning: int = 1

    @property
    def nx(self) -> int:
        return self.stack.nx // self.binning

    @property
    def ny(self) -> int:
        return self.stack.ny // self.binning

    @property
    def pixel_size(self) -> float:
        return self.stack.pixel_size * self.binning

    def rows(self, r0: int, r1: int) -> np.ndarray:
        """Binned rows ``[r0, r1)`` of the kept views: float32 ``(nviews, r1 - r0, nx)``."""
        b = self.binning
        block = self.stack.read(self.views, slice(r0 * b, r1 * b))
        if b == 1:
            return block
        nv, ny = block.shape[0], r1 - r0
        block = block[:, :, : self.nx * b].reshape(nv, ny, b, self.nx, b)
        return block.mean(axis=(2, 4), dtype=np.float32)


def stack_mean(stack: TiltStack, rows_per_read: int = 64) -> float:
    """Mean of every pixel of every view (excluded views too, as IMOD's header mean), read in row blocks."""
    total = 0.0
    for r0 in range(0, stack.ny, rows_per_read):
        block = stack.read(slice(None), slice(r0, min(stack.ny, r0 + rows_per_read)))
        total += float(block.sum(dtype=np.float64))
    return total / (stack.nviews * stack.ny * stack.nx)


def _angles(tilts, nviews: int) -> np.ndarray:
    """Angles from a file, or given as numbers; one per view, all different."""
    if isinstance(tilts, (str, Path)):
        angles = read_angles(tilts, nviews)
        where = tilts
    else:
        angles = np.asarray(tilts, dtype=np.float64).ravel()
        where = "tilt angles"
        if angles.size != nviews or not np.all(np.isfinite(angles)):
            raise InputError(f"{where}: need {nviews} finite angles (one per view), got {angles.size}")
    if np.unique(angles).size != angles.size:
        raise file_error(where, "contains duplicate tilt angles")
    return angles


def open_source(stack: TiltStack, tilts, *, exclude: str | None = None, binning: int = 1) -> ProjectionSource:
    """Pair a tilt series with its angles (a file or numbers), drop excluded views, and check the binning."""
    angles = _angles(tilts, stack.nviews)
    views = list(range(stack.nviews))
    if exclude:
        try:
            dropped = set(parse_view_list(exclude, stack.nviews))
        except InputError as exc:
            raise InputError(f"--exclude: {exc}") from None
        views = [v for v in views if v not in dropped]
        if not views:
            raise InputError(f"--exclude {exclude} removes every view")
    if binning < 1 or stack.nx // binning < 2 or stack.ny // binning < 1:
        raise InputError(f"binning {binning} does not fit views of {stack.nx} x {stack.ny} pixels")
    return ProjectionSource(stack, views, angles[views], binning)
