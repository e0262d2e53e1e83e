"""tiltrec.formats: MRC and EMAN2 HDF5 reading and writing, IMOD text inputs."""

import math
import os
import struct
import warnings

import h5py
import mrcfile
import numpy as np
import pytest

from tiltrec.errors import InputError
from tiltrec.formats import (VolumeStats, VolumeWriter, open_stack, parse_view_list,
                             read_angles, read_volume, write_stack)

IMOD_STAMP = 1146047817
EMPIAR = "data/empiar10009/empiar_10009_128.mrc"
JASON = "data/jason64/jason64.ali"


def make_mrc(path, data, **patches):
    """Write ``data`` with mrcfile, then overwrite header fields given as offset=(fmt, values)."""
    with warnings.catch_warnings(), mrcfile.new(path, overwrite=True) as mrc:
        warnings.simplefilter("ignore")  # NaN data
        mrc.set_data(data)
    for offset, (fmt, *values) in patches.items():
        patch(path, int(offset.lstrip("_")), fmt, *values)
    return path


def patch(path, offset, fmt, *values):
    with open(path, "r+b") as stream:
        stream.seek(offset)
        stream.write(struct.pack(fmt if fmt[0] in "<>" else "<" + fmt, *values))


def bytes_file(tmp_path, raw, name="stack.mrc"):
    path = tmp_path / name
    path.write_bytes(raw)
    return path


def read_all(path):
    with open_stack(path) as stack:
        return stack.read(range(stack.nviews), slice(0, stack.ny))


def no_temporaries(folder):
    return not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


# --------------------------------------------------------------------- MRC reading


@pytest.mark.parametrize("dtype", [np.int16, np.float32, np.uint16, np.float16])
def test_read_modes_1_2_6_12(tmp_path, dtype):
    data = np.arange(3 * 4 * 5).reshape(3, 4, 5).astype(dtype)
    path = make_mrc(tmp_path / "s.mrc", data)
    with open_stack(path) as stack:
        assert (stack.nviews, stack.ny, stack.nx) == (3, 4, 5)
        block = stack.read([2, 0], slice(1, 3))
    assert block.dtype == np.float32 and block.flags.c_contiguous
    np.testing.assert_array_equal(block, data[[2, 0], 1:3].astype(np.float32))


def test_read_accepts_view_slice_and_single_image(tmp_path):
    data = np.arange(12, dtype=np.float32).reshape(3, 4)
    with open_stack(make_mrc(tmp_path / "one.mrc", data)) as stack:
        assert (stack.nviews, stack.ny, stack.nx) == (1, 3, 4)
        np.testing.assert_array_equal(stack.read(slice(None), slice(0, 3))[0], data)
        with pytest.raises(IndexError):
            stack.read([1], slice(0, 1))
        with pytest.raises(IndexError):
            stack.read([0], slice(0, 4))


BYTES = np.array([[[-128, -1, 0, 127]]], dtype=np.int8)
SIGNED = BYTES.astype(np.float32) + 128
UNSIGNED = BYTES.view(np.uint8).astype(np.float32)


@pytest.mark.parametrize("flags, expected", [(1, SIGNED), (0, UNSIGNED), (4, UNSIGNED)])
def test_mode0_signedness_from_imod_stamp(tmp_path, flags, expected):
    # header min/max would say the opposite; the stamp's flags decide
    path = make_mrc(tmp_path / "b.mrc", BYTES, _152=("ii", IMOD_STAMP, flags),
                    _76=("ff", 200.0 if flags & 1 else -100.0, 250.0))
    np.testing.assert_array_equal(read_all(path), expected)


@pytest.mark.parametrize("low, high, signed", [
    (-100.0, 100.0, True),     # min < 0, max < 128
    (10.0, 200.0, False),      # min >= 0, max >= 128
    (-100.0, 150.0, True),     # both: -min > max - 128
    (-10.0, 250.0, False),     # both: -min <= max - 128
    (0.0, 100.0, False),       # neither
])
def test_mode0_signedness_from_header_range(tmp_path, low, high, signed):
    path = make_mrc(tmp_path / "b.mrc", BYTES, _76=("ff", low, high))
    np.testing.assert_array_equal(read_all(path), SIGNED if signed else UNSIGNED)


