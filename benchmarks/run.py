"""tiltrec benchmarks: projector kernels, end-to-end WBP through the CLI, SIRT iteration cost, start-up.

Run from the repository root with ``bin/bench [--quick] [--only SECTION[,SECTION]] [--markdown FILE]``
(or ``python -m benchmarks.run ...`` inside the venv).  Prints markdown tables; every row names the configuration
or command that produced it.  GUPS = 1e9 voxel-view updates per second; back-projecting an Nx x Ny x Nz volume
from Nv views (or forward-projecting it into them) is Nx*Ny*Nz*Nv updates.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as a script: python benchmarks/run.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import machine  # noqa: E402
from benchmarks.ceiling import best_of  # noqa: E402
from benchmarks.procs import run_measured, program, shell_line  # noqa: E402
from tiltrec.strategies.plan import format_bytes  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SECTIONS = ("ceiling", "kernels", "wbp", "sirt", "admm", "mpi", "startup", "gpu", "standard", "memory", "peers")
NVIEWS = 61
MAX_TILT = 60.0


@dataclass(frozen=True)
class Plan:
    """Sizes and repeats of one benchmark run."""

    kernel_width: int
    kernel_thickness: int
    kernel_slabs: tuple[int, ...]
    pitches: tuple[float, ...]
    repeats: int
    wbp_cases: tuple[tuple[int, int], ...]  # (view size n: n x n views, output thickness)
    wbp_repeats: int
    sirt_size: int
    sirt_thickness: int
    sirt_slab: int
    sirt_iterations: int
    tiny: tuple[int, int, int] = (64, 8, 32)  # view size, views, output thickness


FULL = Plan(kernel_width=1024, kernel_thickness=256, kernel_slabs=(32, 64, 128), pitches=(0.0, 5.0), repeats=3,
            wbp_cases=((1024, 256), (512, 128)), wbp_repeats=3, sirt_size=512, sirt_thickness=128, sirt_slab=512,
            sirt_iterations=10)
QUICK = Plan(kernel_width=512, kernel_thickness=128, kernel_slabs=(32, 64), pitches=(0.0, 5.0), repeats=1,
             wbp_cases=((512, 128),), wbp_repeats=1, sirt_size=512, sirt_thickness=128, sirt_slab=64,
             sirt_iterations=3)


def angles(n: int = NVIEWS, span: float = MAX_TILT) -> np.ndarray:
    return np.linspace(-span, span, n)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def table(headers: list[str], rows: list[list]) -> str:
    def cell(v) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


@dataclass
class Report:
    parts: list[str] = field(default_factory=list)

    def add(self, text: str) -> None:
        self.parts.append(text)
        print(text + "\n", flush=True)

    def text(self) -> str:
        return "\n\n".join(self.parts) + "\n"


# ------------------------------------------------------------------------------------------------- 1. kernels


def bench_ceiling(threads: int, report: Report) -> dict:
    from benchmarks.ceiling import __doc__ as doc, back_loop, measure

    c = measure(threads)
    log(f"[ceiling] {c}")
    report.add("## 0. Machine ceiling\n\n" + doc.split("\n\n", 1)[1].strip() + f"\n\n{threads} thread(s), best of 3 "
               "(`benchmarks/ceiling.py`).\n\n"
               + table(["FMA peak [GFLOP/s]", "Interpolation loop in L1 [GUPS]", "Triad bandwidth [GB/s]"],
                       [[f"{c['fma_gflops']:.0f}", f"{c['lerp_gups']:.1f}", f"{c['triad_gbs']:.1f}"]]))
    try:
        loops = back_loop(threads)
    except RuntimeError as error:
        report.add(f"The back-projection's inner loop alone: not measured ({error}).")
        return c
    log(f"[ceiling] back_loop {loops}")
    peak = loops["fma_gflops"]
    report.add("The back-projection's inner loop alone (`benchmarks/back_loop.c`, built with -march=native): a chunk "
               "of Y values in vector registers while 8 views add their samples, two loads and two FMAs per vector "
               "and view, every load from L1, no sample tables and no volume traffic: a kernel doing this "
               f"work per update runs no faster. {threads} thread(s), best of 3; FMA peak of the same program "
               f"(8-float vectors): {peak:.0f} GFLOP/s.\n\n"
               + table(["Chunk (Y values)", "Vector (floats)", "GUPS", "% of that FMA peak (2 FMAs per update)"],
                       [[values, lanes, f"{gups:.2f}", f"{100 * 4 * gups / peak:.0f} %"]
                        for lanes, values, gups in loops["loops"]]))
    return c


def bench_kernels(plan: Plan, threads: int, report: Report, ceiling: dict | None = None) -> None:
    from benchmarks.numba_flat import NumbaFlatProjector
    from tiltrec.geometry import Geometry
    from tiltrec.projectors.cpu import CpuProjector

    rng = np.random.default_rng(0)
    w, t = plan.kernel_width, plan.kernel_thickness
    rows = []
    padded = Geometry(nx=w, ny=w, angles=angles(), thickness=t, width=w).min_padding_width()
    # the views' width, each pitch and slab; then the X-padded width of the iterative methods (a voxel near its
    # edges lies outside some views), flat, one slab
    cases = [(pitch, ns, w) for pitch in plan.pitches for ns in plan.kernel_slabs]
    cases.append((0.0, plan.kernel_slabs[min(1, len(plan.kernel_slabs) - 1)], padded))
    for pitch, ns, width in cases:
        geom = Geometry(nx=w, ny=w, angles=angles(), thickness=t, width=width, pitch=pitch)
        y0 = w // 2 - ns // 2
        ops = {"compiled": CpuProjector(geom, y0, y0 + ns), "Numba": NumbaFlatProjector(geom, y0, y0 + ns)}
        op = ops["compiled"]
        vol_in = op.zeros_volume()
        vol_in[...] = rng.random(vol_in.shape, dtype=np.float32)
        proj_in = op.zeros_projections()
        proj_in[...] = rng.random(proj_in.shape, dtype=np.float32)
        vol_out, proj_out = op.zeros_volume(), op.zeros_projections()
        updates = width * t * ns * NVIEWS
        for name in ("back-projection", "forward projection"):
            calls = {kind: (lambda p=p: p.back(proj_in, out=vol_out)) if name == "back-projection"
                     else (lambda p=p: p.forward(vol_in, out=proj_out)) for kind, p in ops.items()}
            times = alternating(calls, plan.repeats)
            gups = {kind: updates / min(ts) / 1e9 for kind, ts in times.items()}
            log(f"[kernels] {name:18s} pitch {pitch:g} slab {ns}: "
                + ", ".join(f"{kind} {g:.2f} GUPS" for kind, g in gups.items()))
            share = f"{100 * gups['compiled'] / ceiling['lerp_gups']:.0f} %" if ceiling else "-"
            peak = f"{100 * 4 * gups['compiled'] / ceiling['fma_gflops']:.0f} %" if ceiling else "-"
            rows.append([name, f"{width} x {t} x {ns}", NVIEWS, f"{pitch:g} deg", f"{op.r1 - op.r0}",
                         f"{min(times['compiled']):.3f}", f"{gups['compiled']:.2f}", f"{gups['Numba']:.2f}",
                         f"{gups['compiled'] / gups['Numba']:.2f}", share, peak])
    report.add("## 1. Projector kernel throughput\n\n"
               f"`CpuProjector(geom, y0, y0 + slab).back(proj, out=vol)` / `.forward(vol, out=proj)` on random data, "
               f"views {w} x {w}, {NVIEWS} views at -{MAX_TILT:g}..{MAX_TILT:g} deg, slab centred on the tilt axis; "
               f"the compiled flat kernels (projectors/flat.c) and the Numba ones they replaced "
               f"(benchmarks/numba_flat.py) called in turn, best of {plan.repeats} each after 1 warm-up call; "
               f"{threads} thread(s); the last rows: the X-padded width {padded} that the iterative methods "
               f"reconstruct (tiltrec.geometry's min_padding_width: voxels near its edges lie outside some views). "
               f"GUPS = width x thickness x slab x views / best seconds. Proj rows: projection "
               f"rows the slab reads (with pitch, a halo). The last two columns put the compiled kernel against the "
               f"interpolation loop in L1 and against the FMA peak at 4 flops per update (section 0).\n\n"
               + table(["Operation", "Volume W x T x slab", "Views", "Pitch", "Proj rows", "Best [s]",
                        "GUPS compiled", "GUPS Numba", "Ratio", "% of the L1 interpolation loop",
                        "% of FMA peak"], rows))


def alternating(calls: dict, repeats: int) -> dict[str, list[float]]:
    """Seconds of each call over ``repeats`` rounds that call each once in turn, after one warm-up round."""
    for fn in calls.values():
        fn()
    times = {kind: [] for kind in calls}
    for _ in range(repeats):
        for kind, fn in calls.items():
            start = time.perf_counter()
            fn()
            times[kind].append(time.perf_counter() - start)
    return times


# ------------------------------------------------------------------------------------------------- 2. WBP


def write_series(folder: Path, n: int, nviews: int, seed: int = 0) -> tuple[Path, Path]:
    """A random n x n x nviews tilt series (MRC) and its angle file."""
    from tiltrec.formats import write_stack

    stack, tlt = folder / f"series_{n}x{n}x{nviews}.mrc", folder / f"series_{n}x{n}x{nviews}.tlt"
    if not stack.exists():
        rng = np.random.default_rng(seed)
        views = rng.standard_normal((nviews, n, n), dtype=np.float32)
        a = angles(nviews)
        write_stack(stack, views, angles=a, overwrite=True)
        tlt.write_text("".join(f"{x:.2f}\n" for x in a))
    return stack, tlt


def thread_args(threads_opt: int | None) -> list[str]:
    """``--threads N`` only when the user chose N: otherwise the CLI runs with its default (all cores)."""
    return [] if threads_opt is None else ["--threads", str(threads_opt)]


def bench_wbp(plan: Plan, threads: int, threads_opt: int | None, tmp: Path, report: Report, profile: bool) -> None:
    exe = program("tiltrec-mpi")
    rows = []
    for n, thick in plan.wbp_cases:
        log(f"[wbp] writing a random {n} x {n} x {NVIEWS} series ...")
        stack, tlt = write_series(tmp, n, NVIEWS)
        out = tmp / f"wbp_{n}.rec"
        argv = [exe, "--alg", "wbp", "--thickness", str(thick), *thread_args(threads_opt), "--quiet",
                "--overwrite", str(stack), str(tlt), str(out)]
        results = []
        for i in range(plan.wbp_repeats):
            r = run_measured(argv)
            results.append(r)
            out.unlink(missing_ok=True)
            log(f"[wbp] {n}: run {i + 1}: {r.wall:.2f} s, peak RSS {format_bytes(r.peak_rss)}")
        best = min(results, key=lambda r: r.wall)
        updates = n * n * thick * NVIEWS
        rows.append([f"`{shell_line(argv)}`", f"{n} x {n} x {NVIEWS}", f"{n} x {n} x {thick}",
                     f"{best.wall:.2f}", ", ".join(f"{r.wall:.2f}" for r in results),
                     f"{updates / best.wall / 1e9:.2f}", format_bytes(max(r.peak_rss for r in results)),
                     f"{best.cpu_load:.2f}", f"{format_bytes(4 * n * n * thick)}"])
    text = ("## 2. End-to-end WBP through the CLI\n\n"
            f"Each run is a fresh `tiltrec-mpi` process (start-up, imports, reading, filtering, back-projection, "
            f"writing and exit included); input: random float32 MRC series in a temporary folder on "
            f"{machine.filesystem_of(tmp)}; the output is written with positioned writes and not fsynced. "
            f"Threads: {'the CLI default, all ' + str(threads) if threads_opt is None else threads_opt}. "
            f"Best of {plan.wbp_repeats} run(s). GUPS = output voxels x views / wall seconds. Peak RSS is the "
            f"child's own ru_maxrss (from wait4), which counts the pages of the input memory map it "
            f"touched. CPU load = (user + sys CPU seconds) / wall.\n\n"
            + table(["Command", "Series", "Output", "Wall best [s]", "All runs [s]", "GUPS (wall)", "Peak RSS",
                     "CPU load", "Output size"], rows))
    if profile:
        n, thick = plan.wbp_cases[0]
        text += "\n\n" + profile_wbp(exe, tmp, n, thick, threads_opt)
    report.add(text)


def _compute_seconds(output: str) -> float:
    """The reconstruction time the command's summary line reports ("...: wrote out.rec (...) with WBP in 1.23 s:
    ..."), not a progress line's ("WBP: 25% in 0.3 s")."""
    match = re.search(r": wrote .* with \S+ in ([0-9.]+) s", output)
    if not match:
        raise RuntimeError(f"no summary line in: {output[-300:]}")
    return float(match.group(1))


