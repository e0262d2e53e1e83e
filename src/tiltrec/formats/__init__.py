"""File formats: MRC (as IMOD writes it) and EMAN2 HDF5 stacks and volumes, IMOD text files."""

from pathlib import Path

import numpy as np

from .angles import parse_view_list, parse_view_sequence, read_angles
from .input_file import require_regular
from .mrc import TiltStack
from .memory import ArrayStack, MemoryWriter
from .volume import VolumeReader, open_volume
from .writer import VolumeStats, VolumeWriter, backend_for, write_stack

__all__ = ["ArrayStack", "MemoryWriter", "TiltStack", "VolumeReader", "VolumeStats", "VolumeWriter", "open_stack",
           "open_volume", "parse_view_list", "parse_view_sequence", "read_angles", "read_volume", "write_stack"]


def open_stack(path) -> TiltStack:
    """Open a tilt series for lazy reading; the format follows the extension
    (.mrc .st .ali .preali .mrcs .rec .map: MRC; .hdf .h5 .hdf5: EMAN2 HDF5)."""
    path = require_regular(Path(path))
    return backend_for(path).open_stack(path)


def read_volume(path) -> tuple[np.ndarray, float]:
    """A whole MRC or HDF5 volume as float32 in file order, and its pixel size."""
    with open_stack(path) as stack:
        return stack.read(slice(None), slice(None)), stack.pixel_size
