"""Isotropic 3-D total variation: ``R(x) = sum over voxels of |grad x|``, with forward differences.

The gradient ``D`` has one component per axis of the ``[z, x, y]`` volume; the difference across the volume's
last slice of an axis is 0 (Neumann boundary).  Along Y the volume may be one rank's block of a bigger one: the
slices beyond the block come from the neighbouring ranks (``mpi.Halo``), so the result is that of the whole volume.
"""

from __future__ import annotations

import numpy as np

from .base import Regularizer

AXES = 3
Y = 2


def _cut(axis: int, start, stop) -> tuple:
    """Index of the entries ``[start:stop]`` along ``axis`` of a volume."""
    index = [slice(None)] * AXES
    index[axis] = slice(start, stop)
    return tuple(index)


def difference(xp, x, axis: int, out, after=None) -> None:
    """``out = D_axis x``: ``x[i+1] - x[i]``; at the last entry ``after - x[last]`` when the slice ``after``
    follows the volume (another rank's), else 0."""
    xp.subtract(x[_cut(axis, 1, None)], x[_cut(axis, None, -1)], out=out[_cut(axis, None, -1)])
    last = _cut(axis, -1, None)
    if after is None:
        out[last] = 0
    else:
        xp.subtract(xp.expand_dims(after, axis), x[last], out=out[last])


def difference_adjoint(xp, v, axis: int, out, sign: int = 1, before=None, edge: bool = True) -> None:
    """``out += sign * D_axis^T v``: ``v[i-1] - v[i]``, where ``v[-1]`` is the slice ``before`` (another rank's)
    or 0, and the last ``- v[i]`` is absent when the volume's last entry is the edge (``edge``)."""
    add, sub = (xp.add, xp.subtract) if sign > 0 else (xp.subtract, xp.add)
    head, tail = _cut(axis, 1, None), _cut(axis, None, -1)
    add(out[head], v[tail], out=out[head])
    sub(out[tail], v[tail], out=out[tail])
    last, first = _cut(axis, -1, None), _cut(axis, 0, 1)
    if not edge:
        sub(out[last], v[last], out=out[last])
    if before is not None:
        add(out[first], xp.expand_dims(before, axis), out=out[first])


class TotalVariation(Regularizer):
    """Isotropic TV on ``[z, x, y]`` volumes (or one rank's block of slices, with ``halo``), from array
    operations of ``xp``."""

    components = AXES

    def forward(self, x, out) -> None:
        """``out[c] = D_c x`` for the three axes."""
        _, after = self.halo.neighbours(x, self.xp)
        for axis in range(AXES):
            difference(self.xp, x, axis, out[axis], after if axis == Y else None)

    def adjoint(self, v, out, sign: int = 1) -> None:
        """``out += sign * D^T v`` (minus the divergence of ``v``)."""
        before, _ = self.halo.neighbours(v[Y], self.xp)
        for axis in range(AXES):
            difference_adjoint(self.xp, v[axis], axis, out, sign, before if axis == Y else None,
                               edge=axis != Y or not self.halo.has_next)

    def add_normal(self, x, out, scale: float) -> None:
        """``out += scale * D^T D x`` (a 7-point Laplacian), one axis at a time."""
        xp = self.xp
        before, after = self.halo.neighbours(x, xp)
        _, (t, _) = self.work(x)
        for axis in range(AXES):
            difference(xp, x, axis, t, after if axis == Y else None)
            t *= np.float32(scale)
            edge = None
            if axis == Y and before is not None:
                edge = (x[..., 0] - before) * scale
            difference_adjoint(xp, t, axis, out, 1, edge, edge=axis != Y or not self.halo.has_next)

    def _lengths(self, v, scratch):
        """``|v|`` voxel by voxel (the gradient vectors' lengths), in ``scratch[0]``."""
        xp = self.xp
        length, square = scratch[0], scratch[1]
        xp.multiply(v[0], v[0], out=length)
        for c in range(1, AXES):
            xp.multiply(v[c], v[c], out=square)
            length += square
        return xp.sqrt(length, out=length)

    def value(self, v, scratch) -> float:
        """``sum |v|`` of a gradient field ``v`` (this rank's part)."""
        return float(self.xp.sum(self._lengths(v, scratch), dtype=self.xp.float64))

    def prox(self, v, t: float, scratch) -> None:
        """Shrink every voxel's gradient vector by ``t`` in length (to 0 if shorter): the proximal map of
        ``t * sum |v|``."""
        if t <= 0:
            return
        xp = self.xp
        factor = self._lengths(v, scratch)
        xp.maximum(factor, t, out=factor)
        xp.divide(t, factor, out=factor)
        xp.subtract(1.0, factor, out=factor)  # max(0, 1 - t / |v|)
        for c in range(AXES):
            v[c] *= factor
