"""EMAN2 HDF5 files: ``/MDF/images/<i>/image`` datasets with ``EMAN.*`` group attributes.

h5py is imported where a file is opened or made (not with the module: its import costs ~0.05 s of every run's
start-up, and most runs read and write MRC only)."""

from __future__ import annotations

import errno
import math
import os
import re
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InputError, file_error
from .mrc import TiltStack, file_size, plausible_tilts

if TYPE_CHECKING:
    import h5py

SUFFIXES = frozenset({".hdf", ".h5", ".hdf5"})
IMAGES = "MDF/images"


# ----------------------------------------------------------------------------- reading


def open_stack(path) -> TiltStack:
    """Open an EMAN2 stack of 2-D images (or one 3-D image, its Z sections as views)."""
    import h5py

    path = Path(path)
    file_size(path)
    try:
        handle = h5py.File(path, "r")
    except OSError:
        raise file_error(path, "is not a readable HDF5 file") from None
    try:
        return _stack(path, handle)
    except InputError:
        handle.close()
        raise
    except (OSError, KeyError, ValueError, TypeError, RuntimeError) as exc:
        handle.close()
        raise file_error(path, f"has unreadable EMAN2 content: {exc}") from None


def _stack(path: Path, handle: h5py.File) -> TiltStack:
    groups = _image_groups(path, handle)
    images = [_image(path, index, group) for index, group in enumerate(groups)]
    scales = [_render_scale(path, index, group) for index, group in enumerate(groups)]
    pixel_size = _attr(groups[0], "EMAN.apix_x")
    if pixel_size is None or not 1e-5 <= pixel_size < math.inf:
        pixel_size = 1.0
    common = dict(path=path, pixel_size=pixel_size, close=handle.close)
    if len(images) == 1 and images[0].ndim == 3:
        volume = images[0]
        return TiltStack(**common, shape=volume.shape, header_angles=None,
                         read_view=lambda view, rows: volume[view, rows],
                         linear=None if scales[0] is None else scales * volume.shape[0])
    for index, image in enumerate(images):
        if image.ndim != 2 or image.shape != images[0].shape:
            raise file_error(path, f"image {index} has shape {image.shape}; a tilt series "
                                   f"needs 2-D images of one shape {images[0].shape}")
    angles = [_attr(group, "EMAN.tilt_angle") for group in groups]
    unscaled = all(scale is None for scale in scales)
    return TiltStack(**common, shape=(len(images), *images[0].shape),
                     header_angles=plausible_tilts(angles, len(images)),
                     read_view=lambda view, rows: images[view][rows],
                     linear=None if unscaled else [scale or (1.0, 0.0) for scale in scales])


def _image_groups(path: Path, handle: h5py.File) -> list[h5py.Group]:
    import h5py

    images = handle.get(IMAGES)
    if not isinstance(images, h5py.Group):
        raise file_error(path, f"is not an EMAN2 image file (no /{IMAGES} group)")
    highest = _attr(images, "imageid_max")
    if highest is None or not highest.is_integer() or not 0 <= highest < len(images):
        raise file_error(path, f"/{IMAGES} has a missing or wrong imageid_max attribute "
                               f"({highest}) for its {len(images)} members")
    groups = [images.get(str(index)) for index in range(int(highest) + 1)]
    for index, group in enumerate(groups):
        if not isinstance(group, h5py.Group):
            raise file_error(path, f"image {index} (/{IMAGES}/{index}) is missing")
    return groups


def _image(path: Path, index: int, group: h5py.Group) -> h5py.Dataset:
    import h5py

    image = group.get("image")
    if not isinstance(image, h5py.Dataset):
        raise file_error(path, f"image {index} has no dataset /{IMAGES}/{index}/image")
    if image.dtype.kind not in "iuf":
        raise file_error(path, f"image {index} has unsupported data type {image.dtype}")
    if image.ndim not in (2, 3) or 0 in image.shape:
        raise file_error(path, f"image {index} has unusable shape {image.shape}")
    return image


def _render_scale(path: Path, index: int, group: h5py.Group) -> tuple[float, float] | None:
    """EMAN2's bit-reduced storage: x = raw / (2^bits - 1) * (max - min) + min."""
    bits = _attr(group, "EMAN.stored_renderbits")
    if not bits:
        return None
    low, high = _attr(group, "EMAN.stored_rendermin"), _attr(group, "EMAN.stored_rendermax")
    if not 0 < bits <= 32 or low is None or high is None:
        raise file_error(path, f"image {index} has stored_renderbits {bits} without a "
                               f"usable stored_rendermin/max")
    return (high - low) / (2.0 ** bits - 1), low


