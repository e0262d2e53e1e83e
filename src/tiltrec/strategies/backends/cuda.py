"""The CUDA backend: slabs computed on a GPU, with reading, uploading, computing, downloading and writing
overlapped.

Per slab, in issue order: the compute stream runs the algorithm on the slab's rows (already on the device) and
puts the result into the file's order and stored type, with its statistics; the download stream copies it into
a page-locked host buffer as soon as it is ready, and a writer thread writes it to disk once the copy is done;
meanwhile the next slab's rows are read from disk (strategies.driver) and the upload stream copies them into the
second device buffer.  So the GPU waits for the disk only when reading or writing one slab takes longer than
computing one.

The device is a parameter (``Device``): CuPy on a GPU (``projectors.cuda.device``); NumPy with the CPU emulation
of the kernels in the tests, where streams and events do nothing and copies happen at once.
"""

from __future__ import annotations

import queue
import threading
import warnings
from contextlib import contextmanager, nullcontext, suppress
from typing import Protocol

import numpy as np

from ...algorithms.footprint import BYTES
from ...errors import InputError, TiltrecError
from ...projectors.cuda.file_order import STATS_BYTES, block_stats, stored_block
from ...projectors.cuda.launcher import Launcher
from ...projectors.cuda.projector import CudaProjector
from ..plan import Budget, PlanTooLarge, Slab, SlabPlan, Workload, available_memory, format_bytes
from .base import Crop, Traffic
from ...options.spelling import spelled

_STATS = 8  # float64 statistics of a result block (file_order.stored_block)
_STATS_FLOATS = 16  # a pinned result buffer starts with them, in 64 bytes (the data after stay 64-byte aligned)


class Device(Protocol):
    """What the pipeline needs from an accelerator (CuPy's stream and event API)."""

    xp: object  # array module
    launcher: Launcher

    def describe(self) -> str: ...
    def free_memory(self) -> int: ...
    def stream(self): ...  # a context manager making it current, with record() -> event and wait_event(event)
    def host_buffer(self, size: int) -> np.ndarray: ...
    def upload(self, host, device_array, stream) -> None: ...
    def download(self, device_array, host, stream) -> None: ...
    def synchronize(self) -> None: ...
    def managed_memory(self): ...  # context manager


