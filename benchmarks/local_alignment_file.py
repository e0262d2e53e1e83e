"""A synthetic local alignment file in tiltalign's layout, for benchmarks and device checks: an areas x areas grid
over the views, small tilt, X-axis tilt and rotation changes and shifts that vary over the areas and the views."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_local_file(path: Path, nviews: int, width: int, slices: int, areas: int = 3, seed: int = 7) -> Path:
    """Areas centred on a grid spaced ``width // areas`` by ``slices // areas`` pixels, starting half a spacing in."""
    rng = np.random.default_rng(seed)
    lines = ["%6d%6d%6d%6d%6d%6d%6d%12.5f%4d" % (areas, areas, width // (2 * areas), slices // (2 * areas),
                                                 width // areas, slices // areas, 1, 0.0, 0)]
    for _ in range(areas * areas):
        lines.append(" ".join("%.2f" % v for v in rng.uniform(-0.3, 0.3, nviews)))
        lines.append(" ".join("%.2f" % v for v in rng.uniform(-0.3, 0.3, nviews)))
        for angle, dx, dy in zip(np.radians(rng.uniform(-0.5, 0.5, nviews)), *rng.uniform(-1.5, 1.5, (2, nviews))):
            c, s = np.cos(angle), np.sin(angle)
            lines.append("%12.7f%12.7f%12.7f%12.7f%12.3f%12.3f" % (c, -s, s, c, dx, dy))
    path.write_text("\n".join(lines) + "\n")
    return path