def bench_mpi(plan: Plan, tmp: Path, report: Report) -> None:
    """1 rank vs 2 ranks, one thread each: wall time and the reconstruction time of the summary line."""
    import shutil

    exe, mpiexec = program("tiltrec-mpi"), shutil.which("mpiexec", path=str(Path(sys.executable).parent))
    if mpiexec is None:
        raise RuntimeError("no mpiexec beside the Python of this environment")
    rows = []
    for alg, (n, thick), extra in (("wbp", plan.wbp_cases[0], []),
                                   ("sirt", (plan.sirt_size, plan.sirt_thickness),
                                    ["--iter", str(plan.sirt_iterations)])):
        stack, tlt = write_series(tmp, n, NVIEWS)
        out = tmp / f"mpi_{alg}.rec"
        base = [exe, "--alg", alg, *extra, "--thickness", str(thick), "--threads", "1", "--overwrite",
                str(stack), str(tlt), str(out)]
        timed = {}
        for ranks in (1, 2):
            argv = base if ranks == 1 else [mpiexec, "-n", str(ranks), *base]
            r = min((run_measured(argv) for _ in range(max(1, plan.wbp_repeats - 1))), key=lambda r: r.wall)
            timed[ranks] = (r.wall, _compute_seconds(r.output))
            log(f"[mpi] {alg} {n}: {ranks} rank(s): wall {r.wall:.2f} s, reconstruction {timed[ranks][1]:.2f} s")
        (w1, c1), (w2, c2) = timed[1], timed[2]
        rows.append([f"`{shell_line(base)}`", f"{n} x {n} x {NVIEWS} -> {thick} thick", f"{w1:.2f} / {c1:.2f}",
                     f"{w2:.2f} / {c2:.2f}", f"{w1 / w2:.2f} / {c1 / c2:.2f}", f"{50 * w1 / w2:.0f} / {50 * c1 / c2:.0f} %"])
    report.add("## 5. MPI scaling\n\n"
               "The same command as 1 process and under `mpiexec -n 2`, one Numba thread per rank. Wall = the whole "
               "process (start-up and exit included); reconstruction = the time the command's summary reports "
               "(slowest rank, from its first slab to its last write). Best of "
               f"{max(1, plan.wbp_repeats - 1)} run(s).\n\n"
               + table(["Command", "Job", "1 rank: wall / reconstruction [s]", "2 ranks [s]", "Speed-up",
                        "Parallel efficiency"], rows))


