"""Run a job slab by slab, the same loop on every backend: read the rows a slab needs, reconstruct it for every
output volume, write it, move on.  The next slab's rows are read on a worker thread while a slab computes, and
the backend's pipeline (strategies.backends) overlaps moving rows in and results out with the computing.

The slice-based strategy sizes slabs from the memory budget; the unified strategy makes each rank's share one
slab (strategies.plan).  Neither changes how an algorithm computes, only which data it sees.
"""

from __future__ import annotations

import time
import warnings
from concurrent.futures import Future
from contextlib import ExitStack

from ..errors import InputError
from ..formats.writer import VolumeStats
from ..geometry import Geometry
from ..interrupts import raise_if_signalled
from ..mpi import agree
from ..mpi.lockstep import lockstep
from ..progress import Progress
from .backends.base import Crop, Traffic
from .job import Job, Target
from .plan import Slab
from .worker import Worker


def run(job: Job) -> dict:
    """Reconstruct the job's volumes into their writers; returns timing figures."""
    alg = job.algorithm
    subsets = [(t, job.computed(job.geometry.with_views(list(t.views)))) for t in job.targets]
    progress = Progress(len(job.rank_slabs) * len(subsets) * alg.steps(job.settings), label=alg.name.upper(),
                        quiet=job.quiet or job.world.rank > 0)
    start = time.perf_counter()
    with job.backend.running(job.plan), Session(job, progress) as session:
        todo = session.todo()
        if todo:  # none: more ranks than slabs, or all written before an interruption
            _slabs(job, subsets, todo, session, progress)
    progress.finish()
    return figures(job, time.perf_counter() - start)


def _slabs(job: Job, subsets: list[tuple[Target, Geometry]], todo: list[int], session: "Session", progress) -> None:
    """Slabs ``todo`` (indices into the plan), in that order."""
    g = job.geometry
    rows_of = {index: _rows_needed(subsets, job.slab(index)) for index in todo}
    traffic = Traffic(rows=max(g.nviews * (r1 - r0) * g.nx for r0, r1 in rows_of.values()),
                      result=g.thickness * g.width * max(job.slab(i).y1 - job.slab(i).y0 for i in todo),
                      outputs=len(subsets), slabs=len(todo))
    with Worker("tiltrec-reader") as reader, job.backend.pipeline(traffic) as pipe:
        # reading has no collectives unless ranks run in lockstep (ADMM): then it stays on the main thread
        read = reader.submit if session.coupled is None else _now
        pending = read(session.rows, *rows_of[todo[0]])
        for step, index in enumerate(todo):
            slab = job.slab(index)
            rows = pipe.receive(pending.result())
            raise_if_signalled()  # a safe point per slab (tiltrec.interrupts); the algorithms' steps are others
            if step + 1 < len(todo):
                pending = read(session.rows, *rows_of[todo[step + 1]])
            with pipe.computing():
                for t, (target, geom) in enumerate(subsets):
                    if session.finished(index, t):
                        continue
                    vol, crop = _reconstruct(job, geom, target, slab, rows, rows_of[index], session.extras(index, t),
                                             progress)
                    pipe.write(target.writer, slab.y0 - g.slices[0], vol, crop)
                    del vol  # not kept while the next slab computes: the budget counts one volume and one block
                    if session.checkpoint is not None:  # a slab counts as finished once it is on disk
                        pipe.flush()
                        session.done(index, t)


def _rows_needed(subsets: list[tuple[Target, Geometry]], slab: Slab) -> tuple[int, int]:
    """The view rows every target's computation of ``slab`` reads: with local alignments the padded columns of
    the computed volume may reach rows the output's columns do not."""
    ranges = [geom.rows_needed(slab.c0, slab.c1) for _, geom in subsets]
    return min(r0 for r0, _ in ranges), max(r1 for _, r1 in ranges)


