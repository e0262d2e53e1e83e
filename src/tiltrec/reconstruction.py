"""One reconstruction from checked options: open the inputs, build the job, run it on every rank, write.

The command line and the Python API (``tiltrec.reconstruct``) both end here.
"""

from __future__ import annotations

import os
import warnings
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path

from .algorithms import ALGORITHMS, Algorithm, require_backend
from .errors import InputError, TiltrecError, file_error
from .formats import MemoryWriter, VolumeReader, VolumeStats, open_stack, open_volume
from .formats.writer import stored_dtype
from .geometry import Geometry
from .inputs import ProjectionSource, open_source
from .interrupts import deferred
from .job_geometry import job_geometry
from .mpi import World, collectively, committing, detect_world
from .options.model import Options, Settings
from .output_range import check_stored_range
from .output_targets import make_targets
from .run_files import HALVES, check_run_files, output_paths
from .run_summary import print_summary
from .strategies.backends.base import Backend
from .strategies.checkpoint import Checkpoint, CheckpointOptions, fingerprint
from .strategies.driver import run
from .strategies.job import Job, Target, working_geometry
from .strategies.plan import Budget, PlanTooLarge, SlabPlan, Workload
from .options.spelling import spelled


def _check(opt: Options, program: str) -> None:
    """What the options alone cannot say: whether the algorithm runs on this backend and strategy."""
    alg = ALGORITHMS[opt.algorithm.alg]
    require_backend(alg.name, opt.resources.backend)
    if alg.couples_slices and not opt.resources.unified:
        how = f"run it with {program.replace('tiltrec-', 'tiltrecz-')}" if program.startswith(
            "tiltrec-") else "pass unified=True"
        raise InputError(f"{alg.name.upper()} reconstructs the whole volume at once: {how}")


def _settings(opt: Options) -> Settings:
    """The algorithm's settings; the data mean (a pass over the whole stack) is added once the job is known to fit."""
    return replace(opt.algorithm, threads=opt.resources.threads or -1)


@dataclass(frozen=True)
class _Opened:
    """What a rank has opened and worked out before the ranks agree on a slab plan."""

    source: ProjectionSource
    geometry: Geometry
    algorithm: Algorithm
    settings: Settings
    init: VolumeReader | None
    backend: Backend
    budget: Budget  # this rank's


def _open(stack, angles, output, opt: Options, world: World, files: ExitStack, program: str,
          read_files: tuple) -> _Opened:
    """Check and open everything a slab plan needs: the inputs, the backend (a GPU), this rank's memory."""
    _check(opt, program)
    init = opt.input.init
    if world.rank == 0:
        check_run_files(stack, angles, output, opt, world.size, read_files)
    if isinstance(stack, (str, Path)):
        stack = files.enter_context(open_stack(stack))
    if output is None and world.size > 1:
        raise InputError("under MPI the volume must be written to a file")
    backend = _open_backend(opt, world, program)
    source = open_source(stack, angles, exclude=opt.input.exclude, include=opt.input.include, binning=opt.input.bin,
                         log=opt.input.log_base)
    geom = job_geometry(opt, source)
    settings = _settings(opt)
    if init is not None:
        init = open_volume(init, opt.output.layout, (geom.width, geom.nslices, geom.thickness))
        files.callback(init.close)
    return _Opened(source, geom, ALGORITHMS[opt.algorithm.alg], settings, init, backend,
                   backend.budget(opt.resources.memory, world.local_size))


