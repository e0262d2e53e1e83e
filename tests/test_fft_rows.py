"""fft_rows: scipy.fft's pocketfft loaded without importing scipy.fft, with scipy.fft's values bit for bit, and
scipy.fft itself where the library cannot be used."""

import subprocess
import sys

import numpy as np
import pytest
import scipy.fft

from tiltrec import fft_rows


@pytest.mark.parametrize("shape", [(3, 5, 1078), (4, 64), (2, 7, 1025), (1, 2)])
def test_the_transforms_are_scipy_ffts_bit_for_bit(shape):
    rows = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    n = shape[-1]
    assert fft_rows._pocketfft() is not None  # this SciPy's library is where fft_rows looks
    spectra = fft_rows.rfft(rows.copy())
    expect = scipy.fft.rfft(rows, axis=-1, workers=1)
    assert spectra.dtype == expect.dtype and np.array_equal(spectra, expect)
    back = fft_rows.irfft(spectra * np.complex64(0.5 + 0.25j), n)
    assert np.array_equal(back, scipy.fft.irfft(expect * np.complex64(0.5 + 0.25j), n=n, axis=-1, workers=1))


def test_without_the_library_scipy_fft_serves(monkeypatch):
    rows = np.random.default_rng(2).standard_normal((3, 40)).astype(np.float32)
    with_library = fft_rows.irfft(fft_rows.rfft(rows), 40)
    monkeypatch.setattr(fft_rows, "_pocketfft", lambda: None)
    assert np.array_equal(fft_rows.irfft(fft_rows.rfft(rows), 40), with_library)


def test_a_library_that_answers_otherwise_is_not_used():
    class Reversed:  # a transform with the other sign convention
        @staticmethod
        def r2c(a, axes, forward, inorm, out, nthreads):
            return np.conj(np.fft.rfft(a, axis=axes[0])).astype(np.complex64)

        @staticmethod
        def c2r(a, axes, n, forward, inorm, out, nthreads):
            return np.fft.irfft(np.conj(a), n=n, axis=axes[0]).astype(np.float32)

    assert not fft_rows._answers_as_pocketfft(Reversed)


def test_a_filtered_wbp_does_not_import_scipy_fft():
    """scipy.fft's import costs about 0.2 s of every WBP run; the filter needs only its library."""
    code = ("import sys, numpy as np\n"
            "from tiltrec.filters import imod_radial_filter\n"
            "f = imod_radial_filter(100, np.linspace(-60, 60, 5), cutoff=0.35, falloff=0.035)\n"
            "out = f.apply(np.ones((5, 3, 100), np.float32))\n"
            "assert np.isfinite(out).all()\n"
            "print(sorted(m for m in sys.modules if m.startswith('scipy')))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "scipy.fft" not in done.stdout, done.stdout


@pytest.mark.parametrize("library", [True, False])
def test_the_transforms_write_into_out_when_given(monkeypatch, library):
    if not library:
        monkeypatch.setattr(fft_rows, "_pocketfft", lambda: None)
    rows = np.random.default_rng(3).standard_normal((4, 2, 90)).astype(np.float32)
    spectra, back = np.empty((4, 2, 46), np.complex64), np.empty((4, 2, 90), np.float32)
    assert fft_rows.rfft(rows, out=spectra) is spectra
    assert np.array_equal(spectra, fft_rows.rfft(rows))
    assert fft_rows.irfft(spectra, 90, out=back) is back
    assert np.array_equal(back, fft_rows.irfft(spectra, 90))


def test_the_filter_reuses_one_set_of_buffers_per_thread(monkeypatch):
    """New buffers for every chunk of rows cost their page faults again (a tenth of the filter's time in a 1024^2
    WBP): the chunks of a call share one set per thread, and the output is the same as chunk by chunk."""
    from tiltrec.filters import RowFilter, imod_radial_filter

    used, transform = set(), fft_rows.rfft

    def recording(rows, out=None):
        used.add(None if out is None else out.__array_interface__["data"][0])
        return transform(rows, out=out)

    views = np.random.default_rng(4).standard_normal((6, 300, 1000)).astype(np.float32)
    rfilter = imod_radial_filter(1000, np.linspace(-60, 60, 6), cutoff=0.35, falloff=0.035)
    views_alone = [RowFilter(rfilter.nx, rfilter.npad, rfilter.weights[v:v + 1]) for v in range(6)]
    alone = np.stack([views_alone[v].apply(views[v:v + 1, r:r + 1], workers=1)[0, 0]
                      for v in range(6) for r in range(300)]).reshape(views.shape)
    monkeypatch.setattr(fft_rows, "rfft", recording)
    filtered = rfilter.apply(views, workers=2)
    assert np.array_equal(filtered, alone)
    assert None not in used and len(used) <= 2
