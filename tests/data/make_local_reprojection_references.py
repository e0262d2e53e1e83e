"""Make tests/data/local_reprojection/: IMOD 4.8.2 tilt's reprojections of tomograms with local alignments
(RecFileToReproject with LOCALFILE), which tests/test_local_reprojection.py compares tiltrec's with.

Run from the project root, with the project's virtual environment active (a few seconds):

    python tests/data/make_local_reprojection_references.py [TILT]

TILT defaults to ../shared/peers/imod-4.8.2/tilt (the unmodified IMOD 4.8.2 program).  The tomograms, local files,
Z-factor files and tilt angles are those of tests/data/local/ (tests/data/make_local_references.py made them with
the same tilt), the input stacks are made again by tests/local_reference.input_stack (only their headers are read:
size, pixel size); one thin tomogram is made here by tilt and kept.  Each case is a parameter file: the entries
that built its tomogram, RecFileToReproject and what to reproject; cases.json keeps its text and where each file
it names comes from (``local:`` tests/data/local/, ``data:`` this folder, ``stack:`` an input stack made by
input_stack), and IMOD's output is NAME.mrc.  Together the cases take: an X-axis tilt, angle offset, axis offset
and shifts; Z factors; a binned stack with excluded views (the local file scaled by the pixel sizes) and LOCALSCALE;
FULLIMAGE/SUBSETSTART; strong local changes at the last rows of the views; explicit angles between the views and
beyond them, up to 89 degrees on a thin wide slab (where tilt's global reprojection steps its rays in X); column,
row and slice ranges, one of them far enough from the left edge that tilt loads a window of columns.

It also records what tilt does with more REPROJECT angles than the series has views: it writes infinities for the
first angles (it keeps the angles' exposure weights in a scratch array whose later entries overwrite them), which is
why tiltrec does not copy that case.
"""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import mrcfile
import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
LOCAL = HERE / "local"
OUT = HERE / "local_reprojection"
SHARED = ROOT.parent / "shared"
TILT = SHARED / "peers" / "imod-4.8.2" / "tilt"
sys.path.insert(0, str(ROOT / "tests"))

from local_reference import input_stack  # noqa: E402
from make_reprojection_references import run_cases  # noqa: E402  (beside this script)


def _base(name: str) -> str:
    """The entries that built tests/data/local/NAME.rec, without its OutputFile."""
    lines = (LOCAL / f"{name}.param").read_text().splitlines()
    return "".join(f"{line}\n" for line in lines if not line.startswith("OutputFile"))


def _inputs(name: str, stack: str, tlt: str, local: str, extra=()) -> dict:
    files = {f"{stack}.mrc": f"stack:{stack}", tlt: f"local:{tlt}", f"{local}_local.xf": f"local:{local}_local.xf",
             f"{name}.rec": f"local:{name}.rec"}
    files.update({f: f"local:{f}" for f in extra})
    return files


def _every(step: int, count: int) -> str:
    return ",".join(str(v) for v in range(1, count + 1, step))


EMPIAR_FULL = _inputs("empiar_full", "empiar_u8", "empiar.tlt", "empiar_full")
THIN_PARAM = ("InputProjections empiar_u8.mrc\nTILTFILE empiar.tlt\nSCALE 0.0 1.0\nPERPENDICULAR\nMODE 2\n"
              "AdjustOrigin\nTHICKNESS 8\nWIDTH 128\nSLICE 10 13\nRADIAL 0.35 0.035\nOFFSET 1.0\nSHIFT 0 0.5\n"
              "LOCALFILE empiar_full_local.xf\n")
# tomograms made here first: name -> (inputs, parameter text)
MADE = {"empiar_thin.rec": ({"empiar_u8.mrc": "stack:empiar_u8", "empiar.tlt": "local:empiar.tlt",
                             "empiar_full_local.xf": "local:empiar_full_local.xf"}, THIN_PARAM)}