def _reconstruct(job: Job, geom: Geometry, target: Target, slab: Slab, rows, row_range: tuple[int, int],
                 extras: dict, progress):
    """The reconstruction of ``slab`` with its halo for ``target``, from the slab's projection rows (input rows
    ``row_range``), and the part of it that is output."""
    backend = job.backend
    op = backend.projector(geom, slab)
    r0, r1 = row_range
    x_off = geom.width // 2 - job.geometry.width // 2
    x0 = None
    if job.init is not None:
        x0 = backend.start_volume(op, lambda volume: initial_slab(job, volume, slab, x_off))
    every_row = len(target.views) == rows.shape[0] and (op.r0, op.r1) == (r0, r1)
    part = rows if every_row else op.xp.ascontiguousarray(rows[list(target.views), op.r0 - r0:op.r1 - r0])
    vol = job.algorithm.reconstruct(op, part, job.settings, x0=x0, callback=progress.advance, **extras)
    return vol, Crop(x_off, job.geometry.width, slab.y0 - slab.c0, slab.y1 - slab.y0)


def _now(fn, *args) -> Future:
    """``fn(*args)``, run here, as a finished future."""
    future: Future = Future()
    future.set_result(fn(*args))
    return future


class Session:
    """What a rank's run gives its algorithm runs besides the data, the same for every backend: the checkpoint
    store of each slab, and for algorithms that couple slices (ADMM) the ranks holding the other blocks, in
    lockstep while the session lasts (mpi.lockstep), and the per-iteration log.  Collective: every rank opens it."""

    def __init__(self, job: Job, progress: Progress):
        from .monitor import IterationLog

        self.job, self.alg, self.progress = job, job.algorithm, progress
        self.share = job.rank_slabs
        self.coupled = job.world.subset(bool(self.share)) if self.alg.couples_slices else None
        self.checkpoint = job.checkpoint
        self.log = None
        if self.alg.couples_slices and self.share and self.coupled.rank == 0:
            self.log = IterationLog(job.log, None if progress.quiet else progress, self.alg.name.upper())
        if self.checkpoint is not None:
            if self.coupled is not None and len({repr(c) for c in self.coupled.allgather(self._position())}) > 1:
                raise InputError(f"{job.checkpoint.primary}: the ranks' checkpoint files are from different "
                                 f"iterations (a rank was killed while saving): delete them and start afresh")
            self._verify_finished()

    def _position(self) -> tuple:
        """How far this rank's checkpoint got, alike on every rank of a set saved together: its finished slabs and
        the slab in progress as places in the rank's share, and the iteration saved."""
        start, current = self.share.start, self.checkpoint.current
        finished = sorted((index - start, target) for index, target in self.checkpoint.finished)
        return finished, current and (current["key"][0] - start, current["key"][1], current["iteration"])

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
        slab = self.job.slab(index)
        return slab.y0 - self.job.geometry.slices[0], slab.y1 - slab.y0

    def todo(self) -> list[int]:
        """This rank's slabs left to compute, the one whose state was saved first (a saved state that does not fit
        is refused before any other work)."""
        todo = [index for index in self.share if not self.finished(index)]
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


def figures(job: Job, seconds: float) -> dict:
    """Timing figures of a rank's run: seconds, voxel-view updates, slabs."""
    g = job.geometry
    voxels = g.width * g.thickness * sum(job.slab(i).y1 - job.slab(i).y0 for i in job.rank_slabs)
    updates = voxels * sum(len(t.views) for t in job.targets) * job.algorithm.passes(job.settings)
    return {"seconds": seconds, "updates": updates, "slabs": len(job.rank_slabs)}


def initial_slab(job: Job, x0, slab: Slab, x_off: int):
    """The starting volume of a slab in ``x0`` (zeros, returned): the --init volume's slices, zero in the X
    padding and outside its range."""
    first, stop = job.geometry.slices
    a, b = max(slab.c0, first), min(slab.c1, stop)
    x0[:, x_off:x_off + job.geometry.width, a - slab.c0:b - slab.c0] = job.init.read_slab(a - first, b - first)
    return x0
