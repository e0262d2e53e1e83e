"""IMOD 4.8.2 ``tilt``'s local-alignment model: where a voxel projects in each view when a ``LOCALFILE`` gives
per-area changes of the alignment, computed as IMOD computes it (float32, its grid, its rounding).

Coordinates are IMOD's 1-based pixel indices: output column ``j = 1..width``, thickness row ``i = 1..thickness``,
slice ``L`` = the 1-based row of the views the slice comes from; ``xproj``, ``yproj`` are 1-based positions in a
view (pixel ``p`` of a 0-based array sits at ``p + 1``).  With ``X = j - xcen_out``, ``Y = L - center_slice``,
``Z = i - zcen_out``, and for one local area ``k`` and view ``v``:

* local tilt ``b = theta_v + OFFSET + dtilt[k, v]`` and local X-axis tilt ``a = pitch_v - dalpha[k, v]``
  (IMOD converts degrees with its constant 0.0174532, not pi/180);
* ``xp = X cos b - (Y sin a + Z cos a) sin b + zx Z + xcen_in + axis_offset`` and
  ``yp = Y cos a - Z sin a + zy Z + center_slice``, where ``(zx, zy)`` are minus the area's Z factors when a
  ``ZFACTORFILE`` is given and the local file has Z factors, else 0 (the global Z factors are not used);
* the area's transform, about the centre ``(xcen_in, center_slice)``:
  ``x' = a11 (xp - xcen_in) + a12 (yp - center_slice) + dx + xcen_in``, likewise ``y'`` with ``a21 a22 dy``.

The four areas around the column's position in the views, ``nint(j - xcen_out + xcen_in + axis_offset)``, and the
slice's row ``L`` are combined with bilinear weights on the area grid (positions beyond the outer area centres
take the outer areas: the weights are clamped, nothing is extrapolated).  Since every term is linear in ``Z``,
each column of a slice has four numbers per view, ``xproj = xf + zz xz`` and ``yproj = yf + zz yz`` with
``zz = i - zcen_out`` (:func:`projection_factors`); IMOD evaluates them for every column (no coarser grid on the
CPU back-projection path).  Sampling and edge rules: :func:`sample_view`; the rows IMOD holds in memory:
:func:`loaded_rows`.  With local alignments IMOD does no cosine stretching and no vertical-slice X-axis tilt: the
filtered views are sampled directly at these positions.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass, fields, replace

import numpy as np

from .errors import InputError, TiltrecError
from .formats.local_file import LocalAlignments
from .geometry import Geometry

F32 = np.float32
DTOR = F32(0.0174532)  # IMOD tilt's degrees-to-radians factor
YTOL = F32(3.05)  # rows this close beyond the views' first or last row read that row (IMOD's ``ytol``)
_ONE = F32(1.0)


def _nint(x) -> np.ndarray:
    """Fortran NINT: nearest integer, halves away from zero."""
    x = np.asarray(x)
    return (np.sign(x) * np.floor(np.abs(x) + F32(0.5))).astype(np.int64)


@dataclass(frozen=True)
class LocalModel:
    """IMOD's precomputed local-alignment quantities for the views used, float32 arrays ``[used view, area]``.

    ``start``/``spacing`` of the area grid are in pixels of the views after ``LOCALSCALE`` and SUBSETSTART;
    ``cos_tilt``/``sin_tilt`` are IMOD's ``cWarpBeta``/``sWarpBeta`` (cos b, -sin b), ``cos_alpha``/``sin_alpha``
    its ``cWarpAlpha``/``sWarpAlpha`` (cos a, sin a), ``xz``/``yz`` the (negated) Z factors, ``a11 .. a22`` the
    transforms and ``xadd``/``yadd`` their translations folded with the centre, as IMOD's ``localProjFactors``.
    """

    geometry: Geometry
    views: np.ndarray
    scale: float
    nx_areas: int
    ny_areas: int
    start: tuple[int, int]
    spacing: tuple[int, int]
    cos_tilt: np.ndarray
    sin_tilt: np.ndarray
    cos_alpha: np.ndarray
    sin_alpha: np.ndarray
    xz: np.ndarray
    yz: np.ndarray
    a11: np.ndarray
    a12: np.ndarray
    a21: np.ndarray
    a22: np.ndarray
    xadd: np.ndarray
    yadd: np.ndarray
    xcen_in: np.float32
    axis_offset: np.float32
    xcen_out: np.float32
    zcen_out: np.float32
    center_slice: np.float32

    @property
    def nviews(self) -> int:
        return int(self.views.size)

    def slab_rows(self, y0: int, y1: int, run: tuple[int, int]) -> tuple[int, int]:
        """See :func:`slab_rows` (a method, so that the geometry asks its model without importing this module)."""
        return slab_rows(self, y0, y1, run)

    def halo(self) -> int:
        """See :func:`slab_halo`."""
        return slab_halo(self)

    def with_width(self, width: int) -> "LocalModel":
        """The model for an output ``width`` columns wide about the same centre (a padded working volume): each
        column keeps its position in the views, so a column of the wider volume projects where IMOD's would."""
        geometry = self.geometry.with_width(width)
        return replace(self, geometry=geometry, xcen_out=F32(geometry.xcen_out))

    def digest(self) -> str:
        """A fingerprint of every number of the model (a checkpoint continues only the same local alignments)."""
        sha = hashlib.sha256()
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "geometry":
                value = (value.width, value.thickness, value.nx, value.ny)
            sha.update(f.name.encode())
            sha.update(np.ascontiguousarray(value).tobytes() if isinstance(value, np.ndarray) else repr(value).encode())
        return sha.hexdigest()

    def with_views(self, chosen) -> "LocalModel":
        """The model for a subset of its views (indices into its views: the odd or even half of a run)."""
        chosen = np.asarray(chosen, dtype=np.int64)
        per_view = {name: getattr(self, name)[chosen] for name in (
            "cos_tilt", "sin_tilt", "cos_alpha", "sin_alpha", "xz", "yz", "a11", "a12", "a21", "a22", "xadd", "yadd")}
        return replace(self, geometry=self.geometry.with_views(list(chosen)), views=self.views[chosen], **per_view)