def test_header_without_map_stamp_is_read_with_warning(tmp_path):
    data = np.ones((2, 3, 4), np.float32)
    path = make_mrc(tmp_path / "old.st", data, _208=("4s", b"\0\0\0\0"), _212=("4s", b"\0" * 4))
    with pytest.warns(RuntimeWarning, match=r"old\.st: .*read anyway") as caught:
        np.testing.assert_array_equal(read_all(path), data)
    assert len(caught) == 1 and "\n" not in str(caught[0].message)


def test_truncated_file(tmp_path):
    path = make_mrc(tmp_path / "t.mrc", np.zeros((3, 8, 8), np.float32))
    with open(path, "r+b") as stream:
        stream.truncate(1024 + 3 * 8 * 8 * 4 - 1)
    with pytest.raises(InputError, match=r"t\.mrc: is truncated"):
        open_stack(path)


@pytest.mark.parametrize("raw, problem", [
    (b"\x07" * 10, "too short"),
    (bytes(range(256)) * 8, "not an MRC file"),
])
def test_garbage_files(tmp_path, raw, problem):
    path = bytes_file(tmp_path, raw)
    with pytest.raises(InputError, match=f"{path}: .*{problem}"):
        open_stack(path)


@pytest.mark.parametrize("mode", [3, 4, 16, 101])
def test_unsupported_modes(tmp_path, mode):
    path = make_mrc(tmp_path / "m.mrc", np.zeros((2, 4, 4), np.float32), _12=("i", mode))
    with pytest.raises(InputError, match=f"m.mrc: MRC mode {mode} .*not supported"):
        open_stack(path)


@pytest.mark.parametrize("dims", [(0, 4, 2), (4, -3, 2), (4, 4, 0)])
def test_impossible_dimensions(tmp_path, dims):
    path = make_mrc(tmp_path / "d.mrc", np.zeros((2, 4, 4), np.float32), _0=("iii", *dims))
    with pytest.raises(InputError, match="impossible dimensions"):
        open_stack(path)


def test_volume_stack_header_mrcfile_cannot_shape(tmp_path):
    path = make_mrc(tmp_path / "v.mrc", np.zeros((4, 2, 2), np.float32), _88=("i", 401),
                    _36=("i", 3))  # volume stack whose mz does not divide nz
    with pytest.raises(InputError, match="cannot be interpreted consistently"):
        open_stack(path)


def test_missing_file_directory_and_extension(tmp_path):
    with pytest.raises(InputError, match=r"nothere\.mrc: no such file"):
        open_stack(tmp_path / "nothere.mrc")
    (tmp_path / "dir.mrc").mkdir()
    with pytest.raises(InputError, match=r"dir\.mrc: is a directory"):
        open_stack(tmp_path / "dir.mrc")
    with pytest.raises(InputError, match=r"s\.tif: unsupported extension '\.tif'"):
        open_stack(tmp_path / "s.tif")


def test_nan_in_a_view(tmp_path):
    data = np.zeros((3, 4, 4), np.float32)
    data[1, 2, 3] = np.nan
    data[2, 0, 0] = np.inf
    with open_stack(make_mrc(tmp_path / "n.mrc", data)) as stack:
        assert stack.read([0, 2], slice(1, 4)).shape == (2, 3, 4)  # inf is in row 0 only
        with pytest.raises(InputError, match=r"n\.mrc: view 2 contains NaN or Inf values"):
            stack.read([0, 1], slice(0, 4))
        with pytest.raises(InputError, match="view 3 contains"):
            stack.read([2], slice(0, 1))


def test_pixel_size_rules(tmp_path):
    data = np.zeros((2, 4, 8), np.float32)
    path = make_mrc(tmp_path / "p.mrc", data, _28=("iii", 8, 4, 2), _40=("fff", 20.0, 10.0, 5.0))
    assert open_stack(path).pixel_size == 2.5
    path = make_mrc(tmp_path / "q.mrc", data, _28=("iii", 0, 0, 0))
    assert open_stack(path).pixel_size == 1.0


def test_serialem_extended_header_angles_via_write_stack(tmp_path):
    angles = [-60.0, -0.006, 1.234, 60.0]
    path = tmp_path / "s.st"
    write_stack(path, np.zeros((4, 3, 5), np.float32), pixel_size=3.0, angles=angles)
    with open_stack(path) as stack:
        np.testing.assert_allclose(stack.header_angles, [-60.0, -0.01, 1.23, 60.0], atol=1e-9)
        assert stack.pixel_size == 3.0
    with mrcfile.open(path) as mrc:
        assert mrc.header.ispg == 0 and mrc.header.exttyp == b"SERI"


