"""What a tilt series or volume file holds: header fields, value statistics, angles, layout.

Statistics are computed from the data in blocks of rows, so files of any size can be described.
"""

import warnings
from pathlib import Path

import h5py
import mrcfile
import mrcfile.utils
import numpy as np

from ..errors import file_error
from ..formats import VolumeStats, mrc, open_stack
from ..formats.hdf5 import IMAGES
from ..formats.layout import layout_kind
from ..formats.mrc import IMOD_STAMP, bytes_signed, header_labels, header_origin, imod_words
from ..formats.writer import backend_for

BLOCK_VALUES = 1 << 22  # values read at a time for the statistics
MISMATCH = 0.01  # header statistics further than this fraction of the data range are flagged
STATS = ("min", "max", "mean")


def describe(path) -> dict:
    """Header fields, value statistics, per-view angles and a layout guess of an MRC or EMAN2 HDF5 file.

    Keys: path, format, nx, ny, nz, mode, dtype, pixel_size, origin, labels, extended_type,
    extended_bytes, imod_stamp, imod_flags, bytes_signed (mode 0 only), header_stats and stats
    (min, max, mean; stats also std), stats_mismatch (names), angles (first, last, count, step,
    uniform) and layout.  Unknown values are None: ``pixel_size`` when the file gives none (or
    1.0), ``header_stats`` when the header holds none, ``angles`` without per-view angles.
    """
    path = Path(path)
    header = _mrc_header if backend_for(path) is mrc else _hdf5_header
    with open_stack(path) as stack:
        info = {"path": str(path), "nx": stack.nx, "ny": stack.ny, "nz": stack.nviews,
                "pixel_size": None if stack.pixel_size == 1.0 else stack.pixel_size,
                "angles": _angles(stack.header_angles)}
        try:
            info.update(header(path))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise file_error(path, f"has an unreadable header: {exc}") from None
        info["stats"] = _stats(stack)
    info["stats_mismatch"] = _mismatch(info["header_stats"], info["stats"])
    info["layout"] = _layout(info)
    return info


def _mrc_header(path: Path) -> dict:
    """The MRC header fields of :func:`describe`."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with mrcfile.open(path, permissive=True, header_only=True) as handle:
            h = handle.header
    mode = int(h.mode)
    stamp, flags = (int(word) for word in imod_words(h, 40, "i4", 2))
    signed = bytes_signed(h) if mode == 0 else None
    dtype = mrcfile.utils.dtype_from_mode(mode) if signed is not False else np.dtype(np.uint8)
    kind = bytes(h.exttyp).rstrip(b"\0 ").decode("ascii", "replace")
    stats = (float(h.dmin), float(h.dmax), float(h.dmean))
    return {"format": "MRC", "mode": mode, "dtype": np.dtype(dtype).name,
            "origin": header_origin(h),  # as IMOD reads it (negated under its inverted-origin flag)
            "labels": header_labels(h),
            "extended_type": kind or None, "extended_bytes": int(h.nsymbt),
            "imod_stamp": stamp == IMOD_STAMP,
            "imod_flags": flags if stamp == IMOD_STAMP else None, "bytes_signed": signed,
            "header_stats": _header_stats(*stats, offset=128.0 if signed else 0.0)}


def _hdf5_header(path: Path) -> dict:
    """The EMAN2 attributes of the first image, in :func:`describe`'s MRC terms."""
    with h5py.File(path, "r") as handle:
        group = handle[f"{IMAGES}/0"]
        attrs, dtype = group.attrs, group["image"].dtype
        origin = tuple(_number(attrs, f"EMAN.origin_{axis}") or 0.0 for axis in "xyz")
        stats = [_number(attrs, f"EMAN.{key}") for key in ("minimum", "maximum", "mean")]
    return {"format": "EMAN2 HDF5", "mode": None, "dtype": dtype.name, "origin": origin,
            "labels": [], "extended_type": None, "extended_bytes": 0, "imod_stamp": False,
            "imod_flags": None, "bytes_signed": None,
            "header_stats": None if None in stats else _header_stats(*stats)}


def _number(attrs, key: str) -> float | None:
    """Attribute ``key`` as a float, or None when absent or not one number."""
    value = np.asarray(attrs.get(key))
    return float(value) if value.size == 1 and value.dtype.kind in "iuf" else None


def _header_stats(low, high, mean, *, offset=0.0) -> dict | None:
    """Header min/max/mean in decoded units (``offset``: signed bytes read as +128); None when
    unset (max below min, or all zero)."""
    if not low <= high or low == high == mean == 0:
        return None
    return dict(zip(STATS, (low + offset, high + offset, mean + offset)))


