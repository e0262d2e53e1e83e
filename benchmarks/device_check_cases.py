"""The checks of ``benchmarks/device_check.py``, in the order they run (items (a)-(h) of issue 20).

Each check is a function of the run's :class:`~benchmarks.device_check_context.Context`: it runs commands and
returns its PASS line, or raises ``Failed`` / ``Skipped``.  On the GPU the candidate command is ``tiltrec-cuda``
(or ``tiltrecz-cuda``) and the reference ``tiltrec-mpi`` (``tiltrecz-mpi``); with ``--backend cpu`` the candidate
is the CPU command itself, on one thread (``--threads 1``) where it is compared with the reference on all cores,
so that the comparisons still compare two runs.  Sizes are modest (a simulated specimen, the real 128 x 128
series); the benchmark (bin/bench's GPU section, last) is the one big job.
"""

from __future__ import annotations

import json
import resource
import signal
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.device_check_context import REFERENCE, Check, Context, Failed, Skipped
from benchmarks.local_alignment_file import write_local_file
from benchmarks.procs import shell_line

FLOAT32 = 1e-4  # float32 precision of a reconstruction: max |ours - reference| <= this x max |reference|
RESUMED = 1e-6  # a resumed run against the uninterrupted one (docs: bit for bit; tests/test_checkpoint.py: 1e-6)
MIN_CORRELATION = 0.99  # tiltrec's SIRT against ASTRA's on the real series (issue 20; docs/algorithms/sirt.md)
BLOB_TOLERANCE = 0.05  # pixels: a blurred point's centroid in a discrete projection wobbles by a few thousandths
SIZES = {"cuda": dict(width=192, slices=64, thickness=48), "cpu": dict(width=96, slices=48, thickness=32)}
# iterations and checkpoint interval of the interrupted runs: long enough that SIGTERM arrives before the end
# (the GPU is fast: a run that finishes first is repeated with 4 times the iterations)
RESUME = {"cuda": {"sirt": (400, 10), "admm": (60, 2)}, "cpu": {"sirt": (40, 1), "admm": (25, 1)}}
GPU_POOL_LIMIT = str(1 << 20)  # CUPY_GPU_MEMORY_LIMIT of the out-of-memory case: 1 MiB, far below any slab
HOST_LIMIT = 1536 << 20  # RLIMIT_AS of the CPU out-of-memory case: the process fits, its 4000-thick volume not
ITERATIONS = {"sirt": ["--iter", "10"], "sart": ["--iter", "2"], "admm": ["--iter", "5"]}


# ------------------------------------------------------------------------------------------------- helpers


def thickness(ctx: Context) -> str:
    return str(SIZES[ctx.backend]["thickness"])


def phantom(ctx: Context) -> tuple[Path, Path]:
    """A simulated specimen's tilt series (41 views, -60..60 deg), made once with ``tiltrec simulate``."""
    if "phantom" not in ctx.cache:
        folder = ctx.tmp / "phantom"
        s = SIZES[ctx.backend]
        ctx.run(ctx.command("tiltrec") + ["simulate", "--out", folder, "--name", "specimen", "--width", s["width"],
                                          "--slices", s["slices"], "--thickness", s["thickness"], "--step", "3",
                                          "--seed", "1"])
        ctx.cache["phantom"] = (folder / "specimen.mrc", folder / "specimen.tlt")
    return ctx.cache["phantom"]


def compare(ours: Path, reference: Path) -> tuple[float, bool]:
    """``max |ours - reference| / max |reference|`` and whether the two are identical."""
    from tiltrec.formats import read_volume

    a, b = read_volume(ours)[0], read_volume(reference)[0]
    if a.shape != b.shape:
        raise Failed(f"{ours.name} is {a.shape}, {reference.name} {b.shape}")
    scale = float(np.abs(b).max()) or 1.0
    return float(np.abs(a.astype(np.float64) - b).max()) / scale, bool(np.array_equal(a, b))


