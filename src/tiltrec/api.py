"""The Python API: ``tiltrec.reconstruct`` on arrays or files, the same engine as the command line."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import limits
from .formats import ArrayStack
from .reconstruction import Options, run_reconstruction


def reconstruct(stack, angles, output=None, *, thickness: int, alg: str = "wbp", init=None, pixel_size: float = 1.0,
                **options):
    """Reconstruct a tomogram from an aligned tilt series.

    Args:
        stack: a tilt-series file (MRC or EMAN2 HDF5) or an array ``(nviews, ny, nx)``.
        angles: an angle file (.tlt/.rawtlt) or the tilt angles in degrees, one per view.
        output: the tomogram file to write (MRC or HDF5 by extension), or None to get arrays back.
        thickness: output thickness in pixels.
        alg: "bpt", "fbp", "wbp", "sirt", "sart", or "admm" (with ``unified=True``: it needs the whole volume).
        init: a starting volume file for SIRT/SART/ADMM.
        pixel_size: Angstrom per pixel of an array ``stack`` (files carry their own).
        **options: any other option of :class:`tiltrec.reconstruction.Options`, named as on the command line
            (``iterations``, ``relax``, ``radial=(0.35, 0.05)``, ``pitch``, ``slices=(first, last)``,
            ``layout``, ``split=True``, ``quiet=False``; for ADMM ``reg``, ``lam``, ``rho``, ``cg_iterations``,
            ``log_file``; ``checkpoint``, ``checkpoint_every``, ``resume=True``, ...).

    Returns:
        None when writing ``output``; otherwise the volume as a float32 array in the layout's file order
        (``[y, z, x]`` for the default "xzy"), or with ``split=True`` the tuple (full, odd, even).

    Examples:
        >>> import numpy as np, tiltrec
        >>> views = np.random.default_rng(0).random((41, 16, 64), dtype=np.float32)
        >>> vol = tiltrec.reconstruct(views, np.linspace(-60, 60, 41), thickness=24, alg="sirt", iterations=5)
        >>> vol.shape
        (16, 24, 64)
        >>> tiltrec.reconstruct("tomo.ali", "tomo.tlt", "tomo.rec", thickness=300)  # doctest: +SKIP
    """
    opt = Options(thickness=thickness, alg=alg, **options)
    if not isinstance(stack, (str, Path)):
        limits.pixel_size("pixel_size").check(pixel_size)
        stack = ArrayStack(stack, pixel_size=pixel_size)
    if not isinstance(angles, (str, Path)):
        angles = np.asarray(angles, dtype=np.float64)
    volumes = run_reconstruction(stack, angles, None if output is None else Path(output), opt,
                                 None if init is None else Path(init))
    if volumes is None:
        return None
    return volumes if opt.split else volumes[0]
