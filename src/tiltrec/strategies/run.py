"""Run a reconstruction slab by slab: read the rows a slab needs, reconstruct it, write it, move on.

The slice-based strategy sizes slabs from the memory budget; the unified strategy makes the whole volume one slab.
Neither changes how an algorithm computes, only which data it sees.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ..algorithms import ALGORITHMS
from ..algorithms.settings import Settings
from ..errors import InputError
from ..geometry import Geometry
from ..inputs import ProjectionSource
from ..mpi import World
from ..progress import Progress
from .plan import Slab, format_bytes, plan_slabs, slab_height

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
    halo = g.pitch_halo() if alg.iterative else 0
    per_slice = alg.footprint.per_slice(geom.thickness, geom.width, geom.nviews, geom.nx)
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


def run(job: Job) -> dict:
    """Reconstruct the job's volumes into their writers; returns timing figures."""
    from ..projectors.cpu import CpuProjector

    alg = ALGORITHMS[job.algorithm]
    subsets = [(t, compute_geometry(job, job.geometry.with_views(t.views))) for t in job.targets]
    everyone = plan(job, subsets[0][1])
    slabs = [everyone[i] for i in job.world.share(len(everyone))]
    progress = Progress(len(slabs) * len(subsets) * alg.steps(job.settings), label=job.algorithm.upper(),
                        quiet=job.quiet or job.world.rank > 0)
    first, width = job.geometry.slices[0], job.geometry.width
    start = time.perf_counter()
    for slab in slabs:
        r0, r1 = job.geometry.rows_needed(slab.c0, slab.c1)
        rows = job.source.rows(r0, r1)
        for target, geom in subsets:
            op = CpuProjector(geom, slab.c0, slab.c1)
            x_off = geom.width // 2 - width // 2
            x0 = _initial_slab(job, op, slab, x_off) if job.init is not None else None
            every_row = len(target.views) == rows.shape[0] and (op.r0, op.r1) == (r0, r1)
            part = rows if every_row else rows[target.views, op.r0 - r0:op.r1 - r0]  # the halves: a copy
            vol = alg.run(op, part, job.settings, x0=x0, callback=progress.advance)
            target.writer.write_slab(slab.y0 - first, vol[:, x_off:x_off + width, slab.y0 - slab.c0:slab.y1 - slab.c0])
    progress.finish()
    seconds = time.perf_counter() - start
    g = job.geometry
    voxels = g.width * g.thickness * sum(s.y1 - s.y0 for s in slabs)
    updates = voxels * sum(len(t.views) for t in job.targets) * alg.passes(job.settings)
    return {"seconds": seconds, "updates": updates, "slabs": len(slabs)}


def _initial_slab(job: Job, op, slab: Slab, x_off: int):
    """The starting volume of a slab: the --init volume's slices, zero in the X padding and outside its range."""
    x0 = op.zeros_volume()
    first, stop = job.geometry.slices
    a, b = max(slab.c0, first), min(slab.c1, stop)
    x0[:, x_off:x_off + job.geometry.width, a - slab.c0:b - slab.c0] = job.init.read_slab(a - first, b - first)
    return x0