def _plan(opt: Options, opened: _Opened, budget: Budget, output, world: World):
    """The slab plan, the settings (with the data mean where the algorithm needs one) and the checkpoint: a new
    plan for ``budget`` (refused before the stack is read if not one slice fits), or with --resume the plan the
    checkpoint holds, if its slabs fit ``budget``."""
    work = _workload(opt, opened, world, output)
    resuming = opt.output.checkpoint is not None and opt.output.resume
    plan = None if resuming else opened.backend.plan(work, budget)
    settings = opened.settings
    if opened.algorithm.needs_data_mean:  # a pass over the whole stack
        settings = replace(settings, data_mean=opened.source.mean())
    if opt.output.checkpoint is None:
        return plan, settings, None
    checkpoint = _checkpoint(opt, opened, settings, world, output, plan)
    if plan is None:
        try:
            plan = _resumed_plan(checkpoint, opened.backend, work, budget)
        except BaseException:
            checkpoint.close()
            raise
    return plan, settings, checkpoint


def _workload(opt: Options, opened: _Opened, world: World, output) -> Workload:
    """What the slab plan depends on besides the memory."""
    alg, g = opened.algorithm, opened.geometry
    if alg.couples_slices and world.size > 1 and (g.has_pitch or g.local is not None):
        what = f"an X-axis tilt ({spelled('pitch')})" if g.local is None else f"local alignments ({spelled('local')})"
        raise InputError(f"{alg.name.upper()} with {what} runs on one rank: a projection row gathers slices of "
                         f"different ranks' blocks")
    mode = opt.output.mode if output is not None else MemoryWriter.mode
    computed = working_geometry(g, alg, opt.algorithm.xpad)
    return Workload(geometry=g, computed=computed, footprint=alg.footprint,
                    halo=computed.slab_halo() if alg.pads_x else 0, unified=opt.resources.unified, ranks=world.size,
                    outputs=(1 + len(HALVES)) if opt.output.split else 1, stored_bytes=stored_dtype(mode).itemsize)


def _checkpoint(opt: Options, opened: _Opened, settings: Settings, world: World, output,
                plan: SlabPlan | None) -> Checkpoint:
    """This rank's checkpoint (strategies.checkpoint): a new one that holds ``plan``, or (``plan`` None) the one
    --resume continues."""
    outputs = [os.path.realpath(path) for _, path in output_paths(Path(output), opt.output.split)]
    options = CheckpointOptions(Path(opt.output.checkpoint), opt.output.checkpoint_every, opt.output.resume)
    identity = fingerprint(source=opened.source, geometry=opened.geometry, algorithm=opened.algorithm.name,
                           settings=settings, init=opened.init, unified=opt.resources.unified,
                           backend=opened.backend.name, world=world,
                           outputs=outputs + [opt.output.layout, str(opt.output.mode)])
    if plan is not None:
        return Checkpoint.create(options, world, identity, len(outputs), plan.slabs)
    return Checkpoint.resume(options, world, identity, len(outputs))


def _resumed_plan(checkpoint: Checkpoint, backend: Backend, work: Workload, budget: Budget) -> SlabPlan:
    """The slab plan ``checkpoint`` holds, checked against the job, under ``budget``: the resumed run computes
    the slabs the interrupted one did, so that the result is the uninterrupted one whatever memory it has now."""
    try:
        work.check(checkpoint.plan)
    except ValueError as exc:
        raise file_error(checkpoint.path, f"cannot be read as a tiltrec checkpoint: {exc}") from None
    try:
        return backend.fit(work, checkpoint.plan, budget)
    except PlanTooLarge as exc:
        raise file_error(checkpoint.path, f"its slabs {exc}, or delete it to start afresh") from None


def _open_backend(opt: Options, world: World, program: str) -> Backend:
    """This rank's backend: the CPU with its threads (Numba is imported only then), or its GPU."""
    if opt.resources.backend == "cuda":
        from .strategies.backends.cuda import CudaBackend

        return CudaBackend(_open_gpu(opt, world, program))
    from .strategies.backends.cpu import CpuBackend

    return CpuBackend(opt.resources.threads or world.default_threads())


def _open_gpu(opt: Options, world: World, program: str):
    """The GPU of this rank; without one, an error that names the CPU command."""
    from .projectors.cuda.device import device_for

    return device_for(program, opt.resources.device, world)


