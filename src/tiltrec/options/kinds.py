"""What kind of value an option takes: how a command-line string, a tilt.com value or a Python value becomes the
option's typed value, and the one-line error when it cannot.

Every kind accepts the typed value itself (``3``, ``(0.35, 0.05)``, a path) and its text (``"3"``,
``"0.35,0.05"``), so that the command line, parameter files and ``tiltrec.reconstruct`` share one conversion.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from numbers import Integral, Real
from pathlib import Path

import numpy as np

from ..errors import InputError
from .spelling import spelled


def _fail(name: str, want: str, value) -> InputError:
    """``NAME takes WANT, got VALUE``: text and plain values as written, anything else by its type."""
    plain = isinstance(value, (str, bool, Integral, Real, Path, tuple, list)) and len(repr(value)) <= 80
    return InputError(f"{spelled(name)} takes {want}, got {repr(value) if plain else type(value).__name__}")


def _parts(text: str) -> list[str]:
    return [p for p in re.split(r"[\s,]+", text.strip()) if p]


def _whole(value, name: str, want: str) -> int:
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            raise _fail(name, want, value) from None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Integral):
        raise _fail(name, want, value)
    return int(value)


def _real(value, name: str, want: str) -> float:
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            raise _fail(name, want, value) from None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Real):
        raise _fail(name, want, value)
    return float(value)


@dataclass(frozen=True)
class Whole:
    """An integer."""

    metavar: str = "N"
    annotation = int

    def convert(self, value, name: str) -> int:
        return _whole(value, name, "a whole number")


@dataclass(frozen=True)
class Number:
    """A real number (NaN and infinities are refused by the option's limit)."""

    metavar: str = "X"
    annotation = float

    def convert(self, value, name: str) -> float:
        return _real(value, name, "a number")


@dataclass(frozen=True)
class Flag:
    """On or off."""

    metavar: str = ""
    annotation = bool

    def convert(self, value, name: str) -> bool:
        if isinstance(value, (bool, np.bool_)):
            return bool(value)
        raise _fail(name, "True or False", value)


@dataclass(frozen=True)
class FlagOrCount:
    """On, off, or a count (IMOD's DENSWEIGHT: the number of neighbouring views; 0 is off)."""

    metavar: str = ""
    annotation = bool | int

    def convert(self, value, name: str) -> bool | int:
        if isinstance(value, (bool, np.bool_)):
            return bool(value)
        count = _whole(value, name, "True, False or a number of views")
        if count < 0:
            raise InputError(f"{spelled(name)} takes True, False or a number of views, got {count}")
        return count


@dataclass(frozen=True)
class Text:
    """Free text (a title)."""

    metavar: str = "TEXT"
    annotation = str

    def convert(self, value, name: str) -> str:
        if not isinstance(value, str):
            raise _fail(name, "text", value)
        return value


@dataclass(frozen=True)
class Choice:
    """One of a few names (any case) or numbers."""

    values: tuple
    aliases: tuple = ()  # (alias, name) pairs
    metavar: str = ""

    @property
    def annotation(self):
        return int if isinstance(self.values[0], int) else str

    def convert(self, value, name: str):
        listed = ", ".join(str(v) for v in self.values)
        if self.annotation is int:
            number = _whole(value, name, f"one of {listed}")
            if number in self.values:
                return number
            raise InputError(f"{spelled(name)} takes one of {listed}, got {number}")
        if not isinstance(value, str):
            raise _fail(name, f"one of {listed}", value)
        key = value.strip().lower()
        key = dict(self.aliases).get(key, key)
        if key not in self.values:
            raise InputError(f"{spelled(name)} takes one of {listed}, got {value!r}")
        return key


@dataclass(frozen=True)
class File:
    """A file name."""

    metavar: str = "FILE"
    annotation = Path

    def convert(self, value, name: str) -> Path:
        if isinstance(value, (str, os.PathLike)) and str(value):
            return Path(value)
        raise _fail(name, "a file name", value)


@dataclass(frozen=True)
class Numbers:
    """A fixed number of numbers: ``"a,b"`` (commas or spaces) or a sequence."""

    count: int
    integral: bool = False
    metavar: str = ""

    @property
    def annotation(self):
        return tuple[(int if self.integral else float), ...]

    def convert(self, value, name: str) -> tuple:
        want = f"{self.count} {'whole numbers' if self.integral else 'numbers'} (e.g. {self._example()})"
        entries = _parts(value) if isinstance(value, str) else value
        if isinstance(entries, np.ndarray):
            entries = entries.tolist()
        if not isinstance(entries, (list, tuple)) or len(entries) != self.count:
            raise _fail(name, want, value)
        read = _whole if self.integral else _real
        return tuple(read(entry, name, want) for entry in entries)

    def _example(self) -> str:
        return ",".join(["1", "2", "3", "4"][:self.count]) if self.integral else \
            ",".join(["0.35", "0.05", "1", "2"][:self.count])


@dataclass(frozen=True)
class ByteSize:
    """A number of bytes: an integer, or text with a unit (``512M``, ``4G``, ``1.5GiB``)."""

    metavar: str = "SIZE"
    annotation = int

    def convert(self, value, name: str) -> int:
        if not isinstance(value, str):
            return _whole(value, name, "a number of bytes or a size like 4G")
        text = value.strip().upper().removesuffix("IB").removesuffix("B")
        scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}.get(text[-1:], 1)
        try:
            size = float(text[:-1] if text[-1:] in "KMGT" else text) * scale
        except ValueError:
            size = math.nan
        if not math.isfinite(size) or size <= 0:
            raise InputError(f"{spelled(name)} takes a size like 512M or 4G, got {value!r}")
        return math.ceil(size)  # a fraction of a byte is a byte; the option's limit judges the size


@dataclass(frozen=True)
class ViewList:
    """View numbers, 1-based: text like ``1-3,7`` or a sequence of numbers."""

    metavar: str = "LIST"
    annotation = str

    def convert(self, value, name: str) -> str:
        if isinstance(value, str):
            return value
        if isinstance(value, np.ndarray):
            value = value.tolist()
        if isinstance(value, (list, tuple, range)):
            return ",".join(str(_whole(v, name, "view numbers (1-based)")) for v in value)
        raise _fail(name, "view numbers (1-based) like 1-3,7", value)


@dataclass(frozen=True)
class FileOrNumbers:
    """A file of numbers, one per view, or the numbers themselves (Python callers)."""

    metavar: str = "FILE"
    annotation = Path | tuple[float, ...]

    def convert(self, value, name: str):
        if isinstance(value, (str, os.PathLike)):
            return File().convert(value, name)
        values = np.asarray(value, dtype=object).ravel().tolist() if isinstance(value, np.ndarray) else value
        if not isinstance(values, (list, tuple)) or not values:
            raise _fail(name, "a file name or one number per view", value)
        return tuple(_real(v, name, "a file name or one number per view") for v in values)


@dataclass(frozen=True)
class FileOrVolume:
    """A volume file, or the volume as an array (Python callers) in the output's layout."""

    metavar: str = "FILE"
    annotation = Path | np.ndarray

    def convert(self, value, name: str):
        if isinstance(value, (str, os.PathLike)):
            return File().convert(value, name)
        if isinstance(value, np.ndarray) and value.ndim == 3 and value.dtype.kind in "fiu":
            return value
        raise _fail(name, "a volume file or a 3-D array", value)
