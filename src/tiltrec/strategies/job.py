"""One reconstruction, complete: made once (reconstruction.py), then run by strategies.driver on its backend."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..algorithms import Algorithm
from ..formats import MemoryWriter, VolumeWriter
from ..formats.volume import VolumeReader
from ..geometry import Geometry
from ..inputs import ProjectionSource
from ..mpi import World
from ..options.model import Settings
from .backends.base import Backend
from .checkpoint import Checkpoint
from .plan import Slab, SlabPlan


@dataclass(frozen=True)
class Target:
    """One volume the job writes: reconstructed from ``views`` (indices into the source's views)."""

    views: tuple[int, ...]
    writer: VolumeWriter | MemoryWriter


@dataclass(frozen=True)
class Job:
    """Everything one reconstruction needs.  ``targets`` are the volumes to write: the full reconstruction, and
    with ``--split odd-even`` also the halves; every slab's rows are read once for all of them.  ``plan`` holds
    every rank's slabs; this rank computes ``rank_slabs``."""

    source: ProjectionSource
    geometry: Geometry
    algorithm: Algorithm
    settings: Settings
    backend: Backend
    plan: SlabPlan
    targets: tuple[Target, ...]
    world: World
    checkpoint: Checkpoint | None = None  # --checkpoint
    init: VolumeReader | None = None  # the starting volume (--init)
    unified: bool = False
    quiet: bool = False
    log: Path | None = None  # ADMM's per-iteration table (--log)

    @property
    def rank_slabs(self) -> range:
        """This rank's slabs: indices into ``plan.slabs``."""
        return self.world.share(len(self.plan.slabs))

    def slab(self, index: int) -> Slab:
        """Slab ``index`` of the plan."""
        return self.plan.slabs[index]

    def computed(self, geom: Geometry) -> Geometry:
        """The geometry the algorithm works in for output ``geom``."""
        return working_geometry(geom, self.algorithm, self.settings.xpad)


def working_geometry(geom: Geometry, algorithm: Algorithm, xpad: bool) -> Geometry:
    """``geom``, wider for an algorithm that pads X (unless ``xpad`` is off) so that the X borders carry no edge
    artifacts."""
    if algorithm.pads_x and xpad:
        return geom.with_width(geom.min_padding_width())
    return geom
