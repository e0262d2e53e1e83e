"""The standard sizes (512, 1024 and 2048 pixels square, 61 views): WBP, SIRT(30), SART(10) and ADMM(10) through the
command line, with ASTRA's CPU code beside them where it is installed.

Each job is a fresh ``tiltrec-mpi`` process (``tiltrecz-mpi`` for ADMM, which needs the whole volume in memory) on a
random float32 series with 61 views at -60..60 deg, with the CLI's defaults (X padding for the iterative methods,
all cores).  GUPS is the figure of the command's own summary line (projector passes x output voxels x views / the
reconstruction's seconds: start-up, reading the input and the X padding are not counted in it).
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

# (view size n: n x n views, output thickness)
SIZES = ((512, 128), (1024, 256), (2048, 512))
# algorithm, command, iterations (None: direct method)
JOBS = (("wbp", "tiltrec-mpi", None), ("sirt", "tiltrec-mpi", 30), ("sart", "tiltrec-mpi", 10),
        ("admm", "tiltrecz-mpi", 10))
QUICK_ITERATIONS = {"sirt": 5, "sart": 2, "admm": 2}
MAX_JOB_SECONDS = 600  # jobs estimated to take longer (from the algorithm's GUPS at a smaller size) are skipped
ASTRA_SLICES_PER_THREAD = 2


@dataclass
class Row:
    size: str
    job: str
    command: str
    wall: str = "-"
    gups: str = "-"
    rss: str = "-"
    share: str = "-"
    note: str = ""

    def cells(self) -> list[str]:
        return [self.size, self.job, self.command, self.wall, self.gups, self.rss, self.share, self.note]


def _summary_gups(output: str) -> float:
    match = re.search(r": ([0-9.]+) GUPS", output)
    if not match:
        raise RuntimeError(f"no GUPS in the summary line: {output[-300:]}")
    return float(match.group(1))


def _first_error(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def _updates(n: int, thickness: int, nviews: int, passes: int) -> float:
    return float(n) * n * thickness * nviews * passes


def _passes(alg: str, iterations: int | None) -> int:
    from tiltrec.algorithms import ALGORITHMS
    from tiltrec.options.model import Settings

    a = ALGORITHMS[alg]
    return a.passes(Settings(iter=iterations))  # 1 for a one-pass algorithm


def _unified_bytes(alg: str, n: int, thickness: int, angles) -> int:
    """Working memory of a whole-volume (unified) run, on the X-padded width the command line uses."""
    from tiltrec.algorithms import ALGORITHMS
    from tiltrec.geometry import Geometry

    geom = Geometry(nx=n, ny=n, angles=angles, thickness=thickness, width=n)
    return n * ALGORITHMS[alg].footprint.per_slice(geom.with_width(geom.min_padding_width()))


def _fits_on_disk(n: int, thickness: int, nviews: int, tmp: Path) -> tuple[bool, int]:
    need = 4 * n * n * (nviews + thickness)  # the series and one output at a time
    return shutil.disk_usage(tmp).free > 1.1 * need, need


def bench_standard(quick: bool, threads: int, threads_args: list[str], tmp: Path, ceiling: dict | None,
                   write_series, angles, nviews: int, table, log) -> str:
    """The report's standard-sizes section (markdown)."""
    from benchmarks import astra_cpu
    from benchmarks.ceiling import measure
    from benchmarks.procs import program, run_measured, shell_line
    from tiltrec.formats import open_stack
    from tiltrec.strategies.plan import available_memory, format_bytes

    if ceiling is None:
        log("[standard] measuring the machine ceiling ...")
        ceiling = measure(threads)
    lerp = ceiling["lerp_gups"]
    astra_version = astra_cpu.available()
    sizes = SIZES[:1] if quick else SIZES
    rows: list[Row] = []
    last_gups: dict[str, tuple[float, int]] = {}  # per algorithm, GUPS and size of its last run: time estimates
    for n, thick in sizes:
        size = f"{n}^2 x {nviews} -> {n}^2 x {thick}"
        fits, need = _fits_on_disk(n, thick, nviews, tmp)
        if not fits:
            rows.append(Row(size, "all", "-", note=f"skipped: needs {format_bytes(need)} of disk in {tmp.parent}"))
            continue
        log(f"[standard] writing a random {n} x {n} x {nviews} series ...")
        stack, tlt = write_series(tmp, n, nviews)
        out = tmp / f"standard_{n}.rec"
        for alg, command, full_iterations in JOBS:
            iterations = QUICK_ITERATIONS.get(alg, full_iterations) if quick else full_iterations
            job = alg.upper() + (f"({iterations})" if iterations else "")
            if quick and iterations != full_iterations:
                job += f" (quick; standard: {full_iterations})"
            argv = [program(command), "--alg", alg, *(["--iter", str(iterations)] if iterations else []),
                    "--thickness", str(thick), *threads_args, "--overwrite", str(stack), str(tlt), str(out)]
            row = Row(size, job, f"`{shell_line(argv)}`")
            rows.append(row)
            if command == "tiltrecz-mpi":
                need, budget = _unified_bytes(alg, n, thick, angles(nviews)), available_memory() // 2
                if need > budget:
                    row.note = (f"skipped: the whole volume needs about {format_bytes(need)}, the command's "
                                f"default memory budget is {format_bytes(budget)}")
                    continue
            if alg in last_gups:
                gups_before, n_before = last_gups[alg]
                estimate = _updates(n, thick, nviews, _passes(alg, iterations)) / gups_before / 1e9
                if estimate > MAX_JOB_SECONDS:
                    row.note = (f"skipped: about {estimate:.0f} s at its {gups_before:.2f} GUPS of size {n_before} "
                                f"(limit {MAX_JOB_SECONDS} s)")
                    continue
            log(f"[standard] {n}: {job} ...")
            r = run_measured(argv, check=False)
            out.unlink(missing_ok=True)
            if r.returncode != 0:
                row.note = f"failed (exit {r.returncode}): {_first_error(r.output)}"
                log(f"[standard] {row.note}")
                continue
            gups = _summary_gups(r.output)
            last_gups[alg] = gups, n
            row.wall, row.gups, row.rss = f"{r.wall:.1f}", f"{gups:.2f}", format_bytes(r.peak_rss)
            row.share = f"{100 * gups / lerp:.0f} %"
            log(f"[standard] {n}: {job}: {r.wall:.1f} s, {gups:.2f} GUPS, peak RSS {format_bytes(r.peak_rss)}")
            if astra_version and alg in astra_cpu.ASTRA_NAMES:
                rows.append(_astra_row(astra_cpu, alg, iterations, job, size, stack, n, thick, threads, lerp,
                                       open_stack, log))
        stack.unlink(missing_ok=True)
        tlt.unlink(missing_ok=True)
    astra_note = (f"ASTRA {astra_version} rows: `astra.create_projector('linear', ...)` with its CPU "
                  f"{', '.join(f'{v} (for {k.upper()})' for k, v in astra_cpu.ASTRA_NAMES.items())}, 2-D parallel "
                  f"beam, one Y slice at a time on {threads} thread(s); {ASTRA_SLICES_PER_THREAD * threads} slices "
                  "spread over Y are timed and the time is scaled to all slices (so no start-up or file I/O), "
                  "without X padding. ASTRA's FBP is a ramp-filtered back-projection, not IMOD's weighting; its SART "
                  "runs one view per iteration, so SART(k) is k x views of its iterations. ASTRA has no ADMM."
                  if astra_version else "ASTRA rows: not measured, `astra` does not import in this environment.")
    plan = ("quick plan: 512 only, fewer iterations (labelled)" if quick else
            f"full plan; a job whose time, estimated from the GUPS of the same algorithm at the largest size run so "
            f"far, exceeds {MAX_JOB_SECONDS} s is skipped")
    text = (f"{__doc__.split(chr(10) + chr(10), 1)[1].strip()} Wall = the whole process (start-up, reading, "
            f"writing and exit included); peak RSS = the process's ru_maxrss (touched pages of the input map "
            f"count); % of ceiling = summary GUPS / the interpolation loop in L1 ({lerp:.1f} GUPS, "
            f"`benchmarks/ceiling.py`, measured in this run). One run each ({plan}).\n\n{astra_note}")
    return ("## 7. Standard sizes\n\n" + text + "\n\n"
            + table(["Size", "Job", "Command", "Wall [s]", "GUPS", "Peak RSS", "% of ceiling", "Note"],
                    [r.cells() for r in rows]))


