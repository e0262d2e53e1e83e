"""A progress bar with ETA on stderr, throttled, and silent when quiet; each step is a safe point for signals."""

from __future__ import annotations

import sys
import time

from .interrupts import raise_if_signalled

_open_line = []  # the stream whose status line a bar left unfinished (at most one)


def end_open_line() -> None:
    """End the status line of a bar that a failure or a signal cut short, so the next message starts on its own."""
    while _open_line:
        stream = _open_line.pop()
        try:
            stream.write("\n")
            stream.flush()
        except (OSError, ValueError):
            pass  # the bar's stream failed: the message goes on


class Progress:
    """Counts work units toward ``total`` and redraws one status line on stderr."""

    def __init__(self, total: float, label: str = "", quiet: bool = False, stream=None, interval: float = 0.2):
        self.total = max(total, 1e-12)
        self.label = label
        self.stream = stream or sys.stderr
        self.quiet = quiet or self.stream is None  # stderr closed when Python started
        self.interval = interval
        self.done = 0.0
        self.start = time.perf_counter()
        self._last = 0.0

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def advance(self, units: float = 1.0) -> None:
        """``units`` more done; a signal received so far stops the run here (tiltrec.interrupts)."""
        raise_if_signalled()
        self.done = min(self.total, self.done + units)
        now = time.perf_counter()
        if not self.quiet and (now - self._last >= self.interval or self.done >= self.total):
            self._last = now
            self._draw()

    def _draw(self) -> None:
        frac = self.done / self.total
        width = 30
        bar = "#" * int(frac * width) + "-" * (width - int(frac * width))
        eta = self.elapsed * (1 - frac) / frac if frac > 0 else float("nan")
        self._write(f"\r{self.label} [{bar}] {100 * frac:5.1f}%  {self.elapsed:6.1f} s  ETA {eta:6.1f} s")
        _open_line[:] = [self.stream]

    def _write(self, text: str) -> None:
        """Write and flush; a stream that cannot take it (closed, a full disk) silences the bar, not the run."""
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):
            self.quiet = True

    def finish(self) -> None:
        if not self.quiet:
            if self.done < self.total:
                self.done = self.total
                self._draw()
            self._write("\n")
            _open_line.clear()
