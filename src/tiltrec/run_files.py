"""The files of one reconstruction: those it reads and those it writes, named and checked before any work.

What a run writes: the output and, with ``--split odd-even``, its halves; with ``--checkpoint`` the checkpoint
(one file per MPI rank) and the partial outputs kept for ``--resume``; with ``--log`` the iteration log.  None of
them may be a file the run reads, nor two of them one file (formats.file_roles); each must be writable where it
is, and an existing one is replaced only as its option allows.  All of this is settled here, on rank 0 and before
the stack is opened, so that a refused run has read and written nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import InputError, file_error
from .formats.atomic import check_output, partial_name
from .formats.file_roles import FileUse, check_distinct
from .formats.hdf5 import SUFFIXES as HDF5_SUFFIXES
from .options.spelling import spelled
from .strategies.checkpoint import rank_path
from .strategies.monitor import is_iteration_log

HALVES = ("odd", "even")


def half_path(output: Path, half: str) -> Path:
    """Where the odd or even half of ``output`` goes: NAME_odd.EXT, NAME_even.EXT."""
    return output.with_name(f"{output.stem}_{half}{output.suffix}")


def output_paths(output: Path, split: bool) -> list[tuple[str, Path]]:
    """The volumes a run writes, with their roles: the output, and with ``split`` its odd and even halves."""
    return [("output", output)] + ([(f"{h} half", half_path(output, h)) for h in HALVES] if split else [])


def check_run_files(stack, angles, output: Path | None, opt, ranks: int, read_files: tuple = ()) -> None:
    """Refuse the run (an InputError naming the file) if it would write a file it reads, write one file twice, or
    write where it cannot or may not; ``stack``, ``angles`` and the starting volume count where they are files,
    ``opt`` is the run's options.model.Options, ``read_files`` the other files read (formats.file_roles.FileUse:
    a tilt.com, an X-axis tilt file)."""
    out = opt.output
    reads = [FileUse(role, Path(path)) for role, path in (("input tilt series", stack), ("tilt angle file", angles),
                                                          (f"{spelled('init')} volume", opt.input.init))
             if isinstance(path, (str, Path))]
    reads += list(read_files)
    volumes = output_paths(output, out.split is not None) if output is not None else []
    writes = [FileUse(role, path) for role, path in volumes]
    if out.checkpoint is not None:
        if output is None or output.suffix.lower() in HDF5_SUFFIXES:
            raise InputError(f"{spelled('checkpoint')} needs an MRC output file (the slices written so far stay in "
                             f"it)")
        checkpoint = Path(out.checkpoint)
        writes += [FileUse("checkpoint" if rank == 0 else f"checkpoint of rank {rank}", rank_path(checkpoint, rank))
                   for rank in range(ranks)]
        writes += [FileUse(f"partial {role}", partial_name(path, checkpoint)) for role, path in volumes]
    if out.log is not None:
        writes.append(FileUse("log", Path(out.log)))
    check_distinct(reads, writes)
    for _, path in volumes:
        check_output(path, out.overwrite)
    if out.checkpoint is not None:
        check_output(Path(out.checkpoint), overwrite=True)  # an existing one: strategies.checkpoint decides
    if out.log is not None:
        _check_log(Path(out.log), out.overwrite, out.resume)


def _check_log(path: Path, overwrite: bool, resume: bool) -> None:
    """An existing log is continued by ``--resume`` or replaced with ``--overwrite``, and only if it is a tiltrec
    iteration log: a file of any other kind is never written."""
    check_output(path, overwrite=True)
    if not os.path.lexists(path):
        return
    if not is_iteration_log(path):
        raise file_error(path, f"exists and is not a tiltrec iteration log: give {spelled('log')} another name")
    if not (overwrite or resume):
        raise file_error(path, f"already exists (use {spelled('overwrite')} to replace it, or {spelled('resume')} to "
                               f"continue its run)")