def local_scale_factor(local: LocalAlignments, local_scale: float | None, pixel_size: float) -> float:
    """IMOD's factor from the local file's pixels to the views' pixels: ``LOCALSCALE`` when given (> 0), else the
    file's pixel size over the views' (``pixel_size``, of the views as reconstructed) when both are known, else 1."""
    if local_scale is not None and local_scale > 0:
        return float(F32(local_scale))
    if local.pixel_size > 0 and pixel_size > 0:
        return float(F32(local.pixel_size) / F32(pixel_size))
    return 1.0


def _imod_angles(angles) -> np.ndarray:
    """Tilt angles as IMOD keeps them: float32, with angles within 0.05 of +-90 moved to +-89.95 (or +-90.05)."""
    a = np.asarray(angles, dtype=F32)
    near = np.abs(np.abs(a) - F32(90)) < F32(0.05)
    moved = np.copysign(F32(90) - np.copysign(F32(0.05), F32(90) - np.abs(a)), a)
    return np.where(near, moved, a).astype(F32)


def local_model(geometry: Geometry, local: LocalAlignments, *, views=None, zfactors=None,
                local_scale: float | None = None, pixel_size: float = 0.0, axis_offset: float = 0.0,
                subset_start: tuple[int, int] = (0, 0)) -> LocalModel:
    """Prepare IMOD's local model for ``geometry`` (in the pixels of the views as reconstructed).

    Args:
        local: the parsed ``LOCALFILE`` (one entry per view of the stack, excluded views included).
        views: the stack's (0-based) view of each view in ``geometry.angles``; default all, in order.
        zfactors: the ``ZFACTORFILE`` contents, or None.  As in IMOD, with a local file only its presence
            matters: it switches the local file's own Z factors on.
        local_scale: ``LOCALSCALE``; None or <= 0 derives the scale from ``local.pixel_size`` / ``pixel_size``.
        axis_offset: OFFSET's second value (pixels of the views): IMOD adds it to the input centre in the
            projection and to the column used to find the areas; ``geometry.xshift`` already holds it as the
            output-centre shift (job_geometry).
        subset_start: SUBSETSTART in the views' pixels; the area positions are moved by it.
    """
    g = geometry
    used = np.arange(local.nviews) if views is None else np.asarray(views, dtype=np.int64).ravel()
    if used.size != g.nviews:
        raise InputError(f"{local.path}: {used.size} views mapped for the {g.nviews} views of the geometry")
    if used.size and (used.min() < 0 or used.max() >= local.nviews):
        raise InputError(f"{local.path}: has {local.nviews} views; the reconstruction uses view {used.max() + 1}")
    if zfactors is not None and np.shape(zfactors) != (local.nviews, 2):
        raise InputError(f"Z factors for {np.shape(zfactors)[0]} views; the local file has {local.nviews}")
    scale = local_scale_factor(local, local_scale, pixel_size)
    start, spacing = np.array(local.start), np.array(local.spacing)
    xforms = local.transforms[:, used].astype(F32)  # [area, view, 2, 3]
    if scale != 1.0:
        start, spacing = _nint(start.astype(F32) * F32(scale)), _nint(spacing.astype(F32) * F32(scale))
        xforms[..., 2] *= F32(scale)
    start = start - np.asarray(subset_start, dtype=np.int64)
    _check_grid(local, start, spacing, g, scale)

    theta = -(DTOR * (_imod_angles(g.angles) + F32(g.offset)))  # IMOD angles(iv), radians, negated
    beta = theta[:, None] + (-(DTOR * local.dtilt[:, used].T.astype(F32)))
    alpha = (-np.broadcast_to(np.asarray(g.pitch, dtype=np.float64), (g.nviews,))).astype(F32)
    arg = DTOR * (alpha[:, None] + local.dalpha[:, used].T.astype(F32))
    zon = zfactors is not None and local.has_zfactors
    zf = -local.zfactors[:, used].transpose(1, 0, 2).astype(F32) if zon else np.zeros((g.nviews, local.n_areas, 2), F32)
    xcen_in, cen_slice = F32(g.xcen_in), F32(g.center_slice)
    a11, a12, dx = (np.ascontiguousarray(xforms[:, :, 0, c].T) for c in range(3))
    a21, a22, dy = (np.ascontiguousarray(xforms[:, :, 1, c].T) for c in range(3))
    return LocalModel(
        geometry=g, views=used, scale=scale, nx_areas=local.nx_areas, ny_areas=local.ny_areas,
        start=(int(start[0]), int(start[1])), spacing=(int(spacing[0]), int(spacing[1])),
        cos_tilt=np.cos(beta), sin_tilt=np.sin(beta), cos_alpha=np.cos(arg), sin_alpha=-np.sin(arg),
        xz=np.ascontiguousarray(zf[..., 0]), yz=np.ascontiguousarray(zf[..., 1]), a11=a11, a12=a12, a21=a21,
        a22=a22, xadd=((dx + xcen_in) - xcen_in * a11) - cen_slice * a12,
        yadd=((dy + cen_slice) - xcen_in * a21) - cen_slice * a22,
        xcen_in=xcen_in, axis_offset=F32(axis_offset), xcen_out=F32(g.xcen_out), zcen_out=F32(g.zcen_out),
        center_slice=cen_slice)


