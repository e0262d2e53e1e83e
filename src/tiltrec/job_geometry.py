"""The reconstruction geometry a request asks for, in the pixels of the (binned) views: the output's size and
slices, angle offset, pitch (with per-view X-axis tilts), shifts, and IMOD's FULLIMAGE/SUBSETSTART centring."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .errors import InputError
from .formats import read_angles
from .geometry import Geometry
from .inputs import ProjectionSource
from .options.model import Options
from .options.request import check_limit
from .options.spelling import spelled
from .options.table import BY_NAME


def job_geometry(opt: Options, source: ProjectionSource) -> Geometry:
    """The geometry of the request ``opt`` on ``source``, in binned pixels."""
    b = source.binning
    first, stop = 0, source.ny
    if opt.geometry.slices is not None:
        a, z = opt.geometry.slices
        last = source.ny * b - 1  # rows beyond the last whole bin are dropped
        if not 0 <= a <= z <= last:
            raise InputError(f"{spelled('slices')} {a},{z} must satisfy 0 <= first <= last <= {last} (the views have "
                             f"{source.stack.ny} rows)")
        first, stop = a // b, z // b + 1
    pitch = opt.geometry.pitch
    xtilt = _xtilts(opt.geometry.xtilt)
    if xtilt is not None:
        if len(xtilt) != source.stack.nviews:
            raise InputError(f"{spelled('xtilt')}: {len(xtilt)} X-axis tilts for {source.stack.nviews} views")
        pitch = opt.geometry.pitch - np.asarray(xtilt, dtype=np.float64)[source.views]
    # IMOD: the tilt axis sits at the centre of the full aligned image, of which the views may be a subset, moved by
    # the axis offset (OFFSET's second value), which also moves the output's centre so that the axis stays in it
    full_x, full_y = opt.geometry.full_image or (source.stack.nx, source.stack.ny)
    sub_x, sub_y = opt.geometry.subset_start
    shift_x = (full_x / 2 - sub_x - source.stack.nx / 2 + opt.geometry.axis_offset) / b
    shift_y = (full_y / 2 - sub_y - source.stack.ny / 2) / b
    xshift = opt.geometry.xshift + opt.geometry.axis_offset - (source.stack.nx // 2 + sub_x - full_x // 2)
    if opt.output.split and len(source.views) < 2:
        raise InputError(f"{spelled('split')} odd-even: the even half is empty (the reconstruction uses "
                         f"{len(source.views)} view; each half needs at least one)")
    geometry = Geometry(nx=source.nx, ny=source.ny, angles=source.angles,
                        thickness=_binned("thickness", opt.geometry.thickness, b),
                        width=_binned("width", opt.geometry.width, b) if opt.geometry.width else 0,
                        slices=(first, stop), offset=opt.geometry.offset, pitch=pitch, xshift=xshift / b,
                        zshift=opt.geometry.zshift / b, center_shift=(shift_x, shift_y))
    return geometry if opt.geometry.local is None else _with_local(geometry, opt, source)


def _with_local(geometry: Geometry, opt: Options, source: ProjectionSource) -> Geometry:
    """The geometry with IMOD's local alignments of ``opt.geometry.local`` (and its Z factors)."""
    from .formats.local_file import read_local_file, read_zfactor_file
    from .local_alignments import local_model

    b = source.binning
    nviews = source.stack.nviews
    local = read_local_file(opt.geometry.local, nviews)
    zfactors = read_zfactor_file(opt.geometry.zfactors, nviews) if opt.geometry.zfactors is not None else None
    axis = opt.geometry.axis_offset / b
    # the model takes the views' centre without the axis offset, and the offset apart (as IMOD's local code)
    plain = replace(geometry, center_shift=(geometry.center_shift[0] - axis, geometry.center_shift[1]))
    sub_x, sub_y = opt.geometry.subset_start
    model = local_model(plain, local, views=source.views, zfactors=zfactors, local_scale=opt.geometry.local_scale,
                        pixel_size=source.pixel_size, axis_offset=axis, subset_start=(int(sub_x / b), int(sub_y / b)))
    return replace(geometry, local=model)


def _xtilts(xtilt) -> tuple | None:
    """The per-view X-axis tilts: given, or read from their file and checked as given ones are."""
    if xtilt is None or isinstance(xtilt, tuple):
        return xtilt
    values = tuple(read_angles(xtilt))
    check_limit(BY_NAME["xtilt"], values)
    return values


def _binned(option: str, pixels: int, binning: int) -> int:
    """A size in unbinned pixels, in binned ones: at least one."""
    binned = round(pixels / binning)
    if binned < 1:
        raise InputError(f"{spelled(option)} {pixels} is less than one pixel after {spelled('bin')} {binning}")
    return binned
