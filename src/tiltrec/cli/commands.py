"""The four reconstruction commands: tiltrec-mpi, tiltrecz-mpi, tiltrec-cuda, tiltrecz-cuda.

They share every option; they differ in the memory strategy (slab by slab, or the whole volume: the ``z``
commands) and the backend (CPU, or a CUDA GPU: the ``-cuda`` commands).
"""

from __future__ import annotations

import inspect
import os
import sys
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import typer

from ..errors import InputError
from .process_start import start_process
from .usage import run_command, version_option

# The rest (NumPy, MPI) is imported once the command runs: until the signal handlers are in place (_entry), a
# signal ends the process by its default action, and under mpiexec with MPICH's "BAD TERMINATION" banner.


@dataclass(frozen=True)
class Flavor:
    """What distinguishes one command from the others."""

    name: str
    unified: bool
    backend: str


def _help(option) -> str:
    """An option's help line: what it does, its unit, its default, where it applies."""
    from ..options.table import ALGORITHM_NAMES

    text = option.help + (f" In {option.unit}." if option.unit else "")
    default = None if isinstance(option.default, bool) else option.default_words()  # a flag's spelling says it
    if default is not None:
        text += f" [default: {default}]"
    if option.algorithms is not None and set(option.algorithms) != set(ALGORITHM_NAMES):
        text += f" ({', '.join(option.algorithms)} only)"
    return text


def _parameters(flavor: Flavor) -> list[inspect.Parameter]:
    """The command's parameters: the files, every option of options.table offered on the command line, TiltRec's
    combined spellings, and the parameter-file options."""
    from ..options.kinds import Flag, FlagOrCount
    from ..options.table import OPTIONS, SPELLINGS

    def param(name: str, annotation, default) -> inspect.Parameter:
        return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)

    files = [("input", "INPUT", "-i", "Aligned tilt series: .mrc .st .ali .mrcs, or EMAN2 .hdf"),
             ("tiltfile", "TILTFILE", "-t", "Tilt angles in degrees, one per view (.tlt/.rawtlt)"),
             ("output", "OUTPUT", "-o", "Tomogram to write: .mrc .rec .st, or .hdf")]
    params = [param(f"{name}_pos", Optional[Path], typer.Argument(None, metavar=meta, show_default=False, help=text))
              for name, meta, _, text in files]
    params += [param(name, Optional[Path], typer.Option(None, f"--{name}", short,
                                                        help=f"Same as {meta} (TiltRec spelling)."))
               for name, meta, short, _ in files]
    for option in OPTIONS:
        if not option.cli:
            continue
        names = [option.long_flag + (f"/{option.negative}" if option.negative else ""), *option.flags]
        if isinstance(option.kind, (Flag, FlagOrCount)):
            params.append(param(option.name, bool,
                                typer.Option(option.default, *names, show_default=False, help=_help(option))))
        else:
            params.append(param(option.name, Optional[str], typer.Option(
                None, *names, metavar=option.kind.metavar or "|".join(map(str, option.kind.values)),
                show_default=False, help=_help(option))))
    params += [param(s.name, Optional[str], typer.Option(None, s.long_flag, *s.flags, metavar=s.usage, help=s.help,
                                                         show_default=False)) for s in SPELLINGS]
    params += [
        param("com", Optional[Path], typer.Option(None, "--com", help="Take the parameters of an IMOD tilt command "
                                                                      "file (tilt.com); options given here override "
                                                                      "it.")),
        param("standard_input", bool, typer.Option(False, "-StandardInput", "--standard-input",
                                                   help="Read IMOD tilt parameters from standard input, like tilt.")),
        param("ignore_unsupported", bool, typer.Option(False, "--ignore-unsupported",
                                                       help="With --com: warn about tilt options tiltrec does not "
                                                            "implement instead of refusing the file.")),
        param("version", bool, version_option(flavor.name)),
    ]
    return params


# --help sections, in order: the option table's groups between the files and the rest
_SECTIONS = {"input": "Files", "tiltfile": "Files", "output": "Files", "method": "TiltRec spellings",
             "geometry": "TiltRec spellings", "com": "IMOD parameter files", "standard_input": "IMOD parameter files",
             "ignore_unsupported": "IMOD parameter files"}