def fei_file(path, angles, bitmask=1 << 7, version=b"1.0"):
    dtype = mrcfile.dtypes.get_ext_header_dtype(b"FEI1")
    records = np.zeros(len(angles), dtype)
    records["Metadata size"] = dtype.itemsize
    records["Bitmask 1"] = bitmask
    records["Application version"] = version
    records["Alpha tilt"] = angles
    with mrcfile.new(path, overwrite=True) as mrc:
        mrc.set_data(np.zeros((len(angles), 2, 2), np.float32))
        mrc.set_extended_header(records)
        mrc.header.exttyp = b"FEI1"
    return path


def test_fei_extended_header_angles(tmp_path):
    angles = np.array([-30.5, 0.0, 30.25])
    np.testing.assert_array_equal(open_stack(fei_file(tmp_path / "f.mrc", angles)).header_angles,
                                  angles)
    assert open_stack(fei_file(tmp_path / "g.mrc", angles, bitmask=0)).header_angles is None
    scaled = open_stack(fei_file(tmp_path / "h.mrc", angles, version=b"4.4.0.4981"))
    np.testing.assert_allclose(scaled.header_angles, np.deg2rad(angles))


def test_damaged_extended_header_gives_no_angles(tmp_path):
    path = fei_file(tmp_path / "f.mrc", [1.0, 2.0, 3.0])
    patch(path, 1024, ">i", 5)  # record size mrcfile cannot match
    assert open_stack(path).header_angles is None
    with mrcfile.new(tmp_path / "a.mrc") as mrc:
        mrc.set_data(np.zeros((2, 2, 2), np.float32))
        mrc.set_extended_header(np.ones(8, "V1"))
    patch(tmp_path / "a.mrc", 128, "hh", 0, 32)  # Agard layout: 128 bytes per view, has 8
    assert open_stack(tmp_path / "a.mrc").header_angles is None


# -------------------------------------------------------------------- EMAN2 HDF5


def eman_stack(path, images, **attrs):
    with h5py.File(path, "w") as handle:
        group = handle.create_group("MDF/images")
        group.attrs["imageid_max"] = np.int32(len(images) - 1)
        for index, image in enumerate(images):
            member = group.create_group(str(index))
            member.create_dataset("image", data=image)
            for key, values in attrs.items():
                member.attrs[f"EMAN.{key}"] = values[index]
    return path


def test_hdf5_stack_with_angles_and_pixel_size(tmp_path):
    views = np.random.default_rng(1).random((3, 4, 5)).astype(np.float32)
    path = eman_stack(tmp_path / "t.hdf", views, tilt_angle=np.float32([-3.0, 0.5, 3.0]),
                      apix_x=np.float32([2.5] * 3))
    with open_stack(path) as stack:
        assert (stack.nviews, stack.ny, stack.nx, stack.pixel_size) == (3, 4, 5, 2.5)
        np.testing.assert_array_equal(stack.header_angles, [-3.0, 0.5, 3.0])
        np.testing.assert_array_equal(stack.read([1], slice(1, 3)), views[1:2, 1:3])


def test_hdf5_stored_renderbits_are_rescaled(tmp_path):
    raw = np.array([[[0, 255], [51, 102]], [[0, 15], [3, 6]]], np.uint8)
    path = eman_stack(tmp_path / "c.hdf", raw, stored_renderbits=np.int32([8, 4]),
                      stored_rendermin=np.float32([-1, 10]), stored_rendermax=np.float32([1, 40]))
    np.testing.assert_allclose(read_all(path), [[[-1, 1], [-0.6, -0.2]], [[10, 40], [16, 22]]],
                               rtol=1e-6)
    assert open_stack(path).header_angles is None


def test_hdf5_volume_reads_as_stack_of_sections(tmp_path):
    volume = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    path = eman_stack(tmp_path / "v.h5", [volume])
    with open_stack(path) as stack:
        assert (stack.nviews, stack.ny, stack.nx, stack.pixel_size) == (2, 3, 4, 1.0)
        np.testing.assert_array_equal(stack.read([1], slice(0, 3))[0], volume[1])


