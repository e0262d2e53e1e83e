"""IMOD's LOG of the views and its inverse in reprojections are the C library's float32 log10f and powf, as tilt
calls them, on every CPU: NumPy's own float32 log10 and power (SIMD approximations on CPUs with AVX-512) differ
from them in the last bit for many arguments, which moved a mode-1 reprojection's pixel by one."""

import ctypes
import ctypes.util

import numpy as np
import pytest

from tiltrec.formats import ArrayStack
from tiltrec.inputs import open_source
from tiltrec.projectors import elementwise

LIBM = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")


def _libm(name: str, nargs: int):
    function = getattr(LIBM, name)
    function.restype, function.argtypes = ctypes.c_float, [ctypes.c_float] * nargs
    return function


LOG10F, POWF = _libm("log10f", 1), _libm("powf", 2)


def _arguments(n=4000, low=-2.0, high=3.0, seed=0):
    return np.random.default_rng(seed).uniform(low, high, n).astype(np.float32)


def test_log10_of_sum_is_the_c_librarys_log10f_of_the_floored_sum():
    x = _arguments(low=-5.0, high=200.0)
    add, floor = np.float32(1.5), np.float32(0.25)
    expect = np.array([LOG10F(float(max(np.float32(v + add), floor))) for v in x], np.float32)
    elementwise.log10_of_sum(x, add, floor)
    assert np.array_equal(x, expect)


def test_ten_to_the_is_the_c_librarys_powf_minus_the_base():
    x = _arguments()
    shift, base = np.float32(-0.375), np.float32(40.0)
    expect = np.array([np.float32(POWF(10.0, float(np.float32(v + shift)))) - base for v in x], np.float32)
    elementwise.ten_to_the(x, shift, base)
    assert np.array_equal(x, expect)


def test_a_nan_stays_a_nan_and_strided_or_other_arrays_are_refused():
    x = np.array([np.nan, 1.0, -1.0], np.float32)
    elementwise.log10_of_sum(x, 0.0, 0.5)
    assert np.isnan(x[0]) and x[1] == 0.0 and x[2] == LOG10F(0.5)
    for bad in (np.ones((4, 4), np.float32)[:, ::2], np.ones(4, np.float64)):
        with pytest.raises(ValueError):
            elementwise.ten_to_the(bad, 0.0, 0.0)


@pytest.mark.parametrize("binning", [1, 2])
def test_the_views_logarithm_is_log10f_of_each_value_plus_the_base(binning):
    views = np.random.default_rng(3).uniform(-20.0, 3000.0, (3, 8, 40)).astype(np.float32)
    source = open_source(ArrayStack(views), np.array([-30.0, 0.0, 30.0]), binning=binning, log=25.0)
    rows = source.rows(0, source.ny)
    plain = open_source(ArrayStack(views), np.array([-30.0, 0.0, 30.0]), binning=binning).rows(0, source.ny)
    floor = np.float32(source._log_floor())
    expect = np.array([LOG10F(float(max(np.float32(v + np.float32(25.0)), floor))) for v in plain.ravel()],
                      np.float32).reshape(plain.shape)
    assert rows.dtype == np.float32 and np.array_equal(rows, expect)
