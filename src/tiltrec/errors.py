"""Error types: every failure the user can cause or meet ends as one of these, with a one-line message."""

import errno
import signal


class TiltrecError(Exception):
    """A failure reported to the user as one line; exits with ``exit_code``."""

    exit_code = 1


class InputError(TiltrecError):
    """Bad input or usage: a missing or malformed file, an impossible option.  Exit code 2."""

    exit_code = 2


def file_error(path, problem: str) -> InputError:
    """An InputError whose message names the file first: ``"PATH: problem"``."""
    return InputError(f"{path}: {problem}")


# What the machine ran out of: a runtime failure (exit 1), unlike a path the user got wrong (exit 2).
_EXHAUSTED = {
    errno.ENOSPC: "the disk is full (no space left on device)",
    errno.EDQUOT: "the disk quota is used up",
    errno.EFBIG: "the file size limit was reached (see 'ulimit -f'; or the file system's largest file)",
    errno.EIO: "input/output error (a failing disk or a lost network file system)",
}


def os_failure(path, action: str, exc: OSError) -> TiltrecError:
    """``"PATH: cannot ACTION: reason"`` for an OSError: a full disk, an exhausted quota or file-size limit and
    I/O errors are runtime failures (exit 1); anything else (permissions, missing folders) is an InputError."""
    if exc.errno in _EXHAUSTED:
        return TiltrecError(f"{path}: cannot {action}: {_EXHAUSTED[exc.errno]}")
    return file_error(path, f"cannot {action}: {exc.strerror or exc}")


INTERRUPTED = "interrupted; no output written"  # how a run stopped by a signal (SIGINT, SIGTERM, ...) ends


class Terminated(KeyboardInterrupt):
    """A signal other than SIGINT that ends a process by default (SIGTERM, SIGHUP, SIGUSR1, ...), raised in the main
    thread so that the same clean-up as for Ctrl-C runs; exit code 128 + its number, as the shell reports it."""

    def __init__(self, signum: int = signal.SIGTERM):
        super().__init__(int(signum))
        self.signum = int(signum)
        self.exit_code = 128 + self.signum
