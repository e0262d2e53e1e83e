"""Checkpoints: an interrupted SIRT, SART or ADMM run continues where it stopped (``--checkpoint``, ``--resume``).

Each rank keeps one file (``FILE`` on rank 0, ``FILE.rankN`` on rank N), replaced atomically (written beside it,
flushed to disk, renamed).  It holds:

- the job's fingerprint (input file and its size and date, views, geometry, algorithm and its settings, outputs,
  ranks, this rank's slabs), so that ``--resume`` refuses the checkpoint of another job;
- the slabs (and odd/even halves) this rank has finished, with the statistics of what it wrote: their slices are
  in the output's temporary file, which a run with ``--checkpoint`` keeps when it is interrupted, and which the
  resumed run adopts and completes (rank 0's file names it);
- the state of the slab in progress after its last saved iteration (every ``--checkpoint-every`` iterations): the
  arrays the algorithm needs to go on exactly as if never interrupted (SIRT/SART: x; ADMM: x, z, u, the CG
  residual, A x and its two divergences).

Under MPI, ADMM's ranks save together: each writes its file beside the old one, and all rename only after all have
written; a signal stops them all before or after the renames (``mpi.lockstep``), so the files of a set come from
one iteration (unless a rank is killed outright between its rename and another's).
"""

from __future__ import annotations

import json
import os
import zlib
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from ..errors import file_error
from ..formats.writer import VolumeStats
from ..mpi.world import World

VERSION = 1
ARRAY_PREFIX = "state_"


@dataclass(frozen=True)
class CheckpointOptions:
    """``--checkpoint FILE --checkpoint-every N [--resume]``."""

    path: Path
    every: int = 10
    resume: bool = False


def rank_path(path: Path, rank: int) -> Path:
    """Rank ``rank``'s checkpoint file: ``path`` itself on rank 0."""
    return path if rank == 0 else path.with_name(f"{path.name}.rank{rank}")


def _input_identity(stack) -> dict:
    """What identifies the tilt series: path, size and modification time of a file; a checksum of an array."""
    views = getattr(stack, "views", None)
    if isinstance(views, np.ndarray):
        return {"array": list(views.shape), "crc32": zlib.crc32(np.ascontiguousarray(views).tobytes())}
    path = Path(stack.path).resolve()
    status = path.stat()
    return {"path": str(path), "bytes": status.st_size, "modified_ns": status.st_mtime_ns}


def _public(obj) -> dict:
    """A dataclass's public fields (those not starting with ``_``)."""
    return {f.name: getattr(obj, f.name) for f in fields(obj) if not f.name.startswith("_")}


def _plain(value):
    """What ``json`` cannot write itself, as it can: arrays and NumPy numbers as lists and numbers."""
    return value.tolist() if hasattr(value, "tolist") else str(value)


def fingerprint(job, slabs, outputs: list[str]) -> dict:
    """Everything that decides the result of this rank's part of ``job`` (a strategies.run.Job)."""
    source = {k: v for k, v in _public(job.source).items() if k != "stack"}
    settings = {k: v for k, v in _public(job.settings).items() if k != "threads"}
    init = None if job.init is None else _input_identity(job.init)
    identity = {"input": _input_identity(job.source.stack), "source": source, "geometry": _public(job.geometry),
                "algorithm": job.algorithm, "settings": settings, "outputs": outputs, "init": init,
                "unified": job.unified, "pad_x": job.pad_x, "ranks": job.world.size, "rank": job.world.rank,
                "slabs": [[s.y0, s.y1, s.c0, s.c1] for s in slabs]}
    return json.loads(json.dumps(identity, default=_plain))  # as the file holds it (lists, not tuples)


def _names(stored: dict, current: dict) -> str:
    """The entries in which two fingerprints differ, in words."""
    words = {"input": "input file", "source": "views (--exclude, --bin, --log)", "geometry": "geometry",
             "algorithm": "algorithm", "settings": "algorithm settings", "outputs": "output files",
             "init": "--init volume", "unified": "command", "pad_x": "--xpad", "ranks": "number of MPI ranks",
             "rank": "rank", "slabs": "slabs (--memory)"}
    return ", ".join(words.get(k, k) for k in current if stored.get(k) != current[k]) or "version"


