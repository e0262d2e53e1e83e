"""How many threads the CPU kernels use: one number per process, set by the CPU backend, read by the compiled
kernels (they take it as an argument) and given to Numba when Numba is loaded.  Neither reading nor setting it
imports Numba: the compiled paths (flat and local projectors, IMOD's interpolation, element-wise steps, storing)
run without it, and its import and first call cost a run 0.6-0.7 s."""

from __future__ import annotations

import os
import sys

_threads: int | None = None


def available() -> int:
    """The most threads a kernel may use: NUMBA_NUM_THREADS when set (Numba's own limit), else the CPUs this
    process may run on."""
    chosen = os.environ.get("NUMBA_NUM_THREADS", "").strip()
    if chosen.isdigit() and int(chosen) > 0:
        return int(chosen)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def set_threads(n: int | None) -> int:
    """Use ``n`` threads (default: all available; at most that); returns the number in effect."""
    global _threads
    _threads = max(1, min(available(), n or available()))
    give_numba()
    return _threads


def threads() -> int:
    """The number of threads in effect (all available until set)."""
    return _threads or available()


def give_numba() -> None:
    """Numba's thread count made this module's, if Numba is loaded (the modules of Numba kernels call it on
    import, so the order of loading and setting does not matter)."""
    numba = sys.modules.get("numba")
    if numba is not None and _threads is not None:
        numba.set_num_threads(min(_threads, numba.config.NUMBA_NUM_THREADS))
