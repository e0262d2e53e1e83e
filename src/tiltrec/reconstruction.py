"""One reconstruction from checked options: open the inputs, build the job, run it on every rank, write.

The command line and the Python API (``tiltrec.reconstruct``) both end here.
"""

from __future__ import annotations

import resource
import sys
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from . import __version__
from .algorithms import ALGORITHMS
from .algorithms.settings import Settings
from .errors import InputError
from .filters import fbp_filter_name
from .formats import MemoryWriter, VolumeStats, VolumeWriter, open_stack, open_volume
from .geometry import Geometry
from .inputs import ProjectionSource, open_source, stack_mean
from .mpi import World, collectively, detect_world
from .strategies.plan import available_memory, format_bytes
from .strategies.run import Job, Target, run

HALVES = ("odd", "even")


@dataclass(frozen=True)
class Options:
    """Reconstruction options, typed; the names and meanings are those of the command line (see --help).

    ``slices`` is (first, last), 0-based and inclusive like IMOD's SLICE; pixel-valued options are in unbinned
    input pixels; ``memory`` is in bytes (None: half the available RAM, shared among the ranks of a node);
    ``split`` also writes the reconstructions from the odd and from the even views.
    """

    thickness: int | None = None
    alg: str = "wbp"
    iterations: int | None = None
    relax: float | None = None
    positivity: bool = False
    filter: str = "ramp"
    cutoff: float = 1.0
    radial: tuple[float, float] | None = None
    density_weighting: bool = True
    scale: tuple[float, float] = (0.0, 1.0)
    width: int | None = None
    slices: tuple[int, int] | None = None
    offset: float = 0.0
    pitch: float = 0.0
    xshift: float = 0.0
    zshift: float = 0.0
    binning: int = 1
    exclude: str | None = None
    layout: str = "xzy"
    mode: int = 2
    overwrite: bool = False
    memory: int | None = None
    threads: int | None = None
    pad_x: bool = True
    split: bool = False
    unified: bool = False
    quiet: bool = True
    program: str = "tiltrec"

    def check(self) -> None:
        """Reject impossible values before any file is opened."""
        if self.alg not in ALGORITHMS:
            raise InputError(f"unknown algorithm {self.alg!r}; choose one of {', '.join(ALGORITHMS)}")
        if self.iterations is not None and self.iterations < 1:
            raise InputError(f"iterations must be at least 1, got {self.iterations}")
        if self.thickness is None:
            raise InputError("--thickness is required (output thickness in pixels, e.g. --thickness 256)")
        if self.thickness <= 0:
            raise InputError(f"--thickness must be a positive number of pixels, got {self.thickness}")
        if self.width is not None and self.width <= 0:
            raise InputError(f"--width must be a positive number of pixels, got {self.width}")
        if not 0.0 < self.cutoff <= 1.0:
            raise InputError(f"--cutoff must be in (0, 1], got {self.cutoff}")
        fbp_filter_name(self.filter)


def _geometry(opt: Options, source: ProjectionSource) -> Geometry:
    """Geometry in binned pixels."""
    b = source.binning
    first, stop = 0, source.ny
    if opt.slices is not None:
        a, z = opt.slices
        last = source.ny * b - 1  # rows beyond the last whole bin are dropped
        if not 0 <= a <= z <= last:
            raise InputError(f"--slices {a},{z} must satisfy 0 <= first <= last <= {last} (the views have "
                             f"{source.stack.ny} rows)")
        first, stop = a // b, z // b + 1
    return Geometry(nx=source.nx, ny=source.ny, angles=source.angles, thickness=max(1, round(opt.thickness / b)),
                    width=max(1, round(opt.width / b)) if opt.width else 0, slices=(first, stop), offset=opt.offset,
                    pitch=opt.pitch, xshift=opt.xshift / b, zshift=opt.zshift / b)


def _settings(opt: Options, source: ProjectionSource) -> Settings:
    return Settings(iterations=opt.iterations, relax=opt.relax, positivity=opt.positivity, filter=opt.filter,
                    cutoff=opt.cutoff, radial=opt.radial, density_weighting=opt.density_weighting, scale=opt.scale,
                    data_mean=stack_mean(source.stack) if opt.alg == "wbp" else 0.0, threads=opt.threads or -1)


def _origin(geom: Geometry, pixel: float, layout: str) -> tuple[float, float, float]:
    """Header origin (Angstrom) placing the output in the input's pixel coordinates, the tilt axis at Z = 0."""
    x = (geom.xcen_in - geom.xcen_out) * pixel
    y = geom.slices[0] * pixel
    z = -(geom.zcen_out - 1.0) * pixel
    return (x, z, y) if layout == "xzy" else (x, y, z)


def _label(opt: Options, geom: Geometry, views: str) -> str:
    """IMOD-style label: program, algorithm, output size and views, then the date at column 57."""
    text = f"{opt.program} {__version__}: {opt.alg.upper()} {geom.width}x{geom.nslices}x{geom.thickness} " \
           f"bin {opt.binning}{views}"
    return f"{text[:55]:<55} {datetime.now():%d-%b-%y  %H:%M:%S}"


def half_path(output: Path, half: str) -> Path:
    """Where the odd or even half of ``output`` goes: NAME_odd.EXT, NAME_even.EXT."""
    return output.with_name(f"{output.stem}_{half}{output.suffix}")


