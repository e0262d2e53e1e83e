"""Regenerate the figures of docs/algorithms/ from the bundled EMPIAR-10009 tilt series.

Run from the repository root:

    .venv/bin/python docs/make_figures.py            # or `python docs/make_figures.py` with .venv active

Every reconstruction is made by the real command line (`tiltrec-mpi`, the one beside this Python) in a
temporary folder; only the PNG files are kept, in docs/figures/:

    <alg>.png        central XY slice (top), XZ slice (below, high Z up) and YZ slice (right) of one algorithm
    sart_iter10.png  the same for SART with 10 iterations at relaxation 0.5 (over-fitted)
    admm.png         the same for ADMM with total variation, its defaults (tiltrecz-mpi)
    compare_xz.png   the five central XZ slices one above the other
    wbp_vs_imod.png  central XZ slice of tiltrec's WBP above IMOD 4.8.2 tilt's on the same data

Data: ../shared/data/empiar10009/empiar_10009_128.mrc + .tlt (51 views of 128 x 128), thickness 48, and
../shared/reference/imod-4.8.2/empiar_wbp.rec; use --shared DIR if the shared folder lives elsewhere.
The wall time of each command (start-up included) is printed; it varies with the machine.
"""

from __future__ import annotations

import argparse
import itertools
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from tiltrec.formats import read_volume
from tiltrec.preview import orthoslices, write_image, write_preview
from tiltrec.quality import pearson

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ROOT / "docs" / "figures"
THICKNESS = 48
# algorithm -> the options of its run (defaults otherwise); WBP low-passed like the IMOD reference's RADIAL.
RUNS = {
    "bpt": ["--alg", "bpt"],
    "fbp": ["--alg", "fbp"],
    "wbp": ["--alg", "wbp", "--radial", "0.35,0.035"],
    "sirt": ["--alg", "sirt"],
    "sart": ["--alg", "sart"],
    "sart_iter10": ["--alg", "sart", "--iter", "10", "--relax", "0.5"],
    "admm": ["--alg", "admm"],
}
UNIFIED = {"admm"}  # made with tiltrecz-mpi (ADMM needs the whole volume)
COMPARED = ("bpt", "fbp", "wbp", "sirt", "sart")  # the panels of compare_xz.png
TITLES = {
    "bpt": "BPT",
    "fbp": "FBP (ramp)",
    "wbp": "WBP (radial 0.35, 0.035)",
    "sirt": "SIRT (10 x 1.0)",
    "sart": "SART (2 x 0.25)",
    "sart_iter10": "SART (10 x 0.5)",
    "admm": "ADMM-TV (defaults)",
}
MAX_BYTES = 100_000
_panel_numbers = itertools.count()


def tiltrec_mpi(name: str = "tiltrec-mpi") -> str:
    """The tiltrec-mpi (or another) console script installed beside this interpreter."""
    exe = Path(sys.executable).parent / name
    if not exe.exists():
        sys.exit(f"{exe} not found: run bin/demo once (it installs tiltrec into .venv), then use .venv/bin/python")
    return str(exe)


def reconstruct(name: str, stack: Path, tlt: Path, out: Path) -> float:
    """Run tiltrec-mpi (tiltrecz-mpi for ADMM) for one algorithm; returns the wall time of the whole process in
    seconds."""
    program = tiltrec_mpi("tiltrecz-mpi" if name in UNIFIED else "tiltrec-mpi")
    cmd = [program, *RUNS[name], "--thickness", str(THICKNESS), "--quiet", str(stack), str(tlt), str(out)]
    print("$ " + " ".join(Path(c).name if i == 0 else c for i, c in enumerate(cmd)), flush=True)
    start = time.perf_counter()
    subprocess.run(cmd, check=True)
    return time.perf_counter() - start


def labelled(image: Image.Image, text: str) -> Image.Image:
    """``image`` (greyscale) below a black strip with ``text`` in white."""
    font = ImageFont.load_default()
    height = font.getbbox(text)[3] + 6
    out = Image.new("L", (image.width, image.height + height), 0)
    ImageDraw.Draw(out).text((3, 3), text, fill=255, font=font)
    out.paste(image.convert("L"), (0, height))
    return out


def xz_panel(volume_yzx: np.ndarray, text: str, folder: Path) -> Image.Image:
    """The central XZ slice (high Z at the top), contrast as the previews, with a label."""
    xz = orthoslices(volume_yzx)[1][::-1]
    path = folder / f"xz-{next(_panel_numbers)}.png"
    write_image(xz, path, overwrite=True)
    with Image.open(path) as im:
        return labelled(im.copy(), text)


