"""Run a reconstruction slab by slab: read the rows a slab needs, reconstruct it, write it, move on; on the CPU
the next slab's rows are read and the last slab's block written on worker threads while a slab computes.

The slice-based strategy sizes slabs from the memory budget; the unified strategy makes the whole volume one slab.
Neither changes how an algorithm computes, only which data it sees.
"""

from __future__ import annotations

import time
import warnings
from concurrent.futures import Future
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from ..algorithms import ALGORITHMS
from ..algorithms.settings import Settings
from ..errors import InputError
from ..formats.writer import VolumeStats
from ..geometry import Geometry
from ..inputs import ProjectionSource
from ..interrupts import raise_if_signalled
from ..mpi import World, agree
from ..mpi.lockstep import lockstep
from ..progress import Progress
from .plan import BYTES, Slab, format_bytes, plan_slabs, slab_height
from .worker import Worker

SLAB = 64  # slices per slab when slices are independent (fastest in bin/bench: a view plane of a slab fits L2)


@dataclass
class Target:
    """One volume the job writes: reconstructed from ``views`` (indices into the source's views)."""

    views: list[int]
    writer: object  # formats.VolumeWriter or formats.MemoryWriter


@dataclass
class Job:
    """Everything one reconstruction needs.  ``targets`` are the volumes to write: the full reconstruction, and
    with ``--split odd-even`` also the halves; every slab's rows are read once for all of them."""

    source: ProjectionSource
    geometry: Geometry
    algorithm: str
    settings: Settings
    targets: list[Target]
    memory: int  # bytes
    unified: bool = False
    pad_x: bool = True  # iterative algorithms reconstruct a wider volume so X borders carry no edge artifacts
    init: object | None = None  # formats.VolumeReader of a starting volume
    quiet: bool = False
    world: World = field(default_factory=World)
    device: object | None = None  # a GPU (strategies.gpu_pipeline.Device) for the CUDA backend; None: the CPU
    checkpoint: object | None = None  # strategies.checkpoint.Checkpoint (--checkpoint)
    log_file: Path | None = None  # ADMM's per-iteration table (--log)


def compute_geometry(job: Job, geom: Geometry) -> Geometry:
    """The geometry the algorithm works in: wider than the output for iterative algorithms when pad_x."""
    if ALGORITHMS[job.algorithm].iterative and job.pad_x:
        return geom.with_width(geom.min_padding_width())
    return geom


