"""The line a finished run prints: what it wrote, how fast, with how much memory; and the notes that go with it
(ranks or threads sharing cores, a --scale that would fit an integer mode)."""

from __future__ import annotations

import os
import resource
import sys

from .mpi import World
from .options.model import Options
from .output_range import scale_suggestions
from .strategies.job import Job
from .strategies.plan import format_bytes


def _rate(gups: float) -> str:
    """Voxel-view updates per second, in units that keep small runs from reading "0.00"."""
    return f"{gups:.2f} GUPS" if gups >= 0.1 else f"{gups * 1e3:.3g} MUPS"


def print_summary(opt: Options, job: Job, ranks: list[dict], world: World, output, program: str) -> None:
    """Print the summary of a finished run to stderr (rank 0)."""
    seconds = max(f["seconds"] for f in ranks)
    gups = sum(f["updates"] for f in ranks) / seconds / 1e9
    g = job.geometry
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    on = f" on {world.size} ranks" if world.size > 1 else ""
    names = ", ".join(str(t.writer.path) for t in job.targets) if output is not None else "memory"
    print(f"{program}: wrote {names} ({g.width} x {g.nslices} x {g.thickness} voxels, layout {opt.output.layout}, "
          f"mode {opt.output.mode}) with {opt.algorithm.alg.upper()} in {seconds:.2f} s{on}: {_rate(gups)}, "
          f"{sum(f['slabs'] for f in ranks)} slab(s), peak memory {format_bytes(peak)} (rank 0)", file=sys.stderr)
    if job.backend.name == "cpu":
        # MPICH's mpiexec starts any number of ranks without a word: say when they (or the threads) take turns
        # on the cores, which makes the time above no measure of the machine.  The launcher's process (the
        # parent) holds the cores the job may use on this node; a rank may be bound to fewer of them.
        threads = opt.resources.threads or world.default_threads()
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
            print(f"{program}: {who} share cores ({note}): {fix} would give each thread a core", file=sys.stderr)
    if job.algorithm.suggests_scale:
        for line in scale_suggestions(job.targets[0].writer.stats, opt.algorithm.scale_pair()):
            print(f"{program}: {line}", file=sys.stderr)
