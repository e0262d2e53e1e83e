"""The compiled flat projector pair (projectors/flat.c): the sample rule against a plain NumPy model, every chunk
width and view group, strided projections, exact transposes, and results independent of the number of threads."""

import numpy as np
import pytest

from tiltrec.projectors import flat_kernels as fk
from tiltrec.projectors.recycled import aligned_zeros


def _case(nv, nz, nx, ny, ncol=None, seed=0, span=70.0):
    """Coefficients of a flat slab (tilts up to ``span`` deg, some samples off the projection) and random data."""
    rng = np.random.default_rng(seed)
    ncol = ncol or nx
    theta = np.deg2rad(np.linspace(-span, span, nv)) if nv > 1 else np.array([0.3])
    z = np.arange(nz) + 1.0 - (nz / 2 + 0.5)
    u_row = (ncol / 2 - 0.5 + (0.5 - nx / 2) * np.cos(theta) + rng.uniform(-3, 3, nv))[:, None] \
        - np.sin(theta)[:, None] * z[None, :]
    u_row = np.ascontiguousarray(u_row, dtype=np.float32)
    u_dx = np.cos(theta).astype(np.float32)
    P = rng.standard_normal((nv, ncol, ny)).astype(np.float32)
    V = rng.standard_normal((nz, nx, ny)).astype(np.float32)
    return P, V, u_row, u_dx


def _samples(u_row, u_dx, nx, ncol):
    """Columns and weights of every (view, z, x) in float64 from the float32 coefficients; -1 outside the range."""
    u = u_row.astype(np.float64)[:, :, None] + np.arange(nx)[None, None, :] * u_dx.astype(np.float64)[:, None, None]
    valid = (u >= 0) & (u < ncol - 1)
    i = np.where(valid, np.floor(np.where(valid, u, 0)), -1).astype(np.int64)
    f = np.where(valid, u - np.maximum(i, 0), 0.0)
    return i, f, valid


def _back_model(P, u_row, u_dx, nz, nx):
    nv, ncol, ny = P.shape
    i, f, valid = _samples(u_row, u_dx, nx, ncol)
    out = np.zeros((nz, nx, ny))
    for t in range(nv):
        ii = np.maximum(i[t], 0)
        a, b = P[t][ii].astype(np.float64), P[t][np.minimum(ii + 1, ncol - 1)].astype(np.float64)
        out += np.where(valid[t][..., None], (1 - f[t])[..., None] * a + f[t][..., None] * b, 0.0)
    return out


def _forward_model(V, u_row, u_dx, ncol):
    nz, nx, ny = V.shape
    nv = u_dx.shape[0]
    i, f, valid = _samples(u_row, u_dx, nx, ncol)
    out = np.zeros((nv, ncol + 1, ny))
    for t in range(nv):
        for z in range(nz):
            ok = valid[t, z]
            np.add.at(out[t], i[t, z][ok], (1 - f[t, z][ok])[:, None] * V[z][ok])
            np.add.at(out[t], i[t, z][ok] + 1, f[t, z][ok][:, None] * V[z][ok])
    return out[:, :ncol]


SHAPES = [  # views, thickness, columns, Y values: groups of 8 views and their rest, every chunk width and lane tail
    (1, 5, 19, 3), (3, 7, 40, 8), (9, 6, 150, 13), (17, 5, 33, 64), (8, 9, 21, 88), (11, 4, 140, 130),
]


@pytest.mark.parametrize("nv,nz,nx,ny", SHAPES)
def test_back_projection_follows_the_sample_rule(nv, nz, nx, ny):
    P, V, u_row, u_dx = _case(nv, nz, nx, ny)
    expect = V.astype(np.float64) + _back_model(P, u_row, u_dx, nz, nx)
    fk.back_flat(P, V, u_row, u_dx, 2)
    np.testing.assert_allclose(V, expect, rtol=2e-5, atol=2e-5 * np.abs(expect).max())


