"""What ADMM reports per outer iteration: a table in the ``--log`` and figures on the progress line."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from ..errors import os_failure

COLUMNS = ("iteration", "objective", "data", "regularization", "primal", "dual", "cg", "seconds")
_FIRST_LINE = re.compile(rb"# [A-Z-]+ of slices \d+-\d+ for ")  # what IterationLog.weights writes first


def is_iteration_log(path: Path) -> bool:
    """Whether ``path`` is a plain file that an IterationLog wrote (or an empty one)."""
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return False
        with open(path, "rb") as f:
            head = f.read(256)
    except OSError:
        return False
    return not head or bool(_FIRST_LINE.match(head))


class IterationLog:
    """Writes one line per outer iteration to ``path`` (if any; straight to the file, no buffer that could fail
    later) and shows the objective and residuals in ``progress``'s label.  ``append``: continue the log of an
    interrupted run (``--resume``), else start a new file (run_files has checked that an existing one is an
    iteration log that may be replaced)."""

    def __init__(self, path: Path | None, progress, title: str, append: bool = False):
        self.progress = progress
        self.label = progress.label if progress is not None else ""
        self.title = title
        self.fd = None
        self.path = path
        if path is not None:
            try:
                if not append and os.path.lexists(path):
                    os.unlink(path)  # a link is replaced, never written through
                flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | (os.O_APPEND if append else os.O_EXCL)
                self.fd = os.open(path, flags, 0o666)
            except OSError as exc:
                raise os_failure(path, "write the log", exc) from None

    def weights(self, lam: float, rho: float, sigma: float) -> None:
        """The absolute weights of this run, before its first iteration."""
        self._put(f"# {self.title}: lambda {lam:.6g}, rho {rho:.6g} (noise sigma {sigma:.6g})\n"
                  f"# {' '.join(COLUMNS)}\n")

    def __call__(self, record: dict) -> None:
        self._put(f"{record['iteration']} " + " ".join(f"{record[c]:.8g}" for c in COLUMNS[1:]) + "\n")
        if self.progress is not None:
            self.progress.label = (f"{self.label} objective {record['objective']:.5g} primal {record['primal']:.2g} "
                                   f"dual {record['dual']:.2g}")

    def _put(self, text: str) -> None:
        if self.fd is None:
            return
        data = memoryview(text.encode())
        try:
            while data:
                data = data[os.write(self.fd, data):]
        except OSError as exc:
            raise os_failure(self.path, "write the log", exc) from None

    def close(self) -> None:
        if self.fd is not None:
            fd, self.fd = self.fd, None
            os.close(fd)
