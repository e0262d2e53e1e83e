"""The tilt axis offset (IMOD OFFSET's second value) moves the axis in the views as well as the output's centre,
as IMOD's tilt does: a --com run equals IMOD's reconstruction (tests/data/make_axis_offset_reference.py)."""

import os
from pathlib import Path

import mrcfile
import numpy as np

from cli_helpers import cli
from make_axis_offset_reference import INPUTS

DATA = Path(__file__).parent / "data" / "axis_offset"
TOLERANCE = 0.006  # RMS difference / reference SD (measured 0.0037: edge voxels, as for the other WBP references)


def test_an_axis_offset_reconstructs_as_imod(shared_dir, tmp_path):
    for name, path in INPUTS.items():
        os.symlink(shared_dir / path, tmp_path / name)
    param = tmp_path / "offset.param"
    param.write_text((DATA / "offset.param").read_text())
    result = cli("--com", param, "--quiet")
    assert result.exit_code == 0, result.output
    ours = mrcfile.read(tmp_path / "offset.rec").astype(np.float64)
    theirs = mrcfile.read(DATA / "offset.rec").astype(np.float64)
    rms = np.sqrt(np.mean((ours - theirs) ** 2)) / theirs.std()
    print(f"axis offset: RMS difference {rms:.4%} of the reference SD")
    assert rms <= TOLERANCE
