"""Make tests/data/reprojection/: IMOD 4.8.2 tilt's reprojections of tomograms (RecFileToReproject), which
tests/test_reprojection.py compares tiltrec's with.

Run from the project root (a few seconds):

    python tests/data/make_reprojection_references.py [TILT]

TILT defaults to ../shared/peers/imod-4.8.2/tilt (the unmodified IMOD 4.8.2 program).  Each case is a parameter
file (cases.json keeps its text and where each file it names comes from: ``shared:`` a path under ../shared,
``data:`` a file of this folder) and IMOD's output NAME.mrc.  Tomograms that are not among ../shared's references
are made here by the same tilt and kept (small: a few slices); so are a varying X-axis tilt file and a simulated
series.  Together the cases take every path of tilt's reprojection: rays stepped in Z and in X, with and without
an X-axis tilt (and a varying one, interpolated between views for angles between them), column, row and slice
ranges, a first slice other than 0, angle offset, shifts, SCALE, LOG, binning, excluded views, explicit angles
beyond the series' range and integer output.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import mrcfile
import numpy as np

HERE = Path(__file__).resolve().parent
OUT = HERE / "reprojection"
SHARED = HERE.parents[2] / "shared"
TILT = SHARED / "peers" / "imod-4.8.2" / "tilt"

JASON = {"jason64.ali": "shared:data/jason64/jason64.ali", "jason64.tlt": "shared:data/jason64/jason64.tlt",
         "jason64_wbp.rec": "shared:reference/imod-4.8.2/jason64_wbp.rec"}
EMPIAR = {"empiar.mrc": "shared:data/empiar10009/empiar_10009_128.mrc",
          "empiar.tlt": "shared:data/empiar10009/empiar_10009_128.tlt"}
JASON_BASE = ("InputProjections jason64.ali\nRecFileToReproject jason64_wbp.rec\nTILTFILE jason64.tlt\n"
              "THICKNESS 32\nSCALE 0.0 1.0\nPERPENDICULAR\nMODE 2\nFULLIMAGE 64 64\nSUBSETSTART 0 0\nAdjustOrigin\n"
              "RADIAL 0.35 0.05\nXAXISTILT -1.6\n")
EMPIAR_WBP = "InputProjections empiar.mrc\nTILTFILE empiar.tlt\nRADIAL 0.35 0.035\nMODE 2\nAdjustOrigin\n"

# tomograms made here first: name -> (inputs, parameter text)
MADE = {
    "empiar_log.rec": (EMPIAR, EMPIAR_WBP + "THICKNESS 36\nLOG 40\nSLICE 60 67\nSCALE 5 0.2\n"),
    "sim_bin2.rec": ({"sim.mrc": "data:sim.mrc", "sim.tlt": "data:sim.tlt"},
                     "InputProjections sim.mrc\nTILTFILE sim.tlt\nIMAGEBINNED 2\nTHICKNESS 28\nWIDTH 72\n"
                     "SLICE 10 29\nSHIFT 3 2\nOFFSET -2 1.5\nMODE 2\nAdjustOrigin\n"),
}
CASES = {  # name -> (inputs, parameter text)
    "jason_views": (JASON, JASON_BASE + "ViewsToReproject 1,2,5,30,45,60,85,90\nZMinAndMaxReproj 20 27\n"),
    # tilt keeps a view list's order and repeats, and takes a backward range backwards
    "jason_views_order": (JASON, JASON_BASE + "ViewsToReproject 60,60,2,7-4,33\nZMinAndMaxReproj 40 43\n"),
    "jason_xtilt_angles": ({**JASON, "jason64.xtilt": "data:jason64.xtilt"},
                           JASON_BASE + "XTILTFILE jason64.xtilt\nREPROJECT -70.5,-61,-3.3\nREPROJECT 0 17.25 61.5 75\n"
                                        "ZMinAndMaxReproj 30 35\n"),
    "empiar_geomA_narrow": ({**EMPIAR, "geomA.rec": "shared:reference/imod-4.8.2/empiar_wbp_geomA.rec"},
                            "InputProjections empiar.mrc\nRecFileToReproject geomA.rec\nTILTFILE empiar.tlt\n"
                            "THICKNESS 40\nSCALE 0.0 1.0\nXAXISTILT 5.0\nOFFSET 3.0\nSHIFT 2.5 -4.0\n"
                            "XMinAndMaxReproj 40 79\nZMinAndMaxReproj 60 65\n"),
    "empiar_flat_ranges": ({**EMPIAR, "wbp.rec": "shared:reference/imod-4.8.2/empiar_wbp.rec"},
                           "InputProjections empiar.mrc\nRecFileToReproject wbp.rec\nTILTFILE empiar.tlt\n"
                           "THICKNESS 48\nXMinAndMaxReproj 10 45\nYMinAndMaxReproj 4 43\nZMinAndMaxReproj 0 5\n"
                           "EXCLUDELIST2 1-3,40\n"),
    "empiar_log_mode1": ({**EMPIAR, "empiar_log.rec": "data:empiar_log.rec"},
                         EMPIAR_WBP.replace("MODE 2", "MODE 1") + "RecFileToReproject empiar_log.rec\n"
                                                                  "THICKNESS 36\nLOG 40\nSLICE 60 67\nSCALE 5 0.2\n"),
    "sim_binned": ({"sim.mrc": "data:sim.mrc", "sim.tlt": "data:sim.tlt", "sim_bin2.rec": "data:sim_bin2.rec"},
                   MADE["sim_bin2.rec"][1] + "RecFileToReproject sim_bin2.rec\n"),
}


def materialize(folder: Path, inputs: dict, data: Path = OUT, shared: Path = SHARED) -> None:
    """Link the files a case names into ``folder``."""
    for name, source in inputs.items():
        kind, _, path = source.partition(":")
        target = (shared if kind == "shared" else data) / path
        os.symlink(target.resolve(), folder / name)


def _tilt(tilt: Path, folder: Path, text: str, output: str) -> None:
    (folder / "job.param").write_text(text + f"OutputFile {output}\n")
    with open(folder / "job.param") as param:
        subprocess.run([str(tilt), "-StandardInput"], stdin=param, cwd=folder, check=True,
                       stdout=subprocess.DEVNULL)


def _simulated(folder: Path) -> None:
    """A 64 x 48 series of 21 views (a simulated specimen), binned 2 by IMAGEBINNED in its case."""
    subprocess.run([sys.executable, "-m", "tiltrec", "simulate", "--out", str(folder), "--name", "sim", "--width",
                    "64", "--slices", "48", "--thickness", "24", "--step", "6", "--noise", "none", "--overwrite"],
                   check=True, stdout=subprocess.DEVNULL)
    for suffix in ("_truth.mrc", "_order.txt"):
        (folder / f"sim{suffix}").unlink()


def main() -> None:
    tilt = Path(sys.argv[1]) if len(sys.argv) > 1 else TILT
    OUT.mkdir(exist_ok=True)
    _simulated(OUT)
    (OUT / "jason64.xtilt").write_text("".join(f"{1.5 * np.sin(v / 9):.3f}\n" for v in range(90)))
    with tempfile.TemporaryDirectory() as tmp:
        run_cases(Path(tmp), MADE, CASES, OUT, lambda folder, inputs: materialize(folder, inputs),
                  lambda folder, text, output: _tilt(tilt, folder, text, output))


def run_cases(tmp: Path, made: dict, cases: dict, out: Path, link, run_tilt) -> None:
    """Make the tomograms ``made`` and the reprojections ``cases`` (name -> (inputs, parameter text)) into ``out``,
    each in its own folder of ``tmp`` holding the files ``link(folder, inputs)`` puts there, by
    ``run_tilt(folder, text, output)``; then write cases.json."""
    for name, (inputs, text) in made.items():
        work = tmp / name
        work.mkdir()
        link(work, inputs)
        run_tilt(work, text, name)
        shutil.copy(work / name, out / name)
    for name, (inputs, text) in cases.items():
        work = tmp / name
        work.mkdir()
        link(work, inputs)
        run_tilt(work, text, f"{name}.mrc")
        shutil.copy(work / f"{name}.mrc", out / f"{name}.mrc")
        with mrcfile.open(out / f"{name}.mrc") as mrc:
            print(f"{name}: {mrc.data.shape[::-1]} (x y z), mean {float(mrc.data.mean()):.4g}")
    (out / "cases.json").write_text(json.dumps({name: {"inputs": inputs, "param": text}
                                                for name, (inputs, text) in cases.items()}, indent=1) + "\n")


if __name__ == "__main__":
    main()