CASES = {  # name -> (inputs, parameter text)
    "empiar_full": (EMPIAR_FULL, _base("empiar_full") + "RecFileToReproject empiar_full.rec\n"
                                                        f"ViewsToReproject {_every(2, 51)}\nZMinAndMaxReproj 0 3\n"),
    "empiar_full_xwindow": (EMPIAR_FULL, _base("empiar_full") + "RecFileToReproject empiar_full.rec\n"
                                                                "ViewsToReproject 1,10,20,26,35,51\n"
                                                                "XMinAndMaxReproj 104 119\nYMinAndMaxReproj 2 33\n"),
    "empiar_full_ranges": (EMPIAR_FULL, _base("empiar_full") + "RecFileToReproject empiar_full.rec\n"
                                                               "REPROJECT -52.5 -30.1 -2.25 0 14.8 47\n"
                                                               "XMinAndMaxReproj 20 79\nZMinAndMaxReproj 2 4\n"),
    "empiar_zfac_angles": (_inputs("empiar_zfac", "empiar_u8", "empiar.tlt", "empiar_zfac", ["empiar_zfac.zfac"]),
                           _base("empiar_zfac") + "RecFileToReproject empiar_zfac.rec\n"
                                                  "REPROJECT -66.5,-45.25,-0.7,3.3\nREPROJECT 17.9 62.5 70\n"
                                                  "ZMinAndMaxReproj 2 5\n"),
    "empiar_bin2": (_inputs("empiar_bin2", "empiar_bin2", "empiar.tlt", "empiar_bin2"),
                    _base("empiar_bin2") + "RecFileToReproject empiar_bin2.rec\nZMinAndMaxReproj 5 7\n"),
    "empiar_localscale": (_inputs("empiar_localscale", "empiar_bin2", "empiar.tlt", "empiar_localscale"),
                          _base("empiar_localscale") + "RecFileToReproject empiar_localscale.rec\n"
                                                       "REPROJECT -61 -44.5 -20 -3.1 8 26.6 41 59.59\n"),
    "empiar_subset": (_inputs("empiar_subset", "empiar_subset", "empiar.tlt", "empiar_subset"),
                      _base("empiar_subset") + "RecFileToReproject empiar_subset.rec\n"
                                               "ViewsToReproject 2,9,17,26,33,42,50\n"),
    "jason64_local": (_inputs("jason64_local", "jason64", "jason64.tlt", "jason64_local"),
                      _base("jason64_local") + "RecFileToReproject jason64_local.rec\n"
                                               f"ViewsToReproject {_every(11, 90)},90\nZMinAndMaxReproj 2 5\n"),
    "sim_local": (_inputs("sim_local", "sim", "sim.tlt", "sim_local", ["sim_local.zfac"]),
                  _base("sim_local") + f"RecFileToReproject sim_local.rec\nViewsToReproject {_every(3, 37)}\n"),
    "empiar_thin_high": ({**MADE["empiar_thin.rec"][0], "empiar_thin.rec": "data:empiar_thin.rec"},
                         THIN_PARAM + "RecFileToReproject empiar_thin.rec\n"
                                      "REPROJECT -89 -80.5 -72 66 75.5 84 88.5\n"),
}


def materialize(folder: Path, inputs: dict, data: Path = OUT, local: Path = LOCAL, shared: Path = SHARED) -> None:
    """Put the files a case names into ``folder``: links, and the input stacks written there."""
    for name, source in inputs.items():
        kind, _, path = source.partition(":")
        if kind == "stack":
            stack, pixel = input_stack(path, shared, local)
            with mrcfile.new(folder / name, overwrite=True) as mrc:
                mrc.set_data(stack.astype(np.int16) if path == "sim" else stack)
                mrc.voxel_size = pixel
        else:
            os.symlink(((local if kind == "local" else data) / path).resolve(), folder / name)


def _tilt(tilt: Path, folder: Path, text: str, output: str) -> str:
    (folder / "job.param").write_text(text + f"OutputFile {output}\n")
    with open(folder / "job.param") as param:
        done = subprocess.run([str(tilt), "-StandardInput"], stdin=param, cwd=folder, capture_output=True,
                              text=True, timeout=600)
    if done.returncode != 0:
        sys.exit(f"tilt failed on {output}:\n{done.stdout[-2000:]}")
    return done.stdout


def main() -> None:
    tilt = Path(sys.argv[1]) if len(sys.argv) > 1 else TILT
    OUT.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        run_cases(Path(tmp), MADE, CASES, OUT, lambda folder, inputs: materialize(folder, inputs),
                  lambda folder, text, output: _tilt(tilt, folder, text, output))
        # more angles than views: tilt's output is not finite for the first (angles - views) of them
        work = Path(tmp) / "many"
        work.mkdir()
        materialize(work, EMPIAR_FULL)
        many = ",".join(str(a) for a in range(-59, 60, 2))  # 60 angles, 51 views
        _tilt(tilt, work, _base("empiar_full") + f"RecFileToReproject empiar_full.rec\nREPROJECT {many}\n",
              "many.mrc")
        finite = np.isfinite(mrcfile.read(work / "many.mrc")).all(axis=(1, 2))
        print(f"60 angles of a 51-view series: angles whose reprojection is not finite: {np.flatnonzero(~finite)}")


if __name__ == "__main__":
    main()