def candidate(ctx: Context, role: str) -> list[str]:
    """The command under test: the -cuda one, or on CPUs the CPU one on a single thread."""
    return ctx.device(role) + ([] if ctx.on_gpu else ["--threads", "1"])


def equal_runs(ctx: Context, role: str, args: list, name: str, tolerance: float = FLOAT32,
               output_option: tuple[str, ...] = ()) -> str:
    """Run the candidate and the reference on ``args`` (without the output, which follows ``output_option``: "-o"
    where the parameter file takes the place of the input files); FAIL beyond ``tolerance``."""
    ours, ref = ctx.tmp / f"{name}.mrc", ctx.tmp / f"{name}_reference.mrc"
    ctx.run(candidate(ctx, role) + args + [*output_option, ours])
    ctx.run(ctx.reference(role) + args + [*output_option, ref])
    diff, same = compare(ours, ref)
    ctx.note(f"max |diff| / max |reference| = {diff:.2e}{' (identical)' if same else ''}")
    if diff > tolerance:
        raise Failed(f"{ctx.name(role)} differs from {REFERENCE[role]}: max |diff| = {diff:.2e} of the "
                     f"largest value (tolerance {tolerance:g})")
    return f"max |diff| = {diff:.1e} of the largest value{', bit for bit' if same else ''} (tolerance {tolerance:g})"


def astra_ready(ctx: Context) -> None:
    """Skip unless ASTRA can run here: its CUDA code on a GPU, its CPU code with ``--backend cpu``."""
    from benchmarks.astra_gpu import available

    if ctx.on_gpu:
        reason = available()
        if reason:
            raise Skipped(reason)
    else:
        try:
            __import__("astra")
        except ImportError:
            raise Skipped("astra-toolbox is not installed (pip install -e '.[test]')") from None


def astra_command(*args) -> list:
    return [sys.executable, "-m", "benchmarks.astra_gpu", *args]


# ------------------------------------------------------------------------------------------------- (b) ASTRA


def astra_geometry(ctx: Context) -> str:
    astra_ready(ctx)
    done = ctx.run(astra_command("geometry", *([] if ctx.on_gpu else ["--cpu"])))
    error = json.loads(done.out.strip().splitlines()[-1])["max_error_px"]
    what = ("FP3D_CUDA, 5-degree X-axis tilt" if ctx.on_gpu else
            "ASTRA's CPU 2-D projector on the slice vectors, standing in for FP3D_CUDA")
    ctx.note(f"blurred points projected by ASTRA ({what}): centroids at most {error:.4f} px from tiltrec's model")
    if error > BLOB_TOLERANCE:
        raise Failed(f"ASTRA puts points {error:.3f} px from where tiltrec projects them (tolerance "
                     f"{BLOB_TOLERANCE} px): the mapping of benchmarks/astra_gpu.py is wrong here")
    return f"ASTRA ({what}) projects points where tiltrec does: {error:.4f} px at most (tolerance {BLOB_TOLERANCE})"


def _correlations(ours: Path, theirs: Path) -> tuple[float, float]:
    """Correlation over the whole volume, and without the X borders (an eighth of the width on each side), where
    the two kernels differ most."""
    from tiltrec.formats import read_volume

    a, b = read_volume(ours)[0], read_volume(theirs)[0]
    edge = a.shape[2] // 8
    return (float(np.corrcoef(a.ravel(), b.ravel())[0, 1]),
            float(np.corrcoef(a[..., edge:-edge].ravel(), b[..., edge:-edge].ravel())[0, 1]))


