"""GPU section of bin/bench: the CUDA projector kernels (GUPS), end-to-end WBP through ``tiltrec-cuda``, and the
same kernels and SIRT(30) beside ASTRA's CUDA code (``benchmarks/astra_gpu.py``).

Needs a CUDA GPU and ``tiltrec[cuda12]`` or ``tiltrec[cuda13]``; without them the section says so and measures
nothing, and without a usable ASTRA (astra-toolbox with CUDA) the ASTRA part says why in one line.  Kernel times
come from CUDA events around each call (best of the repeats after one warm-up call); the end-to-end runs are fresh
processes, timed from spawn to exit like section 2.  Beside ASTRA, both sides are timed the same way: wall time of
each call between two device synchronisations (ASTRA runs on streams of its own, which CUDA events on CuPy's stream
would not see), ASTRA's in a process of its own so that its memory and any fault stay there.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.machine import sequential_write_seconds
from benchmarks.procs import program, run_measured, shell_line

NVIEWS = 61
ROOT = Path(__file__).resolve().parent.parent
SIRT_ITERATIONS = 30


def _gpu():
    """The CuPy device, or the reason there is none."""
    try:
        from tiltrec.projectors.cuda.device import open_device

        return open_device(None, 0, 1, "tiltrec-mpi"), None
    except Exception as exc:
        return None, str(exc)


def event_milliseconds(cupy, fn) -> float:
    """Milliseconds of one call of ``fn`` on the current stream, between two CUDA events."""
    start, stop = cupy.cuda.Event(), cupy.cuda.Event()
    start.record()
    fn()
    stop.record()
    stop.synchronize()
    return cupy.cuda.get_elapsed_time(start, stop)


def _best_seconds(cupy, fn, repeats: int) -> float:
    fn()  # warm-up: compiles the kernels
    return min(event_milliseconds(cupy, fn) for _ in range(repeats)) / 1e3


def kernel_rows(device, width: int, thickness: int, slab: int, repeats: int) -> list[list]:
    from tiltrec.geometry import Geometry
    from tiltrec.projectors.cuda.projector import CudaProjector

    cupy = device.xp
    rows = []
    for pitch in (0.0, 5.0):
        geom = Geometry(nx=width, ny=width, angles=np.linspace(-60, 60, NVIEWS), thickness=thickness,
                        width=width, pitch=pitch)
        y0 = width // 2 - slab // 2
        op = CudaProjector(geom, y0, y0 + slab, cupy, device.launcher)
        vol = cupy.random.random(op.vol_shape, dtype=np.float32)
        proj = cupy.random.random(op.proj_shape, dtype=np.float32)
        vol_out, proj_out = op.zeros_volume(), op.zeros_projections()
        updates = width * thickness * slab * NVIEWS
        for name, fn in (("back-projection", lambda: op.back(proj, out=vol_out)),
                         ("forward projection", lambda: op.forward(vol, out=proj_out))):
            best = _best_seconds(cupy, fn, repeats)
            rows.append([name, f"{width} x {thickness} x {slab}", NVIEWS, f"{pitch:g} deg", f"{best * 1e3:.2f}",
                         f"{updates / best / 1e9:.1f}"])
    return rows


JOB_SECONDS = re.compile(r"with WBP in ([0-9.]+) s")  # the summary line of a finished run (run_summary.py)


def wbp_rows(tmp, write_series, n: int, thickness: int, repeats: int) -> list[list]:
    """Whole-process WBP with each GPU command: wall times, and the job's own seconds from its summary line (from
    its first slab to its last write: the rest is start-up and exit); then the output's bytes written into the same
    folder, buffered and through the commands' own writer: the least that writing it costs there."""
    from tiltrec.strategies.plan import format_bytes

    stack, tlt = write_series(tmp, n, NVIEWS)
    rows = []
    for command in ("tiltrec-cuda", "tiltrecz-cuda"):
        out = tmp / f"gpu_wbp_{n}.rec"
        argv = [program(command), "--alg", "wbp", "--thickness", str(thickness), "--overwrite",
                str(stack), str(tlt), str(out)]
        runs, jobs = [], []
        for _ in range(repeats):
            r = run_measured(argv)
            runs.append(r.wall)
            jobs += [float(x) for x in JOB_SECONDS.findall(r.output)[-1:]]
            out.unlink(missing_ok=True)
        rows.append([f"`{shell_line(argv)}`", f"{n} x {n} x {NVIEWS}", f"{n} x {n} x {thickness}",
                     f"{min(runs):.2f}", ", ".join(f"{r:.2f}" for r in runs), ", ".join(f"{j:.2f}" for j in jobs),
                     f"{n * n * thickness * NVIEWS / min(runs) / 1e9:.1f}"])
    nbytes = n * n * thickness * 4
    for direct, how in ((False, "plain buffered writes"), (True, "the commands' writer, around the page cache where "
                                                                  "the file system allows")):
        # once each: at 2048 an output is 8 GiB, and on a slow disk every write takes seconds of lent GPU time
        seconds = sequential_write_seconds(tmp, nbytes, direct)
        rows.append([f"{format_bytes(nbytes)} written into the same folder: {how} (64 MiB blocks, no fsync)", "-",
                     "-", f"{seconds:.2f}", f"{seconds:.2f}", "-", "-"])
    return rows


