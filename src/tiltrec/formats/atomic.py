"""Atomic output: a hidden temporary file beside the output replaces it only when complete.

The temporary file is named ``.NAME.tiltrec-HOST-PID-RANDOM.tmp``.  A run killed outright (SIGKILL, a crash, a
node failure) cannot remove its own; the next run that writes NAME on the same host removes those whose process is
gone.  Temporary files of other hosts are left alone: on a shared file system their run may still be alive.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
import warnings
from contextlib import contextmanager
from pathlib import Path

from ..errors import file_error, os_failure

_HOST = re.sub(r"[^A-Za-z0-9._]", "_", socket.gethostname()) or "localhost"


@contextmanager
def os_errors(path: Path, action: str):
    """Report an OSError (disk full, permissions) as a one-line error naming ``path``."""
    try:
        yield
    except OSError as exc:
        raise os_failure(path, action, exc) from None


def temporary_name(path: Path, pid: int | None = None) -> Path:
    """A new temporary file name for ``path``, owned by process ``pid`` (this one by default) on this host."""
    return path.with_name(f".{path.name}.tiltrec-{_HOST}-{pid or os.getpid()}-{secrets.token_hex(4)}.tmp")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_stale_temporaries(path: Path) -> None:
    """Delete the temporary files for ``path`` that runs on this host left behind when they were killed."""
    pattern = re.compile(rf"\.{re.escape(path.name)}\.tiltrec-{re.escape(_HOST)}-(\d+)-[0-9a-f]+\.tmp")
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        if match and not _alive(int(match[1])):
            try:
                os.unlink(entry.path)
            except OSError:
                continue
            warnings.warn(f"{path.with_name(entry.name)}: removed the temporary file of an earlier run that was "
                          f"killed (process {match[1]})", RuntimeWarning, stacklevel=2)


class OutputTarget:
    """The output path, checked up front, and the temporary file that will replace it."""

    def __init__(self, path: Path, overwrite: bool, temporary: Path | None = None):
        """Check ``path`` and create a new temporary file, or adopt the existing ``temporary``."""
        self.path = path
        self.overwrite = overwrite
        if temporary is not None:
            self.temporary = temporary
            return
        self._check()
        remove_stale_temporaries(path)
        self.temporary = temporary_name(path)
        with os_errors(path, "create a temporary file beside it"):
            os.close(os.open(self.temporary, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))

    def _check(self) -> None:
        folder = self.path.parent
        if folder.exists() and not folder.is_dir():
            raise file_error(self.path, f"{folder} is not a directory")
        if not folder.is_dir():
            raise file_error(self.path, f"output directory {folder} does not exist")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise file_error(self.path, f"output directory {folder} is not writable")
        if self.path.is_dir():
            raise file_error(self.path, "is a directory")
        if self.path.exists() and not self.overwrite:
            raise file_error(self.path, "already exists (use --overwrite to replace it)")

    def replace(self) -> None:
        """Move the finished temporary file over the output."""
        self._check()
        with os_errors(self.path, "replace"):
            os.replace(self.temporary, self.path)

    def discard(self) -> None:
        self.temporary.unlink(missing_ok=True)
