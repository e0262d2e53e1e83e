"""Turn command-line values into the Python API's arguments and call it."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Optional

from ..api import reconstruct
from ..errors import InputError
from ..formats import read_angles
from ..formats.file_roles import FileUse
from ..strategies.plan import parse_bytes
from .imod_com import IMOD_DEFAULT_THICKNESS, load, request_values


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
    hamming: Optional[float] = None
    true_sigma: bool = False
    fake_sirt: int = 0
    density_weighting: bool | int = True
    interp: str = "linear"
    log: Optional[float] = None
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
    include: Optional[str] = None
    xtilt: Optional[Path] = None
    title: Optional[str] = None
    layout: str = "xzy"
    mode: int = 2
    overwrite: bool = False
    memory: Optional[str] = None
    threads: Optional[int] = None
    pad_x: bool = True
    split: Optional[str] = None
    quiet: bool = False
    no_progress: bool = False
    reg: str = "tv"
    lam: Optional[float] = None
    rho: Optional[float] = None
    cg_iterations: Optional[int] = None
    log_file: Optional[Path] = None
    checkpoint: Optional[Path] = None
    checkpoint_every: Optional[int] = None
    resume: bool = False
    device: Optional[int] = None
    com: Optional[Path] = None
    standard_input: bool = False
    ignore_unsupported: bool = False
    given: frozenset = frozenset()  # the options typed on the command line (they override a --com file)
    # set only by a parameter file
    angles: Optional[list] = None
    axis_offset: float = 0.0
    full_image: Optional[str] = None
    subset_start: Optional[str] = None
    cosine_stretch: int = 2
    multiply_gaussian: bool = False


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
        if req.thickness is None and not (given[3] > 0 and given[3].is_integer()):
            raise InputError(f"the thickness in --geometry must be a positive whole number of pixels, got "
                             f"{given[3]:g}")
        given[3] = int(given[3]) if given[3].is_integer() else given[3]
        values = {k: given[i] if v is None else v for i, (k, v) in enumerate(values.items())}
    return {k: (0.0 if v is None and k != "thickness" else v) for k, v in values.items()}


def with_parameter_file(req: Request) -> Request:
    """``req`` completed from its ``--com`` file or standard input (IMOD tilt parameters); options typed on the
    command line win, positional files included."""
    if req.com is None and not req.standard_input:
        return req
    if req.com is not None and req.standard_input:
        raise InputError("give the tilt parameters with --com or -StandardInput, not both")
    params = load(req.com if req.com is not None else "-")
    values, ignored = request_values(params, req.ignore_unsupported)
    if ignored:
        warnings.warn(f"ignoring tilt option(s) tiltrec does not implement: {', '.join(ignored)}")
    typed = set(req.given) | {f"{name}_opt" for name in ("input", "tiltfile", "output")
                               if getattr(req, f"{name}_pos") is not None}
    if not params.has("THICKNESS") and not typed & {"thickness", "geometry"}:
        warnings.warn(f"{params.source}: no THICKNESS: the tomogram gets tilt's default thickness of "
                      f"{IMOD_DEFAULT_THICKNESS} pixels; add THICKNESS (or --thickness)")
    if "angles" in values and req.tiltfile_pos is None and req.tiltfile_opt is None:
        typed.add("tiltfile_opt")
    return replace(req, **{k: v for k, v in values.items() if k not in typed})


def _read_files(req: Request) -> tuple[FileUse, ...]:
    """The files besides the stack, the angles and --init that the request was read from: no output may be one."""
    named = (("tilt parameter file", req.com), ("X-axis tilt file", req.xtilt))
    return tuple(FileUse(role, Path(path)) for role, path in named if path is not None)


def build_and_run(req: Request, *, program: str, unified: bool, backend: str = "cpu") -> None:
    """Check the command-line values, then reconstruct through the Python API."""
    req = with_parameter_file(req)
    if req.split not in (None, "odd-even"):
        raise InputError(f"--split takes odd-even, got {req.split!r}")
    in_path = _one_of(req.input_pos, req.input_opt, "INPUT tilt series")
    tilts = req.angles if req.angles is not None else Path(_one_of(req.tiltfile_pos, req.tiltfile_opt, "TILTFILE"))
    out_path = _one_of(req.output_pos, req.output_opt, "OUTPUT file")
    name, iterations, relax = _algorithm(req)
    slices = tuple(parse_numbers(req.slices, 2, "--slices", int)) if req.slices else None
    reconstruct(
        Path(in_path), tilts, Path(out_path), alg=name, iterations=iterations, relax=relax,
        reg=req.reg, lam=req.lam, rho=req.rho, cg_iterations=req.cg_iterations, log_file=req.log_file,
        checkpoint=req.checkpoint, checkpoint_every=req.checkpoint_every, resume=req.resume,
        init=req.init, positivity=req.positivity, filter=req.filter_name, cutoff=req.cutoff,
        radial=tuple(parse_numbers(req.radial, 2, "--radial")) if req.radial else None,
        hamming=req.hamming, true_sigma=req.true_sigma, fake_sirt=req.fake_sirt,
        multiply_gaussian=req.multiply_gaussian,
        density_weighting=req.density_weighting, interp=req.interp, cosine_stretch=req.cosine_stretch, log=req.log,
        scale=tuple(parse_numbers(req.scale, 2, "--scale")) if req.scale else None,
        xtilt=tuple(read_angles(req.xtilt)) if req.xtilt else None, axis_offset=req.axis_offset,
        full_image=tuple(parse_numbers(req.full_image, 2, "FULLIMAGE", int)) if req.full_image else None,
        subset_start=tuple(parse_numbers(req.subset_start, 2, "SUBSETSTART", int)) if req.subset_start else (0, 0),
        title=req.title, include=req.include,
        width=req.width, slices=slices, xshift=req.xshift, binning=req.binning, exclude=req.exclude,
        layout=req.layout, mode=req.mode, overwrite=req.overwrite,
        memory=parse_bytes(req.memory) if req.memory else None, threads=req.threads, pad_x=req.pad_x,
        split=req.split == "odd-even", unified=unified, backend=backend, device=req.device, quiet=req.quiet,
        progress=not req.no_progress,
        program=program, read_files=_read_files(req),
        **_geometry_values(req))
