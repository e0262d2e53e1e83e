"""Run a reconstruction on a GPU: slabs sized from the device's memory, and reading, uploading, computing,
downloading and writing overlapped.

Per slab, in issue order: the compute stream runs the algorithm on the slab's rows (already on the device) and
puts the result into the file's order and stored type, with its statistics; the download stream copies it into
a page-locked host buffer as soon as it is ready, and a writer thread writes it to disk once the copy is done;
meanwhile the main thread reads the next slab's rows from disk and the upload stream copies them into the second
device buffer.  So the GPU waits for the disk only when reading or writing one slab takes longer than computing one.

The device is a parameter (``Device``): CuPy on a GPU (``projectors.cuda.device``); NumPy with the CPU emulation
of the kernels in the tests, where streams and events do nothing and copies happen at once.
"""

from __future__ import annotations

import queue
import threading
import time
import warnings
from contextlib import nullcontext, suppress
from typing import Protocol

import numpy as np

from ..algorithms import ALGORITHMS
from ..errors import InputError, TiltrecError
from ..formats.writer import stored_dtype
from ..interrupts import raise_if_signalled
from ..projectors.cuda.file_order import STATS_BYTES, block_stats, stored_block
from ..projectors.cuda.launcher import Launcher
from ..projectors.cuda.projector import CudaProjector
from .plan import BYTES, Slab, available_memory, format_bytes, plan_slabs, slab_height
from .run import Job, Session, compute_geometry, figures, initial_slab

# slices per slab when slices are independent: 2048 x 512 x 32 voxels fill a GPU, and smaller slabs start the
# overlap sooner and pin less host memory (tiltrec-cuda WBP 2048^2 -> 512 on an H100: 4.60-4.82 s with 32,
# 4.85-4.87 s with 64, 5.25-5.51 s with 128)
SLAB = 32
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


