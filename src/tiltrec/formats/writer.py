"""Atomic output: volumes written slab by slab along Y, and whole tilt series.

Data go to a hidden temporary file beside the output, which replaces the output only when
everything is written; a failure removes it and leaves any older output untouched.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import numpy as np

from ..errors import InputError, TiltrecError, file_error
from . import hdf5, mrc
from .atomic import OutputTarget, os_errors, written_whole
from .direct_io import block_at
from .layout import check_layout, file_shape, header_tilts, slice_axis, slices_view
from .stall import stall

VOLUME_SUFFIXES = frozenset({".mrc", ".rec", ".st", ".ali", ".map"})
_STORED = {0: np.dtype(np.uint8), 1: np.dtype(np.int16), 2: np.dtype(np.float32),
           12: np.dtype(np.float16)}


def stored_dtype(mode: int) -> np.dtype:
    """The NumPy type of an output mode's values."""
    return _STORED[mode]


def backend_for(path: Path, mrc_suffixes=mrc.SUFFIXES):
    """The format module (mrc or hdf5) that handles ``path``, chosen by its extension."""
    suffix = path.suffix.lower()
    if suffix in mrc_suffixes:
        return mrc
    if suffix in hdf5.SUFFIXES:
        return hdf5
    known = " ".join(sorted(mrc_suffixes | hdf5.SUFFIXES))
    raise file_error(path, f"unsupported extension {suffix or '(none)'!r}; use one of {known}")


@dataclass(frozen=True)
class VolumeStats:
    """Count, extremes, sum and sum of squares (float64) of stored values; and what storing did to the computed
    values: how many were NaN or infinite (which no output may hold: see ``refuse_nonfinite``), their range before
    rounding and clipping, and how many were clipped to the stored type's range (output_range judges these).
    Mergeable."""

    count: int = 0
    minimum: float = math.inf
    maximum: float = -math.inf
    total: float = 0.0
    total_squares: float = 0.0
    nonfinite: int = 0
    computed_minimum: float = math.inf
    computed_maximum: float = -math.inf
    clipped: int = 0

    @classmethod
    def of(cls, values: np.ndarray) -> "VolumeStats":
        """The statistics of values stored as they are (float32)."""
        flat = values.ravel(order="K")
        if flat.size == 0:
            return cls()
        low, high = float(flat.min()), float(flat.max())
        return cls(flat.size, low, high, float(np.sum(flat, dtype=np.float64)),
                   float(np.einsum("i,i->", flat, flat, dtype=np.float64)),
                   int(flat.size - np.count_nonzero(np.isfinite(flat))), low, high)

    def merge(self, other: "VolumeStats") -> "VolumeStats":
        return VolumeStats(self.count + other.count, min(self.minimum, other.minimum),
                           max(self.maximum, other.maximum), self.total + other.total,
                           self.total_squares + other.total_squares, self.nonfinite + other.nonfinite,
                           min(self.computed_minimum, other.computed_minimum),
                           max(self.computed_maximum, other.computed_maximum), self.clipped + other.clipped)

    @property
    def mean(self) -> float:
        return self.total / self.count

    @property
    def rms(self) -> float:
        """Standard deviation about the mean (the MRC header's rms)."""
        return math.sqrt(max(self.total_squares / self.count - self.mean ** 2, 0.0))


def refuse_nonfinite(path, stats: VolumeStats, y0: int, nys: int) -> None:
    """Stop the run if the block of slices ``y0 .. y0+nys-1`` whose ``stats`` these are had NaN or infinite values:
    storing them would clip or convert them into plausible-looking numbers, or write a volume of NaN."""
    if stats.nonfinite:
        raise TiltrecError(f"{path}: the reconstruction of slices {y0}-{y0 + nys - 1} has {stats.nonfinite} NaN or "
                           f"infinite values; no output written (check the input's values and the numeric options)")


