"""Real FFTs along the last axis of float32 rows, for WBP's R-weighting filter (filters.RadialFilter.apply).

They are scipy.fft's own: the pocketfft library that ``scipy.fft.rfft`` and ``irfft`` call, called as they call it
(forward without scaling, inverse scaled by 1/n), so the values are scipy.fft's bit for bit.  The library is loaded
from its file without importing ``scipy.fft``, whose import (its array-API layer clones every NumPy submodule,
f2py and testing included, and it imports scipy.special) costs about 0.2 s, a tenth of a 1024^2 WBP run.  Where
this SciPy keeps the library elsewhere, or it does not answer a small probe as pocketfft does, ``scipy.fft``
itself serves.
"""

from __future__ import annotations

import functools
import importlib.machinery
import importlib.util
import threading
from pathlib import Path

import numpy as np

_LIBRARY = "scipy.fft._pocketfft.pypocketfft"  # where SciPy keeps it
_NO_SCALING, _BY_N = 0, 2  # pocketfft's normalisations: scipy.fft's "backward" convention uses these two
_LOADING = threading.Lock()  # the filter's threads make their first calls together: the library is loaded once


def rfft(rows: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``scipy.fft.rfft(rows, axis=-1, workers=1)``: the spectra of float32 rows (complex64), written into ``out``
    (C-contiguous, shaped as the spectra) when given."""
    library = _pocketfft()
    if library is None:
        import scipy.fft

        return _into(scipy.fft.rfft(rows, axis=-1, workers=1), out)
    return library.r2c(rows, (rows.ndim - 1,), True, _NO_SCALING, out, 1)


def irfft(spectra: np.ndarray, n: int, out: np.ndarray | None = None) -> np.ndarray:
    """``scipy.fft.irfft(spectra, n=n, axis=-1, workers=1)``: rows of ``n`` values from their ``n // 2 + 1``
    spectral values (float32 from complex64), written into ``out`` (C-contiguous) when given."""
    library = _pocketfft()
    if library is None or spectra.shape[-1] != n // 2 + 1:
        import scipy.fft

        return _into(scipy.fft.irfft(spectra, n=n, axis=-1, workers=1), out)
    return library.c2r(spectra, (spectra.ndim - 1,), n, False, _BY_N, out, 1)


def _into(result: np.ndarray, out: np.ndarray | None) -> np.ndarray:
    if out is None:
        return result
    out[...] = result
    return out


def _pocketfft():
    """SciPy's pocketfft module, loaded from its file under its own name (not entered in sys.modules), or None."""
    with _LOADING:
        return _load_pocketfft()


@functools.cache
def _load_pocketfft():
    spec = importlib.util.find_spec("scipy")
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent.joinpath(*_LIBRARY.split(".")[1:-1])
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    files = sorted(p for p in folder.glob(_LIBRARY.rsplit(".", 1)[1] + ".*") if p.name.endswith(suffixes))
    if not files:
        return None
    loader = importlib.machinery.ExtensionFileLoader(_LIBRARY, str(files[0]))
    try:
        module = importlib.util.module_from_spec(importlib.util.spec_from_loader(_LIBRARY, loader))
        loader.exec_module(module)
        return module if _answers_as_pocketfft(module) else None
    except (ImportError, AttributeError, TypeError, ValueError, RuntimeError):  # another SciPy's private library
        return None


def _answers_as_pocketfft(module) -> bool:
    """Whether ``module``'s r2c and c2r, called as above, transform a small row as a real FFT and its inverse."""
    row = np.array([[1.0, 2.0, 0.0, -1.0, 0.5]], np.float32)
    spectrum = module.r2c(row, (1,), True, _NO_SCALING, None, 1)
    back = module.c2r(spectrum, (1,), 5, False, _BY_N, None, 1)
    expected = np.fft.rfft(row.astype(np.float64))
    return (spectrum.dtype == np.complex64 and back.dtype == np.float32 and back.shape == row.shape
            and np.allclose(spectrum, expected, atol=1e-5) and np.allclose(back, row, atol=1e-5))