def _check_grid(local: LocalAlignments, start, spacing, g: Geometry, scale: float) -> None:
    """The scaled area grid must have spacings IMOD can use and must overlap the views."""
    for axis, name, size in ((0, "X", g.nx), (1, "Y", g.ny)):
        count = (local.nx_areas, local.ny_areas)[axis]
        if spacing[axis] < 2:
            raise InputError(f"{local.path}: the local areas are {spacing[axis]} pixel(s) apart in {name} after "
                             f"scaling by {scale:g}; IMOD needs at least 2")
        first, last = start[axis], start[axis] + (count - 1) * spacing[axis]
        if last < 1 or first > size:
            raise InputError(f"{local.path}: the local areas' centres ({name} {first} to {last} after scaling by "
                             f"{scale:g}) lie outside the {size} pixels of the views (wrong LOCALSCALE or pixel "
                             f"size?)")


_RECENT: dict = {}  # (id of model, y0, y1) -> (model, factors, span): a slab's factors serve every pass over it
_KEEP = 4


def projection_factors(m: LocalModel, y0: int, y1: int):
    """``xf, xz, yf, yz`` (float32 ``(y1 - y0, nviews, width)``) of output slices from view rows ``[y0, y1)``
    (0-based): a voxel of thickness row ``i`` projects in used view ``v`` to ``xproj = xf + zz * xz``,
    ``yproj = yf + zz * yz`` (1-based, float32), ``zz = i - zcen_out``.  Compiled (local_factors.py); the same
    numbers as local_point_factors.factors_at, which tests check it against.  The last few slabs' are kept (read
    only)."""
    return _kept_factors(m, y0, y1)[0]


