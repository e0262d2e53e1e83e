"""The volumes a reconstruction writes (the output, and with ``--split odd-even`` its halves), each with its
writer: size, layout, mode, pixel size, header origin and labels as IMOD's tilt writes them."""

from __future__ import annotations

from datetime import datetime

from . import __version__
from .formats import MemoryWriter, VolumeWriter
from .geometry import Geometry
from .inputs import ProjectionSource
from .options.model import Options
from .run_files import HALVES, half_path
from .strategies.job import Target


def _origin(geom: Geometry, pixel: float, layout: str) -> tuple[float, float, float]:
    """Header origin (Angstrom) placing the output in the input's pixel coordinates, the tilt axis at Z = 0."""
    x = (geom.xcen_in - geom.xcen_out) * pixel
    y = geom.slices[0] * pixel
    z = -(geom.zcen_out - 1.0) * pixel
    if layout == "xzy":
        return x, z, y
    # rotated by -90 degrees about X, the file's Z runs down the thickness: its coordinate is minus the old one
    return (x, y, (geom.thickness - 1) * pixel - z) if layout == "xyz" else (x, y, z)


def _label(opt: Options, geom: Geometry, views: str, program: str) -> str:
    """IMOD-style label: program, algorithm, output size and views, then the date at column 57."""
    text = opt.output.title or f"{program} {__version__}: {opt.algorithm.alg.upper()} {geom.width}x" \
                               f"{geom.nslices}x{geom.thickness} bin {opt.input.bin}{views}"
    return f"{text[:55]:<55} {datetime.now():%d-%b-%y  %H:%M:%S}"


def make_targets(opt: Options, source: ProjectionSource, geom: Geometry, output, join: list | None,
             program: str) -> tuple[Target, ...]:
    """The full reconstruction and, with ``split``, the odd and even halves (1st, 3rd, ... and 2nd, 4th, ...
    of the views used), each with its writer; ``join`` lists the temporary files rank 0 created.  If one writer
    cannot be made, those made before it are closed again (a resumed partial output is kept)."""
    every = list(range(len(source.views)))
    subsets = [("", every)] + ([(h, every[i::2]) for i, h in enumerate(HALVES)] if opt.output.split else [])
    targets = []
    try:
        for index, (half, subset) in enumerate(subsets):
            if output is None:
                writer = MemoryWriter(width=geom.width, nslices=geom.nslices, thickness=geom.thickness,
                                      layout=opt.output.layout)
            else:
                ours = _label(opt, geom, f" {half} views" if half else "", program)
                writer = VolumeWriter(half_path(output, half) if half else output, width=geom.width,
                                      nslices=geom.nslices, thickness=geom.thickness, layout=opt.output.layout,
                                      mode=opt.output.mode, pixel_size=source.pixel_size,
                                      origin=_origin(geom, source.pixel_size, opt.output.layout),
                                      labels=[*source.stack.labels, ours],  # the input's kept, as IMOD does
                                      overwrite=opt.output.overwrite, join=join[index] if join else None,
                                      checkpoint=opt.output.checkpoint, resume=opt.output.resume)
            targets.append(Target(tuple(subset), writer))
    except BaseException:
        for target in targets:
            target.writer.release() if opt.output.resume or join else target.writer.abort()
        raise
    return tuple(targets)
