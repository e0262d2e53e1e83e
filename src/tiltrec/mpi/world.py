"""The MPI world of a run, or a single process when no MPI launcher started us.

mpi4py is imported only under a launcher (mpiexec, mpirun, srun), so a plain run pays nothing for MPI.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from dataclasses import dataclass

import numpy as np

# Variables that MPICH/Hydra, Open MPI, PMIx and Slurm set in every rank they start.
_LAUNCHER_VARIABLES = ("PMI_SIZE", "PMI_RANK", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS")
_PARENT = os.getppid()  # the process that started this one (a rank: its launcher's process on this node)
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


@dataclass
class World:
    """Rank and size of this process (``comm`` is None for a single process)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0  # rank among the ranks on this node (picks the GPU of a -cuda rank)
    local_size: int = 1  # ranks on this node
    comm: object = None

    def allgather(self, value) -> list:
        return self.comm.allgather(value) if self.comm is not None else [value]

    def bcast(self, value):
        return self.comm.bcast(value, root=0) if self.comm is not None else value

    def allreduce(self, values) -> np.ndarray:
        """Element-wise sums of ``values`` (floats) over the ranks, in float64; the same result on every rank."""
        total = np.array(values, dtype=np.float64)
        if self.comm is not None:
            from mpi4py import MPI

            self.comm.Allreduce(MPI.IN_PLACE, total, op=MPI.SUM)
        return total

    def subset(self, member: bool) -> "World":
        """Collective: the ranks that pass ``member`` True as a world of their own, in the same order (the
        others get a single-process World)."""
        if self.comm is None:
            return self
        from mpi4py import MPI

        comm = self.comm.Split(0 if member else MPI.UNDEFINED, self.rank)
        if not member or comm.Get_size() == 1:
            return World(local_size=self.local_size)
        return World(comm.Get_rank(), comm.Get_size(), self.local_rank, self.local_size, comm)

    def default_threads(self) -> int:
        """CPU threads per rank: the cores this process may use, shared among the ranks of its node."""
        try:
            cores = len(os.sched_getaffinity(0))
        except AttributeError:
            cores = os.cpu_count() or 1
        return max(1, cores // self.local_size)

    def share(self, count: int) -> range:
        """This rank's contiguous, balanced share of ``count`` work items."""
        base, extra = divmod(count, self.size)
        start = self.rank * base + min(self.rank, extra)
        return range(start, start + base + (1 if self.rank < extra else 0))


def detect_world() -> World:
    """The MPI world when started by an MPI launcher with more than one rank, else a single process."""
    if not under_launcher():
        return World()
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    if comm.Get_size() == 1:
        return World()
    _end_with_launcher()
    local = comm.Split_type(MPI.COMM_TYPE_SHARED)
    return World(rank=comm.Get_rank(), size=comm.Get_size(), local_rank=local.Get_rank(), local_size=local.Get_size(),
                 comm=comm)


_RANK_VARIABLES = ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK")


def launcher_rank() -> int:
    """This process's rank as the MPI launcher put it in the environment (0 without one).  No MPI call: any single
    rank may ask, e.g. to print a warning once for the whole job."""
    for name in _RANK_VARIABLES:
        value = os.environ.get(name, "")
        if value.isdigit():
            return int(value)
    return 0


def under_launcher() -> bool:
    """Whether an MPI launcher started this process (no MPI call)."""
    return any(os.environ.get(v) for v in _LAUNCHER_VARIABLES)


def launcher_gone() -> bool:
    """Whether the process that started this one has ended (this one was handed to another parent)."""
    return os.getppid() != _PARENT


def _end_with_launcher() -> None:
    """Have Linux send this rank SIGTERM when its launcher's process ends: killed (``kill`` of hydra_pmi_proxy, a
    node agent's crash), the launcher can no longer end its ranks, which would compute on and replace the output
    unseen.  The check before the commit (mpi.collective.committing) covers systems without this call."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    except (OSError, AttributeError):
        return
    if launcher_gone():  # it ended before it could be told
        signal.raise_signal(signal.SIGTERM)
