"""Error types: every failure the user can cause or meet ends as one of these, with a one-line message."""


class TiltrecError(Exception):
    """A failure reported to the user as one line; exits with ``exit_code``."""

    exit_code = 1


class InputError(TiltrecError):
    """Bad input or usage: a missing or malformed file, an impossible option.  Exit code 2."""

    exit_code = 2


def file_error(path, problem: str) -> InputError:
    """An InputError whose message names the file first: ``"PATH: problem"``."""
    return InputError(f"{path}: {problem}")


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so that the same clean-up as for Ctrl-C runs (exit code 143)."""
