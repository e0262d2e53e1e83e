"""IMOD ``tilt`` geometry: where a voxel of the tomogram projects in each view.

All formulas follow IMOD's 1-based pixel conventions (see docs/conventions.md); this module turns them into
0-based quantities the projectors use.  With output column ``j``, thickness row ``i`` and slice ``k`` (all
1-based), centred coordinates are ``X = j - xcen_out``, ``Z = i - zcen_out``, ``Y = k - center_slice``.  The
X-axis tilt (pitch) ``a`` rotates the specimen about X first (``Y' = Y cos a - Z sin a``,
``Z' = Y sin a + Z cos a``); the tilt ``t`` about Y then gives ``xproj = xcen_in + X cos t - Z' sin t`` and
``yproj = center_slice + Y'``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from .errors import InputError

ROW_ALIGN = 8  # projection rows of a pitched slab are read in multiples of this (whole 32-byte vectors of floats)


@dataclass(frozen=True)
class Geometry:
    """Reconstruction geometry in (possibly binned) input pixels.

    Attributes:
        nx, ny: size of an input view (X across, Y along the tilt axis).
        angles: tilt angles in degrees of the views used, without the offset.
        thickness, width: output size in Z and X.
        slices: first and one-past-last input row (0-based) reconstructed as output slices.
        offset: added to every tilt angle (degrees).
        pitch: X-axis tilt in degrees, or one value per view.
        xshift, zshift: shift of the reconstruction (pixels; +x right, +z up).
        center_shift: moves the tilt axis in the views (X) and the centre slice (Y) from the views' centres, for
            views that are a subset of a larger aligned image (IMOD FULLIMAGE/SUBSETSTART).
        local: IMOD's local alignments (a local_alignments.LocalModel), which give every voxel its own position in
            each view; None: the global geometry above.
    """

    nx: int
    ny: int
    angles: np.ndarray
    thickness: int
    width: int = 0
    slices: tuple[int, int] = (0, 0)
    offset: float = 0.0
    pitch: float | np.ndarray = 0.0
    xshift: float = 0.0
    zshift: float = 0.0
    center_shift: tuple[float, float] = (0.0, 0.0)
    local: object = field(default=None, repr=False, compare=False)
    _pitch_per_view: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        angles = np.atleast_1d(np.asarray(self.angles, dtype=np.float64))
        object.__setattr__(self, "angles", angles)
        if self.width <= 0:
            object.__setattr__(self, "width", self.nx)
        if self.slices == (0, 0):
            object.__setattr__(self, "slices", (0, self.ny))
        pitch = np.broadcast_to(np.asarray(self.pitch, dtype=np.float64), angles.shape).copy()
        object.__setattr__(self, "_pitch_per_view", pitch)
        self._validate()

    def _validate(self):
        if self.thickness <= 0:
            raise InputError(f"thickness must be a positive number of pixels, got {self.thickness}")
        if self.width <= 0:
            raise InputError(f"width must be positive, got {self.width}")
        first, stop = self.slices
        if not 0 <= first < stop <= self.ny:
            raise InputError(f"slice range {first},{stop - 1} lies outside the {self.ny} rows of the views")
        if self.angles.size == 0:
            raise InputError("no views left to reconstruct from")
        if np.any(np.abs(self.angles + self.offset) >= 90.0):
            raise InputError("tilt angles (with offset) must lie strictly between -90 and 90 degrees")
        if np.any(np.abs(self._pitch_per_view) >= 45.0):
            raise InputError("X-axis tilt (pitch) must lie between -45 and 45 degrees")

    # --- IMOD's centres (1-based) ---
    @property
    def xcen_in(self) -> float:
        return self.nx / 2.0 + 0.5 + self.center_shift[0]

    @property
    def center_slice(self) -> float:
        return self.ny / 2.0 + 0.5 + self.center_shift[1]

    @property
    def xcen_out(self) -> float:
        return self.width // 2 + 0.5 + self.xshift

    @property
    def zcen_out(self) -> float:
        return self.thickness // 2 + 0.5 + self.zshift

    # --- derived quantities ---
    @property
    def nviews(self) -> int:
        return int(self.angles.size)

    @property
    def nslices(self) -> int:
        return self.slices[1] - self.slices[0]

    @property
    def theta(self) -> np.ndarray:
        """Tilt angles with the offset, in radians."""
        return np.radians(self.angles + self.offset)

    @property
    def pitch_radians(self) -> np.ndarray:
        """X-axis tilt per view, in radians."""
        return np.radians(self._pitch_per_view)

    @property
    def has_pitch(self) -> bool:
        return bool(np.any(self._pitch_per_view != 0.0))

    def with_width(self, width: int) -> "Geometry":
        """The same geometry with another output width (its local alignments' model too)."""
        local = self.local.with_width(width) if self.local is not None else None
        return replace(self, width=width, local=local)

    def with_views(self, views: list[int]) -> "Geometry":
        """The same geometry for a subset of the views (indices into ``angles``)."""
        pitch = self._pitch_per_view[views] if np.ndim(self.pitch) else self.pitch
        local = self.local.with_views(views) if self.local is not None else None
        return replace(self, angles=self.angles[views], pitch=pitch, local=local)

    def rows_needed(self, y0: int, y1: int) -> tuple[int, int]:
        """Input rows [r0, r1) that output slices [y0, y1) (0-based input rows) project onto, clipped to the views.

        Without pitch this is [y0, y1); with pitch it adds the halo that bilinear interpolation reaches, and one
        row more below, which IMOD's vertical-slice interpolation may use (projectors.imod_cpu), and then rows up to
        a multiple of ROW_ALIGN where the views have them (the kernels vectorise along rows: 86 rows ran at 10-12
        GUPS, 88 or 96 at 14-17).
        """
        if self.local is not None:
            return self.local.slab_rows(y0, y1, self.slices)
        if not self.has_pitch:
            return y0, y1
        alpha = self.pitch_radians
        z_ends = np.array([1.0, self.thickness]) - self.zcen_out
        y_ends = np.array([y0 + 1.0, y1]) - self.center_slice
        rows = [self.center_slice - 1.0 + yy * np.cos(a) - zz * np.sin(a)
                for a in np.unique(alpha) for yy in y_ends for zz in z_ends]
        r0 = max(0, math.floor(min(rows)) - 1)
        r1 = min(self.ny, math.floor(max(rows)) + 2)
        aligned = -(-max(r1 - r0, 1) // ROW_ALIGN) * ROW_ALIGN  # whole vectors per row: more rows where there are
        r1 = min(self.ny, r0 + aligned)
        r0 = max(0, r1 - aligned)
        return r0, max(r1, r0 + 1)

    def slab_halo(self) -> int:
        """Extra slices on each side of a slab that iterative slab reconstructions carry along where a ray crosses
        several slices: with pitch, or with local alignments (local_alignments.slab_halo)."""
        if self.local is not None:
            return self.local.halo()
        if not self.has_pitch:
            return 0
        return math.ceil(np.max(np.abs(np.tan(self.pitch_radians))) * self.thickness)

    def min_padding_width(self) -> int:
        """Output width that every ray through the input views crosses fully (used to avoid X-edge artifacts)."""
        t = np.max(np.abs(np.tan(self.theta)))
        reach = abs(self.xshift) + t * (self.thickness / 2.0 + abs(self.zshift))
        return max(self.width, self.nx + 2 * math.ceil(reach))
