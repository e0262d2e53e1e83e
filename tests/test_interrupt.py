"""SIGINT and SIGTERM during a reconstruction: prompt exit, no output, no temporary file, older output intact."""

import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from cli_helpers import wait_until_writing

from tiltrec.formats import write_stack

BIN = Path(sys.executable).parent


@pytest.fixture
def long_job(tmp_path):
    """A SIRT job that runs for many seconds, and an older output file it must not touch."""
    rng = np.random.default_rng(0)
    write_stack(tmp_path / "in.mrc", rng.random((61, 64, 256), dtype=np.float32))
    (tmp_path / "in.tlt").write_text("".join(f"{a}\n" for a in np.linspace(-60, 60, 61)))
    old = tmp_path / "out.mrc"
    old.write_bytes(b"older result")
    args = [BIN / "tiltrec-mpi", "--alg", "sirt", "--iter", "10000", "--thickness", "64", "--overwrite",
            tmp_path / "in.mrc", tmp_path / "in.tlt", old]
    return [str(a) for a in args], tmp_path, old


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_stops_cleanly(long_job, sig, code):
    args, folder, old = long_job
    proc = subprocess.Popen(args, stderr=subprocess.PIPE, text=True)
    wait_until_writing(proc, folder)
    proc.send_signal(sig)
    sent = time.monotonic()
    _, err = proc.communicate(timeout=30)
    assert time.monotonic() - sent < 5
    assert proc.returncode == code
    assert "interrupted; no output written" in err
    assert old.read_bytes() == b"older result"
    assert sorted(p.name for p in folder.iterdir()) == ["in.mrc", "in.tlt", "out.mrc"]
