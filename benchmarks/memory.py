"""Bounded memory: tomograms four times larger than ``--memory``, peak RSS against the budget (within 10 %).

Each job is a fresh ``tiltrec-mpi`` process on a random series; its peak RSS is the kernel's ru_maxrss of that
process (benchmarks/spawn.py), which also counts the pages of the input's memory map it touched and the
interpreter with its libraries (about 150 MiB before any data; measured by the smallest job below).
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.procs import program, run_measured, shell_line

MIB = 1 << 20
FULL = [("wbp", 1024, 1024, [], 1024), ("sirt", 1024, 1024, ["--iter", "2"], 1024),
        ("sart", 1024, 1024, ["--iter", "1"], 1024)]
QUICK = [("wbp", 512, 512, [], 128), ("sirt", 512, 256, ["--iter", "2"], 64),
         ("sart", 512, 256, ["--iter", "1"], 64)]


def bench_memory(quick: bool, tmp: Path, write_series, nviews: int, table, log) -> str:
    """Run each (algorithm, size, thickness, options, budget in MiB) job; a markdown section."""
    exe = program("tiltrec-mpi")
    stack, tlt = write_series(tmp, 64, 8)
    tiny = run_measured([exe, "--alg", "sirt", "--iter", "1", "--thickness", "16", "--quiet", "--overwrite", str(stack),
                         str(tlt), str(tmp / "memory_tiny.rec")])
    rows = [["the process itself: SIRT(1) of 64 x 64 x 8 views -> 64 x 64 x 16", "16 KiB", "-", "-",
             f"{tiny.peak_rss / MIB:.0f} MiB", "-", "-", f"{tiny.wall:.1f}"]]
    for alg, n, thick, options, budget in (QUICK if quick else FULL):
        stack, tlt = write_series(tmp, n, nviews)
        out = tmp / f"memory_{alg}_{n}.rec"
        argv = [exe, "--alg", alg, *options, "--thickness", str(thick), "--memory", f"{budget}M", "--quiet",
                "--overwrite", str(stack), str(tlt), str(out)]
        log(f"[memory] {alg} {n} x {n} x {thick} with --memory {budget}M ...")
        r = run_measured(argv)
        out.unlink(missing_ok=True)
        size = 4 * n * n * thick
        ratio = r.peak_rss / (budget * MIB)
        rows.append([f"`{shell_line(argv)}`", f"{size / MIB:.0f} MiB", f"{budget} MiB",
                     f"{size / (budget * MIB):.0f}x", f"{r.peak_rss / MIB:.0f} MiB", f"{100 * ratio:.0f} %", "yes" if ratio <= 1.1 else "**no**",
                     f"{r.wall:.1f}"])
        log(f"[memory] {alg}: peak RSS {r.peak_rss / MIB:.0f} MiB = {100 * ratio:.0f} % of the budget")
    return ("## 8. Bounded memory\n\n"
            f"Fresh `tiltrec-mpi` processes on random {nviews}-view series, output at least four times `--memory`; "
            "peak RSS = the process's ru_maxrss (input pages it mapped included). Within budget: peak RSS <= 110 % of "
            "`--memory`. `--memory` bounds the working arrays that the planner sizes slabs by; the process's own "
            "footprint (first row: Python, NumPy, SciPy, Numba and its compiled kernels) comes on top, so budgets "
            "below a few times that footprint cannot be met.\n\n"
            + table(["Command", "Output", "--memory", "Output / budget", "Peak RSS", "Of the budget",
                     "Within budget", "Wall [s]"], rows))