@pytest.mark.parametrize("nv,nz,nx,ny", SHAPES)
def test_forward_projection_follows_the_sample_rule(nv, nz, nx, ny):
    P, V, u_row, u_dx = _case(nv, nz, nx, ny, seed=1)
    expect = P.astype(np.float64) + _forward_model(V, u_row, u_dx, P.shape[1])
    fk.forward_flat(V, P, u_row, u_dx, 2)
    np.testing.assert_allclose(P, expect, rtol=2e-5, atol=2e-5 * np.abs(expect).max())


def test_the_pair_are_exact_transposes():
    P, V, u_row, u_dx = _case(23, 12, 70, 40, ncol=81, seed=2)
    back, fwd = np.zeros_like(V), np.zeros_like(P)
    fk.back_flat(P, back, u_row, u_dx, 2)
    fk.forward_flat(V, fwd, u_row, u_dx, 2)
    lhs, rhs = np.dot(fwd.ravel().astype(np.float64), P.ravel()), np.dot(V.ravel().astype(np.float64), back.ravel())
    assert abs(lhs - rhs) / (np.linalg.norm(fwd) * np.linalg.norm(P)) < 1e-6


@pytest.mark.parametrize("ny", [72, 75])
@pytest.mark.parametrize("nv", [1, 6, 61])
def test_results_do_not_depend_on_the_threads(nv, ny):
    """Bit for bit with 1, 2 and 3 threads: also across the forward task widths that the thread count selects
    (75 rows: the last 3 as a vector's lanes in some, one at a time in others)."""
    P, V, u_row, u_dx = _case(nv, 33, 90, ny, seed=3)
    backs, fwds = [], []
    for threads in (1, 2, 3):
        back, fwd = V.copy(), P.copy()
        fk.back_flat(P, back, u_row, u_dx, threads)
        fk.forward_flat(V, fwd, u_row, u_dx, threads)
        backs.append(back)
        fwds.append(fwd)
    for back, fwd in zip(backs[1:], fwds[1:]):
        assert np.array_equal(back, backs[0]) and np.array_equal(fwd, fwds[0])


@pytest.mark.parametrize("nv", [5, 61])
def test_a_value_does_not_depend_on_whether_its_row_falls_in_a_vector_or_the_last_lanes(nv):
    """Rows 16-19 of 40 are in a whole vector; of a slab of 20 (what one of two MPI ranks gets) in its last lanes,
    which take the scalar path: the same sums bit for bit, whichever copy of the kernels this CPU runs (the
    AVX-512 copy once fused its scalar lanes only)."""
    P, V, u_row, u_dx = _case(nv, 7, 60, 40, seed=8)
    back, fwd = V.copy(), P.copy()
    fk.back_flat(P, back, u_row, u_dx, 2)
    fk.forward_flat(V, fwd, u_row, u_dx, 2)
    for rows in (slice(0, 20), slice(20, 40), slice(3, 16)):
        part_back, part_fwd = np.ascontiguousarray(V[:, :, rows]), np.ascontiguousarray(P[:, :, rows])
        fk.back_flat(np.ascontiguousarray(P[:, :, rows]), part_back, u_row, u_dx, 2)
        fk.forward_flat(np.ascontiguousarray(V[:, :, rows]), part_fwd, u_row, u_dx, 2)
        assert np.array_equal(part_back, back[:, :, rows]), rows
        assert np.array_equal(part_fwd, fwd[:, :, rows]), rows


