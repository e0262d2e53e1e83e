"""From a command line (and a tilt.com it names) to ``tiltrec.reconstruct``: the files, TiltRec's combined
spellings, the parameter file under the typed options, then the same path as the Python API."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from ..formats.file_roles import FileUse
from ..options.spelling import CLI
from ..options.request import converted, make_options
from ..options.table import BY_NAME, SPELLINGS
from .imod_com import IMOD_DEFAULT_THICKNESS, TiltParams, load, option_values

FILES = ("input", "tiltfile", "output")


@dataclass(frozen=True)
class CommandLine:
    """The command's parameter values (cli.commands) and the names of those typed on the command line."""

    values: dict
    typed: frozenset


def _one_of(line: CommandLine, files: dict, name: str, what: str):
    """A file named positionally or by its option (they must agree), else by the parameter file."""
    positional, option = line.values[f"{name}_pos"], line.values[name]
    if positional is not None and option is not None and positional != option:
        raise InputError(f"{what} given twice: {positional} and {option}")
    chosen = positional if positional is not None else option
    return chosen if chosen is not None else files.get(name)


def _spelled_out(line: CommandLine) -> dict:
    """The options typed on the command line, with TiltRec's combined spellings (``--method``, ``--geometry``)
    split into the options they set; an option set both ways is refused."""
    typed = {name: line.values[name] for name in line.typed if name in BY_NAME}
    for spelling in SPELLINGS:
        text = line.values[spelling.name]
        if text is None:
            continue
        parts = [p.strip() for p in text.split(",")]
        if not spelling.least <= len(parts) <= len(spelling.parts) or not parts[0]:
            raise InputError(f"{spelling.long_flag} takes {spelling.usage}, got {text!r}")
        for name, part in zip(spelling.parts, parts):
            if not part:
                continue
            if name in typed:
                raise InputError(f"{spelling.long_flag} and {BY_NAME[name].long_flag} both set {name}: give it once")
            try:
                typed[name] = converted(name, part)
            except InputError as exc:
                raise InputError(f"{spelling.long_flag}: {exc}") from None
    return typed


def _parameter_file(line: CommandLine) -> tuple[dict, dict, Path | None, TiltParams | None]:
    """The option values and files of the ``--com`` file or standard input (none without either), and the file."""
    com, standard_input = line.values["com"], line.values["standard_input"]
    if com is None and not standard_input:
        return {}, {}, None, None
    if com is not None and standard_input:
        raise InputError("give the tilt parameters with --com or -StandardInput, not both")
    params = load(com if com is not None else "-")
    values, files, ignored = option_values(params, line.values["ignore_unsupported"])
    if ignored:
        warnings.warn(f"ignoring tilt option(s) tiltrec does not implement: {', '.join(ignored)}")
    if not params.has("THICKNESS") and not {"thickness", "geometry"} & line.typed:
        warnings.warn(f"{params.source}: no THICKNESS: the tomogram gets tilt's default thickness of "
                      f"{IMOD_DEFAULT_THICKNESS} pixels; add THICKNESS (or --thickness)")
    return values, files, com, params


def run_command_line(line: CommandLine, *, program: str, unified: bool, backend: str = "cpu") -> None:
    """Check the command line, then reconstruct through the same path as the Python API (run inside cli.guard,
    whose messages name options as typed: ``--memory``)."""
    from ..api import reconstruct_with

    typed = _spelled_out(line)
    from_file, files, com, params = _parameter_file(line)
    if params is not None and params.has("RecFileToReproject"):
        from .imod_reproject import run_reprojection

        for name, what in (("input", "INPUT tilt series"), ("tiltfile", "TILTFILE")):
            if line.values[f"{name}_pos"] is not None or line.values[name] is not None:
                raise InputError(f"the {what} of a reprojection comes from the parameter file (InputProjections, "
                                 f"TILTFILE), not from the command line")
        run_reprojection(params, from_file, files, typed, _one_of(line, {}, "output", "OUTPUT file"), program=program,
                         backend=backend)
        return
    opt = make_options({**typed, "unified": unified, "backend": backend}, from_file, CLI)
    stack = _one_of(line, files, "input", "INPUT tilt series")
    tilts = _one_of(line, files, "tiltfile", "TILTFILE")
    if tilts is None:  # a parameter file gives TILTFILE or ANGLES, never both
        tilts = files.get("angles")
    output = _one_of(line, files, "output", "OUTPUT file")
    for value, what in ((stack, "INPUT tilt series"), (tilts, "TILTFILE"), (output, "OUTPUT file")):
        if value is None:
            raise InputError(f"missing {what} (see --help)")
    read = (FileUse("tilt parameter file", Path(com)),) if com is not None and str(com) != "-" else ()
    reconstruct_with(Path(stack), tilts if isinstance(tilts, list) else Path(tilts), Path(output), opt,
                     program=program, read_files=read)