def astra_sirt(ctx: Context) -> str:
    stack, tlt = ctx.data / "empiar_10009_128.mrc", ctx.data / "empiar_10009_128.tlt"
    if not stack.exists() or not tlt.exists():
        raise Skipped(f"no real series at {ctx.data} (give its folder with --data)")
    astra_ready(ctx)
    rows, found = [], {}
    for iterations in (10, 30):
        ours, theirs = ctx.tmp / f"sirt{iterations}_tiltrec.mrc", ctx.tmp / f"sirt{iterations}_astra.mrc"
        ctx.run(ctx.device("slab") + ["--alg", "sirt", "--iter", iterations, "--no-xpad", "--thickness", "48",
                                      "--quiet", stack, tlt, ours])
        ctx.run(astra_command("sirt", stack, tlt, theirs, "--iter", iterations, "--thickness", "48",
                              *([] if ctx.on_gpu else ["--cpu"])))
        found[iterations] = _correlations(ours, theirs)
        rows.append(f"| {iterations} | {found[iterations][0]:.4f} | {found[iterations][1]:.4f} |")
    astra_name = "SIRT3D_CUDA" if ctx.on_gpu else "ASTRA's CPU SIRT (2-D slices of the same vectors)"
    ctx.note(f"EMPIAR-10009, 51 views of 128 x 128 -> 128 x 48 x 128, no X padding; {ctx.name('slab')} "
             f"against {astra_name}:\n\n| Iterations | Correlation | Without the X borders |\n|---|---|---|\n"
             + "\n".join(rows))
    # on the GPU the figure: SIRT(30); the CPU stand-in's own kernel is held to what docs/algorithms/sirt.md
    # states for it (SIRT(10) >= 0.99; at 30 iterations the two kernels' high frequencies part further)
    judged = 30 if ctx.on_gpu else 10
    corr = found[judged][0]
    summary = (f"SIRT({judged}) correlates {corr:.4f} with {astra_name} (>= {MIN_CORRELATION}); SIRT(10) / (30): "
               f"{found[10][0]:.4f} / {found[30][0]:.4f}, without the X borders {found[10][1]:.4f} / "
               f"{found[30][1]:.4f}")
    if corr < MIN_CORRELATION:
        raise Failed(summary.replace(f">= {MIN_CORRELATION}", f"below {MIN_CORRELATION}"))
    return summary


# ------------------------------------------------------------------------------------------------- (c) equality


def equal(alg: str):
    def check(ctx: Context) -> str:
        stack, tlt = phantom(ctx)
        role = "unified" if alg == "admm" else "slab"
        args = ["--alg", alg, *ITERATIONS.get(alg, []), "--thickness", thickness(ctx), "--quiet", stack, tlt]
        line = equal_runs(ctx, role, args, f"equal_{alg}")
        ours = shell_line([ctx.name(role), *map(str, args[:-3])])
        return f"`{ours}`{'' if ctx.on_gpu else ' on 1 thread'} equals {REFERENCE[role]}: {line}"

    check.__name__ = f"equal_{alg}"
    return check


# ------------------------------------------------------------------------------------------------- (d) resume


def _interrupted(ctx: Context, argv: list, ck: Path):
    """Start ``argv``; SIGTERM once its checkpoint exists (it has saved at least once); the finished run."""
    started = time.monotonic()
    proc = ctx.start(argv)
    while not ck.exists() and proc.poll() is None:
        ctx.remaining()
        time.sleep(0.005)
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        ctx.note("  SIGTERM sent once the checkpoint existed")
    return ctx.finish(proc, argv, started)


