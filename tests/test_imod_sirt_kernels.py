"""The compiled projections of IMOD's SIRT (tiltrec.projectors.imod_sirt_kernels) against their SciPy sparse model
(imod_sirt_model.py, which reproduced IMOD's SIRT references), and their independence of the number of threads.

Tolerances: both sides compute in float64.  The back-projection adds, per voxel and view, the same two products in
the same order as the model's sparse product, so the two agree to a few float64 roundings of the sum: 1e-12 of
``nviews x`` the largest input leaves a wide margin above that (about 1e-16 per addition) and far below any wrong
weight or column.  The reprojection sums the same float64 samples in another order (the model's matrix first merges
the samples that share a voxel), about 1e-15 of the sum apart, then both round to float32: the results are equal or
one float32 unit in the last place apart.  The slices are positive there, so no sum cancels to below its terms.
"""

import numpy as np
import pytest

import imod_sirt_model as model
from tiltrec.algorithms.imod_sirt import trig
from tiltrec.projectors import imod_sirt_kernels as k

# shallow and steep views: beyond about 45 degrees (less when the slice is thicker than wide) rays go along X
ANGLES = np.array([-89.0, -72.5, -60.0, -46.0, -45.0, -30.0, -0.3, 0.0, 7.5, 44.0, 52.0, 67.0, 80.0, 88.5])
# (nx, width, thickness, rows): odd and even sizes, slices thicker than wide, width != nx, rows not a whole block,
# the thinnest slices
GEOMETRIES = [(32, 32, 12, 11), (33, 33, 21, 5), (40, 31, 10, 9), (30, 37, 8, 8), (17, 17, 24, 3), (24, 24, 2, 2),
              (24, 24, 1, 2)]


def _plan(nx, width, thick, angles=ANGLES):
    cb, sb = np.array([trig(float(a)) for a in angles]).T
    return k.plan(cb, sb, nx, width, thick)


def _back(p, lines, fill, threads=2):
    xb = k.blocks(len(fill), p.thick, p.width)
    k.back(p, lines, fill, xb, 1.0, threads)
    return k.from_blocks(xb, len(fill)).transpose(2, 0, 1).reshape(len(fill), -1)


def _reproject(p, x, views=None, threads=2):
    nrows = len(x)
    out = np.empty((p.nviews, nrows, p.width), np.float32)
    k.reproject(p, k.to_blocks(x.reshape(nrows, p.thick, p.width)), nrows, out, views, threads)
    return out


@pytest.mark.parametrize("nx, width, thick, nrows", GEOMETRIES)
def test_back_projection_equals_the_sparse_model(nx, width, thick, nrows):
    rng = np.random.default_rng(nx * width + thick)
    lines = rng.normal(1.0, 0.5, (len(ANGLES), nrows, nx)).astype(np.float32)
    fill = rng.normal(0.0, 1.0, nrows)
    expected = model.backproject(ANGLES, lines, fill, width, thick)
    scale = len(ANGLES) * max(np.abs(lines).max(), np.abs(fill).max())
    np.testing.assert_allclose(_back(_plan(nx, width, thick), lines, fill), expected, rtol=0, atol=1e-12 * scale)


def test_back_projection_reads_strided_rows_and_subtracts():
    """Rows longer than nx (the padded filter output) are read up to nx; a negative scale subtracts."""
    p, rng = _plan(20, 20, 9), np.random.default_rng(5)
    padded = rng.normal(size=(len(ANGLES), 10, 27)).astype(np.float32)
    fill = rng.normal(size=10)
    xb = k.to_blocks(rng.normal(size=(10, 9, 20)))
    before = k.from_blocks(xb, 10)
    k.back(p, padded, fill, xb, -3.0, 1)
    once = k.blocks(10, 9, 20)
    k.back(p, np.ascontiguousarray(padded[:, :, :20]), fill, once, 3.0, 1)
    np.testing.assert_array_equal(k.from_blocks(xb, 10), before - k.from_blocks(once, 10))


# the reprojection does not depend on nx; the model's rays need two rows
@pytest.mark.parametrize("nx, width, thick, nrows", [g for g in GEOMETRIES if g[0] == g[1] and g[2] > 1])
def test_reprojection_equals_the_sparse_model(nx, width, thick, nrows):
    p = _plan(nx, width, thick)
    assert set(p.ray_views["along_z"]) == {0, 1}  # both ways through the slice are covered
    for v, angle in enumerate(ANGLES):  # the fill counts are the model's, exactly
        np.testing.assert_array_equal(p.fill[v], model.reprojector(float(angle), width, thick)[1])
    rng = np.random.default_rng(nx + thick)
    x = rng.uniform(0.5, 1.5, (nrows, thick * width))
    expected = model.reproject(ANGLES, x, width, thick)
    ours = _reproject(p, x)
    assert np.all(np.abs(ours - expected) <= np.spacing(np.abs(expected)))
    views = rng.normal(size=ours.shape).astype(np.float32)
    np.testing.assert_array_equal(_reproject(p, x, views), ours - views)


def test_results_do_not_depend_on_the_threads():
    p, rng = _plan(29, 29, 14), np.random.default_rng(3)
    nrows = 3 * k.LANES + 5  # four blocks, the last one partly used
    lines = rng.normal(size=(len(ANGLES), nrows, 29)).astype(np.float32)
    fill = rng.normal(size=nrows)
    x = rng.normal(size=(nrows, 14 * 29))
    back = [_back(p, lines, fill, threads) for threads in (1, 2, 3)]
    reprojected = [_reproject(p, x, threads=threads) for threads in (1, 2, 3)]
    for other in back[1:]:
        np.testing.assert_array_equal(other, back[0])
    for other in reprojected[1:]:
        np.testing.assert_array_equal(other, reprojected[0])


def test_layouts_round_trip_and_shapes_are_checked():
    x = np.random.default_rng(1).normal(size=(11, 4, 6))
    np.testing.assert_array_equal(k.from_blocks(k.to_blocks(x), 11), x.transpose(1, 2, 0))
    p = _plan(6, 6, 4)
    with pytest.raises(ValueError, match="float64 C-contiguous blocks"):
        k.back(p, np.zeros((len(ANGLES), 11, 6), np.float32), np.zeros(11), np.zeros((2, 4, 6, 8), np.float32), 1.0, 1)
    with pytest.raises(ValueError, match="need float32 C-contiguous"):
        k.reproject(p, k.to_blocks(x), 11, np.zeros((len(ANGLES), 11, 6)), None, 1)
