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