class _GroupedCommand(typer.core.TyperCommand):
    """Plain Click help whose options come in sections: the files, then the option table's groups (input,
    geometry, algorithm, output, resources), then TiltRec's spellings, the parameter files and the rest."""

    def format_options(self, ctx, formatter) -> None:
        from ..options.table import BY_NAME, GROUPS

        order = ["Arguments", "Files", *(g.title() for g in GROUPS), "TiltRec spellings", "IMOD parameter files",
                 "Other"]
        sections: dict[str, list] = {name: [] for name in order}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            if param.param_type_name == "argument":
                section = "Arguments"
            elif param.name in BY_NAME:
                section = BY_NAME[param.name].group.title()
            else:
                section = _SECTIONS.get(param.name, "Other")
            sections[section].append(record)
        for name in order:
            if sections[name]:
                with formatter.section(name):
                    formatter.write_dl(sections[name])


def make_app(flavor: Flavor) -> typer.Typer:
    """A Typer application for one command; plain Click help, whose option names and defaults never get cut."""
    from .guard import guarded

    app = typer.Typer(add_completion=False, context_settings={"help_option_names": ["-h", "--help"]},
                      pretty_exceptions_enable=False, rich_markup_mode=None)
    strategy = "the whole volume in memory (unified)" if flavor.unified else "slab by slab along Y (slice-based)"
    params = _parameters(flavor)

    def main(ctx: typer.Context, **values):
        from .request import CommandLine, run_command_line  # deferred: keeps --help fast

        typed = {p.name for p in ctx.command.params
                 if getattr(ctx.get_parameter_source(p.name), "name", "") == "COMMANDLINE"}
        line = CommandLine(values, frozenset(typed))

        def action():
            from ..mpi.world import launcher_rank

            reads_stdin = (line.values["standard_input"] and line.values["com"] is None) or \
                str(line.values["com"]) == "-"
            if reads_stdin and sys.stdin is None and launcher_rank() == 0:  # (under MPI rank 0 reads it)
                raise InputError("standard input is closed: give the tilt parameters on it (e.g. < tilt.com) or "
                                 "with --com FILE")
            run_command_line(line, program=flavor.name, unified=flavor.unified, backend=flavor.backend)

        guarded(flavor.name, action)

    context = inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context)
    main.__signature__ = inspect.Signature([context, *params])
    main.__annotations__ = {"ctx": typer.Context, **{p.name: p.annotation for p in params}}
    text = (f"Reconstruct a tomogram from an aligned tilt series, {strategy}, on "
            f"{'a CUDA GPU' if flavor.backend == 'cuda' else 'CPUs'}.\n\n"
            f"Example: {flavor.name} --alg sirt --iter 10 --thickness 256 in.ali in.tlt out.rec")
    app.command(cls=_GroupedCommand, help=text)(main)
    return app


def _entry(flavor: Flavor):
    def run() -> None:
        start_process()
        code = run_command(make_app(flavor), flavor.name)
        if code == 0 and "mpi4py" not in sys.modules:
            exit_now()
        raise SystemExit(code)

    return run


def exit_now() -> None:
    """End a successful run without Python's teardown of its modules: unloading Numba's compiled code and the
    rest took 0.25-0.3 s of every run (WBP 1024^2 x 61, five alternating pairs: 0.40-0.44 s from the end of the
    command to the process's exit, 0.12-0.16 s this way).  Outputs are committed and closed by then, and the
    standard streams are flushed here.  Not under MPI, whose finalisation must run."""
    for stream in (sys.stdout, sys.stderr):
        with suppress(OSError, ValueError, AttributeError):  # a closed pipe or stream (None): nothing left to say
            stream.flush()
    os._exit(0)


tiltrec_mpi = _entry(Flavor("tiltrec-mpi", unified=False, backend="cpu"))
tiltrecz_mpi = _entry(Flavor("tiltrecz-mpi", unified=True, backend="cpu"))
tiltrec_cuda = _entry(Flavor("tiltrec-cuda", unified=False, backend="cuda"))
tiltrecz_cuda = _entry(Flavor("tiltrecz-cuda", unified=True, backend="cuda"))