def _stats(stack) -> dict:
    """Min, max, mean and standard deviation of the decoded values, read in row blocks."""
    rows = max(1, min(stack.ny, BLOCK_VALUES // stack.nx))
    views = max(1, BLOCK_VALUES // (rows * stack.nx))
    total = VolumeStats()
    for view in range(0, stack.nviews, views):
        for row in range(0, stack.ny, rows):
            block = stack.read(slice(view, view + views), slice(row, min(row + rows, stack.ny)))
            total = total.merge(VolumeStats.of(block))
    return {"min": total.minimum, "max": total.maximum, "mean": total.mean, "std": total.rms}


def _mismatch(header: dict | None, data: dict) -> list[str]:
    """Names of the header statistics that disagree with the data (by > 1 % of its range)."""
    if header is None:
        return []
    tolerance = MISMATCH * (data["max"] - data["min"])
    return [key for key in STATS if not abs(header[key] - data[key]) <= tolerance]


def _angles(angles) -> dict | None:
    """First, last, count and median step of per-view angles; ``uniform`` if all steps agree."""
    if angles is None:
        return None
    steps = np.diff(angles)
    step = float(np.median(steps)) if steps.size else None
    return {"first": float(angles[0]), "last": float(angles[-1]), "count": len(angles),
            "step": step, "uniform": bool(steps.size and np.allclose(steps, step, atol=0.05))}


LAYOUT_WORDS = {"tilt series": "tilt series (per-view angles in the file)", "image": "single image",
                "xzy": "xzy (IMOD PERPENDICULAR: ny is the thickness)",
                "xyz": "xyz (nz is the thickness; or a tilt series without angles)", None: "stack or unknown"}


def _layout(info) -> str:
    """A guess at how the axes of the file are used, in words."""
    return LAYOUT_WORDS[layout_kind(info["nx"], info["ny"], info["nz"], info["angles"] is not None)]


# ----------------------------------------------------------------------------- text


def format_info(info: dict) -> str:
    """Text report of :func:`describe`'s result, one fact per line."""
    lines = [f"file:            {info['path']}",
             f"format:          {_format_line(info)}",
             f"size:            {info['nx']} x {info['ny']} x {info['nz']} (nx x ny x nz)",
             f"layout:          {info['layout']}",
             f"pixel size:      {_pixel_line(info['pixel_size'])}",
             "origin:          {:g}, {:g}, {:g}".format(*info["origin"])]
    if info["format"] == "MRC":
        lines += [f"extended header: {_extended_line(info)}", f"IMOD:            {_imod_line(info)}"]
    lines += [f"angles:          {_angles_line(info['angles'])}",
              "values:          min {min:g}, max {max:g}, mean {mean:g}, std {std:g}".format(
                  **info["stats"]),
              f"header stats:    {_header_line(info)}"]
    lines += [f"label {n}:{'':9}{text}" for n, text in enumerate(info["labels"], 1)]
    return "\n".join(lines)


def _format_line(info) -> str:
    if info["mode"] is None:
        return f"{info['format']}, {info['dtype']}"
    return f"{info['format']}, mode {info['mode']} ({info['dtype']})"


def _pixel_line(size) -> str:
    return "unknown" if size is None else f"{size:g} A"


def _extended_line(info) -> str:
    if not info["extended_bytes"]:
        return "none"
    return f"{info['extended_bytes']} bytes, type {info['extended_type'] or '(unnamed)'}"


def _imod_line(info) -> str:
    text = f"stamp, flags {info['imod_flags']}" if info["imod_stamp"] else "no stamp"
    if info["bytes_signed"] is not None:
        bit = "set" if info["bytes_signed"] else "clear"
        rule = f"IMOD flag bit 0 {bit}" if info["imod_stamp"] else "header min/max; no IMOD stamp"
        text += f"; bytes {'signed' if info['bytes_signed'] else 'unsigned'} ({rule})"
    return text


def _angles_line(angles) -> str:
    if angles is None:
        return "none in the file"
    text = f"{angles['count']} views, {angles['first']:.2f} to {angles['last']:.2f}"
    if angles["step"] is not None:
        text += f", step {angles['step']:.2f}" + ("" if angles["uniform"] else " (median; uneven)")
    return text


def _header_line(info) -> str:
    header = info["header_stats"]
    if header is None:
        return "not set"
    text = "min {min:g}, max {max:g}, mean {mean:g}".format(**header)
    if not info["stats_mismatch"]:
        return text + " (agree with the data)"
    return text + f" (MISMATCH with the data: {', '.join(info['stats_mismatch'])})"
