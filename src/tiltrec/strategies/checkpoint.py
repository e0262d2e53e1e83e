"""Checkpoints: an interrupted SIRT, SART or ADMM run continues where it stopped (``--checkpoint``, ``--resume``).

Each rank keeps one file (``FILE`` on rank 0, ``FILE.rankN`` on rank N), replaced atomically (written beside it,
flushed to disk, renamed).  It holds:

- the job's fingerprint (input file and its size and date, views, geometry, algorithm and its settings, outputs,
  ranks), so that ``--resume`` refuses the checkpoint of another job;
- the job's slab plan (strategies.plan: every rank's slabs), which the resumed run runs as it is, whatever memory
  it has (if the slabs fit it): the slab heights are no part of the fingerprint, and a resumed run gives the
  uninterrupted result bit for bit even where a new plan would differ (a GPU's free memory, the available RAM);
- the slabs of the plan (and odd/even halves) this rank has finished, each with the statistics and the CRC-32 of
  what it wrote: their slices are in the output's partial file (formats.atomic.partial_name: named after the
  output and the checkpoint, never after anything the checkpoint says), which a run with ``--checkpoint`` keeps
  when it is interrupted and the resumed run continues.  A slab counts as finished only once its slices are on
  disk (flushed with fsync); the resumed run reads each back and computes again any whose checksum differs (a
  damaged or truncated partial file);
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
import re
import secrets
import zlib
from dataclasses import astuple, dataclass, fields
from glob import escape as glob_escape
from pathlib import Path

import numpy as np

from ..errors import file_error, os_failure
from ..formats.atomic import hidden_name
from ..formats.writer import VolumeStats
from ..mpi.world import World
from .plan import Slab
from ..options.spelling import spelled

VERSION = 4  # 3: the slab plan stored beside the fingerprint, finished slabs counted in it; 4: mode-0 partial
# outputs hold signed bytes as IMOD writes them, slabs computed by the compiled flat projector
STATS_FIELDS = tuple(f.name for f in fields(VolumeStats))  # a finished slab's statistics, in this order
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


def fingerprint(*, source, geometry, algorithm: str, settings, init, unified: bool, backend: str, world: World,
                outputs: list[str]) -> dict:
    """Everything besides the slab plan that decides the result of this rank's part of a job: its ProjectionSource,
    Geometry, algorithm name and settings, --init volume (a VolumeReader or None), strategy, backend (whose float
    arithmetic differs in its last bits) and ranks, and ``outputs`` (the files and how they are stored)."""
    geometry_identity = _public(geometry)
    if geometry.local is not None:  # every number of the local alignments (their printout elides long arrays)
        geometry_identity["local"] = geometry.local.digest()
    identity = {"input": _input_identity(source.stack),
                "source": {k: v for k, v in _public(source).items() if k != "stack"},
                "geometry": geometry_identity, "algorithm": algorithm,
                "settings": {k: v for k, v in _public(settings).items() if k != "threads"}, "outputs": outputs,
                "init": None if init is None else _input_identity(init), "unified": unified, "backend": backend,
                "ranks": world.size, "rank": world.rank}
    return json.loads(json.dumps(identity, default=_plain))  # as the file holds it (lists, not tuples)


def _names(stored: dict, current: dict) -> str:
    """The entries in which two fingerprints differ, in words."""
    words = {"input": "input file", "source": "views (--exclude, --bin, --log)", "geometry": "geometry",
             "algorithm": "algorithm", "settings": "algorithm settings", "outputs": "output files",
             "init": "--init volume", "unified": "command", "backend": "backend (CPU or GPU command)",
             "ranks": "number of MPI ranks", "rank": "rank"}
    return ", ".join(words.get(k, k) for k in current if stored.get(k) != current[k]) or "entries"


class Checkpoint:
    """This rank's checkpoint: the job's slab plan, the finished slabs (by their index in the plan), their
    statistics, the state of the slab in progress."""

    def __init__(self, options: CheckpointOptions, world: World, identity: dict, targets: int,
                 plan: tuple[Slab, ...] = ()):
        self.path = rank_path(options.path, world.rank)
        self.primary, self.ranks = options.path, world.size
        self.every = options.every
        self.identity = identity
        self.targets = targets
        self.plan = plan
        self.finished: dict[tuple[int, int], FinishedSlab] = {}
        self.current: dict | None = None  # {"key": [slab, target], "iteration": k}
        self.resumed = options.resume
        self.saved = False  # whether this run has written the file
        self._arrays = None  # the saved state's arrays (an open NpzFile) until restored

    @classmethod
    def create(cls, options: CheckpointOptions, world: World, identity: dict, targets: int,
               plan: tuple[Slab, ...]) -> "Checkpoint":
        """A new checkpoint of the job with slab plan ``plan``; an existing file is refused, never overwritten."""
        self = cls(options, world, identity, targets, tuple(plan))
        if self.path.exists():
            raise file_error(self.path, f"a checkpoint is already there: continue it with {spelled('resume')}, or "
                                        f"delete it to start afresh")
        return self

    @classmethod
    def resume(cls, options: CheckpointOptions, world: World, identity: dict, targets: int) -> "Checkpoint":
        """The checkpoint to continue, checked against ``identity``, with the slab plan it holds (which the caller
        checks against the job: strategies.plan.Workload.check)."""
        self = cls(options, world, identity, targets)
        stem = _staged(self.path, "").name
        for leftover in self.path.parent.glob(f"{glob_escape(stem)}*.tmp"):  # of a run killed while saving
            if re.fullmatch(r"\.\d+-[0-9a-f]{8}\.tmp", leftover.name[len(stem):]):
                leftover.unlink(missing_ok=True)
        if not self.path.is_file():
            raise file_error(self.path, "no checkpoint to resume from")
        stored, meta = _read(self.path)
        version = meta.get("version")
        if version != VERSION:
            stored.close()
            written = f"format {version}" if type(version) is int else "an unknown format"
            raise file_error(self.path, f"is a checkpoint in {written}, which this tiltrec (format {VERSION}) cannot "
                                        f"continue: finish the run with the tiltrec that started it, or delete the "
                                        f"checkpoint and start afresh")
        if meta.get("identity") != identity:
            stored.close()
            differ = _names(meta.get("identity") if isinstance(meta.get("identity"), dict) else {}, identity)
            raise file_error(self.path, f"is the checkpoint of another job (its {differ} differ): delete it or run "
                                        f"without {spelled('resume')}")
        try:
            self.plan = _plan(meta.get("plan"))
            share = world.share(len(self.plan))
            self.finished = _finished(meta.get("finished"), share, targets)
            self.current = _current(meta.get("current"), share, targets)
        except (TypeError, ValueError, KeyError) as exc:
            stored.close()
            raise file_error(self.path, f"cannot be read as a tiltrec checkpoint: {exc}") from None
        self._arrays = stored
        return self

    def close(self) -> None:
        """Let go of the saved state's arrays (a run that stops before it restores them)."""
        if self._arrays is not None:
            self._arrays.close()
            self._arrays = None

    # --- what the run loop asks ---
    def is_finished(self, key: tuple[int, int]) -> bool:
        return key in self.finished

    def forget(self, key: tuple[int, int]) -> None:
        """Count slab ``key`` as not written after all (its slices in the partial output are damaged)."""
        del self.finished[key]

    def store(self, key: tuple[int, int], total: int, coupled: World | None = None) -> "SlabStore":
        """The store an algorithm saves slab ``key``'s state through (``coupled``: the ranks saving together)."""
        return SlabStore(self, key, total, coupled)

    def saved_state(self, key: tuple[int, int]):
        """``(iteration, arrays)`` saved for slab ``key`` by the interrupted run, once (None if there is none)."""
        if self.current is None or self.current["key"] != list(key) or self._arrays is None:
            return None
        try:
            arrays = {name[len(ARRAY_PREFIX):]: self._arrays[name] for name in self._arrays.files
                      if name.startswith(ARRAY_PREFIX)}
        except Exception as exc:  # a damaged member of the archive (zipfile, zlib, NumPy's format)
            raise file_error(self.path, f"cannot be read as a tiltrec checkpoint: {exc}") from None
        finally:
            self._arrays.close()
            self._arrays = None
        return self.current["iteration"], SavedState(self.path, arrays)

    def save_state(self, key: tuple[int, int], iteration: int, arrays: dict, coupled: World | None) -> None:
        """Save slab ``key``'s state after ``iteration``."""
        self.current = {"key": list(key), "iteration": iteration}
        self._write(arrays, coupled)

    def finish(self, key: tuple[int, int], slab: "FinishedSlab", coupled: World | None = None) -> None:
        """Record slab ``key`` as written and durable, with what was written of it (``coupled``: the ranks that
        record it together)."""
        self.finished[key] = slab
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
        meta = {"version": VERSION, "identity": self.identity, "plan": [[s.y0, s.y1, s.c0, s.c1] for s in self.plan],
                "current": self.current,
                "finished": [[*key, slab.crc, *slab.stats_values()] for key, slab in sorted(self.finished.items())]}
        staged = _staged(self.path, f".{os.getpid()}-{secrets.token_hex(4)}.tmp")
        try:
            f = open(staged, "xb")  # a new file: never one that is there already
        except OSError as exc:
            raise os_failure(self.path, "write the checkpoint", exc) from None
        try:
            with f:
                np.savez(f, meta=np.array(json.dumps(meta)),
                         **{ARRAY_PREFIX + k: (v.get() if hasattr(v, "get") else v) for k, v in arrays.items()})
                f.flush()
                os.fsync(f.fileno())
        except BaseException as exc:
            staged.unlink(missing_ok=True)
            if isinstance(exc, OSError):
                raise os_failure(self.path, "write the checkpoint", exc) from None
            raise
        if coupled is not None:
            try:
                coupled.allreduce([])  # every rank has written (or all stop here together: mpi.lockstep)
            except BaseException:
                staged.unlink(missing_ok=True)
                raise
        try:
            os.replace(staged, self.path)
        except OSError as exc:
            staged.unlink(missing_ok=True)
            raise os_failure(self.path, "write the checkpoint", exc) from None
        self.saved = True


