"""Fourier shell (ring) correlation of two maps, its threshold crossings, and a PNG plot of it.

Frequencies are in cycles/pixel.  Each axis's frequency is normalised by that axis's own length, so
non-cubic boxes work; shells are ``1 / n`` wide, ``n`` the longest transformed axis, except below ``LOW``
cycles/pixel, where consecutive shells are merged until each holds at least ``SHELL_VOXELS`` Fourier voxels: a
shell's correlation scatters by about ``1 / sqrt(voxels)`` (0.07 at 200), and there a thin shell of a few dozen
voxels can dip below 0.5 by chance alone.

The crossing of a threshold is where the curve (of those shells) first falls below it, interpolated between
shells: what a reader takes off the plot.  Leading shells of fewer than ``MIN_VOXELS`` voxels are not judged.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..errors import InputError
from ..formats import read_volume
from ..formats.file_roles import FileUse, check_distinct
from ..preview import check_png, save_png

AXES = {"x": 2, "y": 1, "z": 0}  # file axes of a volume read in file order
THRESHOLDS = (0.143, 0.5)
SHELL_VOXELS = 200  # voxels of a merged low shell (see the module)
LOW = 0.05  # cycles/pixel: shells below are merged
MIN_VOXELS = 20  # leading shells with fewer are not judged


@dataclass(frozen=True)
class FrcCurve:
    """Correlation per shell: ``frequencies`` (shell centres, cycles/pixel), ``correlation`` and
    ``counts`` (Fourier voxels per shell); empty shells are left out."""

    frequencies: np.ndarray
    correlation: np.ndarray
    counts: np.ndarray

    def crossing(self, threshold: float) -> float | None:
        """First frequency where the curve falls below ``threshold``, interpolated linearly between shells; None
        if it never does.  Leading shells of fewer than ``MIN_VOXELS`` voxels (the zero-frequency shell, the
        lowest shells of flat boxes) are too noisy to judge and are left out."""
        start = int(np.argmax(self.counts >= MIN_VOXELS))
        below = np.flatnonzero(self.correlation[start:] < threshold) + start
        if below.size == 0 or self.counts[start] < MIN_VOXELS:
            return None
        i = int(below[0])
        if i == start:
            return float(self.frequencies[i])
        (f0, f1), (c0, c1) = self.frequencies[i - 1:i + 1], self.correlation[i - 1:i + 1]
        return float(f0 + (c0 - threshold) / (c0 - c1) * (f1 - f0))

    def resolution(self, threshold: float, pixel_size: float) -> float | None:
        """The ``threshold`` crossing as a resolution, ``pixel_size / frequency`` (Angstrom when
        ``pixel_size`` is); None without a crossing."""
        frequency = self.crossing(threshold)
        return pixel_size / frequency if frequency else None


def fourier_shell_correlation(a, b, *, axis=None, shells=None, min_voxels=SHELL_VOXELS) -> FrcCurve:
    """FSC of two equal-shape 3-D volumes over spherical shells, or the FRC of two 2-D images.

    With ``axis`` ("x", "y" or "z": file axes 2, 1, 0 of a volume), the 2-D FRC of the sections
    perpendicular to it, summed over all sections (numerators and denominators alike).
    ``shells``: number of shells from 0 to 0.5 cycles/pixel [default: n // 2 + 1, n the longest
    axis transformed]; those below ``LOW`` are merged until each holds ``min_voxels`` (see the module).
    """
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise InputError(f"cannot correlate maps of different shapes {a.shape} and {b.shape}")
    if a.ndim not in (2, 3) or min(a.shape) < 2:
        raise InputError(f"need 2-D images or 3-D volumes at least 2 pixels wide, got shape {a.shape}")
    if axis is None:
        a, b = a[np.newaxis], b[np.newaxis]  # one section: the whole map
    elif a.ndim != 3 or axis not in AXES:
        raise InputError(f"axis {axis!r} needs a 3-D volume and one of x, y, z")
    else:
        a, b = np.moveaxis(a, AXES[axis], 0), np.moveaxis(b, AXES[axis], 0)
    axes = tuple(range(1, a.ndim))
    fa, fb = np.fft.rfftn(a, axes=axes), np.fft.rfftn(b, axes=axes)
    sums = [_section_sum(fa * fb.conj()), _section_sum(fa * fa.conj()), _section_sum(fb * fb.conj())]
    return _curve(a.shape[1:], sums, shells, len(a), min_voxels)


def _section_sum(values):
    """Real part of ``values`` summed over the sections (axis 0), in float64."""
    return np.real(values).sum(axis=0, dtype=np.float64)


def _curve(plane, sums, shells, nsections, min_voxels) -> FrcCurve:
    """Bin the per-frequency ``sums`` (cross, power a, power b) of an rfft over ``plane``; low shells merged up to
    ``min_voxels`` voxels each."""
    shells = max(plane) // 2 + 1 if shells is None else int(shells)
    if shells < 2:
        raise InputError(f"need at least 2 shells, got {shells}")
    width = 0.5 / (shells - 1)
    index, weight = _shell_index(plane, width)
    keep = index < shells
    index, weight = index[keep], weight[keep]
    cross, power_a, power_b = (np.bincount(index, weights=(weight * s.reshape(-1)[keep]),
                                           minlength=shells) for s in sums)
    counts = np.bincount(index, weights=weight, minlength=shells) * nsections
    filled = counts > 0
    group = _groups(counts[filled], np.arange(shells)[filled] * width, min_voxels)
    merge = lambda values: np.bincount(group, weights=values[filled])  # noqa: E731
    cross, power_a, power_b, counts, moments = (merge(v) for v in (cross, power_a, power_b, counts,
                                                                     counts * np.arange(shells) * width))
    denominator = np.sqrt(power_a * power_b)
    correlation = np.divide(cross, denominator, out=np.zeros_like(cross), where=denominator > 0)
    return FrcCurve(moments / counts, correlation, np.rint(counts).astype(np.int64))


def _groups(counts, frequencies, min_voxels) -> np.ndarray:
    """The group of each shell: below ``LOW`` shells join a group until it holds ``min_voxels``; above, each
    shell is a group of its own."""
    group, total, current = np.empty(len(counts), np.int64), 0.0, 0
    for i, (n, f) in enumerate(zip(counts, frequencies)):
        if i and (total >= min_voxels or f >= LOW):
            current, total = current + 1, 0.0
        group[i], total = current, total + n
    return group


def _shell_index(plane, width):
    """Flat shell index of every rfft coefficient over ``plane``, and its multiplicity in the full
    spectrum (2 for a coefficient standing for a conjugate pair, else 1)."""
    freqs = [np.fft.fftfreq(n) for n in plane[:-1]] + [np.fft.rfftfreq(plane[-1])]
    grids = np.meshgrid(*freqs, indexing="ij", sparse=True)
    radius = np.sqrt(sum(g ** 2 for g in grids))
    last = np.full(len(freqs[-1]), 2.0)
    last[0] = 1.0
    if plane[-1] % 2 == 0:
        last[-1] = 1.0
    weight = np.broadcast_to(last, radius.shape)
    return np.rint(radius / width).astype(np.int64).reshape(-1), weight.reshape(-1)


# ----------------------------------------------------------------------------- files


def frc_command(a_path, b_path, *, axis=None, plot=None, overwrite=False) -> dict:
    """FSC (or per-section FRC with ``axis``) of two volume files and its 0.143 and 0.5 crossings.

    Files of one section are compared as images (FRC).  The pixel size is file A's; a size of 1.0
    counts as unknown (crossings in pixels only).  ``plot``: path of a PNG of the curve to write (an existing
    file is replaced only with ``overwrite``; never one of the volumes).
    """
    if plot is not None:
        check_distinct([FileUse("first volume", Path(a_path)), FileUse("second volume", Path(b_path))],
                       [FileUse("plot", Path(plot))])
        check_png(Path(plot), overwrite)
    a, pixel_size = read_volume(a_path)
    b, _ = read_volume(b_path)
    if a.shape != b.shape:
        raise InputError(f"{a_path} ({_dims(a.shape)}) and {b_path} ({_dims(b.shape)}) differ in "
                         f"size")
    if len(a) == 1 and axis is None:
        a, b = a[0], b[0]
    pixel_size = None if pixel_size == 1.0 else pixel_size
    curve = fourier_shell_correlation(a, b, axis=axis)
    if plot is not None:
        write_frc_plot(curve, plot, pixel_size=pixel_size, title=f"{Path(a_path).name} vs {Path(b_path).name}",
                       overwrite=overwrite)
    return {"a": str(a_path), "b": str(b_path), "shape": a.shape, "axis": axis,
            "pixel_size": pixel_size, "curve": curve,
            "crossings": {t: _crossing(curve, t, pixel_size) for t in THRESHOLDS}}


def _dims(shape) -> str:
    """File-order shape as ``nx x ny x nz`` (``nx x ny`` for an image)."""
    return " x ".join(str(n) for n in reversed(shape))


def _crossing(curve, threshold, pixel_size) -> dict:
    """``threshold``'s crossing as frequency, pixels and Angstrom (None where unknown)."""
    frequency = curve.crossing(threshold)
    pixels = 1 / frequency if frequency else None
    angstrom = pixels * pixel_size if pixels and pixel_size else None
    return {"frequency": frequency, "pixels": pixels, "angstrom": angstrom}


