"""GPU section of bin/bench: the CUDA projector kernels (GUPS) and end-to-end WBP through ``tiltrec-cuda``.

Needs a CUDA GPU and ``tiltrec[cuda12]`` or ``tiltrec[cuda13]``; without them the section says so and measures
nothing.  Kernel times come from CUDA events around each call (best of the repeats after one warm-up call); the
end-to-end runs are fresh processes, timed from spawn to exit like section 2.
"""

from __future__ import annotations

import numpy as np

from benchmarks.procs import program, run_measured, shell_line

NVIEWS = 61


def _gpu():
    """The CuPy device, or the reason there is none."""
    try:
        from tiltrec.projectors.cuda.device import open_device

        return open_device(None, 0, 1, "tiltrec-mpi"), None
    except Exception as exc:
        return None, str(exc)


def _best_seconds(cupy, fn, repeats: int) -> float:
    fn()  # warm-up: compiles the kernels
    best = float("inf")
    for _ in range(repeats):
        start, stop = cupy.cuda.Event(), cupy.cuda.Event()
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        best = min(best, cupy.cuda.get_elapsed_time(start, stop) / 1e3)
    return best


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


def wbp_rows(tmp, write_series, n: int, thickness: int, repeats: int) -> list[list]:
    stack, tlt = write_series(tmp, n, NVIEWS)
    rows = []
    for command in ("tiltrec-cuda", "tiltrecz-cuda"):
        out = tmp / f"gpu_wbp_{n}.rec"
        argv = [program(command), "--alg", "wbp", "--thickness", str(thickness), "--quiet", "--overwrite",
                str(stack), str(tlt), str(out)]
        runs = []
        for _ in range(repeats):
            runs.append(run_measured(argv).wall)
            out.unlink(missing_ok=True)
        rows.append([f"`{shell_line(argv)}`", f"{n} x {n} x {NVIEWS}", f"{n} x {n} x {thickness}",
                     f"{min(runs):.2f}", ", ".join(f"{r:.2f}" for r in runs),
                     f"{n * n * thickness * NVIEWS / min(runs) / 1e9:.1f}"])
    return rows


def bench_gpu(quick: bool, repeats: int, tmp, write_series, table, log) -> str:
    """The GPU section's markdown."""
    device, reason = _gpu()
    if device is None:
        return f"## 6. GPU\n\nNot measured: {reason.split(';')[0]}."
    n, thickness = (1024, 256) if quick else (2048, 512)
    log(f"[gpu] {device.describe()}: kernels ...")
    kernels = kernel_rows(device, n, thickness, 128, max(3, repeats))
    log(f"[gpu] end-to-end WBP {n} ...")
    wbp = wbp_rows(tmp, write_series, n, thickness, repeats)
    return (f"## 6. GPU\n\n{device.describe()}. Kernels: `CudaProjector.back` / `.forward` on random data, best "
            f"of {max(3, repeats)} after a warm-up call, timed with CUDA events. GUPS = width x thickness x slab x "
            f"views / best seconds.\n\n"
            + table(["Operation", "Volume W x T x slab", "Views", "Pitch", "Best [ms]", "GUPS"], kernels)
            + f"\n\nEnd-to-end WBP: fresh processes, wall time from spawn to exit (reading, filtering, "
              f"back-projection, writing), output not fsynced; best of {repeats}.\n\n"
            + table(["Command", "Series", "Output", "Wall best [s]", "All runs [s]", "GUPS (wall)"], wbp))
