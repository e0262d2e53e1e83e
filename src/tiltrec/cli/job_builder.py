"""Turn command-line values into a checked reconstruction job, run it, and report."""

from __future__ import annotations

import resource
import sys
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Optional

from .. import __version__
from ..algorithms import ALGORITHMS
from ..algorithms.settings import Settings
from ..errors import InputError
from ..formats import VolumeStats, VolumeWriter, open_stack, open_volume
from ..geometry import Geometry
from ..inputs import ProjectionSource, open_source, stack_mean
from ..mpi import World, collectively, detect_world
from ..strategies.plan import available_memory, format_bytes, parse_bytes
from ..strategies.run import Job, run


@dataclass
class Request:
    """The command-line values, as typed (see cli.commands for their meaning)."""

    input_pos: Optional[Path] = None
    tiltfile_pos: Optional[Path] = None
    output_pos: Optional[Path] = None
    input_opt: Optional[Path] = None
    tiltfile_opt: Optional[Path] = None
    output_opt: Optional[Path] = None
    alg: str = "wbp"
    method: Optional[str] = None
    iterations: Optional[int] = None
    relax: Optional[float] = None
    positivity: bool = False
    init: Optional[Path] = None
    filter_name: str = "ramp"
    cutoff: float = 1.0
    radial: Optional[str] = None
    density_weighting: bool = True
    scale: Optional[str] = None
    thickness: Optional[int] = None
    width: Optional[int] = None
    slices: Optional[str] = None
    offset: Optional[float] = None
    pitch: Optional[float] = None
    xshift: float = 0.0
    zshift: Optional[float] = None
    geometry: Optional[str] = None
    binning: int = 1
    exclude: Optional[str] = None
    layout: str = "xzy"
    mode: int = 2
    overwrite: bool = False
    memory: Optional[str] = None
    threads: Optional[int] = None
    pad_x: bool = True
    quiet: bool = False


def _one_of(positional, option, what: str) -> Path:
    if positional is not None and option is not None and positional != option:
        raise InputError(f"{what} given twice: {positional} and {option}")
    chosen = positional if positional is not None else option
    if chosen is None:
        raise InputError(f"missing {what} (see --help)")
    return chosen


def parse_numbers(text: str, count: int, what: str, cast=float) -> list:
    """'a,b' -> [a, b] with exactly ``count`` entries, or an InputError naming the option."""
    parts = [p for p in text.replace(" ", ",").split(",") if p != ""]
    try:
        values = [cast(p) for p in parts]
    except ValueError:
        values = []
    if len(values) != count:
        raise InputError(f"{what} needs {count} comma-separated numbers, got {text!r}")
    return values


def _algorithm(req: Request) -> tuple[str, Optional[int], Optional[float]]:
    """Algorithm name, iterations and relaxation from --alg/--iter/--relax or TiltRec's --method."""
    name, iterations, relax = req.alg, req.iterations, req.relax
    if req.method:
        parts = [p.strip() for p in req.method.split(",")]
        if len(parts) > 3:
            raise InputError(f"--method takes ALG[,ITER[,RELAX]], got {req.method!r}")
        name = parts[0]
        try:
            iterations = int(parts[1]) if len(parts) > 1 and parts[1] else iterations
            relax = float(parts[2]) if len(parts) > 2 and parts[2] else relax
        except ValueError:
            raise InputError(f"--method takes ALG[,ITER[,RELAX]], got {req.method!r}") from None
    name = name.strip().lower()
    if name not in ALGORITHMS:
        raise InputError(f"unknown algorithm {name!r}; choose one of {', '.join(ALGORITHMS)}")
    if iterations is not None and iterations < 1:
        raise InputError(f"iterations must be at least 1, got {iterations}")
    return name, iterations, relax


