"""The mapping of tiltrec's geometry onto ASTRA's ``parallel3d_vec`` (benchmarks/astra_gpu.py), checked on CPUs.

Random voxel centres are projected three ways: with ASTRA's definition of ``parallel3d_vec`` evaluated here in
NumPy (``P + t ray = d + u U + v V``; pixel ``(row, col)`` centred at ``d + (col - cols/2 + 0.5) U + (row - rows/2
+ 0.5) V``; voxel ``i`` of ``n`` at ``i + 0.5 - n/2``), with ASTRA's own ``projectPoint`` where this ASTRA has it,
and with tiltrec's model (docs/conventions.md) and its kernels' coefficients.  A slice without X-axis tilt is also
forward projected by ASTRA's CPU 2-D code.  Mappings with the mistakes one can make (a sign, a half pixel, an axis)
must fail the same comparison.
"""

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tiltrec.geometry import Geometry
from tiltrec.projectors.coefficients import SlabCoefficients

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the benchmarks package sits beside src/, not inside the installed tiltrec
    sys.path.insert(0, str(ROOT))

from benchmarks.astra_gpu import blob, geometries, model_position, slice_vectors, vectors  # noqa: E402

astra = pytest.importorskip("astra")

TOLERANCE = 1e-4  # pixels; the formulas are exact, so this is float64 round-off (and the kernels' float32)
WRONG = 0.25  # pixels: a wrong mapping is off by at least this much somewhere
BLOB_TOLERANCE = 0.02  # pixels: a blurred point's centroid in a discrete projection wobbles by ~0.002 (aliasing)
NPOINTS = 40

CASES = {
    "odd, no pitch": dict(nx=77, ny=45, angles=np.linspace(-58, 61, 23), thickness=33, width=81, offset=-2.5,
                          xshift=3.5, zshift=-2.25, slices=(5, 40)),
    "even, pitch 5": dict(nx=96, ny=64, angles=np.linspace(-60, 60, 25), thickness=40, width=90, offset=1.5,
                          xshift=-4.0, zshift=3.0, pitch=5.0, slices=(10, 50)),
    "odd, per-view pitch, axis offset": dict(nx=65, ny=51, angles=np.linspace(-45, 63, 19), thickness=27, width=61,
                                             offset=0.75, xshift=1.25, zshift=-1.5,
                                             pitch=np.linspace(-3, 4, 19), center_shift=(2.5, -1.5)),
}


def case_geometry(name: str) -> tuple[Geometry, int, int, int, int]:
    """The geometry, its slab ``[y0, y1)`` and the view rows ``[r0, r1)`` that slab needs."""
    geom = Geometry(**CASES[name])
    y0, y1 = geom.slices
    r0, r1 = geom.rows_needed(y0, y1)
    return geom, y0, y1, r0, r1


def random_voxels(geom: Geometry, y0: int, y1: int, seed: int = 0) -> np.ndarray:
    """``NPOINTS`` random voxels as (slab slice, thickness row, column) indices, 0-based."""
    rng = np.random.default_rng(seed)
    return np.stack([rng.integers(0, n, NPOINTS) for n in (y1 - y0, geom.thickness, geom.width)], axis=1)


def astra_centres(vol_geom: dict, voxels: np.ndarray) -> np.ndarray:
    """World positions (x, y, z) of voxel centres ``[slice, row, col]`` in ASTRA's 3-D volume geometry."""
    o = vol_geom["option"]
    counts = (vol_geom["GridColCount"], vol_geom["GridRowCount"], vol_geom["GridSliceCount"])
    lows = (o["WindowMinX"], o["WindowMinY"], o["WindowMinZ"])
    highs = (o["WindowMaxX"], o["WindowMaxY"], o["WindowMaxZ"])
    index = voxels[:, ::-1]  # (col, row, slice) for (x, y, z)
    return np.stack([lo + (index[:, a] + 0.5) * (hi - lo) / n
                     for a, (lo, hi, n) in enumerate(zip(lows, highs, counts))], axis=1)


