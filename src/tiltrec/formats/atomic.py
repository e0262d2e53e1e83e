"""Atomic output: a hidden temporary file beside the output replaces it only when complete.

The temporary file is named ``.NAME.tiltrec-HOST-PID-RANDOM.tmp``.  A run killed outright (SIGKILL, a crash, a
node failure) cannot remove its own; the next run that writes NAME on the same host removes those whose process is
gone.  Temporary files of other hosts are left alone: on a shared file system their run may still be alive.

A run with ``--checkpoint`` writes instead into ``.NAME.tiltrec-partial-KEY.tmp``, KEY derived from the
checkpoint's path: that file outlives an interruption (``--resume`` continues it), so its name follows from the
output and the checkpoint alone, and the sweep above never takes it for a killed run's leftover.

Names longer than a file system allows (255 bytes) keep their start and a checksum of the whole name.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import socket
import stat
import warnings
import zlib
from contextlib import contextmanager
from pathlib import Path

from ..errors import file_error, os_failure
from ..options.spelling import spelled

_HOST = re.sub(r"[^A-Za-z0-9._]", "_", socket.gethostname()) or "localhost"
NAME_MAX = 255  # bytes in one file name on Linux file systems
_TAG_ROOM = len(f".tiltrec-{_HOST}-{2 ** 32}-{'0' * 8}.tmp")  # the longest suffix a temporary name gets


@contextmanager
def os_errors(path: Path, action: str):
    """Report an OSError (disk full, permissions) as a one-line error naming ``path``."""
    try:
        yield
    except OSError as exc:
        raise os_failure(path, action, exc) from None


def hidden_name(path: Path, suffix: str, room: int | None = None) -> Path:
    """``.NAME`` + ``suffix`` beside ``path``; NAME cut short (its start and a checksum of all of it) where the whole
    would pass the file system's limit.  ``room``: the longest suffix the caller will use, so that the cut, and
    hence the name, is the same whatever the suffix's length."""
    name = path.name
    room = max(room or 0, len(suffix.encode()))
    if len(name.encode()) + 1 + room > NAME_MAX:
        keep = NAME_MAX - 1 - room - 9
        name = f"{name.encode()[:keep].decode(errors='ignore')}~{zlib.crc32(path.name.encode()):08x}"
    return path.with_name(f".{name}{suffix}")


def temporary_name(path: Path, pid: int | None = None) -> Path:
    """A new temporary file name for ``path``, owned by process ``pid`` (this one by default) on this host."""
    return hidden_name(path, f".tiltrec-{_HOST}-{pid or os.getpid()}-{secrets.token_hex(4)}.tmp", _TAG_ROOM)


def partial_name(path: Path, checkpoint: Path) -> Path:
    """The temporary file of ``path`` that a run with ``checkpoint`` writes and keeps when interrupted."""
    key = hashlib.sha1(str(Path(os.path.abspath(checkpoint))).encode()).hexdigest()[:8]
    return hidden_name(path, f".tiltrec-partial-{key}.tmp", _TAG_ROOM)


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
    stem = hidden_name(path, "", _TAG_ROOM).name
    pattern = re.compile(rf"{re.escape(stem)}\.tiltrec-{re.escape(_HOST)}-(\d+)-[0-9a-f]+\.tmp")
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


def check_output(path: Path, overwrite: bool) -> None:
    """Refuse an output path that cannot or may not be written: its folder missing or read-only, a directory, a
    device, FIFO or socket (replacing ``/dev/null`` would remove it for every program), an existing file without
    ``overwrite``."""
    folder = path.parent
    if folder.exists() and not folder.is_dir():
        raise file_error(path, f"{folder} is not a directory")
    if not folder.is_dir():
        raise file_error(path, f"output directory {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise file_error(path, f"output directory {folder} is not writable")
    if path.is_dir():
        raise file_error(path, "is a directory")
    try:
        kind = os.lstat(path).st_mode
    except OSError:
        kind = None
    if kind is not None and not (stat.S_ISREG(kind) or stat.S_ISLNK(kind)):
        raise file_error(path, "is a device, a FIFO or a socket, not a file: give a file name for the output")
    if kind is not None and not overwrite:
        raise file_error(path, f"already exists (use {spelled('overwrite')} to replace it)")


class OutputTarget:
    """The output path, checked up front, and the temporary file that will replace it."""

    def __init__(self, path: Path, overwrite: bool, temporary: Path | None = None, *,
                 checkpoint: Path | None = None, resume: bool = False):
        """Check ``path`` and create a new temporary file; or adopt ``temporary``, created by another process of the
        run.  With ``checkpoint`` the temporary file is the partial output kept for ``--resume`` (partial_name):
        with ``resume`` the one an interrupted run left is continued, else a new one is made."""
        self.path = path
        self.overwrite = overwrite
        if temporary is not None:
            self.temporary = temporary
            return
        check_output(self.path, self.overwrite)
        remove_stale_temporaries(path)
        if checkpoint is None:
            self.temporary = temporary_name(path)
        else:
            self.temporary = partial_name(path, checkpoint)
            if resume:
                self._adopt_partial(checkpoint)
                return
            self._remove_orphan(checkpoint)
        with os_errors(path, "create a temporary file beside it"):
            os.close(os.open(self.temporary, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))

    def _adopt_partial(self, checkpoint: Path) -> None:
        """Continue the partial output of an interrupted run: it must be a plain file (never a link to elsewhere)."""
        try:
            status = os.lstat(self.temporary)
        except FileNotFoundError:
            raise file_error(checkpoint, f"the partial output it continues, {self.temporary}, is gone: delete the "
                                         f"checkpoint and start afresh") from None
        except OSError as exc:
            raise os_failure(self.temporary, "read", exc) from None
        if not stat.S_ISREG(status.st_mode) or status.st_nlink != 1:
            raise file_error(self.temporary, "is not the plain file an interrupted run leaves (a link or a special "
                                             "file): delete it and the checkpoint, and start afresh")

    def _remove_orphan(self, checkpoint: Path) -> None:
        """A partial output whose checkpoint is gone (deleted to start afresh) can never be resumed: it goes."""
        if os.path.lexists(self.temporary):
            with os_errors(self.temporary, "remove the partial output of an earlier run"):
                os.unlink(self.temporary)
            warnings.warn(f"{self.temporary}: removed the partial output of an earlier run whose checkpoint "
                          f"{checkpoint} is gone", RuntimeWarning, stacklevel=2)

    def replace(self) -> None:
        """Move the finished temporary file over the output."""
        check_output(self.path, self.overwrite)
        with os_errors(self.path, "replace"):
            os.replace(self.temporary, self.path)

    def discard(self) -> None:
        self.temporary.unlink(missing_ok=True)


@contextmanager
def written_whole(path: Path, overwrite: bool):
    """Yield the temporary file to write ``path``'s content into; on success it replaces ``path``, on any failure
    it goes (write errors are one line naming ``path``)."""
    target = OutputTarget(path, overwrite)
    try:
        with os_errors(path, "write"):
            yield target.temporary
        target.replace()
    except BaseException:
        target.discard()
        raise


def write_text(path: Path, text: str, overwrite: bool) -> None:
    """Write a small text file as the volumes are written: checked, through a temporary file, then renamed."""
    with written_whole(path, overwrite) as temporary:
        temporary.write_text(text)
