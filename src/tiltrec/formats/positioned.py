"""Rows of the views of a raw image stack, read with positioned reads.

Not through a memory map: a map's pages are read in as they are touched, and when the file shrinks under the map
(truncated, or on a network file system that went away) the first missing page kills the process with SIGBUS,
leaving its temporary files and no word of why.  A read returns fewer bytes instead, which becomes an error naming
the file and the view.  Positioned reads share no file offset, so several threads may read at once
(inputs.stack_stats does), and a read goes straight into the caller's array when no conversion is needed.
"""

from __future__ import annotations

import os
import threading

import numpy as np

_LARGEST_READ = 1 << 30  # bytes per call: Linux reads at most about 2 GiB at once


class ShortRead(OSError):
    """The file ended before the bytes asked for."""


class ViewRows:
    """The views of ``path``: ``shape`` (views, rows, columns) of ``dtype``, stored from byte ``offset`` on."""

    def __init__(self, path, offset: int, shape: tuple[int, int, int], dtype: np.dtype):
        self._fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        self._offset = offset
        self._rows, self._columns = shape[1:]
        self._dtype = np.dtype(dtype)
        self._buffers = threading.local()  # several threads may read at once

    def fill(self, view: int, rows: slice, out: np.ndarray) -> None:
        """Store rows ``rows`` of view ``view`` (0-based) in ``out`` (rows x columns), converted to its type."""
        row_bytes = self._columns * self._dtype.itemsize
        start = self._offset + (view * self._rows + rows.start) * row_bytes
        if out.dtype == self._dtype and out.flags.c_contiguous:  # float32 on this machine's byte order: no copy
            self._read(out.reshape(-1).view(np.uint8), start)
            return
        stored = self._buffer(out.size)
        self._read(stored.view(np.uint8), start)
        out[...] = stored.reshape(out.shape)

    def _buffer(self, count: int) -> np.ndarray:
        """This thread's buffer for ``count`` stored values, kept from read to read: a new one per view would be
        allocated and paged in every time."""
        buffer = getattr(self._buffers, "array", None)
        if buffer is None or buffer.size < count:
            buffer = self._buffers.array = np.empty(count, self._dtype)
        return buffer[:count]

    def _read(self, buffer: np.ndarray, offset: int) -> None:
        done = 0
        while done < buffer.size:
            count = _pread_into(self._fd, buffer[done:done + _LARGEST_READ], offset + done)
            if count == 0:
                raise ShortRead(f"the file ended {buffer.size - done} bytes early: it was truncated, or its file "
                                f"system went away, while it was being read")
            done += count

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _pread_into(fd: int, buffer: np.ndarray, offset: int) -> int:
    """Read into ``buffer`` from ``offset``; the number of bytes read (0 at the end of the file)."""
    if hasattr(os, "preadv"):
        return os.preadv(fd, [buffer], offset)
    data = os.pread(fd, buffer.size, offset)  # (systems without preadv: one copy more)
    buffer[:len(data)] = np.frombuffer(data, np.uint8)
    return len(data)
