"""SIRT's and SART's element-wise steps on the CPU, compiled (elementwise.c), over flat float32 arrays:

- ``weighted_residual``: ``projected <- (measured - projected) * weight``;
- ``add_weighted``: ``x <- x + update * weight``, then ``max(x, 0)`` with ``positivity``;
- ``scale_add``: ``x <- x * scale + add`` (WBP's output scale), two float32 roundings as NumPy's two passes;
- ``log10_of_sum``: ``x <- log10(max(x + add, floor))`` (IMOD's LOG of the views);
- ``ten_to_the``: ``x <- 10 ** (x + shift) - subtract`` (its inverse, for reprojections);

the last two by the C library's log10f and powf, as IMOD's tilt computes them, on every CPU (NumPy's float32
log10 and power are its own SIMD approximations on CPUs with AVX-512).

Each value is computed on its own, so the results do not depend on the threads (cpu_threads)."""

from __future__ import annotations

import ctypes

import numpy as np

from .. import cpu_threads
from . import _elementwise

_LIB = ctypes.CDLL(_elementwise.__file__)
_PTR, _LONG, _INT = ctypes.c_void_p, ctypes.c_long, ctypes.c_int
_LIB.weighted_residual.argtypes = [_PTR, _PTR, _PTR, _LONG, _INT]
_LIB.weighted_residual.restype = None
_LIB.add_weighted.argtypes = [_PTR, _PTR, _PTR, _LONG, _INT, _INT]
_LIB.add_weighted.restype = None
_LIB.scale_add.argtypes = [_PTR, ctypes.c_float, ctypes.c_float, _LONG, _INT]
_LIB.scale_add.restype = None
_LIB.log10_of_sum.argtypes = _LIB.ten_to_the.argtypes = [_PTR, ctypes.c_float, ctypes.c_float, _LONG, _INT]
_LIB.log10_of_sum.restype = _LIB.ten_to_the.restype = None


def _checked(*arrays: np.ndarray) -> int:
    n = arrays[0].size
    for a in arrays:
        if a.dtype != np.float32 or not a.flags.c_contiguous or a.size != n:
            raise ValueError(f"element-wise step: C-contiguous float32 arrays of {n} values, got {a.dtype} "
                             f"{a.shape}")
    return n


def weighted_residual(measured: np.ndarray, projected: np.ndarray, weight: np.ndarray) -> None:
    n = _checked(measured, projected, weight)
    if not projected.flags.writeable:
        raise ValueError("weighted_residual: the projections are read-only")
    _LIB.weighted_residual(measured.ctypes.data, projected.ctypes.data, weight.ctypes.data, n, cpu_threads.threads())


def add_weighted(x: np.ndarray, update: np.ndarray, weight: np.ndarray, positivity: bool) -> None:
    n = _checked(x, update, weight)
    if not x.flags.writeable:
        raise ValueError("add_weighted: the volume is read-only")
    _LIB.add_weighted(x.ctypes.data, update.ctypes.data, weight.ctypes.data, n, int(bool(positivity)),
                      cpu_threads.threads())


def scale_add(x: np.ndarray, scale: float, add: float) -> None:
    n = _checked(x)
    if not x.flags.writeable:
        raise ValueError("scale_add: the volume is read-only")
    _LIB.scale_add(x.ctypes.data, np.float32(scale), np.float32(add), n, cpu_threads.threads())


def log10_of_sum(x: np.ndarray, add: float, floor: float) -> None:
    n = _checked(x)
    if not x.flags.writeable:
        raise ValueError("log10_of_sum: the values are read-only")
    _LIB.log10_of_sum(x.ctypes.data, np.float32(add), np.float32(floor), n, cpu_threads.threads())


def ten_to_the(x: np.ndarray, shift: float, subtract: float) -> None:
    n = _checked(x)
    if not x.flags.writeable:
        raise ValueError("ten_to_the: the values are read-only")
    _LIB.ten_to_the(x.ctypes.data, np.float32(shift), np.float32(subtract), n, cpu_threads.threads())
