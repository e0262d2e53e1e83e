"""The sane range of every number tiltrec takes, declared once per option and checked where the numbers enter.

The command line, tilt.com files (``--com``, ``-StandardInput``) and ``tiltrec.reconstruct`` all end in
``reconstruction.Options``, whose ``check`` applies :data:`OPTIONS`: a NaN, an infinity or an absurd value is
refused in one line before any file is opened, whichever way it came in.  ``tiltrec simulate`` declares its own
table with the same :class:`Limit`.

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

    def check(self, value) -> None:
        """An InputError naming the option unless ``value`` (every entry of it, with ``each``) holds."""
        entries = value if self.each and isinstance(value, Iterable) and not isinstance(value, str) else (value,)
        for entry in entries:
            if not self.holds(entry):
                raise InputError(f"{self.name} must be {self.text}, got {_shown(entry)}")


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


def _size(name: str) -> Limit:
    return Limit(name, 1, math.inf, "a positive whole number of pixels", integral=True)


def _count(name: str, low: int = 1) -> Limit:
    return Limit(name, low, math.inf, f"a whole number, at least {low}", integral=True)


def _pixels(name: str) -> Limit:
    return Limit(name, -PIXEL_LIMIT, PIXEL_LIMIT, f"between -{PIXEL_LIMIT:g} and {PIXEL_LIMIT:g} pixels")


def pixel_size(name: str) -> Limit:
    """Angstrom per pixel, as written to headers."""
    return Limit(name, 0, 1e6, "positive, at most 1e+06 Angstrom", low_open=True)


# reconstruction.Options: field -> its limit (listed in docs/troubleshooting.md, "Numbers out of range")
OPTIONS: dict = {
    "thickness": _size("--thickness"),
    "width": _size("--width"),
    "binning": _count("--bin"),
    "iterations": _count("iterations"),
    "cg_iterations": _count("--cg-iter"),
    "checkpoint_every": _count("--checkpoint-every"),
    "fake_sirt": _count("--fake-sirt", 0),
    "cosine_stretch": _count("the cosine-stretch factor (COSINTERP)", 0),
    "threads": _count("--threads"),
    "device": _count("--device", 0),
    "slices": (_count("--slices first", 0), _count("--slices last", 0)),
    "full_image": (_size("FULLIMAGE x"), _size("FULLIMAGE y")),
    "subset_start": (Limit("SUBSETSTART x", -math.inf, math.inf, "a whole number", integral=True),
                     Limit("SUBSETSTART y", -math.inf, math.inf, "a whole number", integral=True)),
    "memory": Limit("--memory", 1, MEMORY_LIMIT, "a number of bytes from 1 byte to 1024 TiB", integral=True),
    "offset": Limit("--offset", -90, 90, "between -90 and 90 degrees", low_open=True, high_open=True),
    "pitch": Limit("--pitch", -90, 90, "between -90 and 90 degrees", low_open=True, high_open=True),
    "xtilt": Limit("the X-axis tilts (--xtilt)", -90, 90, "between -90 and 90 degrees", low_open=True,
                   high_open=True, each=True),
    "xshift": _pixels("--xshift"),
    "zshift": _pixels("--zshift"),
    "axis_offset": _pixels("the tilt axis offset (OFFSET's second value)"),
    # SIRT and SART converge for relaxation factors strictly between 0 and 2
    "relax": Limit("--relax", 0, 2, "greater than 0 and less than 2", low_open=True, high_open=True),
    "cutoff": Limit("--cutoff", 0, 1, "in (0, 1]", low_open=True),
    "radial": (Limit("--radial CUTOFF", 0, PIXEL_LIMIT, f"positive (below 1: cycles/pixel, from 1: pixels), at most "
                                                          f"{PIXEL_LIMIT:g}", low_open=True),
               Limit("--radial FALLOFF", 0, PIXEL_LIMIT, f"0 or positive, at most {PIXEL_LIMIT:g}")),
    "hamming": Limit("--hamming", 0, 0.5, "between 0 and 0.5 cycles/pixel"),
    "log": Limit("--log-base", -DATA_LIMIT, DATA_LIMIT, f"between -{DATA_LIMIT:g} and {DATA_LIMIT:g}"),
    "scale": (Limit("--scale ADD", -DATA_LIMIT, DATA_LIMIT, f"between -{DATA_LIMIT:g} and {DATA_LIMIT:g}"),
              Limit("--scale MULT", -SCALE_LIMIT, SCALE_LIMIT, f"non-zero, between -{SCALE_LIMIT:g} and "
                                                               f"{SCALE_LIMIT:g}", zero=False)),
    # ADMM's weights are relative to the data (algorithms.admm.weights): the defaults are 1
    "lam": Limit("--lambda", 0, 1e6, "positive or 0, at most 1e+06"),
    "rho": Limit("--rho", 1e-6, 1e6, "positive, from 1e-06 to 1e+06"),
}