def test_hdf5_errors(tmp_path):
    with pytest.raises(InputError, match=r"x\.hdf: is not a readable HDF5 file"):
        open_stack(bytes_file(tmp_path, b"not hdf5" * 100, "x.hdf"))
    with h5py.File(tmp_path / "e.hdf", "w") as handle:
        handle.create_dataset("data", data=np.zeros(3))
    with pytest.raises(InputError, match=r"e\.hdf: is not an EMAN2 image file"):
        open_stack(tmp_path / "e.hdf")
    path = eman_stack(tmp_path / "m.hdf", [np.zeros((2, 2)), np.zeros((3, 2))])
    with pytest.raises(InputError, match="image 1 has shape"):
        open_stack(path)
    with h5py.File(path, "a") as handle:
        handle["MDF/images"].attrs["imageid_max"] = np.int32(7)
    with pytest.raises(InputError, match="imageid_max"):
        open_stack(path)


# ----------------------------------------------------------------- IMOD text files


def test_read_angles(tmp_path):
    path = tmp_path / "a.tlt"
    path.write_text("  -60.5\n\n-1e1\n  \n+3\n.5\n")
    angles = read_angles(path, 4)
    assert angles.dtype == np.float64
    np.testing.assert_array_equal(angles, [-60.5, -10.0, 3.0, 0.5])


@pytest.mark.parametrize("text, problem", [
    ("1.0\n2.0\nabc\n", r"line 3: 'abc' is not a tilt angle"),
    ("1.0\nnan\n", "line 2: 'nan' is not a tilt angle"),
    ("1.0\n1e999\n", "line 2: '1e999' is not a finite angle"),
    ("1.0 2.0\n", "line 1"),
    ("\n \n", "contains no tilt angles"),
    ("", "contains no tilt angles"),
    ("1\n2\n3\n", "3 angles for 4 views"),
])
def test_read_angles_errors(tmp_path, text, problem):
    path = tmp_path / "a.rawtlt"
    path.write_text(text)
    with pytest.raises(InputError, match=f"a.rawtlt: {problem}"):
        read_angles(path, 4)


