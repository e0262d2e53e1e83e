"""The memory of a run's big CPU arrays, reused from slab to slab.

On the virtual machines this was measured on, the kernel's zeroing of fresh pages took a third of a WBP's CPU time
(`perf record` of `tiltrec-mpi --alg wbp` on 1024^2 x 61 -> 256: `clear_page_erms` under the back-projection's
first writes into each new volume slab).  During a run (``recycling()``, entered by the CPU backend around its slabs)
an array of at least MIN_BYTES takes the buffer of an earlier one of the same size that nothing refers to any more,
zeroed in place; buffers of other sizes are let go.  Outside a run every array is new.
"""

from __future__ import annotations

import sys
import threading
from contextlib import contextmanager

import numpy as np

MIN_BYTES = 4 << 20

_lock = threading.Lock()
_active = 0
_buffers: list[np.ndarray] = []  # the raw buffers handed out during the run


def buffer(nbytes: int, zeroed: bool) -> np.ndarray:
    """A uint8 buffer of ``nbytes`` (zeroed, or with its values not set): during a run, a free one of that size if
    there is one."""
    if not _active or nbytes < MIN_BYTES:
        return np.zeros(nbytes, dtype=np.uint8) if zeroed else np.empty(nbytes, dtype=np.uint8)
    with _lock:
        # CPython counts references exactly: a buffer held only by the list, the comprehension's variable and
        # getrefcount's argument (3) has no array left on it (every view of it refers to it as its base)
        free = [sys.getrefcount(raw) == 3 for raw in _buffers]
        for index in range(len(_buffers)):
            if free[index] and _buffers[index].nbytes == nbytes:
                if zeroed:
                    _buffers[index].fill(0)
                return _buffers[index]
        _buffers[:] = [_buffers[index] for index in range(len(_buffers)) if not free[index]]  # other sizes: let go
        fresh = np.zeros(nbytes, dtype=np.uint8)
        _buffers.append(fresh)
        return fresh


@contextmanager
def recycling():
    """Reuse big arrays' memory until the block ends (nested blocks: until the outermost ends)."""
    global _active
    with _lock:
        _active += 1
    try:
        yield
    finally:
        with _lock:
            _active -= 1
            if not _active:
                _buffers.clear()


def aligned_zeros(shape, dtype=np.float32, align: int = 64) -> np.ndarray:
    """Zero-filled C-contiguous array whose data starts on an ``align``-byte boundary (during a run, in memory an
    earlier slab's array no longer uses)."""
    return _aligned(shape, dtype, align, zeroed=True)


def aligned_empty(shape, dtype=np.float32, align: int = 64) -> np.ndarray:
    """aligned_zeros without the zeros: for an array whose every value is written before it is read."""
    return _aligned(shape, dtype, align, zeroed=False)


def _aligned(shape, dtype, align: int, zeroed: bool) -> np.ndarray:
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape)) * dtype.itemsize
    raw = buffer(nbytes + align, zeroed)
    start = (-raw.ctypes.data) % align
    return raw[start:start + nbytes].view(dtype).reshape(shape)
