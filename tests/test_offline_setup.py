"""bin/_offline_env.sh's libcufft.so.11 (benchmarks/offline/cufft11_forward.c): what lets ASTRA's CUDA 12 wheel load
on a GPU machine that has only CUDA 13's cuFFT, for bin/gpu-check --wheels."""

import ctypes
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(shutil.which(os.environ.get("CC", "cc")) is None, reason="no C compiler")


@pytest.fixture(scope="module")
def cufft11(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("cuda12")
    subprocess.run(["bash", "-c", f'source "{ROOT}/bin/_offline_env.sh" && tiltrec_cufft11 "{folder}"'], check=True)
    return folder / "libcufft.so.11"


def _plan_in_subprocess(library: Path, target: str) -> tuple[int, int]:
    """cufftPlan1d(&plan, 64, R2C, 3) through the shim, in a process whose TILTREC_CUFFT12 is ``target``: the result
    and the plan."""
    code = textwrap.dedent(f"""
        import ctypes, sys
        lib = ctypes.CDLL({str(library)!r})
        plan = ctypes.c_int(0)
        print(lib.cufftPlan1d(ctypes.byref(plan), 64, 0x2a, 3), plan.value)
    """)
    done = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, TILTREC_CUFFT12=target),
                          capture_output=True, text=True, check=True)
    result, plan = done.stdout.split()
    return int(result), int(plan)


def test_without_a_cufft12_each_call_fails_with_setup_failed(cufft11, tmp_path):
    assert _plan_in_subprocess(cufft11, str(tmp_path / "missing.so")) == (7, 0)  # CUFFT_SETUP_FAILED, no crash


def test_calls_go_to_the_cufft12_that_tiltrec_cufft12_names(cufft11, tmp_path):
    fake = tmp_path / "libcufft.so.12"
    source = tmp_path / "fake.c"
    source.write_text("int cufftPlan1d(int *plan, int nx, int type, int batch)\n"
                      "{ *plan = nx + batch; return type == 0x2a ? 0 : 5; }\n")
    subprocess.run([os.environ.get("CC", "cc"), "-shared", "-fPIC", str(source), "-o", str(fake)], check=True)
    assert _plan_in_subprocess(cufft11, str(fake)) == (0, 64 + 3)


def test_astra_loads_with_it_in_place_of_cuda_12s_cufft(cufft11):
    """ASTRA's libastra imports cufftPlan1d@libcufft.so.11 and four more: loading it with the shim (found first
    through LD_LIBRARY_PATH) resolves every one of them at once, as Python loads extensions (a missing one fails)."""
    pytest.importorskip("astra")
    code = ("import astra\nprint('\\n'.join(l.split()[-1] for l in open('/proc/self/maps') if 'libcufft' in l))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=dict(os.environ, LD_LIBRARY_PATH=str(cufft11.parent)))
    assert done.returncode == 0, done.stderr
    assert set(done.stdout.split()) == {str(cufft11)}
