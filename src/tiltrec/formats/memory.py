"""In-memory counterparts of a tilt-series file and a volume writer, for the Python API on arrays."""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from .input_file import check_view_values
from .layout import check_layout, file_shape, slice_axis, slices_view
from .writer import VolumeStats, refuse_nonfinite


class ArrayStack:
    """A tilt series held in a ``(nviews, ny, nx)`` array, read like a TiltStack."""

    def __init__(self, views, pixel_size: float = 1.0):
        views = np.asarray(views)
        if views.ndim != 3 or 0 in views.shape:
            raise InputError(f"tilt series array: need shape (nviews, ny, nx), got {views.shape}")
        if views.dtype == np.int8:  # what mrcfile makes of IMOD's unsigned bytes: taken as is, the data are wrong
            raise InputError("tilt series array: signed bytes (int8), which is how mrcfile reads IMOD's mode-0 "
                             "(unsigned byte) stacks: pass views.view(np.uint8), or the file's path; for truly "
                             "signed data, views.astype(np.float32)")
        self.views = views
        self.path = "tilt series array"
        self.nviews, self.ny, self.nx = views.shape
        self.pixel_size = float(pixel_size)
        self.header_angles = None
        self.labels = ()
        self.origin = (0.0, 0.0, 0.0)

    def read(self, views, rows: slice) -> np.ndarray:
        """float32 copy of ``rows`` of ``views`` (0-based indices or a slice)."""
        indices = list(range(self.nviews))[views] if isinstance(views, slice) else list(views)
        block = np.ascontiguousarray(self.views[indices, rows], dtype=np.float32)
        for view, values in zip(indices, block):
            check_view_values(self.path, view, values)
        return block

    def close(self) -> None:
        pass


class MemoryWriter:
    """Collects a volume slab by slab into ``volume`` (file order of ``layout``), like a VolumeWriter."""

    path = "memory"
    temporary = None
    mode = 2  # float32

    def __init__(self, *, width: int, nslices: int, thickness: int, layout: str = "xzy"):
        check_layout(layout)
        self.layout = layout
        self.volume = np.zeros(file_shape(layout, width, nslices, thickness), np.float32)
        self.stats = VolumeStats()

    def write_slab(self, y0: int, slab) -> None:
        """Store slices ``y0 ..`` from ``slab`` shaped (thickness, width, nys)."""
        self.stage(y0, slab)()

    def stage(self, y0: int, slab):
        """Store the slab (all a memory writer does) and return a call that has nothing left to do, as
        ``VolumeWriter.stage``."""
        stats = VolumeStats.of(np.asarray(slab, np.float32))
        refuse_nonfinite("the reconstruction", stats, y0, slab.shape[2])
        slices_view(self.layout, self.volume)[y0:y0 + slab.shape[2]] = slab.transpose(2, 0, 1)
        self.stats = self.stats.merge(stats)
        return _nothing

    def write_stored(self, y0: int, block, stats: VolumeStats) -> None:
        """Store slices from ``y0`` given in file order (as ``VolumeWriter.write_stored``)."""
        axis = slice_axis(self.layout)
        refuse_nonfinite("the reconstruction", stats, y0, block.shape[axis])
        index = (slice(None),) * axis + (slice(y0, y0 + block.shape[axis]),)
        self.volume[index] = block
        self.stats = self.stats.merge(stats)

    def commit(self) -> None:
        pass

    def release(self) -> None:
        pass

    def abort(self) -> None:
        pass


def _nothing() -> None:
    """The completion of a memory writer's stage: nothing is left to do."""
