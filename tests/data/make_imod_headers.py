"""Make imod_headers.json: the MRC header fields IMOD 4.8.2's tilt writes, which tests/test_imod_header.py compares
tiltrec's output with.

Run from the project root (it takes a few seconds):

    python tests/data/make_imod_headers.py [TILT]

TILT defaults to ../shared/peers/imod-4.8.2/tilt (the unmodified IMOD 4.8.2 program).  The stacks are made by
``write_stacks``, which the test uses too: header facts do not depend on the values beyond the clipping of the
integer modes, whose scales clip both ends whatever the random views are.
"""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import mrcfile
import numpy as np

HERE = Path(__file__).resolve().parent
OUT = HERE / "imod_headers.json"
TILT = HERE.parents[2] / "shared" / "peers" / "imod-4.8.2" / "tilt"
IMOD_STAMP = 1146047817
NVIEWS, NY, NX, PIXEL = 11, 48, 64, 2.0

STACKS = {  # name: labels, header origin, IMOD flags (None: no IMOD stamp)
    "st.mrc": {"labels": ["first label", "second label"], "origin": [0.0, 0.0, 0.0], "imod_flags": None},
    "st0.mrc": {"labels": [], "origin": [0.0, 0.0, 0.0], "imod_flags": None},
    "st9.mrc": {"labels": [f"label {i}" for i in range(1, 10)], "origin": [0.0, 0.0, 0.0], "imod_flags": None},
    "st10.mrc": {"labels": [f"label {i}" for i in range(1, 11)], "origin": [0.0, 0.0, 0.0], "imod_flags": None},
    # IMOD 4.7+'s flag 4: the header holds the origin negated
    "st_inv.mrc": {"labels": ["inverted origin"], "origin": [10.0, -6.0, 3.0], "imod_flags": 5},
}
COMMON = "TILTFILE st.tlt\nAdjustOrigin\nTHICKNESS 20\n"
CASES = {  # name: input stack, further parameter lines (MODE 2 and SCALE 0 1 unless given)
    "float": ("st.mrc", ""),
    "no_labels": ("st0.mrc", ""),
    "nine_labels": ("st9.mrc", ""),
    "ten_labels": ("st10.mrc", ""),
    "title": ("st.mrc", "TITLE my title\n"),
    "parallel": ("st.mrc", "PARALLEL\n"),
    "mode1": ("st.mrc", "MODE 1\nSCALE 0 1000\n"),
    "mode0": ("st.mrc", "MODE 0\nSCALE 400 0.3\n"),
    "inverted_origin": ("st_inv.mrc", "SHIFT 2.5 -4\n"),
}


def write_stacks(folder: Path) -> None:
    """The stacks of STACKS and st.tlt: 11 views of 64 x 48 pixels of 2 A (uniform 0..100), angles -50..50."""
    views = np.random.default_rng(0).random((NVIEWS, NY, NX), dtype=np.float32) * 100
    for name, spec in STACKS.items():
        with mrcfile.new(folder / name, overwrite=True) as mrc:
            mrc.set_data(views)
            mrc.voxel_size = PIXEL
            mrc.header.origin = tuple(spec["origin"])
            mrc.header.label = b""
            for index, text in enumerate(spec["labels"]):
                mrc.header.label[index] = text.encode().ljust(80)
            mrc.header.nlabl = len(spec["labels"])
            if spec["imod_flags"] is not None:
                extra = bytearray(mrc.header.extra2.tobytes())
                extra[40:48] = np.array([IMOD_STAMP, spec["imod_flags"]], "<i4").tobytes()
                mrc.header.extra2 = np.void(bytes(extra))
    (folder / "st.tlt").write_text("".join(f"{a:g}\n" for a in np.linspace(-50, 50, NVIEWS)))


def param(name: str) -> str:
    stack, extra = CASES[name]
    lines = f"InputProjections {stack}\nOutputFile {name}.rec\n{COMMON}"
    lines += "" if "MODE " in extra else "MODE 2\n"
    lines += "" if "SCALE " in extra else "SCALE 0 1\n"
    return lines + extra


def header_facts(path: Path) -> dict:
    """The header fields the test compares; labels without their date (columns 57 on)."""
    with mrcfile.open(path, header_only=True, permissive=True) as mrc:
        h = mrc.header
        extra = h.extra2.tobytes()
        order = h.mode.dtype.str[0]
        stamp, flags = (int(v) for v in np.frombuffer(extra, order + "i4", 2, 40))
        return {
            "size": [int(h.nx), int(h.ny), int(h.nz)], "mode": int(h.mode), "ispg": int(h.ispg),
            "nversion": int(h.nversion), "machst": [int(v) for v in h.machst], "nsymbt": int(h.nsymbt),
            "exttyp": bytes(h.exttyp).decode(), "mapcrs": [int(h.mapc), int(h.mapr), int(h.maps)],
            "cellb": [float(v) for v in h.cellb.tolist()], "imod_stamp": stamp, "imod_flags": flags,
            "tilt_angles": [float(v) for v in np.frombuffer(extra, order + "f4", 6, 60)],
            "origin": [float(v) for v in h.origin.tolist()],
            "dmin": float(h.dmin), "dmax": float(h.dmax), "rms": float(h.rms),
            "labels": [bytes(h.label[i])[:56].decode().rstrip() for i in range(int(h.nlabl))],
            "label_dates": [bytes(h.label[i])[56:75].decode() for i in range(int(h.nlabl))],
        }


def stored_minus_value(folder: Path, run) -> float:
    """Mode 0: the median over unclipped voxels of the stored byte (read as signed) less the value that MODE 2 with
    the same SCALE gives: -128 when bytes are stored signed, 0 when unsigned."""
    (folder / "mode0_float.param").write_text(param("mode0").replace("MODE 0", "MODE 2").replace(
        "mode0.rec", "mode0_float.rec"))
    run(folder / "mode0_float.param")
    values = mrcfile.read(folder / "mode0_float.rec").astype(np.float64)
    stored = np.fromfile(folder / "mode0.rec", np.int8, offset=1024).reshape(values.shape)
    inside = (values > 1) & (values < 254)
    return float(np.round(np.median(stored[inside] - values[inside]), 1))


def main(tilt: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key != "WRITE_MODE0_SIGNED"}  # IMOD's default

    def run(path: Path) -> None:
        with open(path) as stream:
            subprocess.run([str(tilt), "-StandardInput"], stdin=stream, cwd=path.parent, env=env, check=True,
                           capture_output=True)

    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        write_stacks(folder)
        cases = {}
        for case in CASES:
            (folder / f"{case}.param").write_text(param(case))
            run(folder / f"{case}.param")
            cases[case] = {"param": param(case), "header": header_facts(folder / f"{case}.rec")}
        cases["mode0"]["stored_minus_value"] = stored_minus_value(folder, run)
    made = ("Headers written by IMOD 4.8.2's tilt (tilt -StandardInput < param, WRITE_MODE0_SIGNED unset) for the "
            "stacks that make_imod_headers.write_stacks makes; labels are cut before their date (column 57), "
            "label_dates holds the rest. Remake: python tests/data/make_imod_headers.py")
    OUT.write_text(json.dumps({"made_with": made, "cases": cases}, indent=1) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else TILT)