def _stored_values(slab: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``slab`` as the file stores it: integers rounded to nearest, all clipped to the type."""
    if dtype == np.float32:
        return slab
    limits = np.iinfo(dtype) if dtype.kind in "iu" else np.finfo(dtype)
    values = np.rint(slab) if dtype.kind in "iu" else slab.copy()
    np.clip(values, limits.min, limits.max, out=values)
    return values.astype(dtype)


class VolumeWriter:
    """Writes a reconstructed volume slab by slab along Y into a temporary file; ``commit``
    completes the header and renames it over ``path``, ``abort`` deletes it.

    ``layout``: "xzy" (IMOD PERPENDICULAR), "xyz" (RotateBy90) or "parallel" (see formats.layout).
    Modes: 2 float32, 1 int16, 0 bytes (0..255, stored signed as IMOD's tilt stores them), 12 float16; HDF5 only 2.
    As a context manager it commits on normal exit and aborts on an exception.
    ``stats`` covers what was written; ranks writing elsewhere may ``merge`` theirs in.
    """

    def __init__(self, path, *, width: int, nslices: int, thickness: int, layout: str = "xzy",
                 mode: int = 2, pixel_size: float = 1.0, origin=(0.0, 0.0, 0.0),
                 labels: Sequence[str] = (), overwrite: bool = False, join: Path | None = None,
                 checkpoint: Path | None = None, resume: bool = False):
        """With ``join`` (the ``temporary`` of a writer another process created), write into that file: the
        other process commits it, after merging this writer's ``stats``.  With ``checkpoint``, write into the
        partial output kept for ``--resume``; with ``resume`` too, continue the one an interrupted run left
        (formats.atomic.OutputTarget)."""
        self.path = Path(path)
        backend = backend_for(self.path, VOLUME_SUFFIXES)
        _check_options(self.path, backend, layout, mode, (width, nslices, thickness),
                       pixel_size)
        if join is not None and backend is not mrc:
            raise file_error(self.path, "only MRC output can be written by several MPI ranks at once")
        self.width, self.nslices, self.thickness = width, nslices, thickness
        self.layout, self.mode = layout, mode
        self.pixel_size, self.origin, self.labels = pixel_size, tuple(origin), tuple(labels)
        self.stats = VolumeStats()
        self.block_stats = VolumeStats()  # of the last block staged or stored: what a checkpoint records of it
        self._raw = None  # the memory of the file-order block of the last slab, reused by the next one
        self._target = OutputTarget(self.path, overwrite, join, checkpoint=checkpoint, resume=resume)
        shape = file_shape(layout, width, nslices, thickness)
        try:
            with os_errors(self.path, "allocate the output"):
                if join is None and not resume:
                    self._file = backend.VolumeFile(self._target.temporary, shape, mode)
                else:
                    self._file = backend.VolumeFile.attach(self._target.temporary, shape)
        except BaseException:
            if join is None and not resume:  # a file of another process, or of an interrupted run, stays
                self._target.discard()
            raise

    @property
    def temporary(self) -> Path:
        """The file being written, which becomes ``path`` on commit."""
        return self._target.temporary

    def write_slab(self, y0: int, slab) -> None:
        """Store slices ``y0 .. y0+nys-1`` from ``slab`` shaped (thickness, width, nys),
        the compute order [z][x][y]."""
        self.stage(y0, slab)()

    def stage(self, y0: int, slab):
        """The part of ``write_slab`` that needs no file: convert ``slab`` into a block in file order and count its
        statistics; returns the call that writes the block (on the slab loop's writer thread, strategies.worker).
        That call must have returned before the next ``stage``: the block's buffer is reused from slab to slab
        instead of allocated (and its pages faulted in and freed) for each."""
        self._require_open()
        slab = np.asarray(slab, dtype=np.float32)
        if (slab.ndim != 3 or slab.shape[:2] != (self.thickness, self.width)
                or not 0 <= y0 <= y0 + slab.shape[2] <= self.nslices):
            raise ValueError(f"{self.path}: slab of shape {slab.shape} at y0={y0} does not fit "
                             f"thickness {self.thickness}, width {self.width}, "
                             f"{self.nslices} slices")
        nys = slab.shape[2]
        dtype = _STORED[self.mode]
        shape = file_shape(self.layout, self.width, nys, self.thickness)
        place = getattr(self._file, "block_offset", None)  # MRC: placed for direct writes (formats.direct_io)
        self._raw, block = block_at(self._raw, shape, dtype, place(slice_axis(self.layout), y0) if place else 0)
        view = slices_view(self.layout, block)  # [L, j, x]
        if dtype == np.float16:
            stored = _stored_values(slab, dtype)
            view[...] = stored.transpose(2, 0, 1)
            limit = float(np.finfo(dtype).max)
            stats = replace(VolumeStats.of(stored), nonfinite=int(slab.size - np.count_nonzero(np.isfinite(slab))),
                            computed_minimum=float(slab.min()), computed_maximum=float(slab.max()),
                            clipped=int(np.count_nonzero(np.abs(slab) > limit)))
        else:
            from .slab_store import store_slab  # Numba: imported by the runs that convert on the CPU only

            stats = VolumeStats(slab.size, *store_slab(view.transpose(1, 0, 2), slab))
        refuse_nonfinite(self.path, stats, y0, nys)
        self.stats = self.stats.merge(stats)
        self.block_stats = stats
        return partial(self._write_block, y0, block)

    def write_stored(self, y0: int, block: np.ndarray, stats: VolumeStats) -> None:
        """Write slices from ``y0`` already converted elsewhere (on a GPU: projectors/cuda/file_order.py): ``block``
        in file order and the stored type, ``stats`` those of its values."""
        self._require_open()
        nys = block.shape[slice_axis(self.layout)]
        if (block.shape != file_shape(self.layout, self.width, nys, self.thickness)
                or block.dtype != _STORED[self.mode] or not 0 <= y0 <= y0 + nys <= self.nslices):
            raise ValueError(f"{self.path}: block of shape {block.shape} and type {block.dtype} at y0={y0} does not "
                             f"fit layout {self.layout}, mode {self.mode}, width {self.width}, thickness "
                             f"{self.thickness}, {self.nslices} slices")
        refuse_nonfinite(self.path, stats, y0, nys)
        self.stats = self.stats.merge(stats)
        self.block_stats = stats
        self._write_block(y0, block)

    def _write_block(self, y0: int, block: np.ndarray) -> None:
        self._require_open()
        with os_errors(self.path, "write"):
            self._file.write_block(slice_axis(self.layout), y0, block)
        stall("write")

    def sync(self) -> None:
        """Make every block written so far durable (a checkpoint counts only slices on disk)."""
        self._require_open()
        with os_errors(self.path, "write"):
            self._file.sync()

    def digest(self, y0: int, count: int) -> int:
        """CRC-32 of slices ``y0 .. y0+count-1`` as the file holds them (a checkpoint's check of its slices)."""
        self._require_open()
        with os_errors(self.path, "read back"):
            return self._file.digest(slice_axis(self.layout), y0, count)

    def commit(self) -> None:
        """Complete the header from ``stats`` and move the file into place."""
        self._require_open()
        self._raw = None
        expected = self.width * self.nslices * self.thickness
        try:
            if self.stats.count != expected:
                raise ValueError(f"{self.path}: {self.stats.count} of {expected} voxels "
                                 f"were written")
            with os_errors(self.path, "write"):
                self._file.finish(self.stats, pixel_size=self.pixel_size, origin=self.origin,
                                  labels=self.labels, tilt_angles=header_tilts(self.layout))
            self._file = None
            self._target.replace()
        except BaseException:
            self.abort()
            raise

    def release(self) -> None:
        """Close a joined writer's file, keeping it for the process that commits it."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def abort(self) -> None:
        """Close and delete the temporary file; the output path is left as it was."""
        try:
            if self._file is not None:
                self._file.close()
        except OSError:
            pass  # the failure being cleaned up (a full disk) can fail the close too; the file goes anyway
        finally:
            self._file = None
            self._raw = None
            self._target.discard()

    def _require_open(self) -> None:
        if self._file is None:
            raise ValueError(f"{self.path}: the volume writer is already closed")

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, traceback):
        if exc_type is not None:
            self.abort()
        elif self._file is not None:
            self.commit()


def _check_options(path: Path, backend, layout: str, mode: int, sizes, pixel_size) -> None:
    check_layout(layout)
    if mode not in _STORED:
        raise InputError(f"unsupported output mode {mode}; use 0, 1, 2 or 12")
    if backend is hdf5 and mode != 2:
        raise file_error(path, f"HDF5 volumes are written in mode 2 (float32) only, "
                               f"not mode {mode}")
    if min(sizes) < 1:
        raise InputError("volume width, slices and thickness must be positive, not "
                         "{} {} {}".format(*sizes))
    if not 0 < pixel_size < math.inf:
        raise InputError(f"pixel size must be positive, not {pixel_size}")


def write_stack(path, views: np.ndarray, *, pixel_size: float = 1.0, angles=None,
                overwrite: bool = False) -> None:
    """Write a tilt series (nviews, ny, nx) atomically: MRC mode-2 image stack, or EMAN2
    HDF5 with one 2-D image per view; ``angles`` (degrees) go into the header."""
    path = Path(path)
    backend = backend_for(path)
    views = np.asarray(views, dtype=np.float32)
    if views.ndim != 3 or 0 in views.shape:
        raise ValueError(f"{path}: a tilt series needs shape (nviews, ny, nx), not {views.shape}")
    if angles is not None:
        angles = np.asarray(angles, dtype=np.float64)
        if angles.shape != views.shape[:1] or not np.all(np.abs(angles) <= 180):
            raise ValueError(f"{path}: need {len(views)} angles within +-180 degrees")
    with written_whole(path, overwrite) as temporary:
        backend.write_stack(temporary, views, pixel_size=pixel_size, angles=angles)
