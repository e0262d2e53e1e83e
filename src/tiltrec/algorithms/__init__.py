"""The reconstruction algorithms, by name: each runs one slab through a slab projector.

Every algorithm is a function ``(op, rows, settings, x0=None, callback=None) -> volume`` over the projector's
array module, so the same code serves every backend and memory strategy.  Resumable ones (their iterations run
through algorithms.iterating) also take ``checkpoint=`` (algorithms.state); ADMM, which couples neighbouring
slices, also ``world=`` (the ranks holding the other blocks of slices) and ``log=`` (a callable given each outer
iteration's figures).  What the run and the options need to know of an algorithm is declared in its
``Algorithm`` entry, never inferred from its name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import InputError
from .admm import admm
from .backprojection import bpt, fbp, wbp
from .footprint import Footprint
from .imod_sirt import imod_sirt
from .iterative import sart, sirt
from ..options.model import Settings


BACKENDS = ("cpu", "cuda")
_WHERE = {"cpu": ("CPUs", "the -mpi command (backend 'cpu')"), "cuda": ("GPUs", "the -cuda command (backend 'cuda')")}


@dataclass(frozen=True)
class Algorithm:
    """An algorithm with what the run needs to know about it."""

    name: str
    run: Callable
    footprint: Footprint  # working arrays per computed slice
    summary: str
    backends: tuple[str, ...] = BACKENDS  # where it runs
    # its iterations run through algorithms.iterating: a checkpoint can continue it, --init starts it, and the
    # progress counts its iterations
    resumable: bool = False
    # it reprojects its estimate, so every ray must cross the computed volume whole: it works on a volume
    # padded in X (--xpad), and with an X-axis tilt its slabs carry halo slices (seams are approximations, so
    # such slabs are as tall as the memory allows)
    pads_x: bool = False
    needs_data_mean: bool = False  # IMOD's fill value outside the data: the mean of the whole stack, a pass first
    couples_slices: bool = False  # needs the whole volume at once (the unified strategy)
    passes_per_iteration: Callable[[Settings], int] = lambda settings: 2  # forward and back-projections
    applies_scale: bool = False  # applies IMOD's SCALE itself (on the sum over views, as IMOD does)
    suggests_scale: bool = False  # IMOD's advice at the end of a run: the SCALE that would fit bytes or integers

    def reconstruct(self, op, rows, settings: Settings, **kwargs):
        """``run``, then IMOD's SCALE, ``(value + add) * mult``, where the algorithm does not apply it itself."""
        vol = self.run(op, rows, settings, **kwargs)
        add, mult = settings.scale_pair()
        if not self.applies_scale and (add, mult) != (0.0, 1.0):
            vol += np.float32(add)
            vol *= np.float32(mult)
        return vol

    def steps(self, settings: Settings) -> int:
        """Progress units per slab: the iterations of a resumable algorithm (algorithms.iterating reports each),
        else 1."""
        return settings.iterations_for(self.name) if self.resumable else 1

    def passes(self, settings: Settings) -> int:
        """Projector passes (forward or back) over the whole volume, for the GUPS figure."""
        return settings.iterations_for(self.name) * self.passes_per_iteration(settings) if self.resumable else 1


ALGORITHMS: dict[str, Algorithm] = {
    a.name: a
    for a in (
        Algorithm("bpt", bpt, Footprint(volumes=2, projections=2), "plain back-projection"),
        Algorithm("fbp", fbp, Footprint(volumes=2, projections=3), "filtered back-projection"),
        Algorithm("wbp", wbp, Footprint(volumes=2, projections=3), "IMOD's R-weighted back-projection",
                  needs_data_mean=True, applies_scale=True, suggests_scale=True),
        Algorithm("sirt", sirt, Footprint(volumes=4, projections=5), "simultaneous iterative (SIRT)",
                  resumable=True, pads_x=True),
        Algorithm("sart", sart, Footprint(volumes=3, projections=4), "simultaneous algebraic, per view (SART)",
                  resumable=True, pads_x=True),
        # compiled CPU kernels (projectors/imod_sirt.c) in float64: no GPU code
        Algorithm("imod-sirt", imod_sirt, Footprint(volumes=4, projections=5),
                  "IMOD tilt's internal SIRT (SIRTIterations), reproduced", backends=("cpu",), needs_data_mean=True,
                  applies_scale=True),
        Algorithm("admm", admm, Footprint(volumes=17, projections=4), "ADMM with total variation or L1",
                  resumable=True, pads_x=True, couples_slices=True,
                  passes_per_iteration=lambda settings: 2 * settings.cg_iter),
    )
}


def require_backend(name: str, backend: str) -> None:
    """Refuse, before any work, a backend that cannot run algorithm ``name`` (an unknown name is the options'
    to refuse)."""
    alg = ALGORITHMS.get(name)
    if alg is None or backend in alg.backends:
        return
    devices = " and ".join(_WHERE[b][0] for b in alg.backends)
    commands = " or ".join(_WHERE[b][1] for b in alg.backends)
    raise InputError(f"{name} runs on {devices} only: use {commands}")