@pytest.mark.parametrize("ny", [136, 139, 13, 190, 200])
def test_every_row_has_the_same_sums_as_when_projected_alone(ny):
    """The last rows as the vector that ends with them, only those lanes kept: with AVX-512's 16-float vectors, the
    forward projection's 136, 139 and 190 rows take one pass (8 or 11 whole vectors and that last one), 200 two
    bands of 112 and 88 (5 and the last); with 8-float vectors chunks of up to 64 and the last 8; 13 and 139 rows
    end with 5 and 3 lanes in either.  One row alone takes the scalar path.  Each row's forward and back-projection
    bit for bit the same either way."""
    P, V, u_row, u_dx = _case(61, 5, 48, ny, seed=9)
    fwd, back = P.copy(), V.copy()
    fk.forward_flat(V, fwd, u_row, u_dx, 2)
    fk.back_flat(P, back, u_row, u_dx, 2)
    for row in range(ny):
        fwd_alone, back_alone = np.ascontiguousarray(P[:, :, row:row + 1]), np.ascontiguousarray(V[:, :, row:row + 1])
        fk.forward_flat(np.ascontiguousarray(V[:, :, row:row + 1]), fwd_alone, u_row, u_dx, 2)
        fk.back_flat(np.ascontiguousarray(P[:, :, row:row + 1]), back_alone, u_row, u_dx, 2)
        assert np.array_equal(fwd_alone[:, :, 0], fwd[:, :, row]), row
        assert np.array_equal(back_alone[:, :, 0], back[:, :, row]), row


def test_projections_may_be_strided_views_of_a_larger_array():
    """Views and columns with gaps between them, rows longer than the volume's Y: only the rows' first values count."""
    P, V, u_row, u_dx = _case(10, 6, 50, 24, seed=4)
    big = aligned_zeros((10, 60, 37))
    strided = big[:, 3:53, 5:29]
    strided[...] = P
    back_plain, back_strided = V.copy(), V.copy()
    fk.back_flat(P, back_plain, u_row, u_dx, 2)
    fk.back_flat(strided, back_strided, u_row, u_dx, 2)
    assert np.array_equal(back_plain, back_strided)
    fwd_plain = np.zeros_like(P)
    big[...] = 0
    fk.forward_flat(V, fwd_plain, u_row, u_dx, 2)
    fk.forward_flat(V, strided, u_row, u_dx, 2)
    assert np.array_equal(fwd_plain, strided)
    assert not big[:, :3].any() and not big[:, 53:].any() and not big[:, :, :5].any() and not big[:, :, 29:].any()


@pytest.mark.parametrize("ny", [5, 24, 88])
def test_voxels_beyond_the_projections_of_some_or_all_views(ny):
    """An X-padded width (the iterative methods'): many voxels lack a sample in some views, the outer ones in all;
    the views with a sample add theirs, in view order, and a voxel no view sees keeps its value."""
    P, V, u_row, u_dx = _case(19, 6, 150, ny, ncol=60, seed=5, span=50.0)
    seen_by = _samples(u_row, u_dx, 150, 60)[2].sum(axis=0)
    unseen = seen_by == 0
    assert unseen.any() and ((seen_by > 0) & (seen_by < 19)).any()
    expect = V.astype(np.float64) + _back_model(P, u_row, u_dx, 6, 150)
    before = V.copy()
    fk.back_flat(P, V, u_row, u_dx, 2)
    np.testing.assert_allclose(V, expect, rtol=2e-5, atol=2e-5 * np.abs(expect).max())
    assert np.array_equal(V[unseen], before[unseen])
    # and the forward projection takes the same samples (it skips the columns without one)
    expect = P.astype(np.float64) + _forward_model(before, u_row, u_dx, 60)
    fk.forward_flat(before, P, u_row, u_dx, 2)
    np.testing.assert_allclose(P, expect, rtol=2e-5, atol=2e-5 * np.abs(expect).max())


@pytest.mark.parametrize("u0,step", [(-3.0, 0.75), (-0.25, 1.0), (0.0, 0.5), (-1e-7, 0.33333334), (2.5, 0.125),
                                     (-40.0, 0.9), (10.0, 0.7)])