def profile_wbp(exe: str, tmp: Path, n: int, thick: int, threads_opt: int | None) -> str:
    """One extra run of the CLI under cProfile, split into phases."""
    from benchmarks import profile_cli

    stack, tlt = write_series(tmp, n, NVIEWS)
    out, stats, marks = tmp / f"wbp_{n}_prof.rec", tmp / "wbp.prof", tmp / "wbp_marks.json"
    args = ["--alg", "wbp", "--thickness", str(thick), *thread_args(threads_opt), "--quiet", "--overwrite",
            str(stack), str(tlt), str(out)]
    argv = [sys.executable, profile_cli.__file__, str(stats), str(marks), "--", exe, *args]
    log(f"[wbp] profiling one {n} x {n} run ...")
    r = run_measured(argv)
    out.unlink(missing_ok=True)
    phases = profile_cli.phases(str(stats), str(marks), r.launched, r.wall)
    rows = [[name, f"{sec:.2f}", f"{100 * sec / r.wall:.0f} %", note] for name, sec, note in phases]
    rows.append(["**total (wall of the profiled process)**", f"{r.wall:.2f}", "100 %", ""])
    return (f"### Where the time of a {n} x {n} WBP run goes\n\n"
            f"One more run under cProfile: `python benchmarks/profile_cli.py ... -- tiltrec-mpi "
            f"{shell_line(args)}` (cumulative times of tiltrec functions; the profiler adds a little overhead, "
            f"so the total exceeds the best wall time above).\n\n"
            + table(["Phase", "Seconds", "Share", "Note"], rows))