def resume(alg: str):
    def check(ctx: Context) -> str:
        stack, tlt = phantom(ctx)
        role = "unified" if alg == "admm" else "slab"
        iterations, every = RESUME[ctx.backend][alg]
        for attempt in range(3):
            ck, out = ctx.tmp / f"resume_{alg}{attempt}.ckpt", ctx.tmp / f"resume_{alg}{attempt}.mrc"
            args = ["--alg", alg, "--iter", iterations, "--thickness", thickness(ctx), "--quiet", stack, tlt]
            resumable = ctx.device(role) + args + [out, "--checkpoint", ck, "--checkpoint-every", every]
            first = _interrupted(ctx, resumable, ck)
            if first.rc != 0:
                break
            ctx.note(f"  finished before the signal; again with {4 * iterations} iterations")
            iterations *= 4
        else:
            raise Failed("the run always finished before SIGTERM could reach it")
        if first.rc != 143 or "continue with --resume" not in first.err:
            raise Failed(f"SIGTERM gave exit code {first.rc} (143 expected) and: {first.tail()}")
        if out.exists() or not ck.exists():
            raise Failed("after SIGTERM the output exists or the checkpoint does not")
        whole = ctx.tmp / f"resume_{alg}_whole.mrc"
        ctx.run(ctx.device(role) + args + [whole])
        ctx.run(resumable + ["--resume"])
        diff, same = compare(out, whole)
        ctx.note(f"resumed against uninterrupted: max |diff| / max = {diff:.2e}{' (identical)' if same else ''}")
        if diff > RESUMED:
            raise Failed(f"the resumed {alg.upper()}({iterations}) differs from the uninterrupted run by {diff:.2e} "
                         f"of the largest value")
        if ck.exists():
            raise Failed("the checkpoint is still there after the resumed run finished")
        return (f"{ctx.name(role)} {alg.upper()}({iterations}), checkpoint every {every}: SIGTERM -> exit 143, "
                f"--resume gives the uninterrupted volume{' bit for bit' if same else f' to {diff:.1e}'}")

    check.__name__ = f"resume_{alg}"
    return check


# ------------------------------------------------------------------------------------------------- (e) MPI


def two_ranks(ctx: Context) -> str:
    mpiexec = ctx.mpiexec()
    if mpiexec is None:
        raise Skipped("no mpiexec (pip install -e '.[mpich]')")
    stack, tlt = phantom(ctx)
    for alg in ("wbp", "sirt"):
        args = ["--alg", alg, *ITERATIONS.get(alg, []), "--thickness", thickness(ctx), "--quiet", stack, tlt]
        one, two = ctx.tmp / f"ranks1_{alg}.mrc", ctx.tmp / f"ranks2_{alg}.mrc"
        ctx.run(ctx.device("slab") + args + [one])
        ctx.run([mpiexec, "-n", "2", *ctx.device("slab"), *args, two])
        diff, same = compare(two, one)
        ctx.note(f"{alg}: 2 ranks against 1: max |diff| / max = {diff:.2e}{' (identical)' if same else ''}")
        if not same:
            raise Failed(f"{alg}: 2 ranks differ from 1 by {diff:.2e} of the largest value (bit for bit expected)")
    where = "both ranks on the one GPU" if ctx.on_gpu else "on CPUs"
    return f"`mpiexec -n 2 {ctx.name('slab')}` ({where}) equals one rank bit for bit for WBP and SIRT(10)"


# ------------------------------------------------------------------------------------------------- (f) memory


def managed_memory(ctx: Context) -> str:
    stack, tlt = phantom(ctx)
    args = ["--alg", "sirt", "--iter", "3", "--thickness", thickness(ctx), "--quiet", stack, tlt]
    out = ctx.tmp / "managed.mrc"
    done = ctx.run(ctx.device("unified") + ["--memory", "4M"] + args + [out], check=ctx.on_gpu)
    if not ctx.on_gpu:  # docs/mpi.md, troubleshooting.md: the CPU's unified command refuses a volume over budget
        if done.rc != 2 or "the whole volume needs about" not in done.err or out.exists():
            raise Failed(f"tiltrecz-mpi --memory 4M: exit code {done.rc} (2 expected): {done.tail()}")
        return f"tiltrecz-mpi refuses a volume larger than --memory 4M (exit 2): {done.error_lines()[-1]}"
    warnings = [line for line in done.error_lines() if "managed memory" in line]
    if len(warnings) != 1:
        raise Failed(f"expected one warning about CUDA managed memory, got {len(warnings)}: {done.tail()}")
    ctx.note(f"warning: {warnings[0]}")
    ref = ctx.tmp / "managed_reference.mrc"
    ctx.run(ctx.reference("slab") + args + [ref])
    diff, same = compare(out, ref)
    ctx.note(f"against tiltrec-mpi: max |diff| / max = {diff:.2e}")
    if diff > FLOAT32:
        raise Failed(f"the managed-memory run differs from tiltrec-mpi by {diff:.2e} of the largest value")
    return (f"tiltrecz-cuda --memory 4M runs in managed memory with one warning line and equals tiltrec-mpi to "
            f"{diff:.1e}")


