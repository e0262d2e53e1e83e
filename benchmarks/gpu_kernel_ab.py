"""On a GPU: the package's projector kernels against another version of them, on the same random data: are the
outputs identical, and how long does each take (alternating calls, CUDA events, medians).

    git show HEAD~1:src/tiltrec/projectors/cuda/kernels/projector.cu > /tmp/before.cu
    python -m benchmarks.gpu_kernel_ab /tmp/before.cu [--width 2048 --thickness 512 --slab 128] [--markdown FILE]

Both sides are the same ``CudaProjector`` (so the same grids, arrays and calls); the other side's launcher runs
the kernels of the given files instead, each array argument cast to the type its declaration there asks (a version
that takes float32 coefficients gets float32 copies, made once).  Cases: back and forward projection without an
X-axis tilt and with one per view (-5..5 degrees), 61 views.  Exit code 1 when an output differs.  For kernel work
developed on the CPU emulation: one command on a lent GPU says whether the new kernels are faster and the same.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.gpu import NVIEWS, event_milliseconds  # noqa: E402

HEADER = ["Kernel", "Volume W x T x slab", "other [ms]", "package [ms]", "speed-up", "other GUPS", "package GUPS",
          "outputs"]


class KernelsFrom:
    """A launcher of the kernels in ``table`` (name -> Kernel) through ``inner``, which runs them; each array
    argument is cast to its declared element type (float32 for ``float*``, float64 for ``double*``) once."""

    def __init__(self, inner, table: dict, xp):
        self.inner, self.table, self.xp = inner, table, xp
        self._cast: dict[int, tuple[object, object]] = {}  # id(array) -> (array, its copy)

    def _as_declared(self, ctype: str, arg):
        if "*" not in ctype or not hasattr(arg, "dtype"):
            return arg
        dtype = np.float64 if "double" in ctype else np.float32
        if arg.dtype == dtype:
            return arg
        held = self._cast.get(id(arg))
        if held is None or held[0] is not arg:
            held = self._cast[id(arg)] = (arg, self.xp.ascontiguousarray(arg.astype(dtype)))
        return held[1]

    def launch(self, name, grid, block, args) -> None:
        declared = self.table[name].params
        self.inner.launch(name, grid, block, tuple(self._as_declared(t, a) for (t, _), a in zip(declared, args)))


def compare(xp, package_launcher, other_launcher, width: int, thickness: int, slab: int, rounds: int, timer,
            synchronize=lambda: None) -> tuple[list[list[str]], bool]:
    """Rows of ``HEADER`` and whether any output differs. ``timer(fn)``: milliseconds of one call of ``fn``."""
    from tiltrec.geometry import Geometry
    from tiltrec.projectors.cuda.projector import CudaProjector

    rows, differ = [], False
    angles = np.linspace(-60, 60, NVIEWS)
    for label, pitch in (("pitch 0", 0.0), ("a pitch per view", np.linspace(-5, 5, NVIEWS))):
        geom = Geometry(nx=width, ny=width, angles=angles, thickness=thickness, width=width, pitch=pitch)
        y0 = width // 2 - slab // 2
        ops = {side: CudaProjector(geom, y0, y0 + slab, xp, launcher)
               for side, launcher in (("other", other_launcher), ("package", package_launcher))}
        rng = np.random.default_rng(0)
        vol = xp.asarray(rng.random(ops["package"].vol_shape, dtype=np.float32))
        proj = xp.asarray(rng.random(ops["package"].proj_shape, dtype=np.float32))
        for name in ("back", "forward"):
            outs = {side: (op.zeros_volume() if name == "back" else op.zeros_projections())
                    for side, op in ops.items()}
            # the kernels alone: CudaProjector's _back / _forward add into ``out`` (no zeroing pass)
            calls = {side: (lambda op=op, out=outs[side]: op._back(proj, out, op.coef)) if name == "back" else
                     (lambda op=op, out=outs[side]: op._forward(vol, out, op.coef)) for side, op in ops.items()}
            for call in calls.values():  # once each: the comparison (and the compilation)
                call()
            synchronize()
            same = bool(xp.array_equal(outs["other"], outs["package"]))
            scale = float(xp.abs(outs["other"]).max()) or 1.0
            worst = float(xp.abs(outs["other"] - outs["package"]).max()) / scale
            differ |= not same
            times = {side: [] for side in calls}
            for _ in range(rounds):
                for side, call in calls.items():
                    times[side].append(timer(call))
            other, package = statistics.median(times["other"]), statistics.median(times["package"])
            updates = width * thickness * slab * NVIEWS
            rows.append([f"{name} ({label})", f"{width} x {thickness} x {slab}", f"{other:.2f}", f"{package:.2f}",
                         f"{other / package:.2f}", f"{updates / other / 1e6:.0f}", f"{updates / package / 1e6:.0f}",
                         "identical" if same else f"DIFFERENT (max {worst:.1e} of the largest)"])
        ops.clear()
    return rows, differ


def markdown(rows: list[list[str]]) -> str:
    return "\n".join("| " + " | ".join(r) + " |" for r in [HEADER, ["---"] * len(HEADER), *rows]) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.gpu_kernel_ab", description=__doc__.splitlines()[0])
    p.add_argument("other", nargs="+", type=Path, help="the other version's .cu file(s) (its projector.cu)")
    p.add_argument("--width", type=int, default=2048)
    p.add_argument("--thickness", type=int, default=512)
    p.add_argument("--slab", type=int, default=128)
    p.add_argument("--rounds", type=int, default=3, help="alternating calls of each side [default: %(default)s]")
    p.add_argument("--markdown", type=Path, help="also write the table to FILE")
    opts = p.parse_args(argv)

    import cupy

    from tiltrec.projectors.cuda.device import open_device
    from tiltrec.projectors.cuda.launcher import CupyLauncher, kernels_in

    device = open_device(None, 0, 1, "tiltrec-mpi")
    table = kernels_in(opts.other)
    other = KernelsFrom(CupyLauncher(cupy, table), table, cupy)

    rows, differ = compare(cupy, device.launcher, other, opts.width, opts.thickness, opts.slab, opts.rounds,
                           lambda fn: event_milliseconds(cupy, fn), device.synchronize)
    text = (f"{device.describe()}: the package's projector kernels against {', '.join(map(str, opts.other))}; "
            f"{NVIEWS} views, medians of {opts.rounds} alternating calls (CUDA events)\n\n" + markdown(rows))
    print(text)
    if opts.markdown:
        opts.markdown.write_text(text)
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
