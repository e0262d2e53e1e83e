"""Make imod_sirt_thin/: IMOD 4.8.2 tilt's internal SIRT (10 iterations) of the EMPIAR-10009 series into 1 and 2
slices of thickness, the smallest volumes its SIRT makes, which tests/test_imod_com.py compares --com runs with.

Run from the project root (a few seconds):

    python tests/data/make_imod_sirt_thin.py [TILT]

TILT defaults to ../shared/peers/imod-4.8.2/tilt (the unmodified IMOD 4.8.2 program).  The parameter files are
../shared/reference/imod-4.8.2/empiar_sirt10.param with another THICKNESS; the input is the series' mode-0 bytes
read as unsigned, as that reference's README says IMOD reads them.
"""

import subprocess
import sys
import tempfile
from pathlib import Path

import mrcfile
import numpy as np

HERE = Path(__file__).resolve().parent
OUT = HERE / "imod_sirt_thin"
SHARED = HERE.parents[2] / "shared"
TILT = SHARED / "peers" / "imod-4.8.2" / "tilt"
THICKNESSES = (1, 2)


def param_text(thickness: int, stack: str, tlt: str, output: str) -> str:
    """The reference's parameter file with THICKNESS ``thickness`` and the given files."""
    text = (SHARED / "reference" / "imod-4.8.2" / "empiar_sirt10.param").read_text()
    text = text.replace("THICKNESS 48", f"THICKNESS {thickness}").replace("empiar_u8.mrc", stack)
    return text.replace("empiar.tlt", tlt).replace("empiar_sirt10.rec", output)


def main(tilt: Path) -> None:
    OUT.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        with mrcfile.open(SHARED / "data" / "empiar10009" / "empiar_10009_128.mrc", permissive=True) as mrc:
            views = mrc.data.view(np.uint8).astype(np.float32)
        with mrcfile.new(folder / "empiar_u8.mrc") as mrc:
            mrc.set_data(views)
        tlt = SHARED / "data" / "empiar10009" / "empiar_10009_128.tlt"
        for thickness in THICKNESSES:
            name = f"empiar_sirt10_t{thickness}"
            param = folder / f"{name}.param"
            param.write_text(param_text(thickness, str(folder / "empiar_u8.mrc"), str(tlt), str(OUT / f"{name}.rec")))
            with open(param) as stdin:
                subprocess.run([str(tilt), "-StandardInput"], stdin=stdin, check=True, capture_output=True)
            print(f"wrote {OUT / name}.rec")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else TILT)
