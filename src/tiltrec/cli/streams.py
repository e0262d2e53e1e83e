"""Standard streams that cannot fail a run: a closed stdout or stderr, a full disk behind them, a reader gone.

The progress bar, the summary and the warnings are for a person watching; a stream that cannot take them must not
fail a run that is writing its output fine, nor change its exit code.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager, suppress


def open_closed_descriptors() -> None:
    """Open /dev/null on those of file descriptors 0, 1 and 2 that are closed (``>&-``, ``2>&-``, ``<&-``): the
    next file opened (an output's temporary file, say) would get the number, and whatever the C libraries print to
    stderr would be written into it.  Python has set the matching ``sys.stdin``/``stdout``/``stderr`` to None."""
    for fd, flags in ((0, os.O_RDONLY), (1, os.O_WRONLY), (2, os.O_WRONLY)):
        try:
            os.fstat(fd)
        except OSError:
            opened = os.open(os.devnull, flags)
            if opened != fd:  # a lower descriptor was closed too and got it
                os.dup2(opened, fd)
                os.close(opened)


class UnfailingStream:
    """A text stream whose writes never fail: after the first failure, output is dropped."""

    def __init__(self, stream):
        self._stream = stream
        self.broken = stream is None

    def write(self, text: str) -> int:
        if not self.broken:
            try:
                self._stream.write(text)
            except (OSError, ValueError):  # ValueError: the stream was closed
                self._give_up()
        return len(text)

    def flush(self) -> None:
        if not self.broken:
            try:
                self._stream.flush()
            except (OSError, ValueError):
                self._give_up()

    def _give_up(self) -> None:
        """Drop what the stream holds: pointed at /dev/null, its buffer empties, and Python's own flush at exit
        (which turns an exit status into 120 when it fails) succeeds."""
        self.broken = True
        with suppress(Exception):
            fd = self._stream.fileno()
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, fd)
            os.close(null)
            self._stream.flush()

    def isatty(self) -> bool:
        return not self.broken and self._stream.isatty()

    def __getattr__(self, name):  # encoding, fileno, ...
        return getattr(self._stream, name)


@contextmanager
def unfailing_output():
    """``sys.stdout`` and ``sys.stderr`` as UnfailingStreams for the block."""
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = UnfailingStream(sys.stdout), UnfailingStream(sys.stderr)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved
