"""What every tiltrec command does first, before it reads its command line: a process that cannot misplace its
output through a closed standard descriptor, that keeps its arrays on ordinary memory pages, and that handles
signals (tiltrec.interrupts)."""

from __future__ import annotations

import os
import sys

from ..interrupts import install_for_process
from .streams import open_closed_descriptors

HUGEPAGE_VARIABLE = "NUMPY_MADVISE_HUGEPAGE"  # NumPy's own switch, read when NumPy is imported


def start_process() -> None:
    """Prepare this process for a command: the descriptors, the pages, the signal handlers."""
    open_closed_descriptors()
    ordinary_pages()
    install_for_process()  # before the command line is read; kept through MPI's finalisation


def ordinary_pages() -> None:
    """Ask NumPy not to mark its large arrays for transparent huge pages (``madvise(MADV_HUGEPAGE)``, NumPy's
    default on Linux), unless the user chose with NUMPY_MADVISE_HUGEPAGE.

    A huge page needs 2 MiB of contiguous free memory when it is first touched: the kernel compacts memory to make
    one (the usual ``defrag = madvise`` setting lets marked regions stall for that), and on virtual machines that
    return free memory to their host the block it gets is one the host has taken back and must supply again.  On
    the development VM (AMD EPYC, 2 vCPUs, Linux 6.18), first touching 256 MiB of new NumPy memory took 2.3-2.4 s
    with the mark and 0.15-0.20 s without, and a WBP of 1024^2 x 61 -> 256 spent 1.9-2.3 s of system time with
    it against 0.6 s without (wall 3.5-4.5 s against 2.8-3.2 s); the kernels ran as fast on either kind of page
    (1024 x 256 x 64 slab, back- and forward projection within this machine's noise).
    """
    if HUGEPAGE_VARIABLE in os.environ:
        return
    os.environ[HUGEPAGE_VARIABLE] = "0"  # for the NumPy this process imports later (the commands defer it)
    numpy = sys.modules.get("numpy")
    if numpy is not None:  # already imported: tell it directly
        core = getattr(numpy, "_core", None) or getattr(numpy, "core", None)
        setter = getattr(getattr(core, "multiarray", None), "_set_madvise_hugepage", None)
        if setter is not None:
            setter(False)
