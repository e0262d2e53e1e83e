"""The CPU slab projector: exact adjoint pair, IMOD geometry, slab and view-subset consistency."""

import numpy as np
import pytest

from reference_backprojector import backproject_reference
from tiltrec.geometry import Geometry
from tiltrec.projectors.cpu import CpuProjector

GEOMETRIES = {
    "flat": dict(nx=37, ny=23, angles=np.linspace(-61, 59, 11), thickness=13, width=41, offset=2.0, xshift=1.5,
                 zshift=-2.0),
    "pitched": dict(nx=37, ny=23, angles=np.linspace(-61, 59, 11), thickness=13, width=30, offset=-1.0, pitch=5.0,
                    xshift=-2.5, zshift=1.25),
}


@pytest.fixture(params=sorted(GEOMETRIES))
def geom(request):
    return Geometry(**GEOMETRIES[request.param])


def test_adjoint_dot_product(geom):
    rng = np.random.default_rng(0)
    op = CpuProjector(geom, 4, 17)
    x = rng.standard_normal(op.vol_shape).astype(np.float32)
    y = op.pack(rng.standard_normal((geom.nviews, op.r1 - op.r0, geom.nx)).astype(np.float32))
    ax, aty = op.forward(x), op.back(y)
    lhs = np.dot(ax.ravel().astype(np.float64), y.ravel())
    rhs = np.dot(x.ravel().astype(np.float64), aty.ravel())
    assert abs(lhs - rhs) / (np.linalg.norm(ax) * np.linalg.norm(y)) < 1e-5
    assert abs(lhs - rhs) / abs(lhs) < 1e-5


def test_back_projection_matches_plain_model():
    """Same samples and IMOD's legal range in X (views with zero first and last rows: the models differ only in
    whether a sample exactly on the last row counts)."""
    geom = Geometry(**GEOMETRIES["flat"])
    rng = np.random.default_rng(1)
    views = rng.random((geom.nviews, geom.ny, geom.nx)).astype(np.float32)
    views[:, :1] = views[:, -1:] = 0
    ref = backproject_reference(views, geom.angles, width=geom.width, thickness=geom.thickness,
                                offset=geom.offset, xshift=geom.xshift, zshift=geom.zshift)
    op = CpuProjector(geom, 0, geom.ny)
    ours = op.back(op.pack(views[:, op.r0:op.r1])).transpose(2, 0, 1)
    np.testing.assert_allclose(ours, ref, atol=2e-5 * np.abs(ref).max())


