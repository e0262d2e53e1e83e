"""What a reprojection needs from its request, in IMOD ``tilt``'s numbers (float32, tilt's rounding).

The geometry is the reconstruction's (docs/conventions.md): the tomogram was made from views of ``nx x ny``
pixels with tilt axis at ``nx/2 + 0.5`` (FULLIMAGE / SUBSETSTART move it), shifted by ``xshift``, ``zshift``, its
angles offset by ``offset`` (degrees) and its axis by ``axis_offset``; ``pitch`` and per-view X-axis tilts
incline the rays out of the slices.  Output pixel ``i`` (1-based) of a reprojection lies at column
``i + min_x - 1 + nx//2 - width//2 - xshift`` of the views, so that reprojecting a full-width tomogram at its own
angles gives views registered with its input; output row ``k`` is the tomogram's slice ``k``.

Values are brought back to the views' scale as tilt brings them: the SCALE the tomogram was written with undone
(``value / mult - add``), then divided by tilt's filter scale ``nx / 2.2`` (the gain of IMOD's radial weighting),
or not at all for a tomogram of densities per pixel of path (tiltrec's SIRT, SART, FBP and ADMM).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math
from dataclasses import dataclass

import numpy as np

from ..errors import InputError

F32 = np.float32
DTOR = F32(0.0174532)  # tilt's degrees-to-radians constant (truncated)
IMOD_GAIN = F32(2.2)  # tilt's filterScale = nx / 2.2
TILT_FLOOR = 1.0e-5  # tilt treats a smaller XAXISTILT as none


@dataclass(frozen=True)
class Request:
    """A reprojection as tilt's parameters describe it (pixels of the binned views, 1-based ranges)."""

    nx: int  # the views the tomogram was made from (InputProjections' size)
    ny: int
    series_angles: np.ndarray  # every view's tilt angle, file order (degrees)
    angles: np.ndarray  # the angles to reproject at (degrees)
    width: int  # the tomogram: columns, thickness rows, slices
    thickness: int
    nslices: int
    first_slice: int = 1  # the views' row of the tomogram's first slice (SLICE, 1-based)
    x_range: tuple[int, int] | None = None  # columns, rows and slices to reproject (1-based, inclusive)
    y_range: tuple[int, int] | None = None
    z_range: tuple[int, int] | None = None
    full_image: tuple[int, int] | None = None
    subset_start: tuple[int, int] = (0, 0)
    xshift: float = 0.0
    zshift: float = 0.0
    offset: float = 0.0
    axis_offset: float = 0.0
    pitch: float = 0.0
    xtilt: np.ndarray | None = None  # per-view X-axis tilts of the series (XTILTFILE), file order
    scale: tuple[float, float] = (0.0, 1.0)  # SCALE add, mult the tomogram was written with
    imod_gain: bool = True  # divide by nx / 2.2 (IMOD's WBP scale)
    mean: float | None = 0.0  # the tomogram's mean (its header's, as tilt takes it): the fill outside it


@dataclass(frozen=True)
class Plan:
    """Arrays for reprojection.imod_rays and the ranges it covers."""

    views: np.ndarray  # (nangles, 7) float32: cos, -sin of angle; cos, -sin of X tilt; Z factors x, y; delz
    params: np.ndarray  # (10,) float32
    x_range: tuple[int, int]
    y_range: tuple[int, int]
    z_range: tuple[int, int]
    mult: np.float32
    add: np.float32
    divisor: np.float32  # tilt's filterScale, or 1
    fill: np.float32

    @property
    def out_width(self) -> int:
        return self.x_range[1] - self.x_range[0] + 1

    @property
    def nlines(self) -> int:
        return self.z_range[1] - self.z_range[0] + 1

    @property
    def tilted(self) -> bool:
        return bool(self.params[9])

    def descale(self, values: np.ndarray) -> None:
        """Tomogram values (float32, in place) as the rays sum them: ``(value / mult - add) / divisor``, tilt's
        order; the steps that change nothing (divide by 1, subtract 0) are skipped."""
        if self.mult != 1:
            np.divide(values, self.mult, out=values)
        if self.add != 0:
            np.subtract(values, self.add, out=values)
        if self.divisor != 1:
            np.divide(values, self.divisor, out=values)


def _libm_float_functions():
    """The C library's single-precision cosf, sinf and log10f, which tilt's float32 COS, SIN and ALOG10 call (they
    differ from the correctly rounded values in the last bit for some arguments, which moves whole rays); math's,
    rounded, where the C library cannot be loaded."""
    try:
        libm = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
        functions = []
        for name in ("cosf", "sinf", "log10f"):
            function = getattr(libm, name)
            function.restype, function.argtypes = ctypes.c_float, [ctypes.c_float]
            functions.append(function)
        return tuple(functions)
    except (OSError, AttributeError):
        return math.cos, math.sin, math.log10


_COSF, _SINF, _LOG10F = _libm_float_functions()


def log10f(value) -> np.float32:
    return F32(_LOG10F(F32(value)))


def _f32_trig(function, degrees) -> np.float32:
    """cosf or sinf of a float32 angle in degrees times tilt's DTOR."""
    return F32(function(F32(degrees) * DTOR))


def delz(sb, cb, sa, ca, xzf, yzf) -> np.float32:
    """The step in Z that moves one pixel along a ray (tilt's reprojDelz), in float32."""
    dyfac = (sa - yzf) / ca
    lateral = (dyfac * sa * sb + ca * sb + xzf) / cb
    return F32(1.0) / np.sqrt(F32(1.0) + dyfac * dyfac + lateral * lateral, dtype=F32)