class SlabStore:
    """The checkpoint store one algorithm run sees (see algorithms.state)."""

    def __init__(self, checkpoint: Checkpoint, key: tuple[int, int], total: int, coupled: World | None):
        self.checkpoint, self.key, self.total, self.coupled = checkpoint, key, total, coupled

    def restore(self):
        saved = self.checkpoint.saved_state(self.key)
        if saved is not None and saved[0] >= self.total:
            raise file_error(self.checkpoint.path, f"its saved iteration {saved[0]} is not below this job's "
                                                   f"{self.total}: it is not a checkpoint of this job")
        return saved

    def save(self, iteration: int, arrays: dict) -> None:
        """Saves every ``--checkpoint-every`` iterations, but not after the last (the slab is then written)."""
        if iteration % self.checkpoint.every == 0 and iteration < self.total:
            self.checkpoint.save_state(self.key, iteration, arrays, self.coupled)


def _staged(path: Path, suffix: str) -> Path:
    """The file a checkpoint is written into before it replaces ``path``: ``.NAME.PID-RANDOM.tmp``."""
    return hidden_name(path, suffix, len(f".{2 ** 32}-{'0' * 8}.tmp"))


@dataclass(frozen=True)
class FinishedSlab:
    """What a checkpoint keeps of a written slab: the CRC-32 of its stored slices and their statistics."""

    crc: int
    stats: VolumeStats

    def stats_values(self) -> list:
        return list(astuple(self.stats))