# ------------------------------------------------------------------------------------------------- beside ASTRA


def _python_env() -> dict:
    """The environment for ``python -m benchmarks.astra_gpu``: this checkout importable from any folder."""
    path = os.environ.get("PYTHONPATH")
    return dict(os.environ, PYTHONPATH=str(ROOT) + (os.pathsep + path if path else ""))


def astra_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "benchmarks.astra_gpu", *args]


def _wall_times(device, fn, repeats: int) -> list[float]:
    """Seconds of ``fn()`` between two device synchronisations, ``repeats`` times after one warm-up call."""
    fn()
    runs = []
    for _ in range(repeats):
        device.synchronize()
        start = time.perf_counter()
        fn()
        device.synchronize()
        runs.append(time.perf_counter() - start)
    return runs


def _tiltrec_full_volume(device, width: int, thickness: int, pitch: float, repeats: int) -> dict[str, list[float]]:
    """tiltrec's kernels on the whole width x thickness x width volume (one slab), as ASTRA gets it."""
    from tiltrec.geometry import Geometry
    from tiltrec.projectors.cuda.projector import CudaProjector

    cupy = device.xp
    geom = Geometry(nx=width, ny=width, angles=np.linspace(-60, 60, NVIEWS), thickness=thickness, width=width,
                    pitch=pitch)
    arrays = {}
    try:
        op = CudaProjector(geom, 0, width, cupy, device.launcher)
        arrays.update(vol=cupy.random.random(op.vol_shape, dtype=np.float32),
                      proj=cupy.random.random(op.proj_shape, dtype=np.float32),
                      vol_out=op.zeros_volume(), proj_out=op.zeros_projections())
        a = arrays
        return {"back-projection": _wall_times(device, lambda: op.back(a["proj"], out=a["vol_out"]), repeats),
                "forward projection": _wall_times(device, lambda: op.forward(a["vol"], out=a["proj_out"]), repeats)}
    finally:
        arrays.clear()
        cupy.get_default_memory_pool().free_all_blocks()  # back to the driver: ASTRA's process needs it


def _astra_kernels(device, width: int, thickness: int, pitch: float, repeats: int, timeout: float) -> dict:
    done = subprocess.run(astra_command("kernels", "--width", str(width), "--thickness", str(thickness), "--slices",
                                        str(width), "--views", str(NVIEWS), "--pitch", f"{pitch:g}", "--repeats",
                                        str(repeats), "--device", str(device.index)),
                          capture_output=True, text=True, env=_python_env(), timeout=timeout)
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        raise RuntimeError(tail)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _failure(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:160]}" if text else type(exc).__name__


