"""Inner products of float32 volumes, accumulated in float64 (CG's step lengths and ADMM's residuals need them
exact to far more digits than float32 sums give: one sum over 10^7 voxels in float32 was off by 2e-4).

On NumPy arrays a parallel Numba kernel (``projectors.cpu_kernels.dot_rows``); on other array modules (CuPy) ``einsum`` in blocks, so that the cast to
float64 stays small.
"""

from __future__ import annotations

import math

import numpy as np

BLOCK = 1 << 22  # elements cast to float64 at a time by the einsum path


def local_dot(xp, a, b) -> float:
    """``<a, b>`` of two same-shape float32 arrays of module ``xp``, in float64 (this process's part)."""
    a2, b2 = a.reshape(-1, a.shape[-1]), b.reshape(-1, b.shape[-1])
    if xp is np:
        from ..projectors.cpu_kernels import dot_rows

        return float(dot_rows(a2, b2))
    step = max(1, BLOCK // a2.shape[1])
    return math.fsum(float(xp.einsum("ij,ij->", a2[i:i + step], b2[i:i + step], dtype=xp.float64))
                     for i in range(0, a2.shape[0], step))