def test_the_forward_projection_takes_exactly_the_columns_with_a_sample(u0, step):
    """The run of columns with 0 <= u < ncol - 1 that the forward projection visits, at its ends included: one
    voxel of ones per column, so each column's projection says which voxels added to it."""
    ncol, nx = 12, 24
    u_row, u_dx = np.array([[u0]], np.float32), np.array([step], np.float32)
    i, f, valid = _samples(u_row, u_dx, nx, ncol)
    for x in range(nx):
        V = np.zeros((1, nx, 8), np.float32)
        V[0, x] = 1.0
        P = np.zeros((1, ncol, 8), np.float32)
        fk.forward_flat(V, P, u_row, u_dx, 1)
        expect = np.zeros(ncol)
        if valid[0, 0, x]:
            expect[i[0, 0, x]] += 1 - f[0, 0, x]
            expect[i[0, 0, x] + 1] += f[0, 0, x]
        np.testing.assert_allclose(P[0, :, 3], expect, atol=1e-7)


def test_a_sample_whose_weight_on_its_first_column_rounds_to_zero_still_adds():
    """u = 0.99999994 + 3 x 0.33333334 = 1.99999997: f = u - 1 rounds to 1 in float32, so g = 1 - f is 0 and the
    sample adds all of column 2 (it has a sample: it must not be taken for a view without one)."""
    P = np.zeros((1, 4, 8), np.float32)
    P[0, 1], P[0, 2] = 5.0, 3.0
    V = np.zeros((1, 4, 8), np.float32)
    fk.back_flat(P, V, np.array([[np.float32(0.99999994)]]), np.array([np.float32(0.33333334)]), 1)
    assert np.array_equal(V[0, 3], np.full(8, 3.0, np.float32))


def test_a_voxel_on_the_last_column_has_no_sample():
    """IMOD's legal range: u == ncol - 1 exactly adds nothing, u just below adds the last two columns."""
    P = np.zeros((1, 4, 8), np.float32)
    P[0, 2], P[0, 3] = 1.0, 2.0
    V = np.zeros((1, 2, 8), np.float32)
    fk.back_flat(P, V, np.array([[2.75]], np.float32), np.array([0.25], np.float32), 1)
    assert np.allclose(V[0, 0], 1.75) and not V[0, 1].any()


@pytest.mark.parametrize("nv,ny,ncol", [(19, 24, 60), (19, 5, 60), (9, 88, 150), (0, 8, 60)])
def test_a_back_projection_that_overwrites_equals_one_added_to_zeros(nv, ny, ncol):
    """overwrite=True (a back-projection into a volume whose values are not set): bit for bit the sum into zeros,
    with voxels that no view sees (or no views at all) set to zero; the old values (NaN here) are never read."""
    P, V, u_row, u_dx = _case(max(nv, 1), 6, 150, ny, ncol=ncol, seed=6, span=50.0)
    P, u_row, u_dx = P[:nv], u_row[:nv], u_dx[:nv]
    added = np.zeros_like(V)
    fk.back_flat(P, added, u_row, u_dx, 2)
    written = np.full_like(V, np.nan)
    fk.back_flat(P, written, u_row, u_dx, 2, overwrite=True)
    assert np.array_equal(written, added)


@pytest.mark.parametrize("nv,ny,positivity", [(19, 24, True), (8, 88, False), (9, 5, True), (1, 16, False),
                                              (0, 8, True)])