def astra_kernel_rows(device, width: int, thickness: int, repeats: int, log) -> tuple[list[list], list[str]]:
    """Back and forward projection of the whole width x thickness x width volume with 61 views, tiltrec's kernels
    and ASTRA's BP3D_CUDA / FP3D_CUDA on the same geometry: rows, and notes (how the data reached ASTRA, failures:
    a side that fails leaves "-" in its columns and the other side is still measured)."""
    rows, notes = [], []
    updates = width * thickness * width * NVIEWS
    for pitch in (0.0, 5.0):
        log(f"[gpu] beside ASTRA: kernels {width} x {thickness} x {width}, pitch {pitch:g} ...")
        times = {}
        for side, measure in (("tiltrec", lambda: _tiltrec_full_volume(device, width, thickness, pitch, repeats)),
                              ("ASTRA", lambda: _astra_kernels(device, width, thickness, pitch, repeats, 600))):
            try:
                times[side] = measure()
            except Exception as exc:
                times[side] = {}
                notes.append(f"{side}, pitch {pitch:g} deg, failed: {_failure(exc)}")
        if "data" in times["ASTRA"] and times["ASTRA"]["data"] not in notes:
            notes.insert(0, times["ASTRA"]["data"])
        for name in ("back-projection", "forward projection"):
            a, b = (statistics.median(times[side][name]) if name in times[side] else None
                    for side in ("tiltrec", "ASTRA"))
            rows.append([name, f"{width} x {thickness} x {width}", NVIEWS, f"{pitch:g} deg",
                         *(f"{t * 1e3:.1f}" if t else "-" for t in (a, b)),
                         f"{b / a:.2f}" if a and b else "-",
                         *(f"{updates / t / 1e9:.1f}" if t else "-" for t in (a, b))])
    return rows, notes


def sirt_rows(tmp, write_series, n: int, thickness: int, repeats: int, log) -> list[list]:
    """SIRT(30) as whole processes: ``tiltrec-cuda`` (defaults, and with --no-xpad: exactly the output volume, as
    ASTRA computes it) against ASTRA's SIRT3D_CUDA job (benchmarks/astra_gpu.py: reads the same MRC and .tlt,
    writes an MRC), in alternating rounds; medians."""
    stack, tlt = write_series(tmp, n, NVIEWS)
    common = ["--iter", str(SIRT_ITERATIONS), "--thickness", str(thickness)]
    tiltrec = [program("tiltrec-cuda"), "--alg", "sirt", *common, "--quiet", "--overwrite"]
    outs = [tmp / f"sirt_{i}.mrc" for i in range(3)]
    jobs = {"tiltrec": [*tiltrec, str(stack), str(tlt), str(outs[0])],
            "tiltrec --no-xpad": [*tiltrec, "--no-xpad", str(stack), str(tlt), str(outs[1])],
            "ASTRA": astra_command("sirt", str(stack), str(tlt), str(outs[2]), *common)}
    runs, failed = {name: [] for name in jobs}, {}
    env = _python_env()
    for round_ in range(repeats):
        for (name, argv), out in zip(jobs.items(), outs):
            if name in failed:  # a job that failed once is not run again; the others go on
                continue
            log(f"[gpu] SIRT({SIRT_ITERATIONS}) {n}: {name}, round {round_ + 1} ...")
            r = run_measured(argv, env=env, check=False)
            if r.returncode != 0:
                tail = (r.output.strip().splitlines() or [""])[-1][:160]
                failed[name] = f"failed (exit code {r.returncode}): {tail}"
            else:
                runs[name].append(r.wall)
            out.unlink(missing_ok=True)
    astra_median = statistics.median(runs["ASTRA"]) if runs["ASTRA"] else None
    rows = []
    for name, argv in jobs.items():
        median = statistics.median(runs[name]) if name not in failed else None
        rows.append([f"`{shell_line(argv)}`", f"{n} x {n} x {NVIEWS}", f"{n} x {n} x {thickness}",
                     failed[name] if name in failed else f"{median:.2f}",
                     ", ".join(f"{r:.2f}" for r in runs[name]) or "-",
                     f"{astra_median / median:.2f}" if name != "ASTRA" and median and astra_median else "-"])
    return rows


