"""Progress on stderr (a bar on a terminal, a few plain lines elsewhere), silent when quiet; each step is a
safe point for signals."""

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
    """Counts work units toward ``total`` and shows them on stderr: on a terminal one status line redrawn in place;
    elsewhere (a Slurm log, a pipe, a file) a plain line at each quarter and at most every ``PLAIN_EVERY``
    seconds, so that a log holds a few readable lines instead of dozens of carriage-return bars.

    The ETA is the remaining work at the rate measured since the first unit was done: the first unit carries the
    start-up (reading ahead, compiling kernels), which would make early estimates far too long.
    """

    PLAIN_EVERY = 60.0  # seconds between plain lines besides the quarters

    def __init__(self, total: float, label: str = "", quiet: bool = False, stream=None, interval: float = 0.2):
        self.total = max(total, 1e-12)
        self.label = label
        self.stream = stream or sys.stderr
        self.quiet = quiet or self.stream is None  # stderr closed when Python started
        self.interval = interval
        self.done = 0.0
        self.start = time.perf_counter()
        self._last = 0.0
        self._first: tuple[float, float] | None = None  # (time, units done) when the first unit was done
        self._quarter = 0  # the last quarter a plain line reported
        try:
            self.plain = not self.stream.isatty()
        except (AttributeError, ValueError, OSError):
            self.plain = True

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def advance(self, units: float = 1.0) -> None:
        """``units`` more done; a signal received so far stops the run here (tiltrec.interrupts)."""
        raise_if_signalled()
        self.done = min(self.total, self.done + units)
        now = time.perf_counter()
        if self._first is None and self.done > 0:
            self._first = now, self.done
        if self.quiet:
            return
        if self.plain:
            quarter = int(4 * self.done / self.total + 1e-9)
            if quarter > self._quarter or now - self._last >= self.PLAIN_EVERY:
                self._quarter, self._last = quarter, now
                self._write(f"{self.label}: {100 * self.done / self.total:.0f}% in {self.elapsed:.1f} s{self._eta()}\n")
        elif now - self._last >= self.interval or self.done >= self.total:
            self._last = now
            self._draw()

    def eta(self) -> float | None:
        """Seconds left at the rate since the first unit; None until two measurements exist."""
        if self._first is None or self.done <= self._first[1]:
            return None
        since, units = self._first
        return (time.perf_counter() - since) / (self.done - units) * (self.total - self.done)

    def _eta(self) -> str:
        eta = self.eta()
        return "" if eta is None or self.done >= self.total else f", about {eta:.1f} s left"

    def _draw(self) -> None:
        frac = self.done / self.total
        width = 30
        bar = "#" * int(frac * width) + "-" * (width - int(frac * width))
        eta = self.eta()
        shown = "    --" if eta is None and frac < 1 else f"{eta or 0.0:6.1f}"
        self._write(f"\r{self.label} [{bar}] {100 * frac:5.1f}%  {self.elapsed:6.1f} s  ETA {shown} s")
        _open_line[:] = [self.stream]

    def _write(self, text: str) -> None:
        """Write and flush; a stream that cannot take it (closed, a full disk) silences the display, not the run."""
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):
            self.quiet = True

    def finish(self) -> None:
        if self.quiet:
            return
        if self.plain:
            if self._quarter < 4:
                self.done = self.total
                self._write(f"{self.label}: 100% in {self.elapsed:.1f} s\n")
            return
        if self.done < self.total:
            self.done = self.total
            self._draw()
        self._write("\n")
        _open_line.clear()