def projection_span(m: LocalModel, y0: int, y1: int) -> tuple[float, float]:
    """The lowest and highest ``yproj`` of the bottom and top voxels of every column of those slices (the rows
    their samples reach), found while :func:`projection_factors` computes them."""
    return _kept_factors(m, y0, y1)[1]


def _kept_factors(m: LocalModel, y0: int, y1: int):
    key = (id(m), y0, y1)
    kept = _RECENT.get(key)
    if kept is not None and kept[0] is m:  # (holding the model keeps its id from being reused)
        return kept[1:]
    shape = (4, y1 - y0, m.nviews, m.geometry.width)
    # the memory of kept factors that nothing else holds any more (a finished slab's) is reused, oldest first, since
    # fresh pages cost the kernel's zeroing (13 % of a local WBP's time in `perf record`, 0.1 s per slab of
    # 64 x 61 x 512 on this VM); factors a projector still holds are never written
    spare = None
    for old in list(_RECENT):
        if _unheld(_RECENT[old][1]) and _RECENT[old][1][0].base.shape == shape:
            spare = _RECENT.pop(old)[1][0].base
            break
    while len(_RECENT) >= _KEEP:
        _RECENT.pop(next(iter(_RECENT)))
    # CPython counts references exactly: this name and getrefcount's argument
    if spare is not None and sys.getrefcount(spare) > 2:
        spare = None
    factors, span = _compute_factors(m, y0, y1, out=spare)
    for array in factors:
        array.flags.writeable = False
    _RECENT[key] = (m, factors, span)
    return factors, span


def _unheld(factors) -> bool:
    """Whether only the cache holds these four arrays and their memory (references to each array: the cache's tuple,
    the loop's name, the argument; to the memory: the four arrays and the argument; a view of a view refers to the
    memory itself)."""
    return all(sys.getrefcount(array) == 3 for array in factors) and sys.getrefcount(factors[0].base) == 5


def _compute_factors(m: LocalModel, y0: int, y1: int, columns=None, slices=None, out=None):
    """The factors of 1-based ``columns`` (default all) and ``slices`` (default the view rows ``[y0, y1)``), into
    ``out`` (float32 ``(4, slices, views, columns)``) if given, and their :func:`row_span`."""
    columns = np.arange(1, m.geometry.width + 1, dtype=np.int64) if columns is None else columns
    slices = np.arange(y0 + 1, y1 + 1, dtype=np.int64) if slices is None else slices
    out = np.empty((4, len(slices), m.nviews, len(columns)), F32) if out is None else out
    span = _factors_into(m, columns, slices, out)
    return (out[0], out[1], out[2], out[3]), span


def view_factors(m: LocalModel, v: int, columns, slices) -> np.ndarray:
    """Float32 ``(4, len(slices), len(columns))``: xf, xz, yf, yz of 1-based ``columns`` and ``slices`` in used view
    ``v`` alone (compiled)."""
    out = np.empty((4, len(slices), 1, len(columns)), F32)
    _factors_into(m.with_views([v]), columns, slices, out)
    return out.reshape(4, len(slices), len(columns))


def _factor_span(m: LocalModel, columns, slices) -> tuple[float, float]:
    """:func:`row_span` of the factors of those columns and slices, without keeping the factors."""
    return _factors_into(m, columns, slices, None)


def _factors_into(m: LocalModel, columns, slices, out) -> tuple[float, float]:
    from .local_factors import column_factors

    zlo, zhi = _end_offsets(m)
    return column_factors(columns, slices,
                          m.cos_tilt, m.sin_tilt, m.cos_alpha, m.sin_alpha, m.xz, m.yz, m.a11, m.a12, m.a21, m.a22,
                          m.xadd, m.yadd, np.array([m.xcen_out, m.xcen_in, m.axis_offset, m.center_slice, zlo, zhi],
                                                   F32),
                          np.array([m.nx_areas, m.ny_areas, m.start[0], m.start[1], m.spacing[0], m.spacing[1]],
                                   np.int64), out)


def z_offsets(m: LocalModel) -> np.ndarray:
    """``zz = i - zcen_out`` for thickness rows ``i = 1..thickness``, float32 as IMOD."""
    return np.arange(1, m.geometry.thickness + 1).astype(F32) - m.zcen_out


