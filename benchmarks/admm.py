"""ADMM's cost per outer iteration, against the projector passes it is made of.

One outer iteration is ``--cg-iter`` CG steps (each one forward and one back-projection, the TV Laplacian and a few
vector operations) and the z/u-update with its residuals.  Run in-process on a random series, on the volume of the
standard 512 size (512^2 x 61 views -> 512 x 512 slices x 128) and on the wider one the command line reconstructs
with its default X padding.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np

from benchmarks.ceiling import best_of


def _peak_rss_reset() -> bool:
    """Reset the process's peak-RSS mark (Linux); False where that is not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _peak_rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


class _Times:
    """An ADMM log that keeps each outer iteration's seconds."""

    def __init__(self):
        self.seconds = []

    def weights(self, lam, rho, sigma):
        pass

    def __call__(self, record):
        self.seconds.append(record["seconds"])


def bench_admm(n: int, thickness: int, nviews: int, iterations: int, repeats: int, table, log) -> str:
    """The report's ADMM section (markdown)."""
    from tiltrec.algorithms import ALGORITHMS
    from tiltrec.options.model import Settings
    from tiltrec.options.table import BY_NAME
    from tiltrec.geometry import Geometry
    from tiltrec.projectors.cpu import CpuProjector
    from tiltrec.strategies.plan import format_bytes

    angles = np.linspace(-60.0, 60.0, nviews)
    geom = Geometry(nx=n, ny=n, angles=angles, thickness=thickness, width=n)
    rng = np.random.default_rng(2)
    rows_in = rng.standard_normal((nviews, n, n), dtype=np.float32)
    rows = []
    for label, work in (("output width (no X padding)", geom),
                        ("X padding of the command line", geom.with_width(geom.min_padding_width()))):
        op = CpuProjector(work, 0, n)
        x, proj = op.zeros_volume(), op.zeros_projections()
        x[...] = rng.random(x.shape, dtype=np.float32)
        f = min(best_of(lambda: op.forward(x, out=proj), repeats))
        b = min(best_of(lambda: op.back(proj, out=x), repeats))
        log(f"[admm] {label}: width {work.width}, F {f:.3f} s, B {b:.3f} s; {iterations} outer iterations ...")
        times = _Times()
        measured = _peak_rss_reset()
        start = time.perf_counter()
        ALGORITHMS["admm"].run(op, rows_in, Settings(iter=iterations), log=times)
        total = time.perf_counter() - start
        steady = times.seconds[1:]  # the first iteration also touches the freshly allocated arrays
        per = statistics.median(steady)
        cg_steps = BY_NAME["cg_iter"].default
        passes = cg_steps * (f + b)
        log(f"[admm] per outer iteration: {', '.join(f'{s:.2f}' for s in times.seconds)} s")
        rows.append([f"{n} x {n} x {nviews} -> {work.width} x {n} x {thickness} ({label})", f"{per:.2f}",
                     ", ".join(f"{s:.2f}" for s in times.seconds), f"{total - sum(times.seconds):.2f}",
                     f"{f:.3f} + {b:.3f}", f"{per / passes:.2f}",
                     format_bytes(_peak_rss()) if measured else "-"])
    text = (f"In-process: `ALGORITHMS['admm'].run(CpuProjector(geom, 0, {n}), rows, Settings(iter="
            f"{iterations}))` on random views (defaults: TV, {cg_steps} CG steps per outer iteration); "
            "each outer iteration's wall time is the `seconds` field of ADMM's own log (`--log`), and the "
            "figure is the median of all but the first (which also touches the freshly allocated arrays). Set-up = "
            "the rest of the run: noise estimate, allocations, the first back-projection. F + B = best forward and "
            f"back-projection of the same volume (best of {repeats}); ratio = per outer iteration / "
            f"({cg_steps} x (F + B)): 1 would mean everything but the projector is free. Peak RSS: the "
            "benchmark process's high-water mark during the run (all of ADMM's arrays).")
    return ("## ADMM outer iteration\n\n" + text + "\n\n"
            + table(["Config", "Per outer iteration [s]", "Each iteration [s]", "Set-up [s]", "F + B [s]",
                     "Ratio", "Peak RSS"], rows))
