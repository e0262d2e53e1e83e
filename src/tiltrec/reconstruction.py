"""One reconstruction from checked options: open the inputs, build the job, run it on every rank, write.

The command line and the Python API (``tiltrec.reconstruct``) both end here.
"""

from __future__ import annotations

import os
import resource
import sys
import warnings
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

import numpy as np

from . import __version__
from .algorithms import ALGORITHMS
from .algorithms.settings import REGULARIZERS, Settings
from .errors import InputError
from .filters import fbp_filter_name
from .formats import MemoryWriter, VolumeStats, VolumeWriter, open_stack, open_volume
from .geometry import Geometry
from .inputs import ProjectionSource, open_source
from .interrupts import deferred
from .limits import OPTIONS as LIMITS, check_fields
from .mpi import World, collectively, committing, detect_world
from .output_range import check_stored_range, scale_suggestions
from .run_files import HALVES, check_run_files, half_path, output_paths
from .strategies.plan import available_memory, format_bytes
from .strategies.run import Job, Target, rank_slabs, run


@dataclass(frozen=True)
class Options:
    """Reconstruction options, typed; the names and meanings are those of the command line (see --help).

    ``slices`` is (first, last), 0-based and inclusive like IMOD's SLICE; pixel-valued options are in unbinned
    input pixels; ``memory`` is in bytes (None: half the available RAM, shared among the ranks of a node);
    ``split`` also writes the reconstructions from the odd and from the even views.  IMOD's further options:
    ``xtilt`` per-view X-axis tilts (an XTILTFILE's values, added as IMOD does: pitch = ``pitch - xtilt``),
    ``log`` (take log10 of the data plus this), ``include`` (views to keep, the complement of ``exclude``),
    ``axis_offset``/``full_image``/``subset_start`` (OFFSET's second value, FULLIMAGE, SUBSETSTART), ``title``.
    ``backend`` "cuda" runs on the GPU ``device`` (default: the rank's local GPU under MPI, else 0); there
    ``memory`` bounds the GPU's working set (None: its free memory).
    """

    thickness: int | None = None
    alg: str = "wbp"
    iterations: int | None = None
    relax: float | None = None
    positivity: bool = False
    filter: str = "ramp"
    cutoff: float = 1.0
    radial: tuple[float, float] | None = None
    density_weighting: bool | int = True
    true_sigma: bool = False
    fake_sirt: int = 0
    hamming: float | None = None
    multiply_gaussian: bool = False
    interp: str = "linear"
    cosine_stretch: int = 2
    log: float | None = None
    scale: tuple[float, float] | None = None  # IMOD's SCALE (ADD, MULT); None: not given (output_range)
    width: int | None = None
    slices: tuple[int, int] | None = None
    offset: float = 0.0
    pitch: float = 0.0
    xshift: float = 0.0
    zshift: float = 0.0
    binning: int = 1
    exclude: str | None = None
    include: str | None = None
    xtilt: tuple[float, ...] | None = None
    axis_offset: float = 0.0
    full_image: tuple[int, int] | None = None
    subset_start: tuple[int, int] = (0, 0)
    title: str | None = None
    layout: str = "xzy"
    mode: int = 2
    overwrite: bool = False
    memory: int | None = None
    threads: int | None = None
    pad_x: bool = True
    split: bool = False
    unified: bool = False
    backend: str = "cpu"
    device: int | None = None
    reg: str = "tv"  # ADMM: regulariser, relative weights, inner CG steps (algorithms.settings.Settings)
    lam: float | None = None
    rho: float | None = None
    cg_iterations: int | None = None
    log_file: Path | None = None  # ADMM's table of objective and residuals per outer iteration
    checkpoint: Path | None = None  # strategies.checkpoint: save every checkpoint_every iterations, resume
    checkpoint_every: int | None = None
    resume: bool = False
    quiet: bool = True  # no progress display and no summary
    progress: bool = True  # the progress display (unless quiet)
    program: str = "tiltrec"
    read_files: tuple = ()  # formats.file_roles.FileUse of the other files read (a tilt.com, an XTILTFILE)

    def check(self) -> None:
        """Reject impossible values before any file is opened."""
        if self.alg not in ALGORITHMS:
            raise InputError(f"unknown algorithm {self.alg!r}; choose one of {', '.join(ALGORITHMS)}")
        if self.thickness is None:
            raise InputError("--thickness is required (output thickness in pixels, e.g. --thickness 256)")
        check_fields(vars(self), LIMITS)  # every number, however it came in (command line, tilt.com, API)
        if self.alg == "imod-sirt" and self.iterations is None:
            raise InputError("--alg imod-sirt needs --iter N (IMOD's SIRTIterations, which has no default)")
        if self.interp not in ("linear", "imod"):
            raise InputError(f"--interp takes linear or imod, got {self.interp!r}")
        if self.exclude and self.include:
            raise InputError("give the views to leave out (--exclude) or to keep (--include), not both")
        if self.radial and self.hamming is not None:
            raise InputError("--radial and --hamming exclude each other")
        fbp_filter_name(self.filter)
        if self.backend not in ("cpu", "cuda"):
            raise InputError(f"unknown backend {self.backend!r}; choose cpu or cuda")
        if self.backend == "cpu" and self.device is not None:
            raise InputError("--device chooses a GPU: it applies to the -cuda commands (backend 'cuda')")
        if self.backend == "cuda" and self.interp == "imod":
            raise InputError("--interp imod runs on CPUs only: use the -mpi command or --interp linear")
        self._check_iterative(ALGORITHMS[self.alg])

    def _check_iterative(self, alg) -> None:
        """ADMM's and the checkpoints' options."""
        if alg.couples_slices and not self.unified:
            how = f"run it with {self.program.replace('tiltrec-', 'tiltrecz-')}" if self.program.startswith(
                "tiltrec-") else "pass unified=True"
            raise InputError(f"{alg.name.upper()} reconstructs the whole volume at once: {how}")
        if self.reg not in REGULARIZERS:
            raise InputError(f"--reg takes {' or '.join(REGULARIZERS)}, got {self.reg!r}")
        if self.log_file is not None and not alg.couples_slices:
            raise InputError(f"--log applies to ADMM (its objective per iteration), not {alg.name.upper()}")
        if self.checkpoint is None and (self.resume or self.checkpoint_every is not None):
            raise InputError("--resume and --checkpoint-every need --checkpoint FILE")
        if self.checkpoint is not None and not alg.iterative:
            raise InputError(f"--checkpoint applies to the iterative algorithms (SIRT, SART, ADMM), not "
                             f"{alg.name.upper()}")


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
    pitch = opt.pitch
    if opt.xtilt is not None:
        if len(opt.xtilt) != source.stack.nviews:
            raise InputError(f"the X-axis tilt file has {len(opt.xtilt)} values for {source.stack.nviews} views")
        pitch = opt.pitch - np.asarray(opt.xtilt, dtype=np.float64)[source.views]
    # IMOD: the tilt axis sits at the centre of the full aligned image, of which the views may be a subset
    full_x, full_y = opt.full_image or (source.stack.nx, source.stack.ny)
    sub_x, sub_y = opt.subset_start
    shift_x = (full_x / 2 - sub_x - source.stack.nx / 2) / b
    shift_y = (full_y / 2 - sub_y - source.stack.ny / 2) / b
    xshift = opt.xshift + opt.axis_offset - (source.stack.nx // 2 + sub_x - full_x // 2)
    if opt.split and len(source.views) < 2:
        raise InputError(f"--split odd-even: the even half is empty (the reconstruction uses {len(source.views)} "
                         f"view; each half needs at least one)")
    return Geometry(nx=source.nx, ny=source.ny, angles=source.angles,
                    thickness=_binned("--thickness", opt.thickness, b),
                    width=_binned("--width", opt.width, b) if opt.width else 0, slices=(first, stop),
                    offset=opt.offset, pitch=pitch, xshift=xshift / b, zshift=opt.zshift / b,
                    center_shift=(shift_x, shift_y))


def _binned(option: str, pixels: int, binning: int) -> int:
    """A size in unbinned pixels, in binned ones: at least one."""
    binned = round(pixels / binning)
    if binned < 1:
        raise InputError(f"{option} {pixels} is less than one pixel after --bin {binning}")
    return binned


def _settings(opt: Options) -> Settings:
    """The algorithm's settings; the data mean (a pass over the whole stack) is added once the job is known to fit."""
    return Settings(iterations=opt.iterations, relax=opt.relax, positivity=opt.positivity, filter=opt.filter,
                    cutoff=opt.cutoff, radial=opt.radial, density_weighting=opt.density_weighting,
                    true_sigma=opt.true_sigma, fake_sirt_iterations=opt.fake_sirt, hamming=opt.hamming,
                    multiply_gaussian=opt.multiply_gaussian, interp=opt.interp, cosine_stretch=opt.cosine_stretch,
                    scale=opt.scale or (0.0, 1.0), threads=opt.threads or -1,
                    reg=opt.reg, lam=opt.lam, rho=opt.rho, cg_iterations=opt.cg_iterations)


def _origin(geom: Geometry, pixel: float, layout: str) -> tuple[float, float, float]:
    """Header origin (Angstrom) placing the output in the input's pixel coordinates, the tilt axis at Z = 0."""
    x = (geom.xcen_in - geom.xcen_out) * pixel
    y = geom.slices[0] * pixel
    z = -(geom.zcen_out - 1.0) * pixel
    if layout == "xzy":
        return x, z, y
    # rotated by -90 degrees about X, the file's Z runs down the thickness: its coordinate is minus the old one
    return (x, y, (geom.thickness - 1) * pixel - z) if layout == "xyz" else (x, y, z)


def _label(opt: Options, geom: Geometry, views: str) -> str:
    """IMOD-style label: program, algorithm, output size and views, then the date at column 57."""
    text = opt.title or f"{opt.program} {__version__}: {opt.alg.upper()} {geom.width}x{geom.nslices}x" \
                        f"{geom.thickness} bin {opt.binning}{views}"
    return f"{text[:55]:<55} {datetime.now():%d-%b-%y  %H:%M:%S}"


def _targets(opt: Options, source: ProjectionSource, geom: Geometry, output, join: list | None) -> list[Target]:
    """The full reconstruction and, with ``split``, the odd and even halves (1st, 3rd, ... and 2nd, 4th, ...
    of the views used), each with its writer; ``join`` lists the temporary files rank 0 created.  If one writer
    cannot be made, those made before it are closed again (a resumed partial output is kept)."""
    every = list(range(len(source.views)))
    subsets = [("", every)] + ([(h, every[i::2]) for i, h in enumerate(HALVES)] if opt.split else [])
    targets = []
    try:
        for index, (half, subset) in enumerate(subsets):
            if output is None:
                writer = MemoryWriter(width=geom.width, nslices=geom.nslices, thickness=geom.thickness,
                                      layout=opt.layout)
            else:
                ours = _label(opt, geom, f" {half} views" if half else "")
                writer = VolumeWriter(half_path(output, half) if half else output, width=geom.width,
                                      nslices=geom.nslices, thickness=geom.thickness, layout=opt.layout,
                                      mode=opt.mode, pixel_size=source.pixel_size,
                                      origin=_origin(geom, source.pixel_size, opt.layout),
                                      labels=[*source.stack.labels, ours],  # the input's kept, as IMOD does
                                      overwrite=opt.overwrite, join=join[index] if join else None,
                                      checkpoint=opt.checkpoint, resume=opt.resume)
            targets.append(Target(subset, writer))
    except BaseException:
        for target in targets:
            target.writer.release() if opt.resume or join else target.writer.abort()
        raise
    return targets


def _prepare(stack, angles, output, opt: Options, init, world: World, files: ExitStack) -> Job:
    """Check and open everything; rank 0 also creates the outputs' temporary files."""
    opt.check()
    if world.rank == 0:
        check_run_files(stack, angles, output, opt, init, world.size)
    if isinstance(stack, (str, Path)):
        stack = files.enter_context(open_stack(stack))
    if init is not None and not ALGORITHMS[opt.alg].iterative:
        raise InputError(f"--init applies to SIRT, SART and ADMM, not {opt.alg.upper()}")
    if output is None and world.size > 1:
        raise InputError("under MPI the volume must be written to a file")
    gpu = _open_gpu(opt, world) if opt.backend == "cuda" else None
    budget = opt.memory or (gpu.free_memory() if gpu else available_memory() // 2 // world.local_size)
    if gpu is None:  # (runs on a GPU never import Numba)
        from .projectors.cpu_kernels import set_threads

        set_threads(opt.threads or world.default_threads())
    source = open_source(stack, angles, exclude=opt.exclude, include=opt.include, binning=opt.binning,
                         log=opt.log)
    geom = _geometry(opt, source)
    settings = _settings(opt)
    if init is not None:
        init = open_volume(init, opt.layout, (geom.width, geom.nslices, geom.thickness))
        files.callback(init.close)
    job = Job(source=source, geometry=geom, algorithm=opt.alg, settings=settings, targets=[], memory=budget,
              unified=opt.unified, pad_x=opt.pad_x, init=init, quiet=opt.quiet or not opt.progress, world=world,
              device=gpu, log_file=opt.log_file)
    if gpu is None:
        rank_slabs(job)  # a volume that does not fit --memory is refused now, before the stack is read
    if opt.alg in ("wbp", "imod-sirt"):  # IMOD's fill value comes from the mean of the whole stack
        job.settings = replace(job.settings, data_mean=source.mean())
    if opt.checkpoint is not None:
        job.checkpoint = _checkpoint(opt, job, output)
    if world.rank == 0:
        job.targets = _targets(opt, source, geom, output, None)
    return job


def _checkpoint(opt: Options, job: Job, output):
    """This rank's checkpoint (strategies.checkpoint): read back with ``--resume``, else new."""
    from .strategies.checkpoint import Checkpoint, CheckpointOptions, fingerprint

    outputs = [os.path.realpath(path) for _, path in output_paths(Path(output), opt.split)]
    options = CheckpointOptions(Path(opt.checkpoint), opt.checkpoint_every or 10, opt.resume)
    identity = fingerprint(job, rank_slabs(job), outputs + [opt.layout, str(opt.mode)])
    return Checkpoint.open(options, job.world, identity, len(outputs))


def _open_gpu(opt: Options, world: World):
    """The GPU of this rank; without one, an error that names the CPU command."""
    from .projectors.cuda.device import open_device

    cpu = opt.program.replace("-cuda", "-mpi") if opt.program.endswith("-cuda") else "with backend='cpu'"
    return open_device(opt.device, world.local_rank, world.local_size, cpu)


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
        keep = job is not None and job.checkpoint is not None and job.checkpoint.keeps_output()
        for target in job.targets if job else []:
            target.writer.release() if keep else target.writer.abort()
        if keep and world.rank == 0 and job.checkpoint.saved:  # news only if this run got further
            warnings.warn(f"{opt.checkpoint}: the checkpoint and the partial output are kept: continue with "
                          f"--resume")

    with ExitStack() as files, deferred():  # a signal stops the run in its collective blocks only, which clean up
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
        with committing(world, abort):  # not after a signal; once done, the run has succeeded
            if world.rank == 0:
                for index, target in enumerate(job.targets):
                    merged = VolumeStats()
                    for stats in gathered:
                        merged = merged.merge(stats[index])
                    target.writer.stats = merged
                    check_stored_range(target.writer.path, merged, opt.mode, opt.scale)
                    target.writer.commit()
        if job.checkpoint is not None:
            job.checkpoint.remove()
        ranks = world.allgather(figures)
    if not opt.quiet and world.rank == 0:
        _summary(opt, job, ranks, world, output)
    return None if output is not None else tuple(t.writer.volume for t in job.targets)


def _rate(gups: float) -> str:
    """Voxel-view updates per second, in units that keep small runs from reading "0.00"."""
    return f"{gups:.2f} GUPS" if gups >= 0.1 else f"{gups * 1e3:.3g} MUPS"


def _summary(opt: Options, job: Job, ranks: list[dict], world: World, output) -> None:
    seconds = max(f["seconds"] for f in ranks)
    gups = sum(f["updates"] for f in ranks) / seconds / 1e9
    g = job.geometry
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    on = f" on {world.size} ranks" if world.size > 1 else ""
    names = ", ".join(str(t.writer.path) for t in job.targets) if output is not None else "memory"
    print(f"{opt.program}: wrote {names} ({g.width} x {g.nslices} x {g.thickness} voxels, layout {opt.layout}, "
          f"mode {opt.mode}) with {opt.alg.upper()} in {seconds:.2f} s{on}: {_rate(gups)}, "
          f"{sum(f['slabs'] for f in ranks)} slab(s), peak memory {format_bytes(peak)} (rank 0)", file=sys.stderr)
    if job.device is None:
        # MPICH's mpiexec starts any number of ranks without a word: say when they (or the threads) take turns
        # on the cores, which makes the time above no measure of the machine.  The launcher's process (the
        # parent) holds the cores the job may use on this node; a rank may be bound to fewer of them.
        threads = opt.threads or world.default_threads()
        try:
            cores, own = len(os.sched_getaffinity(os.getppid())), len(os.sched_getaffinity(0))
        except (AttributeError, OSError):  # no affinity masks (macOS), or the parent has gone
            cores = own = os.cpu_count() or 1
        ranks_here = f"{world.local_size} rank(s) x " if world.size > 1 else ""
        note = None
        if world.local_size * threads > cores:
            note = f"{ranks_here}{threads} thread(s) on this node's {cores} cores"
        elif threads > own:
            note = f"{threads} thread(s) on the {own} core(s) rank 0 is bound to"
        if note:
            who, fix = ("ranks", "fewer ranks or --threads") if world.size > 1 else ("threads", "--threads")
            print(f"{opt.program}: {who} share cores ({note}): {fix} would give each thread a core", file=sys.stderr)
    if opt.alg == "wbp":
        for line in scale_suggestions(job.targets[0].writer.stats, opt.scale or (0.0, 1.0)):
            print(f"{opt.program}: {line}", file=sys.stderr)