def _read(path: Path):
    """The checkpoint archive (open) and its metadata; any damage is a one-line error naming the file."""
    try:
        stored = np.load(path, allow_pickle=False)
    except Exception as exc:  # empty, truncated or not an archive: zipfile, OSError, ValueError, EOFError ...
        raise file_error(path, f"cannot be read as a tiltrec checkpoint: {exc or type(exc).__name__}") from None
    try:
        if not hasattr(stored, "files") or "meta" not in stored.files:
            raise ValueError("no metadata")
        meta = json.loads(str(stored["meta"]))
        if not isinstance(meta, dict):
            raise ValueError("the metadata is not a table")
    except Exception as exc:
        if hasattr(stored, "close"):
            stored.close()
        raise file_error(path, f"cannot be read as a tiltrec checkpoint: {exc or type(exc).__name__}") from None
    return stored, meta


def _plan(entries) -> tuple[Slab, ...]:
    """The slab plan as the file holds it (``[y0, y1, c0, c1]`` each), or a ValueError."""
    if not isinstance(entries, list) or not entries:
        raise ValueError("no slab plan")
    for entry in entries:
        if not isinstance(entry, list) or len(entry) != 4 or not all(type(v) is int for v in entry):
            raise ValueError(f"slab {entry!r} is not [y0, y1, c0, c1]")
    return tuple(Slab(*entry) for entry in entries)