# ------------------------------------------------------------------------------------------------- 3. SIRT


def bench_sirt(plan: Plan, threads: int, report: Report) -> None:
    from tiltrec.algorithms import ALGORITHMS
    from tiltrec.options.model import Settings
    from tiltrec.geometry import Geometry
    from tiltrec.projectors.cpu import CpuProjector

    sirt = ALGORITHMS["sirt"].run
    n, thick, slab, iters = plan.sirt_size, plan.sirt_thickness, plan.sirt_slab, plan.sirt_iterations
    geom = Geometry(nx=n, ny=n, angles=angles(), thickness=thick, width=n)
    y0 = n // 2 - slab // 2
    op = CpuProjector(geom, y0, y0 + slab)
    rng = np.random.default_rng(1)
    rows_in = rng.random((NVIEWS, op.r1 - op.r0, n), dtype=np.float32)
    repeats = max(1, plan.repeats)

    def run_sirt(k: int):
        return lambda: sirt(op, rows_in, Settings(iter=k))

    log(f"[sirt] {n} x {thick} x {slab}, {NVIEWS} views: 0 iterations ...")
    t0 = best_of(run_sirt(0), repeats)
    log(f"[sirt] {iters} iterations ...")
    tn = best_of(run_sirt(iters), 1 if plan.repeats <= 1 else 2, warmup=0)
    x = op.zeros_volume()
    x[...] = rng.random(x.shape, dtype=np.float32)
    res, upd = op.zeros_projections(), op.zeros_volume()
    log("[sirt] one forward + one back-projection ...")
    tf = best_of(lambda: op.forward(x, out=res), repeats)
    tb = best_of(lambda: op.back(res, out=upd), repeats)
    fb = min(tf) + min(tb)
    per_iter = (min(tn) - min(t0)) / iters
    updates = n * thick * slab * NVIEWS
    padded = geom.min_padding_width()
    rows = [[f"SIRT {n} x {slab} slices x {NVIEWS} views -> {n} x {slab} x {thick}, width {n} (no X padding)",
             f"{min(t0):.3f}", f"{min(tn):.2f}", iters, f"{per_iter:.3f}", f"{min(tf):.3f} + {min(tb):.3f}",
             f"{per_iter / fb:.2f}", f"{2 * updates / per_iter / 1e9:.2f}"]]
    log(f"[sirt] per iteration {per_iter:.3f} s vs F+B {fb:.3f} s: ratio {per_iter / fb:.2f}")
    report.add("## 3. SIRT iteration cost\n\n"
               f"In-process: `ALGORITHMS['sirt'].run(CpuProjector(geom, {y0}, {y0 + slab}), rows, "
               f"Settings(iter=k))` for k = 0 (set-up: weights A1 and A^T1, allocations; best of {repeats}) "
               f"and k = {iters} (best of {1 if plan.repeats <= 1 else 2}); per iteration = (t_k - t_0) / k. "
               f"F + B = best `op.forward(x, out=r)` + best `op.back(r, out=u)` (best of {repeats} each). "
               f"Ratio = per iteration / (F + B): 1 means the element-wise updates cost nothing. {threads} Numba "
               f"thread(s). Note: the CLI (`--xpad`, the default) widens this geometry to {padded} columns "
               f"(x{padded / n:.2f} work) while its own GUPS summary counts only the output width.\n\n"
               + table(["Config", "k = 0 [s]", "k = N [s]", "N", "Per iteration [s]", "F + B [s]", "Ratio",
                        "GUPS per iteration (2 passes)"], rows))


