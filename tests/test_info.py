"""File descriptions: header fields, statistics read in blocks, angles and layout, on generated
files and the real data."""

import mrcfile
import numpy as np
import pytest

from tiltrec.analysis import describe, format_info
from tiltrec.analysis import info as info_module
from tiltrec.errors import InputError
from tiltrec.formats import TiltStack, VolumeWriter, write_stack

ANGLES = np.arange(-60.0, 60.1, 3.0)


def write_volume(path, volume_yzx, **options):
    """A volume file written as a reconstruction is (``options`` of VolumeWriter)."""
    ny, nz, nx = volume_yzx.shape
    with VolumeWriter(path, width=nx, nslices=ny, thickness=nz, **options) as writer:
        writer.write_slab(0, np.asarray(volume_yzx, np.float32).transpose(1, 2, 0))


def assert_stats(info, values):
    values = np.asarray(values, np.float64)
    assert info["stats"]["min"] == values.min() and info["stats"]["max"] == values.max()
    assert info["stats"]["mean"] == pytest.approx(values.mean(), rel=1e-6, abs=1e-9)
    assert info["stats"]["std"] == pytest.approx(values.std(), rel=1e-5)


def test_generated_tilt_series(tmp_path):
    views = np.random.default_rng(1).normal(5.0, 2.0, (len(ANGLES), 24, 32)).astype(np.float32)
    path = tmp_path / "series.mrc"
    write_stack(path, views, pixel_size=2.5, angles=ANGLES)
    info = describe(path)
    assert (info["format"], info["mode"], info["dtype"]) == ("MRC", 2, "float32")
    assert (info["nx"], info["ny"], info["nz"]) == (32, 24, len(ANGLES))
    assert info["pixel_size"] == pytest.approx(2.5)
    assert info["angles"] == {"first": -60.0, "last": 60.0, "count": len(ANGLES), "step": 3.0,
                              "uniform": True}
    assert info["extended_type"] == "SERI" and info["extended_bytes"] >= 2 * len(ANGLES)
    assert info["layout"].startswith("tilt series")
    assert_stats(info, views)
    assert info["header_stats"] is not None and info["stats_mismatch"] == []
    text = format_info(info)
    for fact in ("MRC, mode 2 (float32)", "32 x 24 x 41", "2.5 A", "41 views, -60.00 to 60.00",
                 "step 3.00", "type SERI", "agree with the data"):
        assert fact in text


def test_generated_volume_layouts(tmp_path):
    volume = np.random.default_rng(2).uniform(0, 250, (20, 8, 24))  # [y, z, x]
    xzy, xyz = tmp_path / "xzy.rec", tmp_path / "xyz.mrc"
    write_volume(xzy, volume, mode=0, origin=(1.5, -2.0, 3.0), labels=["made by a test", "second"])
    write_volume(xyz, volume, layout="xyz", pixel_size=7.0)
    info = describe(xzy)
    assert (info["nx"], info["ny"], info["nz"]) == (24, 8, 20)
    assert info["layout"] == "xzy (IMOD PERPENDICULAR: ny is the thickness)"
    assert (info["mode"], info["dtype"], info["bytes_signed"]) == (0, "int8", True)  # as IMOD's tilt writes
    assert info["imod_stamp"] and info["imod_flags"] == 1
    assert info["origin"] == (1.5, -2.0, 3.0) and info["labels"] == ["made by a test", "second"]
    assert info["pixel_size"] is None and info["angles"] is None
    assert_stats(info, np.rint(volume))
    text = format_info(info)
    for fact in ("mode 0 (int8)", "flags 1; bytes signed (IMOD flag bit 0 set)", "pixel size:      unknown",
                 "xzy (IMOD PERPENDICULAR", "1.5, -2, 3", "label 2:", "second", "none in the file"):
        assert fact in text
    info = describe(xyz)
    assert (info["nx"], info["ny"], info["nz"]) == (24, 20, 8)
    assert info["layout"].startswith("xyz") and info["pixel_size"] == 7.0


def test_signed_bytes_and_stale_header(tmp_path):
    """Mode 0 without the IMOD stamp: a negative header minimum makes the bytes signed, read +128;
    the header statistics are compared in those units, and a stale maximum is flagged."""
    data = np.arange(-100, 20, dtype=np.int8).reshape(6, 5, 4)
    path = tmp_path / "signed.mrc"
    with mrcfile.new(path, data) as handle:
        handle.header.dmax = 90.0
    info = describe(path)
    assert info["bytes_signed"] is True and not info["imod_stamp"] and info["imod_flags"] is None
    assert info["stats"]["min"] == 28 and info["stats"]["max"] == 147
    assert info["header_stats"]["min"] == 28 and info["header_stats"]["max"] == 218
    assert info["stats_mismatch"] == ["max"]
    assert info["layout"] == "stack or unknown"
    text = format_info(info)
    assert "bytes signed (header min/max; no IMOD stamp)" in text
    assert "MISMATCH with the data: max" in text


def test_unset_header_statistics(tmp_path):
    path = tmp_path / "unset.mrc"
    with mrcfile.new(path, np.ones((3, 4, 5), np.float32)) as handle:
        handle.header.dmin, handle.header.dmax = 1.0, -1.0  # MRC2014: max < min means not set
    info = describe(path)
    assert info["header_stats"] is None and info["stats_mismatch"] == []
    assert "header stats:    not set" in format_info(info)


