"""Re-create the local-alignment references in ``tests/data/local/`` with IMOD 4.8.2's ``tilt`` (the oracle).

Run from the repository root, with the project's virtual environment active and ``../shared`` beside it::

    python tests/data/make_local_references.py [--tilt PATH_TO_TILT]

(default ``../shared/peers/imod-4.8.2/tilt``).  For every case it writes into ``tests/data/local/``: the tilt
parameter file ``CASE.param``, the synthetic local alignment file ``CASE_local.xf`` (tiltalign's layout and
number formats, values from a fixed random seed), a Z-factor file ``CASE.zfac`` where the case uses one, and
the oracle's reconstruction ``CASE.rec`` (float32 MRC); also the tilt-angle files, the simulated stack
``sim_views.mrc`` and ``references.json`` (per case: input stack, the header mean and pixel size ``tilt``
read).  The input stacks are made in a temporary folder by ``tests/local_reference.input_stack`` from the
shared series (except the stored simulated one), and ``tilt`` runs there.  It also checks that ``tilt``
refuses SIRT with a local file.  Re-running gives the same files (only the dates in the MRC labels differ).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import mrcfile
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "src"))

from local_reference import input_stack  # noqa: E402

from tiltrec.simulate.phantom import cell_phantom  # noqa: E402
from tiltrec.simulate.project import project_volume  # noqa: E402

SHARED = ROOT.parent / "shared"
OUT = ROOT / "tests" / "data" / "local"
EMPIAR_TLT = SHARED / "data/empiar10009/empiar_10009_128.tlt"
JASON_TLT = SHARED / "data/jason64/jason64.tlt"
SIM_ANGLES = np.arange(-54.0, 54.0 + 1e-9, 3.0)

# Each case: input stack, tilt-angle file, parameter entries (besides the common ones), and the local file:
# grid (areas in X, Y, first centre X, Y, spacing X, Y, pixel size), which parts vary (shift, matrix = rotation,
# magnification and skew, dtilt, dalpha, zfac) and their size, and whether a ZFACTORFILE is given; or the name
# of another case whose local file it shares.
CASES = {
    "empiar_shift": dict(
        input="empiar_u8", tlt="empiar.tlt",
        params={"THICKNESS": "40", "SLICE": "60 67", "RADIAL": "0.35 0.035"},
        grid=(3, 3, 20, 20, 44, 44, 4.0), parts={"shift": 3.0}, seed=1),
    "empiar_full": dict(
        input="empiar_u8", tlt="empiar.tlt",
        params={"THICKNESS": "36", "SLICE": "0 5", "WIDTH": "120", "RADIAL": "0.35 0.035", "XAXISTILT": "4.0",
                "OFFSET": "2.0 1.5", "SHIFT": "2.5 -3"},
        grid=(4, 3, 16, 24, 32, 40, 4.0),
        parts={"shift": 2.5, "matrix": 1.0, "dtilt": 1.5, "dalpha": 1.5}, seed=2),
    "empiar_zfac": dict(
        input="empiar_u8", tlt="empiar.tlt",
        params={"THICKNESS": "40", "SLICE": "100 107", "RADIAL": "0.35 0.035", "XAXISTILT": "-3.0"},
        grid=(3, 3, 24, 24, 40, 40, 4.0), parts={"shift": 1.5, "dtilt": 1.0, "zfac": 0.05}, zfactor_file=True,
        seed=3),
    "empiar_zfac_unused": dict(  # the same local file without ZFACTORFILE: its Z factors must be ignored
        input="empiar_u8", tlt="empiar.tlt", local="empiar_zfac",
        params={"THICKNESS": "40", "SLICE": "100 107", "RADIAL": "0.35 0.035", "XAXISTILT": "-3.0"}),
    "empiar_bin2": dict(  # binned stack, local file in unbinned pixels: scaled by the pixel sizes (4 / 8)
        input="empiar_bin2", tlt="empiar.tlt",
        params={"IMAGEBINNED": "2", "THICKNESS": "40", "SLICE": "40 55", "RADIAL": "0.35 0.035", "SHIFT": "3 -2",
                "EXCLUDELIST2": "1-2,30"},
        grid=(3, 3, 22, 22, 42, 42, 4.0), parts={"shift": 3.0, "matrix": 1.0, "dtilt": 1.0}, seed=4),
    "empiar_localscale": dict(  # LOCALSCALE overrides the pixel sizes (2 / 8 would give 0.25); odd positions round
        input="empiar_bin2", tlt="empiar.tlt",
        params={"THICKNESS": "20", "SLICE": "28 33", "RADIAL": "0.35 0.035", "LOCALSCALE": "0.5"},
        grid=(3, 3, 23, 21, 43, 41, 2.0), parts={"shift": 3.0, "matrix": 1.0, "dalpha": 1.0}, seed=5),
    "empiar_subset": dict(  # views cut from the full image: area positions move by SUBSETSTART
        input="empiar_subset", tlt="empiar.tlt",
        params={"THICKNESS": "36", "SLICE": "50 55", "RADIAL": "0.35 0.035", "FULLIMAGE": "128 128",
                "SUBSETSTART": "10 8"},
        grid=(3, 3, 20, 20, 44, 44, 4.0), parts={"shift": 2.0, "matrix": 1.0, "dtilt": 1.0}, seed=6),
    "jason64_local": dict(
        input="jason64", tlt="jason64.tlt",
        params={"THICKNESS": "32", "SLICE": "28 35", "RADIAL": "0.35 0.05", "XAXISTILT": "-1.6"},
        grid=(2, 2, 16, 16, 32, 32, 32.0), parts={"shift": 1.5, "matrix": 1.0, "dtilt": 1.0, "dalpha": 1.0},
        seed=7),
    "sim_local": dict(  # simulated series; no low-pass; strong changes; the last rows of the views
        input="sim", tlt="sim.tlt",
        params={"THICKNESS": "28", "SLICE": "56 63", "XAXISTILT": "6.0", "OFFSET": "-1.0"},
        grid=(5, 4, 6, 8, 13, 16, 10.0),
        parts={"shift": 4.0, "matrix": 2.0, "dtilt": 2.0, "dalpha": 2.0, "zfac": 0.08}, zfactor_file=True, seed=8),
    "sim_identity": dict(  # no changes at all: the global geometry; at 0 degrees the last column meets x = nx
        input="sim", tlt="sim.tlt", params={"THICKNESS": "28", "SLICE": "0 7"}, grid=(3, 3, 8, 8, 24, 24, 10.0),
        parts={}, seed=9),
}
COMMON = ["SCALE 0.0 1.0", "PERPENDICULAR", "MODE 2", "AdjustOrigin"]


def smooth(rng, n_areas: int, nviews: int, size: float) -> np.ndarray:
    """Per-area values that vary smoothly over the views: random amplitude, phase and slope per area."""
    v = np.linspace(-1.0, 1.0, nviews)[None, :]
    amp = rng.uniform(-size, size, (n_areas, 1))
    phase = rng.uniform(0, 2 * np.pi, (n_areas, 1))
    slope = rng.uniform(-0.5, 0.5, (n_areas, 1))
    return amp * np.sin(2.5 * v + phase) + size * slope * v


def local_values(case: dict, nviews: int) -> dict:
    """The case's local alignment values: dtilt, dalpha, zfac (or None) and transforms ``(area, view, 6)``."""
    nx, ny = case["grid"][:2]
    n = nx * ny
    parts = case["parts"]
    rng = np.random.default_rng(case["seed"])
    zero = np.zeros((n, nviews))
    dtilt = smooth(rng, n, nviews, parts["dtilt"]) if "dtilt" in parts else zero
    dalpha = smooth(rng, n, nviews, parts["dalpha"]) if "dalpha" in parts else None
    zfac = None
    if "zfac" in parts:
        zfac = np.stack([smooth(rng, n, nviews, parts["zfac"]), smooth(rng, n, nviews, parts["zfac"])], axis=-1)
    xf = np.zeros((n, nviews, 6))
    xf[..., 0] = xf[..., 3] = 1.0
    if "matrix" in parts:  # rotation and skew in degrees, magnification in percent, all scaled by the size
        size = parts["matrix"]
        rot = np.radians(smooth(rng, n, nviews, 2.0 * size))
        mag = 1.0 + 0.01 * smooth(rng, n, nviews, 2.0 * size)
        skew = np.radians(smooth(rng, n, nviews, 1.5 * size))
        stretch = 1.0 + 0.01 * smooth(rng, n, nviews, 1.0 * size)
        c, s = np.cos(rot), np.sin(rot)
        # rotation x magnification x (skew and a stretch along X): a general 2x2 near the identity
        xf[..., 0] = mag * (c * stretch)
        xf[..., 1] = mag * (c * np.tan(skew) - s)
        xf[..., 2] = mag * (s * stretch)
        xf[..., 3] = mag * (s * np.tan(skew) + c)
    if "shift" in parts:
        xf[..., 4] = smooth(rng, n, nviews, parts["shift"])
        xf[..., 5] = smooth(rng, n, nviews, parts["shift"])
    return dict(dtilt=dtilt, dalpha=dalpha, zfac=zfac, xf=xf)


