"""What a tilt series or a volume to read must be: a regular file (through any links)."""

from __future__ import annotations

import stat
from pathlib import Path

from ..errors import file_error


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
