"""The sane range of every number tiltrec takes, declared once per option and checked where the numbers enter.

Each reconstruction option's range is declared with it in options.table; the command line, tilt.com files
(``--com``, ``-StandardInput``) and ``tiltrec.reconstruct`` all pass through options.request, so a NaN, an
infinity or an absurd value is refused in one line before any file is opened, whichever way it came in.
``tiltrec simulate`` declares its own table with the same :class:`Limit`.

The bounds keep every intermediate value of the float32 arithmetic finite: data (inputs.ProjectionSource.stats)
and added constants at most :data:`DATA_LIMIT` in magnitude, filter gains below about 2^17 (the padded row length
of the widest views), and a ``--scale`` multiplier at most :data:`SCALE_LIMIT`, so that the output stays below
about 1e30, far inside float32's 3.4e38.  Values beyond them are typing errors (``1e38`` for ``1e3``) or units
mixed up, never data.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from numbers import Integral, Real

from .errors import InputError

DATA_LIMIT = 1e12  # the largest magnitude of the data, of --log-base and of --scale's ADD
SCALE_LIMIT = 1e12  # the largest magnitude of --scale's MULT
PIXEL_LIMIT = 1e6  # shifts and filter frequencies in pixels: float32 coordinates keep 1/16 pixel up to 2^20
MEMORY_LIMIT = 1 << 50  # bytes (1024 TiB): far beyond any machine; more is a typing error


@dataclass(frozen=True)
class Limit:
    """The range of one option: ``low`` to ``high`` (excluded where ``*_open``; 0 excluded unless ``zero``), said
    as ``text`` in the message ``NAME must be TEXT, got VALUE``; ``integral`` options take whole numbers only;
    ``each`` applies the range to every entry of a sequence."""

    name: str
    low: float
    high: float
    text: str
    low_open: bool = False
    high_open: bool = False
    integral: bool = False
    each: bool = False
    zero: bool = True

    def holds(self, value) -> bool:
        """Whether ``value`` is a number of the right kind within the range (NaN never is)."""
        kind = Integral if self.integral else Real
        if isinstance(value, bool) or not isinstance(value, kind) or not math.isfinite(value):
            return False
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below and (self.zero or value != 0)

    def check(self, value, name: str | None = None) -> None:
        """An InputError naming the option (``name``, else its own) unless ``value`` (every entry of it, with
        ``each``) holds."""
        entries = value if self.each and isinstance(value, Iterable) and not isinstance(value, str) else (value,)
        for entry in entries:
            if not self.holds(entry):
                raise InputError(f"{name or self.name} must be {self.text}, got {_shown(entry)}")


def _shown(value) -> str:
    """A value as the user typed it: ``nan``, ``1e+38``, ``3``; anything but a number in quotes."""
    if isinstance(value, Integral):
        return str(value)
    return f"{value:g}" if isinstance(value, Real) else repr(value)


def check_fields(values: dict, limits: dict) -> None:
    """Apply ``limits`` (name -> a Limit, or a tuple of Limits for a fixed-length pair) to the ``values`` of those
    names; None means "not given" and is skipped."""
    for field, limit in limits.items():
        value = values[field]
        if value is None:
            continue
        if isinstance(limit, Limit):
            limit.check(value)
            continue
        entries = tuple(value) if isinstance(value, (tuple, list)) else (value,)
        if len(entries) != len(limit):
            raise InputError(f"{limit[0].name.split()[0]} takes {len(limit)} numbers, got {value!r}")
        for one, entry in zip(limit, entries):
            one.check(entry)


def pixel_size(name: str) -> Limit:
    """Angstrom per pixel, as written to headers."""
    return Limit(name, 0, 1e6, "positive, at most 1e+06 Angstrom", low_open=True)