def device_plan(job: Job, geom, budget: int, host: int) -> tuple[list[Slab], bool]:
    """Slabs for the device budget (bytes) and host memory, and whether the unified strategy needs managed memory.

    Per computed slice the device holds the algorithm's working arrays, two row buffers and the result being
    downloaded (float32, in the stored type if that differs, and its statistics); the host holds two pinned row
    buffers and two result buffers per target.
    """
    g = job.geometry
    first, stop = g.slices
    alg = ALGORITHMS[job.algorithm]
    halo = g.pitch_halo() if alg.iterative else 0
    rows, result = g.nviews * g.nx, g.thickness * g.width
    stored = stored_dtype(job.targets[0].writer.mode).itemsize
    on_device = (alg.footprint.per_slice(geom) + BYTES * (2 * rows + result) + (stored != BYTES) * stored * result
                 + STATS_BYTES * g.thickness)
    on_host = BYTES * 2 * (rows + len(job.targets) * result)
    share = -(-g.nslices // job.world.size)
    if job.unified:
        need = on_device * (share + 2 * halo)
        if need <= budget:
            return plan_slabs(first, stop, share, halo, g.ny), False
        if need + on_host * share > host:
            raise InputError(f"the whole volume needs about {format_bytes(need)} per rank, more than the GPU "
                             f"({format_bytes(budget)}) and the host ({format_bytes(host)}) can hold: use the "
                             f"slice-based command (tiltrec-cuda)")
        return plan_slabs(first, stop, share, halo, g.ny), True
    coupled = alg.iterative and halo > 0
    height = slab_height(budget, on_device, halo, g.nslices, None if coupled else min(SLAB, share))
    height = min(height, max(1, host // on_host - 2 * halo))
    return plan_slabs(first, stop, height, halo, g.ny), False


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


def run_on_device(job: Job) -> dict:
    """Reconstruct the job's volumes on ``job.device``; returns timing figures like ``run.run``."""
    device = job.device
    alg = ALGORITHMS[job.algorithm]
    subsets = [(t, compute_geometry(job, job.geometry.with_views(t.views))) for t in job.targets]
    budget = min(job.world.allgather(min(job.memory, device.free_memory())))  # every rank plans the same slabs
    host = available_memory() // 2 // job.world.local_size
    everyone, managed = device_plan(job, subsets[0][1], budget, host)
    if managed:
        warnings.warn(f"the whole volume does not fit on {device.describe()} ({format_bytes(budget)} usable): "
                      f"using CUDA managed memory, paged between host and GPU (slower; tiltrec-cuda works in slabs)")
    slabs = [everyone[i] for i in job.world.share(len(everyone))]
    start = time.perf_counter()
    try:
        with device.managed_memory() if managed else nullcontext():
            _pipeline(job, device, alg, subsets, slabs)
    except Exception as exc:
        if type(exc).__name__ != "OutOfMemoryError":  # CuPy's, from any allocation on the device
            raise
        height = max((s.y1 - s.y0 for s in everyone), default=1)
        half = format_bytes(budget // 2).replace(" ", "")
        raise TiltrecError(f"{device.describe()} ran out of memory with slabs of {height} slices (planned for "
                           f"{format_bytes(budget)}); try --memory {half} for slabs of about "
                           f"{max(1, height // 2)}") from None
    return figures(job, alg, slabs, time.perf_counter() - start)


def _pipeline(job: Job, device: Device, alg, subsets, slabs: list[Slab]) -> None:
    from ..progress import Progress

    progress = Progress(len(slabs) * len(subsets) * alg.steps(job.settings), label=job.algorithm.upper(),
                        quiet=job.quiet or job.world.rank > 0)
    with Session(job, alg, slabs, progress) as session:  # checkpoints, and ADMM's ranks in lockstep
        todo = session.todo()
        if todo:  # none: more ranks than slabs, or all written before an interruption
            _slabs_on_device(job, device, alg, subsets, slabs, todo, session, progress)
    progress.finish()


def _slabs_on_device(job: Job, device: Device, alg, subsets, slabs: list[Slab], todo: list[int], session: Session,
                     progress) -> None:
    xp = device.xp
    g = job.geometry
    first, width = g.slices[0], g.width
    rows_of = {index: g.rows_needed(slabs[index].c0, slabs[index].c1) for index in todo}
    # one slab: nothing to overlap, so plain host memory (pinning a whole volume costs time and locked RAM)
    host_buffer = device.host_buffer if len(todo) > 1 else (lambda n: np.empty(n, np.float32))
    uploads = _Uploads(device, max(g.nviews * (r1 - r0) * g.nx for r0, r1 in rows_of.values()), host_buffer)
    result = g.thickness * width * max(slabs[index].y1 - slabs[index].y0 for index in todo)
    writer = _Writer(host_buffer, result, len(subsets) * (2 if len(todo) > 1 else 1))
    compute, download = device.stream(), device.stream()
    failed = True
    try:
        pending = uploads.put(session.rows(*rows_of[todo[0]]))
        for step, index in enumerate(todo):
            raise_if_signalled()  # a safe point per slab (tiltrec.interrupts); the algorithms' steps are others
            slab = slabs[index]
            slot, (r0, r1) = pending, rows_of[index]
            compute.wait_event(slot.uploaded)
            with compute:
                for t, (target, geom) in enumerate(subsets):
                    if session.finished(index, t):
                        continue
                    op = CudaProjector(geom, slab.c0, slab.c1, xp, device.launcher)
                    x_off = geom.width // 2 - width // 2
                    every_row = len(target.views) == slot.rows.shape[0] and (op.r0, op.r1) == (r0, r1)
                    part = slot.rows if every_row else xp.ascontiguousarray(
                        slot.rows[target.views, op.r0 - r0:op.r1 - r0])
                    x0 = None
                    if job.init is not None:
                        x0 = xp.asarray(initial_slab(job, np.zeros(op.vol_shape, np.float32), slab, x_off))
                    vol = alg.reconstruct(op, part, job.settings, x0=x0, callback=progress.advance,
                                  **session.extras(index, t))
                    block, stats = stored_block(target.writer, vol, x_off, slab.y0 - slab.c0, width,
                                                slab.y1 - slab.y0, xp, device.launcher)
                    ready = compute.record()
                    buffer = writer.buffer()
                    host_stats, host_block = _result_views(buffer, block)
                    download.wait_event(ready)
                    with download:
                        device.download(block, host_block, download)
                        device.download(stats, host_stats, download)
                    writer.put(target.writer, slab.y0 - first, buffer, host_block, host_stats, download.record(),
                               keep=(block, stats))
                    if session.checkpoint is not None:  # a slab counts as finished once it is on disk
                        writer.drain()
                        session.done(index, t)
                slot.released = compute.record()
            if step + 1 < len(todo):  # read from disk while the GPU computes
                pending = uploads.put(session.rows(*rows_of[todo[step + 1]]))
        device.synchronize()
        failed = False
    finally:
        if failed:
            with suppress(Exception):  # a failed device may fail again; the first error is the one to report
                device.synchronize()  # nothing in flight may touch memory that is about to be freed
        writer.close(failed)
