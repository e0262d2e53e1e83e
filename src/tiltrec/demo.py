"""The bundled demo: simulate a cell-like specimen, reconstruct it with WBP and SIRT, compare with the truth.

Run by ``bin/demo``; everything lands in ``./demo-output`` (or ``--out DIR``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from .cli.commands import Flavor, make_app
from .formats import read_volume
from .preview import write_preview
from .quality import central_region, compare_to_truth
from .simulate.series import simulate_series

WIDTH, SLICES, THICKNESS = 256, 256, 96
SNR = 2.0


def simulate(out: Path, seed: int) -> tuple[Path, Path, np.ndarray]:
    """Write the noisy tilt series, its angle file and the true volume; return their paths and the truth."""
    stack, tlt, truth_path, _ = simulate_series(out, "specimen", width=WIDTH, nslices=SLICES, thickness=THICKNESS,
                                                snr=SNR, seed=seed, overwrite=True)
    return stack, tlt, read_volume(truth_path)[0]


def reconstruct(alg_args: list[str], stack: Path, tlt: Path, output: Path, quiet: bool) -> float:
    """Run tiltrec-mpi as a user would; returns the wall time in seconds."""
    args = [*alg_args, "--thickness", str(THICKNESS), "--overwrite", str(stack), str(tlt), str(output)]
    if quiet:
        args.append("--quiet")
    print("$ tiltrec-mpi " + " ".join(args), flush=True)
    start = time.perf_counter()
    make_app(Flavor("tiltrec-mpi", unified=False, backend="cpu"))(args, prog_name="tiltrec-mpi",
                                                                  standalone_mode=False)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bin/demo", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("demo-output"), help="output folder [demo-output]")
    parser.add_argument("--seed", type=int, default=1, help="random seed of the specimen and noise [1]")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    opts = parser.parse_args(argv)
    out = opts.out
    out.mkdir(parents=True, exist_ok=True)
    print(f"Simulating a {WIDTH} x {SLICES} x {THICKNESS} specimen, 41 views at -60..60 degrees, SNR {SNR} ...")
    stack, tlt, truth = simulate(out, opts.seed)
    write_preview(truth, out / "truth.png", title="truth", overwrite=True)
    runs = {"wbp": ["--alg", "wbp", "--radial", "0.35,0.05"], "sirt": ["--alg", "sirt"]}
    rows = []
    for name, alg_args in runs.items():
        volume_path = out / f"{name}.mrc"
        seconds = reconstruct(alg_args, stack, tlt, volume_path, opts.quiet)
        volume, _ = read_volume(volume_path)
        write_preview(volume, out / f"{name}.png", title=name.upper(), overwrite=True)
        score = compare_to_truth(central_region(volume), central_region(truth))
        rows.append((name.upper(), seconds, score["correlation"], score["nrmse"]))
    print(f"\nResults in {out}/ (volumes .mrc, previews .png); central 80% in X and Y against the truth:")
    print(f"{'algorithm':<10}{'time (s)':>10}{'correlation':>13}{'NRMSE':>8}")
    for name, seconds, corr, nrmse in rows:
        print(f"{name:<10}{seconds:>10.2f}{corr:>13.3f}{nrmse:>8.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
