"""The GPU pipeline's device on the host: NumPy arrays, the emulated kernels, streams and events that do nothing
(every copy and kernel has finished when its call returns)."""

from __future__ import annotations

from contextlib import nullcontext

import numpy as np

from .emulator import EmulatedLauncher


class _Event:
    def synchronize(self) -> None:
        pass


class _Stream:
    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass

    def record(self) -> _Event:
        return _Event()

    def wait_event(self, event: _Event) -> None:
        pass


class HostDevice:
    """A device of ``free`` bytes whose memory is the host's; counts what the pipeline asked of it."""

    xp = np

    def __init__(self, free: int = 1 << 30):
        self.launcher = EmulatedLauncher()
        self.free = free
        self.uploads = self.downloads = self.host_buffers = 0
        self.managed = False

    def describe(self) -> str:
        return "the emulated GPU"

    def free_memory(self) -> int:
        return self.free

    def stream(self) -> _Stream:
        return _Stream()

    def host_buffer(self, size: int) -> np.ndarray:
        self.host_buffers += 1
        return np.empty(size, np.float32)

    def upload(self, host, device_array, stream) -> None:
        self.uploads += 1
        device_array[...] = host

    def download(self, device_array, host, stream) -> None:
        self.downloads += 1
        host[...] = device_array

    def synchronize(self) -> None:
        pass

    def managed_memory(self):
        self.managed = True
        return nullcontext()
