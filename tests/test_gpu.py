"""The CUDA backend on a real GPU against the CPU backend: kernels, filters, every algorithm through the slab
pipeline and the unified strategy, and the -cuda commands.  Skipped cleanly where no usable GPU (or no CuPy) is."""

import numpy as np
import pytest

import tiltrec
from tiltrec.errors import TiltrecError
from tiltrec.filters import imod_radial_filter
from tiltrec.formats import read_volume, write_stack
from tiltrec.geometry import Geometry
from tiltrec.projectors.cpu import CpuProjector


def _device():
    try:
        from tiltrec.projectors.cuda.device import open_device

        return open_device(None, 0, 1, "tiltrec-mpi")
    except TiltrecError:
        return None


GPU = _device()
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(GPU is None, reason="no usable CUDA GPU (or CuPy missing)")]


def close(ours, ref, rtol):
    ours = ours.get() if hasattr(ours, "get") else ours
    np.testing.assert_allclose(ours, ref, rtol=0, atol=rtol * float(np.abs(ref).max()))


@pytest.mark.parametrize("pitch", [0.0, 5.0])
def test_gpu_projectors_equal_the_cpu_backend(pitch):
    from tiltrec.projectors.cuda.projector import CudaProjector

    cp = GPU.xp
    geom = Geometry(nx=301, ny=77, angles=np.linspace(-61, 59, 41), thickness=67, width=333, offset=1.5,
                    pitch=pitch, xshift=2.5, zshift=-3.0)
    cpu, gpu = CpuProjector(geom, 10, 70), CudaProjector(geom, 10, 70, cp, GPU.launcher)
    rng = np.random.default_rng(0)
    vol = rng.standard_normal(cpu.vol_shape).astype(np.float32)
    proj = rng.standard_normal(cpu.proj_shape).astype(np.float32)
    close(gpu.forward(cp.asarray(vol)), cpu.forward(vol), 1e-5)
    close(gpu.back(cp.asarray(proj)), cpu.back(proj), 1e-5)
    close(gpu.forward(cp.asarray(vol), views=slice(3, 4)), cpu.forward(vol, views=slice(3, 4)), 1e-5)


def test_gpu_row_filter_equals_scipy():
    angles = np.linspace(-60, 60, 41)
    views = np.random.default_rng(1).random((41, 50, 301), dtype=np.float32)
    rfilter = imod_radial_filter(301, angles, cutoff=0.35, falloff=0.05)
    close(rfilter.apply(GPU.xp.asarray(views)), rfilter.apply(views), 1e-5)


@pytest.fixture(scope="module")
def series():
    rng = np.random.default_rng(2)
    views = rng.random((41, 96, 128), dtype=np.float32)
    views[:, :, 40:80] += 2.0
    return views, np.linspace(-60, 60, 41)


@pytest.mark.parametrize("alg", ["bpt", "fbp", "wbp", "sirt", "sart"])
@pytest.mark.parametrize("pitch", [0.0, 4.0])
def test_every_algorithm_equals_the_cpu_backend(series, alg, pitch):
    views, angles = series
    options = dict(thickness=48, alg=alg, pitch=pitch, iter=5 if alg == "sirt" else 1 if alg == "sart" else None)
    ref = tiltrec.reconstruct(views, angles, **options)
    variants = [{}, {"unified": True}]  # as tall slabs as fit, the whole volume
    if not (alg in ("sirt", "sart") and pitch):  # (their slab seams are approximations: the plan must not change)
        variants.append({"memory": 4 << 20})  # many small slabs through the overlapped pipeline
    for extra in variants:
        close(tiltrec.reconstruct(views, angles, backend="cuda", **options, **extra), ref, 1e-4)


def test_cuda_command_writes_what_the_mpi_command_writes(series, tmp_path):
    from typer.testing import CliRunner

    from tiltrec.cli.commands import Flavor, make_app

    views, angles = series
    write_stack(tmp_path / "s.mrc", views)
    (tmp_path / "s.tlt").write_text("".join(f"{a}\n" for a in angles))
    for name, backend in (("tiltrec-mpi", "cpu"), ("tiltrec-cuda", "cuda"), ("tiltrecz-cuda", "cuda")):
        app = make_app(Flavor(name, unified=name.startswith("tiltrecz"), backend=backend))
        args = [str(tmp_path / "s.mrc"), str(tmp_path / "s.tlt"), str(tmp_path / f"{name}.mrc"), "--thickness",
                "48", "--alg", "sirt", "--iter", "3", "-q"]
        result = CliRunner().invoke(app, args, prog_name=name, catch_exceptions=False)
        assert result.exit_code == 0, result.stderr
    ref = read_volume(tmp_path / "tiltrec-mpi.mrc")[0]
    close(read_volume(tmp_path / "tiltrec-cuda.mrc")[0], ref, 1e-4)
    close(read_volume(tmp_path / "tiltrecz-cuda.mrc")[0], ref, 1e-4)