def linear_views(geom, seed: int = 5) -> np.ndarray:
    """Views that are linear in column and row, different per view: bilinear interpolation is exact on them."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:geom.ny, 0:geom.nx]
    c = rng.standard_normal((geom.nviews, 3, 1, 1))
    return (c[:, 0] + 0.1 * c[:, 1] * cols + 0.1 * c[:, 2] * rows + 5).astype(np.float32)


@pytest.mark.parametrize("pitch", [5.0, -12.0])
def test_pitch_frame_is_exact_where_interpolation_is(pitch):
    """With one X-axis tilt, the projector back-projects into the tilted frame and interpolates the slab from it
    (pitch_frame.py).  Both steps are exact for views linear in column and row, so inside the views it equals the
    single bilinear interpolation of the plain model."""
    geom = Geometry(nx=64, ny=40, angles=np.linspace(-55, 50, 9), thickness=12, width=30, offset=1.0, pitch=pitch,
                    xshift=-1.5, zshift=0.75)
    views = linear_views(geom)
    ref = backproject_reference(views, geom.angles, width=geom.width, thickness=geom.thickness, offset=geom.offset,
                                pitch=pitch, xshift=geom.xshift, zshift=geom.zshift)
    y0, y1 = 8, 32  # rows of every voxel's samples exist
    op = CpuProjector(geom, y0, y1)
    assert op.frame is not None
    ours = op.back(op.pack(views[:, op.r0:op.r1])).transpose(2, 0, 1)
    np.testing.assert_allclose(ours, ref[y0:y1], rtol=2e-5)


def test_slabs_assemble_the_whole_volume(geom):
    rng = np.random.default_rng(2)
    views = rng.random((geom.nviews, geom.ny, geom.nx)).astype(np.float32)
    whole_op = CpuProjector(geom, 0, geom.ny)
    whole = whole_op.back(whole_op.pack(views[:, whole_op.r0:whole_op.r1]))
    for y0, y1 in ((0, 7), (7, 8), (8, 23)):
        op = CpuProjector(geom, y0, y1)
        part = op.back(op.pack(views[:, op.r0:op.r1]))
        np.testing.assert_allclose(part, whole[:, :, y0:y1], rtol=1e-5, atol=1e-5)


def test_view_subsets_match_all_views(geom):
    rng = np.random.default_rng(3)
    op = CpuProjector(geom, 3, 12)
    x = rng.standard_normal(op.vol_shape).astype(np.float32)
    full = op.forward(x)
    np.testing.assert_allclose(op.forward(x, views=slice(4, 6)), full[4:6], rtol=1e-6, atol=1e-6)
    # one view: its thickness rows are split into partial sums (cpu.FORWARD_TASKS), as when SART projects
    np.testing.assert_allclose(op.forward(x, views=slice(3, 4)), full[3:4], rtol=1e-5, atol=1e-5)
    back_all = op.back(full)
    back_sum = op.zeros_volume()
    for t in range(geom.nviews):
        op.back(full[t:t + 1], out=back_sum, accumulate=True, views=slice(t, t + 1))
    np.testing.assert_allclose(back_sum, back_all, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("positivity", [False, True])
def test_element_wise_steps_equal_their_numpy_forms(positivity):
    """SIRT's and SART's update steps, one fused pass each on the CPU, against the plain NumPy expressions."""
    op = CpuProjector(Geometry(**GEOMETRIES["flat"]), 2, 9)
    rng = np.random.default_rng(7)
    measured, projected, weight = (rng.standard_normal(op.proj_shape, dtype=np.float32) for _ in range(3))
    x, update, vweight = (rng.standard_normal(op.vol_shape, dtype=np.float32) for _ in range(3))
    expected_residual = (measured - projected) * weight
    expected_x = x + update * vweight
    if positivity:
        expected_x = np.maximum(expected_x, 0)
    projected.flat[5] = np.nan  # a NaN stays NaN, positivity or not
    expected_residual.flat[5] = np.nan
    x.flat[3] = np.nan
    expected_x.flat[3] = np.nan
    op.weighted_residual(measured, projected, weight)
    op.add_weighted(x, update, vweight, positivity)
    # the same float32 operations (compiled without FMAs): the same numbers
    np.testing.assert_array_equal(projected, expected_residual)
    np.testing.assert_array_equal(x, expected_x)
    scaled = x.copy()
    op.scale_add(scaled, 0.3183, -7.25)  # WBP's output scale: the product rounded, then the sum
    np.testing.assert_array_equal(scaled, (x * np.float32(0.3183)) + np.float32(-7.25))


def test_pitch_needs_a_halo_of_rows():
    geom = Geometry(**GEOMETRIES["pitched"])
    r0, r1 = geom.rows_needed(8, 12)
    assert r0 < 8 and r1 > 12
    assert Geometry(**GEOMETRIES["flat"]).rows_needed(8, 12) == (8, 12)


def test_a_point_projects_where_imod_puts_it():
    """One voxel right of and above the centre moves right at positive tilt (IMOD: xproj = X cos t - Z sin t)."""
    geom = Geometry(nx=32, ny=1, angles=[30.0], thickness=16)
    op = CpuProjector(geom, 0, 1)
    vol = op.zeros_volume()
    z, x = 8 + 4, 16 + 0  # Z = +4 (0-based row 12 is i = 13, zcen = 8.5), X = 0.5
    vol[z, x, 0] = 1.0
    view = op.unpack(op.forward(vol))[0, 0]
    X, Z, t = (x + 1) - 16.5, (z + 1) - 8.5, np.radians(30.0)
    expected = 16.5 + X * np.cos(t) - Z * np.sin(t) - 1  # 0-based column
    assert abs(np.sum(view * np.arange(32)) / view.sum() - expected) < 1e-5


@pytest.mark.parametrize("rows", [(2, 9), (0, 23)])
def test_the_weights_of_one_row_repeated_equal_the_whole_slab(geom, rows):
    """SIRT's and SART's A 1 and A^T 1: on a flat geometry one row computed and repeated (every Y lane takes the
    same operations in the flat kernels), elsewhere the whole slab; the same numbers either way."""
    op = CpuProjector(geom, *rows)
    ones_volume, ones_projections = op.zeros_volume(), op.zeros_projections()
    ones_volume[...] = 1.0
    ones_projections[...] = 1.0
    assert op._rows_alike() == (not geom.has_pitch)
    np.testing.assert_array_equal(op.forward_ones(), op.forward(ones_volume))
    np.testing.assert_array_equal(op.back_ones(), op.back(ones_projections))


def test_a_back_projection_into_a_used_volume_replaces_its_values(geom):
    """back(proj, out=vol) without accumulate: the same numbers as into a new volume whatever vol held (the flat
    kernel writes every voxel, other geometries zero it first); accumulate adds to them."""
    rng = np.random.default_rng(7)
    op = CpuProjector(geom, 3, 15)
    y = op.pack(rng.standard_normal((geom.nviews, op.r1 - op.r0, geom.nx)).astype(np.float32))
    fresh = op.back(y)
    used = np.full(op.vol_shape, np.nan, np.float32)
    assert op.back(y, out=used) is used and np.array_equal(used, fresh)
    before = rng.standard_normal(op.vol_shape).astype(np.float32)
    added = op.back(y, out=before.copy(), accumulate=True)
    np.testing.assert_allclose(added, before + fresh, rtol=1e-5, atol=1e-5)
    assert op._back_overwrites() == (not geom.has_pitch)


def test_wbp_s_scaled_back_projection_in_one_step_equals_back_projection_then_scale(geom):
    """back_scaled (the flat kernel scales its sums as it finishes them) gives A^T y * scale + add bit for bit as
    back() then scale_add(); geometries the kernel does not take run the two steps."""
    rng = np.random.default_rng(9)
    op = CpuProjector(geom, 3, 15)
    y = op.pack(rng.standard_normal((geom.nviews, op.r1 - op.r0, geom.nx)).astype(np.float32))
    expect = op.back(y)
    op.scale_add(expect, 1 / 7, -0.3)
    np.testing.assert_array_equal(op.back_scaled(y, 1 / 7, -0.3), expect)


@pytest.mark.parametrize("positivity", [False, True])
def test_sirt_s_update_in_one_step_equals_back_projection_then_add(geom, positivity):
    """back_add (the flat kernel adds its sums to x as it finishes them) gives x + weight * A^T y bit for bit as
    back() then add_weighted(); geometries the kernel does not take run the two steps."""
    rng = np.random.default_rng(8)
    op = CpuProjector(geom, 3, 15)
    y = op.pack(rng.standard_normal((geom.nviews, op.r1 - op.r0, geom.nx)).astype(np.float32))
    x = rng.standard_normal(op.vol_shape).astype(np.float32)
    weight = rng.uniform(0, 1, op.vol_shape).astype(np.float32)
    expect = x.copy()
    op.add_weighted(expect, op.back(y), weight, positivity)
    op.back_add(y, x, weight, positivity, scratch=op.zeros_volume())
    np.testing.assert_array_equal(x, expect)
