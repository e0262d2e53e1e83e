"""The machine's own limits for the projector's work, measured with the same compiler (Numba) and threads.

- FMA peak: independent fused multiply-adds on registers, all threads.
- Interpolation ceiling: the projector's innermost update ``v[y] += a + f * (b - a)`` on rows that stay in L1,
  all threads: no projector can do better per core than this loop.
- Memory bandwidth: a parallel triad over arrays far larger than the caches.
"""

from __future__ import annotations

import subprocess
import sysconfig
import tempfile
import time
from pathlib import Path

import numpy as np
from numba import njit, prange

# floats per row of the interpolation loop: long enough that a pass does not wait for the previous pass's stores to
# the same addresses (64 floats measured that latency, 2.5x below the throughput), short enough that the three rows
# of a thread (12 KiB) stay in L1
LANES = 1024


@njit(parallel=True, fastmath=True, cache=True)
def _fma(n_iter, nthreads, m, c):
    # m and c are arguments: as compile-time constants, LLVM folded the whole loop away (a constant time for any
    # n_iter with Numba 0.68 on an AVX-512 machine)
    out = np.zeros(nthreads)
    for t in prange(nthreads):
        acc = np.arange(64).astype(np.float32) * np.float32(1e-3)
        for _ in range(n_iter):
            for k in range(64):
                acc[k] = acc[k] * m + c
        out[t] = acc.sum()
    return out


@njit(parallel=True, fastmath=True, cache=True, boundscheck=False)
def _lerp(rows, n, reps):
    for t in prange(rows.shape[0]):
        f = np.float32(0.25)
        for _ in range(reps):
            for y in range(n):
                a = rows[t, 0, y]
                rows[t, 2, y] += a + f * (rows[t, 1, y] - a)
            f = f * np.float32(0.5) + np.float32(0.1)


@njit(parallel=True, fastmath=True, cache=True)
def _triad(a, b, c, s):
    for i in prange(a.size):
        a[i] = b[i] + s * c[i]


def best_of(fn, repeats: int, warmup: int = 1) -> list[float]:
    """Wall seconds of ``repeats`` calls of ``fn`` after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return times


def _best(fn) -> float:
    return min(best_of(fn, 3))


def measure(threads: int) -> dict:
    """FMA GFLOP/s, interpolation-loop GUPS and triad GB/s with ``threads`` threads."""
    n_iter = 2_000_000
    fma_s = _best(lambda: _fma(n_iter, threads, np.float32(0.999999), np.float32(1e-6)))
    rows = np.zeros((threads, 3, LANES + 16), np.float32)  # 64 bytes of padding: no cache line shared by threads
    reps = 125_000
    lerp_s = _best(lambda: _lerp(rows, LANES, reps))
    n = 1 << 26
    a, b, c = (np.ones(n, np.float32) for _ in range(3))
    triad_s = _best(lambda: _triad(a, b, c, np.float32(0.5)))
    return {
        "fma_gflops": 2 * 64 * n_iter * threads / fma_s / 1e9,
        "lerp_gups": LANES * reps * threads / lerp_s / 1e9,
        "triad_gbs": 3 * 4 * n / triad_s / 1e9,
    }


BACK_LOOP = Path(__file__).with_name("back_loop.c")


def back_loop(threads: int, seconds: float = 0.3) -> dict:
    """Build back_loop.c for this CPU (-march=native) and run it on ``threads`` threads: ``{"fma_gflops": G,
    "loops": [(floats per vector, chunk values, GUPS), ...]}``.

    Raises:
        RuntimeError: no C compiler with OpenMP, or the program failed (the message says which).
    """
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    with tempfile.TemporaryDirectory() as folder:
        exe = Path(folder) / "back_loop"
        build = [compiler, "-O3", "-march=native", "-ffp-contract=fast", "-fopenmp", str(BACK_LOOP), "-o", str(exe)]
        try:
            subprocess.run(build, check=True, capture_output=True, text=True, timeout=120)
            run = subprocess.run([str(exe), str(threads), str(seconds)], check=True, capture_output=True, text=True,
                                 timeout=600)
        except (OSError, subprocess.SubprocessError) as error:
            detail = getattr(error, "stderr", "") or ""
            raise RuntimeError(f"back_loop.c: {error} {detail.strip()[:200]}".strip()) from error
    result = {"loops": []}
    for line in run.stdout.splitlines():
        word, *values = line.split()
        if word == "fma_gflops":
            result["fma_gflops"] = float(values[0])
        elif word == "loop":
            result["loops"].append((int(values[0]), int(values[1]), float(values[2])))
    return result
