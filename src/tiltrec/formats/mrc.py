"""MRC files as IMOD reads and writes them: lazy tilt-series reading, volume and stack output."""

import errno
import math
import operator
import os
import warnings
import zlib
from datetime import datetime
from functools import partial
from pathlib import Path

import mrcfile
import mrcfile.utils
import numpy as np
from mrcfile.dtypes import HEADER_DTYPE

from ..errors import TiltrecError, file_error, os_failure
from .direct_io import DataWriter
from .input_file import check_view_values
from .positioned import ShortRead, ViewRows
from .stall import stall

SUFFIXES = frozenset({".mrc", ".st", ".ali", ".preali", ".mrcs", ".rec", ".map"})

HEADER_BYTES = 1024
IMOD_STAMP = 1146047817  # b"IMOD" read as a little-endian int32
SIGNED_BYTES_FLAG = 1
INVERTED_ORIGIN_FLAG = 4  # IMOD 4.7+: the header holds the origin with the opposite sign
_MACHINE_STAMPS = {"<": (0x44, 0x41, 0, 0), ">": (0x11, 0x11, 0, 0)}  # as IMOD writes them
_DTYPES = {0: np.int8, 1: np.int16, 2: np.float32, 6: np.uint16, 12: np.float16}
_UNSUPPORTED = {3: "complex 16-bit integers", 4: "complex floats", 16: "RGB colour",
                101: "4-bit packed"}
_SERIALEM_ITEM_BYTES = (2, 6, 4, 2, 2, 4, 2, 4, 2, 4, 2)  # per flag bit, in flag order
_SERIALEM_TILT_FLAG = 1
_MAX_LABELS = 10
_LABEL_CHARS = 80


class TiltStack:
    """A tilt series open for lazy reading: ``nviews`` views ``nx`` wide, ``ny`` tall (Y = tilt
    axis).

    ``read_view(view, rows)`` returns the stored values of those rows of one view, or
    ``fill_view(view, rows, out)`` stores them in ``out`` (float32); ``linear`` holds an
    optional per-view ``(scale, offset)`` that decodes them.  ``labels``: the file's text labels (MRC), which a
    reconstruction keeps as IMOD's programs do; ``origin``: the header's (x, y, z) origin in Angstrom, which
    IMOD's tilt carries over into the tomogram's; ``mean``: the header's mean value (decoded like the data), None
    where the header has no consistent statistics.
    """

    def __init__(self, path, *, shape, pixel_size, header_angles, close, read_view=None,
                 fill_view=None, linear=None, labels=(), origin=(0.0, 0.0, 0.0), mean=None):
        self.path = Path(path)
        self.nviews, self.ny, self.nx = shape
        self.pixel_size = pixel_size
        self.header_angles = header_angles
        self.labels = tuple(labels)
        self.origin = tuple(float(v) for v in origin)
        self.mean = mean
        self._fill_view = fill_view or partial(_fill_from, read_view)
        self._close = close
        self._linear = linear

    def read(self, views, rows: slice) -> np.ndarray:
        """Decoded float32 copy of ``rows`` of ``views`` (0-based indices or a slice).

        Shape (number of views, rows, nx); only those rows of those views are read.
        """
        if self._fill_view is None:
            raise ValueError(f"{self.path}: read from a closed stack")
        indices = self._view_indices(views)
        rows = self._row_slice(rows)
        stall("read")
        out = np.empty((len(indices), rows.stop - rows.start, self.nx), np.float32)
        for block, view in zip(out, indices):
            try:
                self._fill_view(view, rows, block)
            except ShortRead as exc:  # the file shrank since it was opened: not the user's doing
                raise TiltrecError(f"{self.path}: cannot read view {view + 1}: {exc}") from None
            except OSError as exc:
                raise os_failure(self.path, f"read view {view + 1}", exc) from None
            if self._linear is not None:
                _apply_linear(block, *self._linear[view])
            check_view_values(self.path, view, block)
        return out

    def close(self) -> None:
        """Release the file; further reads fail."""
        if self._fill_view is not None:
            self._fill_view = None
            self._close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def _view_indices(self, views) -> list[int]:
        if isinstance(views, slice):
            return list(range(*views.indices(self.nviews)))
        indices = [operator.index(view) for view in views]
        for view in indices:
            if not 0 <= view < self.nviews:
                raise IndexError(f"{self.path}: view index {view} outside 0-{self.nviews - 1}")
        return indices

    def _row_slice(self, rows: slice) -> slice:
        start = 0 if rows.start is None else rows.start
        stop = self.ny if rows.stop is None else rows.stop
        if rows.step not in (None, 1) or not 0 <= start <= stop <= self.ny:
            raise IndexError(f"{self.path}: rows {rows} are not a range within 0-{self.ny}")
        return slice(start, stop)