def test_statistics_are_read_in_row_blocks(tmp_path, monkeypatch):
    volume = np.random.default_rng(3).normal(size=(6, 10, 20))
    path = tmp_path / "v.mrc"
    write_volume(path, volume)
    sizes = []
    read = TiltStack.read

    def recording(self, views, rows):
        block = read(self, views, rows)
        sizes.append(block.size)
        return block

    monkeypatch.setattr(TiltStack, "read", recording)
    monkeypatch.setattr(info_module, "BLOCK_VALUES", 50)
    info = describe(path)
    assert max(sizes) <= 60 and sum(sizes) == volume.size  # 3 rows of 20, the last block 1 row
    assert_stats(info, volume.astype(np.float32))


def test_hdf5_files(tmp_path):
    views = np.random.default_rng(4).normal(size=(len(ANGLES), 16, 20)).astype(np.float32)
    series, volume = tmp_path / "series.hdf", tmp_path / "volume.hdf"
    write_stack(series, views, pixel_size=3.0, angles=ANGLES)
    write_volume(volume, views[:, :6], pixel_size=4.0, origin=(1.0, 2.0, 3.0))
    info = describe(series)
    assert (info["format"], info["mode"], info["dtype"]) == ("EMAN2 HDF5", None, "float32")
    assert info["nz"] == len(ANGLES) and info["angles"]["count"] == len(ANGLES)
    assert info["pixel_size"] == 3.0 and info["header_stats"] is None
    assert_stats(info, views)
    text = format_info(info)
    assert "EMAN2 HDF5, float32" in text and "extended header" not in text
    info = describe(volume)
    assert info["origin"] == (1.0, 2.0, 3.0) and info["pixel_size"] == 4.0
    assert info["header_stats"] is not None and info["stats_mismatch"] == []
    assert info["layout"].startswith("xzy")


@pytest.mark.parametrize(("name", "content", "problem"), [
    ("missing.mrc", None, "no such file"),
    ("short.mrc", b"x" * 100, "too short"),
    ("garbage.hdf", b"x" * 2000, "not a readable HDF5 file"),
    ("volume.tif", b"x" * 2000, "unsupported extension"),
])
def test_unreadable_files(tmp_path, name, content, problem):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError, match=problem) as caught:
        describe(path)
    assert str(caught.value).startswith(str(path)) and "\n" not in str(caught.value)


def test_real_tilt_series_with_extended_header(shared_dir):
    info = describe(shared_dir / "data/jason64/jason64.ali")
    assert (info["format"], info["mode"], info["dtype"]) == ("MRC", 1, "int16")
    assert (info["nx"], info["ny"], info["nz"]) == (64, 64, 90)
    assert info["pixel_size"] == 32.0
    angles = info["angles"]
    assert angles["count"] == 90 and angles["uniform"]
    assert angles["first"] == pytest.approx(-64.0, abs=0.01)
    assert angles["last"] == pytest.approx(69.5, abs=0.01)
    assert angles["step"] == pytest.approx(1.5, abs=0.01)
    assert info["extended_bytes"] == 11520 and info["imod_stamp"]
    assert len(info["labels"]) == 5 and info["labels"][0].startswith("Fei Company")
    assert (info["stats"]["min"], info["stats"]["max"]) == (-32764.0, -32579.0)
    assert info["stats_mismatch"] == []
    text = format_info(info)
    for fact in ("mode 1 (int16)", "64 x 64 x 90", "32 A", "90 views, -64.01 to 69.50",
                 "step 1.50", "11520 bytes", "IMOD:            stamp", "Fei Company",
                 "min -32764, max -32579"):
        assert fact in text


def test_real_unsigned_byte_stack(shared_dir):
    info = describe(shared_dir / "data/empiar10009/empiar_10009_128.mrc")
    assert (info["mode"], info["dtype"], info["bytes_signed"]) == (0, "uint8", False)
    assert (info["nx"], info["ny"], info["nz"]) == (128, 128, 51)
    assert (info["stats"]["min"], info["stats"]["max"]) == (16.0, 225.0)
    assert info["pixel_size"] == 4.0 and info["angles"] is None
    assert info["stats_mismatch"] == []  # the header says 16.06 .. 224.81
    text = format_info(info)
    for fact in ("mode 0 (uint8)", "flags 0; bytes unsigned (IMOD flag bit 0 clear)", "min 16, max 225", "4 A",
                 "NEWSTACK"):
        assert fact in text


def test_the_origin_is_shown_as_imod_reads_it(tmp_path):
    """IMOD 4.7+ stamps files whose header holds the origin negated (flag 4): info shows the origin IMOD uses, the
    one tiltrec carries into a tomogram's header."""
    import mrcfile

    from tiltrec.analysis.info import describe

    path = tmp_path / "inverted.mrc"
    with mrcfile.new(path) as mrc:
        mrc.set_data(np.zeros((3, 8, 8), np.float32))
        mrc.header.origin = (10.0, -6.0, 3.0)
        raw = bytearray(mrc.header.extra2.tobytes())
        raw[40:48] = np.array([1146047817, 5], "<i4").tobytes()  # IMOD's stamp; flags: signed bytes, inverted origin
        mrc.header.extra2 = np.void(bytes(raw))
    assert describe(path)["origin"] == (-10.0, 6.0, -3.0)
