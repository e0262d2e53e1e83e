"""The CPU backend: slabs computed by the Numba projector on the main thread, each result written on a worker
thread (strategies.worker) while the next slab computes.

Numba is imported when the first projector is made, never by a run on a GPU.
"""

from __future__ import annotations

from contextlib import contextmanager, nullcontext

import numpy as np

from ...algorithms.footprint import BYTES
from ...errors import InputError
from ..plan import Budget, PlanTooLarge, Slab, SlabPlan, Workload, available_memory, format_bytes
from ..worker import Worker
from .base import Crop, Traffic
from ...options.spelling import spelled


class CpuBackend:
    name = "cpu"
    slab_cap = 64  # fastest in bin/bench: a view plane of a 64-slice slab fits the L2 cache
    xp = np

    def __init__(self, threads: int):
        from ...cpu_threads import set_threads

        set_threads(threads)

    def budget(self, memory: int | None, local_size: int) -> Budget:
        """``memory``, or half the available RAM shared among the node's ranks."""
        memory = memory or available_memory() // 2 // local_size
        return Budget(memory, memory)

    @staticmethod
    def _per_slice(work: Workload) -> int:
        """Bytes per computed slice: the algorithm's arrays and the next slab's rows, read ahead."""
        g = work.geometry
        return work.footprint.per_slice(work.computed) + BYTES * g.nviews * g.nx

    def plan(self, work: Workload, budget: Budget) -> SlabPlan:
        per_slice = self._per_slice(work)
        if work.unified:
            need = per_slice * (work.share + 2 * work.halo)
            if need > budget.memory:
                memory = spelled("memory")
                raise InputError(f"the whole volume needs about {format_bytes(need)} per rank but {memory} allows "
                                 f"{format_bytes(budget.memory)}: raise {memory} or use the slice-based command")
            return SlabPlan(work.slabs(work.share), budget=budget.memory)
        return SlabPlan(work.slabs(work.height(budget.memory, per_slice, self.slab_cap)), budget=budget.memory)

    def fit(self, work: Workload, slabs: tuple[Slab, ...], budget: Budget) -> SlabPlan:
        need = self._per_slice(work) * max(s.c1 - s.c0 for s in slabs)
        if need > budget.memory:
            memory = spelled("memory")
            raise PlanTooLarge(need, budget.memory, memory, f"{memory} {format_bytes(need).replace(' ', '')} or more")
        return SlabPlan(tuple(slabs), budget=budget.memory)

    def projector(self, geom, slab: Slab):
        from ...projectors.cpu import CpuProjector

        return CpuProjector(geom, slab.c0, slab.c1)

    def start_volume(self, op, fill):
        x0 = op.zeros_volume()
        fill(x0)
        return x0

    def running(self, plan: SlabPlan):
        from ...projectors.recycled import recycling

        return recycling()

    @contextmanager
    def pipeline(self, traffic: Traffic):
        with Worker("tiltrec-writer") as writer:
            yield _CpuPipeline(writer)


class _CpuPipeline:
    """Results written on the writer thread, one block at a time."""

    def __init__(self, writer: Worker):
        self.writer = writer

    def receive(self, rows: np.ndarray) -> np.ndarray:
        return rows

    def computing(self):
        return nullcontext()

    def write(self, writer, y0: int, vol, crop: Crop) -> None:
        self.writer.wait()  # at most one block in flight: the budget counts one volume and one block
        self.writer.submit(writer.stage(y0, crop.of(vol)))

    def flush(self) -> None:
        self.writer.wait()
