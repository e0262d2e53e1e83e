"""The volumes a reconstruction writes (the output, and with ``--split odd-even`` its halves), each with its
writer: size, layout, mode, pixel size, header origin and labels as IMOD's tilt writes them (the rest of the
header: formats.mrc.VolumeFile.finish)."""

from __future__ import annotations

from . import __version__
from .formats import MemoryWriter, VolumeWriter
from .formats.mrc import imod_label
from .geometry import Geometry
from .inputs import ProjectionSource
from .options.model import Options
from .run_files import HALVES, half_path
from .strategies.job import Target


def _origin(opt: Options, source: ProjectionSource, geom: Geometry) -> tuple[float, float, float]:
    """The header origin (Angstrom, file axes) that IMOD's tilt writes with AdjustOrigin, as etomo runs it
    (IMOD subtracts it: coordinate = index x pixel - origin).  Along X: the input's origin, the X shift and the
    difference of the centres of the views and the output (integer halves, as tilt takes them); along the
    thickness: half of it (integer) and the Z shift, so that the tilt axis is at 0; along the slices: the
    input's Y origin less the first slice.  Angle offsets, FULLIMAGE/SUBSETSTART and X-axis tilts leave it as
    it is; IMOD's PARALLEL output has none.  Pixels are those of the (binned) views."""
    if opt.output.layout == "parallel":
        return 0.0, 0.0, 0.0
    pixel, binning = source.pixel_size, source.binning
    in_x, in_y, _ = source.stack.origin
    x = in_x + (opt.geometry.xshift / binning - (geom.nx // 2 - geom.width // 2)) * pixel
    thickness = (geom.thickness // 2 + opt.geometry.zshift / binning) * pixel
    slices = in_y - geom.slices[0] * pixel
    if opt.output.layout == "xzy":
        return x, thickness, slices
    # xyz is xzy rotated by -90 degrees about X (same handedness): the file's Y is the slices, and its Z runs
    # down the thickness, so that every voxel keeps its coordinates
    return x, slices, (geom.thickness - 1) * pixel - thickness


def _label(opt: Options, geom: Geometry, views: str, program: str) -> str:
    """IMOD-style label: the program and the title (as IMOD's tilt writes ``TILT: title``), or the program's version,
    algorithm, output size and views; then the date at column 57 as IMOD's programs write it
    (`` 3-Dec-26  16:53:12``: the day padded with a space)."""
    return imod_label(f"{program}: {opt.output.title}" if opt.output.title else
                      f"{program} {__version__}: {opt.algorithm.alg.upper()} {geom.width}x{geom.nslices}x"
                      f"{geom.thickness} bin {opt.input.bin}{views}")


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
                                      origin=_origin(opt, source, geom),
                                      labels=[*source.stack.labels, ours],  # as IMOD: ours if there is room
                                      overwrite=opt.output.overwrite, join=join[index] if join else None,
                                      checkpoint=opt.output.checkpoint, resume=opt.output.resume)
            targets.append(Target(tuple(subset), writer))
    except BaseException:
        for target in targets:
            target.writer.release() if opt.output.resume or join else target.writer.abort()
        raise
    return tuple(targets)