def test_read_angles_file_problems(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_angles(tmp_path / "none.tlt")
    with pytest.raises(InputError, match="is a directory"):
        read_angles(tmp_path)
    with pytest.raises(InputError, match="not a text file"):
        read_angles(bytes_file(tmp_path, b"\xff\xfe\x00\x81", "b.tlt"))


@pytest.mark.parametrize("text, expected", [
    ("1-3,7", [0, 1, 2, 6]),
    ("5-3", [2, 3, 4]),
    ("1 3  5", [0, 2, 4]),
    ("2, 4 - 5,4", [1, 3, 4]),
    ("10", [9]),
    ("", []),
])
def test_parse_view_list(text, expected):
    assert parse_view_list(text, 10) == expected


@pytest.mark.parametrize("text, problem", [
    ("0", "view 0 is outside 1-10"),
    ("3-11", "view 11 is outside 1-10"),
    ("a", "'a' is not a view number or range"),
    ("1.5", "'1.5' is not"),
    ("1-2-3", "'1-2-3' is not"),
    ("-3", "'-3' is not"),
])
def test_parse_view_list_errors(text, problem):
    with pytest.raises(InputError, match=f"view list '{text}': {problem}"):
        parse_view_list(text, 10)


# ------------------------------------------------------------------------- writing


def write_volume(path, volume_zxy, slab=2, **options):
    """Write a (thickness, width, nslices) compute-order volume in slabs of ``slab`` slices."""
    thickness, width, nslices = volume_zxy.shape
    with VolumeWriter(path, width=width, nslices=nslices, thickness=thickness,
                      **options) as writer:
        for y0 in range(0, nslices, slab):
            writer.write_slab(y0, volume_zxy[:, :, y0:y0 + slab])
    return writer


@pytest.mark.parametrize("layout, header_dims, index", [
    ("xzy", (5, 3, 4), lambda x, y, z: (y, z, x)),
    ("xyz", (5, 4, 3), lambda x, y, z: (2 - z, y, x)),  # -90 degrees about X: the thickness reversed
    ("parallel", (5, 4, 3), lambda x, y, z: (z, y, x)),
])
def test_layouts_place_a_voxel(tmp_path, layout, header_dims, index):
    x, y, z = 4, 2, 1
    volume = np.zeros((3, 5, 4), np.float32)  # thickness 3, width 5, nslices 4
    volume[z, x, y] = 7.0
    path = tmp_path / "v.rec"
    write_volume(path, volume, layout=layout)
    with mrcfile.open(path) as mrc:
        assert (mrc.header.nx, mrc.header.ny, mrc.header.nz) == header_dims
        assert mrc.header.ispg == 0  # as IMOD's tilt writes it
        assert mrc.data[index(x, y, z)] == 7.0 and mrc.data.sum() == 7.0
    write_volume(tmp_path / "v.hdf", volume, layout=layout)
    for written in (path, tmp_path / "v.hdf"):
        data, pixel = read_volume(written)
        assert data.shape == header_dims[::-1] and data[index(x, y, z)] == 7.0 and pixel == 1.0


@pytest.mark.parametrize("layout", ["xzy", "xyz", "parallel"])
def test_slices_strides_locate_the_slices_view(layout):
    from tiltrec.formats.layout import file_shape, slices_strides, slices_view

    width, nslices, thickness = 5, 4, 3
    block = np.arange(width * nslices * thickness).reshape(file_shape(layout, width, nslices, thickness))
    origin, stride_l, stride_j = slices_strides(layout, width, nslices, thickness)
    L, j, x = np.meshgrid(range(nslices), range(thickness), range(width), indexing="ij")
    np.testing.assert_array_equal(slices_view(layout, block),
                                  block.reshape(-1)[origin + L * stride_l + j * stride_j + x])


@pytest.mark.parametrize("layout", ["xzy", "xyz"])
def test_blocks_are_written_whole_when_the_system_writes_less_per_call(tmp_path, monkeypatch, layout):
    """A positioned write may write fewer bytes than asked (Linux writes at most ~2 GiB per call): the rest
    follows, and write_stored makes the file write_slab makes."""
    from tiltrec.formats import mrc
    from tiltrec.formats.layout import file_shape, slices_view

    volume = np.random.default_rng(3).normal(size=(6, 7, 9)).astype(np.float32)
    write_volume(tmp_path / "ref.mrc", volume, slab=9, layout=layout)
    pwrite, calls = os.pwrite, []

    def short_pwrite(fd, data, offset):
        calls.append(offset)
        return pwrite(fd, memoryview(data).cast("B")[:100], offset)

    monkeypatch.setattr(mrc.os, "pwrite", short_pwrite)
    block = np.empty(file_shape(layout, 7, 9, 6), np.float32)
    slices_view(layout, block)[...] = volume.transpose(2, 0, 1)
    with VolumeWriter(tmp_path / "parts.mrc", width=7, nslices=9, thickness=6, layout=layout) as writer:
        writer.write_stored(0, block, VolumeStats.of(volume))
    monkeypatch.undo()
    assert len(calls) >= volume.nbytes // 100
    ours, ref = (tmp_path / "parts.mrc").read_bytes(), (tmp_path / "ref.mrc").read_bytes()
    assert len(ours) == len(ref) and ours[1024:] == ref[1024:]  # (the header's rms may differ in its last bit)


def test_stats_pixel_size_origin_and_labels(tmp_path):
    volume = np.random.default_rng(2).normal(5, 3, (6, 7, 9)).astype(np.float32)
    labels = [f"label {i}" for i in range(9)] + ["TILT: " + "x" * 100, "no room"]  # IMOD keeps the first 10
    path = tmp_path / "s.mrc"
    writer = write_volume(path, volume, slab=4, pixel_size=2.5, origin=(1, 2, 3), labels=labels)
    assert writer.stats.count == volume.size
    with mrcfile.open(path) as mrc:
        header = mrc.header
        assert header.dmin == volume.min() and header.dmax == volume.max()
        assert math.isclose(header.dmean, volume.mean(dtype=np.float64), rel_tol=1e-6)
        assert math.isclose(header.rms, volume.std(dtype=np.float64), rel_tol=1e-5)
        assert tuple(header.cella.tolist()) == (7 * 2.5, 6 * 2.5, 9 * 2.5)
        assert tuple(header.origin.tolist()) == (1, 2, 3)
        assert header.nlabl == 10 and header.label[8] == b"label 8".ljust(80)  # blank-padded
        assert header.label[9] == b"TILT: " + b"x" * 74
    assert read_volume(path)[1] == 2.5


@pytest.mark.parametrize("mode, dtype, values, stored", [
    (1, np.int16, [-40000.0, -2.5, 2.5, 3.49, 40000.0], [-32768, -2, 2, 3, 32767]),
    (0, np.int8, [-5.0, 0.4, 127.6, 200.0, 300.0], [0, 0, 128, 200, 255]),
    (12, np.float16, [-1e6, 0.1, 1.5, 2.0, 1e6], np.float16([-65504, 0.1, 1.5, 2, 65504])),
])
def test_integer_and_half_modes(tmp_path, mode, dtype, values, stored):
    stored = np.asarray(stored, np.float32)
    volume = np.asarray(values, np.float32).reshape(1, 5, 1)
    path = tmp_path / "i.mrc"
    write_volume(path, volume, mode=mode)
    signed = 128 if mode == 0 else 0  # bytes as IMOD's tilt stores them: value - 128, header statistics too
    with mrcfile.open(path) as mrc:
        assert mrc.data.dtype == dtype and int(mrc.header.mode) == mode
        np.testing.assert_array_equal(mrc.data.ravel(), stored - signed)
        assert (mrc.header.dmin, mrc.header.dmax) == (stored.min() - signed, stored.max() - signed)
        assert mrc.header.extra2.tobytes()[40:48] == b"IMOD\1\0\0\0"  # IMOD's stamp, signed-bytes flag
    np.testing.assert_array_equal(read_volume(path)[0].ravel(), stored)


def test_overwrite_refused_and_allowed(tmp_path):
    path = tmp_path / "o.mrc"
    path.write_bytes(b"old")
    with pytest.raises(InputError, match=r"o\.mrc: already exists \(use overwrite to replace it\)"):
        VolumeWriter(path, width=2, nslices=2, thickness=2)
    write_volume(path, np.ones((2, 2, 2), np.float32), overwrite=True)
    assert read_volume(path)[0].shape == (2, 2, 2)
    assert no_temporaries(tmp_path)


def test_abort_keeps_older_file(tmp_path):
    path = tmp_path / "a.mrc"
    path.write_bytes(b"older")
    with pytest.raises(RuntimeError, match="boom"):
        with VolumeWriter(path, width=3, nslices=4, thickness=2, overwrite=True) as writer:
            writer.write_slab(0, np.ones((2, 3, 2), np.float32))
            assert not no_temporaries(tmp_path)
            raise RuntimeError("boom")
    assert path.read_bytes() == b"older" and no_temporaries(tmp_path)


def test_commit_requires_every_slice(tmp_path):
    writer = VolumeWriter(tmp_path / "c.mrc", width=3, nslices=4, thickness=2)
    writer.write_slab(0, np.ones((2, 3, 2), np.float32))
    with pytest.raises(ValueError, match="12 of 24 voxels"):
        writer.commit()
    assert not (tmp_path / "c.mrc").exists() and no_temporaries(tmp_path)


def test_writer_prechecks(tmp_path):
    sizes = dict(width=2, nslices=2, thickness=2)
    with pytest.raises(InputError, match="output directory .* does not exist"):
        VolumeWriter(tmp_path / "no" / "v.mrc", **sizes)
    with pytest.raises(InputError, match="unknown volume layout"):
        VolumeWriter(tmp_path / "v.mrc", layout="yxz", **sizes)
    with pytest.raises(InputError, match="unsupported output mode 6"):
        VolumeWriter(tmp_path / "v.mrc", mode=6, **sizes)
    with pytest.raises(InputError, match=r"v\.hdf: HDF5 volumes are written in mode 2"):
        VolumeWriter(tmp_path / "v.hdf", mode=1, **sizes)
    with pytest.raises(InputError, match=r"unsupported extension '\.tif'"):
        VolumeWriter(tmp_path / "v.tif", **sizes)
    assert not list(tmp_path.iterdir())


def test_stats_merge_matches_whole():
    values = np.random.default_rng(3).random(1000).astype(np.float32)
    merged = VolumeStats.of(values[:300]).merge(VolumeStats.of(values[300:]))
    whole = VolumeStats.of(values)
    assert merged.count == 1000
    assert (merged.minimum, merged.maximum) == (whole.minimum, whole.maximum)
    assert math.isclose(merged.mean, whole.mean) and math.isclose(merged.rms, whole.rms)


def test_hdf5_volume_in_eman2_layout(tmp_path):
    volume = np.random.default_rng(4).random((3, 5, 4)).astype(np.float32)
    path = tmp_path / "v.hdf"
    write_volume(path, volume, layout="xyz", pixel_size=1.5, origin=(0, 0, 4.5))
    with h5py.File(path, "r") as handle:
        images = handle["MDF/images"]
        assert images.attrs["imageid_max"] == 0 and images.attrs["imageid_max"].dtype == np.int32
        group = images["0"]
        data = group["image"][...]
        assert data.dtype == np.float32 and data.shape == (3, 4, 5)  # [z][y][x]
        np.testing.assert_array_equal(data, volume[::-1].transpose(0, 2, 1))  # xyz: -90 degrees about X
        attrs = group.attrs
        assert [attrs[f"EMAN.n{a}"] for a in "xyz"] == [5, 4, 3]
        assert attrs["EMAN.nx"].dtype == np.int32 and attrs["EMAN.apix_y"] == np.float32(1.5)
        assert attrs["EMAN.origin_z"] == np.float32(4.5) and attrs["EMAN.mean"].dtype == np.float32
        assert attrs["EMAN.maximum"] == volume.max() and attrs["EMAN.minimum"] == volume.min()
    data, pixel = read_volume(path)
    np.testing.assert_array_equal(data, volume[::-1].transpose(0, 2, 1))
    assert pixel == 1.5 and no_temporaries(tmp_path)


def test_write_stack_hdf5_round_trip(tmp_path):
    views = np.random.default_rng(5).random((3, 4, 6)).astype(np.float32)
    path = tmp_path / "ts.hdf"
    write_stack(path, views, pixel_size=4.0, angles=[-50.0, 0.0, 50.0])
    with open_stack(path) as stack:
        np.testing.assert_array_equal(stack.header_angles, [-50.0, 0.0, 50.0])
        np.testing.assert_array_equal(stack.read(slice(None), slice(0, 4)), views)
        assert stack.pixel_size == 4.0
    with pytest.raises(InputError, match="already exists"):
        write_stack(path, views)


# ----------------------------------------------------------------------- real data


def test_empiar_bytes_are_unsigned(shared_dir):
    with open_stack(shared_dir / EMPIAR) as stack:
        assert (stack.nviews, stack.ny, stack.nx) == (51, 128, 128)
        views = stack.read(range(51), slice(0, 128))
        assert stack.header_angles is None
    assert (views.min(), views.max()) == (16.0, 225.0)
    raw = np.fromfile(shared_dir / EMPIAR, np.uint8, offset=1024).reshape(51, 128, 128)
    np.testing.assert_array_equal(views, raw)
    assert len(read_angles(shared_dir / "data/empiar10009/empiar_10009_128.tlt", 51)) == 51


def test_empiar_64_has_no_map_stamp(shared_dir):
    with pytest.warns(RuntimeWarning, match="read anyway"):
        stack = open_stack(shared_dir / "data/empiar10009/empiar_10009_64.mrc")
    with stack:
        views = stack.read(range(stack.nviews), slice(0, 64))
    assert views.shape == (51, 64, 64) and views.min() >= 0 and stack.pixel_size == 1.0


def test_jason64_int16_with_fei_extended_header(shared_dir):
    raw = np.fromfile(shared_dir / JASON, "<i2", offset=1024 + 11520).reshape(90, 64, 64)
    with open_stack(shared_dir / JASON) as stack:
        assert (stack.nviews, stack.ny, stack.nx, stack.pixel_size) == (90, 64, 64, 32.0)
        np.testing.assert_array_equal(stack.read([0, 89], slice(0, 2)), raw[[0, 89], :2])
        assert stack.read([0], slice(0, 1))[0, 0, 0] == -32653
        tilts = stack.header_angles
    # Agard/old-FEI layout: nominal tilts -64 .. +69.5 in 1.5 degree steps
    np.testing.assert_allclose(tilts, np.arange(-64.0, 70.0, 1.5), atol=0.01)


@pytest.mark.parametrize("dtype", [np.float32, np.int16, np.uint8])
def test_storing_a_slab_equals_its_numpy_statement(dtype):
    """formats.slab_store (compiled): a slab transposed into a file block of any strides, rounded to nearest (halves
    to even) and clipped for integer types, NaN kept out of the minima and maxima, with the header's statistics:
    each Y lane's sums along X, then the lanes' in order (13 lanes: eight as one vector, five one by one)."""
    from tiltrec.formats.slab_store import store_slab

    rng = np.random.default_rng(3)
    slab = (rng.standard_normal((5, 9, 13)) * 200).astype(np.float32)  # [z, x, y]
    slab[0, 1, 2], slab[1, 2, 3], slab[2, 3, 4], slab[3, 4, 5], slab[4, 5, 6] = np.nan, -np.inf, 2.5, -1.5, 70000.0
    slab[1, 0, 11] = np.inf
    block = np.zeros((13, 5, 9), dtype)  # [y, z, x], as a file block; the destination is a strided view of it
    stats = store_slab(block.transpose(1, 0, 2), slab)
    values = slab.transpose(0, 2, 1).astype(np.float64)  # [z, y, x]
    integer = np.dtype(dtype).kind in "iu"
    limits = np.iinfo(dtype) if integer else np.finfo(dtype)
    rounded = np.rint(values) if integer else values
    stored = np.clip(rounded, limits.min, limits.max)
    finite = ~np.isnan(stored)
    expected = np.where(finite, stored, 0 if integer else np.nan).astype(dtype)
    np.testing.assert_array_equal(block.transpose(1, 0, 2), expected)
    assert stats[0] == stored[finite].min() and stats[1] == stored[finite].max()
    assert np.isnan(stats[2]) and np.isnan(stats[3])  # a NaN was stored: the sums say so
    assert stats[4] == 3  # the NaN and the infinities
    assert stats[5] == -np.inf and stats[6] == np.inf
    assert stats[7] == np.count_nonzero((rounded < limits.min) | (rounded > limits.max))

    def lanes_then_slices(a):  # float64 sums in the documented order: lanes along X, lanes, slices
        total = 0.0
        for plane in a:
            total += _lane_sum(plane)
        return total

    clean = np.nan_to_num(slab, nan=1.0, posinf=1.0, neginf=1.0)
    sums = store_slab(np.zeros((5, 13, 9), dtype), clean)
    exact = np.clip(np.rint(clean.astype(np.float64)) if integer else clean.astype(np.float64), limits.min,
                    limits.max).transpose(0, 2, 1)
    assert sums[2] == lanes_then_slices(exact) and sums[3] == lanes_then_slices(exact ** 2)


@pytest.mark.parametrize("bad", [None, (1, 20, 3, np.inf), (2, 5, 17, np.nan), (0, 36, 8, -np.inf)])
def test_storing_into_contiguous_rows_equals_storing_into_strided_ones(bad):
    """Float32 blocks whose rows are contiguous in X take eight X at a time through registers (slab_store.c's
    store_eight_plain); with any other strides one X at a time: the same values and the same statistics, also for a
    lane with a NaN or an infinity (stored again the other way).  37 X: four runs of eight and five one by one; 21
    lanes: two vectors and five one by one."""
    from tiltrec.formats.slab_store import store_slab

    rng = np.random.default_rng(5)
    slab = (rng.standard_normal((3, 37, 21)) * 200).astype(np.float32)  # [z, x, y]
    if bad is not None:
        slab[bad[:3]] = bad[3]
    rows = np.zeros((3, 21, 37), np.float32)
    strided = np.zeros((3, 21, 74), np.float32)[..., ::2]
    fast, slow = store_slab(rows, slab), store_slab(strided, slab)
    np.testing.assert_array_equal(rows, strided)
    np.testing.assert_array_equal(np.asarray(fast), np.asarray(slow))  # NaN sums compare equal here
    if bad is None:
        np.testing.assert_array_equal(rows, slab.transpose(0, 2, 1))
        assert fast[2] == sum(_lane_sum(plane) for plane in slab.transpose(0, 2, 1).astype(np.float64))
    else:
        assert fast[4] == 1


def _lane_sum(plane) -> float:
    """Sum of a slice ``[y, x]``: each lane's values along X, then the lanes in order (float64, left to right)."""
    total = 0.0
    for lane in plane:
        partial = 0.0
        for v in lane:
            partial += float(v)
        total += partial
    return total
