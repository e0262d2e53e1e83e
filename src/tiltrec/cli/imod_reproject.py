"""A tilt parameter file with ``RecFileToReproject``: reproject that tomogram as IMOD's tilt does.

The file keeps the entries that built the tomogram (sizes, SLICE, SHIFT, OFFSET, XAXISTILT, XTILTFILE, SCALE,
LOG, IMAGEBINNED, FULLIMAGE, SUBSETSTART); InputProjections names the views it was made from, whose size, pixel
size and labels the reprojection takes.  REPROJECT lists angles, ViewsToReproject views (0: every view); without
either the views the reconstruction used are reprojected, in file order.  X/Y/ZMinAndMaxReproj choose the columns,
thickness rows and slices (0-based).  LOCALFILE (with LOCALSCALE and ZFACTORFILE) reprojects with the local
alignments the tomogram was made with.  Output: one view per angle, the tomogram's width by its slices.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InputError, file_error
from ..formats import open_stack, parse_view_list, parse_view_sequence, read_angles
from ..formats.file_roles import FileUse
from ..options.request import converted
from ..reprojection.geometry import LocalRequest, Request
from ..reprojection.run import LogScale, Output, reproject_file
from .imod_com import TiltParams

# options that may be typed on the command line beside such a file (the others describe a reconstruction)
APPLIES = ("overwrite", "quiet", "progress", "mode", "threads", "device")


def _angles_to_reproject(p: TiltParams, series: np.ndarray, values: dict) -> np.ndarray:
    nviews = len(series)
    if p.has("REPROJECT") and p.has("ViewsToReproject"):
        raise file_error(p.source, "give the angles to reproject with REPROJECT or ViewsToReproject, not both")
    if p.has("REPROJECT"):
        angles = []
        for entry in p.entries["REPROJECT"]:
            angles += p.numbers_in(entry, (0, 100000)) or [0.0]  # tilt takes an empty entry as 0
        return np.asarray(angles, np.float32)
    if p.has("ViewsToReproject"):
        text = p.first("ViewsToReproject").value
        if text.strip() == "0":
            return series.astype(np.float32)
        try:
            views = parse_view_sequence(text, nviews)  # tilt keeps the list's order and repeats
        except InputError as exc:
            raise file_error(p.source, f"line {p.first('ViewsToReproject').line}: ViewsToReproject: {exc}") from None
        if not views:
            raise file_error(p.source, f"line {p.first('ViewsToReproject').line}: ViewsToReproject lists no view")
        return series[views].astype(np.float32)
    used = range(nviews)
    if values.get("include"):
        used = parse_view_list(values["include"], nviews)
    elif values.get("exclude"):
        left = set(parse_view_list(values["exclude"], nviews))
        used = [v for v in range(nviews) if v not in left]
    return series[list(used)].astype(np.float32)


def _pair(p: TiltParams, key: str) -> tuple[int, int] | None:
    if not p.has(key):
        return None
    low, high = p.numbers(key, 2, int)
    return low + 1, high + 1


def run_reprojection(p: TiltParams, values: dict, files: dict, typed: dict, output, *, program: str,
                     backend: str = "cpu") -> None:
    """Reproject the tomogram of ``p``'s RecFileToReproject (``values``, ``files``: what cli.imod_com read from
    the file; ``typed``: the options given on the command line; ``output``: the output named there or None;
    ``backend``: cpu, or cuda for the GPU commands)."""
    extra = sorted(set(typed) - set(APPLIES))
    if extra:
        raise InputError(f"--{extra[0].replace('_', '-')} does not apply to a reprojection (the parameter file "
                         f"has RecFileToReproject); set what builds the tomogram in the file")
    typed = {name: converted(name, value) if isinstance(value, str) else value for name, value in typed.items()}
    values = {**values, **typed}
    tomogram = p.path("RecFileToReproject")
    projections = files.get("input")
    output = output if output is not None else files.get("output")
    if projections is None or output is None:
        raise file_error(p.source, f"a reprojection needs {'InputProjections' if projections is None else 'an output'}"
                                   f" (OutputFile)")
    if values.get("layout", "xzy") != "xzy":
        raise file_error(p.source, "tilt reprojects only from PERPENDICULAR slices: remove PARALLEL or RotateBy90")
    with open_stack(projections) as stack:
        nx, ny, nviews = stack.nx, stack.ny, stack.nviews
        pixel, labels, view_mean = stack.pixel_size, stack.labels, stack.mean
    if "tiltfile" in files:
        series = read_angles(files["tiltfile"], nviews)
    elif "angles" in files:
        series = np.asarray(files["angles"], np.float64)
        if len(series) != nviews:
            raise file_error(p.source, f"ANGLES gives {len(series)} angles for {nviews} views")
    else:
        raise file_error(p.source, "a reprojection needs the tilt angles of the views (TILTFILE or ANGLES)")
    series = series.astype(np.float32)
    xtilt = read_angles(values["xtilt"], nviews).astype(np.float32) if values.get("xtilt") is not None else None
    with open_stack(tomogram) as rec:
        width, thickness, nslices, mean = rec.nx, rec.ny, rec.nviews, rec.mean
    first, last = values.get("slices", (0, ny - 1))
    expected = (values.get("width", nx), values["thickness"], last - first + 1)
    if expected != (width, thickness, nslices):
        raise file_error(tomogram, f"is {width} x {thickness} x {nslices}; the parameter file's WIDTH, THICKNESS "
                                   f"and SLICE make {expected[0]} x {expected[1]} x {expected[2]}")
    log = None
    if values.get("log_base") is not None:
        if view_mean is None:
            raise file_error(projections, "has no mean value in its header, which LOG needs to scale the "
                                          "reprojections back")
        log = LogScale(values["log_base"], view_mean)
    local, local_files = _local_request(values, nviews, pixel)
    req = Request(nx=nx, ny=ny, series_angles=series, angles=_angles_to_reproject(p, series, values), width=width,
                  thickness=thickness, nslices=nslices, first_slice=first + 1,
                  x_range=_pair(p, "XMinAndMaxReproj"), y_range=_pair(p, "YMinAndMaxReproj"),
                  z_range=_pair(p, "ZMinAndMaxReproj"), full_image=values.get("full_image"),
                  subset_start=values.get("subset_start", (0, 0)), xshift=values.get("xshift", 0.0),
                  zshift=values.get("zshift", 0.0), offset=values.get("offset", 0.0),
                  axis_offset=values.get("axis_offset", 0.0), pitch=values.get("pitch", 0.0), xtilt=xtilt,
                  scale=values.get("scale", (0.0, 1.0)), imod_gain=True, mean=mean, local=local)
    out = Output(Path(output), mode=values.get("mode", 2), overwrite=bool(values.get("overwrite")),
                 pixel_size=pixel, labels=labels)
    read = (FileUse("tilt parameter file", Path(p.source)),) if p.source != "standard input" else ()
    quiet = bool(values.get("quiet")) or not values.get("progress", True)
    reproject_file(tomogram, "xzy", req, out, program=program, quiet=quiet, log=log, threads=values.get("threads"),
                   read_files=(*read, FileUse("InputProjections", projections), *local_files), backend=backend,
                   device=values.get("device"))


def _local_request(values: dict, nviews: int, pixel_size: float) -> tuple[LocalRequest | None, tuple]:
    """LOCALFILE, ZFACTORFILE and LOCALSCALE read and checked (as a reconstruction reads them), and the files."""
    if values.get("local") is None:
        return None, ()
    return LocalRequest.read(values["local"], values.get("zfactors"), values.get("local_scale"), nviews, pixel_size,
                             roles=("LOCALFILE", "ZFACTORFILE"))
