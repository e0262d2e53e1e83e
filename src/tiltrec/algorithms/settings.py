"""Parameters shared by the reconstruction algorithms, with their documented defaults."""

from __future__ import annotations

from dataclasses import dataclass

# Chosen on a simulated specimen with noisy views (signal-to-noise variance 2 per view, docs/algorithms/):
# more iterations fit the noise; SIRT 10 x 1.0 and SART 2 x 0.25 came out best or near it.
DEFAULT_ITERATIONS = {"sirt": 10, "sart": 2}
DEFAULT_RELAX = {"sirt": 1.0, "sart": 0.25}


@dataclass(frozen=True)
class Settings:
    """What an algorithm may use; each algorithm reads only its own fields.

    Attributes:
        iterations, relax: SIRT/SART iteration count and relaxation (None = the algorithm's default).
        positivity: clip negative densities to zero after every SIRT/SART update.
        filter, cutoff: FBP filter window and its cutoff as a fraction of Nyquist.
        radial: IMOD ``RADIAL cutoff,falloff`` for WBP (None: ramp up to Nyquist).
        true_sigma, fake_sirt_iterations, density_weighting: IMOD's other WBP weighting options.
        scale: IMOD ``SCALE add,mult`` applied to WBP output.
        data_mean: mean of the whole input stack; IMOD fills WBP samples outside the data from it.
        threads: FFT workers.
    """

    iterations: int | None = None
    relax: float | None = None
    positivity: bool = False
    filter: str = "ramp"
    cutoff: float = 1.0
    radial: tuple[float, float] | None = None
    true_sigma: bool = False
    fake_sirt_iterations: int = 0
    density_weighting: bool = True
    scale: tuple[float, float] = (0.0, 1.0)
    data_mean: float = 0.0
    threads: int = -1

    def iterations_for(self, name: str) -> int:
        return self.iterations if self.iterations is not None else DEFAULT_ITERATIONS[name]

    def relax_for(self, name: str) -> float:
        return self.relax if self.relax is not None else DEFAULT_RELAX[name]
