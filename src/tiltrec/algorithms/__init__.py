"""The reconstruction algorithms, by name: each runs one slab through a slab projector.

Every algorithm is a function ``(op, rows, settings, x0=None, callback=None) -> volume`` over the projector's
array module, so the same code serves every backend and memory strategy.  Iterative ones also take
``checkpoint=`` (algorithms.state); ADMM, which couples neighbouring slices, also ``world=`` (the ranks holding
the other blocks of slices) and ``log=`` (a callable given each outer iteration's figures).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..strategies.plan import Footprint
from .admm import admm
from .backprojection import bpt, fbp, wbp
from .imod_sirt import imod_sirt
from .iterative import sart, sirt
from .settings import Settings


@dataclass(frozen=True)
class Algorithm:
    """An algorithm with what the strategies need to know about it."""

    name: str
    run: Callable
    iterative: bool
    footprint: Footprint  # working arrays per computed slice
    summary: str
    couples_slices: bool = False  # needs the whole volume at once (the unified strategy)
    passes_per_iteration: Callable[[Settings], int] = lambda settings: 2  # forward and back-projections
    applies_scale: bool = False  # applies IMOD's SCALE itself (on the sum over views, as IMOD does)

    def reconstruct(self, op, rows, settings: Settings, **kwargs):
        """``run``, then IMOD's SCALE, ``(value + add) * mult``, where the algorithm does not apply it itself."""
        vol = self.run(op, rows, settings, **kwargs)
        add, mult = settings.scale
        if not self.applies_scale and (add, mult) != (0.0, 1.0):
            vol += np.float32(add)
            vol *= np.float32(mult)
        return vol

    def steps(self, settings: Settings) -> int:
        """Progress units per slab: iterations, or 1."""
        return settings.iterations_for(self.name) if self.iterative else 1

    def passes(self, settings: Settings) -> int:
        """Projector passes (forward or back) over the whole volume, for the GUPS figure."""
        return settings.iterations_for(self.name) * self.passes_per_iteration(settings) if self.iterative else 1


ALGORITHMS: dict[str, Algorithm] = {
    a.name: a
    for a in (
        Algorithm("bpt", bpt, False, Footprint(volumes=2, projections=2), "plain back-projection"),
        Algorithm("fbp", fbp, False, Footprint(volumes=2, projections=3), "filtered back-projection"),
        Algorithm("wbp", wbp, False, Footprint(volumes=2, projections=3), "IMOD's R-weighted back-projection",
                  applies_scale=True),
        Algorithm("sirt", sirt, True, Footprint(volumes=4, projections=5), "simultaneous iterative (SIRT)"),
        Algorithm("sart", sart, True, Footprint(volumes=3, projections=4), "simultaneous algebraic, per view (SART)"),
        Algorithm("imod-sirt", imod_sirt, False, Footprint(volumes=4, projections=5),
                  "IMOD tilt's internal SIRT (SIRTIterations), reproduced", applies_scale=True),
        Algorithm("admm", admm, True, Footprint(volumes=17, projections=4), "ADMM with total variation or L1",
                  couples_slices=True, passes_per_iteration=lambda settings: 2 * settings.cg_iterations_for()),
    )
}