def projection_positions(m: LocalModel, y0: int, y1: int):
    """``xproj, yproj``: float32 ``(y1 - y0, nviews, thickness, width)``, 1-based positions in the views of every
    voxel of output slices from view rows ``[y0, y1)`` (0-based).  Large: call it for a few slices at a time."""
    xf, xz, yf, yz = projection_factors(m, y0, y1)
    zz = z_offsets(m)[None, None, :, None]
    return xf[:, :, None, :] + zz * xz[:, :, None, :], yf[:, :, None, :] + zz * yz[:, :, None, :]


def needed_rows(m: LocalModel, row: int) -> tuple[int, int]:
    """IMOD ``setNeededSlices``: the view rows ``[r0, r1)`` (0-based) that IMOD estimates the output slice from view
    row ``row`` (0-based) needs, from the positions of the bottom and top voxels (``i = 1`` and ``thickness``) of
    columns about half an area spacing apart, in every view."""
    g = m.geometry
    step = F32(m.spacing[0] // 2)
    count = int(max(F32(2.0), F32(g.width) / step + _ONE))
    delta = F32(g.width - 1.0) / F32(count - 1.0)
    columns = _nint(_ONE + np.arange(count, dtype=F32) * delta)
    low, high = _factor_span(m, columns, np.array([row + 1]))
    return max(1, int(max(1.0, low))) - 1, min(g.ny, int(max(1.0, high)) + 1)


def loaded_rows(m: LocalModel, y0: int, y1: int) -> tuple[int, int]:
    """View rows ``[r0, r1)`` (0-based) IMOD holds in memory when one run reconstructs slices ``[y0, y1)``: from
    the first row the first slice needs to the last row the last slice needs (:func:`needed_rows`).  A sample that
    needs a row outside them takes the fill value (:func:`sample_view`); it happens to a few voxels of the first
    and last slices of a run.  This assumes, as holds for IMOD's 20 M-float minimum allocation, that all those rows
    fit in memory; when they do not, IMOD reloads, starting each load at the first row its first slice needs."""
    return needed_rows(m, y0)[0], needed_rows(m, y1 - 1)[1]


ROW_PLAN_STEP = 8  # columns apart at which a slab's rows are planned (every column is checked when it runs)
ROW_PLAN_MARGIN = 3  # rows added on each side: far more than the rows move over ROW_PLAN_STEP columns


def _end_offsets(m: LocalModel) -> tuple[np.float32, np.float32]:
    """``zz`` of the bottom and top thickness rows."""
    return _ONE - m.zcen_out, F32(m.geometry.thickness) - m.zcen_out


def row_span(yf, yz, m: LocalModel) -> tuple[float, float]:
    """The lowest and highest 1-based ``yproj`` of the factors' voxels (the bottom and top thickness rows)."""
    ends = [yf + zz * yz for zz in _end_offsets(m)]
    return min(float(e.min()) for e in ends), max(float(e.max()) for e in ends)


def _sampled(stop: int, start: int = 1) -> np.ndarray:
    """Every ROW_PLAN_STEP-th of the 1-based positions ``start .. stop``, the last included."""
    return np.unique(np.append(np.arange(start, stop + 1, ROW_PLAN_STEP), stop)).astype(np.int64)


def slab_halo(m: LocalModel) -> int:
    """Slices an iterative slab reconstruction carries on each side of a slab (strategies.plan), so that every
    projection row its output slices reach is summed over all the voxels that project onto it.

    A voxel of slice ``L`` projects to row ``yproj = L + d``: with ``d`` between ``lo`` and ``hi`` over the volume,
    slice ``y`` reaches rows up to ``hi`` away, and those rows gather slices up to ``hi - lo`` (and one row of
    bilinear interpolation) from ``y``.  ``d`` is taken at the bottom and top voxels of every ROW_PLAN_STEP-th
    column and slice of the run, with ROW_PLAN_MARGIN for what lies between."""
    g = m.geometry
    columns, slices = _sampled(g.width), _sampled(g.slices[1], g.slices[0] + 1)
    lo, hi = np.inf, -np.inf
    for first in range(0, slices.size, 64):
        chunk = slices[first:first + 64]
        (_, _, yf, yz), _ = _compute_factors(m, 0, 0, columns, chunk)
        drift = yf - chunk.astype(F32)[:, None, None]
        low, high = row_span(drift, yz, m)
        lo, hi = min(lo, low), max(hi, high)
    return int(np.ceil(hi - lo)) + 1 + ROW_PLAN_MARGIN


def slab_rows(m: LocalModel, y0: int, y1: int, run: tuple[int, int]) -> tuple[int, int]:
    """View rows ``[r0, r1)`` (0-based) that the samples of output slices from view rows ``[y0, y1)`` can read, within
    those IMOD holds for a run reconstructing slices ``run`` (:func:`loaded_rows`): planned from every
    ROW_PLAN_STEP-th column with a margin (projectors.local_cpu checks every sample's rows against them)."""
    low, high = _factor_span(m, _sampled(m.geometry.width), np.arange(y0 + 1, y1 + 1))
    legal0, legal1 = loaded_rows(m, *run)
    r0 = max(legal0, int(np.floor(max(low, 1.0))) - ROW_PLAN_MARGIN)
    r1 = min(legal1, int(np.floor(min(high, m.geometry.ny))) + ROW_PLAN_MARGIN)
    return (r0, r1) if r1 > r0 else (legal0, max(legal0 + 1, min(legal1, legal0 + 2)))


def slab_samples(m: LocalModel, y0: int, y1: int, r0: int, nrows: int, run: tuple[int, int], ny: int):
    """What a projector needs to back-project output slices from view rows ``[y0, y1)`` out of the ``nrows`` view
    rows it holds from ``r0`` (planned by :func:`slab_rows`): the factors (:func:`projection_factors`) and the rows
    ``[legal0, legal1)`` its samples may read (those IMOD holds for ``run``, within those held).  A sample that
    would need a row IMOD holds but the projector was not given is a fault of the plan, and stops the run."""
    legal0, legal1 = loaded_rows(m, *run)
    factors = projection_factors(m, y0, y1)
    low, high = projection_span(m, y0, y1)
    if max(legal0, int(max(low, 1.0)) - 1) < r0 or min(legal1, int(min(high, ny)) + 1) > r0 + nrows:
        raise TiltrecError(f"local alignments: slices {y0}-{y1 - 1} read view rows {int(low) - 1}-{int(high)}, "
                           f"beyond the {r0}-{r0 + nrows - 1} planned (a fault of tiltrec; please report it)")
    return factors, max(legal0, r0), min(legal1, ny, r0 + nrows)


def sample_view(image: np.ndarray, xproj, yproj, rows: tuple[int, int], fill: float) -> np.ndarray:
    """IMOD's local back-projection sample of one (filtered) view ``image`` ``(ny, nx)`` at 1-based float32
    positions, float32.

    A ``yproj`` within ``YTOL`` (3.05) rows beyond the first or last row is moved onto it; the sample is the
    bilinear interpolation of the four pixels around ``(xproj, yproj)`` when ``1 <= xproj <= nx``,
    ``1 <= yproj <= ny`` (both ends included; at ``nx``/``ny`` the last pixel pair is used with fraction 1) and
    both rows lie in ``rows`` (0-based ``[r0, r1)``, see :func:`loaded_rows`); otherwise it is ``fill``.
    """
    ny, nx = image.shape
    x = np.asarray(xproj, dtype=F32)
    y = np.asarray(yproj, dtype=F32)
    near = (y >= _ONE - YTOL) & (y <= F32(ny) + YTOL)
    y = np.where(near, np.clip(y, _ONE, F32(ny)), y)
    inside = (x >= _ONE) & (x <= F32(nx)) & (y >= _ONE) & (y <= F32(ny))
    ix = np.clip(np.minimum(nx - 1, np.trunc(np.where(inside, x, 1)).astype(np.int64)), 1, max(1, nx - 1))
    iy = np.clip(np.minimum(ny - 1, np.trunc(np.where(inside, y, 1)).astype(np.int64)), 1, max(1, ny - 1))
    inside &= (iy >= rows[0] + 1) & (iy + 1 <= rows[1])
    fx = x - ix.astype(F32)
    fy = y - iy.astype(F32)
    img = np.asarray(image, dtype=F32)
    c0, c1 = ix - 1, np.minimum(ix, nx - 1)
    r0, r1 = iy - 1, np.minimum(iy, ny - 1)
    value = ((_ONE - fy) * ((_ONE - fx) * img[r0, c0] + fx * img[r0, c1])
             + fy * ((_ONE - fx) * img[r1, c0] + fx * img[r1, c1]))
    return np.where(inside, value, F32(fill))
