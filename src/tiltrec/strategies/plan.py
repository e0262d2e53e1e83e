"""Slabs: which output slices are computed and written together, sized by a memory budget."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import InputError
from ..projectors.pitch_frame import PitchFrame

BYTES = 4  # float32
FRAME_VOLUMES = 2


@dataclass(frozen=True)
class Slab:
    """Output slices ``[y0, y1)`` (input rows) written together, computed over ``[c0, c1)`` (with any halo)."""

    y0: int
    y1: int
    c0: int
    c1: int


@dataclass(frozen=True)
class Footprint:
    """Bytes one computed slice costs: volume-sized and projection-sized working arrays per slice."""

    volumes: int
    projections: int

    def per_slice(self, geom) -> int:
        """Per slice of ``geom`` (a Geometry); with one X-axis tilt for all views the projector's tilted frame
        (projectors/pitch_frame.py) counts as two volumes, which covers its extra rows for slabs of 40 slices and
        more at 5 degrees."""
        volumes = self.volumes + (FRAME_VOLUMES if PitchFrame.applies(geom) else 0)
        return BYTES * (volumes * geom.thickness * geom.width + self.projections * geom.nviews * (geom.nx + 2))


def plan_slabs(first: int, stop: int, height: int, halo: int, ny: int) -> list[Slab]:
    """Split slices ``[first, stop)`` into slabs of ``height``, each computed with ``halo`` extra slices per side."""
    slabs = []
    for y0 in range(first, stop, height):
        y1 = min(stop, y0 + height)
        slabs.append(Slab(y0, y1, max(0, y0 - halo), min(ny, y1 + halo)))
    return slabs


def slab_height(budget: int, per_slice: int, halo: int, nslices: int, preferred: int | None) -> int:
    """The tallest slab (at most ``preferred`` slices) whose working set, halo included, fits ``budget`` bytes."""
    fit = budget // per_slice - 2 * halo
    if fit < 1:
        need = per_slice * (1 + 2 * halo)
        raise InputError(f"--memory {format_bytes(budget)} is too small: one slab needs {format_bytes(need)}")
    return max(1, min(nslices, fit, preferred or nslices))


def format_bytes(n: float) -> str:
    """Bytes in KiB, MiB, GiB or TiB, one decimal; below 1 KiB as a whole number of bytes."""
    if n < 1024:
        return f"{int(n)} byte" if int(n) == 1 else f"{int(n)} bytes"
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        n /= 1024
        if n < 1024:
            break
    return f"{n:.1f} {unit}"


def parse_bytes(text: str) -> int:
    """'512M', '2G', '1.5GiB', '1000000' -> bytes."""
    t = text.strip().upper().removesuffix("IB").removesuffix("B")
    scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}.get(t[-1:], 1)
    number = t[:-1] if t[-1:] in "KMGT" else t
    try:
        value = float(number) * scale
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise InputError(f"cannot read the memory size {text!r} (use e.g. 512M or 4G)")
    if value <= 0:
        raise InputError(f"memory size must be positive, got {text!r}")
    return math.ceil(value)  # a fraction of a byte is a byte; Options.check judges the size


def available_memory() -> int:
    """Bytes of RAM available now (MemAvailable, capped by a cgroup limit when there is one)."""
    avail = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
    except OSError:
        pass
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path) as f:
                limit = f.read().strip()
            if limit.isdigit():
                avail = min(avail or int(limit), int(limit))
        except OSError:
            continue
    return avail or (4 << 30)
