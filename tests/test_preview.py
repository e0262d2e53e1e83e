"""Orthogonal-slice previews and single-slice PNGs."""

import numpy as np
import pytest
from PIL import Image

from tiltrec.preview import orthoslices, write_image, write_preview


def _ramp(ny, nz, nx):
    y, z, x = np.ogrid[:ny, :nz, :nx]
    return (y * 10000 + z * 100 + x).astype(np.float32)


@pytest.mark.parametrize("shape", [(9, 5, 7), (10, 6, 8)])
def test_orthoslices_shapes_and_centre(shape):
    vol = _ramp(*shape)
    xy, xz, yz = orthoslices(vol)
    ny, nz, nx = shape
    assert xy.shape == (ny, nx) and xz.shape == (nz, nx) and yz.shape == (ny, nz)
    assert xy.dtype == np.float32
    assert np.array_equal(xy, vol[:, (nz - 1) // 2, :])
    assert np.array_equal(xz, vol[(ny - 1) // 2])
    assert np.array_equal(yz, vol[:, :, (nx - 1) // 2])


@pytest.mark.parametrize("n, slab, planes", [(7, 3, [2, 3, 4]), (8, 2, [3, 4]), (8, 3, [2, 3, 4]),
                                             (4, 9, [0, 1, 2, 3])])
def test_orthoslices_slab_average(n, slab, planes):
    vol = _ramp(5, n, 6)
    xy = orthoslices(vol, slab=slab)[0]
    assert np.allclose(xy, vol[:, planes, :].mean(axis=1))


def test_preview_pixel_exact_size(tmp_path):
    ny, nz, nx = 300, 41, 280
    path = tmp_path / "p.png"
    write_preview(np.random.default_rng(0).normal(size=(ny, nz, nx)), path)
    with Image.open(path) as im:
        assert im.size == (nx + 2 + nz, ny + 2 + nz) and im.mode == "L"
    assert [p.name for p in tmp_path.iterdir()] == ["p.png"]  # no temporary file left


@pytest.mark.parametrize("shape", [(20, 11, 30), (21, 10, 31)])
def test_small_preview_is_enlarged(tmp_path, shape):
    ny, nz, nx = shape
    f = -(-254 // (max(ny, nx) + nz))  # smallest factor giving >= 256 px
    path = tmp_path / "small.png"
    write_preview(_ramp(*shape), path)
    with Image.open(path) as im:
        assert im.size == (f * (nx + nz) + 2, f * (ny + nz) + 2)
        assert max(im.size) >= 256
        a = np.asarray(im)
    assert np.all(a[f * ny : f * ny + 2] == 0)  # gap rows between XY and XZ


@pytest.mark.parametrize("shape", [(64, 33, 48), (64, 32, 48)])
def test_xz_panel_has_high_z_at_top(tmp_path, shape):
    ny, nz, nx = shape
    vol = np.broadcast_to(np.linspace(0, 0.5, nx, dtype=np.float32), shape).copy()
    vol[(ny - 1) // 2, nz - 3, 10] = 1.0  # bright voxel near the top of the central XZ plane
    path = tmp_path / "xz.png"
    write_preview(vol, path)
    with Image.open(path) as im:
        a = np.asarray(im)
    f = -(-254 // (max(ny, nx) + nz))
    column = a[f * ny + 2 :, f * 10]  # x = 10 in the XZ panel
    rows = np.nonzero(column == 255)[0]
    assert rows.size == f and np.all(rows // f == 2)  # z = nz - 3: third row from the top


def test_preview_title_strip(tmp_path):
    vol = np.random.default_rng(1).normal(size=(256, 20, 256))
    write_preview(vol, tmp_path / "plain.png")
    write_preview(vol, tmp_path / "titled.png", title="seed 0")
    with Image.open(tmp_path / "plain.png") as plain, Image.open(tmp_path / "titled.png") as titled:
        assert titled.width == plain.width and titled.height > plain.height
        strip = np.asarray(titled)[: titled.height - plain.height]
        assert strip.max() > 0  # text was drawn
        assert np.array_equal(np.asarray(titled)[titled.height - plain.height :], np.asarray(plain))


def test_contrast_is_robust(tmp_path):
    img = np.random.default_rng(2).normal(size=(300, 300))
    img[0, 0] = 1e6  # one outlier must not flatten the rest
    write_image(img, tmp_path / "slice.png")
    with Image.open(tmp_path / "slice.png") as im:
        a = np.asarray(im)
    assert a.shape == (300, 300)
    assert 100 < a.mean() < 155 and a.std() > 30


def test_write_image_enlarges_small_and_handles_flat(tmp_path):
    write_image(np.ones((10, 40)), tmp_path / "flat.png")
    with Image.open(tmp_path / "flat.png") as im:
        assert im.size == (7 * 40, 7 * 10)
        assert np.all(np.asarray(im) == 128)