def _fill_from(read_view, view: int, rows: slice, out: np.ndarray) -> None:
    out[...] = read_view(view, rows)


def _apply_linear(block: np.ndarray, scale: float, offset: float) -> None:
    if scale != 1:
        block *= scale
    if offset:
        block += offset


def file_size(path: Path) -> int:
    """Size of the input file ``path``; a missing file or a directory raises a file_error."""
    try:
        if path.is_dir():
            raise file_error(path, "is a directory, not a file")
        return path.stat().st_size
    except FileNotFoundError:
        raise file_error(path, "no such file") from None
    except OSError as exc:
        raise file_error(path, f"cannot read: {exc.strerror or exc}") from None


# ----------------------------------------------------------------------------- reading


def open_stack(path) -> TiltStack:
    """Open an MRC tilt series (or volume: its Z sections become views) for lazy reading."""
    path = Path(path)
    _check_header(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mrc = mrcfile.open(path, mode="r", permissive=True, header_only=True)
    except Exception as exc:  # arbitrary file content reaches a third-party parser
        raise file_error(path, f"cannot be read as MRC: {exc}") from None
    with mrc:  # the views are read with positioned reads (formats.positioned), not through mrcfile
        return _stack(path, mrc)


def _check_header(path: Path) -> None:
    """Reject what mrcfile would misread or choke on; warn about a missing ``MAP `` stamp."""
    size = file_size(path)
    if size < HEADER_BYTES:
        raise file_error(path, f"is too short for an MRC file ({size} bytes; the header "
                               f"alone is {HEADER_BYTES})")
    try:
        with open(path, "rb") as stream:
            raw = stream.read(HEADER_BYTES)
    except OSError as exc:
        raise file_error(path, f"cannot read: {exc.strerror or exc}") from None
    header = np.frombuffer(raw, HEADER_DTYPE.newbyteorder(_byte_order(raw)))[0]
    dims = [int(header[axis]) for axis in ("nx", "ny", "nz")]
    if min(dims) <= 0:
        raise file_error(path, "has impossible dimensions {} x {} x {} in its header "
                               "(not an MRC file?)".format(*dims))
    mode = int(header["mode"])
    if mode in _UNSUPPORTED:
        raise file_error(path, f"MRC mode {mode} ({_UNSUPPORTED[mode]}) is not supported; "
                               f"modes 0, 1, 2, 6 and 12 are")
    if mode not in _DTYPES:
        raise file_error(path, f"has unknown MRC mode {mode} (not an MRC file?)")
    extended = int(header["nsymbt"])
    if extended < 0:
        raise file_error(path, f"has a negative extended header size {extended} "
                               f"(not an MRC file?)")
    expected = HEADER_BYTES + extended + math.prod(dims) * np.dtype(_DTYPES[mode]).itemsize
    if size < expected:
        raise file_error(path, "is truncated or has a damaged header: {} x {} x {} ".format(*dims)
                               + f"mode-{mode} voxels after {extended} bytes of extended header need "
                               f"{expected} bytes, the file has {size}")
    if size > expected:
        warnings.warn(f"{path}: the file is {size - expected} bytes longer than its header says; "
                      f"the extra bytes are ignored", RuntimeWarning, stacklevel=4)
    if bytes(header["map"])[:3] != b"MAP":
        warnings.warn(f"{path}: header lacks the 'MAP ' stamp (old-style or damaged MRC "
                      f"header); read anyway", RuntimeWarning, stacklevel=4)


def _byte_order(raw: bytes) -> str:
    """The byte order mrcfile (permissive) picks: machine stamp, else '<'; swapped if only
    the swapped order gives a known mode."""
    try:
        order = mrcfile.utils.byte_order_from_machine_stamp(raw[212:216])
    except ValueError:
        order = "<"
    swapped = ">" if order == "<" else "<"
    if not _known_mode(raw, order) and _known_mode(raw, swapped):
        return swapped
    return order


def _known_mode(raw: bytes, order: str) -> bool:
    try:
        mrcfile.utils.dtype_from_mode(int(np.frombuffer(raw, order + "i4", 1, 12)[0]))
    except ValueError:
        return False
    return True


def _stack(path: Path, mrc) -> TiltStack:
    header = mrc.header
    nx, ny, nz, mode = (int(header.nx), int(header.ny), int(header.nz), int(header.mode))
    try:
        shape = mrcfile.utils.data_shape_from_header(header)  # as mrcfile would shape the data
    except ZeroDivisionError:
        shape = ()
    if mode not in _DTYPES or math.prod(shape) != nx * ny * nz:
        raise file_error(path, "has a header that cannot be interpreted consistently "
                               "(space group and mz do not fit nz?)")
    dtype = np.dtype(_DTYPES[mode]).newbyteorder(header.mode.dtype.str[0])
    linear = None
    if mode == 0:
        if bytes_signed(header):
            linear = [(1.0, 128.0)] * nz
        else:
            dtype = np.dtype(np.uint8)
    angles = _header_tilts(mrc, nz)
    rows = ViewRows(path, HEADER_BYTES + int(header.nsymbt), (nz, ny, nx), dtype)
    return TiltStack(path, shape=(nz, ny, nx), pixel_size=_pixel_size(header), header_angles=angles,
                     fill_view=rows.fill, close=rows.close, linear=linear, labels=header_labels(header),
                     origin=header_origin(header), mean=_header_mean(header, linear))


def _header_mean(header, linear) -> float | None:
    """The header's mean as the data decode (signed bytes: + 128), or None where the statistics are absent or
    inconsistent (MRC2014 marks them so with dmax < dmin or dmean < min(dmin, dmax))."""
    low, high, mean = (float(header.dmin), float(header.dmax), float(header.dmean))
    if not (math.isfinite(low) and math.isfinite(high) and math.isfinite(mean)) or not low <= mean <= high:
        return None
    return mean + (linear[0][1] if linear else 0.0)


def header_origin(header) -> tuple[float, float, float]:
    """The header's origin in IMOD's sign (subtracted from index x pixel), negated as IMOD negates it when the IMOD
    stamp comes with the inverted-origin flag; a non-finite entry (a damaged header) counts as 0."""
    stamp, flags = imod_words(header, 40, "i4", 2)
    sign = -1.0 if stamp == IMOD_STAMP and flags & INVERTED_ORIGIN_FLAG else 1.0
    values = (float(header.origin.x), float(header.origin.y), float(header.origin.z))
    return tuple(sign * v if math.isfinite(v) else 0.0 for v in values)


def header_labels(header) -> list[str]:
    """The text labels of an MRC header (at most 10, trailing blanks dropped)."""
    count = min(max(int(header.nlabl), 0), _MAX_LABELS)
    return [bytes(header.label[i]).decode("ascii", "replace").rstrip() for i in range(count)]


def imod_words(header, offset: int, dtype: str, count: int) -> np.ndarray:
    """Values at ``offset`` of the IMOD-specific ``extra2`` bytes, in the header's byte order."""
    order = header.mode.dtype.str[0]
    return np.frombuffer(header.extra2.tobytes(), order + dtype, count, offset)


def bytes_signed(header) -> bool:
    """IMOD's rule for mode 0: the IMOD stamp makes flag bit 1 decide; otherwise the header
    min/max do (signed bytes read as int8 + 128, unsigned ones as uint8)."""
    stamp, flags = imod_words(header, 40, "i4", 2)
    if stamp == IMOD_STAMP:
        return bool(flags & SIGNED_BYTES_FLAG)
    low, high = float(header.dmin), float(header.dmax)
    if low < 0 and high < 128:
        return True
    return low < 0 and -low > high - 128


def _pixel_size(header) -> float:
    """Angstrom per pixel along X as IMOD takes it (cella/mx; 1 if mx is 0 or cella tiny)."""
    sampling, length = int(header.mx), float(header.cella.x)
    if sampling > 0 and math.isfinite(length) and length >= 1e-5:
        return length / sampling
    return 1.0


# --------------------------------------------------------------- extended-header tilts


def _header_tilts(mrc, nviews: int) -> np.ndarray | None:
    """Per-view tilt angles from an FEI, SerialEM or Agard extended header, else None."""
    extended = mrc.extended_header
    if extended is None or extended.nbytes == 0:
        return None
    kind = bytes(mrc.header.exttyp).rstrip(b"\0")
    if kind in (b"FEI1", b"FEI2"):
        tilts = _fei_tilts(mrc)
    elif kind in (b"", b"SERI", b"AGAR"):
        tilts = _packed_tilts(mrc.header, extended.tobytes(), nviews)
    else:
        return None
    return plausible_tilts(tilts, nviews)


def plausible_tilts(tilts, nviews: int) -> np.ndarray | None:
    """``tilts`` as float64 if there is one per view, each within +-180 degrees, else None."""
    if tilts is None or None in tilts:
        return None
    tilts = np.asarray(tilts, dtype=np.float64)
    if tilts.shape != (nviews,) or not np.all(np.abs(tilts) <= 180):
        return None
    return tilts


def _fei_tilts(mrc) -> np.ndarray | None:
    """'Alpha tilt' of FEI1/FEI2 records when bitmask bit 7 says it is present."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        records = mrc.indexed_extended_header
    if records is None or not int(records["Bitmask 1"][0]) >> 7 & 1:
        return None
    # IMOD's correction for the angle-unit bug of this one FEI application version
    buggy = bytes(records["Application version"][0]).rstrip(b"\0 ") == b"4.4.0.4981"
    return records["Alpha tilt"] * (math.pi / 180 if buggy else 1.0)


def _packed_tilts(header, extended: bytes, nviews: int) -> np.ndarray | None:
    """Tilts as IMOD finds them via nint/nreal: SerialEM (bytes per section + flags, tilt
    as int16 x100) or Agard/old FEI (nint int32s then nreal float32s, tilt first float)."""
    nint, nreal = (int(value) for value in imod_words(header, 16, "i2", 2))
    if nint == 128 and nreal == 32:  # old FEI files; IMOD treats nint as 0
        nint = 0
    if _is_serialem(nint, nreal):
        if not nreal & _SERIALEM_TILT_FLAG:
            return None
        step, offset, dtype, scale = nint, 0, "i2", 0.01
    elif nint >= 0 and nreal > 0:
        step, offset, dtype, scale = 4 * (nint + nreal), 4 * nint, "f4", 1.0
    else:
        return None
    dtype = np.dtype(header.mode.dtype.str[0] + dtype)
    if offset + (nviews - 1) * step + dtype.itemsize > len(extended):
        return None
    values = np.ndarray(nviews, dtype, extended, offset, (step,))
    return values * scale


def _is_serialem(nint: int, nreal: int) -> bool:
    """IMOD's test that nint/nreal are SerialEM's bytes-per-section and item flags."""
    if nint < 0 or nreal < 0 or nint + nreal == 0 or nreal >= 1 << len(_SERIALEM_ITEM_BYTES):
        return False
    return nint == sum(size for bit, size in enumerate(_SERIALEM_ITEM_BYTES) if nreal >> bit & 1)


# ----------------------------------------------------------------------------- writing


class VolumeFile:
    """A new MRC file of known shape and mode, filled block by block with ``write_block``; ``finish`` writes the
    header.

    Blocks go to the file with plain positioned writes (no memory map: its page faults and mrcfile's closing
    msync cost more than the copy).  Mode 0 takes unsigned bytes (0..255) and stores them as IMOD's tilt does by
    default: signed (value - 128) under the IMOD stamp with the signed-bytes flag, header min/max/mean likewise.
    """

    def __init__(self, path: Path, shape: tuple[int, int, int], mode: int):
        mrc = _new_mmap(path, shape, mode)
        try:
            self._header = mrc.header.copy()
            self._offset = HEADER_BYTES + int(mrc.header.nsymbt)
            self._itemsize = mrc.data.dtype.itemsize
        finally:
            mrc.close()
        self._signed_bytes = mode == 0
        self._path = path
        self._shape = tuple(shape)
        self._fd = os.open(path, os.O_RDWR)
        self._data = DataWriter(path, self._fd)

    @classmethod
    def attach(cls, path: Path, shape: tuple[int, int, int]) -> "VolumeFile":
        """Write blocks into a file another process created (and will finish) with the same shape; or, when
        resuming an interrupted run, finish that file here.  A file of another shape or size is refused."""
        self = cls.__new__(cls)
        self._fd = self._data = None
        fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW)
        try:
            raw = os.pread(fd, HEADER_BYTES, 0)
            size = os.fstat(fd).st_size
            header = np.frombuffer(raw, HEADER_DTYPE.newbyteorder(_byte_order(raw))) if len(raw) == HEADER_BYTES \
                else None
            mode = int(header["mode"][0]) if header is not None else -1
            dims = tuple(int(header[k][0]) for k in ("nz", "ny", "nx")) if header is not None else ()
            if mode not in _DTYPES or dims != tuple(shape):
                raise file_error(path, "is not the partial output of this run (mode and size differ): delete it "
                                       "and start afresh")
            self._header = header.reshape(()).copy().view(np.recarray)
            self._offset = HEADER_BYTES + int(header["nsymbt"][0])
            self._itemsize = np.dtype(_DTYPES[mode]).itemsize
            self._signed_bytes = mode == 0
            if size != self._offset + int(np.prod(shape)) * self._itemsize:
                raise file_error(path, f"is not the partial output of this run ({size} bytes): delete it and "
                                       f"start afresh")
        except BaseException:
            os.close(fd)
            raise
        self._path = path
        self._shape = tuple(shape)
        self._fd = fd
        self._data = DataWriter(path, fd)
        return self

    def _regions(self, axis: int, start: int, count: int):
        """(offset, bytes) of the data of slices ``start .. start+count-1`` along ``axis``, in file order."""
        n0, n1, n2 = self._shape
        plane = n1 * n2 * self._itemsize
        if axis == 0:
            return [(self._offset + start * plane, count * plane)]
        return [(self._offset + index * plane + start * n2 * self._itemsize, count * n2 * self._itemsize)
                for index in range(n0)]

    def digest(self, axis: int, start: int, count: int) -> int:
        """CRC-32 of the stored slices ``start .. start+count-1`` along ``axis``, read back from the file."""
        crc = 0
        for offset, length in self._regions(axis, start, count):
            while length:
                chunk = os.pread(self._fd, min(length, 1 << 24), offset)
                if not chunk:
                    raise OSError(errno.EIO, "the file is shorter than its header says")
                crc = zlib.crc32(chunk, crc)
                offset, length = offset + len(chunk), length - len(chunk)
        return crc

    def sync(self) -> None:
        """Make what was written durable (before a checkpoint counts it as written)."""
        os.fsync(self._fd)

    def block_offset(self, axis: int, start: int) -> int:
        """Where in the file the data of a block at ``start`` along ``axis`` begin (write_block's first region)."""
        return self._regions(axis, start, 1)[0][0]

    def write_block(self, axis: int, start: int, block: np.ndarray) -> None:
        """Store ``block`` (file order, C-contiguous; mode 0: unsigned bytes) at ``start`` along ``axis`` (0 or 1) of
        the data."""
        if self._signed_bytes:
            block = np.bitwise_xor(block.view(np.uint8), np.uint8(0x80))  # value - 128 as a signed byte
        n0, n1, n2 = self._shape
        plane = n1 * n2 * self._itemsize
        if axis == 0:
            self._data.write(block, self._offset + start * plane)
            return
        for index in range(n0):
            self._data.write(block[index], self._offset + index * plane + start * n2 * self._itemsize)

    def finish(self, stats, *, pixel_size: float, origin, labels, tilt_angles=(0.0,) * 6) -> None:
        """Complete the header as IMOD's tilt writes it (docs/conventions.md: stats, pixel size, origin, labels, the
        six header tilt angles, space group 0, no MRC2014 version, IMOD's stamp and flags) and close."""
        header = self._header
        header.ispg = 0
        header.nversion = 0  # newer IMOD would negate the origin of a file that declares MRC2014
        header.machst = _MACHINE_STAMPS[header.mode.dtype.str[0]]
        header.mx, header.my, header.mz = header.nx, header.ny, header.nz
        header.cella = tuple(float(n) * pixel_size for n in (header.nx, header.ny, header.nz))
        header.origin = tuple(origin)
        shift = 128.0 if self._signed_bytes else 0.0  # IMOD's header statistics of signed bytes are signed too
        header.dmin, header.dmax = stats.minimum - shift, stats.maximum - shift
        header.dmean, header.rms = stats.mean - shift, stats.rms
        _stamp_imod(header, SIGNED_BYTES_FLAG)
        _set_imod_words(header, 60, "f4", tilt_angles)
        _set_labels(header, labels)
        os.pwrite(self._fd, header.tobytes(), 0)
        self.close()

    def close(self) -> None:
        if self._fd is not None:
            if self._data is not None:
                self._data.close()
            os.close(self._fd)
            self._fd = None


def write_stack(path: Path, views: np.ndarray, *, pixel_size: float, angles) -> None:
    """Write ``views`` (nviews, ny, nx) as a mode-2 image stack; ``angles`` go into a
    SerialEM-style extended header (tilt x 100 as int16, 0.01 degree steps)."""
    extended = None if angles is None else np.round(np.asarray(angles) * 100).astype(np.int16)
    mrc = _new_mmap(path, views.shape, 2, extended)
    try:
        mrc.data[...] = views
        mrc.set_image_stack()
        mrc.voxel_size = pixel_size
        mrc.update_header_stats()
        if extended is not None:
            mrc.header.exttyp = b"SERI"
            _set_imod_words(mrc.header, 16, "i2", [2, _SERIALEM_TILT_FLAG])
    finally:
        mrc.close()


def _new_mmap(path: Path, shape, mode: int, extended_header=None):
    """mrcfile.new_mmap over ``path``, with the disk space reserved up front so that a
    full disk fails here rather than as a crash while writing through the map."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mrc = mrcfile.new_mmap(path, tuple(shape), mrc_mode=mode, overwrite=True,
                               extended_header=extended_header)
    try:
        if hasattr(os, "posix_fallocate"):
            descriptor = os.open(path, os.O_RDWR)
            try:
                os.posix_fallocate(descriptor, 0, os.path.getsize(path))
            finally:
                os.close(descriptor)
    except BaseException:
        mrc.close()
        raise
    return mrc


def _set_imod_words(header, offset: int, dtype: str, values) -> None:
    """Store ``values`` at ``offset`` of ``extra2`` in the header's byte order."""
    packed = np.array(values, header.mode.dtype.str[0] + dtype).tobytes()
    raw = bytearray(header.extra2.tobytes())
    raw[offset:offset + len(packed)] = packed
    header.extra2 = np.void(bytes(raw))


def _stamp_imod(header, flags: int = 0) -> None:
    """IMOD's stamp with ``flags``: with SIGNED_BYTES_FLAG (what IMOD's programs set by default, in every mode) the
    bytes of a mode-0 file are signed (value - 128), without it unsigned (0..255); IMOD and this module read them
    so."""
    _set_imod_words(header, 40, "i4", [IMOD_STAMP, flags])


def imod_label(text: str) -> str:
    """A label as IMOD's programs write them: the text (at most 55 characters), then the date at column 57
    (`` 3-Dec-26  16:53:12``: the day padded with a space)."""
    now = datetime.now()
    return f"{text[:55]:<55} {now.day:2d}-{now:%b-%y  %H:%M:%S}"


def _set_labels(header, labels) -> None:
    """IMOD-style labels: the first 10, each cut to 80 characters (IMOD adds a label only while there is room: to a
    header with 10 labels, none)."""
    labels = list(labels)[:_MAX_LABELS]
    header.label = b""
    for index, text in enumerate(labels):
        clean = "".join(c if c.isprintable() else " " for c in text)
        header.label[index] = clean.encode("ascii", "replace")[:_LABEL_CHARS].ljust(_LABEL_CHARS)
    header.nlabl = len(labels)
