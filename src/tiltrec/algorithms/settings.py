"""Parameters shared by the reconstruction algorithms, with their documented defaults."""

from __future__ import annotations

from dataclasses import dataclass

# Chosen on a simulated specimen with noisy views (signal-to-noise variance 2 per view, docs/algorithms/):
# more iterations fit the noise; SIRT 10 x 1.0 and SART 2 x 0.25 came out best or near it.
DEFAULT_ITERATIONS = {"sirt": 10, "sart": 2, "admm": 30}
DEFAULT_RELAX = {"sirt": 1.0, "sart": 0.25}
# ADMM (docs/algorithms/admm.md): relative weights, scaled with the data by algorithms.admm.weights.
REGULARIZERS = ("tv", "l1")
DEFAULT_LAMBDA = {"tv": 1.0, "l1": 1.0}
DEFAULT_RHO = 1.0
DEFAULT_CG_ITERATIONS = 3


@dataclass(frozen=True)
class Settings:
    """What an algorithm may use; each algorithm reads only its own fields.

    Attributes:
        iterations, relax: SIRT/SART/ADMM iteration count (ADMM: outer) and SIRT/SART relaxation (None = the
            algorithm's default).
        positivity: clip negative densities to zero after every SIRT/SART update; ADMM: constrain x >= 0.
        reg, lam, rho, cg_iterations: ADMM's regulariser ("tv" or "l1"), its relative weight and penalty
            parameter (see algorithms.admm.weights; None = default) and inner CG steps per outer iteration.
        filter, cutoff: FBP filter window and its cutoff as a fraction of Nyquist.
        radial: IMOD ``RADIAL cutoff,falloff`` for WBP (None: ramp up to Nyquist).
        true_sigma, fake_sirt_iterations, density_weighting, hamming, multiply_gaussian: IMOD's other WBP
            weighting options (``FalloffIsTrueSigma``, ``FakeSIRTiterations``, ``DENSWEIGHT``,
            ``HammingLikeFilter``, ``MultiplyByGaussian``).
        interp: WBP back-projection interpolation: "linear" (once, tiltrec's projector) or "imod" (as IMOD's CPU
            code: lines cosine-stretched at ``cosine_stretch`` samples per pixel, vertical slices with pitch).
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
    density_weighting: bool | int = True
    hamming: float | None = None
    multiply_gaussian: bool = False
    interp: str = "linear"
    cosine_stretch: int = 2
    scale: tuple[float, float] = (0.0, 1.0)
    data_mean: float = 0.0
    threads: int = -1
    reg: str = "tv"
    lam: float | None = None
    rho: float | None = None
    cg_iterations: int | None = None

    def iterations_for(self, name: str) -> int:
        return self.iterations if self.iterations is not None else DEFAULT_ITERATIONS[name]

    def relax_for(self, name: str) -> float:
        return self.relax if self.relax is not None else DEFAULT_RELAX[name]

    def lambda_for(self) -> float:
        return self.lam if self.lam is not None else DEFAULT_LAMBDA[self.reg]

    def rho_for(self) -> float:
        return self.rho if self.rho is not None else DEFAULT_RHO

    def cg_iterations_for(self) -> int:
        return self.cg_iterations if self.cg_iterations is not None else DEFAULT_CG_ITERATIONS