# ------------------------------------------------------------------------------------------------- (g) options


def split_odd_even(ctx: Context) -> str:
    stack, tlt = phantom(ctx)
    args = ["--alg", "wbp", "--split", "odd-even", "--thickness", thickness(ctx), "--quiet", stack, tlt]
    ours, ref = ctx.tmp / "split.mrc", ctx.tmp / "split_reference.mrc"
    ctx.run(candidate(ctx, "slab") + args + [ours])
    ctx.run(ctx.reference("slab") + args + [ref])
    worst = 0.0
    for half in ("", "_odd", "_even"):
        a, b = ours.with_name(f"split{half}.mrc"), ref.with_name(f"split_reference{half}.mrc")
        if not a.exists():
            raise Failed(f"--split odd-even wrote no {a.name}")
        diff, _ = compare(a, b)
        ctx.note(f"{a.name}: max |diff| / max = {diff:.2e}")
        worst = max(worst, diff)
    if worst > FLOAT32:
        raise Failed(f"--split odd-even: a volume differs from tiltrec-mpi's by {worst:.2e} of its largest value")
    return f"--split odd-even writes NAME, NAME_odd, NAME_even, each equal to tiltrec-mpi's to {worst:.1e}"


def local_wbp(ctx: Context) -> str:
    """WBP with IMOD's local alignments: the GPU kernel takes the CPU's samples with the CPU's float32 operations,
    but from views filtered by cuFFT, whose roundings are not pocketfft's: float32 precision on the GPU, bit for bit
    on CPUs (where only the thread count differs)."""
    stack, tlt = phantom(ctx)
    local = ctx.tmp / "phantom.local"
    s = SIZES[ctx.backend]
    write_local_file(local, len(np.loadtxt(tlt, ndmin=1)), s["width"], s["slices"])
    args = ["--alg", "wbp", "--local", local, "--thickness", thickness(ctx), "--quiet", stack, tlt]
    tolerance = FLOAT32 if ctx.on_gpu else 0.0
    return f"WBP with --local: {equal_runs(ctx, 'slab', args, 'local_wbp', tolerance=tolerance)}"


def local_sirt(ctx: Context) -> str:
    """SIRT with IMOD's local alignments: the GPU's forward projection (slices into windows of rows, summed in
    slice order) is the CPU's up to the order of its sums."""
    stack, tlt = phantom(ctx)
    local = ctx.tmp / "phantom.local"
    s = SIZES[ctx.backend]
    write_local_file(local, len(np.loadtxt(tlt, ndmin=1)), s["width"], s["slices"])
    args = ["--alg", "sirt", "--iter", "5", "--local", local, "--thickness", thickness(ctx), "--quiet", stack, tlt]
    return f"SIRT(5) with --local: {equal_runs(ctx, 'slab', args, 'local_sirt')}"


def pitch_sirt(ctx: Context) -> str:
    stack, tlt = phantom(ctx)
    args = ["--alg", "sirt", "--iter", "5", "--pitch", "5", "--thickness", thickness(ctx), "--quiet", stack, tlt]
    return f"SIRT(5) with --pitch 5 runs; {equal_runs(ctx, 'slab', args, 'pitch_sirt')}"


def interp_imod(ctx: Context) -> str:
    stack, tlt = phantom(ctx)
    out = ctx.tmp / "imod_interp.mrc"
    done = ctx.run(ctx.device("slab") + ["--alg", "wbp", "--interp", "imod", "--thickness", thickness(ctx),
                                         "--quiet", stack, tlt, out], check=False)
    if not ctx.on_gpu:
        if done.rc != 0 or not out.exists():
            raise Failed(f"tiltrec-mpi --interp imod: exit code {done.rc}: {done.tail()}")
        return "tiltrec-mpi --interp imod runs (IMOD's CPU interpolation exists on the CPU only)"
    if done.rc != 2 or "runs on the cpu backend only" not in done.err or out.exists():
        raise Failed(f"tiltrec-cuda --interp imod: exit code {done.rc} (2 expected): {done.tail()}")
    return f"tiltrec-cuda refuses --interp imod (exit 2): {done.error_lines()[-1]}"


