"""Whether the values of a reconstruction fit the output mode, and the ``--scale`` that would make them fit.

Modes 0 and 1 store integers (0..255, -32768..32767) and mode 12 half floats (up to 65504): a reconstruction is
rounded and clipped into them.  An IMOD WBP of counts spans thousands of levels, but a SIRT or ADMM volume of
densities spans a few units, and rounding leaves a handful of distinct values.  So, once every slab is written
(the range is known only then), the run judges what storing did, from the values as computed:

- without ``--scale``, an output that clipped any voxel, or (integer modes) spans fewer than ``MIN_LEVELS``
  levels, is refused, and the message gives the ``--scale`` that maps the values into the mode's range as IMOD
  suggests (bytes 10..245, integers -15000..15000);
- with ``--scale``, the output is written as asked, with a warning that says how much of it was clipped.

``--scale ADD,MULT`` means IMOD's SCALE for every algorithm: the output is ``(value + ADD) * MULT``.
"""

from __future__ import annotations

import warnings

from .errors import InputError
from .formats.writer import VolumeStats
from .options.spelling import spelled

MIN_LEVELS = 100  # integer levels an output must span: rounding then changes values by under 1 % of the range
TARGETS = {0: ("bytes (10..245)", 10.0, 235.0), 1: ("-15000..15000", -15000.0, 30000.0),
           12: ("-30000..30000", -30000.0, 60000.0)}  # IMOD's suggested ranges (half floats: within 65504)
LIMITS = {0: (0, 255), 1: (-32768, 32767), 12: (-65504, 65504)}


def suggested_scale(stats: VolumeStats, scale: tuple[float, float], bottom: float, width: float) -> tuple | None:
    """The ``(add, mult)`` that maps the computed values (made with ``scale``) onto ``bottom .. bottom+width``;
    None without a range."""
    add, mult = scale
    if not stats.count or stats.computed_maximum <= stats.computed_minimum:
        return None
    low, high = sorted((stats.computed_minimum / mult - add, stats.computed_maximum / mult - add))
    new_mult = width / (high - low)
    return bottom / new_mult - low, new_mult


def scale_suggestions(stats: VolumeStats, scale: tuple[float, float]) -> list[str]:
    """IMOD's end-of-run advice: the ``--scale`` that would map the output to bytes and to integers."""
    lines = []
    for mode in (0, 1):
        name, bottom, width = TARGETS[mode]
        found = suggested_scale(stats, scale, bottom, width)
        if found is not None:
            lines.append(f"to scale the output to {name}, use --scale {_pair(found)} (IMOD SCALE)")
    return lines


def check_stored_range(path, stats: VolumeStats, mode: int, scale: tuple[float, float] | None) -> None:
    """Refuse or report what storing did to the values of the output ``path`` in ``mode`` (see the module);
    ``scale`` None: no ``--scale`` was given."""
    if mode not in LIMITS or not stats.count:
        return
    low, high = LIMITS[mode]
    clipped = stats.clipped / stats.count
    levels = stats.computed_maximum - stats.computed_minimum
    few = mode in (0, 1) and levels < MIN_LEVELS
    if scale is None and (stats.clipped or few):
        problem = (f"would clip {_percent(clipped)} of the voxels to {low}..{high}" if stats.clipped else
                   f"would round the values ({stats.computed_minimum:.4g} to {stats.computed_maximum:.4g}) to "
                   f"{max(int(levels) + 1, 1)} distinct levels")
        name, bottom, width = TARGETS[mode]
        found = suggested_scale(stats, (0.0, 1.0), bottom, width)
        scale_option, mode_option = spelled("scale"), spelled("mode")
        fix = f"{scale_option} {_pair(found)} (maps them to {name})" if found else scale_option
        raise InputError(f"{path}: {mode_option} {mode} {problem}; no output written: rerun with {fix}, or with "
                         f"{mode_option} 2")
    if stats.clipped:
        warnings.warn(f"{path}: {_percent(clipped)} of the voxels ({stats.computed_minimum:.4g} to "
                      f"{stats.computed_maximum:.4g}) were clipped to mode {mode}'s {low}..{high}")


def _pair(scale: tuple[float, float]) -> str:
    add, mult = scale
    return f"{add:.6g},{mult:.6g}"


def _percent(fraction: float) -> str:
    return f"{100 * fraction:.3g} %" if fraction >= 1e-3 else f"{100 * fraction:.2g} %"