def _geometry(req: Request, source: ProjectionSource) -> Geometry:
    """Geometry in binned pixels; pixel-valued options are given in unbinned input pixels."""
    offset, pitch, zshift, thickness = req.offset, req.pitch, req.zshift, req.thickness
    if req.geometry:
        g_off, g_pitch, g_z, g_thick = parse_numbers(req.geometry, 4, "--geometry")
        offset = g_off if offset is None else offset
        pitch = g_pitch if pitch is None else pitch
        zshift = g_z if zshift is None else zshift
        thickness = int(round(g_thick)) if thickness is None else thickness
    if thickness is None:
        raise InputError("--thickness is required (output thickness in pixels, e.g. --thickness 256)")
    if thickness <= 0:
        what = "--thickness" if req.thickness is not None else "the thickness in --geometry"
        raise InputError(f"{what} must be a positive number of pixels, got {thickness}")
    if req.width is not None and req.width <= 0:
        raise InputError(f"--width must be a positive number of pixels, got {req.width}")
    b = source.binning
    first, stop = 0, source.ny
    if req.slices:
        a, z = parse_numbers(req.slices, 2, "--slices", int)
        last = source.ny * b - 1  # rows beyond the last whole bin are dropped
        if not 0 <= a <= z <= last:
            raise InputError(f"--slices {a},{z} must satisfy 0 <= first <= last <= {last} (the views have "
                             f"{source.stack.ny} rows)")
        first, stop = a // b, z // b + 1
    return Geometry(nx=source.nx, ny=source.ny, angles=source.angles, thickness=max(1, round(thickness / b)),
                    width=max(1, round(req.width / b)) if req.width else 0, slices=(first, stop), offset=offset or 0.0,
                    pitch=pitch or 0.0, xshift=req.xshift / b, zshift=(zshift or 0.0) / b)


def _settings(req: Request, name: str, iterations, relax, source: ProjectionSource) -> Settings:
    radial = tuple(parse_numbers(req.radial, 2, "--radial")) if req.radial else None
    scale = tuple(parse_numbers(req.scale, 2, "--scale")) if req.scale else (0.0, 1.0)
    if not 0.0 < req.cutoff <= 1.0:
        raise InputError(f"--cutoff must be in (0, 1], got {req.cutoff}")
    from ..filters import FBP_FILTERS

    if req.filter_name not in FBP_FILTERS:
        raise InputError(f"unknown filter {req.filter_name!r}; choose one of {', '.join(FBP_FILTERS)}")
    return Settings(iterations=iterations, relax=relax, positivity=req.positivity, filter=req.filter_name,
                    cutoff=req.cutoff, radial=radial, density_weighting=req.density_weighting, scale=scale,
                    data_mean=stack_mean(source.stack) if name == "wbp" else 0.0, threads=req.threads or -1)


def _origin(geom: Geometry, pixel: float, layout: str) -> tuple[float, float, float]:
    """Header origin (Angstrom) placing the output in the input's pixel coordinates, the tilt axis at Z = 0."""
    x = (geom.xcen_in - geom.xcen_out) * pixel
    y = geom.slices[0] * pixel
    z = -(geom.zcen_out - 1.0) * pixel
    return (x, z, y) if layout == "xzy" else (x, y, z)


def _label(program: str, name: str, geom: Geometry, binning: int) -> str:
    """IMOD-style label: program, algorithm and output size, then the date at column 57."""
    text = f"{program} {__version__}: {name.upper()} {geom.width}x{geom.nslices}x{geom.thickness} bin {binning}"
    return f"{text[:55]:<55} {datetime.now():%d-%b-%y  %H:%M:%S}"


