"""The projections a reconstruction uses: the views kept after exclusion, read lazily by rows and binned."""

from __future__ import annotations

import math
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import InputError, file_error
from .formats import TiltStack, parse_view_list, read_angles
from .options.spelling import spelled

MIN_WIDTH = 2  # pixels across a (binned) view: the projectors interpolate between neighbouring pixels


@dataclass
class ProjectionSource:
    """Rows of the kept views of a tilt series, binned ``binning`` x ``binning`` on reading.

    Attributes:
        stack: the open tilt series.
        views: 0-based indices of the views used.
        angles: their tilt angles in degrees.
        binning: integer binning factor (1 = none).
        log: IMOD's ``LOG base``: rows become ``log10(max(value + base, floor))`` with ``floor`` one thousandth of
            the stack's range (None: data used as they are).
    """

    stack: TiltStack
    views: list[int]
    angles: np.ndarray
    binning: int = 1
    log: float | None = None
    _stats: tuple[float, float, float] | None = None

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
        if b > 1:
            nv, ny = block.shape[0], r1 - r0
            block = block[:, :, : self.nx * b].reshape(nv, ny, b, self.nx, b).mean(axis=(2, 4), dtype=np.float32)
        return block if self.log is None else self._logarithm(block)

    def _logarithm(self, values):
        from .projectors.elementwise import log10_of_sum

        values = np.ascontiguousarray(values, dtype=np.float32)  # (the readers' blocks are fresh copies: ours)
        log10_of_sum(values, self.log, self._log_floor())
        return values

    def _log_floor(self) -> float:
        low, high, _ = self.stats()
        return 1e-3 * (high - low)

    def stats(self) -> tuple[float, float, float]:
        """Minimum, maximum and mean of the whole stack (excluded views too, as IMOD's header), computed once."""
        if self._stats is None:
            self._stats = stack_stats(self.stack)  # (the reader has refused values too large to sum)
        return self._stats

    def mean(self) -> float:
        """The data mean IMOD fills with: of the stack, or with ``log`` the logarithm of it plus the base."""
        mean = self.stats()[2]
        return mean if self.log is None else math.log10(max(mean + self.log, self._log_floor()))


STATS_THREADS = 4  # row blocks read and reduced at once by stack_stats (copies and reductions release the GIL)


def stack_stats(stack: TiltStack, rows_per_read: int = 64) -> tuple[float, float, float]:
    """Minimum, maximum and mean of every pixel of every view, read in row blocks on up to STATS_THREADS
    threads."""

    def block_stats(r0: int) -> tuple[float, float, float]:
        block = stack.read(slice(None), slice(r0, min(stack.ny, r0 + rows_per_read)))
        return float(block.min()), float(block.max()), float(block.sum(dtype=np.float64))

    starts = range(0, stack.ny, rows_per_read)
    with ThreadPoolExecutor(max(1, min(STATS_THREADS, len(starts)))) as pool:
        low, high, total = zip(*pool.map(block_stats, starts))
    return min(low), max(high), sum(total) / (stack.nviews * stack.ny * stack.nx)


def _angles(tilts, nviews: int) -> np.ndarray:
    """Angles from a file, or given as numbers: one per view, each strictly between -90 and 90 degrees.

    Repeated angles are used as they are (IMOD accepts them too), with a warning: often a copy-paste slip.
    """
    if isinstance(tilts, (str, Path)):
        angles = read_angles(tilts, nviews)
        where = tilts
    else:
        angles = np.asarray(tilts, dtype=np.float64).ravel()
        where = "tilt angles"
        if angles.size != nviews:
            raise InputError(f"{where}: need {nviews} finite angles (one per view), got {angles.size}")
        bad = np.flatnonzero(~np.isfinite(angles))
        if bad.size:
            raise InputError(f"{where}: the angle of view {bad[0] + 1} is {angles[bad[0]]:g}, not a finite number")
    outside = np.flatnonzero(np.abs(angles) >= 90)
    if outside.size:
        view = int(outside[0])
        raise file_error(where, f"view {view + 1} has the tilt angle {angles[view]:g}, not between -90 and 90 "
                                f"degrees")
    values, counts = np.unique(angles, return_counts=True)
    if np.any(counts > 1):
        value = values[np.argmax(counts > 1)]
        views = np.flatnonzero(angles == value)[:2] + 1
        warnings.warn(f"{where}: views {views[0]} and {views[1]} have the same tilt angle {value:g}; both are "
                      f"used", RuntimeWarning, stacklevel=3)
    return angles


def _views(nviews: int, exclude: str | None, include: str | None) -> list[int]:
    """0-based indices of the views kept: all but ``exclude``, or only ``include`` (1-based lists like 1-3,7)."""
    option, text = ("--include", include) if include else ("--exclude", exclude)
    if not text:
        return list(range(nviews))
    try:
        listed = set(parse_view_list(text, nviews))
    except InputError as exc:
        raise InputError(f"{option}: {exc}") from None
    views = [v for v in range(nviews) if (v in listed) == (option == "--include")]
    if not views:
        raise InputError(f"{option} {text} leaves no view")
    return views


def open_source(stack: TiltStack, tilts, *, exclude: str | None = None, include: str | None = None,
                binning: int = 1, log: float | None = None) -> ProjectionSource:
    """Pair a tilt series with its angles (a file or numbers), keep the views asked for, and check the binning."""
    angles = _angles(tilts, stack.nviews)
    views = _views(stack.nviews, exclude, include)
    if stack.nx < MIN_WIDTH:
        raise file_error(stack.path, f"the views are {stack.nx} pixel wide; a reconstruction needs at least "
                                     f"{MIN_WIDTH}")
    if binning < 1 or stack.nx // binning < MIN_WIDTH or stack.ny // binning < 1:
        raise InputError(f"{spelled('bin')} {binning} does not fit views of {stack.nx} x {stack.ny} pixels (binned, "
                         f"they must keep {MIN_WIDTH} pixels across and one row)")
    source = ProjectionSource(stack, views, angles[views], binning, log)
    if log is not None:
        _check_log_base(source)
    return source


def _check_log_base(source: ProjectionSource) -> None:
    """Warn when IMOD's LOG base leaves most of the data at the logarithm's floor (a blank tomogram): data of
    negative values (-32650 on a signed 16-bit stack) with ``LOG 0``, say."""
    low, high, mean = source.stats()
    floor = source._log_floor()
    if mean + source.log <= floor:
        warnings.warn(f"{source.stack.path}: {spelled('log_base')} {source.log:g} (IMOD LOG) leaves most values at "
                      f"the "
                      f"logarithm's floor (the data span {low:.6g} to {high:.6g}, mean {mean:.6g}): the tomogram will "
                      f"be nearly blank; a base above {floor - low:.6g} keeps every value positive")