def astra_section(device, quick: bool, repeats: int, tmp, write_series, table, log) -> str:
    """The side-by-side part's markdown: kernels and SIRT(30) against ASTRA, or one line why not.  A part that
    fails says so in its place; the other is still measured."""
    from benchmarks.astra_gpu import available

    reason = available()
    if reason:
        return f"### Side by side with ASTRA\n\nNot measured: {reason}."
    import astra

    kernels, notes = [], []
    for width, thickness in ((1024, 256),) if quick else ((1024, 256), (2048, 512)):  # the smaller first: it
        rows, found = astra_kernel_rows(device, width, thickness, max(3, repeats), log)  # stands if the big one fails
        kernels += rows
        notes += [note for note in found if note not in notes]
    for row in kernels:
        log(f"[gpu] {row[0]}, pitch {row[3]}: tiltrec {row[4]} ms, ASTRA {row[5]} ms, ratio {row[6]}")
    n, sirt_thickness = (512, 128) if quick else (1024, 256)
    try:
        sirt = table(["Command", "Series", "Output", "Wall median [s]", "All runs [s]", "Ratio"],
                     sirt_rows(tmp, write_series, n, sirt_thickness, repeats, log))
        log(f"[gpu] SIRT({SIRT_ITERATIONS}):\n{sirt}")
    except Exception as exc:
        sirt = f"Not measured: {_failure(exc)}"
    return (f"### Side by side with ASTRA\n\nASTRA {astra.__version__} on the same GPU, on tiltrec's geometry "
            f"(`benchmarks/astra_gpu.py`: `parallel3d_vec` vectors on tiltrec's voxel grid and detector pixels). "
            f"Kernels on the whole volume (width x thickness x slices, one slab), random data already on the GPU, "
            f"median of {max(3, repeats)} calls after a warm-up call, each call timed between two device "
            f"synchronisations; not timed: allocating the arrays, creating ASTRA's data objects and algorithm. "
            f"ASTRA: BP3D_CUDA and FP3D_CUDA in a process of their own; {'; '.join(notes) or 'no notes'}. tiltrec: "
            f"`CudaProjector(geom, 0, slices).back` / `.forward`. The operators differ: ASTRA's forward projection "
            f"is ray-driven, tiltrec's the exact transpose of its back-projection. Ratio = ASTRA time / tiltrec "
            f"time (> 1: tiltrec is faster).\n\n"
            + table(["Operation", "Volume W x T x slices", "Views", "Pitch", "tiltrec [ms]", "ASTRA [ms]",
                     "Ratio", "tiltrec GUPS", "ASTRA GUPS"], kernels)
            + f"\n\nSIRT({SIRT_ITERATIONS}) as whole processes (start-up, reading the MRC series and its .tlt, "
              f"the reconstruction, writing the MRC volume), wall time from spawn to exit, in {repeats} alternating "
              f"round(s), medians. tiltrec pads X by default (it reconstructs a wider volume than the output); "
              f"with `--no-xpad` it computes exactly the output volume, as ASTRA does. ASTRA's job keeps the data "
              f"in its own host-side objects, as its Python interface is used. Ratio = ASTRA median / this "
              f"median.\n\n" + sirt)


def bench_gpu(quick: bool, repeats: int, tmp, write_series, table, log) -> str:
    """The GPU section's markdown."""
    device, reason = _gpu()
    if device is None:
        return f"## 6. GPU\n\nNot measured: {reason.split(';')[0]}."
    n, thickness = (1024, 256) if quick else (2048, 512)
    log(f"[gpu] {device.describe()}: kernels ...")
    kernels = table(["Operation", "Volume W x T x slab", "Views", "Pitch", "Best [ms]", "GUPS"],
                    kernel_rows(device, n, thickness, 128, max(3, repeats)))
    log(f"[gpu] kernels:\n{kernels}\n[gpu] end-to-end WBP {n} ...")  # on stderr too: a run cut short keeps them
    wbp = table(["Command", "Series", "Output", "Wall best [s]", "All runs [s]", "Job [s] (summary line)",
                 "GUPS (wall)"],
                wbp_rows(tmp, write_series, n, thickness, repeats))
    log(f"[gpu] end-to-end WBP:\n{wbp}")
    beside = astra_section(device, quick, repeats, tmp, write_series, table, log)
    return (f"## 6. GPU\n\n{device.describe()}. Kernels: `CudaProjector.back` / `.forward` on random data, best "
            f"of {max(3, repeats)} after a warm-up call, timed with CUDA events. GUPS = width x thickness x slab x "
            f"views / best seconds.\n\n" + kernels
            + f"\n\nEnd-to-end WBP: fresh processes, wall time from spawn to exit (reading, filtering, "
              f"back-projection, writing), output not fsynced; best of {repeats}. Job: the seconds the run's summary "
              f"line gives (from its first slab to its last write; the rest of the wall time is start-up and "
              f"exit). Last rows: the output's bytes written into the same folder with plain buffered writes and "
              f"with the commands' own writer (O_DIRECT where the file system allows), what the write costs there "
              f"at the least.\n\n" + wbp + "\n\n" + beside)