def _targets(opt: Options, source: ProjectionSource, geom: Geometry, output, join: list | None) -> list[Target]:
    """The full reconstruction and, with ``split``, the odd and even halves (1st, 3rd, ... and 2nd, 4th, ...
    of the views used), each with its writer; ``join`` lists the temporary files rank 0 created."""
    every = list(range(len(source.views)))
    views = [("", every)]
    if opt.split:
        views += [(h, every[i::2]) for i, h in enumerate(HALVES)]
    targets = []
    for index, (half, subset) in enumerate(views):
        if output is None:
            writer = MemoryWriter(width=geom.width, nslices=geom.nslices, thickness=geom.thickness,
                                  layout=opt.layout)
        else:
            path = half_path(output, half) if half else output
            writer = VolumeWriter(path, width=geom.width, nslices=geom.nslices, thickness=geom.thickness,
                                  layout=opt.layout, mode=opt.mode, pixel_size=source.pixel_size,
                                  origin=_origin(geom, source.pixel_size, opt.layout),
                                  labels=[_label(opt, geom, f" {half} views" if half else "")],
                                  overwrite=opt.overwrite, join=join[index] if join else None)
        targets.append(Target(subset, writer))
    return targets


def _prepare(stack, angles, output, opt: Options, init, world: World, files: ExitStack) -> Job:
    """Check and open everything; rank 0 also creates the outputs' temporary files."""
    opt.check()
    if isinstance(stack, (str, Path)):
        if output is not None and Path(output).resolve() == Path(stack).resolve():
            raise InputError(f"{output}: output would overwrite the input tilt series")
        stack = files.enter_context(open_stack(stack))
    if init is not None and not ALGORITHMS[opt.alg].iterative:
        raise InputError(f"--init applies to SIRT and SART, not {opt.alg.upper()}")
    if output is None and world.size > 1:
        raise InputError("under MPI the volume must be written to a file")
    budget = opt.memory or available_memory() // 2 // world.local_size
    from .projectors.cpu_kernels import set_threads

    set_threads(opt.threads or world.default_threads())
    source = open_source(stack, angles, exclude=opt.exclude, binning=opt.binning)
    geom = _geometry(opt, source)
    settings = _settings(opt, source)
    if init is not None:
        init = open_volume(init, opt.layout, (geom.width, geom.nslices, geom.thickness))
        files.callback(init.close)
    targets = _targets(opt, source, geom, output, None) if world.rank == 0 else []
    return Job(source=source, geometry=geom, algorithm=opt.alg, settings=settings, targets=targets, memory=budget,
               unified=opt.unified, pad_x=opt.pad_x, init=init, quiet=opt.quiet, world=world)


def run_reconstruction(stack, angles, output: Path | None, opt: Options, init: Path | None = None):
    """Reconstruct ``stack`` (a tilt-series file or an open TiltStack) with ``angles`` (a file or the angles)
    into ``output``.

    Returns the volumes (file order) when ``output`` is None, else None.  Under MPI every rank does each step;
    a failure on any rank stops all of them (see mpi.collectively), and rank 0 renames the outputs into place
    only after every rank has written its slabs.
    """
    world = detect_world()
    job = None

    def abort() -> None:
        for target in job.targets if job else []:
            target.writer.abort()

    with ExitStack() as files:
        with collectively(world, abort):
            job = _prepare(stack, angles, output, opt, init, world, files)
        temporaries = world.bcast([t.writer.temporary for t in job.targets] if world.rank == 0 else None)
        with collectively(world, abort):
            if world.rank > 0:
                job.targets = _targets(opt, job.source, job.geometry, output, temporaries)
        with collectively(world, abort):
            figures = run(job)
            if world.rank > 0:
                for target in job.targets:
                    target.writer.release()  # closed (and on NFS flushed) before rank 0 renames the file
        gathered = world.allgather([t.writer.stats for t in job.targets])
        with collectively(world, abort):
            if world.rank == 0:
                for index, target in enumerate(job.targets):
                    merged = VolumeStats()
                    for stats in gathered:
                        merged = merged.merge(stats[index])
                    target.writer.stats = merged
                    target.writer.commit()
        ranks = world.allgather(figures)
    if not opt.quiet and world.rank == 0:
        _summary(opt, job, ranks, world, output)
    return None if output is not None else tuple(t.writer.volume for t in job.targets)


def _summary(opt: Options, job: Job, ranks: list[dict], world: World, output) -> None:
    seconds = max(f["seconds"] for f in ranks)
    gups = sum(f["updates"] for f in ranks) / seconds / 1e9
    g = job.geometry
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    on = f" on {world.size} ranks" if world.size > 1 else ""
    names = ", ".join(str(t.writer.path) for t in job.targets) if output is not None else "memory"
    print(f"{opt.program}: wrote {names} ({g.width} x {g.nslices} x {g.thickness} voxels, layout {opt.layout}, "
          f"mode {opt.mode}) with {opt.alg.upper()} in {seconds:.2f} s{on}: {gups:.2f} GUPS, "
          f"{sum(f['slabs'] for f in ranks)} slab(s), peak memory {format_bytes(peak)} (rank 0)", file=sys.stderr)