def _bracket(angle: np.float32, angles: np.ndarray) -> tuple[int, int, np.float32]:
    """tilt's lookupAngle: the views of the nearest angles at or below and above ``angle``, and the fraction."""
    below = [i for i in range(len(angles)) if angle >= angles[i]]
    above = [i for i in range(len(angles)) if angle < angles[i]]
    low = max(below, key=lambda i: (angles[i], -i)) if below else None
    high = min(above, key=lambda i: (angles[i], i)) if above else None
    if low is None:
        return high, high, F32(0.0)
    if high is None:
        return low, low, F32(0.0)
    return low, high, (angle - angles[low]) / (angles[high] - angles[low])


def _range(given, size: int, what: str) -> tuple[int, int]:
    low, high = given if given is not None else (1, size)
    if not 1 <= low <= high <= size:
        raise InputError(f"the {what} to reproject, {low - 1}-{high - 1} (0-based), are not within 0-{size - 1}")
    return low, high


def plan(req: Request) -> Plan:
    """Everything the kernel needs, computed as tilt computes it."""
    if req.width < 2 or req.thickness < 2 or req.nslices < 1:
        raise InputError(f"a tomogram of {req.width} x {req.thickness} x {req.nslices} (width, thickness, slices) "
                         f"is too small to reproject")
    x_range = _range(req.x_range, req.width, "columns")
    y_range = _range(req.y_range, req.thickness, "thickness rows")
    z_range = _range(req.z_range, req.nslices, "slices")
    if x_range[1] - x_range[0] < 1 or y_range[1] - y_range[0] < 1:
        raise InputError("reprojecting needs at least two columns and two thickness rows")
    tilted = req.xtilt is not None or abs(req.pitch) > TILT_FLOOR
    if tilted and req.nslices < 2:
        raise InputError("with an X-axis tilt the rays cross slices: reprojecting needs at least two slices")
    nxfull, nyfull = req.full_image if req.full_image is not None else (req.nx, req.ny)
    ixsub, iysub = req.subset_start
    series = np.asarray(req.series_angles, F32)
    alphas = (np.asarray(req.xtilt, F32) if req.xtilt is not None else np.zeros(len(series), F32)) - F32(req.pitch)
    views = np.zeros((len(req.angles), 7), F32)
    for i, angle in enumerate(np.asarray(req.angles, F32)):
        low, high, frac = _bracket(angle, series)
        alpha = (F32(1.0) - frac) * alphas[low] + frac * alphas[high]
        theta = angle + F32(req.offset)
        if theta > 180:
            theta -= F32(360.0)
        if theta <= -180:
            theta += F32(360.0)
        cb = _f32_trig(_COSF, theta)
        if abs(cb) < 1e-6:
            cb = F32(math.copysign(1e-6, cb))
        sb = -_f32_trig(_SINF, theta)
        ca, sa = _f32_trig(_COSF, alpha), -_f32_trig(_SINF, alpha)
        xzf = yzf = F32(0.0)
        views[i] = cb, sb, ca, sa, xzf, yzf, delz(sb, cb, sa, ca, xzf, yzf)
    xshift, axis = F32(req.xshift), F32(req.axis_offset)
    xoff_adj = xshift - F32(req.nx // 2 + ixsub - nxfull // 2)
    xcen_out = F32(req.width // 2) + F32(0.5) + axis + xoff_adj
    ycen_out = F32(req.thickness // 2) + F32(0.5) + F32(req.zshift)
    xcen_in = F32(nxfull) / F32(2.0) + F32(0.5) - F32(ixsub)
    center_slice = F32(nyfull) / F32(2.0) + F32(0.5) - F32(iysub)
    xproj_offset = F32(x_range[0] - 1 + req.nx // 2 - req.width // 2) - xshift
    yproj_offset = F32(req.first_slice - 1)
    mult, add = F32(req.scale[1]), F32(req.scale[0])
    if mult == 0:
        raise InputError("the SCALE the tomogram was written with has a factor of 0")
    divisor = F32(req.nx) / IMOD_GAIN if req.imod_gain else F32(1.0)
    fill = (F32(req.mean) / mult - add) / divisor
    params = np.array([xproj_offset, yproj_offset, xcen_out, ycen_out, xcen_in + axis, center_slice, fill,
                       x_range[0], y_range[0], 1.0 if tilted else 0.0], F32)
    return Plan(views, params, x_range, y_range, z_range, mult, add, divisor, fill)


def slices_needed(p: Plan, lines: range, nslices: int) -> tuple[int, int]:
    """The tomogram's slices (1-based, inclusive) whose values the rays of output ``lines`` can reach."""
    if not p.tilted:
        return lines.start, lines.stop - 1
    yproj_offset, ycen_out, center_slice, min_y = (float(p.params[i]) for i in (1, 3, 5, 8))
    low, high = math.inf, -math.inf
    for cb, sb, ca, sa, xzf, yzf, _ in p.views.astype(float):
        for line in (lines.start, lines.stop - 1):
            for row in (1, p.y_range[1] - p.y_range[0] + 1):
                zz = row + min_y - 1 - ycen_out
                y = (line + yproj_offset + zz * (sa - yzf) - center_slice) / ca + center_slice - yproj_offset
                low, high = min(low, y), max(high, y)
    return max(1, math.floor(low) - 1), min(nslices, math.ceil(high) + 1)
