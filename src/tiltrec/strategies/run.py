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
class Job:
    """Everything one reconstruction needs."""

    source: ProjectionSource
    geometry: Geometry
    algorithm: str
    settings: Settings
    writer: object  # formats.VolumeWriter
    memory: int  # bytes
    unified: bool = False
    pad_x: bool = True  # iterative algorithms reconstruct a wider volume so X borders carry no edge artifacts
    init: object | None = None  # formats.VolumeReader of a starting volume
    projector: type | None = None
    quiet: bool = False
    world: World = field(default_factory=World)


def compute_geometry(job: Job) -> Geometry:
    """The geometry the algorithm works in: wider than the output for iterative algorithms when pad_x."""
    if ALGORITHMS[job.algorithm].iterative and job.pad_x:
        return job.geometry.with_width(job.geometry.min_padding_width())
    return job.geometry


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
    """Reconstruct the job's volume into its writer; returns timing figures."""
    from ..projectors.cpu import CpuProjector

    projector = job.projector or CpuProjector
    alg = ALGORITHMS[job.algorithm]
    geom = compute_geometry(job)
    x_off = geom.width // 2 - job.geometry.width // 2
    everyone = plan(job, geom)
    slabs = [everyone[i] for i in job.world.share(len(everyone))]
    steps = alg.steps(job.settings)
    progress = Progress(len(slabs) * steps, label=job.algorithm.upper(), quiet=job.quiet or job.world.rank > 0)
    first = job.geometry.slices[0]
    start = time.perf_counter()
    for slab in slabs:
        op = projector(geom, slab.c0, slab.c1)
        rows = job.source.rows(op.r0, op.r1)
        x0 = _initial_slab(job, op, slab, x_off) if job.init is not None else None
        vol = alg.run(op, rows, job.settings, x0=x0, callback=progress.advance)
        keep = vol[:, x_off:x_off + job.geometry.width, slab.y0 - slab.c0:slab.y1 - slab.c0]
        job.writer.write_slab(slab.y0 - first, keep)
    progress.finish()
    seconds = time.perf_counter() - start
    g = job.geometry
    updates = g.width * g.thickness * sum(s.y1 - s.y0 for s in slabs) * g.nviews * alg.passes(job.settings)
    return {"seconds": seconds, "updates": updates, "slabs": len(slabs)}


def _initial_slab(job: Job, op, slab: Slab, x_off: int):
    """The starting volume of a slab: the --init volume's slices, zero in the X padding and outside its range."""
    x0 = op.zeros_volume()
    first, stop = job.geometry.slices
    a, b = max(slab.c0, first), min(slab.c1, stop)
    x0[:, x_off:x_off + job.geometry.width, a - slab.c0:b - slab.c0] = job.init.read_slab(a - first, b - first)
    return x0
