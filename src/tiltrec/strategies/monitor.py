"""What ADMM reports per outer iteration: a table in the ``--log`` and figures on the progress line."""

from __future__ import annotations

from pathlib import Path

from ..errors import file_error

COLUMNS = ("iteration", "objective", "data", "regularization", "primal", "dual", "cg", "seconds")


class IterationLog:
    """Writes one line per outer iteration to ``path`` (if any; appended, flushed at once) and shows the
    objective and residuals in ``progress``'s label."""

    def __init__(self, path: Path | None, progress, title: str):
        self.progress = progress
        self.label = progress.label if progress is not None else ""
        self.title = title
        self.file = None
        if path is not None:
            try:
                self.file = open(path, "a")
            except OSError as exc:
                raise file_error(path, f"cannot write the log: {exc.strerror or exc}") from None

    def weights(self, lam: float, rho: float, sigma: float) -> None:
        """The absolute weights of this run, before its first iteration."""
        if self.file:
            self.file.write(f"# {self.title}: lambda {lam:.6g}, rho {rho:.6g} (noise sigma {sigma:.6g})\n"
                            f"# {' '.join(COLUMNS)}\n")
            self.file.flush()

    def __call__(self, record: dict) -> None:
        if self.file:
            self.file.write(f"{record['iteration']} " + " ".join(f"{record[c]:.8g}" for c in COLUMNS[1:]) + "\n")
            self.file.flush()
        if self.progress is not None:
            self.progress.label = (f"{self.label} objective {record['objective']:.5g} primal {record['primal']:.2g} "
                                   f"dual {record['dual']:.2g}")

    def close(self) -> None:
        if self.file:
            self.file.close()
            self.file = None