def plan(job: Job, geom: Geometry) -> list[Slab]:
    """The slabs of the whole job under its strategy and memory budget (every rank computes the same plan).

    Slabs hold at most SLAB slices and at most one rank's share, so that every rank gets work; iterative
    algorithms with pitch are the exception: their slab seams are approximations, so their slabs are as tall as
    --memory allows, whatever the number of ranks, and the result does not change with it.
    """
    g = job.geometry
    first, stop = g.slices
    alg = ALGORITHMS[job.algorithm]
    if alg.couples_slices and g.has_pitch and job.world.size > 1:
        raise InputError(f"{alg.name.upper()} with an X-axis tilt (--pitch) runs on one rank: the tilt couples "
                         f"slices of different ranks' blocks in every projection")
    halo = g.pitch_halo() if alg.iterative else 0
    per_slice = alg.footprint.per_slice(geom) + BYTES * geom.nviews * geom.nx  # + the next slab's rows, read ahead
    share = -(-g.nslices // job.world.size)
    if job.unified:
        need = per_slice * (share + 2 * halo)
        if need > job.memory:
            raise InputError(f"the whole volume needs about {format_bytes(need)} per rank but --memory allows "
                             f"{format_bytes(job.memory)}: raise --memory or use the slice-based command")
        return plan_slabs(first, stop, share, halo, g.ny)
    coupled = alg.iterative and halo > 0
    height = slab_height(job.memory, per_slice, halo, g.nslices, None if coupled else min(SLAB, share))
    return plan_slabs(first, stop, height, halo, g.ny)


def rank_slabs(job: Job) -> list[Slab]:
    """This rank's share of the slabs (of the full reconstruction's geometry)."""
    everyone = plan(job, compute_geometry(job, job.geometry))
    return [everyone[i] for i in job.world.share(len(everyone))]


def run(job: Job) -> dict:
    """Reconstruct the job's volumes into their writers; returns timing figures."""
    if job.device is not None:
        from .gpu_pipeline import run_on_device

        return run_on_device(job)
    alg = ALGORITHMS[job.algorithm]
    subsets = [(t, compute_geometry(job, job.geometry.with_views(t.views))) for t in job.targets]
    slabs = rank_slabs(job)
    progress = Progress(len(slabs) * len(subsets) * alg.steps(job.settings), label=job.algorithm.upper(),
                        quiet=job.quiet or job.world.rank > 0)
    start = time.perf_counter()
    with Session(job, alg, slabs, progress) as session, Worker("tiltrec-reader") as reader, \
            Worker("tiltrec-writer") as writer:
        todo = session.todo()
        rows_of = {index: job.geometry.rows_needed(slabs[index].c0, slabs[index].c1) for index in todo}
        # reading has no collectives unless ranks run in lockstep (ADMM): then it stays on the main thread
        read = reader.submit if session.coupled is None else _now
        rows = read(session.rows, *rows_of[todo[0]]) if todo else None
        for step, index in enumerate(todo):
            slab, current = slabs[index], rows.result()
            raise_if_signalled()  # a safe point per slab (tiltrec.interrupts); the algorithms' steps are others
            if step + 1 < len(todo):
                rows = read(session.rows, *rows_of[todo[step + 1]])
            for t, (target, geom) in enumerate(subsets):
                if session.finished(index, t):
                    continue
                vol = _reconstruct(job, alg, geom, target, slab, current, rows_of[index], session.extras(index, t),
                                   progress)
                writer.wait()  # at most one block in flight
                finish = target.writer.stage(slab.y0 - job.geometry.slices[0], vol)
                del vol  # not kept while the next slab computes: the budget counts one volume and one block
                writer.submit(finish)
                if session.checkpoint is not None:  # a slab counts as finished once it is on disk
                    writer.wait()
                    session.done(index, t)
    progress.finish()
    return figures(job, alg, slabs, time.perf_counter() - start)


def _reconstruct(job: Job, alg, geom: Geometry, target: Target, slab: Slab, rows, row_range: tuple[int, int],
                 extras: dict, progress):
    """The output slices of ``slab`` for ``target`` (a view of the reconstruction of the slab with its halo), from
    the slab's projection rows (input rows ``row_range``)."""
    from ..projectors.cpu import CpuProjector

    r0, r1 = row_range
    op = CpuProjector(geom, slab.c0, slab.c1)
    width = job.geometry.width
    x_off = geom.width // 2 - width // 2
    x0 = initial_slab(job, op.zeros_volume(), slab, x_off) if job.init is not None else None
    every_row = len(target.views) == rows.shape[0] and (op.r0, op.r1) == (r0, r1)
    part = rows if every_row else rows[target.views, op.r0 - r0:op.r1 - r0]  # the halves: a copy
    vol = alg.reconstruct(op, part, job.settings, x0=x0, callback=progress.advance, **extras)
    return vol[:, x_off:x_off + width, slab.y0 - slab.c0:slab.y1 - slab.c0]


def _now(fn, *args) -> Future:
    """``fn(*args)``, run here, as a finished future."""
    future: Future = Future()
    future.set_result(fn(*args))
    return future


class Session:
    """What a rank's run gives its algorithm runs besides the data, the same for every backend: the checkpoint
    store of each slab, and for algorithms that couple slices (ADMM) the ranks holding the other blocks, in
    lockstep while the session lasts (mpi.lockstep), and the per-iteration log.  Collective: every rank opens it."""

    def __init__(self, job: Job, alg, slabs: list[Slab], progress: Progress):
        from .monitor import IterationLog

        self.job, self.alg, self.slabs, self.progress = job, alg, slabs, progress
        self.coupled = job.world.subset(bool(slabs)) if alg.couples_slices else None
        self.checkpoint = job.checkpoint
        self.log = None
        if alg.couples_slices and slabs and self.coupled.rank == 0:
            self.log = IterationLog(job.log_file, None if progress.quiet else progress, job.algorithm.upper())
        if self.checkpoint is not None:
            if self.coupled is not None and len({repr(c) for c in self.coupled.allgather(
                    (sorted(self.checkpoint.finished), self.checkpoint.current))}) > 1:
                raise InputError(f"{job.checkpoint.primary}: the ranks' checkpoint files are from different "
                                 f"iterations (a rank was killed while saving): delete them and start afresh")
            self._verify_finished()

    def _verify_finished(self) -> None:
        """Check the slices of every slab the checkpoint counts as written against their checksums; a slab whose
        slices differ (a partial output damaged or cut short since) is computed again.  The writers' statistics
        start from those of the slabs that stay.  Ranks in lockstep compute again together, or not at all."""
        checkpoint, targets = self.checkpoint, self.job.targets
        damaged = [key for key, written in checkpoint.finished.items()
                   if targets[key[1]].writer.digest(*self._slices(key[0])) != written.crc]
        if self.coupled is not None and self.coupled.allreduce([len(damaged)])[0]:
            damaged = list(checkpoint.finished)
        for key in damaged:
            checkpoint.forget(key)
            first, count = self._slices(key[0])
            warnings.warn(f"{targets[key[1]].writer.temporary}: slices {first}-{first + count - 1} differ from what "
                          f"the checkpoint recorded (the partial output was changed or damaged): computing them again")
        for t, target in enumerate(targets):
            target.writer.stats = VolumeStats()
            for (_, of), written in sorted(checkpoint.finished.items()):
                if of == t:
                    target.writer.stats = target.writer.stats.merge(written.stats)

    def _slices(self, index: int) -> tuple[int, int]:
        """The output slices of slab ``index``: first (in the file) and count."""
        slab = self.slabs[index]
        return slab.y0 - self.job.geometry.slices[0], slab.y1 - slab.y0

    def todo(self) -> list[int]:
        """The slabs left to compute, the one whose state was saved first (a saved state that does not fit is
        refused before any other work)."""
        todo = [index for index in range(len(self.slabs)) if not self.finished(index)]
        current = self.checkpoint.current if self.checkpoint is not None else None
        if current is not None and current["key"][0] in todo:
            todo.remove(current["key"][0])
            todo.insert(0, current["key"][0])
        return todo

    def rows(self, r0: int, r1: int):
        """The projection rows ``[r0, r1)``; ranks in lockstep learn together of any rank's failure to read its
        rows (so that all stop alike, before they meet in the algorithm's collectives)."""
        if self.coupled is None:
            return self.job.source.rows(r0, r1)
        rows, failure = None, None
        try:
            rows = self.job.source.rows(r0, r1)
        except Exception as exc:
            failure = exc
        agree(self.coupled, failure)
        return rows

    def finished(self, index: int, target: int | None = None) -> bool:
        """Whether slab ``index`` (for ``target``, or for all targets) was written before an interruption; the
        progress moves on by its work if so."""
        if self.checkpoint is None:
            return False
        targets = range(len(self.job.targets)) if target is None else [target]
        if not all(self.checkpoint.is_finished((index, t)) for t in targets):
            return False
        self.progress.advance(len(targets) * self.alg.steps(self.job.settings))
        return True

    def extras(self, index: int, target: int) -> dict:
        """The keyword arguments of the algorithm run for slab ``index`` and ``target``."""
        extras = {}
        if self.checkpoint is not None:
            extras["checkpoint"] = self.checkpoint.store((index, target), self.alg.steps(self.job.settings),
                                                         self.coupled)
        if self.alg.couples_slices:
            extras.update(world=self.coupled, log=self.log)
            if self.log is not None:  # the figures are the whole volume's, whichever ranks share it
                first, stop = self.job.geometry.slices
                self.log.title = (f"{self.alg.name.upper()} of slices {first}-{stop - 1} for "
                                  f"{self.job.targets[target].writer.path}")
        return extras

    def done(self, index: int, target: int) -> None:
        """Slab ``index`` of ``target`` is written: once it is on disk, record it and its checksum in the
        checkpoint."""
        if self.checkpoint is not None:
            from .checkpoint import FinishedSlab

            writer = self.job.targets[target].writer
            writer.sync()
            written = FinishedSlab(writer.digest(*self._slices(index)), writer.block_stats)
            self.checkpoint.finish((index, target), written, self.coupled)

    def __enter__(self) -> "Session":
        self._exit = ExitStack()
        if self.log is not None:
            self._exit.callback(self.log.close)
        if self.coupled is not None:
            self.coupled = self._exit.enter_context(lockstep(self.coupled))
        return self

    def __exit__(self, *failure):
        return self._exit.__exit__(*failure)


def figures(job: Job, alg, slabs: list[Slab], seconds: float) -> dict:
    """Timing figures of a rank's run: seconds, voxel-view updates, slabs."""
    g = job.geometry
    voxels = g.width * g.thickness * sum(s.y1 - s.y0 for s in slabs)
    updates = voxels * sum(len(t.views) for t in job.targets) * alg.passes(job.settings)
    return {"seconds": seconds, "updates": updates, "slabs": len(slabs)}


def initial_slab(job: Job, x0, slab: Slab, x_off: int):
    """The starting volume of a slab in ``x0`` (zeros, returned): the --init volume's slices, zero in the X
    padding and outside its range."""
    first, stop = job.geometry.slices
    a, b = max(slab.c0, first), min(slab.c1, stop)
    x0[:, x_off:x_off + job.geometry.width, a - slab.c0:b - slab.c0] = job.init.read_slab(a - first, b - first)
    return x0