# ------------------------------------------------------------------------------------------------- 4. start-up


def bench_startup(plan: Plan, threads_opt: int | None, tmp: Path, report: Report) -> None:
    exe = program("tiltrec-mpi")
    rows = []
    helpv = [exe, "--help"]
    for i in range(2):
        r = run_measured(helpv)
        rows.append([f"`{shell_line(helpv)}`", f"run {i + 1}", "-", f"{r.wall:.2f}", format_bytes(r.peak_rss)])
        log(f"[startup] --help run {i + 1}: {r.wall:.2f} s")
    size, nviews, thick = plan.tiny
    stack, tlt = write_series(tmp, size, nviews)
    for alg_args in (["--alg", "wbp"], ["--alg", "sirt", "--iter", "2"]):
        cache = Path(tempfile.mkdtemp(prefix="numba-cache-", dir=tmp))
        env_fresh = dict(os.environ, NUMBA_CACHE_DIR=str(cache))
        env_default = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
        out = tmp / "tiny.rec"
        argv = [exe, *alg_args, "--thickness", str(thick), *thread_args(threads_opt), "--quiet", "--overwrite",
                str(stack), str(tlt), str(out)]
        for label, env in (("empty NUMBA_CACHE_DIR", env_fresh),
                           ("same NUMBA_CACHE_DIR, second process", env_fresh),
                           ("default cache location", env_default)):
            r = run_measured(argv, env=env)
            out.unlink(missing_ok=True)
            rows.append([f"`{shell_line(argv)}`", label, f"{size} x {size} x {nviews} -> {size} x {size} x {thick}",
                         f"{r.wall:.2f}", format_bytes(r.peak_rss)])
            log(f"[startup] {' '.join(alg_args)} ({label}): {r.wall:.2f} s")
        n_files = len(list(cache.rglob("*.nbc")))
        rows[-2][1] += f" ({n_files} cached kernel file(s))"
    report.add("## 4. Start-up\n\n"
               "Wall time of fresh processes (interpreter start, imports, run, exit). The tiny reconstructions run "
               "first with an empty temporary `NUMBA_CACHE_DIR`, then again with the same directory, then with the "
               "default cache (the `__pycache__` beside the kernels, as users get it): a kernel that Numba compiles "
               "shows as a slower first run and as cached kernel files. Flat WBP and SIRT runs use the compiled C "
               "kernels only and load no Numba (0 files, the three runs alike).\n\n"
               + table(["Command", "Run", "Size", "Wall [s]", "Peak RSS"], rows))


