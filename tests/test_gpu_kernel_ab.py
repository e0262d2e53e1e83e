"""benchmarks/gpu_kernel_ab.py on the CPU emulation of the CUDA kernels: the package's projector kernels against
other versions of projector.cu (the same, one with float32 coefficients, one that computes something else)."""

import time

import numpy as np
import pytest

from benchmarks.gpu_kernel_ab import KernelsFrom, compare
from tiltrec.projectors.cuda.launcher import KERNEL_DIR, kernels_in

SOURCE = (KERNEL_DIR / "projector.cu").read_text()


def _rows(tmp_path, text: str):
    from cuda_emulation.emulator import EmulatedLauncher, compiler

    if compiler() is None:
        pytest.skip("no C++ compiler for the CUDA emulation")
    other = tmp_path / "projector.cu"
    other.write_text(text)
    table = kernels_in([other])
    timer = lambda fn: (lambda t0: (fn(), (time.perf_counter() - t0) * 1e3)[1])(time.perf_counter())  # noqa: E731
    launcher = KernelsFrom(EmulatedLauncher((other,)), table, np)
    return compare(np, EmulatedLauncher(), launcher, 24, 8, 6, 1, timer)


def test_the_same_kernels_give_identical_outputs(tmp_path):
    rows, differ = _rows(tmp_path, SOURCE)
    assert not differ
    assert [r[0] for r in rows] == ["back (pitch 0)", "forward (pitch 0)", "back (a pitch per view)",
                                    "forward (a pitch per view)"]
    assert all(r[-1] == "identical" and float(r[2]) > 0 and float(r[3]) > 0 for r in rows)


def test_a_version_with_float32_coefficients_gets_float32_copies(tmp_path):
    text = SOURCE.replace("const double* __restrict__ u_row", "const float* __restrict__ u_row")
    assert text != SOURCE
    rows, differ = _rows(tmp_path, text)  # the emulator refuses an argument of the wrong type: cast, or it raises
    assert not differ


def test_other_arithmetic_is_reported_as_different(tmp_path):
    text = SOURCE.replace("(double)x * u_dx[t]", "(double)x * u_dx[t] * 1.001")  # the back-projections' samples
    assert text != SOURCE
    rows, differ = _rows(tmp_path, text)
    assert differ
    assert rows[0][-1].startswith("DIFFERENT") and rows[1][-1] == "identical"  # back, forward (pitch 0)