def _key(value, slabs: range, targets: int) -> tuple[int, int]:
    """A (slab, target) pair of this rank's share of the plan, or a ValueError."""
    if (not isinstance(value, list) or len(value) != 2 or not all(type(v) is int for v in value)
            or not (value[0] in slabs and 0 <= value[1] < targets)):
        raise ValueError(f"{value!r} is not a slab of this rank")
    return value[0], value[1]


def _finished(entries, slabs: range, targets: int) -> dict:
    """The finished slabs' records, checked entry by entry."""
    if not isinstance(entries, list):
        raise ValueError("no list of finished slabs")
    finished = {}
    for entry in entries:
        if not isinstance(entry, list) or len(entry) != 3 + len(STATS_FIELDS):
            raise ValueError(f"finished slab {entry!r} is not [slab, target, crc, {', '.join(STATS_FIELDS)}]")
        key = _key(entry[:2], slabs, targets)
        crc, count, *values, nonfinite, low, high, clipped = entry[2:]
        if any(type(n) is not int for n in (crc, count, nonfinite, clipped)) or count < 1 or nonfinite \
                or not all(isinstance(v, (int, float)) and np.isfinite(v) for v in (*values, low, high)):
            raise ValueError(f"finished slab {entry!r} has impossible values")
        finished[key] = FinishedSlab(crc, VolumeStats(count, *map(float, values), 0, float(low), float(high), clipped))
    return finished


def _current(current, slabs: range, targets: int) -> dict | None:
    """The slab in progress and its last saved iteration, checked."""
    if current is None:
        return None
    if not isinstance(current, dict) or type(current.get("iteration")) is not int or current["iteration"] < 1:
        raise ValueError(f"the slab in progress {current!r} is not a slab and an iteration")
    return {"key": list(_key(current.get("key"), slabs, targets)), "iteration": current["iteration"]}


class SavedState:
    """The arrays of a saved state, each checked as the algorithm loads it into its own array."""

    def __init__(self, path: Path, arrays: dict):
        self.path, self.arrays = path, arrays

    def load(self, xp, name: str, target) -> None:
        """Copy the saved array ``name`` into ``target`` (NumPy or CuPy): same shape, finite values."""
        saved = self.arrays.get(name)
        if saved is None:
            raise file_error(self.path, f"holds no saved {name!r}: it is not a checkpoint of this algorithm")
        if saved.shape != tuple(target.shape) or saved.dtype.kind not in "fi" or not np.isfinite(saved).all():
            raise file_error(self.path, f"its saved {name!r} ({saved.dtype} {saved.shape}) does not fit this job "
                                        f"(float32 {tuple(target.shape)}) or is not finite")
        target[...] = xp.asarray(saved, dtype=target.dtype)