# ------------------------------------------------------------------------------------------------- main


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="bin/bench", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="only the 512 sizes and 1 repeat (smoke run, < 1 min)")
    p.add_argument("--only", action="append", default=None, metavar="SECTION",
                   help=f"run only these sections ({', '.join(SECTIONS)}); repeat or comma-separate")
    p.add_argument("--markdown", type=Path, metavar="FILE", help="also write the report to FILE")
    p.add_argument("--threads", type=int, default=None, help="CPU threads of the kernels [default: all cores]")
    p.add_argument("--repeats", type=int, default=None, help="override the number of timed repeats")
    p.add_argument("--tmpdir", type=Path, default=None, help="where to put the generated series and outputs "
                                                             "[default: the system temporary folder]")
    p.add_argument("--no-profile", action="store_true", help="skip the cProfile breakdown of the WBP run")
    p.add_argument("--peer-jobs", default=None, metavar="KINDS",
                   help="peers section: only the inputs of these kinds (wbp, sirt, local; comma-separated) "
                        "[default: all]")
    opts = p.parse_args(argv)
    only = SECTIONS if not opts.only else tuple(s.strip() for o in opts.only for s in o.split(",") if s.strip())
    bad = [s for s in only if s not in SECTIONS]
    if bad:
        p.error(f"unknown section(s) {', '.join(bad)}; choose from {', '.join(SECTIONS)}")
    opts.sections = only
    return opts


