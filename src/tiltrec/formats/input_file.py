"""What a tilt series or a volume to read must be: a regular file (through any links)."""

from __future__ import annotations

import stat
from pathlib import Path

import numpy as np

from ..errors import InputError, file_error
from ..limits import DATA_LIMIT


def require_regular(path: Path) -> Path:
    """``path``, unless it is a FIFO, a device or a socket (those read as empty or block the reader) or a
    directory; a missing or unreadable file is left to the format's reader, which names it."""
    try:
        mode = path.stat().st_mode
    except (OSError, ValueError):
        return path
    if stat.S_ISDIR(mode):  # said before the extension is looked at: a folder "unsupported extension" misleads
        raise file_error(path, "is a directory, not a file")
    if not stat.S_ISREG(mode):
        raise file_error(path, "is not a regular file (a FIFO, a device or a socket): give the file itself")
    return path


class BadValues(InputError):
    """View ``view`` (0-based) of ``path`` holds values no reconstruction can use; ``problem`` says which."""

    def __init__(self, path, view: int, problem: str):
        super().__init__(f"{path}: view {view + 1} {problem}")
        self.path, self.view, self.problem = path, view, problem


def check_view_values(path, view: int, block: np.ndarray) -> None:
    """Refuse a view (or rows of it) with NaN or infinite values, or values beyond limits.DATA_LIMIT in magnitude
    (finite, but float32 sums of them overflow into a NaN volume).  Two reductions, no temporary array."""
    if not block.size:
        return
    low, high = float(block.min()), float(block.max())  # NaN propagates into both
    if not (np.isfinite(low) and np.isfinite(high)):
        raise BadValues(path, view, "contains NaN or Inf values")
    if max(-low, high) > DATA_LIMIT:
        raise BadValues(path, view, f"has values up to {max(-low, high):.3g} in magnitude, more than the "
                                    f"{DATA_LIMIT:g} tiltrec's single-precision arithmetic takes: rescale the data "
                                    f"(e.g. newstack -multadd)")
