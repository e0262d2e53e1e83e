"""Reading a tomogram slab by slab (a starting volume for iterative algorithms)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import file_error
from .input_file import BadValues, require_regular
from .layout import check_layout, file_shape, slice_axis, slices_view
from .memory import ArrayStack
from .writer import backend_for
from ..options.spelling import spelled


class VolumeReader:
    """Slices of an existing tomogram in a given layout, returned in the compute order [z][x][y]."""

    def __init__(self, source, layout: str, size: tuple[int, int, int]):
        """``source`` is a file or an array in the file order of ``layout``; ``size`` the expected (width,
        nslices, thickness), which it must match."""
        check_layout(layout)
        self.layout = layout
        if isinstance(source, np.ndarray):
            self.path, self.views = "the starting volume array", source  # (views: what checkpoints identify)
            self._stack = ArrayStack(source)
            self._stack.path = self.path
        else:
            self.path = Path(source)
            self._stack = backend_for(self.path).open_stack(require_regular(self.path))
        width, nslices, thickness = size
        want = file_shape(layout, width, nslices, thickness)
        have = (self._stack.nviews, self._stack.ny, self._stack.nx)
        if have != want:
            self._stack.close()
            raise file_error(self.path, f"is {have[2]} x {have[1]} x {have[0]} (nx x ny x nz); the output in layout "
                                        f"{layout} is {want[2]} x {want[1]} x {want[0]}")

    def read_slab(self, y0: int, y1: int) -> np.ndarray:
        """Slices ``[y0, y1)`` as float32 (thickness, width, y1 - y0)."""
        try:
            if slice_axis(self.layout) == 0:
                block = self._stack.read(range(y0, y1), slice(None))
            else:
                block = self._stack.read(slice(None), slice(y0, y1))
        except BadValues as exc:  # the stack reader calls the file's sections views
            raise file_error(self.path, f"the starting volume ({spelled('init')}) {exc.problem} in section "
                                        f"{exc.view + 1} of the file (1-based, as 3dmod numbers them)") from None
        return np.ascontiguousarray(slices_view(self.layout, block).transpose(1, 2, 0))

    def close(self) -> None:
        self._stack.close()


def open_volume(source, layout: str, size: tuple[int, int, int]) -> VolumeReader:
    """Open ``source`` (a file or an array) for slab reads in ``layout``, checking it has ``size`` = (width,
    nslices, thickness)."""
    return VolumeReader(source, layout, size)
