"""filters.RowFilter on a device: padding and spectral weighting as kernels (``kernels/filter.cu``), the FFTs
through the array module's ``fft`` (cupy.fft on a GPU)."""

from __future__ import annotations

import numpy as np

from .launcher import Launcher, blocks

THREADS = 256
BATCH_ELEMENTS = 1 << 25  # padded samples per batch: 128 MiB of float32, twice that of spectra


def filter_rows(rfilter, views, xp, launcher: Launcher):
    """``rfilter.apply(views)`` for ``views`` (float32 ``(nviews, ny, nx)``) of the array module ``xp``."""
    rfilter.check_views(views.shape)
    nv, ny, nx = views.shape
    npad, nfreq = rfilter.npad, rfilter.npad // 2 + 1
    out = xp.empty((nv, ny, nx), dtype=np.float32)
    weights = xp.asarray(rfilter.weights)
    step = max(1, BATCH_ELEMENTS // max(1, ny * npad))
    for v0 in range(0, nv, step):
        v1 = min(nv, v0 + step)
        block = xp.ascontiguousarray(views[v0:v1], dtype=np.float32)
        padded = xp.empty((v1 - v0, ny, npad), dtype=np.float32)
        rows = np.int32((v1 - v0) * ny)
        launcher.launch("pad_rows", (blocks(padded.size, THREADS), 1, 1), (THREADS, 1, 1),
                        (block, padded, rows, np.int32(nx), np.int32(npad)))
        spectra = xp.fft.rfft(padded, axis=-1)
        w = weights if rfilter.nviews == 1 else weights[v0:v1]
        launcher.launch("weight_spectra", (blocks(spectra.size, THREADS), 1, 1), (THREADS, 1, 1),
                        (spectra.view(np.float32), w, np.int32(v1 - v0), np.int32(ny), np.int32(nfreq),
                         np.int32(w.shape[0])))
        out[v0:v1] = xp.fft.irfft(spectra, n=npad, axis=-1)[..., :nx]
    return out


def filter_on_gpu(rfilter, views):
    """``filter_rows`` for a CuPy array, on its device."""
    import cupy

    from .launcher import CupyLauncher

    return filter_rows(rfilter, views, cupy, CupyLauncher(cupy))