class CudaBackend:
    name = "cuda"
    # 2048 x 512 x 32 voxels fill a GPU, and smaller slabs start the overlap sooner and pin less host memory
    # (tiltrec-cuda WBP 2048^2 -> 512 on an H100: 4.60-4.82 s with 32, 4.85-4.87 s with 64, 5.25-5.51 s with 128)
    slab_cap = 32

    def __init__(self, device: Device):
        self.device = device
        self.xp = device.xp

    def budget(self, memory: int | None, local_size: int) -> Budget:
        """The GPU's free memory (at most ``memory``), and half the available RAM shared among the node's ranks for
        the pinned buffers."""
        free = self.device.free_memory()
        return Budget(min(memory, free) if memory else free, available_memory() // 2 // local_size)

    @staticmethod
    def _per_slice(work: Workload) -> tuple[int, int]:
        """Bytes per computed slice on the device: the algorithm's working arrays, two row buffers and the result
        being downloaded (float32, in the stored type if that differs, and its statistics); and on the host: two
        pinned row buffers and two result buffers per output volume."""
        g = work.geometry
        rows, result = g.nviews * g.nx, g.thickness * g.width
        stored = work.stored_bytes
        on_device = (work.footprint.per_slice(work.computed) + BYTES * (2 * rows + result)
                     + (stored != BYTES) * stored * result + STATS_BYTES * g.thickness)
        return on_device, BYTES * 2 * (rows + work.outputs * result)

    def plan(self, work: Workload, budget: Budget) -> SlabPlan:
        on_device, on_host = self._per_slice(work)
        if work.unified:
            need = on_device * (work.share + 2 * work.halo)
            if need > budget.memory and need + on_host * work.share > budget.host:
                raise InputError(f"the whole volume needs about {format_bytes(need)} per rank, more than the GPU "
                                 f"({format_bytes(budget.memory)}) and the host ({format_bytes(budget.host)}) can "
                                 f"hold: use the slice-based command (tiltrec-cuda)")
            return SlabPlan(work.slabs(work.share), need > budget.memory, budget.memory)
        height = work.height(budget.memory, on_device, self.slab_cap)
        height = min(height, max(1, budget.host // on_host - 2 * work.halo))
        return SlabPlan(work.slabs(height), False, budget.memory)

    def fit(self, work: Workload, slabs: tuple[Slab, ...], budget: Budget) -> SlabPlan:
        on_device, on_host = self._per_slice(work)
        need = on_device * max(s.c1 - s.c0 for s in slabs)
        tallest = max(s.y1 - s.y0 for s in slabs)
        if work.unified:  # the whole share on the GPU, or paged through managed memory
            if need > budget.memory and need + on_host * tallest > budget.host:
                raise PlanTooLarge(need + on_host * tallest, budget.memory + budget.host, "the GPU and the host",
                                   "more free GPU memory or RAM")
            return SlabPlan(tuple(slabs), need > budget.memory, budget.memory)
        if need > budget.memory:
            raise PlanTooLarge(need, budget.memory, "the GPU", f"more free GPU memory (or {spelled('memory')})")
        if tallest > max(1, budget.host // on_host - 2 * work.halo):
            raise PlanTooLarge(on_host * (tallest + 2 * work.halo), budget.host, "the host", "more available RAM")
        return SlabPlan(tuple(slabs), False, budget.memory)

    def projector(self, geom, slab: Slab):
        return CudaProjector(geom, slab.c0, slab.c1, self.xp, self.device.launcher)

    def start_volume(self, op, fill):
        x0 = np.zeros(op.vol_shape, np.float32)
        fill(x0)
        return self.xp.asarray(x0)

    @contextmanager
    def running(self, plan: SlabPlan):
        device = self.device
        if plan.managed:
            warnings.warn(f"the whole volume does not fit on {device.describe()} ({format_bytes(plan.budget)} "
                          f"usable): using CUDA managed memory, paged between host and GPU (slower; tiltrec-cuda "
                          f"works in slabs)")
        try:
            with device.managed_memory() if plan.managed else nullcontext():
                yield
        except Exception as exc:
            if type(exc).__name__ != "OutOfMemoryError":  # CuPy's, from any allocation on the device
                raise
            height = plan.tallest()
            half = format_bytes(plan.budget // 2).replace(" ", "")
            raise TiltrecError(f"{device.describe()} ran out of memory with slabs of {height} slices (planned for "
                               f"{format_bytes(plan.budget)}); try {spelled('memory')} {half} for slabs of about "
                               f"{max(1, height // 2)}") from None

    @contextmanager
    def pipeline(self, traffic: Traffic):
        device = self.device
        # one slab: nothing to overlap, so plain host memory (pinning a whole volume costs time and locked RAM)
        overlap = traffic.slabs > 1
        host_buffer = device.host_buffer if overlap else (lambda n: np.empty(n, np.float32))
        uploads = _Uploads(device, traffic.rows, host_buffer)
        writer = _Writer(host_buffer, traffic.result, traffic.outputs * (2 if overlap else 1))
        failed = True
        try:
            yield _CudaPipeline(device, uploads, writer)
            device.synchronize()
            failed = False
        finally:
            if failed:
                with suppress(Exception):  # a failed device may fail again; the first error is the one to report
                    device.synchronize()  # nothing in flight may touch memory that is about to be freed
            writer.close(failed)


class _CudaPipeline:
    """Uploads on one stream, the algorithm on another, downloads on a third; the writer thread writes."""

    def __init__(self, device: Device, uploads: "_Uploads", writer: "_Writer"):
        self.device, self.uploads, self.writer = device, uploads, writer
        self.compute, self.download = device.stream(), device.stream()
        self.slot = None

    def receive(self, rows: np.ndarray):
        self.slot = self.uploads.put(rows)
        return self.slot.rows

    @contextmanager
    def computing(self):
        slot = self.slot
        self.compute.wait_event(slot.uploaded)
        with self.compute:
            yield
        slot.released = self.compute.record()

    def write(self, writer, y0: int, vol, crop: Crop) -> None:
        block, stats = stored_block(writer, vol, crop.x0, crop.y0, crop.width, crop.height, self.device.xp,
                                    self.device.launcher)
        ready = self.compute.record()
        buffer = self.writer.buffer()
        host_stats, host_block = _result_views(buffer, block)
        self.download.wait_event(ready)
        with self.download:
            self.device.download(block, host_block, self.download)
            self.device.download(stats, host_stats, self.download)
        self.writer.put(writer, y0, buffer, host_block, host_stats, self.download.record(), keep=(block, stats))

    def flush(self) -> None:
        self.writer.drain()


class _Uploads:
    """Rows to the device, slab after slab, through two pinned buffers and two device buffers: one pair is being
    filled while the algorithm runs on the other."""

    def __init__(self, device: Device, size: int, host_buffer):
        self.device = device
        self.stream = device.stream()
        self.slots = [_Slot(host_buffer(size), device.xp.empty(size, dtype=np.float32)) for _ in range(2)]
        self.count = 0

    def put(self, rows: np.ndarray) -> "_Slot":
        slot = self.slots[self.count % 2]
        self.count += 1
        if slot.uploaded is not None:
            slot.uploaded.synchronize()  # the pinned buffer's previous copy has left
        host = _view(slot.host, rows.shape)
        host[...] = rows
        if slot.released is not None:
            self.stream.wait_event(slot.released)  # the algorithm is done with the device buffer
        slot.rows = _view(slot.device, rows.shape)
        self.device.upload(host, slot.rows, self.stream)
        slot.uploaded = self.stream.record()
        return slot


class _Slot:
    def __init__(self, host, device):
        self.host, self.device = host, device
        self.rows = None
        self.uploaded = self.released = None  # events


class _Writer:
    """A thread that writes downloaded slabs once their copy has finished, with a pool of pinned buffers (each
    with room for ``size`` float32 values and, before them, the four float64 statistics).  The thread allocates
    the pool first, while the first slab is read and computed (pinning the pool and the row buffers of a 2048^2
    WBP in slabs of 128 slices, 1.1 GiB, took 0.74-1.08 s on H100 hosts)."""

    def __init__(self, host_buffer, size: int, count: int):
        self.free: queue.Queue = queue.Queue()
        self.work: queue.Queue = queue.Queue()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._loop, args=(host_buffer, _STATS_FLOATS + size, count),
                                       name="tiltrec-writer", daemon=True)
        self.thread.start()

    def buffer(self) -> np.ndarray:
        """A free pinned buffer (waits while the thread still writes from all of them)."""
        while True:
            self._raise()
            try:
                return self.free.get(timeout=0.1)
            except queue.Empty:
                continue

    def put(self, writer, y0: int, buffer: np.ndarray, block: np.ndarray, stats: np.ndarray, copied, keep) -> None:
        """Write ``block`` with ``writer.write_stored(y0, ...)`` once the event ``copied`` has passed (it and
        ``stats`` are views of the pool's ``buffer``); ``keep`` (the device arrays being copied) lives until then."""
        self._raise()
        self.work.put((writer, y0, buffer, block, stats, copied, keep))

    def drain(self) -> None:
        """Wait until every slab handed over so far is written."""
        self.work.join()
        self._raise()

    def close(self, failed: bool) -> None:
        if failed:
            self.error = self.error or RuntimeError("stopped")
        self.work.put(None)
        self.thread.join()
        if not failed:
            self._raise()

    def _raise(self) -> None:
        if self.error is not None:
            raise self.error

    def _loop(self, host_buffer, size: int, count: int) -> None:
        try:
            for _ in range(count):
                self.free.put(host_buffer(size))
        except BaseException as exc:  # reported to the main thread when it asks for a buffer
            self.error = exc
        while (item := self.work.get()) is not None:
            writer, y0, buffer, block, stats, copied, keep = item
            del item
            try:
                copied.synchronize()
                del keep  # the copy is done: the device arrays may go back to CuPy's pool
                if self.error is None:
                    writer.write_stored(y0, block, block_stats(block.size, stats))
            except BaseException as exc:  # reported to the main thread at its next call
                self.error = self.error or exc
            self.free.put(buffer)
            self.work.task_done()


def _view(buffer: np.ndarray, shape) -> np.ndarray:
    """The start of a flat buffer as an array of ``shape``."""
    return buffer[:int(np.prod(shape))].reshape(shape)


def _result_views(buffer: np.ndarray, block) -> tuple[np.ndarray, np.ndarray]:
    """A result buffer's statistics, and after them a host array of ``block``'s shape and type."""
    data = buffer[_STATS_FLOATS:].view(np.uint8)[:block.size * block.dtype.itemsize]
    return buffer[:_STATS_FLOATS].view(np.float64)[:_STATS], data.view(block.dtype).reshape(block.shape)
