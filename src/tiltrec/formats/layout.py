"""Volume layouts: how the tomogram's axes map onto the file's, as IMOD's ``tilt`` writes them.

With ``j`` the thickness row, ``L`` the slice (along the tilt axis) and ``x`` the column, numpy file arrays are:

- ``xzy`` (IMOD ``PERPENDICULAR``, the default): ``file[L, j, x]``; header ny = thickness, nz = slices.
- ``xyz`` (IMOD ``RotateBy90``, as ``trimvol -rx``/``clip rotx``, a -90 degree rotation about X):
  ``file[k, L, x] = volume[L, nthick - 1 - k, x]``; header ny = slices, nz = thickness; same handedness.
- ``parallel`` (IMOD ``PARALLEL``): ``file[j, L, x]``, Y and Z swapped, which inverts the handedness.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError

LAYOUTS = ("xzy", "xyz", "parallel")


def check_layout(layout: str) -> None:
    if layout not in LAYOUTS:
        raise InputError(f"unknown volume layout {layout!r}; use {', '.join(LAYOUTS)}")


def file_shape(layout: str, width: int, nslices: int, thickness: int) -> tuple[int, int, int]:
    """numpy shape of the whole file array."""
    return (nslices, thickness, width) if layout == "xzy" else (thickness, nslices, width)


def slice_axis(layout: str) -> int:
    """The file array axis that runs along the slices."""
    return 0 if layout == "xzy" else 1


def header_tilts(layout: str) -> tuple[float, ...]:
    """The six tilt angles of IMOD's MRC header (original, then current rotation about X, Y, Z in degrees) for a
    volume in ``layout``: IMOD's tilt writes its PERPENDICULAR output as the tilt series' frame rotated by 90 about
    X, and nothing (zeros) with PARALLEL; ``clip rotx`` (xyz) keeps the current angles as the original ones and
    subtracts its -90 degrees from the current X angle."""
    return {"xzy": (0.0, 0.0, 0.0, 90.0, 0.0, 0.0), "xyz": (90.0, 0.0, 0.0, 0.0, 0.0, 0.0),
            "parallel": (0.0,) * 6}[layout]


def slices_strides(layout: str, width: int, nslices: int, thickness: int) -> tuple[int, int, int]:
    """Where ``slices_view``'s element ``[L, j, x]`` lies in a C-ordered file array, in elements:
    ``origin + L * stride_L + j * stride_j + x``; returns ``(origin, stride_L, stride_j)``."""
    if layout == "xzy":
        return 0, thickness * width, width
    if layout == "xyz":
        return (thickness - 1) * nslices * width, width, -nslices * width
    return 0, width, nslices * width


def slices_view(layout: str, block: np.ndarray) -> np.ndarray:
    """A view ``[L, j, x]`` (slice, thickness row in the tomogram's own order, column) of a file-ordered array."""
    if layout == "xzy":
        return block
    if layout == "xyz":
        return block[::-1].transpose(1, 0, 2)
    return block.transpose(1, 0, 2)


def layout_kind(nx: int, ny: int, nz: int, has_angles: bool) -> str | None:
    """What a file of ``nx x ny x nz`` most likely is: "tilt series" (it has per-view angles), "image", a volume in
    layout "xzy" or "xyz" (the thickness is the shortest axis), or None (no telling)."""
    if has_angles:
        return "tilt series"
    if nz == 1:
        return "image"
    if ny < nx and ny < nz:
        return "xzy"
    if nz < nx and nz < ny:
        return "xyz"
    return None
