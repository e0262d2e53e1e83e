"""tiltrec against IMOD 4.8.2's `tilt` on the same inputs, side by side in one run.

For each input series (random float32, 61 views at -60..60 deg) the section writes IMOD parameter files like
`../shared/peers/imod-4.8.2/examples/*.param` (absolute paths to the series, its .tlt file and the output) and
runs, round after round, IMOD's `tilt -StandardInput < job.param` and then each tiltrec command of that input
(A B C A B C ...), every run a fresh process through `benchmarks/spawn.py`; the output is deleted after each run.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUNDLED = ROOT.parent / "shared" / "peers" / "imod-4.8.2" / "tilt"
ENV_VAR = "TILTREC_IMOD_TILT"
PACKAGES = "libgfortran5 libgomp1 libtiff6"
GLOBAL_TWIN = "`-StandardInput` without LOCALFILE (tiltrec's global WBP of the same job)"


@dataclass(frozen=True)
class Job:
    """One input series and the jobs run on it: IMOD's tilt with one parameter file, several tiltrec commands."""

    name: str  # e.g. "WBP 1024^2 x 61 -> 256"
    n: int  # views n x n
    thickness: int
    sirt_iterations: int  # 0: WBP
    # (label, tiltrec-mpi arguments before the files); no arguments: -StandardInput with IMOD's parameter file
    tiltrec: tuple[tuple[str, tuple[str, ...]], ...]
    local_areas: int = 0  # > 0: a LOCALFILE with this many areas a side; tiltrec also runs the file without it


def _jobs(quick: bool) -> list[Job]:
    def wbp(n, t):
        return Job(f"WBP {n}^2 x 61 -> {n}^2 x {t}, RADIAL 0.35 0.035", n, t, 0,
                   (("`--alg wbp --radial 0.35,0.035`", ("--alg", "wbp", "--radial", "0.35,0.035")),
                    ("`-StandardInput` (the same parameter file)", ())))

    def sirt(n, t, imod_variants=True):
        tiltrec = [("`--alg sirt --iter 10`", ("--alg", "sirt", "--iter", "10"))]
        if imod_variants:
            tiltrec += [("`--alg imod-sirt --iter 10`", ("--alg", "imod-sirt", "--iter", "10")),
                        ("`-StandardInput` (the same parameter file)", ())]
        return Job(f"SIRT(10) {n}^2 x 61 -> {n}^2 x {t}", n, t, 10, tuple(tiltrec))

    def local(n, t, areas):
        return Job(f"Local WBP {n}^2 x 61 -> {n}^2 x {t}, LOCALFILE of {areas} x {areas} areas", n, t, 0,
                   (("`-StandardInput` (the same parameter file)", ()),), local_areas=areas)

    if quick:
        return [wbp(256, 64), sirt(128, 64), local(256, 64, 3)]
    return [wbp(1024, 256), sirt(256, 128), sirt(512, 128, imod_variants=False), local(512, 128, 6)]


def find_tilt() -> tuple[str | None, str]:
    """(path of IMOD's tilt or None, where it came from or why there is none)."""
    chosen = os.environ.get(ENV_VAR)
    if chosen:
        return (chosen, f"${ENV_VAR}") if Path(chosen).exists() else (None, f"${ENV_VAR}={chosen} does not exist")
    on_path = shutil.which("tilt")
    if on_path:
        return on_path, "`tilt` on PATH"
    if BUNDLED.exists():
        return str(BUNDLED), "`../shared/peers/imod-4.8.2/tilt`"
    return None, (f"no IMOD tilt: ${ENV_VAR} is not set, no `tilt` on PATH and no `../shared/peers/imod-4.8.2/tilt` "
                  "beside the repository")


