"""Ranks in lockstep: an algorithm whose ranks meet in collectives at every step (ADMM's inner products).

A rank that stopped on its own in such a section (Ctrl-C, SIGTERM, a full disk) would leave the others waiting in
their next collective for ever.  Inside ``lockstep(world)``:

- SIGINT and SIGTERM only mark themselves; every ``allreduce`` of the world it yields also sums the marks, so all
  ranks learn of a signal in the same collective and raise it there together (SIGTERM as ``Terminated``), and the
  usual clean-up (``collectively``) follows on every rank;
- a failure the ranks agreed on (``collective.agree``: ``RankFailure`` on every rank) passes on as it is;
- any other failure is local to one rank: that rank prints it and aborts the MPI job (``MPI_Abort``), which ends
  every rank; the output's temporary file is left for the next run to sweep up.
"""

from __future__ import annotations

import signal
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import Terminated, TiltrecError
from .collective import RankFailure
from .world import World

SIGNALS = (signal.SIGINT, signal.SIGTERM)


@dataclass
class LockstepWorld(World):
    """A World whose ``allreduce`` also tells every rank of a signal any rank received."""

    marks: list = field(default_factory=lambda: [0.0, 0.0])  # SIGINTs, SIGTERMs received

    def allreduce(self, values) -> np.ndarray:
        total = super().allreduce(list(values) + self.marks)
        interrupts, terms = total[-2:]
        if terms:
            raise Terminated()
        if interrupts:
            raise KeyboardInterrupt()
        return total[:-2]


@contextmanager
def lockstep(world: World):
    """Run the block with ``world``'s ranks in lockstep (see the module); yields the world to use for it."""
    if world.comm is None:
        yield world
        return
    shared = LockstepWorld(world.rank, world.size, world.local_rank, world.local_size, world.comm)

    def mark(signum, frame):
        shared.marks[SIGNALS.index(signum)] += 1.0

    previous = {s: signal.signal(s, mark) for s in SIGNALS}
    try:
        yield shared
        shared.allreduce([])  # a signal that came after the last collective stops every rank too
    except (KeyboardInterrupt, RankFailure):
        raise  # raised by a collective, on every rank alike
    except BaseException as exc:
        message = str(exc) if isinstance(exc, TiltrecError) else f"{type(exc).__name__}: {exc}"
        print(f"{Path(sys.argv[0]).name}: error: rank {world.rank}: {message}", file=sys.stderr, flush=True)
        world.comm.Abort(getattr(exc, "exit_code", 1))
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
