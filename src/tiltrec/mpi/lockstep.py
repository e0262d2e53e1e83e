"""Ranks in lockstep: an algorithm whose ranks meet in collectives at every step (ADMM's inner products).

A rank that stopped on its own in such a section (Ctrl-C, SIGTERM, a full disk) would leave the others waiting in
their next collective for ever.  Inside ``lockstep(world)``:

- signals are only recorded (tiltrec.interrupts.deferred: neither the handler nor a safe point raises); every
  ``allreduce`` of the world it yields also counts the ranks that received one, so all ranks learn of a signal in
  the same collective and raise it there together, and the usual clean-up (``collectively``) follows on every
  rank;
- a failure the ranks agreed on (``collective.agree``: ``RankFailure`` on every rank) passes on as it is;
- any other failure is local to one rank: that rank prints it and aborts the MPI job (``MPI_Abort``), which ends
  every rank; the output's temporary file is left for the next run to sweep up.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import TiltrecError
from ..interrupts import handled, interruption, signalled
from .collective import RankFailure
from .world import World


@dataclass
class LockstepWorld(World):
    """A World whose ``allreduce`` also tells every rank of a signal any rank received."""

    def allreduce(self, values) -> np.ndarray:
        total = super().allreduce(list(values) + [1.0 if signalled() else 0.0])
        if total[-1]:  # every rank sees it in the same call, and agrees on which signal to raise
            from mpi4py import MPI

            raise interruption(self.comm.allreduce(signalled() or 0, op=MPI.MAX))
        return total[:-1]


@contextmanager
def lockstep(world: World):
    """Run the block with ``world``'s ranks in lockstep (see the module); yields the world to use for it."""
    if world.comm is None:
        yield world
        return
    shared = LockstepWorld(world.rank, world.size, world.local_rank, world.local_size, world.comm)
    with handled(raising=False):
        try:
            yield shared
            shared.allreduce([])  # a signal that came after the last collective stops every rank too
        except (KeyboardInterrupt, RankFailure):
            raise  # raised by a collective, on every rank alike
        except BaseException as exc:
            message = str(exc) if isinstance(exc, TiltrecError) else f"{type(exc).__name__}: {exc}"
            print(f"{Path(sys.argv[0]).name}: error: rank {world.rank}: {message}", file=sys.stderr, flush=True)
            world.comm.Abort(getattr(exc, "exit_code", 1))
