"""Running a Typer application as a console command: a usage error is one line, ``--version`` says the version."""

from __future__ import annotations

import sys

import typer

from .. import __version__


def version_option(program: str):
    """A ``--version`` option for a command's signature: prints ``PROGRAM VERSION`` and exits."""

    def show(value: bool) -> None:
        if value:
            print(f"{program} {__version__}")
            raise typer.Exit()

    return typer.Option(False, "--version", is_eager=True, expose_value=False, callback=show,
                        help="Print the version and exit.")


def run_command(app: typer.Typer, program: str) -> int:
    """Run ``app`` on the process's arguments; returns its exit code.  A mistyped option or a missing value is
    ``PROGRAM: error: MESSAGE (see PROGRAM --help)`` on one line, exit code 2, instead of Click's usage, hint and
    message on four."""
    try:
        code = app(prog_name=program, standalone_mode=False)
    except typer.Abort:  # Ctrl-C while Click itself was reading (a prompt): as an interrupted run
        print(f"{program}: interrupted; no output written", file=sys.stderr)
        return 130
    except Exception as exc:  # Click's UsageError (Typer's copy of Click keeps it private): exit code 2
        if getattr(exc, "exit_code", None) != 2 or not hasattr(exc, "format_message"):
            raise
        if type(exc).__name__ == "NoArgsIsHelpError":  # ``tiltrec`` alone: its help, as Click shows it
            print(exc.format_message(), file=sys.stderr)
            return 2
        print(f"{program}: error: {exc.format_message()} (see {program} --help)", file=sys.stderr)
        return 2
    return code if isinstance(code, int) else 0
