"""The files a run reads and the files it writes, checked against each other before any work.

A run may write only its own outputs (volumes, halves, checkpoints, log, pictures, their temporary files), and none
of them may be a file it reads, nor two of them one file.  Names are compared by what they lead to: the device and
inode of an existing file (symbolic links followed, hard links alike), else the folder the name resolves into and
the last name, so ``out.mrc``, ``./x/../out.mrc`` and a link to it are one file.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..errors import file_error


@dataclass(frozen=True)
class FileUse:
    """One file of a run and what it is to the run, in words: "input tilt series", "odd half", ..."""

    role: str
    path: Path


def identity(path: Path) -> tuple:
    """What makes two names one file (see the module)."""
    try:
        status = os.stat(path)
        return "file", status.st_dev, status.st_ino
    except (FileNotFoundError, NotADirectoryError):  # a new name (the output checks say what is wrong with it)
        pass
    except OSError as exc:  # a loop of links, no permission to look
        raise file_error(path, f"cannot be used: {exc.strerror or exc}") from None
    real = Path(os.path.realpath(path))  # a dangling link leads to the name it would create
    try:
        folder = os.stat(real.parent)
    except OSError:  # a missing folder: the output checks report it; the resolved name still identifies the file
        return "name", str(real)
    return "name", folder.st_dev, folder.st_ino, real.name


def check_distinct(reads: Iterable[FileUse], writes: Iterable[FileUse]) -> None:
    """Refuse a run in which a file it writes is a file it reads, or two of its outputs are one file."""
    seen: dict[tuple, FileUse] = {}
    for use in reads:
        seen.setdefault(identity(use.path), use)  # a file may be read twice (a stack that is also --init)
    read_keys = set(seen)
    for use in writes:
        key = identity(use.path)
        other = seen.get(key)
        if other is not None:
            verb = "would overwrite" if key in read_keys else "is the same file as"
            same = "" if os.path.abspath(other.path) == os.path.abspath(use.path) else f" {other.path}"
            raise file_error(use.path, f"the {use.role} {verb} the {other.role}{same}: give it another name")
        seen[key] = use
