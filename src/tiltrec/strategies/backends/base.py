"""What the slab loop (strategies.driver) needs from a backend: a slab plan for a memory budget, a projector per
slab, and a pipeline that moves rows in and results out while the slabs compute.

Per slab the loop hands the pipeline the rows read from disk (``receive``: on a GPU they are copied into pinned
memory and uploaded on a stream of their own), runs the algorithm inside ``computing()``, and hands each result to
``write``, which returns at once: the result is written (on a GPU after its download) while the next slab
computes; ``flush`` waits until everything handed over is on disk.  Meanwhile the loop reads the next slab's rows
on a thread of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, ContextManager, Protocol

import numpy as np

from ...formats import MemoryWriter, VolumeWriter
from ...geometry import Geometry
from ..plan import Budget, Slab, SlabPlan, Workload


@dataclass(frozen=True)
class Traffic:
    """The most a pipeline moves per slab: ``rows`` float32 values in, ``result`` voxels out per output volume
    (``outputs`` of them), over ``slabs`` slabs."""

    rows: int
    result: int
    outputs: int
    slabs: int


@dataclass(frozen=True)
class Crop:
    """The output part of a computed slab volume (``[z, x, y]``): ``width`` columns from ``x0``, ``height`` slices
    from ``y0``."""

    x0: int
    width: int
    y0: int
    height: int

    def of(self, vol):
        return vol[:, self.x0:self.x0 + self.width, self.y0:self.y0 + self.height]


class Pipeline(Protocol):
    """Rows in and results out around the slabs' computations (see the module)."""

    def receive(self, rows: np.ndarray):
        """The rows of the next slab, read from disk, on the compute side: the array the algorithm reads."""

    def computing(self) -> ContextManager:
        """Around the algorithm runs on the rows last received."""

    def write(self, writer: VolumeWriter | MemoryWriter, y0: int, vol, crop: Crop) -> None:
        """Hand ``crop`` of the result ``vol`` to ``writer``, at its slice ``y0``; returns before it is written."""

    def flush(self) -> None:
        """Wait until everything handed to ``write`` is written (and durable where the writer syncs)."""


class Backend(Protocol):
    """A place to compute slabs: the CPU, or a GPU."""

    name: str  # as --backend names it
    slab_cap: int  # slices per slab when slices are independent (each backend says why its figure)
    xp: object  # the array module its projectors compute with

    def budget(self, memory: int | None, local_size: int) -> Budget:
        """This rank's bytes for slabs: ``memory`` (--memory) or the default, among ``local_size`` ranks of a
        node."""

    def plan(self, work: Workload, budget: Budget) -> SlabPlan:
        """A new plan of ``work`` for ``budget``; InputError if not even one slice fits."""

    def fit(self, work: Workload, slabs: tuple[Slab, ...], budget: Budget) -> SlabPlan:
        """The plan of given ``slabs`` (a checkpoint's) under ``budget``; plan.PlanTooLarge if they do not fit."""

    def projector(self, geom: Geometry, slab: Slab):
        """The slab projector (projectors.base.SlabProjector) of ``slab`` computed in ``geom``."""

    def start_volume(self, op, fill: Callable[[np.ndarray], None]):
        """A zero volume of projector ``op``, into which ``fill`` (given it as a NumPy array) has written."""

    def running(self, plan: SlabPlan) -> ContextManager:
        """Around the run of ``plan``'s slabs (CUDA: managed memory where the plan needs it, and running out of
        memory said in words)."""

    def pipeline(self, traffic: Traffic) -> ContextManager[Pipeline]:
        """The pipeline of a run's slabs; on leaving, everything handed over is written (or, after a failure,
        abandoned)."""
