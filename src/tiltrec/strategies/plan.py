"""Slab plans: which output slices are computed and written together, sized by a memory budget.

A plan is every rank's slabs, in order; each rank computes its share of them (``World.share``).  A job has one
plan, made once (or read from the checkpoint it continues), which every backend runs as it is.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..algorithms.footprint import Footprint
from ..errors import InputError
from ..geometry import Geometry
from ..options.spelling import spelled


@dataclass(frozen=True)
class Slab:
    """Output slices ``[y0, y1)`` (input rows) written together, computed over ``[c0, c1)`` (with any halo)."""

    y0: int
    y1: int
    c0: int
    c1: int


@dataclass(frozen=True)
class Budget:
    """Bytes one rank may use: ``memory`` for the slabs' working set (RAM, or a GPU's memory), ``host`` for the
    host buffers beside a GPU's (on the CPU the same RAM)."""

    memory: int
    host: int

    @staticmethod
    def smallest(budgets: list["Budget"]) -> "Budget":
        """The budget every rank can afford, so that all plan the same slabs."""
        return Budget(min(b.memory for b in budgets), min(b.host for b in budgets))


@dataclass(frozen=True)
class Workload:
    """What a slab plan depends on besides the budget."""

    geometry: Geometry  # the output's: its slices and the views' rows
    computed: Geometry  # what the algorithm works in (wider with X padding)
    footprint: Footprint  # the algorithm's working arrays per computed slice
    halo: int  # extra slices computed on each side of a slab (reprojecting algorithms with an X-axis tilt)
    unified: bool  # each rank's share is one slab
    ranks: int
    outputs: int  # volumes written from every slab (the odd and even halves too)
    stored_bytes: int  # per voxel, as the outputs store it

    @property
    def share(self) -> int:
        """Slices per rank (the last rank's may be fewer)."""
        return -(-self.geometry.nslices // self.ranks)

    def slabs(self, height: int) -> tuple[Slab, ...]:
        """The job's slices in slabs of ``height``."""
        first, stop = self.geometry.slices
        return plan_slabs(first, stop, height, self.halo, self.geometry.ny)

    def height(self, budget: int, per_slice: int, cap: int) -> int:
        """The slab height for ``budget`` bytes at ``per_slice`` bytes per computed slice: at most ``cap`` slices
        and one rank's share, so that every rank gets work; but slabs with a halo are as tall as the budget
        allows, whatever the number of ranks (their seams are approximations: the result must not change with
        the ranks)."""
        return slab_height(budget, per_slice, self.halo, self.geometry.nslices,
                           None if self.halo else min(cap, self.share))

    def check(self, slabs) -> None:
        """A ValueError unless ``slabs`` are a plan of this job: its slices in order, in slabs of one height (the
        last may be lower; in the unified strategy one rank's share), each with this job's halo."""
        height = slabs[0].y1 - slabs[0].y0 if slabs else 0
        first, stop = self.geometry.slices
        if height < 1 or (self.unified and height != self.share) or tuple(slabs) != self.slabs(height):
            raise ValueError(f"its slabs are not a plan of slices {first}-{stop - 1} with a halo of {self.halo}")


@dataclass(frozen=True)
class SlabPlan:
    """The slabs of a whole job, every rank's, and whether the unified strategy needs CUDA managed memory
    (paged between host and GPU) to hold them; ``budget``: the bytes planned for (for messages)."""

    slabs: tuple[Slab, ...]
    managed: bool = False
    budget: int = 0

    def tallest(self) -> int:
        """The most slices a slab writes."""
        return max((s.y1 - s.y0 for s in self.slabs), default=1)


class PlanTooLarge(InputError):
    """A plan's slabs (a checkpoint's) need more memory than this run has: ``need`` and ``allowed`` bytes of
    ``what``, and what would make them fit."""

    def __init__(self, need: int, allowed: int, what: str, remedy: str):
        super().__init__(f"need about {format_bytes(need)} per rank, more than {what} allows now "
                         f"({format_bytes(allowed)}): resume with {remedy}")
        self.need, self.allowed = need, allowed


def plan_slabs(first: int, stop: int, height: int, halo: int, ny: int) -> tuple[Slab, ...]:
    """Split slices ``[first, stop)`` into slabs of ``height``, each computed with ``halo`` extra slices per side."""
    slabs = []
    for y0 in range(first, stop, height):
        y1 = min(stop, y0 + height)
        slabs.append(Slab(y0, y1, max(0, y0 - halo), min(ny, y1 + halo)))
    return tuple(slabs)


def slab_height(budget: int, per_slice: int, halo: int, nslices: int, preferred: int | None) -> int:
    """The tallest slab (at most ``preferred`` slices) whose working set, halo included, fits ``budget`` bytes."""
    fit = budget // per_slice - 2 * halo
    if fit < 1:
        need = per_slice * (1 + 2 * halo)
        raise InputError(f"{spelled('memory')} {format_bytes(budget)} is too small: one slab needs "
                         f"{format_bytes(need)}")
    return max(1, min(nslices, fit, preferred or nslices))


def format_bytes(n: float) -> str:
    """Bytes in KiB, MiB, GiB or TiB, one decimal; below 1 KiB as a whole number of bytes."""
    if n < 1024:
        return f"{int(n)} byte" if int(n) == 1 else f"{int(n)} bytes"
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        n /= 1024
        if n < 1024:
            break
    return f"{n:.1f} {unit}"


def available_memory() -> int:
    """Bytes of RAM available now (MemAvailable, capped by a cgroup limit when there is one)."""
    avail = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
    except OSError:
        pass
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path) as f:
                limit = f.read().strip()
            if limit.isdigit():
                avail = min(avail or int(limit), int(limit))
        except OSError:
            continue
    return avail or (4 << 30)