def reprojection(local: bool):
    """Reprojection of a tomogram through a tilt parameter file (RecFileToReproject), with an X-axis tilt (rays
    across slices) or with local alignments: the GPU's kernels take the CPU's rays with its float32 operations."""

    def check(ctx: Context) -> str:
        stack, tlt = phantom(ctx)
        s = SIZES[ctx.backend]
        tomogram = ctx.tmp / "reprojected_tomogram.mrc"
        if not tomogram.exists():
            ctx.run(ctx.reference("slab") + ["--alg", "wbp", "--thickness", thickness(ctx), "--quiet", stack, tlt,
                                             tomogram])
        lines = [f"InputProjections {stack}", f"RecFileToReproject {tomogram}", f"TILTFILE {tlt}",
                 f"THICKNESS {thickness(ctx)}", "SCALE 0.0 1.0", "PERPENDICULAR", "MODE 2"]
        if local:
            local_file = ctx.tmp / "reprojected.local"
            write_local_file(local_file, len(np.loadtxt(tlt, ndmin=1)), s["width"], s["slices"])
            lines.append(f"LOCALFILE {local_file}")
        else:
            lines.append("XAXISTILT 2.0")
        name = "reproject_local" if local else "reproject"
        param = ctx.tmp / f"{name}.param"
        param.write_text("\n".join(lines) + "\n")
        what = "with a LOCALFILE" if local else "with XAXISTILT 2"
        same = equal_runs(ctx, 'slab', ['--com', param, '--quiet'], name, tolerance=0.0, output_option=("-o",))
        return f"reprojection {what}: {same}"

    return check


# ------------------------------------------------------------------------------------------------- (h) out of memory


def _host_limit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (HOST_LIMIT, HOST_LIMIT))


def out_of_memory(ctx: Context) -> str:
    stack, tlt = phantom(ctx)
    out = ctx.tmp / "oom.mrc"
    if ctx.on_gpu:  # CuPy's pool refuses more than the limit; tiltrec plans for the GPU's free memory
        argv = ctx.device("slab") + ["--alg", "sirt", "--iter", "2", "--thickness", thickness(ctx), "--quiet",
                                     stack, tlt, out]
        ctx.note(f"with CUPY_GPU_MEMORY_LIMIT={GPU_POOL_LIMIT}")
        done = ctx.run(argv, env=ctx.env(CUPY_GPU_MEMORY_LIMIT=GPU_POOL_LIMIT), check=False)
    else:  # an address-space limit the process fits in, its working arrays not
        argv = ctx.device("slab") + ["--alg", "sirt", "--iter", "2", "--thickness", "4000", "--memory", "16G",
                                     "--quiet", stack, tlt, out]
        ctx.note(f"with RLIMIT_AS = {HOST_LIMIT >> 20} MiB")
        done = ctx.run(argv, check=False, preexec_fn=_host_limit)
    errors = [line for line in done.error_lines() if ": error:" in line]
    if done.rc != 1 or len(errors) != 1 or "out of memory" not in errors[0] or "Traceback" in done.err:
        raise Failed(f"exit code {done.rc} (1 expected), {len(errors)} error line(s) (1 expected): {done.tail()}")
    if out.exists():
        raise Failed("an output was written")
    kind = "the GPU's own message" if "ran out of memory with slabs" in errors[0] else "the general message"
    return f"exit code 1 and one line ({kind}): {errors[0]}"


# ------------------------------------------------------------------------------------------------- (a) profile