def _attr(node, key: str) -> float | None:
    """Attribute ``key`` of ``node`` as a float, or None when absent or not one number."""
    try:
        value = np.asarray(node.attrs.get(key))
        return float(value) if value.size == 1 else None
    except (TypeError, ValueError, OSError):
        return None


# ----------------------------------------------------------------------------- writing


def _new_image(images: h5py.Group, index: int, shape, pixel_size: float, **dataset):
    """Group ``images/<index>`` with its ``image`` dataset and EMAN2 size/pixel attributes."""
    group = images.create_group(str(index))
    group.create_dataset("image", shape, np.float32, **dataset)
    sizes = dict(zip(("EMAN.nx", "EMAN.ny", "EMAN.nz"), (*reversed(shape), 1, 1)))
    for key, size in sizes.items():
        group.attrs[key] = np.int32(size)
    for axis in "xyz":
        group.attrs[f"EMAN.apix_{axis}"] = np.float32(pixel_size)
    return group


def _new_file(path: Path, count: int) -> tuple[h5py.File, h5py.Group]:
    import h5py

    handle = h5py.File(path, "w")
    images = handle.create_group(IMAGES)
    images.attrs["imageid_max"] = np.int32(count - 1)
    return handle, images


class VolumeFile:
    """A new EMAN2 HDF5 file holding one 3-D float32 image in file order; ``finish`` writes
    its header attributes."""

    def __init__(self, path: Path, shape: tuple[int, int, int], mode: int):
        import h5py

        assert mode == 2, "EMAN2 HDF5 volumes are written as float32 (mode 2)"
        self._path, self._handle = path, None
        with _as_os_errors(path):
            self._handle, images = _new_file(path, 1)
            placement = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
            placement.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
            placement.set_fill_time(h5py.h5d.FILL_TIME_NEVER)
            self._group = _new_image(images, 0, shape, 1.0, dcpl=placement)
            self._data = self._group["image"]

    def write_block(self, axis: int, start: int, block: np.ndarray) -> None:
        """Store ``block`` (file order) at ``start`` along ``axis`` (0 or 1) of the image."""
        with _as_os_errors(self._path):
            if axis == 0:
                self._data[start:start + block.shape[0]] = block
            else:
                self._data[:, start:start + block.shape[1]] = block

    def finish(self, stats, *, pixel_size: float, origin, labels, tilt_angles=None) -> None:
        """Write pixel size, origin and statistics (labels and IMOD's header tilt angles have no EMAN2 place) and
        close."""
        attrs = self._group.attrs
        values = {"minimum": stats.minimum, "maximum": stats.maximum, "mean": stats.mean,
                  "sigma": stats.rms}
        values.update({f"apix_{axis}": pixel_size for axis in "xyz"})
        values.update({f"origin_{axis}": value for axis, value in zip("xyz", origin)})
        with _as_os_errors(self._path):
            for key, value in values.items():
                attrs[f"EMAN.{key}"] = np.float32(value)
        self.close()

    def close(self) -> None:
        """Close the file; HDF5 flushes its caches here, so a full disk may show only now."""
        if self._handle is not None:
            handle, self._handle = self._handle, None
            with _as_os_errors(self._path):
                handle.close()


@contextmanager
def _as_os_errors(path: Path):
    """HDF5's failures to write (raised by h5py as RuntimeError or OSError, the system's errno only in the text)
    as an OSError with that errno, which the writer reports in one line naming the file."""
    try:
        yield
    except (RuntimeError, OSError) as exc:
        if isinstance(exc, OSError) and exc.errno:
            raise
        found = re.search(r"errno = (\d+)", str(exc))
        code = int(found[1]) if found else errno.EIO
        raise OSError(code, os.strerror(code), str(path)) from None


def write_stack(path: Path, views: np.ndarray, *, pixel_size: float, angles) -> None:
    """Write ``views`` as one 2-D image per view, with ``EMAN.tilt_angle`` when given."""
    handle, images = _new_file(path, len(views))
    with handle:
        for index, view in enumerate(views):
            group = _new_image(images, index, view.shape, pixel_size, data=view)
            if angles is not None:
                group.attrs["EMAN.tilt_angle"] = np.float32(angles[index])
