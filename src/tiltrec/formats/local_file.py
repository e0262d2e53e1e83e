"""IMOD local alignment files (tiltalign's ``OutputLocalFile``, tilt's ``LOCALFILE``) and Z-factor files
(``ZFACTORFILE``), read the way IMOD 4.8.2 ``tilt`` reads them and checked strictly.

Local alignment file:

* a header line of 6 to 9 numbers: areas in X and Y (at least 2 each), X and Y of the first area's centre and
  the spacing of the areas in X and Y (whole pixels of the stack tiltalign aligned), then optionally a flag for
  X-axis tilt changes (0/1), the pixel size of that stack (0 = unknown) and a flag for Z factors (0/1);
* then one block per area, areas in X fastest (area ``k`` is at column ``k % nx``, row ``k // nx``), each with,
  for every view of the stack (excluded ones too): the tilt-angle changes in degrees; the X-axis tilt changes
  (only with the flag); pairs of Z factors (only with the flag); and one 2x3 transform per view written
  ``a11 a12 a21 a22 dx dy``.

IMOD reads each of these lists with one Fortran list-directed read: a list starts on a new line, may run over
several lines, and values are separated by blanks, tabs or a comma.  Fortran's rarer forms (``3*0.5`` repeats,
empty values between two commas, ``/`` ending a list early) are refused rather than half-supported.  tiltalign
ends every list at the end of a line, so values left over on a list's last line (or lines after the last area)
mean the file was written for another number of views or areas; IMOD would silently misread them, here they are
errors.  Numbers are stored as IMOD stores them: float32.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import file_error
from .angles import _read_text

# a Fortran real: optional sign, digits with an optional point, optional exponent (E or D)
_REAL = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eEdD][+-]?\d+)?")
_SEPARATORS = re.compile(r"[\s,]+")  # the header (IMOD's frefor): any run of blanks, tabs and commas
_LIST_SEPARATOR = re.compile(r"\s*,\s*|\s+")  # list-directed input: blanks, or one comma with blanks
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_HEADER_FIELDS = ("areas in X", "areas in Y", "X of the first area", "Y of the first area", "spacing in X",
                  "spacing in Y", "X-axis tilt flag", "pixel size", "Z-factor flag")


@dataclass(frozen=True)
class LocalAlignments:
    """The contents of a local alignment file.

    Positions and spacings are in pixels of the stack tiltalign aligned (``pixel_size``, 0 when the file does not
    say); arrays are float32, indexed ``[area, view]`` over all views of that stack, areas in X fastest.
    ``transforms[k, v]`` is ``[[a11, a12, dx], [a21, a22, dy]]``; ``zfactors[k, v]`` is the file's
    ``(x factor, y factor)``.  Without the flags, ``dalpha`` and ``zfactors`` are zeros.
    """

    path: str
    nx_areas: int
    ny_areas: int
    start: tuple[int, int]
    spacing: tuple[int, int]
    pixel_size: float
    has_dalpha: bool
    has_zfactors: bool
    dtilt: np.ndarray
    dalpha: np.ndarray
    zfactors: np.ndarray
    transforms: np.ndarray

    @property
    def n_areas(self) -> int:
        return self.nx_areas * self.ny_areas

    @property
    def nviews(self) -> int:
        return int(self.dtilt.shape[1])

    def area_centres(self, axis: int) -> np.ndarray:
        """Centres of the areas along X (``axis=0``) or Y (``axis=1``), in the file's pixels."""
        count = (self.nx_areas, self.ny_areas)[axis]
        return self.start[axis] + self.spacing[axis] * np.arange(count)


class _ListReader:
    """Fortran list-directed reads over the lines of a text file (see the module docstring)."""

    def __init__(self, path, lines: list[str], first: int):
        self.path = path
        self.lines = lines
        self.next = first  # index of the next unread line

    def take(self, count: int, what: str) -> np.ndarray:
        """The next ``count`` numbers, starting on a new line, as float32."""
        values: list[float] = []
        while len(values) < count:
            if self.next >= len(self.lines):
                raise file_error(self.path, f"ends early: {what} needs {count} numbers, found {len(values)}")
            number = self.next + 1
            fields = _LIST_SEPARATOR.split(self.lines[self.next].strip())
            if fields[-1] == "":  # a comma may end a line
                fields.pop()
            if "" in fields[1:] or (fields and fields[0] == "" and len(fields) > 1):
                raise file_error(self.path, f"line {number}: an empty value between commas (IMOD would keep the "
                                            f"previous value there)")
            fields = [f for f in fields if f]
            self.next += 1
            for field in fields:
                if len(values) == count:
                    raise file_error(self.path, f"line {number}: {len(fields)} numbers, more than {what} needs "
                                                f"(a file for another number of views?)")
                values.append(_number(self.path, number, field))
        return np.array(values, dtype=np.float32)

    def check_end(self, what: str) -> None:
        """Only blank lines may follow the last list."""
        for index in range(self.next, len(self.lines)):
            if self.lines[index].strip():
                raise file_error(self.path, f"line {index + 1}: more data after {what} (a file for another number "
                                            f"of views or areas?)")


