"""What a reprojection needs from its request, in IMOD ``tilt``'s numbers (float32, tilt's rounding).

The geometry is the reconstruction's (docs/conventions.md): the tomogram was made from views of ``nx x ny``
pixels with tilt axis at ``nx/2 + 0.5`` (FULLIMAGE / SUBSETSTART move it), shifted by ``xshift``, ``zshift``, its
angles offset by ``offset`` (degrees) and its axis by ``axis_offset``; ``pitch`` and per-view X-axis tilts
incline the rays out of the slices.  Output pixel ``i`` (1-based) of a reprojection lies at column
``i + min_x - 1 + nx//2 - width//2 - xshift`` of the views, so that reprojecting a full-width tomogram at its own
angles gives views registered with its input; output row ``k`` is the tomogram's slice ``k``.

With local alignments (``Request.local``: tilt's LOCALFILE, LOCALSCALE, ZFACTORFILE) the local file's values are
interpolated at each reprojected angle between the views of the nearest angles (as the global X-axis tilt is) and
become a local_alignments.LocalModel of the reprojection's views; reprojection.local_rays follows the rays.

Values are brought back to the views' scale as tilt brings them: the SCALE the tomogram was written with undone
(``value / mult - add``), then divided by tilt's filter scale ``nx / 2.2`` (the gain of IMOD's radial weighting),
or not at all for a tomogram of densities per pixel of path (tiltrec's SIRT, SART, FBP and ADMM).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..formats.local_file import LocalAlignments

F32 = np.float32
DTOR = F32(0.0174532)  # tilt's degrees-to-radians constant (truncated)
IMOD_GAIN = F32(2.2)  # tilt's filterScale = nx / 2.2
TILT_FLOOR = 1.0e-5  # tilt treats a smaller XAXISTILT as none
LOAD_MARGIN = 100  # columns tilt loads beyond the reprojected ones on each side with local alignments
MIN_MEMORY = 20_000_000  # floats: tilt's smallest allocation for the slices it holds
MOST_MEMORY = 2_147_000_000  # floats: the largest it tries


@dataclass(frozen=True)
class LocalRequest:
    """Local alignments of the series the tomogram was made from: tilt's LOCALFILE (every view of the series),
    ZFACTORFILE (only its presence matters to the local areas; its values place the rays' first guesses) and
    LOCALSCALE (None: the local file's pixel size over the views' ``pixel_size``)."""

    alignments: LocalAlignments
    zfactors: np.ndarray | None = None  # (views of the series, 2)
    scale: float | None = None
    pixel_size: float = 0.0

    @classmethod
    def read(cls, local, zfactors, scale: float | None, nviews: int, pixel_size: float,
             roles: tuple[str, str] = ("local alignment file", "Z-factor file")) -> tuple["LocalRequest", tuple]:
        """The local alignment file ``local`` and the Z-factor file ``zfactors`` (or None) of a series of ``nviews``
        views, read and checked as a reconstruction reads them, and the two files' uses (``roles``: their names
        in messages)."""
        from ..formats.file_roles import FileUse
        from ..formats.local_file import read_local_file, read_zfactor_file

        files = [FileUse(roles[0], Path(local))]
        factors = None
        if zfactors is not None:
            factors = read_zfactor_file(zfactors, nviews)
            files.append(FileUse(roles[1], Path(zfactors)))
        return cls(read_local_file(local, nviews), factors, scale, pixel_size), tuple(files)


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
    local: LocalRequest | None = None


@dataclass(frozen=True)
class LocalPlan:
    """What reprojection.local_rays needs: the local model's per-area tables and tilt's loads."""

    model: object  # local_alignments.LocalModel of the reprojected views
    tables: np.ndarray  # (12, nangles, areas) float32: local_point_factors.model_tables
    grid: np.ndarray  # (6,) int64
    centres: np.ndarray  # (4,) float32
    area_delz: np.ndarray  # (nangles, areas) float32: each area's Z step along the rays
    lp: np.ndarray  # float32 and int64 parameters (local_rays' XPROJ_OFFSET ..., NXLOAD ...)
    li: np.ndarray
    columns: tuple[int, int]  # the columns tilt loads (1-based, inclusive)
    needed: np.ndarray  # (lines, 2): tilt's estimate of the slices each output line needs (1-based, inclusive)
    loads: np.ndarray  # (lines, 2): the slices tilt holds while it reprojects each line


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
    local: LocalPlan | None = None

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
    if req.local is not None and req.nslices < 2:
        raise InputError("with local alignments the rays cross slices: reprojecting needs at least two slices")
    nxfull, nyfull = req.full_image if req.full_image is not None else (req.nx, req.ny)
    ixsub, iysub = req.subset_start
    series = np.asarray(req.series_angles, F32)
    alphas = (np.asarray(req.xtilt, F32) if req.xtilt is not None else np.zeros(len(series), F32)) - F32(req.pitch)
    zfactors = req.local.zfactors if req.local is not None and req.local.zfactors is not None else None
    if zfactors is not None and np.shape(zfactors) != (len(series), 2):
        raise AssertionError(f"Z factors for {np.shape(zfactors)[0]} views of a series of {len(series)}")
    views = np.zeros((len(req.angles), 7), F32)
    brackets = [_bracket(angle, series) for angle in np.asarray(req.angles, F32)]
    for i, (angle, (low, high, frac)) in enumerate(zip(np.asarray(req.angles, F32), brackets)):
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
        if zfactors is not None:  # tilt negates them (its Z is upside down)
            z = np.asarray(zfactors, F32)
            xzf = -((F32(1.0) - frac) * z[low, 0] + frac * z[high, 0])
            yzf = -((F32(1.0) - frac) * z[low, 1] + frac * z[high, 1])
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
    local = None
    if req.local is not None:
        alphas_used = np.array([(F32(1.0) - f) * alphas[lo] + f * alphas[hi] for lo, hi, f in brackets], F32)
        local = _local_plan(req, views, brackets, alphas_used, x_range, y_range, z_range,
                            np.array([xproj_offset, yproj_offset, xcen_out, ycen_out - F32(y_range[0] - 1), xcen_in,
                                      axis, center_slice, fill, 0.0, ycen_out], F32))
    return Plan(views, params, x_range, y_range, z_range, mult, add, divisor, fill, local)


def _libm(function, radians: np.ndarray) -> np.ndarray:
    """``function`` (the C library's cosf or sinf) of every float32 value."""
    values = np.asarray(radians, F32)
    return np.array([function(x) for x in values.ravel().tolist()], F32).reshape(values.shape)


def _interpolated(values: np.ndarray, brackets) -> np.ndarray:
    """Per-area values ``[area, view, ...]`` of the series at each reprojected angle, as tilt interpolates them:
    ``(1 - f) low + f high`` in float32."""
    values = np.asarray(values, F32)
    out = np.empty((values.shape[0], len(brackets)) + values.shape[2:], F32)
    for i, (low, high, frac) in enumerate(brackets):
        out[:, i] = (F32(1.0) - frac) * values[:, low] + frac * values[:, high]
    return out


def _local_plan(req: Request, views: np.ndarray, brackets, alphas: np.ndarray, x_range, y_range, z_range,
                lp: np.ndarray) -> LocalPlan:
    """The local model of the reprojected views and tilt's loads of slices (its setNeededSlices and main loop)."""
    from ..geometry import Geometry
    from ..local_alignments import local_model
    from ..local_point_factors import model_tables
    from . import local_rays as lr

    local = req.local.alignments
    if local.nviews != len(req.series_angles):
        raise AssertionError(f"{local.path}: {local.nviews} views of a series of {len(req.series_angles)}")
    at_angles = replace(local, dtilt=_interpolated(local.dtilt, brackets),
                        dalpha=_interpolated(local.dalpha, brackets),
                        zfactors=_interpolated(local.zfactors, brackets),
                        transforms=_interpolated(local.transforms, brackets))
    nxfull, nyfull = req.full_image if req.full_image is not None else (req.nx, req.ny)
    ixsub, iysub = req.subset_start
    first = req.first_slice - 1
    g = Geometry(nx=req.nx, ny=req.ny, angles=np.asarray(req.angles, F32).astype(np.float64),
                 thickness=req.thickness, width=req.width, slices=(first, first + req.nslices),
                 offset=float(F32(req.offset)), pitch=-alphas.astype(np.float64), zshift=req.zshift,
                 center_shift=(nxfull / 2 - ixsub - req.nx / 2, nyfull / 2 - iysub - req.ny / 2))
    used_z = np.zeros((len(brackets), 2), F32) if req.local.zfactors is not None else None
    model = local_model(g, at_angles, zfactors=used_z, local_scale=req.local.scale,
                        pixel_size=req.local.pixel_size, axis_offset=float(F32(req.axis_offset)),
                        subset_start=req.subset_start)
    # tilt's float32 sum for the output centre, not the geometry's float64 one; its sines and cosines from the C
    # library's cosf and sinf (NumPy's float32 ones differ from them in the last bit for some arguments)
    theta = -(DTOR * (np.asarray(req.angles, F32) + F32(req.offset)))
    beta = theta[:, None] + (-(DTOR * at_angles.dtilt.T))
    arg = DTOR * (alphas[:, None] + at_angles.dalpha.T)
    model = replace(model, xcen_out=lp[lr.XCEN_OUT], cos_tilt=_libm(_COSF, beta), sin_tilt=_libm(_SINF, beta),
                    cos_alpha=_libm(_COSF, arg), sin_alpha=-_libm(_SINF, arg))
    tables, grid, centres = model_tables(model)
    if centres[1] != lp[lr.XCEN_IN] or centres[3] != lp[lr.CENTER_SLICE] or centres[2] != lp[lr.AXIS]:
        raise AssertionError("local model and reprojection disagree on the centres")
    area_delz = delz(model.sin_tilt, model.cos_tilt, model.sin_alpha, model.cos_alpha, model.xz, model.yz)
    columns = max(1, x_range[0] - LOAD_MARGIN), min(req.width, x_range[1] + LOAD_MARGIN)
    nxload = columns[1] - columns[0] + 1
    step = F32(model.spacing[0]) / F32(2.0)
    nwarp = int(max(F32(2.0), F32(nxload - 1) / step) + F32(1.0))
    lp = lp.copy()
    lp[lr.DX_WARP] = (F32(nxload) - F32(1.0)) / (F32(nwarp) - F32(1.0))
    li = np.zeros(8, np.int64)
    li[[lr.NXLOAD, lr.MIN_XLOAD, lr.THICK, lr.NWARP, lr.WIDTH, lr.MIN_Y, lr.NSLICES, lr.SPACING_X]] = \
        nxload, columns[0], y_range[1] - y_range[0] + 1, nwarp, x_range[1] - x_range[0] + 1, y_range[0], \
        req.nslices, model.spacing[0]
    needed = np.zeros((z_range[1] - z_range[0] + 1, 2), np.int64)
    lr.needed_slices(tables, grid, centres, views, lp, li, z_range[0], needed)
    loads = _loads(needed, z_range, nxload * int(li[lr.THICK]), req.nslices)
    return LocalPlan(model, tables, grid, centres, F32(area_delz), lp, li, columns, needed, loads)


def _loads(needed: np.ndarray, z_range: tuple[int, int], plane: int, nslices: int) -> np.ndarray:
    """The slices tilt holds (first, last) while it reprojects each output line: it loads, for a run of lines,
    from the first slice the run's first line needs to the last one its last line needs, as many lines as the
    memory it allocated holds (at least MIN_MEMORY floats, or all the slices the lines need)."""
    nlines = len(needed)
    starts, ends = needed[:, 0], needed[:, 1]
    count = min(10, nlines)
    most = [max(int(ends[k + i - 1] + 1 - starts[k]) for k in range(nlines + 1 - i)) for i in range(1, count + 1)]
    least = min(1 + plane * int(ends[-1] + 1 - starts[0]) + 32, MIN_MEMORY)
    planes = most[0]
    for i in range(count, 0, -1):
        memory = max(1 + plane * most[i - 1] + 32, least)
        if memory < MOST_MEMORY:
            planes = memory // plane
            break
    loads = np.zeros((nlines, 2), np.int64)
    line = z_range[0]
    while line <= z_range[1]:
        start = end = ready = 0
        tried_end = 0
        trial = line
        while 0 < trial <= min(nslices, z_range[1]) and tried_end - start + 1 <= planes:
            k = trial - z_range[0]
            tried_end = int(ends[k])
            start = start or int(starts[k])
            if tried_end - start + 1 > planes:
                break
            end, ready = tried_end, trial
            trial += 1
        if end == 0:
            raise AssertionError(f"no load for output line {line}")
        loads[line - z_range[0]:ready - z_range[0] + 1] = start, end
        line = ready + 1
    return loads


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