def format_frc(result, *, shells=False) -> str:
    """Text report of :func:`frc_command`'s result: the crossings, and with ``shells`` the curve."""
    kind = "FSC" if len(result["shape"]) == 3 else "FRC"
    if result["axis"] is not None:
        kind = f"FRC of sections perpendicular to {result['axis']}"
    size = result["pixel_size"]
    lines = [f"{kind}: {result['a']} vs {result['b']} ({_dims(result['shape'])}; pixel size "
             f"{'unknown' if size is None else f'{size:g} A'})",
             f"{'threshold':>9}  {'cycles/px':>9}  {'pixels':>7}  {'Angstrom':>8}"]
    last = float(result["curve"].frequencies[-1])
    for threshold, c in result["crossings"].items():
        if c["frequency"] is None:
            lines.append(f"{threshold:>9g}  not crossed: above it up to the highest shell ({last:.4f} cycles/px)")
            continue
        values = [f"{c['frequency']:9.4f}", _maybe(c["pixels"], 7), _maybe(c["angstrom"], 8)]
        lines.append(f"{threshold:>9g}  " + "  ".join(values))
    if shells:
        curve = result["curve"]
        lines.append(f"{'cycles/px':>9}  {'corr':>7}  {'voxels':>8}")
        lines += [f"{f:9.4f}  {c:7.4f}  {n:8d}"
                  for f, c, n in zip(curve.frequencies, curve.correlation, curve.counts)]
    return "\n".join(lines)