def _prepare(req: Request, program: str, unified: bool, world: World, files: ExitStack) -> Job:
    """Check the request and open everything; rank 0 also creates the output's temporary file."""
    in_path = _one_of(req.input_pos, req.input_opt, "INPUT tilt series")
    tilt_path = _one_of(req.tiltfile_pos, req.tiltfile_opt, "TILTFILE")
    out_path = _one_of(req.output_pos, req.output_opt, "OUTPUT file")
    name, iterations, relax = _algorithm(req)
    if req.init is not None and not ALGORITHMS[name].iterative:
        raise InputError(f"--init applies to SIRT and SART, not {name.upper()}")
    if Path(out_path).resolve() == Path(in_path).resolve():
        raise InputError(f"{out_path}: output would overwrite the input tilt series")
    budget = parse_bytes(req.memory) if req.memory else available_memory() // 2 // world.local_size
    from ..projectors.cpu_kernels import set_threads

    set_threads(req.threads or world.default_threads())
    stack = files.enter_context(open_stack(in_path))
    source = open_source(stack, tilt_path, exclude=req.exclude, binning=req.binning)
    geom = _geometry(req, source)
    settings = _settings(req, name, iterations, relax, source)
    init = None
    if req.init:
        init = open_volume(req.init, req.layout, (geom.width, geom.nslices, geom.thickness))
        files.callback(init.close)
    writer = _writer(req, out_path, program, name, geom, source) if world.rank == 0 else None
    return Job(source=source, geometry=geom, algorithm=name, settings=settings, writer=writer, memory=budget,
               unified=unified, pad_x=req.pad_x, init=init, quiet=req.quiet, world=world)


def _writer(req: Request, out_path, program: str, name: str, geom: Geometry, source: ProjectionSource,
            join: Path | None = None) -> VolumeWriter:
    return VolumeWriter(out_path, width=geom.width, nslices=geom.nslices, thickness=geom.thickness,
                        layout=req.layout, mode=req.mode, pixel_size=source.pixel_size,
                        origin=_origin(geom, source.pixel_size, req.layout),
                        labels=[_label(program, name, geom, req.binning)], overwrite=req.overwrite, join=join)


def build_and_run(req: Request, *, program: str, unified: bool) -> dict:
    """Check everything, open the files, reconstruct, write atomically, print the summary.

    Under MPI every rank does each step; a failure on any rank stops all of them (see mpi.collectively), and
    rank 0 renames the output into place only after every rank has written its slabs.
    """
    world = detect_world()
    writers: list[VolumeWriter] = []

    def abort() -> None:
        for w in writers:
            w.abort()

    with ExitStack() as files:
        with collectively(world, abort):
            job = _prepare(req, program, unified, world, files)
            writers += [job.writer] if job.writer else []
        temporary = world.bcast(job.writer.temporary if world.rank == 0 else None)
        with collectively(world, abort):
            if world.rank > 0:
                job.writer = _writer(req, _one_of(req.output_pos, req.output_opt, "OUTPUT file"), program,
                                     job.algorithm, job.geometry, job.source, join=temporary)
                writers.append(job.writer)
        with collectively(world, abort):
            figures = run(job)
            if world.rank > 0:
                job.writer.release()  # closed (and on NFS flushed) before rank 0 renames the file
        merged = VolumeStats()
        for stats in world.allgather(job.writer.stats):
            merged = merged.merge(stats)
        with collectively(world, abort):
            if world.rank == 0:
                job.writer.stats = merged
                job.writer.commit()
        ranks = world.allgather(figures)
    seconds = max(f["seconds"] for f in ranks)
    gups = sum(f["updates"] for f in ranks) / seconds / 1e9
    if not req.quiet and world.rank == 0:
        g = job.geometry
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        on = f" on {world.size} ranks" if world.size > 1 else ""
        print(f"{program}: wrote {job.writer.path} ({g.width} x {g.nslices} x {g.thickness} voxels, layout "
              f"{req.layout}, mode {req.mode}) with {job.algorithm.upper()} in {seconds:.2f} s{on}: {gups:.2f} GUPS, "
              f"{sum(f['slabs'] for f in ranks)} slab(s), peak memory {format_bytes(peak)} (rank 0)",
              file=sys.stderr)
    return {"seconds": seconds, "gups": gups}
