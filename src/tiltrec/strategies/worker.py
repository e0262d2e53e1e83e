"""A background thread for the slab loop: the next slab's rows are read, and the last slab's block written, while
the current slab computes.

Only NumPy and file I/O run on it (both release the GIL); Numba's parallel kernels stay on the main thread, since
not every Numba threading layer accepts launches from two threads at once.  The thread is a daemon: after a
failure or a signal the main thread does not wait for a call that hangs (a stalled disk), and the run's cleanup
(formats.atomic) removes what it was writing.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future


class Worker:
    """Runs submitted calls one after another on its own thread; ``submit`` returns their futures."""

    def __init__(self, name: str):
        self._calls: queue.Queue = queue.Queue()
        self._pending: list[Future] = []
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def submit(self, fn, *args) -> Future:
        """Run ``fn(*args)`` after the calls submitted before."""
        future: Future = Future()
        self._pending = [f for f in self._pending if not f.done()] + [future]
        self._calls.put((future, fn, args))
        return future

    def wait(self) -> None:
        """Wait for every call submitted so far; raises the first one's error."""
        for future in self._pending:
            future.result()
        self._pending = []

    def _loop(self) -> None:
        while (item := self._calls.get()) is not None:
            future, fn, args = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args))
            except BaseException as exc:  # handed to the main thread by future.result()
                future.set_exception(exc)

    def __enter__(self) -> "Worker":
        return self

    def __exit__(self, kind, *_) -> None:
        """On success, finish every call; on failure, cancel those not started and leave the running one."""
        failed = kind is not None
        try:
            if not failed:
                self.wait()
        except BaseException:
            failed = True
            raise
        finally:
            if failed:
                for future in self._pending:
                    future.cancel()
            self._calls.put(None)
            if not failed:
                self._thread.join()
