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


@pytest.mark.parametrize("nv", [1, 6, 61])
def test_results_do_not_depend_on_the_threads(nv):
    """Bit for bit with 1, 2 and 3 threads: also across the forward task widths that the thread count selects."""
    P, V, u_row, u_dx = _case(nv, 33, 90, 72, seed=3)
    backs, fwds = [], []
    for threads in (1, 2, 3):
        back, fwd = V.copy(), P.copy()
        fk.back_flat(P, back, u_row, u_dx, threads)
        fk.forward_flat(V, fwd, u_row, u_dx, threads)
        backs.append(back)
        fwds.append(fwd)
    for back, fwd in zip(backs[1:], fwds[1:]):
        assert np.array_equal(back, backs[0]) and np.array_equal(fwd, fwds[0])


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


def test_a_voxel_on_the_last_column_has_no_sample():
    """IMOD's legal range: u == ncol - 1 exactly adds nothing, u just below adds the last two columns."""
    P = np.zeros((1, 4, 8), np.float32)
    P[0, 2], P[0, 3] = 1.0, 2.0
    V = np.zeros((1, 2, 8), np.float32)
    fk.back_flat(P, V, np.array([[2.75]], np.float32), np.array([0.25], np.float32), 1)
    assert np.allclose(V[0, 0], 1.75) and not V[0, 1].any()


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
