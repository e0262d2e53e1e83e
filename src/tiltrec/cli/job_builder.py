"""Turn command-line values into the Python API's arguments and call it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..api import reconstruct
from ..errors import InputError
from ..strategies.plan import parse_bytes


@dataclass
class Request:
    """The command-line values, as typed (see cli.commands for their meaning)."""

    input_pos: Optional[Path] = None
    tiltfile_pos: Optional[Path] = None
    output_pos: Optional[Path] = None
    input_opt: Optional[Path] = None
    tiltfile_opt: Optional[Path] = None
    output_opt: Optional[Path] = None
    alg: str = "wbp"
    method: Optional[str] = None
    iterations: Optional[int] = None
    relax: Optional[float] = None
    positivity: bool = False
    init: Optional[Path] = None
    filter_name: str = "ramp"
    cutoff: float = 1.0
    radial: Optional[str] = None
    density_weighting: bool = True
    scale: Optional[str] = None
    thickness: Optional[int] = None
    width: Optional[int] = None
    slices: Optional[str] = None
    offset: Optional[float] = None
    pitch: Optional[float] = None
    xshift: float = 0.0
    zshift: Optional[float] = None
    geometry: Optional[str] = None
    binning: int = 1
    exclude: Optional[str] = None
    layout: str = "xzy"
    mode: int = 2
    overwrite: bool = False
    memory: Optional[str] = None
    threads: Optional[int] = None
    pad_x: bool = True
    split: Optional[str] = None
    quiet: bool = False


def _one_of(positional, option, what: str) -> Path:
    if positional is not None and option is not None and positional != option:
        raise InputError(f"{what} given twice: {positional} and {option}")
    chosen = positional if positional is not None else option
    if chosen is None:
        raise InputError(f"missing {what} (see --help)")
    return chosen


def parse_numbers(text: str, count: int, what: str, cast=float) -> list:
    """'a,b' -> [a, b] with exactly ``count`` entries, or an InputError naming the option."""
    parts = [p for p in text.replace(" ", ",").split(",") if p != ""]
    try:
        values = [cast(p) for p in parts]
    except ValueError:
        values = []
    if len(values) != count:
        raise InputError(f"{what} needs {count} comma-separated numbers, got {text!r}")
    return values


def _algorithm(req: Request) -> tuple[str, Optional[int], Optional[float]]:
    """Algorithm name, iterations and relaxation from --alg/--iter/--relax or TiltRec's --method."""
    name, iterations, relax = req.alg, req.iterations, req.relax
    if req.method:
        parts = [p.strip() for p in req.method.split(",")]
        if len(parts) > 3:
            raise InputError(f"--method takes ALG[,ITER[,RELAX]], got {req.method!r}")
        name = parts[0]
        try:
            iterations = int(parts[1]) if len(parts) > 1 and parts[1] else iterations
            relax = float(parts[2]) if len(parts) > 2 and parts[2] else relax
        except ValueError:
            raise InputError(f"--method takes ALG[,ITER[,RELAX]], got {req.method!r}") from None
    return name.strip().lower(), iterations, relax


def _geometry_values(req: Request) -> dict:
    """Offset, pitch, Z shift and thickness from their options, or else from TiltRec's --geometry."""
    values = {"offset": req.offset, "pitch": req.pitch, "zshift": req.zshift, "thickness": req.thickness}
    if req.geometry:
        given = parse_numbers(req.geometry, 4, "--geometry")
        given[3] = int(round(given[3]))
        if given[3] <= 0 and req.thickness is None:
            raise InputError(f"the thickness in --geometry must be a positive number of pixels, got {given[3]}")
        values = {k: given[i] if v is None else v for i, (k, v) in enumerate(values.items())}
    return {k: (0.0 if v is None and k != "thickness" else v) for k, v in values.items()}


def build_and_run(req: Request, *, program: str, unified: bool) -> None:
    """Check the command-line values, then reconstruct through the Python API."""
    if req.split not in (None, "odd-even"):
        raise InputError(f"--split takes odd-even, got {req.split!r}")
    in_path = _one_of(req.input_pos, req.input_opt, "INPUT tilt series")
    tilt_path = _one_of(req.tiltfile_pos, req.tiltfile_opt, "TILTFILE")
    out_path = _one_of(req.output_pos, req.output_opt, "OUTPUT file")
    name, iterations, relax = _algorithm(req)
    slices = tuple(parse_numbers(req.slices, 2, "--slices", int)) if req.slices else None
    reconstruct(
        Path(in_path), Path(tilt_path), Path(out_path), alg=name, iterations=iterations, relax=relax,
        init=req.init, positivity=req.positivity, filter=req.filter_name, cutoff=req.cutoff,
        radial=tuple(parse_numbers(req.radial, 2, "--radial")) if req.radial else None,
        density_weighting=req.density_weighting,
        scale=tuple(parse_numbers(req.scale, 2, "--scale")) if req.scale else (0.0, 1.0),
        width=req.width, slices=slices, xshift=req.xshift, binning=req.binning, exclude=req.exclude,
        layout=req.layout, mode=req.mode, overwrite=req.overwrite,
        memory=parse_bytes(req.memory) if req.memory else None, threads=req.threads, pad_x=req.pad_x,
        split=req.split == "odd-even", unified=unified, quiet=req.quiet, program=program,
        **_geometry_values(req))
