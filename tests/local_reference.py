"""A plain NumPy weighted back-projector with IMOD local alignments, for tests only.

It reads an IMOD ``tilt`` parameter file, sets up the geometry with IMOD 4.8.2's rules (IMAGEBINNED, SLICE,
FULLIMAGE/SUBSETSTART, SHIFT, OFFSET, XAXISTILT, EXCLUDELIST2), filters the views with tiltrec's IMOD radial
filter (``tiltrec.filters``), and sums, view by view, the samples that ``tiltrec.local_alignments`` places for
every voxel (``sample_view``: IMOD's bilinear sampling, edge and fill rules).  IMOD uses no cosine stretching
with local alignments, so this is the whole computation; it reproduces the oracle's output to float32 rounding.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from tiltrec.filters import imod_radial_filter
from tiltrec.formats import parse_view_list, read_angles
from tiltrec.formats.local_file import read_local_file, read_zfactor_file
from tiltrec.geometry import Geometry
from tiltrec.local_alignments import F32, local_model, loaded_rows, projection_factors, sample_view, z_offsets


def read_param(path) -> dict[str, list[str]]:
    """IMOD parameter file entries: ``{KEY: [value, ...]}`` (comments and blank lines skipped)."""
    entries = {}
    for line in Path(path).read_text().splitlines():
        fields = line.split("#", 1)[0].replace(",", " ").split()
        if fields:
            entries[fields[0]] = fields[1:]
    return entries


def _trunc_div(a: int, b: int) -> int:
    """Fortran integer division (towards zero)."""
    return int(a / b)


def imod_setup(p: dict, nx: int, ny: int, angles_all: np.ndarray):
    """Geometry, used stack views (sorted by angle), axis offset and SUBSETSTART of a parameter file, in the
    views' pixels, following IMOD 4.8.2 ``inputParameters``."""
    b = max(1, int(p.get("IMAGEBINNED", ["1"])[0]))
    first, last = 1, ny
    if "SLICE" in p:
        first, last = int(p["SLICE"][0]) + 1, int(p["SLICE"][1]) + 1
        if b > 1:
            first, last = (max(1, min(ny, (s + b - 1) // b)) for s in (first, last))
    thickness = int(p["THICKNESS"][0]) // b if "THICKNESS" in p else 10  # IMOD's default, not binned
    width = int(p["WIDTH"][0]) // b if "WIDTH" in p else nx
    offset = [float(v) for v in p.get("OFFSET", ["0"])]
    axis = float(F32(offset[1]) / F32(b)) if len(offset) > 1 else 0.0
    shift = [float(v) for v in p.get("SHIFT", ["0", "0"])] + [0.0]
    xshift, zshift = float(F32(shift[0]) / F32(b)), float(F32(shift[1]) / F32(b))
    nxfull, nyfull = (int(v) for v in p.get("FULLIMAGE", [nx * b, ny * b]))
    nxfull, nyfull = (nxfull + b - 1) // b, (nyfull + b - 1) // b
    sub_x, sub_y = (_trunc_div(int(v), b) for v in p.get("SUBSETSTART", ["0", "0"]))
    excluded = set()
    if "EXCLUDELIST2" in p:
        excluded = set(parse_view_list(" ".join(p["EXCLUDELIST2"]), len(angles_all)))
    views = [v for v in range(len(angles_all)) if v not in excluded]
    views.sort(key=lambda v: angles_all[v])
    x_adj = xshift - (nx // 2 + sub_x - nxfull // 2)
    geometry = Geometry(nx=nx, ny=ny, angles=np.asarray(angles_all)[views], thickness=thickness, width=width,
                        slices=(first - 1, last), offset=offset[0], pitch=float(p.get("XAXISTILT", ["0"])[0]),
                        xshift=axis + x_adj, zshift=zshift,
                        center_shift=(nxfull / 2 - sub_x - nx / 2, nyfull / 2 - sub_y - ny / 2))
    return geometry, views, axis, (sub_x, sub_y)


def backproject_local(param_path, stack: np.ndarray, *, data_mean: float, pixel_size: float,
                      transform=None) -> np.ndarray:
    """IMOD ``tilt``'s WBP with the parameter file's LOCALFILE, float64 ``(slices, thickness, width)``.

    ``stack`` is the whole input stack (float32 ``(views, ny, nx)``, excluded views included), ``data_mean`` the
    mean IMOD reads from its header, ``pixel_size`` its pixel size; files named in the parameters are looked up
    beside the parameter file; ``transform``, when given, replaces the parsed local file by ``transform(local)``."""
    folder = Path(param_path).parent
    p = read_param(param_path)
    nviews, ny, nx = stack.shape
    angles_all = read_angles(folder / p["TILTFILE"][0], nviews).astype(F32)
    geometry, views, axis, subset = imod_setup(p, nx, ny, angles_all)
    local = read_local_file(folder / p["LOCALFILE"][0], nviews)
    if transform is not None:
        local = transform(local)
    zfactors = read_zfactor_file(folder / p["ZFACTORFILE"][0], nviews) if "ZFACTORFILE" in p else None
    scale = float(p["LOCALSCALE"][0]) if "LOCALSCALE" in p else None
    model = local_model(geometry, local, views=views, zfactors=zfactors, local_scale=scale, pixel_size=pixel_size,
                        axis_offset=axis, subset_start=subset)
    radial = [float(v) for v in p["RADIAL"]] if "RADIAL" in p else [None, None]
    rfilter = imod_radial_filter(nx, geometry.angles + geometry.offset, cutoff=radial[0], falloff=radial[1])
    filtered = rfilter.apply(np.ascontiguousarray(stack[views], dtype=np.float32), workers=1)
    fill = F32(data_mean) * F32(rfilter.zero_weight)
    y0, y1 = geometry.slices
    rows = loaded_rows(model, y0, y1)
    xf, xz, yf, yz = projection_factors(model, y0, y1)
    zz = z_offsets(model)[:, None]
    volume = np.zeros((y1 - y0, geometry.thickness, geometry.width), dtype=np.float64)
    for s in range(y1 - y0):
        for v in range(len(views)):
            xproj = xf[s, v][None, :] + zz * xz[s, v][None, :]
            yproj = yf[s, v][None, :] + zz * yz[s, v][None, :]
            volume[s] += sample_view(filtered[v], xproj, yproj, rows, fill)
    add, mult = (float(v) for v in p.get("SCALE", ["0", "1"]))
    return (volume + add * len(views)) * (mult / len(views))


def figures(reference: np.ndarray, ours: np.ndarray) -> tuple[float, float, float]:
    """Correlation, RMS difference and largest difference, both in % of the reference's standard deviation."""
    r, o = reference.astype(np.float64).ravel(), ours.astype(np.float64).ravel()
    sd = float(r.std())
    corr = float(np.corrcoef(r, o)[0, 1])
    return corr, 100 * math.sqrt(float(np.mean((r - o) ** 2))) / sd, 100 * float(np.abs(r - o).max()) / sd


# ------------------------------------------------------------------------------------------- reference inputs
# The oracle's input stacks, by name: made from the shared real series (and the simulated stack stored beside the
# references) the same way by the generator (tests/data/make_local_references.py) and by the tests.
EMPIAR = "data/empiar10009/empiar_10009_128.mrc"
JASON = "data/jason64/jason64.ali"
SUBSET = (slice(8, 120), slice(10, 114))  # rows, columns of the EMPIAR views kept for the SUBSETSTART case


def input_stack(name: str, shared: Path, local_dir: Path) -> tuple[np.ndarray, float]:
    """The stack ``name`` (float32 ``(views, ny, nx)``) and its pixel size in Angstrom."""
    import mrcfile

    if name == "jason64":
        with mrcfile.open(shared / JASON, permissive=True) as mrc:
            return mrc.data.astype(np.float32), float(mrc.voxel_size.x)
    if name == "sim":
        with mrcfile.open(local_dir / "sim_views.mrc", permissive=True) as mrc:
            return mrc.data.astype(np.float32), float(mrc.voxel_size.x)
    with mrcfile.open(shared / EMPIAR, permissive=True) as mrc:
        u8 = mrc.data.view(np.uint8).astype(np.float32)  # IMOD reads mode-0 bytes as unsigned
    if name == "empiar_u8":
        return u8, 4.0
    if name == "empiar_bin2":
        nv, ny, nx = u8.shape
        return u8.reshape(nv, ny // 2, 2, nx // 2, 2).mean(axis=(2, 4), dtype=np.float32), 8.0
    if name == "empiar_subset":
        return np.ascontiguousarray(u8[:, SUBSET[0], SUBSET[1]]), 4.0
    raise ValueError(f"unknown reference input {name!r}")