def stack_vertically(panels: list[Image.Image], path: Path, gap: int = 4) -> None:
    """Write ``panels`` one above the other, ``gap`` black pixels apart, as one PNG."""
    width = max(p.width for p in panels)
    canvas = Image.new("L", (width, sum(p.height for p in panels) + gap * (len(panels) - 1)), 0)
    y = 0
    for p in panels:
        canvas.paste(p, (0, y))
        y += p.height + gap
    canvas.save(path, format="PNG", optimize=True)


def shrink(path: Path) -> int:
    """Re-save a PNG with zlib's best compression; returns its size in bytes."""
    with Image.open(path) as im:
        im.load()
        im.save(path, format="PNG", optimize=True)
    return path.stat().st_size


def surface_contrast(volume_yzx: np.ndarray) -> float:
    """(mean of the top and bottom 2 Z rows - mean of the middle 8) over the central half in X, in volume stds."""
    nz, nx = volume_yzx.shape[1:]
    profile = volume_yzx[:, :, nx // 4:3 * nx // 4].mean(axis=(0, 2), dtype=np.float64)
    middle = profile[nz // 2 - 4:nz // 2 + 4].mean()
    return float((profile[[0, 1, nz - 2, nz - 1]].mean() - middle) / volume_yzx.std(dtype=np.float64))


def report(volumes: dict, imod: np.ndarray, seconds: dict) -> None:
    """Print the figures the algorithm pages quote."""
    print("\nwall time per command (start-up included; depends on the machine and its load):")
    for name, s in seconds.items():
        print(f"  {name:<11}{s:6.2f} s")
    print(f"correlation of tiltrec's WBP with IMOD's empiar_wbp.rec: {pearson(volumes['wbp'], imod):.4f}")
    print(f"FBP vs WBP: correlation {pearson(volumes['fbp'], volumes['wbp']):.3f}, "
          f"std(WBP)/std(FBP) {volumes['wbp'].std() / volumes['fbp'].std():.1f}")
    for name in ("sirt", "sart", "sart_iter10"):
        print(f"{name}: top/bottom surfaces minus middle (central half in X) = "
              f"{surface_contrast(volumes[name]):.2f} standard deviations")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared",
                        help="the shared folder with data/ and reference/ [../shared]")
    parser.add_argument("--out", type=Path, default=FIGURES, help="where the PNG files go [docs/figures]")
    opts = parser.parse_args(argv)
    data = opts.shared / "data" / "empiar10009"
    stack, tlt = data / "empiar_10009_128.mrc", data / "empiar_10009_128.tlt"
    imod_wbp = opts.shared / "reference" / "imod-4.8.2" / "empiar_wbp.rec"
    for path in (stack, tlt, imod_wbp):
        if not path.exists():
            sys.exit(f"{path} not found (give --shared DIR)")
    opts.out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="tiltrec-figures-") as tmp:
        tmp = Path(tmp)
        volumes, seconds = {}, {}
        for name in RUNS:
            rec = tmp / f"{name}.mrc"
            seconds[name] = reconstruct(name, stack, tlt, rec)
            volumes[name], _ = read_volume(rec)
            png = opts.out / f"{name}.png"
            write_preview(volumes[name], png, title=f"{TITLES[name]}   EMPIAR-10009, 51 views", overwrite=True)
            written.append(png)
        panels = [xz_panel(volumes[name], TITLES[name], tmp) for name in COMPARED]
        stack_vertically(panels, opts.out / "compare_xz.png")
        written.append(opts.out / "compare_xz.png")
        imod, _ = read_volume(imod_wbp)
        stack_vertically([xz_panel(volumes["wbp"], "tiltrec-mpi WBP, radial 0.35 0.035", tmp),
                          xz_panel(imod, "IMOD 4.8.2 tilt, RADIAL 0.35 0.035", tmp)], opts.out / "wbp_vs_imod.png")
        written.append(opts.out / "wbp_vs_imod.png")
        report(volumes, imod, seconds)
    too_big = []
    for path in written:
        size = shrink(path)
        print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: {size / 1000:.0f} kB")
        if size > MAX_BYTES:
            too_big.append(path.name)
    if too_big:
        print(f"larger than {MAX_BYTES // 1000} kB: {', '.join(too_big)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
