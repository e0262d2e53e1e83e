"""``tiltrec reproject TOMOGRAM ANGLES OUTPUT``: the command line's values checked and turned into a request."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..errors import InputError, file_error
from ..formats import open_stack, read_angles
from ..formats.layout import check_layout, layout_kind
from ..options.kinds import Numbers
from ..options.request import converted
from .geometry import LocalRequest, Request
from .run import Output, reproject_file
from .scale import imod_scale_from_labels

_LIST = re.compile(r"^\s*[-+.\deE]+([\s,]+[-+.\deE]+)*\s*$")


def angles_to_reproject(text: str) -> np.ndarray:
    """A list of angles typed as such, else the angles of the file ``text`` names."""
    if _LIST.match(text) and not Path(text).exists():
        values = Numbers(len(re.split(r"[\s,]+", text.strip()))).convert(text, "angles")
        angles = np.asarray(values, np.float64)
    else:
        angles = read_angles(Path(text))
    if not len(angles) or np.any(np.abs(angles) > 180):
        raise InputError(f"angles {text!r}: need at least one angle, each within +-180 degrees")
    return angles


def _sizes(layout: str, nx: int, ny: int, nz: int) -> tuple[int, int, int]:
    """(width, thickness, slices) of a tomogram file of ``nx x ny x nz`` in ``layout``."""
    return (nx, ny, nz) if layout == "xzy" else (nx, nz, ny)


def _local(options: dict, nviews: int, pixel_size: float) -> tuple[LocalRequest | None, tuple]:
    """--local, --zfactors, --local-scale: the local alignments the tomogram was made with (one entry per angle)."""
    if options.get("local") is None:
        extra = [name for name in ("zfactors", "local_scale") if options.get(name) is not None]
        if extra:
            raise InputError(f"--{extra[0].replace('_', '-')} works with --local")
        return None, ()
    scale = converted("local_scale", options["local_scale"]) if options.get("local_scale") is not None else None
    return LocalRequest.read(options["local"], options.get("zfactors"), scale, nviews, pixel_size)


def reproject_command(tomogram: Path, angles_text: str, output: Path, *, layout, values, views_size, slices,
                      geometry: dict, mode, threads, overwrite: bool, quiet: bool, program: str,
                      local: dict | None = None) -> None:
    angles = angles_to_reproject(angles_text)
    typed = {name: converted(name, value) for name, value in geometry.items() if value is not None}
    mode = converted("mode", mode) if mode is not None else 2
    threads = converted("threads", threads) if threads is not None else None
    if values not in (None, "imod", "density"):
        raise InputError(f"--values takes imod or density, got {values!r}")
    with open_stack(tomogram) as stack:
        nx, ny, nz, labels, mean, pixel = stack.nx, stack.ny, stack.nviews, stack.labels, stack.mean, \
            stack.pixel_size
        told = layout_kind(nx, ny, nz, stack.header_angles is not None)
    if layout is None:
        if told not in ("xzy", "xyz"):
            raise file_error(tomogram, f"its sizes ({nx} x {ny} x {nz}) do not tell which axis is the thickness: "
                                       f"give --layout xzy or xyz")
        layout = told
    check_layout(layout)
    width, thickness, nslices = _sizes(layout, nx, ny, nz)
    imod_gain = {"imod": True, "density": False}.get(values)
    if imod_gain is None:
        imod_gain = imod_scale_from_labels(labels)
        if imod_gain is None:
            raise file_error(tomogram, "its labels do not say which program made it: give --values imod (IMOD's "
                                       "tilt; tiltrec wbp, bpt, imod-sirt) or --values density (tiltrec sirt, "
                                       "sart, fbp, admm)")
    views_nx, views_ny = Numbers(2, integral=True).convert(views_size, "views-size") if views_size else \
        (width, nslices)
    if min(views_nx, views_ny) < 1:
        raise InputError(f"--views-size needs two positive sizes, got {views_size!r}")
    first, last = converted("slices", slices) if slices is not None else (0, nslices - 1)
    if last - first + 1 != nslices or last >= views_ny:
        raise InputError(f"--slices {first},{last} are not the tomogram's {nslices} slices within the views' "
                         f"{views_ny} rows")
    local_request, local_files = _local(local or {}, len(angles), pixel)
    req = Request(nx=views_nx, ny=views_ny, series_angles=angles, angles=angles, width=width, thickness=thickness,
                  nslices=nslices, first_slice=first + 1, imod_gain=imod_gain, mean=mean, local=local_request, **typed)
    out = Output(output, mode=mode, overwrite=overwrite, pixel_size=pixel, labels=labels)
    reproject_file(tomogram, layout, req, out, program=program, quiet=quiet, threads=threads, read_files=local_files)
