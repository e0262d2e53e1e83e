"""A simulated tilt-series data set on disk: the specimen, its noisy projections, their angles and order."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InputError
from ..formats import write_stack
from .noise import add_noise, random_shifts
from .phantom import cell_phantom
from .project import project_volume
from .tilt_scheme import acquisition_order, tilt_angles


def simulate_series(out: Path, name: str = "specimen", *, width: int = 256, nslices: int = 256, thickness: int = 96,
                    first: float = -60.0, last: float = 60.0, step: float = 3.0, scheme: str = "dose-symmetric",
                    noise: str = "gaussian", snr: float = 2.0, dose: float = 50.0, shifts: float = 0.0,
                    pitch: float = 0.0, ice_gradient: float = 0.0, pixel_size: float = 10.0, seed: int = 1,
                    overwrite: bool = False) -> list[Path]:
    """Write ``NAME.mrc`` (views sorted by angle, as an aligned stack), ``NAME.tlt``, ``NAME_truth.mrc`` (the
    specimen, [y, z, x] like a tomogram in IMOD's default layout) and ``NAME_order.txt`` (the 1-based view numbers
    in acquisition order of ``scheme``) into ``out``; returns their paths."""
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
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    truth = cell_phantom(width, nslices, thickness, seed=seed, ice_gradient=ice_gradient)
    views = project_volume(truth, angles, pitch=pitch)
    if noise != "none":
        views = add_noise(views, kind=noise, snr=snr, dose=dose, rng=rng)
    if shifts > 0:
        views, _ = random_shifts(views, shifts, rng)
    paths = [out / f"{name}.mrc", out / f"{name}.tlt", out / f"{name}_truth.mrc", out / f"{name}_order.txt"]
    write_stack(paths[0], views, pixel_size=pixel_size, angles=angles, overwrite=overwrite)
    write_stack(paths[2], truth, pixel_size=pixel_size, overwrite=overwrite)
    for path, text in ((paths[1], "".join(f"{a:.2f}\n" for a in angles)),
                       (paths[3], "".join(f"{i + 1}\n" for i in order))):
        if path.exists() and not overwrite:
            raise InputError(f"{path}: already exists (use --overwrite to replace it)")
        path.write_text(text)
    return paths
