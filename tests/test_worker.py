"""The slab loop's background thread (strategies.worker): order, errors, and no wait on a stuck call after a
failure; and the loop itself reads ahead and writes behind."""

import threading
import time

import numpy as np
import pytest

from tiltrec.strategies.worker import Worker


def test_calls_run_in_order_and_return_their_results():
    seen = []
    with Worker("test") as worker:
        futures = [worker.submit(lambda i=i: seen.append(i) or i * i) for i in range(5)]
    assert seen == list(range(5))
    assert [f.result() for f in futures] == [0, 1, 4, 9, 16]


def test_an_error_reaches_the_main_thread_at_wait():
    def fail():
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        with Worker("test") as worker:
            worker.submit(fail)
            worker.wait()


def test_an_error_left_pending_is_raised_when_the_block_ends():
    with pytest.raises(ValueError, match="late"):
        with Worker("test") as worker:
            worker.submit(lambda: (_ for _ in ()).throw(ValueError("late")))


def test_a_failure_does_not_wait_for_a_stuck_call_and_cancels_the_rest():
    release = threading.Event()
    ran = []
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        with Worker("test") as worker:
            worker.submit(release.wait)  # a call that does not return (a stalled disk)
            later = worker.submit(lambda: ran.append(1))
            time.sleep(0.05)
            raise KeyboardInterrupt
    assert time.monotonic() - start < 5
    assert later.cancelled()
    release.set()
    time.sleep(0.05)
    assert ran == []


def test_the_slab_loop_reads_ahead_and_writes_behind(monkeypatch):
    """While slab i computes, the rows of slab i + 1 are being read and the block of slab i - 1 written, on the
    two worker threads."""
    import tiltrec
    from tiltrec.formats.memory import MemoryWriter
    from tiltrec.strategies import driver

    threads = {}
    real_rows, real_stage = driver.Session.rows, MemoryWriter.stage

    def rows(self, r0, r1):
        threads.setdefault("read", set()).add(threading.current_thread().name)
        return real_rows(self, r0, r1)

    def stage(self, y0, slab):
        finish = real_stage(self, y0, slab)

        def write():
            threads.setdefault("write", set()).add(threading.current_thread().name)
            finish()
        return write

    monkeypatch.setattr(driver.Session, "rows", rows)
    monkeypatch.setattr(MemoryWriter, "stage", stage)
    views = np.random.default_rng(0).random((5, 20, 16), dtype=np.float32)
    volume = tiltrec.reconstruct(views, np.linspace(-40, 40, 5), alg="bpt", thickness=6, memory=10_000, quiet=True)  # slabs of a few slices
    assert threads == {"read": {"tiltrec-reader"}, "write": {"tiltrec-writer"}}
    assert volume.shape[0] == 20