def _number(path, line: int, field: str) -> float:
    if not _REAL.fullmatch(field):
        raise file_error(path, f"line {line}: {field[:40]!r} is not a number")
    value = float(field.replace("d", "e").replace("D", "e"))
    if not math.isfinite(value) or abs(value) > _FLOAT32_MAX:
        raise file_error(path, f"line {line}: {field[:40]!r} is not a finite single-precision number")
    return value


def _header(path, line: str) -> list[float]:
    fields = [f for f in _SEPARATORS.split(line.strip()) if f]
    if not 6 <= len(fields) <= 9:
        raise file_error(path, f"line 1: {len(fields)} numbers; a local alignment header has 6 to 9 (areas in X "
                               f"and Y, first area X and Y, spacing X and Y, [X-tilt flag, pixel size, Z flag])")
    values = [_number(path, 1, field) for field in fields]
    for index, value in enumerate(values):
        if index != 7 and value != round(value):
            raise file_error(path, f"line 1: the {_HEADER_FIELDS[index]} ({fields[index]}) is not a whole number")
    return values + [0.0] * (9 - len(values))


def _check_header(path, values: list[float]) -> None:
    nx, ny, _, _, dx, dy, alpha_flag, pixel, z_flag = values
    if nx < 2 or ny < 2:
        raise file_error(path, f"line 1: {int(nx)} x {int(ny)} local areas; IMOD needs at least 2 in X and in Y")
    if dx < 1 or dy < 1:
        raise file_error(path, f"line 1: area spacing {int(dx)}, {int(dy)}; it must be at least 1 pixel")
    for name, flag in (("X-axis tilt flag", alpha_flag), ("Z-factor flag", z_flag)):
        if flag not in (0, 1):
            raise file_error(path, f"line 1: the {name} is {int(flag)}; it must be 0 or 1")
    if pixel < 0:
        raise file_error(path, f"line 1: pixel size {pixel:g} is negative")


def read_local_file(path, nviews: int) -> LocalAlignments:
    """Read and check the local alignment file at ``path`` for a stack of ``nviews`` views (all of them, excluded
    ones included, as IMOD's file has)."""
    lines = _read_text(path).splitlines()
    if not lines or not lines[0].strip():
        raise file_error(path, "is empty or has a blank first line; expected a local alignment header")
    values = _header(path, lines[0])
    _check_header(path, values)
    nx, ny, x0, y0, dx, dy = (int(v) for v in values[:6])
    has_dalpha, has_z = values[6] == 1, values[8] == 1
    reader = _ListReader(path, lines, 1)
    dtilt, dalpha, zfac, xforms = [], [], [], []
    for area in range(nx * ny):
        where = f"area {area + 1} (X {area % nx + 1}, Y {area // nx + 1})"
        dtilt.append(reader.take(nviews, f"{where}: the tilt-angle changes"))
        dalpha.append(reader.take(nviews, f"{where}: the X-axis tilt changes") if has_dalpha
                      else np.zeros(nviews, np.float32))
        zfac.append(reader.take(2 * nviews, f"{where}: the Z factors").reshape(nviews, 2) if has_z
                    else np.zeros((nviews, 2), np.float32))
        xforms.append(np.stack([reader.take(6, f"{where}: the transform of view {v + 1}") for v in range(nviews)]))
    reader.check_end(f"the {nx * ny} areas")
    xforms = np.stack(xforms)  # [area, view, (a11 a12 a21 a22 dx dy)]
    transforms = xforms[:, :, [0, 1, 4, 2, 3, 5]].reshape(nx * ny, nviews, 2, 3)
    return LocalAlignments(path=str(path), nx_areas=nx, ny_areas=ny, start=(x0, y0), spacing=(dx, dy),
                           pixel_size=float(np.float32(values[7])), has_dalpha=has_dalpha, has_zfactors=has_z,
                           dtilt=np.stack(dtilt), dalpha=np.stack(dalpha), zfactors=np.stack(zfac),
                           transforms=np.ascontiguousarray(transforms))


def read_zfactor_file(path, nviews: int) -> np.ndarray:
    """The Z factors of a ``ZFACTORFILE`` (one ``x y`` pair per view of the stack), float32 ``(nviews, 2)``."""
    lines = _read_text(Path(path)).splitlines()
    reader = _ListReader(path, lines, 0)
    values = reader.take(2 * nviews, f"the Z factors of {nviews} views")
    reader.check_end(f"the {nviews} pairs of Z factors")
    return values.reshape(nviews, 2)
