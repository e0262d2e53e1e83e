"""A test hook that holds a run inside its reading or writing phase, so that a signal can be sent there.

With ``TILTREC_STALL=PHASE:MARKER`` in the environment (PHASE is ``read`` or ``write``), each process appends its
PID to the file MARKER when it gets to PHASE and then sleeps up to STALL_SECONDS, or until MARKER is deleted;
tests/test_interrupt.py waits for the line and sends a signal, or changes a file and lets the run go on.  Reading
a slab's rows and writing a slab are otherwise too short to hit by timing.  Unset, which is always the case
outside those tests, the hook costs one environment lookup.
"""

from __future__ import annotations

import os
import time

VARIABLE = "TILTREC_STALL"
STALL_SECONDS = 60.0


def stall(phase: str) -> None:
    """Announce and wait if ``TILTREC_STALL`` names ``phase``."""
    spec = os.environ.get(VARIABLE)
    if not spec:
        return
    name, _, marker = spec.partition(":")
    if name != phase:
        return
    with open(marker, "a") as stream:
        stream.write(f"{os.getpid()}\n")
    deadline = time.monotonic() + STALL_SECONDS
    while os.path.exists(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