def run_reconstruction(stack, angles, output: Path | None, opt: Options, *, program: str = "tiltrec",
                       read_files: tuple = ()):
    """Reconstruct ``stack`` (a tilt-series file or an open TiltStack) with ``angles`` (a file or the angles)
    into ``output``.

    Returns the volumes (file order) when ``output`` is None, else None.  Under MPI every rank does each step;
    a failure on any rank stops all of them (see mpi.collectively), and rank 0 renames the outputs into place
    only after every rank has written its slabs.
    """
    world = detect_world()
    undo = _Undo(world)
    with ExitStack() as files, deferred():  # a signal stops the run in its collective blocks only, which clean up
        with collectively(world, undo):
            opened = _open(stack, angles, output, opt, world, files, program, read_files)
        budget = Budget.smallest(world.allgather(opened.budget))  # so that every rank plans the same slabs
        with collectively(world, undo):
            plan, settings, undo.checkpoint = _plan(opt, opened, budget, output, world)
            if world.rank == 0:
                undo.targets = make_targets(opt, opened.source, opened.geometry, output, None, program)
        plans, temporaries = zip(*world.allgather((plan.slabs, [t.writer.temporary for t in undo.targets])))
        with collectively(world, undo):
            if any(slabs != plans[0] for slabs in plans):
                raise _plans_differ(undo.checkpoint)
            if world.rank > 0:
                undo.targets = make_targets(opt, opened.source, opened.geometry, output, temporaries[0], program)
        job = Job(source=opened.source, geometry=opened.geometry, algorithm=opened.algorithm, settings=settings,
                  backend=opened.backend, plan=plan, targets=undo.targets, world=world, checkpoint=undo.checkpoint,
                  init=opened.init, unified=opt.resources.unified,
                  quiet=opt.output.quiet or not opt.output.progress, log=opt.output.log)
        with collectively(world, undo):
            figures = run(job)
            if world.rank > 0:
                for target in job.targets:
                    target.writer.release()  # closed (and on NFS flushed) before rank 0 renames the file
        gathered = world.allgather([t.writer.stats for t in job.targets])
        with committing(world, undo):  # not after a signal; once done, the run has succeeded
            if world.rank == 0:
                for index, target in enumerate(job.targets):
                    merged = VolumeStats()
                    for stats in gathered:
                        merged = merged.merge(stats[index])
                    target.writer.stats = merged
                    check_stored_range(target.writer.path, merged, opt.output.mode, opt.algorithm.scale)
                    target.writer.commit()
        if job.checkpoint is not None:
            job.checkpoint.remove()
        ranks = world.allgather(figures)
    if not opt.output.quiet and world.rank == 0:
        print_summary(opt, job, ranks, world, output, program)
    return None if output is not None else tuple(t.writer.volume for t in job.targets)


class _Undo:
    """What a failed run cleans up: the outputs' temporary files are deleted, or kept while a checkpoint continues
    them (``targets`` and ``checkpoint``: as far as they were made)."""

    def __init__(self, world: World):
        self.world = world
        self.targets: tuple[Target, ...] = ()
        self.checkpoint: Checkpoint | None = None

    def __call__(self) -> None:
        keep = self.checkpoint is not None and self.checkpoint.keeps_output()
        for target in self.targets:
            target.writer.release() if keep else target.writer.abort()
        if keep and self.world.rank == 0 and self.checkpoint.saved:  # news only if this run got further
            warnings.warn(f"{self.checkpoint.primary}: the checkpoint and the partial output are kept: continue "
                          f"with {spelled('resume')}")


def _plans_differ(checkpoint: Checkpoint | None) -> TiltrecError:
    """The ranks hold different slab plans: only checkpoint files of different runs can give them."""
    if checkpoint is None:
        return TiltrecError("the ranks planned different slabs")
    return file_error(checkpoint.primary, "the ranks' checkpoint files hold different slab plans (files of different "
                                          "runs): delete them and start afresh")