def tilt_starts(tilt: str) -> str | None:
    """None when `tilt -help` runs; else why not (first lines of its output)."""
    try:
        done = subprocess.run([tilt, "-help"], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"{tilt} does not start: {exc}"
    if done.returncode != 0 or "Usage" not in done.stdout + done.stderr:
        text = " ".join((done.stderr or done.stdout).split())[:300]
        hint = f" (IMOD 4.8.2 needs the Debian packages {PACKAGES})" if "shared librar" in text else ""
        return f"{tilt} -help exited with {done.returncode}: {text}{hint}"
    return None


def write_param(path: Path, stack: Path, tlt: Path, out: Path, n: int, thickness: int, sirt_iterations: int,
                local: Path | None = None) -> Path:
    """An IMOD tilt parameter file with the keys of examples/wbp_1024.param and examples/sirt10_256.param (and
    LOCALFILE ``local``)."""
    lines = [f"InputProjections {stack}", f"OutputFile {out}", "IMAGEBINNED 1", f"TILTFILE {tlt}",
             f"THICKNESS {thickness}", "SCALE 0.0 1.0", "PERPENDICULAR", "MODE 2", f"FULLIMAGE {n} {n}",
             "SUBSETSTART 0 0", "AdjustOrigin", "RADIAL 0.35 0.035", "XAXISTILT 0.0"]
    if sirt_iterations:
        lines.append(f"SIRTIterations {sirt_iterations}")
    if local is not None:
        lines.append(f"LOCALFILE {local}")
    path.write_text("\n".join(lines) + "\n")
    return path


def bench_peers(quick: bool, threads_args: list[str], tmp: Path, write_series, nviews: int, table, log,
                kinds: list[str] | None = None) -> str:
    """The report's peers section (markdown); ``kinds``: only the inputs whose job names start with these (``wbp``,
    ``sirt``), else all."""
    from benchmarks import machine
    from benchmarks.local_alignment_file import write_local_file
    from benchmarks.procs import program, run_measured, shell_line

    title = "## Peers: IMOD's tilt and tiltrec on the same inputs\n\n"
    tilt, origin = find_tilt()
    why = tilt_starts(tilt) if tilt else origin
    if why:
        log(f"[peers] skipped: {why}")
        return title + f"Skipped: {why}."
    pairs = 1 if quick else 3
    exe = program("tiltrec-mpi")
    rows = []
    for job in _jobs(quick):
        if kinds and not any(job.name.lower().startswith(kind.strip().lower()) for kind in kinds):
            continue
        log(f"[peers] writing a random {job.n} x {job.n} x {nviews} series ...")
        stack, tlt = write_series(tmp, job.n, nviews)
        tag = f"{'sirt' if job.sirt_iterations else 'local' if job.local_areas else 'wbp'}_{job.n}_{job.thickness}"
        out = tmp / f"peers_{tag}.rec"
        local = write_local_file(tmp / f"peers_{tag}.xf", nviews, job.n, job.n, job.local_areas) \
            if job.local_areas else None
        param = write_param(tmp / f"peers_{tag}.param", stack, tlt, out, job.n, job.thickness, job.sirt_iterations,
                            local)
        commands = [("IMOD tilt", [tilt, "-StandardInput"], param)]
        for label, args in job.tiltrec:
            if args:
                argv = [exe, *args, "--thickness", str(job.thickness), *threads_args, "--quiet", "--overwrite",
                        str(stack), str(tlt), str(out)]
                commands.append((label, argv, None))
            else:
                commands.append((label, [exe, "-StandardInput", *threads_args, "--quiet", "--overwrite"], param))
        if local is not None:  # the same job without the local file: what the local alignments cost tiltrec
            plain = write_param(tmp / f"peers_{tag}_global.param", stack, tlt, out, job.n, job.thickness, 0)
            commands.append((GLOBAL_TWIN, [exe, "-StandardInput", *threads_args, "--quiet", "--overwrite"], plain))
        walls: list[list[float]] = [[] for _ in commands]
        for i in range(pairs):  # A B C ... A B C ...
            for k, (label, argv, stdin) in enumerate(commands):
                r = run_measured(argv, stdin=stdin)
                out.unlink(missing_ok=True)
                walls[k].append(r.wall)
                log(f"[peers] {job.name}: round {i + 1}: {label}: {r.wall:.2f} s")
        imod = statistics.median(walls[0])
        for (label, argv, stdin), times in zip(commands[1:], walls[1:]):
            mine = statistics.median(times)
            command = shell_line(argv) + (" < " + Path(stdin).name if stdin else "")
            ratio = f"**{imod / mine:.2f}x**"
            if label == GLOBAL_TWIN:  # not IMOD's job: the ratio shown is tiltrec's local over global
                ratio = f"local / global: **{statistics.median(walls[1]) / mine:.2f}x**"
            rows.append([job.name, f"{label}: `{command}`", f"{imod:.2f}", f"{mine:.2f}", ratio,
                         ", ".join(f"{t:.2f}" for t in walls[0]), ", ".join(f"{t:.2f}" for t in times)])
    imod_line = f"`{shell_line([tilt])} -StandardInput < job.param` ({origin})"
    return (title + f"{__doc__.split(chr(10) + chr(10), 1)[1].strip()} IMOD: {imod_line}, one thread (tilt 4.8.2 "
            f"has no OpenMP). tiltrec: `tiltrec-mpi`, threads: "
            f"{'the CLI default (all cores)' if not threads_args else threads_args[-1]}. {pairs} round(s) per input"
            f"{' (quick plan: small sizes, 1 round)' if quick else ''}; medians of wall time (start-up and exit "
            f"included); ratio = IMOD median / tiltrec median (> 1: tiltrec is faster).\n\n"
            f"Machine: {machine.one_line()}.\n\n"
            + table(["Input and output", "tiltrec command", "IMOD median [s]", "tiltrec median [s]",
                     "Ratio IMOD / tiltrec", "IMOD runs [s]", "tiltrec runs [s]"], rows))
