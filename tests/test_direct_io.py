"""formats/direct_io.py: data written around the page cache (O_DIRECT) land byte for byte where buffered writes
would put them, whatever the offsets, lengths and memory alignment, and where direct writes are refused."""

import errno
import os

import numpy as np
import pytest

from tiltrec.formats import direct_io
from tiltrec.formats.direct_io import BLOCK, DataWriter


def _write_all(path, pieces, **patch):
    """Write ``pieces`` [(offset, array)] through a DataWriter into a new file of the right size; returns its bytes
    and whether direct writes were open at the end."""
    size = max(offset + a.nbytes for offset, a in pieces)
    with open(path, "wb") as f:
        f.truncate(size)
    fd = os.open(path, os.O_RDWR)
    try:
        writer = DataWriter(path, fd)
        for offset, array in pieces:
            writer.write(array, offset)
        direct = writer._direct is not None
        writer.close()
    finally:
        os.close(fd)
    return path.read_bytes(), direct


def _expected(pieces):
    size = max(offset + a.nbytes for offset, a in pieces)
    out = bytearray(size)
    for offset, array in pieces:
        out[offset:offset + array.nbytes] = array.tobytes()
    return bytes(out)


def _pieces(rng, layout):
    """Regions like a volume file's: a 1024-byte header, then blocks of slices back to back (or pieces per plane),
    from arrays whose addresses do and do not line up with their offsets."""
    if layout == "slabs":
        sizes = [3 * BLOCK + 100, 5 * BLOCK, 17, BLOCK - 1, 9 * BLOCK + 4000, direct_io.BOUNCE_BYTES + 3 * BLOCK + 8]
        offsets = np.cumsum([1024] + sizes[:-1])
    else:
        sizes = [2 * BLOCK + 512] * 5
        offsets = [1024 + k * (4 * BLOCK + 24) for k in range(5)]
    pieces = []
    for k, (offset, n) in enumerate(zip(offsets, sizes)):
        raw = rng.integers(0, 256, n + 64, dtype=np.uint8)
        pieces.append((int(offset), raw[k % 3:k % 3 + n]))  # addresses off by 0, 1 or 2 bytes
    return pieces


@pytest.mark.parametrize("layout", ["slabs", "planes"])
def test_regions_land_where_buffered_writes_put_them(tmp_path, layout):
    pieces = _pieces(np.random.default_rng(0), layout)
    data, direct = _write_all(tmp_path / "out.bin", pieces)
    assert data == _expected(pieces)
    probe = direct_io._open_direct(tmp_path / "out.bin")
    assert direct == (probe is not None)  # direct wherever the file system takes O_DIRECT
    if probe is not None:
        os.close(probe)


def test_aligned_data_is_written_without_the_bounce_buffer(tmp_path):
    raw = np.zeros(8 * BLOCK + BLOCK, dtype=np.uint8)
    start = -raw.ctypes.data % BLOCK
    array = raw[start:start + 8 * BLOCK]
    array[:] = np.arange(array.size) % 251
    path = tmp_path / "out.bin"
    path.write_bytes(bytes(16 * BLOCK))
    fd = os.open(path, os.O_RDWR)
    writer = DataWriter(path, fd)
    writer.write(array, 4 * BLOCK)
    assert writer._bounce is None
    writer.close()
    os.close(fd)
    assert path.read_bytes()[4 * BLOCK:12 * BLOCK] == array.tobytes()


def test_a_file_system_without_direct_writes_gets_buffered_ones(tmp_path, monkeypatch):
    monkeypatch.setattr(direct_io, "_open_direct", lambda path: None)
    pieces = _pieces(np.random.default_rng(1), "slabs")
    data, direct = _write_all(tmp_path / "out.bin", pieces)
    assert data == _expected(pieces) and not direct


def test_a_refused_alignment_switches_to_buffered_writes(tmp_path, monkeypatch):
    """A device that wants another alignment answers EINVAL: that region and the rest are written buffered."""
    real = os.pwrite
    direct_fds = []
    real_open = direct_io._open_direct

    def open_direct(path):
        fd = real_open(path)
        direct_fds.append(fd)
        return fd

    def pwrite(fd, data, offset):
        if fd in direct_fds:
            raise OSError(errno.EINVAL, "Invalid argument")
        return real(fd, data, offset)

    monkeypatch.setattr(direct_io, "_open_direct", open_direct)
    monkeypatch.setattr(os, "pwrite", pwrite)
    pieces = _pieces(np.random.default_rng(2), "slabs")
    data, direct = _write_all(tmp_path / "out.bin", pieces)
    assert data == _expected(pieces) and not direct


def test_other_write_errors_are_not_hidden(tmp_path, monkeypatch):
    real = os.pwrite

    def pwrite(fd, data, offset):
        if len(data) >= BLOCK:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(fd, data, offset)

    monkeypatch.setattr(os, "pwrite", pwrite)
    with pytest.raises(OSError) as error:
        _write_all(tmp_path / "out.bin", _pieces(np.random.default_rng(3), "slabs"))
    assert error.value.errno == errno.ENOSPC


@pytest.mark.parametrize("offset", [0, 1, 1024, BLOCK - 4, 3 * BLOCK + 1024])
def test_a_block_is_placed_like_its_file_offset(offset):
    raw, block = direct_io.block_at(None, (3, 5, 7), np.float32, offset)
    assert block.shape == (3, 5, 7) and block.dtype == np.float32 and block.flags.c_contiguous
    assert (block.ctypes.data - offset) % BLOCK == 0
    again, smaller = direct_io.block_at(raw, (2, 5, 7), np.float32, offset + 8)  # reused while it is large enough
    assert again is raw and (smaller.ctypes.data - offset - 8) % BLOCK == 0
    _, larger = direct_io.block_at(raw, (300, 50, 7), np.float32, offset)
    assert larger.base is not raw and larger.base.base is not raw


def test_a_volume_writer_writes_its_blocks_without_the_bounce_buffer(tmp_path, monkeypatch):
    """Slabs of a volume whose planes are no multiple of BLOCK (each slab starts elsewhere in a block) go straight
    from the staged blocks: the writer places each where its file offset says (direct_io.block_at)."""
    import mrcfile

    from tiltrec.formats import VolumeWriter

    (tmp_path / "probe").write_bytes(b"")
    probe = direct_io._open_direct(tmp_path / "probe")
    if probe is None:
        pytest.skip("this file system refuses O_DIRECT")
    os.close(probe)
    addresses = []
    real = DataWriter._write_direct

    def write_direct(self, view, offset):
        addresses.append((direct_io._address(view) - offset) % BLOCK)
        return real(self, view, offset)

    monkeypatch.setattr(DataWriter, "_write_direct", write_direct)
    width, thickness, nslices = 300, 7, 11  # a plane of 8400 bytes
    rng = np.random.default_rng(4)
    volume = rng.standard_normal((thickness, width, nslices), dtype=np.float32)  # [z][x][y]
    with VolumeWriter(tmp_path / "v.mrc", width=width, nslices=nslices, thickness=thickness) as writer:
        for y0, y1 in ((0, 4), (4, 8), (8, 11)):
            writer.write_slab(y0, volume[:, :, y0:y1])
    assert addresses and addresses == [0] * len(addresses)
    with mrcfile.open(tmp_path / "v.mrc", permissive=True) as stored:
        assert np.array_equal(stored.data, volume.transpose(2, 0, 1))