def write_local_file(path: Path, case: dict, values: dict) -> None:
    """A local alignment file in tiltalign's layout: header ``(7i6,f12.5,i4)``, angle lists ``(10f7.2)``, Z
    factors ``(6f12.6)``, transforms ``(4f12.7,2f12.3)``."""
    nx, ny, x0, y0, dx, dy, pixel = case["grid"]
    has_alpha, has_z = values["dalpha"] is not None, values["zfac"] is not None
    lines = ["%6d%6d%6d%6d%6d%6d%6d%12.5f%4d" % (nx, ny, x0, y0, dx, dy, int(has_alpha), pixel, int(has_z))]

    def rows(data, per_line, fmt):
        for i in range(0, len(data), per_line):
            lines.append("".join(fmt % v for v in data[i:i + per_line]))

    for k in range(nx * ny):
        rows(values["dtilt"][k], 10, "%7.2f")
        if has_alpha:
            rows(values["dalpha"][k], 10, "%7.2f")
        if has_z:
            rows(values["zfac"][k].ravel(), 6, "%12.6f")
        for row in values["xf"][k]:
            lines.append("%12.7f%12.7f%12.7f%12.7f%12.3f%12.3f" % tuple(row))
    path.write_text("\n".join(lines) + "\n")


def write_zfactor_file(path: Path, nviews: int, seed: int) -> None:
    """A global Z-factor file (tiltalign's ``(2f12.6)``); with local alignments IMOD only notes its presence."""
    values = np.random.default_rng(seed + 100).uniform(-0.05, 0.05, (nviews, 2))
    path.write_text("".join("%12.6f%12.6f\n" % tuple(v) for v in values))