def astra_pixels(vecs: np.ndarray, points: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """(col, row) detector coordinates, 0-based with pixel centres at whole numbers, of ``points`` (n, 3) in every
    view: ASTRA's parallel3d_vec definition, solved per view.  Shape (n, nviews, 2)."""
    out = np.empty((len(points), len(vecs), 2))
    for t, vec in enumerate(vecs):
        ray, d, U, V = vec[0:3], vec[3:6], vec[6:9], vec[9:12]
        _, u, v = np.linalg.solve(np.stack([ray, -U, -V], axis=1), (d[None, :] - points).T)
        out[:, t, 0] = u + cols / 2 - 0.5
        out[:, t, 1] = v + rows / 2 - 0.5
    return out


def model_pixels(geom: Geometry, voxels: np.ndarray, y0: int, r0: int) -> np.ndarray:
    """(col, row) where tiltrec's model puts the voxels, rows counted from ``r0``; shape (n, nviews, 2)."""
    out = np.empty((len(voxels), geom.nviews, 2))
    for n, (k, i, j) in enumerate(voxels):
        col, row = model_position(geom, j, i, y0 + k)
        out[n, :, 0], out[n, :, 1] = col, row - r0
    return out


def mapped(geom, y0, y1, r0, r1, vecs=None) -> np.ndarray:
    """Where the mapping's vectors (or ``vecs``) put the case's random voxels, by ASTRA's definition."""
    vol_geom, proj_geom = geometries(geom, y0, y1, (r0, r1))
    vecs = proj_geom["Vectors"] if vecs is None else vecs
    voxels = random_voxels(geom, y0, y1)
    return astra_pixels(vecs, astra_centres(vol_geom, voxels), r1 - r0, geom.nx)


@pytest.mark.parametrize("name", CASES)
def test_the_mapping_puts_voxels_where_tiltrec_projects_them(name):
    geom, y0, y1, r0, r1 = case_geometry(name)
    ours = model_pixels(geom, random_voxels(geom, y0, y1), y0, r0)
    assert np.abs(mapped(geom, y0, y1, r0, r1) - ours).max() < TOLERANCE


@pytest.mark.parametrize("name", CASES)
def test_the_kernels_coefficients_sample_there_too(name):
    """The affine coefficients every backend's kernels use (projectors/coefficients.py) give the same pixels."""
    geom, y0, y1, r0, r1 = case_geometry(name)
    c = SlabCoefficients.of(geom, y0, r0)
    voxels = random_voxels(geom, y0, y1)
    k, i, j = voxels.T
    u = c.u_row[:, i].astype(np.float64) + j * c.u_dx[:, None].astype(np.float64) + k * c.u_dy[:, None]
    r = c.r_row[:, i].astype(np.float64) + k * c.r_dy[:, None].astype(np.float64)
    kernels = np.stack([u.T, r.T], axis=2)
    assert np.abs(mapped(geom, y0, y1, r0, r1) - kernels).max() < TOLERANCE


@pytest.mark.parametrize("name", CASES)
def test_astras_own_geometry_code_agrees(name):
    """``astra.experimental.projectPoint`` (ASTRA's C++ geometry, no GPU needed) on the same vectors."""
    import astra.experimental

    project = getattr(astra.experimental, "projectPoint", None)
    if project is None:
        pytest.skip(f"ASTRA {astra.__version__} has no experimental.projectPoint")
    geom, y0, y1, r0, r1 = case_geometry(name)
    vol_geom, proj_geom = geometries(geom, y0, y1, (r0, r1))
    voxels = random_voxels(geom, y0, y1)
    points = astra_centres(vol_geom, voxels)
    theirs = np.array([[project(proj_geom, *p, t) for t in range(geom.nviews)] for p in points])
    assert np.abs(theirs - model_pixels(geom, voxels, y0, r0)).max() < TOLERANCE


def _vectors_of(geom):
    return vectors(geom, *geom.slices, geom.rows_needed(*geom.slices))


def _negated_angles(geom):
    return _vectors_of(replace(geom, angles=-geom.angles, offset=-geom.offset))


def _negated_pitch(geom):
    return _vectors_of(replace(geom, pitch=-geom.pitch))


def _half_pixel(geom):
    vecs = _vectors_of(geom)
    vecs[:, 3:6] += 0.5 * vecs[:, 6:9]
    return vecs


def _swapped_axes(geom):
    return _vectors_of(geom).reshape(-1, 4, 3)[:, :, [0, 2, 1]].reshape(-1, 12)


@pytest.mark.parametrize("mistake", [_negated_angles, _negated_pitch, _half_pixel, _swapped_axes],
                         ids=lambda f: f.__name__.strip("_"))
def test_a_wrong_mapping_fails_the_comparison(mistake):
    geom, y0, y1, r0, r1 = case_geometry("even, pitch 5")
    ours = model_pixels(geom, random_voxels(geom, y0, y1), y0, r0)
    assert np.abs(mapped(geom, y0, y1, r0, r1, vecs=mistake(geom)) - ours).max() > WRONG


def slice_error(geom: Geometry, vecs2d: np.ndarray) -> float:
    """Largest distance (pixels) between the centroid of ASTRA's CPU forward projection ('linear' projector) of a
    blurred point and the column where tiltrec's model projects the point, over a few points and every view."""
    vol_geom = astra.create_vol_geom(geom.thickness, geom.width)
    projector = astra.create_projector("linear", astra.create_proj_geom("parallel_vec", geom.nx, vecs2d), vol_geom)
    worst = 0.0
    try:
        for x, z in ((30, 12), (44, 20), (58, 26), (37, 24)):
            sid, sino = astra.create_sino(blob((geom.thickness, geom.width), (z, x), 2.0), projector)
            astra.data2d.delete(sid)
            centroid = (sino * np.arange(geom.nx)).sum(axis=1) / sino.sum(axis=1)
            worst = max(worst, float(np.abs(centroid - model_position(geom, x, z, 0)[0]).max()))
    finally:
        astra.projector.delete(projector)
    return worst


def test_a_slice_projects_where_astras_cpu_projector_puts_it():
    """The 2-D slice of the 3-D vectors (no pitch) with ASTRA's CPU code; the same vectors without the flip of
    ASTRA's 2-D rows (which run from +y down, unlike its 3-D axes) put the points elsewhere."""
    geom = Geometry(nx=96, ny=8, angles=np.linspace(-57, 63, 31), thickness=40, width=88, offset=1.5, xshift=2.5,
                    zshift=-3.0)
    assert slice_error(geom, slice_vectors(geom)) < BLOB_TOLERANCE
    unflipped = vectors(geom, 0, 1, (0, 1))[:, [0, 1, 3, 4, 6, 7]]
    assert slice_error(geom, unflipped) > WRONG


def test_the_data_shapes_are_tiltrecs():
    """ASTRA's volume is tiltrec's [y, z, x] as it is, its projections the series [view, row, col] as (1, 0, 2)."""
    geom, y0, y1, r0, r1 = case_geometry("even, pitch 5")
    vol_geom, proj_geom = geometries(geom, y0, y1, (r0, r1))
    assert astra.functions.geom_size(vol_geom) == (y1 - y0, geom.thickness, geom.width)
    assert astra.functions.geom_size(proj_geom) == (r1 - r0, geom.nviews, geom.nx)
    with pytest.raises(ValueError):
        slice_vectors(geom)