def profile(ctx: Context) -> str:
    """Nsight Compute on one back_flat and one forward_flat launch: % of the device's limits (issue item 4)."""
    from benchmarks import kernel_profile

    if not ctx.on_gpu:
        raise Skipped("profiles the CUDA kernels: GPU only")
    ncu = kernel_profile.find_ncu()
    if ncu is None:
        raise Skipped("no ncu (Nsight Compute) on this machine")
    done = ctx.run(kernel_profile.argv(ncu), check=False)
    found = kernel_profile.metrics(done.out)
    if not found:
        tail = "\n".join((done.out + done.err).strip().splitlines()[-20:])
        ctx.note(f"ncu's output, last lines:\n\n```text\n{tail}\n```")
        raise Failed(f"ncu gave no metrics (exit code {done.rc}): {done.tail()}")
    ctx.note(kernel_profile.table(found))
    return kernel_profile.summary(found)


# ------------------------------------------------------------------------------------------------- (a) benchmark


def _section(markdown: str) -> str:
    """bin/bench's GPU section, its headings one level down (they sit under this report's check heading)."""
    text = markdown.split("## 6. GPU", 1)[-1].split("\n## ", 1)[0]
    return "\n".join("#" + line if line.startswith("#") else line for line in text.strip().splitlines())


def bench(ctx: Context) -> str:
    md = ctx.tmp / "bench.md"
    quick = ctx.quick or not ctx.on_gpu
    done = ctx.run([sys.executable, "-m", "benchmarks.run", "--only", "gpu", "--markdown", md, "--tmpdir", ctx.tmp,
                    *(["--quick"] if quick else [])], check=False)
    section = _section(md.read_text()) if md.exists() else ""
    if not section and ctx.on_gpu:  # cut short: what it measured is in its progress lines
        ctx.note("bin/bench's progress (stderr), last lines:\n\n```text\n"
                 + "\n".join(done.err.strip().splitlines()[-80:]) + "\n```")
    if not ctx.on_gpu:  # its figures are the cuda backend's; here only that it runs (and, without a GPU, says so)
        if done.rc != 0:
            raise Failed(f"bin/bench --only gpu --quick: exit code {done.rc}: {done.tail()}")
        said = f"; without one it says: {section.splitlines()[0]}" if section.startswith("Not measured") else ""
        raise Skipped(f"bin/bench's GPU section is measured with the cuda backend{said}")
    if section:
        ctx.note(section)
    if done.rc != 0 or not section or "FAILED" in md.read_text():
        raise Failed(f"bin/bench --only gpu: exit code {done.rc}: {done.tail()}")
    if section.startswith("Not measured"):
        raise Failed(f"bin/bench found no GPU: {section.splitlines()[0]}")
    astra = section.split("### Side by side with ASTRA", 1)[-1].strip().splitlines()
    beside = "ASTRA not measured" if astra and astra[0].startswith("Not measured") else "ASTRA beside it"
    return f"bin/bench's GPU section{' (--quick)' if quick else ''} measured, {beside}: tables in the details"


CHECKS = [
    Check("astra-geometry", "b", 60, astra_geometry),
    Check("astra-sirt", "b", 150, astra_sirt),
    *(Check(f"equal-{alg}", "c", 60, equal(alg)) for alg in ("bpt", "fbp", "wbp", "sirt", "sart", "admm")),
    Check("resume-sirt", "d", 90, resume("sirt")),
    Check("resume-admm", "d", 90, resume("admm")),
    Check("mpi-2-ranks", "e", 90, two_ranks),
    Check("managed-memory", "f", 60, managed_memory),
    Check("split-odd-even", "g", 60, split_odd_even),
    Check("pitch-sirt", "g", 60, pitch_sirt),
    Check("local-wbp", "g", 60, local_wbp),
    Check("local-sirt", "g", 90, local_sirt),
    Check("interp-imod", "g", 30, interp_imod),
    Check("reproject", "g", 30, reprojection(local=False)),
    Check("reproject-local", "g", 60, reprojection(local=True)),
    Check("out-of-memory", "h", 45, out_of_memory),
    Check("profile", "a", 120, profile),
    Check("bench", "a", 330, bench),
]
