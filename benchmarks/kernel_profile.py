"""Nsight Compute's view of the projector kernels: which of the GPU's limits each one reaches.

``argv(ncu)`` profiles one ``back_flat`` and one ``forward_flat`` launch (``CudaProjector`` on a 2048 x 512 x 128
slab, 61 views, random data) with the sections that say where a kernel stands (speed of light: compute and memory
throughput as % of the device's peak; the compute and memory workload; occupancy; registers; where warps wait),
without touching the clocks;
``table(csv_text)`` turns ncu's CSV into one markdown table, a column per kernel.  ``bin/gpu-check``'s ``profile``
check runs it where ncu is.
"""

from __future__ import annotations

import csv
import glob
import shutil
import sys

from benchmarks.gpu import NVIEWS

KERNELS = ("back_flat", "forward_flat")
SECTIONS = ("SpeedOfLight", "ComputeWorkloadAnalysis", "MemoryWorkloadAnalysis", "Occupancy", "LaunchStats",
            "WarpStateStats")
# the lines of the summary (PASS line), in this order, where ncu reports them
SUMMARY = ("Compute (SM) Throughput", "Memory Throughput", "Achieved Occupancy")

SCRIPT = """
import numpy as np, cupy
from tiltrec.geometry import Geometry
from tiltrec.projectors.cuda.device import open_device
from tiltrec.projectors.cuda.projector import CudaProjector
device = open_device(None, 0, 1, "tiltrec-mpi")
geom = Geometry(nx=2048, ny=2048, angles=np.linspace(-60, 60, {views}), thickness=512, width=2048)
op = CudaProjector(geom, 960, 1088, cupy, device.launcher)
vol = cupy.random.random(op.vol_shape, dtype=np.float32)
proj = cupy.random.random(op.proj_shape, dtype=np.float32)
op._back(proj, op.zeros_volume(), op.coef)
op._forward(vol, op.zeros_projections(), op.coef)
device.synchronize()
"""


def find_ncu() -> str | None:
    """Nsight Compute's command line: on PATH, else where CUDA and Nsight Compute install it."""
    found = shutil.which("ncu")
    if found:
        return found
    candidates = sorted(glob.glob("/usr/local/cuda*/bin/ncu") + glob.glob("/opt/nvidia/nsight-compute/*/ncu"))
    return candidates[-1] if candidates else None


def argv(ncu: str) -> list[str]:
    sections = [arg for name in SECTIONS for arg in ("--section", name)]
    return [ncu, "--clock-control", "none", "--kernel-name", f"regex:^({'|'.join(KERNELS)})$", "--launch-count",
            str(len(KERNELS)), *sections, "--csv", "--page", "details", sys.executable, "-c",
            SCRIPT.format(views=NVIEWS)]


def metrics(csv_text: str) -> dict[str, dict[tuple[str, str], str]]:
    """kernel name -> {(metric, unit): value} from ncu's ``--csv --page details`` output (its own ``==PROF==``
    lines and the program's output left out)."""
    lines = [line for line in csv_text.splitlines() if line.startswith('"')]
    found: dict[str, dict[tuple[str, str], str]] = {}
    for row in csv.DictReader(lines):
        kernel = (row.get("Kernel Name") or "").split("(")[0].strip()
        name = row.get("Metric Name")
        if kernel and name:
            found.setdefault(kernel, {})[(name, row.get("Metric Unit") or "")] = row.get("Metric Value") or ""
    return found


def table(found: dict[str, dict[tuple[str, str], str]]) -> str:
    """One markdown row per metric, a column per kernel (in KERNELS' order, then any other)."""
    kernels = [k for k in KERNELS if k in found] + [k for k in found if k not in KERNELS]
    keys = list(dict.fromkeys(key for k in kernels for key in found[k]))
    rows = ["| Metric | Unit | " + " | ".join(kernels) + " |", "|---|---|" + "---|" * len(kernels)]
    rows += [f"| {name} | {unit} | " + " | ".join(found[k].get((name, unit), "-") for k in kernels) + " |"
             for name, unit in keys]
    return "\n".join(rows)


def summary(found: dict[str, dict[tuple[str, str], str]]) -> str:
    """``kernel: metric value unit, ...`` for the SUMMARY metrics, each kernel in turn."""
    parts = []
    for kernel in [k for k in KERNELS if k in found]:
        values = [f"{name} {value} {unit}".strip() for name in SUMMARY
                  for (metric, unit), value in found[kernel].items() if metric == name]
        parts.append(f"{kernel}: {', '.join(values) or 'no summary metrics'}")
    return "; ".join(parts)