class Checkpoint:
    """This rank's checkpoint: finished slabs, their statistics, the state of the slab in progress."""

    def __init__(self, options: CheckpointOptions, world: World, identity: dict, targets: int):
        self.path = rank_path(options.path, world.rank)
        self.primary, self.ranks = options.path, world.size
        self.every = options.every
        self.identity = identity
        self.finished: set[tuple[int, int]] = set()
        self.stats = [VolumeStats() for _ in range(targets)]
        self.temporaries: list[str] | None = None  # rank 0: the outputs' temporary files, which it continues
        self.current: dict | None = None  # {"key": [slab, target], "iteration": k}
        self._arrays = None  # the saved state's arrays (an open NpzFile) until restored

    @classmethod
    def open(cls, options: CheckpointOptions, world: World, identity: dict, targets: int) -> "Checkpoint":
        """The checkpoint to continue (``options.resume``), checked against ``identity``; or a new one, refusing to
        overwrite an existing file."""
        self = cls(options, world, identity, targets)
        if not options.resume:
            if self.path.exists():
                raise file_error(self.path, "a checkpoint is already there: continue it with --resume, or delete "
                                            "it to start afresh")
            return self
        for leftover in self.path.parent.glob(f".{self.path.name}.*.tmp"):  # of a run killed while saving
            leftover.unlink(missing_ok=True)
        if not self.path.is_file():
            raise file_error(self.path, "no checkpoint to resume from")
        try:
            stored = np.load(self.path, allow_pickle=False)
            meta = json.loads(str(stored["meta"]))
        except (OSError, ValueError, KeyError) as exc:
            raise file_error(self.path, f"cannot be read as a tiltrec checkpoint: {exc}") from None
        if meta.get("version") != VERSION or meta.get("identity") != identity:
            differ = _names(meta.get("identity", {}), identity)
            raise file_error(self.path, f"is the checkpoint of another job (its {differ} differ): delete it or run "
                                        f"without --resume")
        self.finished = {tuple(key) for key in meta["finished"]}
        self.stats = [VolumeStats(*values) for values in meta["stats"]]
        self.temporaries = meta["temporaries"]
        self.current = meta["current"]
        self._arrays = stored
        for name in self.temporaries or []:
            if not Path(name).is_file():
                raise file_error(self.path, f"the partial output it continues, {name}, is gone: delete the "
                                            f"checkpoint and start afresh")
        return self

    # --- what the run loop asks ---
    def is_finished(self, key: tuple[int, int]) -> bool:
        return key in self.finished

    def store(self, key: tuple[int, int], total: int, coupled: World | None = None) -> "SlabStore":
        """The store an algorithm saves slab ``key``'s state through (``coupled``: the ranks saving together)."""
        return SlabStore(self, key, total, coupled)

    def saved_state(self, key: tuple[int, int]):
        """``(iteration, arrays)`` saved for slab ``key`` by the interrupted run, once (None if there is none)."""
        if self.current is None or self.current["key"] != list(key) or self._arrays is None:
            return None
        arrays = {name[len(ARRAY_PREFIX):]: self._arrays[name] for name in self._arrays.files
                  if name.startswith(ARRAY_PREFIX)}
        self._arrays.close()
        self._arrays = None
        return self.current["iteration"], arrays

    def save_state(self, key: tuple[int, int], iteration: int, arrays: dict, coupled: World | None) -> None:
        """Save slab ``key``'s state after ``iteration``."""
        self.current = {"key": list(key), "iteration": iteration}
        self._write(arrays, coupled)

    def finish(self, key: tuple[int, int], stats: list[VolumeStats], coupled: World | None = None) -> None:
        """Record slab ``key`` as written, with the writers' statistics so far (``coupled``: the ranks that
        record it together)."""
        self.finished.add(key)
        self.stats = list(stats)
        self.current = None
        self._write({}, coupled)

    def keeps_output(self) -> bool:
        """Whether the job's partial output must survive a failure: some rank's checkpoint continues it (every rank
        answers alike)."""
        return any(rank_path(self.primary, rank).exists() for rank in range(self.ranks))

    def remove(self) -> None:
        """Delete this rank's file (the job is complete)."""
        self.path.unlink(missing_ok=True)

    # --- the file ---
    def _write(self, arrays: dict, coupled: World | None = None) -> None:
        meta = {"version": VERSION, "identity": self.identity, "finished": sorted(self.finished),
                "stats": [[s.count, s.minimum, s.maximum, s.total, s.total_squares] for s in self.stats],
                "temporaries": self.temporaries, "current": self.current}
        staged = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            with open(staged, "wb") as f:
                np.savez(f, meta=np.array(json.dumps(meta)),
                         **{ARRAY_PREFIX + k: (v.get() if hasattr(v, "get") else v) for k, v in arrays.items()})
                f.flush()
                os.fsync(f.fileno())
        except BaseException as exc:
            staged.unlink(missing_ok=True)
            if isinstance(exc, OSError):
                raise file_error(self.path, f"cannot write the checkpoint: {exc.strerror or exc}") from None
            raise
        if coupled is not None:
            try:
                coupled.allreduce([])  # every rank has written (or all stop here together: mpi.lockstep)
            except BaseException:
                staged.unlink(missing_ok=True)
                raise
        os.replace(staged, self.path)


class SlabStore:
    """The checkpoint store one algorithm run sees (see algorithms.state)."""

    def __init__(self, checkpoint: Checkpoint, key: tuple[int, int], total: int, coupled: World | None):
        self.checkpoint, self.key, self.total, self.coupled = checkpoint, key, total, coupled

    def restore(self):
        return self.checkpoint.saved_state(self.key)

    def save(self, iteration: int, arrays: dict) -> None:
        """Saves every ``--checkpoint-every`` iterations, but not after the last (the slab is then written)."""
        if iteration % self.checkpoint.every == 0 and iteration < self.total:
            self.checkpoint.save_state(self.key, iteration, arrays, self.coupled)
