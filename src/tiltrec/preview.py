"""PNG previews of ``[y, z, x]`` volumes: orthogonal slices laid out like 3dmod's XYZ view.

Contrast maps the 0.5 and 99.5 percentiles to black and white.  Panels are pixel-exact, except that
an image smaller than 256 px on its long side is enlarged by an integer factor (nearest neighbour).
PNG files are written atomically (temporary file, then ``os.replace``).
"""

import os
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

GAP = 2  # px between panels
MIN_SIZE = 256  # px; smaller images are enlarged by an integer factor
PERCENTILES = (0.5, 99.5)


def orthoslices(volume_yzx, *, slab=1):
    """Central ``(xy, xz, yz)`` slices of a ``[y, z, x]`` volume, each the mean of ``slab`` planes.

    ``xy`` is indexed ``[y, x]``, ``xz`` ``[z, x]`` and ``yz`` ``[y, z]``, all float32.
    """
    vol = np.asarray(volume_yzx)
    if vol.ndim != 3:
        raise ValueError(f"expected a 3-D [y, z, x] volume, got shape {vol.shape}")
    if slab < 1:
        raise ValueError(f"slab must be at least 1, got {slab}")
    ys, zs, xs = (_central(n, slab) for n in vol.shape)
    xy = vol[:, zs, :].mean(axis=1, dtype=np.float64)
    xz = vol[ys, :, :].mean(axis=0, dtype=np.float64)
    yz = vol[:, :, xs].mean(axis=2, dtype=np.float64)
    return tuple(p.astype(np.float32) for p in (xy, xz, yz))


def write_preview(volume_yzx, path, *, slab=1, title=None) -> None:
    """Write a PNG of the orthogonal slices: XY top-left, XZ below it (high z up), YZ to its right."""
    xy, xz, yz = orthoslices(volume_yzx, slab=slab)
    xz = xz[::-1]  # image rows run downwards; put high z at the top
    lo, hi = _contrast_limits(xy, xz, yz)
    (ny, nx), nz = xy.shape, xz.shape[0]
    f = _upscale_factor(max(nx, ny) + nz, GAP)
    xy, xz, yz = (_to_uint8(_enlarge(p, f), lo, hi) for p in (xy, xz, yz))
    canvas = np.zeros((f * (ny + nz) + GAP, f * (nx + nz) + GAP), np.uint8)
    canvas[: f * ny, : f * nx] = xy
    canvas[f * ny + GAP :, : f * nx] = xz
    canvas[: f * ny, f * nx + GAP :] = yz
    image = Image.fromarray(canvas)
    if title:
        image = _with_title(image, title)
    save_png(image, path)


def write_image(array2d, path) -> None:
    """Write one 2-D array as a PNG (row 0 at the top) with the preview's contrast rule."""
    a = np.asarray(array2d, dtype=np.float32)
    if a.ndim != 2:
        raise ValueError(f"expected a 2-D array, got shape {a.shape}")
    lo, hi = _contrast_limits(a)
    f = _upscale_factor(max(a.shape))
    save_png(Image.fromarray(_to_uint8(_enlarge(a, f), lo, hi)), path)


def _central(n, slab):
    """Slice of the ``slab`` planes at the centre of an axis of length ``n``."""
    start = max((n - slab) // 2, 0)
    return slice(start, min(start + slab, n))


def _contrast_limits(*panels):
    """Robust (low, high) grey limits over all ``panels`` together."""
    values = np.concatenate([p.ravel() for p in panels])
    lo, hi = np.percentile(values, PERCENTILES)
    return float(lo), float(hi)


def _to_uint8(a, lo, hi):
    """Map ``lo``..``hi`` to 0..255, clipping; a flat image becomes mid-grey."""
    if hi <= lo:
        return np.full(a.shape, 128, np.uint8)
    return np.round(np.clip((a - lo) * (255 / (hi - lo)), 0, 255)).astype(np.uint8)


def _upscale_factor(long_side, fixed=0):
    """Smallest integer f >= 1 with ``f * long_side + fixed >= MIN_SIZE`` (``fixed``: gaps)."""
    return max(1, -(-(MIN_SIZE - fixed) // long_side))


def _enlarge(a, f):
    """``a`` enlarged ``f`` times by pixel repetition."""
    return a if f == 1 else np.repeat(np.repeat(a, f, axis=0), f, axis=1)


def _with_title(image, title):
    """``image`` below a black strip with ``title`` in white, Pillow's default font."""
    font = ImageFont.load_default()
    bottom = font.getbbox(title)[3]
    pad = 4
    out = Image.new("L", (image.width, image.height + bottom + 2 * pad), 0)
    ImageDraw.Draw(out).text((pad, pad), title, fill=255, font=font)
    out.paste(image, (0, bottom + 2 * pad))
    return out


def save_png(image, path):
    """Save ``image`` as PNG at ``path`` via a temporary file in the same folder (usual permissions)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            image.save(fh, format="PNG")
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
