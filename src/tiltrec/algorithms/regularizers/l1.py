"""L1 norm of the voxel values, ``R(x) = sum |x|`` (TiltRec's ADMM regulariser, kept for comparison)."""

from __future__ import annotations

from .base import Regularizer


class L1(Regularizer):
    """``D`` is the identity: one component, the volume itself."""

    components = 1

    def forward(self, x, out) -> None:
        out[0] = x

    def adjoint(self, v, out, sign: int = 1) -> None:
        (self.xp.add if sign > 0 else self.xp.subtract)(out, v[0], out=out)

    def value(self, v, scratch) -> float:
        return float(self.xp.sum(self.xp.abs(v[0], out=scratch[0]), dtype=self.xp.float64))

    def prox(self, v, t: float, scratch) -> None:
        """Soft thresholding: ``sign(v) max(|v| - t, 0)``."""
        if t > 0:
            self.xp.clip(v[0], -t, t, out=scratch[0])
            v[0] -= scratch[0]
