"""A simulated tilt-series data set on disk: the specimen, its noisy projections, their angles and order."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np

from ..errors import InputError, file_error
from ..formats import write_stack
from ..formats.atomic import check_output, write_text
from ..limits import PIXEL_LIMIT, Limit, check_fields, pixel_size
from ..strategies.plan import available_memory, format_bytes
from .noise import add_noise, random_shifts
from .phantom import MIN_SIZE, cell_phantom
from .project import project_volume
from .tilt_scheme import acquisition_order, tilt_angles


def _size(option: str) -> Limit:
    return Limit(option, MIN_SIZE, math.inf, f"a whole number of pixels, at least {MIN_SIZE}", integral=True)


def _angle(option: str, bound: float) -> Limit:
    return Limit(option, -bound, bound, f"between -{bound:g} and {bound:g} degrees", low_open=True, high_open=True)


# simulate_series's arguments, by name (the messages name the options of ``tiltrec simulate``)
LIMITS = {
    "width": _size("--width"), "nslices": _size("--slices"), "thickness": _size("--thickness"),
    "first": _angle("--range FIRST", 90), "last": _angle("--range LAST", 90),
    "step": Limit("--step", 0.01, 180, "between 0.01 and 180 degrees"),
    "snr": Limit("--snr", 0, 1e12, "positive, at most 1e+12", low_open=True),
    "dose": Limit("--dose", 0, 1e12, "positive, at most 1e+12 electrons per pixel", low_open=True),
    "shifts": Limit("--shifts", 0, PIXEL_LIMIT, f"between 0 and {PIXEL_LIMIT:g} pixels"),
    "pitch": _angle("--pitch", 45),
    # the ice density changes by this fraction across X; beyond +-2 it would turn negative at one edge
    "ice_gradient": Limit("--ice-gradient", -2, 2, "between -2 and 2"),
    "pixel_size": pixel_size("--pixel-size"),
    "seed": Limit("--seed", 0, 2 ** 63 - 1, "a whole number from 0 to 2^63-1", integral=True),
}
# Peak memory in float32 copies (measured at 256 x 192 x 96, 41 views: 4.3 volumes with Gaussian noise, 4.9 with
# Poisson): rendering the phantom holds about four volumes; adding noise holds the specimen and about six copies
# of the views (Poisson counts and logarithms in float64).
RENDER_VOLUMES, NOISE_VIEWS = 4, 6
BYTES = 4  # float32 voxels, in memory and in the files
FILE_SLACK = 1 << 20  # headers and the two text files


def _check_resources(out: Path, voxels: int, pixels: int) -> None:
    """Refuse a data set whose computation would not fit the available memory, or whose files the disk under
    ``out`` (the first existing folder on the way to it) has no room for."""
    memory = BYTES * (voxels + max(RENDER_VOLUMES * voxels, NOISE_VIEWS * pixels))
    if memory > available_memory():
        raise InputError(f"the simulation needs about {format_bytes(memory)} of memory, more than the "
                         f"{format_bytes(available_memory())} available: give a smaller --width, --slices or "
                         f"--thickness, or a larger --step")
    folder = out.absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    disk = BYTES * (voxels + pixels) + FILE_SLACK
    free = shutil.disk_usage(folder).free
    if disk > free:
        raise file_error(out, f"the files need {format_bytes(disk)} of disk space, more than the "
                              f"{format_bytes(free)} free there")


def simulate_series(out: Path, name: str = "specimen", *, width: int = 256, nslices: int = 256, thickness: int = 96,
                    first: float = -60.0, last: float = 60.0, step: float = 3.0, scheme: str = "dose-symmetric",
                    noise: str = "gaussian", snr: float = 2.0, dose: float = 50.0, shifts: float = 0.0,
                    pitch: float = 0.0, ice_gradient: float = 0.0, pixel_size: float = 10.0, seed: int = 1,
                    overwrite: bool = False) -> list[Path]:
    """Write ``NAME.mrc`` (views sorted by angle, as an aligned stack), ``NAME.tlt``, ``NAME_truth.mrc`` (the
    specimen, [y, z, x] like a tomogram in IMOD's default layout) and ``NAME_order.txt`` (the 1-based view numbers
    in acquisition order of ``scheme``) into ``out``; returns their paths.  Impossible values, and a data set that
    would not fit the memory or the disk, are refused before anything is computed or written."""
    check_fields(dict(width=width, nslices=nslices, thickness=thickness, first=first, last=last, step=step,
                      snr=snr, dose=dose, shifts=shifts, pitch=pitch, ice_gradient=ice_gradient,
                      pixel_size=pixel_size, seed=seed), LIMITS)
    try:
        angles = tilt_angles(first, last, step)
        order = acquisition_order(angles, scheme)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    if angles.size < 2 or np.abs(angles).max() >= 90:
        raise InputError(f"--range {first:g},{last:g} with --step {step:g} must give at least 2 angles within "
                         f"+-90 degrees")
    if noise not in ("gaussian", "poisson", "none"):
        raise InputError(f"--noise takes gaussian, poisson or none, got {noise!r}")
    out = Path(out)
    _check_resources(out, width * nslices * thickness, angles.size * nslices * width)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{name}.mrc", out / f"{name}.tlt", out / f"{name}_truth.mrc", out / f"{name}_order.txt"]
    for path in paths:  # all of them before any work: a refused run writes none
        check_output(path, overwrite)
    rng = np.random.default_rng(seed)
    truth = cell_phantom(width, nslices, thickness, seed=seed, ice_gradient=ice_gradient)
    views = project_volume(truth, angles, pitch=pitch)
    if noise != "none":
        views = add_noise(views, kind=noise, snr=snr, dose=dose, rng=rng)
    if shifts > 0:
        views, _ = random_shifts(views, shifts, rng)
    write_stack(paths[0], views, pixel_size=pixel_size, angles=angles, overwrite=overwrite)
    write_stack(paths[2], truth, pixel_size=pixel_size, overwrite=overwrite)
    write_text(paths[1], "".join(f"{a:.2f}\n" for a in angles), overwrite)
    write_text(paths[3], "".join(f"{i + 1}\n" for i in order), overwrite)
    return paths
