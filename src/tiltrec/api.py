"""The Python API: ``tiltrec.reconstruct`` on arrays or files, the same path as the command line.

Its keyword arguments are the options of options.table, named as on the command line with ``_`` for ``-``
(``iter``, ``log_base``, ``xtilt``); the signature and the Parameters section below are made from the table.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np

from . import limits
from .formats import ArrayStack
from .formats.file_roles import FileUse
from .options.kinds import FileOrNumbers, FileOrVolume, Flag, FlagOrCount, Numbers
from .options.model import Options
from .options.request import make_options
from .options.spelling import API
from .options.table import GROUPS, OPTIONS
from .reconstruction import run_reconstruction


def reconstruct_with(stack, angles, output, opt: Options, *, pixel_size: float = 1.0, program: str = "tiltrec",
                     read_files: tuple = ()):
    """Reconstruct with checked options (options.request.make_options); ``read_files`` are the files besides the
    inputs that the request was read from (a tilt.com)."""
    if isinstance(opt.geometry.xtilt, Path):
        read_files = (*read_files, FileUse("X-axis tilt file", opt.geometry.xtilt))
    if not isinstance(stack, (str, Path)):
        limits.pixel_size("pixel_size").check(pixel_size)
        stack = ArrayStack(stack, pixel_size=pixel_size)
    if not isinstance(angles, (str, Path)):
        angles = np.asarray(angles, dtype=np.float64)
    volumes = run_reconstruction(stack, angles, None if output is None else Path(output), opt, program=program,
                                 read_files=read_files)
    if volumes is None:
        return None
    return volumes if opt.output.split else volumes[0]


def reconstruct(stack, angles, output=None, *, pixel_size: float = 1.0, **options):
    return reconstruct_with(stack, angles, output, make_options(options, front=API), pixel_size=pixel_size)


def _type_name(option) -> str:
    kind = option.kind
    if isinstance(kind, FlagOrCount):
        return "bool or int"
    if isinstance(kind, Flag):
        return "bool"
    if isinstance(kind, Numbers):
        return f"tuple of {kind.count} {'int' if kind.integral else 'float'}"
    if isinstance(kind, FileOrNumbers):
        return "str, Path or sequence of float"
    if isinstance(kind, FileOrVolume):
        return "str, Path or ndarray"
    if hasattr(kind, "values"):
        return "{" + ", ".join(repr(v) for v in kind.values) + "}"
    return {int: "int", float: "float", str: "str", Path: "str or Path"}.get(kind.annotation, "object")


def _describe(option) -> str:
    text = option.help.replace("--", "").replace("-commands", " commands")
    if option.unit:
        text += f" In {option.unit}."
    if option.default is None and option.default_words():
        text += f" Default: {option.default_words().replace('--', '')}."
    if option.algorithms is not None:
        text += f" Applies to {', '.join(option.algorithms)}."
    if option.backends is not None:
        text += f" Applies to backend {', '.join(repr(b) for b in option.backends)}."
    return text


def _docstring() -> str:
    lines = ["""Reconstruct a tomogram from an aligned tilt series.

An option that does not apply to the chosen algorithm or backend is refused (InputError), so that a forgotten
``alg`` is not a silent WBP.  The command-line programs run the same code with the same options (``--log-base``
here is ``log_base``).

Parameters
----------
stack : str, Path or ndarray
    A tilt-series file (MRC or EMAN2 HDF5), or an array ``(nviews, ny, nx)``.
angles : str, Path or array_like
    An angle file (.tlt/.rawtlt), or the tilt angles in degrees, one per view.
output : str, Path or None
    The tomogram file to write (MRC or HDF5 by extension); None returns the volume instead.
pixel_size : float
    Angstrom per pixel of an array ``stack`` (files carry their own)."""]
    for group in GROUPS:
        for option in OPTIONS:
            if option.group == group and option.api:
                value = option.default_for(API)
                default = "" if value is None else f", default {value!r}"
                lines.append(f"{option.name} : {_type_name(option)}{default}")
                lines.append(f"    {_describe(option)}")
    lines.append("""
Returns
-------
None or ndarray or tuple of ndarray
    None when writing ``output``; otherwise the volume as a float32 array in the layout's file order (``[y, z,
    x]`` for the default "xzy"), or with ``split="odd-even"`` the tuple (full, odd, even).

Raises
------
tiltrec.InputError
    A bad option value, an option that does not apply, or an unreadable or malformed input; nothing is written.
TypeError
    An unknown keyword (the message names the nearest options).
tiltrec.TiltrecError
    The run failed (a full disk, a GPU out of memory); nothing is written.
KeyboardInterrupt
    A signal stopped the run; nothing is written (a checkpoint is kept for ``resume=True``).

Examples
--------
>>> import numpy as np, tiltrec
>>> views = np.random.default_rng(0).random((41, 16, 64), dtype=np.float32)
>>> vol = tiltrec.reconstruct(views, np.linspace(-60, 60, 41), thickness=24, alg="sirt", iter=5)
>>> vol.shape
(16, 24, 64)
>>> tiltrec.reconstruct("tomo.ali", "tomo.tlt", "tomo.rec", thickness=300)  # doctest: +SKIP""")
    return "\n".join(lines)


def _signature() -> inspect.Signature:
    keyword = inspect.Parameter.KEYWORD_ONLY
    params = [inspect.Parameter("stack", inspect.Parameter.POSITIONAL_OR_KEYWORD),
              inspect.Parameter("angles", inspect.Parameter.POSITIONAL_OR_KEYWORD),
              inspect.Parameter("output", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None),
              inspect.Parameter("pixel_size", keyword, default=1.0, annotation=float)]
    params += [inspect.Parameter(o.name, keyword, default=o.default_for(API), annotation=o.kind.annotation)
               for o in OPTIONS if o.api]
    return inspect.Signature(params)


reconstruct.__signature__ = _signature()
reconstruct.__doc__ = _docstring()
