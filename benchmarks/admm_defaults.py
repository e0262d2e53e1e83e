"""How ADMM's defaults were chosen: correlation with the true volume over --lambda, on simulated series that
differ in noise, number of views, size and offset, beside SIRT at its best iteration count; then, on the first
series, over --rho, --cg-iter and the number of outer iterations, with the objective reached.

    python -m benchmarks.admm_defaults          # about two minutes on 2 cores; prints markdown tables

Each series: the cell-like phantom of ``tiltrec simulate`` (seed 2, 24 slices, 48 thick), projected with
tiltrec's projector at -60..60 degrees, Gaussian noise at the given signal-to-noise variance per view.  ADMM runs
with its defaults (TV, 30 outer iterations, 3 CG steps, rho 1) and the relative lambda of each column; SIRT with
3, 5, 10 and 20 iterations, the best of them reported.
"""

from __future__ import annotations

import numpy as np

from tiltrec.algorithms import ALGORITHMS
from tiltrec.options.model import Settings
from tiltrec.geometry import Geometry
from tiltrec.projectors.cpu import CpuProjector
from tiltrec.quality import pearson
from tiltrec.simulate.noise import add_noise
from tiltrec.simulate.phantom import cell_phantom
from tiltrec.simulate.project import project_volume

LAMBDAS = (0.3, 1.0, 3.0)
# (width, tilt step in degrees, signal-to-noise variance ratio, constant added to the views)
SERIES = ((96, 3.0, 2.0, 0.0), (96, 3.0, 0.5, 0.0), (96, 3.0, 10.0, 0.0), (96, 2.0, 2.0, 0.0), (96, 6.0, 2.0, 0.0),
          (160, 3.0, 2.0, 0.0), (96, 3.0, 2.0, 500.0))


def series(width: int, step: float, snr: float, offset: float):
    """The projector, the noisy views and the true volume ([z, x, y]) of one series."""
    angles = np.arange(-60.0, 60.1, step)
    truth = cell_phantom(width, 24, 48, seed=2)
    views = add_noise(project_volume(truth, angles), snr=snr, rng=1) + np.float32(offset)
    return CpuProjector(Geometry(nx=width, ny=24, angles=angles, thickness=48), 0, 24), views, truth.transpose(1, 2, 0)


def correlations(width: int, step: float, snr: float, offset: float) -> tuple[float, list[float]]:
    """Best SIRT correlation and ADMM's for each lambda of LAMBDAS."""
    op, views, target = series(width, step, snr, offset)
    sirt = max(pearson(ALGORITHMS["sirt"].run(op, views, Settings(iter=n)), target) for n in (3, 5, 10, 20))
    return sirt, [pearson(ALGORITHMS["admm"].run(op, views, Settings(lam=lam)), target) for lam in LAMBDAS]


class _Objective:
    """An ADMM log that keeps the objective of every iteration."""

    def __init__(self):
        self.values = []

    def weights(self, lam, rho, sigma):
        pass

    def __call__(self, record):
        self.values.append(record["objective"])


def convergence() -> None:
    """Correlation and objective after 10, 30 and 100 outer iterations, for several --rho and --cg-iter."""
    op, views, target = series(*SERIES[0])
    print("\n| --rho | --cg-iter | correlation at 10 / 30 / 100 iterations | objective at 10 / 30 / 100 |")
    print("|---|---|---|---|")
    for rho, cg in ((1.0, 3), (0.3, 3), (3.0, 3), (1.0, 1), (1.0, 2), (1.0, 5)):
        found = {}
        for n in (10, 30, 100):
            log = _Objective()
            x = ALGORITHMS["admm"].run(op, views, Settings(iter=n, rho=rho, cg_iter=cg), log=log)
            found[n] = (pearson(x, target), log.values[-1])
        print(f"| {rho:g} | {cg} | " + " / ".join(f"{c:.3f}" for c, _ in found.values()) + " | "
              + " / ".join(f"{o:.5g}" for _, o in found.values()) + " |", flush=True)


def main() -> None:
    print("| series | views | SIRT (best) | " + " | ".join(f"ADMM-TV lambda {lam:g}" for lam in LAMBDAS) + " |")
    print("|---" * (3 + len(LAMBDAS)) + "|")
    for width, step, snr, offset in SERIES:
        sirt, admm = correlations(width, step, snr, offset)
        name = f"width {width}, SNR {snr:g}" + (f", views + {offset:g}" if offset else "")
        print(f"| {name} | {int(120 / step) + 1} | {sirt:.3f} | " + " | ".join(f"{c:.3f}" for c in admm) + " |",
              flush=True)
    convergence()


if __name__ == "__main__":
    main()