def _maybe(value, width) -> str:
    """``value`` to 2 decimals in ``width`` characters, or a dash for None."""
    return f"{value:{width}.2f}" if value is not None else f"{'-':>{width}}"


# ----------------------------------------------------------------------------- plot

PLOT_SIZE = (640, 440)
MARGIN = (70, 40, 20, 50)  # left, top, right, bottom
Y_RANGE = (-0.2, 1.0)
COLOURS = {"curve": (31, 90, 180), "axes": (0, 0, 0), "grid": (220, 220, 220),
           "threshold": (200, 60, 40)}


def write_frc_plot(curve, path, *, pixel_size=None, thresholds=THRESHOLDS, title=None, overwrite=False) -> None:
    """Write a PNG of ``curve`` (0..0.5 cycles/pixel by -0.2..1) with dashed ``thresholds`` and
    their crossings labelled (in Angstrom too when ``pixel_size`` is known); written atomically."""
    image = Image.new("RGB", PLOT_SIZE, "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=12)
    _draw_axes(draw, font)
    points = [_xy(f, np.clip(c, *Y_RANGE)) for f, c in zip(curve.frequencies, curve.correlation)]
    draw.line(points, fill=COLOURS["curve"], width=2)
    for n, threshold in enumerate(thresholds):
        _draw_threshold(draw, font, curve, threshold, pixel_size, n)
    if title:
        draw.text((PLOT_SIZE[0] / 2, 12), title, fill=COLOURS["axes"], font=font, anchor="mt")
    save_png(image, path, overwrite)


def _xy(frequency, correlation):
    """Pixel position of a (frequency, correlation) point."""
    left, top, right, bottom = MARGIN
    width, height = PLOT_SIZE[0] - left - right, PLOT_SIZE[1] - top - bottom
    low, high = Y_RANGE
    return (left + frequency / 0.5 * width, top + (high - correlation) / (high - low) * height)


def _draw_axes(draw, font):
    """Frame, grid lines, tick labels and axis titles."""
    for f in np.arange(0, 0.51, 0.1):
        draw.line([_xy(f, Y_RANGE[0]), _xy(f, Y_RANGE[1])], fill=COLOURS["grid"])
        x, y = _xy(f, Y_RANGE[0])
        draw.text((x, y + 4), f"{f:.1f}", fill=COLOURS["axes"], font=font, anchor="mt")
    for c in np.arange(Y_RANGE[0], Y_RANGE[1] + 0.01, 0.2):
        draw.line([_xy(0, c), _xy(0.5, c)], fill=COLOURS["grid"])
        x, y = _xy(0, c)
        draw.text((x - 6, y), f"{c:.1f}", fill=COLOURS["axes"], font=font, anchor="rm")
    draw.line([_xy(0, 0), _xy(0.5, 0)], fill=COLOURS["axes"])
    draw.rectangle([_xy(0, Y_RANGE[1]), _xy(0.5, Y_RANGE[0])], outline=COLOURS["axes"])
    x, y = _xy(0.25, Y_RANGE[0])
    draw.text((x, y + 22), "spatial frequency (cycles/pixel)", fill=COLOURS["axes"], font=font,
              anchor="mt")
    x, y = _xy(0, 1.0)
    draw.text((x - 6, y - 8), "correlation", fill=COLOURS["axes"], font=font, anchor="rb")


def _draw_threshold(draw, font, curve, threshold, pixel_size, n):
    """Dashed line at ``threshold``, a mark at its crossing and a label (n-th, stacked)."""
    (x0, y), (x1, _) = _xy(0, threshold), _xy(0.5, threshold)
    for x in np.arange(x0, x1, 10):
        draw.line([(x, y), (min(x + 5, x1), y)], fill=COLOURS["threshold"])
    frequency = curve.crossing(threshold)
    text = f"{threshold:g}: not reached"
    if frequency is not None:
        x, _ = _xy(frequency, threshold)
        draw.line([(x, y - 6), (x, y + 6)], fill=COLOURS["threshold"], width=2)
        text = f"{threshold:g}: {frequency:.3f} cycles/px"
        if pixel_size is not None and frequency > 0:
            text += f" ({pixel_size / frequency:.1f} A)"
    right, top = _xy(0.5, Y_RANGE[1])
    draw.text((right - 6, top + 6 + 16 * n), text, fill=COLOURS["threshold"], font=font,
              anchor="ra")
