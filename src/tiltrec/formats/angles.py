"""IMOD text inputs: tilt-angle files (``.tlt``/``.rawtlt``) and view lists (``1-3,7``)."""

import math
import re
from pathlib import Path

import numpy as np

from ..errors import InputError, file_error

_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_RANGE = re.compile(r"(\d+)(?:-(\d+))?")


def _read_text(path) -> str:
    """The whole text file at ``path``; unreadable or non-text files raise a file_error."""
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise file_error(path, "no such file") from None
    except IsADirectoryError:
        raise file_error(path, "is a directory, not a file") from None
    except UnicodeDecodeError:
        raise file_error(path, "is not a text file") from None
    except OSError as exc:
        raise file_error(path, f"cannot read: {exc.strerror or exc}") from None


def read_angles(path, nviews: int | None = None) -> np.ndarray:
    """Tilt angles in degrees, one number per line (blank lines ignored), as float64.

    With ``nviews`` the count must match: IMOD's TILTFILE has one angle per view of the
    input stack, excluded views included.
    """
    angles = []
    for number, line in enumerate(_read_text(path).splitlines(), start=1):
        text = line.strip()
        if not text:
            continue
        if not _NUMBER.fullmatch(text):
            raise file_error(path, f"line {number}: {text[:40]!r} is not a tilt angle")
        value = float(text)
        if not math.isfinite(value):
            raise file_error(path, f"line {number}: {text[:40]!r} is not a finite angle")
        angles.append(value)
    if not angles:
        raise file_error(path, "contains no tilt angles")
    if nviews is not None and len(angles) != nviews:
        raise file_error(path, f"{len(angles)} angles for {nviews} views")
    return np.array(angles, dtype=np.float64)


def parse_view_list(text: str, nviews: int) -> list[int]:
    """Sorted unique 0-based views of an IMOD list of 1-based views (``"1-3,7 9"``).

    Entries are separated by commas or spaces; backward ranges expand (``5-3`` is 3,4,5).
    """
    return sorted(set(parse_view_sequence(text, nviews)))


def parse_view_sequence(text: str, nviews: int) -> list[int]:
    """The 0-based views of an IMOD list of 1-based views in the list's order, repeats kept and a backward range
    taken backwards (``"6,6,5-3"`` is 5, 5, 4, 3, 2), as IMOD's tilt takes ViewsToReproject."""
    entries = re.sub(r"\s*-\s*", "-", text.strip())
    views = []
    for entry in filter(None, re.split(r"[\s,]+", entries)):
        match = _RANGE.fullmatch(entry)
        if not match:
            raise InputError(f"view list {text!r}: {entry!r} is not a view number or range")
        first = int(match[1])
        last = int(match[2] or first)
        for view in (first, last):
            if not 1 <= view <= nviews:
                raise InputError(f"view list {text!r}: view {view} is outside 1-{nviews}")
        step = 1 if last >= first else -1
        views.extend(range(first - 1, last - 1 + step, step))
    return views