def test_the_back_projection_added_as_an_update_equals_the_two_steps(nv, ny, positivity):
    """add_to=x: x <- x + weight * (the back-projection), max 0 with positivity, bit for bit what add_weighted does
    with the stored back-projection; with groups of views (9, 19), voxels the last group does not see (the padded
    width), NaN, infinite and negative values in x and zero weights."""
    from tiltrec.projectors import elementwise

    P, _, u_row, u_dx = _case(max(nv, 1), 6, 150, ny, ncol=60, seed=8, span=50.0)
    P, u_row, u_dx = P[:nv], u_row[:nv], u_dx[:nv]
    rng = np.random.default_rng(9)
    x = rng.standard_normal((6, 150, ny)).astype(np.float32)
    x.flat[::97], x.flat[1::89], x.flat[2::101] = np.nan, -np.inf, -0.0
    weight = rng.uniform(0, 2, x.shape).astype(np.float32)
    weight.flat[::13] = 0.0
    update = np.zeros_like(x)
    fk.back_flat(P, update, u_row, u_dx, 2)
    expect = x.copy()
    elementwise.add_weighted(expect.reshape(-1), update.reshape(-1), weight.reshape(-1), positivity)
    fused, scratch = x.copy(), np.full_like(x, np.nan)
    fk.back_flat(P, scratch, u_row, u_dx, 2, overwrite=True, add_to=fused, weight=weight, positivity=positivity)
    np.testing.assert_array_equal(fused, expect)
    assert np.array_equal(np.signbit(fused), np.signbit(expect))


@pytest.mark.parametrize("nv,ny,factor,shift", [
    (19, 24, 1 / 19, -3.7), (8, 88, 0.3, 0.1), (9, 5, 1 / 9, 12.25), (1, 16, -2.0, 0.0), (0, 8, 0.5, 1.5)])
def test_the_back_projection_scaled_in_its_last_group_equals_the_two_steps(nv, ny, factor, shift):
    """scale=(factor, shift): every voxel is the back-projection * factor + shift as scale_add computes it from the
    stored back-projection (the product rounded, then the sum): with groups of views (9, 19), voxels the last group
    does not see (the padded width), NaN and infinities among the projections, and no views at all."""
    from tiltrec.projectors import elementwise

    P, _, u_row, u_dx = _case(max(nv, 1), 6, 150, ny, ncol=60, seed=10, span=50.0)
    P, u_row, u_dx = P[:nv], u_row[:nv], u_dx[:nv]
    if nv:
        P = P.copy()
        P[0, 7, 3], P[-1, 20, ny - 1], P[nv // 2, 33, 0] = np.nan, np.inf, -np.inf
    expect = np.zeros((6, 150, ny), np.float32)
    fk.back_flat(P, expect, u_row, u_dx, 2)
    elementwise.scale_add(expect.reshape(-1), factor, shift)
    scaled = np.full_like(expect, np.nan)
    fk.back_flat(P, scaled, u_row, u_dx, 2, overwrite=True, scale=(factor, shift))
    np.testing.assert_array_equal(scaled, expect)
    assert np.array_equal(np.signbit(scaled), np.signbit(expect))


def test_projections_beyond_32_bit_offsets_are_refused_before_any_read():
    """The back-projection addresses the views of a group with int offsets: a view stride of 2^31 floats is refused
    (the strided array below is never read: its views lie far outside the buffer)."""
    buffer = np.zeros((4, 8), np.float32)
    P = np.lib.stride_tricks.as_strided(buffer, shape=(2, 4, 8), strides=(4 * 2 ** 31, 32, 4))
    V = np.zeros((1, 3, 8), np.float32)
    with pytest.raises(ValueError, match="32-bit offsets"):
        fk.back_flat(P, V, np.zeros((2, 1), np.float32), np.ones(2, np.float32), 1)
    assert not V.any()


@pytest.mark.parametrize("change", ["float64", "volume not contiguous", "short rows", "read-only", "coefficients"])
def test_arrays_the_kernels_cannot_take_are_refused(change):
    P, V, u_row, u_dx = _case(4, 3, 10, 8)
    if change == "float64":
        V = V.astype(np.float64)
    elif change == "volume not contiguous":
        V = np.zeros((3, 10, 16), np.float32)[:, :, ::2]
    elif change == "short rows":
        P = P[:, :, :4]
    elif change == "read-only":
        V.flags.writeable = False
    else:
        u_row = u_row[:, :2]
    with pytest.raises(ValueError):
        fk.back_flat(P, V, u_row, u_dx, 1)