def make_sim_stack(path: Path) -> None:
    """The simulated series: a cell phantom 64 x 64 x 24 projected at -54..54 degrees, with mild noise, stored as
    16-bit integers (small, and a mode IMOD reads directly)."""
    truth = cell_phantom(64, 64, 24, seed=11)
    views = project_volume(truth, SIM_ANGLES)
    views = views + np.random.default_rng(12).normal(0.0, 0.05 * views.std(), views.shape)
    scaled = np.round((views - views.mean()) / views.std() * 1000.0).astype(np.int16)
    with mrcfile.new(path, overwrite=True) as mrc:
        mrc.set_data(scaled)
        mrc.voxel_size = 10.0


def run_tilt(tilt: Path, folder: Path, param: str) -> subprocess.CompletedProcess:
    with open(folder / param) as stdin:
        return subprocess.run([str(tilt), "-StandardInput"], stdin=stdin, cwd=folder, capture_output=True,
                              text=True, timeout=300)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tilt", type=Path, default=SHARED / "peers/imod-4.8.2/tilt")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(EMPIAR_TLT, OUT / "empiar.tlt")
    shutil.copyfile(JASON_TLT, OUT / "jason64.tlt")
    (OUT / "sim.tlt").write_text("".join(f"{a:.2f}\n" for a in SIM_ANGLES))
    make_sim_stack(OUT / "sim_views.mrc")
    manifest = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        inputs = {}
        for case in CASES.values():
            name = case["input"]
            if name not in inputs:
                stack, pixel = input_stack(name, SHARED, OUT)
                with mrcfile.new(work / f"{name}.mrc", overwrite=True) as mrc:
                    mrc.set_data(stack if name != "sim" else stack.astype(np.int16))
                    mrc.voxel_size = pixel
                with mrcfile.open(work / f"{name}.mrc", permissive=True) as mrc:
                    inputs[name] = dict(data_mean=float(mrc.header.dmean), pixel_size=float(mrc.voxel_size.x),
                                        nviews=int(mrc.header.nz))
        for name, case in CASES.items():
            nviews = inputs[case["input"]]["nviews"]
            local_name = f"{case.get('local', name)}_local.xf"
            if "local" not in case:
                write_local_file(OUT / local_name, case, local_values(case, nviews))
            entries = [f"InputProjections {case['input']}.mrc", f"OutputFile {name}.rec", f"TILTFILE {case['tlt']}",
                       *COMMON, *(f"{k} {v}" for k, v in case["params"].items()), f"LOCALFILE {local_name}"]
            if case.get("zfactor_file"):
                write_zfactor_file(OUT / f"{name}.zfac", nviews, case["seed"])
                entries.append(f"ZFACTORFILE {name}.zfac")
            (OUT / f"{name}.param").write_text("\n".join(entries) + "\n")
            for f in (f"{name}.param", local_name, case["tlt"], f"{name}.zfac"):
                if (OUT / f).exists():
                    shutil.copyfile(OUT / f, work / f)
            result = run_tilt(args.tilt, work, f"{name}.param")
            if result.returncode != 0:
                sys.exit(f"{name}: tilt failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
            shutil.copy(work / f"{name}.rec", OUT / f"{name}.rec")
            manifest[name] = dict(input=case["input"], data_mean=inputs[case["input"]]["data_mean"],
                                  pixel_size=inputs[case["input"]]["pixel_size"])
            print(f"{name}: {(OUT / f'{name}.rec').stat().st_size} bytes")
        # IMOD refuses SIRT with local alignments: record that the oracle still does
        sirt = (work / "empiar_shift.param").read_text() + "SIRTIterations 2\n"
        (work / "sirt_local.param").write_text(sirt.replace("empiar_shift.rec", "sirt_local.rec"))
        result = run_tilt(args.tilt, work, "sirt_local.param")
        refused = result.returncode != 0 and "Cannot do SIRT with  local alignments" in result.stdout
        print(f"SIRT with LOCALFILE refused by tilt: {refused}")
        if not refused:
            sys.exit("tilt did not refuse SIRT with a local file")
    (OUT / "references.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