def main(argv=None) -> int:
    opts = parse_args(argv)
    plan = QUICK if opts.quick else FULL
    if opts.repeats:
        from dataclasses import replace

        plan = replace(plan, repeats=opts.repeats, wbp_repeats=opts.repeats)
    from tiltrec.cpu_threads import set_threads

    threads = set_threads(opts.threads)
    report = Report()
    started = time.perf_counter()
    load_start = machine.load_average()
    cmd = "bin/bench " + " ".join(sys.argv[1:] if argv is None else argv)
    report.add(f"# tiltrec benchmarks\n\n`{cmd.strip()}` ({'quick' if opts.quick else 'full'} plan; "
               f"sections: {', '.join(opts.sections)})")
    failed = []
    ceiling = None
    with tempfile.TemporaryDirectory(prefix="tiltrec-bench-", dir=opts.tmpdir) as tmpname:
        tmp = Path(tmpname)
        for section in SECTIONS:
            if section not in opts.sections:
                continue
            t = time.perf_counter()
            try:
                if section == "ceiling":
                    ceiling = bench_ceiling(threads, report)
                elif section == "kernels":
                    bench_kernels(plan, threads, report, ceiling)
                elif section == "wbp":
                    bench_wbp(plan, threads, opts.threads, tmp, report, profile=not opts.no_profile)
                elif section == "sirt":
                    bench_sirt(plan, threads, report)
                elif section == "admm":
                    from benchmarks.admm import bench_admm

                    report.add(bench_admm(plan.sirt_size, plan.sirt_thickness, NVIEWS, 3 if opts.quick else 5,
                                          max(1, plan.repeats), table, log))
                elif section == "mpi":
                    bench_mpi(plan, tmp, report)
                elif section == "startup":
                    bench_startup(plan, opts.threads, tmp, report)
                elif section == "gpu":
                    from benchmarks.gpu import bench_gpu

                    report.add(bench_gpu(opts.quick, plan.wbp_repeats, tmp, write_series, table, log))
                elif section == "standard":
                    from benchmarks.standard import bench_standard

                    report.add(bench_standard(opts.quick, threads, thread_args(opts.threads), tmp, ceiling,
                                              write_series, angles, NVIEWS, table, log))
                elif section == "memory":
                    from benchmarks.memory import bench_memory

                    report.add(bench_memory(opts.quick, tmp, write_series, NVIEWS, table, log))
                elif section == "peers":
                    from benchmarks.peers import bench_peers

                    kinds = opts.peer_jobs.split(",") if opts.peer_jobs else None
                    report.add(bench_peers(opts.quick, thread_args(opts.threads), tmp, write_series, NVIEWS, table,
                                           log, kinds))
            except Exception as exc:  # report it, go on with the other sections
                failed.append(section)
                report.add(f"## {section}: FAILED\n\n```\n{type(exc).__name__}: {exc}\n```")
            log(f"[{section}] took {time.perf_counter() - t:.1f} s")
        info = machine.describe(ROOT, threads)
        info.append(("Temporary files", f"{tmp.parent} ({machine.filesystem_of(tmp)})"))
        info.append(("Load average (1/5/15 min)", f"{load_start} at start, {machine.load_average()} at end"))
        info.append(("Benchmark wall time", f"{time.perf_counter() - started:.0f} s"))
        report.add("## Machine\n\n" + table(["Item", "Value"], [list(r) for r in info]))
    if opts.markdown:
        opts.markdown.parent.mkdir(parents=True, exist_ok=True)
        opts.markdown.write_text(report.text())
        log(f"wrote {opts.markdown}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
