"""Make tests/data/axis_offset/: IMOD 4.8.2 tilt's WBP with a tilt axis offset (OFFSET's second value), which
tests/test_axis_offset.py compares tiltrec's ``--com`` run with.

Run from the project root (a second):

    python tests/data/make_axis_offset_reference.py [TILT]

TILT defaults to ../shared/peers/imod-4.8.2/tilt.  The views are ../shared's EMPIAR-10009 series; eight slices
keep the reference small.
"""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "axis_offset"
SHARED = HERE.parents[2] / "shared"
PARAM = ("InputProjections empiar.mrc\nOutputFile offset.rec\nTILTFILE empiar.tlt\nTHICKNESS 40\nRADIAL 0.35 0.035\n"
         "OFFSET 2 -2.5\nSLICE 50 57\nMODE 2\nAdjustOrigin\n")
INPUTS = {"empiar.mrc": "data/empiar10009/empiar_10009_128.mrc", "empiar.tlt": "data/empiar10009/empiar_10009_128.tlt"}


def main() -> None:
    tilt = Path(sys.argv[1]) if len(sys.argv) > 1 else SHARED / "peers" / "imod-4.8.2" / "tilt"
    OUT.mkdir(exist_ok=True)
    (OUT / "offset.param").write_text(PARAM)
    with tempfile.TemporaryDirectory() as tmp:
        for name, path in INPUTS.items():
            os.symlink(SHARED / path, Path(tmp) / name)
        with open(OUT / "offset.param") as param:
            subprocess.run([str(tilt), "-StandardInput"], stdin=param, cwd=tmp, check=True, stdout=subprocess.DEVNULL)
        shutil.copy(Path(tmp) / "offset.rec", OUT / "offset.rec")


if __name__ == "__main__":
    main()
