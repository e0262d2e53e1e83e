"""Row filters for weighted / filtered back-projection: IMOD's radial weighting and textbook FBP filters.

A :class:`RowFilter` filters every row (constant Y, running along X) of every view in batched real FFTs:
the row is padded to ``npad`` samples, transformed, multiplied by a real weight per frequency index
``k = 0 .. npad//2`` (one weight row per view, or one shared row) and transformed back; the first ``nx``
samples are kept.  The forward/inverse FFT pair is normalised (round trip = identity), as IMOD's ``odfft``
pair is (each direction scales by ``1/sqrt(N)``), so a weight of 1 leaves a row unchanged.

IMOD ``tilt`` R-weighted back-projection, the recipe (IMOD 4.8.2 ``flib/tilt/tilt.f90``: ``inputParameters``,
``RADWT``, ``taperEndToStart``, ``TRANSFORM``, ``PROJECT``, ``dumpSlice``; ``libcfft/odfft.c``), confirmed on
the references in ``shared/reference/imod-4.8.2`` (see ``tests/test_filters.py``):

* **Padding**: ``pad = min(50, 2*max(8, nx//20))``; ``npad`` = the smallest even number ``>= 2*((nx+pad)//2)``
  whose prime factors are all ``<= 19`` (IMOD ``niceframe``).  nx=128 -> 144, nx=64 -> 80.
* **Taper**: the pad samples after the data go linearly from the mean of the last 3 data samples to the mean of
  the first 3: pad sample ``i = 1..P`` (``P = npad - nx``) is ``f*start + (1-f)*end`` with ``f = i/(P+1)``.
* **Weights** (FFT index ``k``): with ``stretch = npad/nx``, ``RADIAL c f`` gives ``ic = int(c)`` (pixels) or,
  when that is 0, ``ic = int(nx*c)`` (cycles/pixel); the same for ``if`` from ``f``; both then become
  ``Ic = nint(ic*stretch)``, ``F = nint(if*stretch)`` (float32 arithmetic, as IMOD).  ``W(k) = k`` for
  ``k < Ic`` with ``W(0) = 0.2`` (Kak & Slaney's value; it equals ``2/pi**2`` of the spatial Ram-Lak kernel);
  beyond, ``W(k) = W(Ic-1) * exp(-((k-Ic+1)/F)**2)``: a Gaussian whose sigma is ``F/sqrt(2)`` ("old" sigma, the
  only kind in 4.8.2), anchored at the *last ramp sample* ``Ic-1``.  No ``RADIAL``: the ramp runs to Nyquist.
  Newer IMOD's ``FalloffIsTrueSigma 1`` uses sigma = ``F`` (``exp(-0.5*(d/F)**2)``); its ``FakeSIRTiterations``
  curve is taken from ``shared/design/conventions.md`` (not checked against IMOD source or output here).
* **Density weighting** (``DENSWEIGHT`` default 2 neighbours with weights ``1/(i-0.5)`` = 2, 2/3): with the used
  views sorted by angle, each view's whole weight row is multiplied by the weighted mean of the angle steps
  ``1..2`` views to each side (steps that exist) divided by the mean step ``(last-first)/(n-1)``.  Even steps
  give exactly 1.
* **Fill**: a voxel whose projection falls outside the data (``xproj < 1`` or ``xproj >= nx``, 1-based; with
  X-axis tilt also outside rows ``1..ny``) receives ONE constant for all views and lines:
  ``edgeFill = dmean * zeroWeight``, where ``dmean`` is the mean of the whole input stack (IMOD reads it from
  the file header, so excluded views count too; with ``LOG`` it is ``log10(dmean + base)``) and
  ``zeroWeight = mean over views of W_v(0)`` (= 0.2 x mean density weight).  See :func:`imod_fill_value`.
* **Scale**: with ``SCALE add mult``, ``output = (sum_v bp_v + add*nviews) * mult / nviews``;
  for ``SCALE 0 1`` the volume is ``sum / nviews`` (no FFT-size factor: the FFT pair is normalised).
  Because the ramp is in index units, the result is about ``nx/2.2`` times the true density.
* **Interpolation** (not part of the filter, but it sets the last digits): IMOD's CPU path resamples each
  filtered line by ``1/cos(theta)`` at twice the sampling ("cosine stretching", linear, unless a tilt
  exceeds 80 degrees) and then interpolates linearly again; with an X-axis tilt it back-projects untilted
  "vertical slices" and interpolates the output slices from them bilinearly.  A direct linear back-projector
  therefore comes out ~1-4% stronger at high frequency.  ``imod_radial_filter(..., cosine_stretch=2)`` folds
  the mean response of the stretch, ``sinc(nu*cos(theta)/2)**2``, into the weights.
"""

