"""bin/bench's MPI section reads the reconstruction time from the command's summary line, not from the progress
lines printed before it (which it once took: 0.30 s for a WBP that took 2.9 s)."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the benchmarks package sits beside src/, not inside the installed tiltrec
    sys.path.insert(0, str(ROOT))

from benchmarks.run import _compute_seconds  # noqa: E402

OUTPUT = """WBP: 2% in 0.3 s
WBP: 50% in 1.4 s, about 1.4 s left
WBP: 100% in 2.9 s
tiltrec-mpi: wrote /tmp/x/mpi_wbp.rec (1024 x 1024 x 256 voxels, layout xzy, mode 2) with WBP in 2.87 s: 5.57 GUPS, \
16 slab(s), peak memory 282.1 MiB (rank 0)
tiltrec-mpi: to scale the output to bytes (10..245), use --scale 87.318,1.50199 (IMOD SCALE)
"""


def test_the_reconstruction_time_is_the_summary_lines():
    assert _compute_seconds(OUTPUT) == 2.87
