"""PNG previews of ``[y, z, x]`` volumes: orthogonal slices laid out like 3dmod's XYZ view.

Contrast maps the 0.5 and 99.5 percentiles to black and white.  Panels are pixel-exact, except that
an image smaller than 256 px on its long side is enlarged by an integer factor (nearest neighbour).
PNG files are written atomically (temporary file, then ``os.replace``), and an existing file is replaced only
with ``overwrite``.
"""

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .errors import file_error
from .formats import open_stack
from .formats.atomic import check_output, written_whole
from .formats.layout import layout_kind

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


def write_preview(volume_yzx, path, *, slab=1, title=None, overwrite=False) -> None:
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
    save_png(image, path, overwrite)


def write_image(array2d, path, overwrite=False) -> None:
    """Write one 2-D array as a PNG (row 0 at the top) with the preview's contrast rule."""
    a = np.asarray(array2d, dtype=np.float32)
    if a.ndim != 2:
        raise ValueError(f"expected a 2-D array, got shape {a.shape}")
    lo, hi = _contrast_limits(a)
    f = _upscale_factor(max(a.shape))
    save_png(Image.fromarray(_to_uint8(_enlarge(a, f), lo, hi)), path, overwrite)


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


def preview_layout(path: Path) -> str:
    """The layout to show a volume file in when none is given: the one its sizes tell (the thickness is the
    shortest axis); a tilt series or a single image is refused, and a volume that does not tell is shown as
    IMOD's default with a warning."""
    with open_stack(path) as stack:
        kind = layout_kind(stack.nx, stack.ny, stack.nviews, stack.header_angles is not None)
    if kind in ("tilt series", "image"):
        what = "tilt series (it has per-view angles)" if kind == "tilt series" else "single image"
        raise file_error(path, f"is a {what}, not a tomogram: preview a reconstruction, or give --layout to show "
                               f"it anyway")
    if kind is None:
        warnings.warn(f"{path}: its sizes do not tell the layout; shown as xzy (give --layout xyz if the thickness "
                      f"is the file's Z)")
        return "xzy"
    return kind


def check_png(path: Path, overwrite: bool) -> None:
    """Refuse a PNG path that is not named .png or that may not be written (formats.atomic.check_output)."""
    if path.suffix.lower() != ".png":
        raise file_error(path, "a picture is written as PNG: name it .png")
    check_output(path, overwrite)


def save_png(image, path, overwrite=False) -> None:
    """Save ``image`` as PNG at ``path`` (named ``.png``) through a temporary file beside it, replacing an existing
    file only with ``overwrite``; failures are one-line errors naming ``path``."""
    path = Path(path)
    check_png(path, overwrite)
    with written_whole(path, overwrite) as temporary:
        image.save(temporary, format="PNG")