def _astra_row(astra_cpu, alg, iterations, job, size, stack, n, thick, threads, lerp, open_stack, log) -> Row:
    nslices = ASTRA_SLICES_PER_THREAD * threads
    with open_stack(stack) as views:
        rows = sorted({round(i * (n - 1) / max(1, nslices - 1)) for i in range(nslices)})
        sinograms = [views.read(slice(None), slice(y, y + 1))[:, 0, :].copy() for y in rows]
        nviews = views.nviews
    angles = [float(a) for a in Path(stack).with_suffix(".tlt").read_text().split()]
    log(f"[standard] {n}: ASTRA {astra_cpu.ASTRA_NAMES[alg]} on {len(rows)} slices ...")
    seconds = astra_cpu.time_slices(alg, iterations or 1, sinograms, angles, thick, threads)
    full = seconds * n / len(rows)
    gups = _updates(n, thick, nviews, _passes(alg, iterations)) / full / 1e9
    log(f"[standard] {n}: ASTRA {alg}: {seconds:.2f} s for {len(rows)} slices -> {full:.0f} s for {n}")
    return Row(size, f"ASTRA {astra_cpu.ASTRA_NAMES[alg]}, as {job}", "ASTRA CPU, 'linear' projector",
               f"{full:.1f} (scaled)", f"{gups:.2f}", "-", f"{100 * gups / lerp:.0f} %",
               f"{seconds:.2f} s for {len(rows)} of {n} slices, scaled")