from __future__ import annotations

import math
import os
import queue
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from .errors import InputError

__all__ = [
    "FBP_FILTERS",
    "FilterNameError",
    "FilterParameterError",
    "RowFilter",
    "fbp_filter",
    "fbp_filter_name",
    "fbp_scale",
    "imod_density_weights",
    "imod_fill_value",
    "imod_pad_length",
    "imod_radial_filter",
    "imod_radial_weights",
    "imod_wbp_add",
    "imod_wbp_scale",
    "imod_zero_weight",
    "nice_fft_length",
]

FBP_FILTERS: tuple[str, ...] = ("ramp", "shepp-logan", "cosine", "hamming", "hann")

# Padded samples per chunk of rows in RowFilter.apply: a thread's buffers (~3 MB) stay in the CPU's cache.
_CHUNK_ELEMENTS = 1 << 18


class FilterParameterError(InputError, ValueError):
    """A filter parameter that cannot be used (a ValueError, and an InputError for the command line: one line,
    exit code 2), found where the row length is known."""


class FilterNameError(FilterParameterError):
    """An unknown filter name."""


# --------------------------------------------------------------------------------------------- RowFilter
@dataclass(frozen=True, eq=False)
class RowFilter:
    """A real, per-frequency weighting of padded rows.

    Attributes:
        nx: unpadded row length.
        npad: padded FFT length N'.
        weights: float32 ``(nviews, npad//2 + 1)`` or ``(1, npad//2 + 1)``; row ``v`` multiplies the rfft of
            every padded row of view ``v`` (a single row is shared by all views).
    """

    nx: int
    npad: int
    weights: np.ndarray

    def __post_init__(self):
        nx, npad = int(self.nx), int(self.npad)
        if nx < 1 or npad < nx:
            raise ValueError(f"need 1 <= nx <= npad, got nx={nx}, npad={npad}")
        w = np.ascontiguousarray(np.asarray(self.weights, dtype=np.float32))
        if w.ndim == 1:
            w = w[None, :]
        if w.ndim != 2 or w.shape[1] != npad // 2 + 1 or w.shape[0] < 1:
            raise ValueError(f"weights must have shape (nviews or 1, {npad // 2 + 1}), got {w.shape}")
        w.setflags(write=False)
        object.__setattr__(self, "nx", nx)
        object.__setattr__(self, "npad", npad)
        object.__setattr__(self, "weights", w)

    @property
    def nviews(self) -> int:
        """Number of weight rows (1 when shared by all views)."""
        return int(self.weights.shape[0])

    @property
    def zero_weight(self) -> float:
        """Mean over the weight rows of the zero-frequency weight (IMOD's ``zeroWeight``)."""
        return float(np.mean(self.weights[:, 0], dtype=np.float64))

    def check_views(self, shape: tuple) -> None:
        """ValueError unless ``shape`` is ``(nviews, ny, nx)`` views this filter can weight."""
        if len(shape) != 3:
            raise ValueError(f"views must be (nviews, ny, nx), got shape {shape}")
        if shape[2] != self.nx:
            raise ValueError(f"views have rows of {shape[2]} samples, the filter was made for {self.nx}")
        if self.nviews not in (1, shape[0]):
            raise ValueError(f"filter has {self.nviews} weight rows for {shape[0]} views")

    def apply(self, views: np.ndarray, workers: int = -1, width: int | None = None, out=None,
              subtract: float = 0.0) -> np.ndarray:
        """Filter every row of ``views`` (float32 ``(nviews, ny, nx)``); returns a new float32 array of the first
        ``width`` (default ``nx``) samples of each filtered padded row, less ``subtract`` (float32 arithmetic);
        or writes them into ``out`` (float32 ``(nviews, ny, width)``, any strides: a projector's layout seen as
        rows, so that no pass over the filtered views packs them) and returns it.

        Rows are padded to ``npad`` with IMOD's linear taper from the row's end back to its start (mean of the
        last 3 samples -> mean of the first 3), so the periodic FFT sees no jump.  Chunks of rows small enough to
        stay in the CPU's cache are padded, transformed (scipy.fft's pocketfft: ``fft_rows``), weighted,
        transformed back and cropped one after another on each of ``workers`` threads (scipy.fft's convention:
        -1 = all CPUs).
        Views on a GPU (a CuPy array) are filtered there, by ``projectors.cuda.filtering``.
        """
        if hasattr(views, "__cuda_array_interface__"):
            from .projectors.cuda.filtering import filter_on_gpu

            filtered = filter_on_gpu(self, views)
            if subtract:
                filtered -= np.float32(subtract)
            if out is None:
                return filtered
            out[...] = filtered
            return out
        from .fft_rows import irfft, rfft  # here, so that runs on a GPU never load it

        views = np.asarray(views)
        self.check_views(views.shape)
        nv, ny, nx = views.shape
        width = nx if width is None else min(int(width), self.npad)
        if out is None:
            out = np.empty((nv, ny, width), dtype=np.float32)
        elif out.shape != (nv, ny, width) or out.dtype != np.float32:
            raise ValueError(f"out must be float32 {(nv, ny, width)}, got {out.dtype} {out.shape}")
        if nv == 0 or ny == 0:
            return out
        below = np.float32(subtract)
        npad, pad = self.npad, self.npad - nx
        ramp = np.arange(1, pad + 1, dtype=np.float32) / np.float32(pad + 1)
        if ny * npad <= _CHUNK_ELEMENTS:  # whole views per chunk
            vstep, rstep = _CHUNK_ELEMENTS // (ny * npad), ny
        else:  # large views: blocks of rows of one view
            vstep, rstep = 1, max(1, _CHUNK_ELEMENTS // npad)
        nedge = min(3, nx)
        chunks = [(v0, r0) for v0 in range(0, nv, vstep) for r0 in range(0, ny, rstep)]
        threads = min(len(chunks), workers if workers > 0 else (os.cpu_count() or 1) + 1 + workers)
        # each thread's chunks reuse one set of buffers: new ones for every chunk cost their page faults again
        # (a tenth of the filter's time in a 1024^2 WBP)
        most = min(vstep, nv) * min(rstep, ny)
        scratch = queue.SimpleQueue()
        for _ in range(max(1, threads)):
            scratch.put((np.empty(most * npad, np.float32), np.empty(most * (npad // 2 + 1), np.complex64),
                         np.empty(most * npad, np.float32)))

        def filter_chunk(v0: int, r0: int) -> None:
            v1, r1 = min(nv, v0 + vstep), min(ny, r0 + rstep)
            w = self.weights if self.nviews == 1 else self.weights[v0:v1]
            shape = (v1 - v0, r1 - r0)
            rows = shape[0] * shape[1]
            padded, spectra, back = scratch.get()
            buf = padded[:rows * npad].reshape(*shape, npad)
            buf[..., :nx] = views[v0:v1, r0:r1]
            if pad:
                start = buf[..., :nedge].mean(axis=-1, dtype=np.float32)
                end = buf[..., nx - nedge:nx].mean(axis=-1, dtype=np.float32)
                buf[..., nx:] = ramp * start[..., None] + (np.float32(1) - ramp) * end[..., None]
            spec = rfft(buf, out=spectra[:rows * (npad // 2 + 1)].reshape(*shape, npad // 2 + 1))
            spec *= w[:, None, :]
            res = irfft(spec, npad, out=back[:rows * npad].reshape(*shape, npad))
            if below:
                np.subtract(res[..., :width], below, out=out[v0:v1, r0:r1])
            else:
                out[v0:v1, r0:r1] = res[..., :width]
            scratch.put((padded, spectra, back))

        if threads <= 1:
            for chunk in chunks:
                filter_chunk(*chunk)
        else:
            with ThreadPoolExecutor(threads) as pool:
                list(pool.map(lambda chunk: filter_chunk(*chunk), chunks))
        return out


# ----------------------------------------------------------------------------------------- IMOD helpers
def nice_fft_length(n: int, multiple: int = 2, largest_prime: int = 19) -> int:
    """Smallest ``m >= n`` that is a multiple of ``multiple`` with no prime factor above ``largest_prime``
    (IMOD's ``niceframe``)."""
    m = max(multiple, -(-int(n) // multiple) * multiple)
    primes = [p for p in range(2, largest_prime + 1) if all(p % q for q in range(2, p))]
    while True:
        r = m
        for p in primes:
            while r % p == 0:
                r //= p
        if r == 1:
            return m
        m += multiple


def imod_pad_length(nx: int) -> int:
    """IMOD's padded FFT length for rows of ``nx`` samples: ``niceframe(2*((nx + pad)//2))`` with
    ``pad = min(50, 2*max(8, nx//20))``."""
    nx = int(nx)
    if nx < 1:
        raise ValueError(f"row length must be positive, got {nx}")
    pad = min(50, 2 * max(8, nx // 20))
    return nice_fft_length(2 * ((nx + pad) // 2), 2, 19)


def _nint(x: float) -> int:
    """Fortran NINT: round half away from zero."""
    return int(math.floor(abs(x) + 0.5)) * (1 if x >= 0 else -1)


def _radial_index(value: float, nx: int) -> int:
    """IMOD's reading of a RADIAL entry: ``int(v)`` pixels, or ``int(nx*v)`` when that is 0 (float32)."""
    idx = int(np.float32(value))
    if idx == 0:
        idx = int(np.float32(nx) * np.float32(value))
    return idx


def _fake_sirt_exponent(n: float) -> float:
    if n <= 15:
        return float(n)
    if n <= 30:
        return 15.0 + 0.8 * (n - 15)
    return 27.0 + 0.6 * (n - 30)


def imod_radial_weights(nx: int, npad: int | None = None, *, cutoff: float | None = None,
                        falloff: float | None = None, true_sigma: bool = False,
                        fake_sirt_iterations: float = 0, hamming: float | None = None,
                        multiply: bool = False, flat: float | None = None) -> np.ndarray:
    """IMOD's radial weighting function for one view (no density weight), float64 ``(npad//2 + 1,)``.

    ``cutoff``/``falloff`` are IMOD's ``RADIAL`` pair: a value ``>= 1`` is in pixels (frequency index of the
    unpadded row, truncated to an integer), ``< 1`` in cycles/pixel.  ``cutoff=None`` means no ``RADIAL``
    entry: the ramp runs to Nyquist.  ``hamming`` is ``HammingLikeFilter`` (cycles/pixel): the ramp times a
    Gaussian (true sigma ``0.438 (nx/2 - cutoff)``) beyond the cutoff, instead of ``RADIAL``; ``multiply``
    (``MultiplyByGaussian``) makes ``RADIAL`` multiply the ramp by its Gaussian in the same way.  ``flat``
    replaces the ramp by this constant (IMOD's flat filters for its SIRT), the zero frequency included.
    """
    nx = int(nx)
    npad = imod_pad_length(nx) if npad is None else int(npad)
    nfreq = npad // 2 + 1
    k = np.arange(nfreq, dtype=np.float64)
    if fake_sirt_iterations and fake_sirt_iterations > 0:
        alpha = 0.00195
        expo = _fake_sirt_exponent(float(fake_sirt_iterations)) + 0.3
        f = k / (npad + 2)
        base = k.copy()
        big = f >= alpha
        base[big] = k[big] * (1.0 - (1.0 - alpha / f[big]) ** expo)
    else:
        base = k.copy()
    base[0] = 0.2
    if flat is not None:
        base[:] = flat
    if hamming is not None:
        if cutoff is not None:
            raise FilterParameterError("HammingLikeFilter and RADIAL exclude each other")
        cutoff = float(int(nx * hamming)) or 0.0
        falloff, true_sigma, multiply = 0.438 * (0.5 * nx - cutoff), True, True
        return _gaussian_tail(base, k, nx, npad, cutoff, falloff, true_sigma, multiply)
    if cutoff is None:
        return base
    if falloff is None:
        raise FilterParameterError("a RADIAL cutoff needs a falloff too")
    if not cutoff > 0 or not falloff >= 0:
        raise FilterParameterError(f"RADIAL cutoff must be > 0 and falloff >= 0, got {cutoff}, {falloff}")
    return _gaussian_tail(base, k, nx, npad, _radial_index(cutoff, nx), _radial_index(falloff, nx), true_sigma,
                          multiply)


def _gaussian_tail(base, k, nx, npad, cutoff_px: float, falloff_px: float, true_sigma: bool, multiply: bool):
    """The ramp ``base`` up to the cutoff index, then a Gaussian roll-off: of the value at the cutoff, or with
    ``multiply`` of the ramp itself.  Cutoff and falloff in pixels of the unpadded row."""
    stretch = np.float32(npad) / np.float32(nx)
    ic = _nint(float(np.float32(cutoff_px) * stretch))
    sigma = float(np.float32(falloff_px) * stretch)
    sigma = max(0.01, sigma) if multiply else _nint(sigma)
    if ic < 1 and not multiply:
        raise FilterParameterError(f"RADIAL cutoff (--radial) of {cutoff_px} pixels leaves no frequency unfiltered "
                                   f"for rows of {nx} pixels: give a larger cutoff")
    if ic >= base.size:
        return base
    w = base.copy()
    d = k[ic:] - (ic - 1)
    if sigma <= 0:
        w[ic:] = 0.0
        return w
    arg = d / sigma
    gauss = np.exp(-0.5 * arg * arg) if true_sigma else np.exp(-arg * arg)
    w[ic:] = (base[ic:] if multiply else base[ic - 1]) * gauss
    if multiply:
        w[ic:][arg >= 8.0] = 0.0
    return w


def imod_view_attenuation(angles_deg, density_weighting: bool | int = True) -> np.ndarray:
    """Each view's weight under ``DENSWEIGHT``: True (IMOD's default, 2 neighbours), False/0 (all 1) or the number
    of neighbours (see :func:`imod_density_weights`)."""
    angles = np.atleast_1d(np.asarray(angles_deg, dtype=np.float64)).ravel()
    neighbours = 2 if density_weighting is True else int(density_weighting)
    return imod_density_weights(angles, neighbours=neighbours) if neighbours > 0 else np.ones(angles.size)


def imod_density_weights(angles_deg, neighbours: int = 2, neighbour_weights=None) -> np.ndarray:
    """IMOD's per-view weighting by the local density of tilt angles (``DENSWEIGHT``), in the input order.

    Each view gets the weighted mean of the angle steps to its ``1..neighbours`` neighbours on each side
    (weights ``1/(i - 0.5)`` unless given), divided by the mean step over the series.  Even steps give 1.
    """
    a = np.asarray(angles_deg, dtype=np.float64).ravel()
    n = a.size
    out = np.ones(n)
    if neighbours <= 0 or n < 2:
        return out
    wts = (np.array([1.0 / (i - 0.5) for i in range(1, neighbours + 1)]) if neighbour_weights is None
           else np.asarray(neighbour_weights, dtype=np.float64).ravel())
    if wts.size != neighbours:
        raise ValueError(f"need {neighbours} neighbour weights, got {wts.size}")
    order = np.argsort(a, kind="stable")
    s = a[order]
    avg = (s[-1] - s[0]) / (n - 1)
    if avg == 0:
        return out
    att = np.empty(n)
    for iv in range(n):
        wsum = 0.0
        ssum = 0.0
        for iw in range(1, neighbours + 1):
            w = wts[iw - 1]
            if iv - iw >= 0:
                wsum += w
                ssum += w * (s[iv + 1 - iw] - s[iv - iw])
            if iv + iw <= n - 1:
                wsum += w
                ssum += w * (s[iv + iw] - s[iv + iw - 1])
        att[iv] = (ssum / wsum) / avg if wsum > 0 else 1.0
    out[order] = att
    return out


def imod_radial_filter(nx: int, angles_deg, *, cutoff: float | None = None, falloff: float | None = None,
                       true_sigma: bool = False, fake_sirt_iterations: float = 0,
                       density_weighting: bool | int = True, cosine_stretch: int = 0, hamming: float | None = None,
                       multiply: bool = False) -> RowFilter:
    """IMOD ``tilt``'s R-weighting filter for the views used (excluded views already removed).

    Args:
        nx: row length of the views.
        angles_deg: tilt angles of the views (including ``OFFSET``; a constant shift does not change the
            density weights, but ``cosine_stretch`` needs the true angles).
        cutoff, falloff: ``RADIAL`` entries (see :func:`imod_radial_weights`); ``None`` = no low-pass.
        true_sigma: ``FalloffIsTrueSigma 1`` (newer IMOD); default is IMOD 4.8.2's old sigma.
        fake_sirt_iterations: ``FakeSIRTiterations`` (newer IMOD); 0 = the plain ramp.
        hamming, multiply: ``HammingLikeFilter`` and ``MultiplyByGaussian`` (see :func:`imod_radial_weights`).
        density_weighting: ``DENSWEIGHT``: True (IMOD default, 2 neighbours), False/0 (off) or the number of
            neighbours.
        cosine_stretch: 0 (default) or the sampling factor of IMOD's CPU cosine stretching (2) whose mean
            response ``sinc(nu*cos(theta)/sampling)**2`` is folded into each view's weights, for a direct linear
            back-projector that should match IMOD's CPU output in amplitude.
    """
    angles = np.atleast_1d(np.asarray(angles_deg, dtype=np.float64)).ravel()
    if angles.size == 0:
        raise ValueError("no views")
    npad = imod_pad_length(nx)
    base = imod_radial_weights(nx, npad, cutoff=cutoff, falloff=falloff, true_sigma=true_sigma,
                               fake_sirt_iterations=fake_sirt_iterations, hamming=hamming, multiply=multiply)
    w = imod_view_attenuation(angles, density_weighting)[:, None] * base[None, :]
    if cosine_stretch:
        nu = np.arange(npad // 2 + 1) / npad
        cb = np.abs(np.cos(np.radians(angles)))
        w = w * np.sinc(nu[None, :] * cb[:, None] / float(cosine_stretch)) ** 2
    return RowFilter(nx=int(nx), npad=npad, weights=w.astype(np.float32))


def imod_zero_weight(rfilter: RowFilter) -> float:
    """IMOD's ``zeroWeight``: the zero-frequency weight averaged over the views (0.2 x mean density weight)."""
    return rfilter.zero_weight


def imod_fill_value(data_mean: float, rfilter: RowFilter) -> float:
    """IMOD's ``edgeFill``: the value every out-of-data sample takes, in every view and line.

    ``data_mean`` is the mean of the whole input stack (IMOD uses the header mean, so views excluded from
    the reconstruction count too; with ``LOG base`` pass ``log10(max(mean + base, 1e-3*(max-min)))``).
    """
    return float(data_mean) * rfilter.zero_weight


def imod_wbp_scale(nviews: int, mult: float = 1.0) -> float:
    """Factor from the plain sum over views to IMOD's output: ``mult / nviews`` (``SCALE add mult``)."""
    if nviews < 1:
        raise ValueError("no views")
    return float(mult) / int(nviews)


def imod_wbp_add(add: float = 0.0, mult: float = 1.0) -> float:
    """Constant IMOD adds after scaling: ``(sum + add*nviews)*mult/nviews = scale*sum + add*mult``."""
    return float(add) * float(mult)


# ------------------------------------------------------------------------------------------ FBP filters
def _fbp_window(name: str, x: np.ndarray) -> np.ndarray:
    """Apodisation window of ``x = frequency / cutoff frequency`` in [0, 1]."""
    if name == "ramp":
        return np.ones_like(x)
    if name == "shepp-logan":
        return np.sinc(x / 2.0)
    if name == "cosine":
        return np.cos(np.pi * x / 2.0)
    if name == "hamming":
        return 0.54 + 0.46 * np.cos(np.pi * x)
    if name == "hann":
        return 0.5 + 0.5 * np.cos(np.pi * x)
    raise AssertionError(name)


def fbp_filter_name(name: str) -> str:
    """The canonical name of an FBP filter (case and common aliases: ram-lak, shepp, hanning); FilterNameError
    for an unknown one."""
    key = str(name).strip().lower().replace("_", "-")
    key = {"ram-lak": "ramp", "ramlak": "ramp", "shepp": "shepp-logan", "hanning": "hann"}.get(key, key)
    if key not in FBP_FILTERS:
        raise FilterNameError(f"unknown filter {name!r}; valid filters: {', '.join(FBP_FILTERS)}")
    return key


def fbp_filter(nx: int, name: str = "ramp", cutoff: float = 1.0, npad: int | None = None) -> RowFilter:
    """A textbook FBP filter for rows of ``nx`` samples, shared by all views.

    The ramp is the DFT of the spatially sampled Ram-Lak kernel (Kak & Slaney: ``h(0) = 1/4``,
    ``h(n odd) = -1/(pi n)**2``) over ``npad`` samples (default: a fast length ``>= 2*nx``, so the kernel does
    not wrap), i.e. ``~2|nu|`` with ``nu`` in cycles/pixel (1 at Nyquist) and no zero-frequency bias.  It is
    multiplied by the window of ``nu / (cutoff * 0.5)`` and set to 0 above the cutoff.

    Normalisation: for views spread evenly over 180 degrees,
    ``density = fbp_scale(nviews) * sum_v backproject(filtered_v)`` with ``fbp_scale(n) = pi/(2n)``.
    """
    key = fbp_filter_name(name)
    if not 0.0 < float(cutoff) <= 1.0:
        raise ValueError(f"filter cutoff must be a fraction of Nyquist in (0, 1], got {cutoff}")
    nx = int(nx)
    if nx < 1:
        raise ValueError(f"row length must be positive, got {nx}")
    npad = nice_fft_length(2 * nx, 2, 7) if npad is None else int(npad)
    if npad < nx or npad % 2:
        raise ValueError(f"npad must be even and >= nx, got {npad}")
    n = np.arange(npad)
    d = np.minimum(n, npad - n).astype(np.float64)  # circular distance
    h = np.zeros(npad)
    h[0] = 0.25
    odd = (d % 2) == 1
    h[odd] = -1.0 / (np.pi * d[odd]) ** 2
    ramp = 2.0 * np.fft.rfft(h).real  # ~ 2|nu|
    nu = np.arange(npad // 2 + 1) / npad
    x = nu / (0.5 * float(cutoff))
    w = ramp * _fbp_window(key, np.minimum(x, 1.0))
    w[x > 1.0 + 1e-12] = 0.0
    return RowFilter(nx=nx, npad=npad, weights=w[None, :].astype(np.float32))


def fbp_scale(nviews: int, span_deg: float = 180.0) -> float:
    """Factor that turns the sum of :func:`fbp_filter`-filtered back-projections into density:
    ``radians(span)/(2*nviews)`` (= ``pi/(2n)`` for ``n`` views evenly over 180 degrees)."""
    if nviews < 1:
        raise ValueError("no views")
    return math.radians(float(span_deg)) / (2.0 * int(nviews))
