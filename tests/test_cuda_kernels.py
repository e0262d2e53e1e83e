"""The CUDA backend without a GPU: every kernel compiles (nvcc, or NVRTC), and runs on the CPU through the
emulation in ``cuda_emulation`` where it must agree with the CPU backend; the GPU pipeline runs with NumPy and the
emulated kernels against the CPU reconstruction."""

import importlib.metadata
import os
import shlex
import shutil
import subprocess
import sys
import warnings
from dataclasses import replace
from pathlib import Path

import mrcfile
import numpy as np
import pytest

import tiltrec
from cuda_emulation.emulator import EmulatedLauncher, compiler
from cuda_emulation.host_device import HostDevice
from tiltrec.errors import InputError, TiltrecError
from tiltrec.formats import read_volume, write_stack
from tiltrec.filters import fbp_filter, imod_radial_filter
from tiltrec.geometry import Geometry
from tiltrec.projectors.cpu import CpuProjector
from tiltrec.projectors.cuda import device as cuda_device
from tiltrec.projectors.cuda.filtering import filter_rows
from tiltrec.projectors.cuda.launcher import kernel_files, kernels
from tiltrec.projectors.cuda.projector import CudaProjector

ARCHES = ("sm_80", "sm_90")
NVCC = shutil.which("nvcc")


def _nvrtc():
    """CuPy's NVRTC binding when CuPy and the NVRTC library are installed, else None."""
    try:
        from cupy.cuda import nvrtc

        nvrtc.getVersion()
        return nvrtc
    except Exception:
        return None


def compile_source(source: str, name: str, arch: str, tmp_path) -> str:
    """PTX of ``source`` for ``arch`` by nvcc, or else NVRTC; AssertionError with the compiler's log on failure."""
    if NVCC:
        path = tmp_path / name
        path.write_text(source)
        done = subprocess.run([NVCC, "--ptx", f"-arch={arch}", "-o", str(path.with_suffix(".ptx")), str(path)],
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return path.with_suffix(".ptx").read_text()
    nvrtc = _nvrtc()
    if nvrtc is None:
        pytest.skip("neither nvcc nor NVRTC (pip install cupy-cuda13x nvidia-cuda-nvrtc) is available")
    return _nvrtc_ptx(nvrtc, source, name, arch)


def _nvrtc_ptx(nvrtc, source: str, name: str, arch: str) -> str:
    program = nvrtc.createProgram(source, name, [], [])
    try:
        try:  # the options of launcher.CupyLauncher, for a fixed architecture
            nvrtc.compileProgram(program, [f"--gpu-architecture=compute_{arch[3:]}", "--std=c++14"])
        except nvrtc.NVRTCError:
            raise AssertionError(nvrtc.getProgramLog(program)) from None
        return nvrtc.getPTX(program).decode()
    finally:
        nvrtc.destroyProgram(program)


# ----------------------------------------------------------------------------------------------- compilation


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("path", kernel_files(), ids=lambda p: p.name)
def test_every_kernel_file_compiles(path, arch, tmp_path):
    ptx = compile_source(path.read_text(), path.name, arch, tmp_path)
    for kernel in kernels().values():
        if kernel.path == path:
            assert f".entry {kernel.name}(" in ptx


def test_a_syntax_error_fails_to_compile(tmp_path):
    broken = kernel_files()[0].read_text() + "\nthis is not C++;\n"
    with pytest.raises(AssertionError):
        compile_source(broken, "broken.cu", ARCHES[0], tmp_path)


@pytest.mark.skipif(_nvrtc() is None, reason="CuPy's NVRTC binding or the NVRTC library is not installed")
def test_kernels_compile_with_nvrtc_as_the_gpu_launcher_does():
    for path in kernel_files():
        assert ".entry" in _nvrtc_ptx(_nvrtc(), path.read_text(), path.name, ARCHES[1])


def test_importing_tiltrec_does_not_import_cupy():
    code = ("import sys, tiltrec, tiltrec.api, tiltrec.cli.commands, tiltrec.strategies.driver, tiltrec.filters; "
            "sys.exit('cupy' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_a_gpu_run_imports_neither_numba_nor_scipy(tmp_path):
    """Start-up time: the CPU kernels' Numba (~0.2 s to import) stays out of a GPU run, and SciPy (its FFT, ~0.2 s)
    out of its modules (the emulated GPU's arrays are NumPy's, so its filter runs SciPy's FFT here)."""
    _need_compiler()
    code = f"""
import sys
import numpy as np
import tiltrec
from cuda_emulation.host_device import HostDevice
from tiltrec.projectors.cuda import device
device.open_device = lambda *args: HostDevice()
views = np.random.default_rng(0).random((9, 8, 16), dtype=np.float32)
import tiltrec.strategies.backends.cuda, tiltrec.strategies.driver, tiltrec.cli.request
assert "scipy" not in sys.modules
tiltrec.reconstruct(views, np.linspace(-40, 40, 9), {str(tmp_path / "v.mrc")!r}, thickness=6, backend="cuda")
assert "numba" not in sys.modules
"""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).parent), *sys.path]))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr


# ------------------------------------------------------------------------------- projector pair, emulated

GEOMETRIES = {
    "flat": dict(nx=37, ny=23, angles=np.linspace(-61, 59, 11), thickness=13, width=41, offset=2.0, xshift=1.5,
                 zshift=-2.0),
    "pitched": dict(nx=37, ny=23, angles=np.linspace(-61, 59, 11), thickness=13, width=30, offset=-1.0, pitch=5.0,
                    xshift=-2.5, zshift=1.25),
    # near-edge-on views, per-view pitch and a volume far wider than the views: many rays miss the volume
    "outside": dict(nx=21, ny=9, angles=[-88.0, -40.0, 0.0, 33.0, 89.5], thickness=17, width=53, xshift=8.5,
                    zshift=4.0),  # at 0 degrees samples fall exactly on the first and the last column
    "outside-pitched": dict(nx=21, ny=15, angles=[-88.0, -40.0, 0.0, 33.0, 89.5], thickness=17, width=53,
                            pitch=np.array([-12.0, 3.0, 0.0, 7.5, 20.0]), xshift=-7.0),
    # a slab taller than a block of threads covers in Y, with a remainder
    "tall": dict(nx=19, ny=150, angles=np.linspace(-60, 60, 5), thickness=5, width=17, xshift=0.5),
}
SLABS = {"flat": (4, 17), "pitched": (4, 17), "outside": (0, 9), "outside-pitched": (6, 7), "tall": (3, 150)}


def _need_compiler():
    if compiler() is None:
        pytest.skip("no C++ compiler (g++) for the CUDA emulation")


@pytest.fixture(scope="module")
def emu():
    _need_compiler()
    return EmulatedLauncher()


@pytest.fixture(params=sorted(GEOMETRIES))
def pair(request, emu):
    """The CPU and the emulated CUDA projector of one slab."""
    geom = Geometry(**GEOMETRIES[request.param])
    y0, y1 = SLABS[request.param]
    return CpuProjector(geom, y0, y1), CudaProjector(geom, y0, y1, np, emu)


def close(ours, ref, rtol=1e-5):
    """Equal to ``rtol`` relative to the largest value."""
    scale = float(np.abs(ref).max())
    assert scale > 0
    np.testing.assert_allclose(ours, ref, rtol=0, atol=rtol * scale)


@pytest.mark.parametrize("positivity", [False, True])
def test_emulated_update_kernels_equal_the_cpu_steps(pair, positivity):
    """SIRT's and SART's element-wise steps: the kernels of update.cu against the CPU projector's (Numba)."""
    cpu, gpu = pair
    rng = np.random.default_rng(6)
    measured, weight = (rng.standard_normal(cpu.proj_shape, dtype=np.float32) for _ in range(2))
    x, update, volume_weight = (rng.standard_normal(cpu.vol_shape, dtype=np.float32) for _ in range(3))
    results = []
    for op in (cpu, gpu):
        projected, volume = measured[::-1].copy(), x.copy()
        op.weighted_residual(measured, projected, weight)
        op.add_weighted(volume, update.copy(), volume_weight, positivity)
        clipped = x.copy()
        op.clip_negative(clipped)
        results.append((projected, volume, clipped))
    for ours, ref in zip(results[1], results[0]):
        close(ours, ref)
    assert (results[1][1] >= 0).all() == positivity and results[1][2].min() == 0.0


def test_emulated_projectors_equal_the_cpu_backend(pair):
    cpu, gpu = pair
    rng = np.random.default_rng(0)
    vol = rng.standard_normal(cpu.vol_shape).astype(np.float32)
    proj = cpu.pack(rng.standard_normal((cpu.geom.nviews, cpu.r1 - cpu.r0, cpu.geom.nx)).astype(np.float32))
    close(gpu.forward(vol), cpu.forward(vol))
    close(gpu.back(proj), cpu.back(proj))
    start = rng.standard_normal(cpu.vol_shape).astype(np.float32)
    close(gpu.back(proj, out=start.copy(), accumulate=True), cpu.back(proj, out=start.copy(), accumulate=True))


def test_emulated_view_subsets_equal_the_cpu_backend(pair):
    cpu, gpu = pair
    rng = np.random.default_rng(1)
    vol = rng.standard_normal(cpu.vol_shape).astype(np.float32)
    views = slice(2, 4)
    ref = cpu.forward(vol, views=views)
    close(gpu.forward(vol, views=views), ref)
    close(gpu.back(ref, views=views), cpu.back(ref, views=views))


def test_emulated_pair_is_an_exact_adjoint(pair):
    _, gpu = pair
    rng = np.random.default_rng(2)
    x = rng.standard_normal(gpu.vol_shape).astype(np.float32)
    y = rng.standard_normal(gpu.proj_shape).astype(np.float32)
    ax, aty = gpu.forward(x), gpu.back(y)
    lhs = np.dot(ax.ravel().astype(np.float64), y.ravel())
    rhs = np.dot(x.ravel().astype(np.float64), aty.ravel())
    assert abs(lhs - rhs) / (np.linalg.norm(ax) * np.linalg.norm(y)) < 1e-6


def test_rays_that_miss_the_volume_miss_it_on_both_backends(emu):
    """Exactly the same samples: the rays that get nothing are the same ones."""
    geom = Geometry(**GEOMETRIES["outside-pitched"])
    ones = np.ones((geom.thickness, geom.width, 3), np.float32)
    ours = CudaProjector(geom, 6, 9, np, emu).forward(ones)
    ref = CpuProjector(geom, 6, 9).forward(ones)
    assert (ref == 0).any() and (ref > 0).any()
    np.testing.assert_array_equal(ours == 0, ref == 0)


def test_kernels_refuse_strided_arrays_and_wrong_scalars(emu):
    a = np.zeros((4, 6), np.float32)
    with pytest.raises(ValueError, match="contiguous"):
        emu.launch("pad_rows", (1, 1, 1), (32, 1, 1), (a[:, ::2], a, np.int32(4), np.int32(3), np.int32(6)))
    with pytest.raises(TypeError, match="int32"):
        emu.launch("pad_rows", (1, 1, 1), (32, 1, 1), (a, a, 4, np.int32(3), np.int32(6)))


# ----------------------------------------------------------------------------------------- filter kernels


@pytest.mark.parametrize("nx,rows", [(37, 5), (64, 3), (7, 4)])
def test_emulated_row_filters_equal_the_numpy_path(emu, nx, rows):
    rng = np.random.default_rng(3)
    angles = np.linspace(-57, 63, 9)
    views = rng.random((angles.size, rows, nx), dtype=np.float32)
    for rfilter in (imod_radial_filter(nx, angles, cutoff=0.35, falloff=0.05), fbp_filter(nx, "hamming", 0.8)):
        close(filter_rows(rfilter, views, np, emu), rfilter.apply(views))


# ---------------------------------------------------------------------------------------- file-order kernel


@pytest.mark.parametrize("layout", ["xzy", "xyz", "parallel"])
@pytest.mark.parametrize("mode", [2, 1, 0, 12])
@pytest.mark.parametrize("scale", [1.0, 1e-6])
def test_emulated_file_order_writes_what_the_cpu_store_writes(emu, tmp_path, layout, mode, scale):
    """The same file, bit for bit, from a slab converted by kernels/store.cu as from one the CPU converts (order,
    integer rounding with ties to even, float16 rounding, subnormals too, clipping), and the statistics of the
    stored values."""
    from tiltrec.formats import VolumeWriter
    from tiltrec.projectors.cuda.file_order import block_stats, stored_block

    rng = np.random.default_rng(5)
    rows = np.array([1e-6, 0.3, 40.0, 300.0, 5e4, 1e5, 1.0])[:, None, None]  # per thickness row
    vol = (rng.standard_normal((7, 13, 9)) * rows * scale).astype(np.float32)
    x0, y0, width, nys = 2, 3, 10, 5  # part of a slab with X padding and a halo, as the pipeline passes it
    vol[0, :, y0] = np.arange(13) - 6.5  # ties
    options = dict(width=width, nslices=nys + 1, thickness=7, layout=layout, mode=mode)
    with VolumeWriter(tmp_path / "cpu.mrc", **options) as cpu, VolumeWriter(tmp_path / "gpu.mrc", **options) as gpu:
        cpu.write_slab(1, vol[:, x0:x0 + width, y0:y0 + nys])
        block, stats = stored_block(gpu, vol, x0, y0, width, nys, np, emu)
        gpu.write_stored(1, block, block_stats(block.size, stats))
        for writer in (cpu, gpu):
            writer.write_slab(0, vol[:, x0:x0 + width, :1])
    with mrcfile.open(tmp_path / "cpu.mrc") as a, mrcfile.open(tmp_path / "gpu.mrc") as b:
        assert a.data.dtype == b.data.dtype and np.array_equal(a.data, b.data)
    stored = block.astype(np.float64)
    np.testing.assert_allclose(stats[:5], [stored.min(), stored.max(), stored.sum(), (stored ** 2).sum(), 0],
                               rtol=1e-12)
    assert (gpu.stats.computed_minimum, gpu.stats.computed_maximum, gpu.stats.clipped) == \
        (cpu.stats.computed_minimum, cpu.stats.computed_maximum, cpu.stats.clipped)


def test_emulated_file_order_counts_the_values_its_clipping_hides(emu, tmp_path):
    """NaN and infinities become the type's limits in the kernel's clipping: the count of them tells the writer,
    which then refuses the block."""
    from tiltrec.errors import TiltrecError
    from tiltrec.formats import VolumeWriter
    from tiltrec.projectors.cuda.file_order import block_stats, stored_block

    vol = np.ones((4, 6, 5), np.float32)
    vol[1, 2, 3], vol[2, 3, 1], vol[0, 0, 0] = np.nan, -np.inf, np.nan  # the last outside the block
    with pytest.raises(TiltrecError, match="has 2 NaN or infinite values"), \
            VolumeWriter(tmp_path / "gpu.mrc", width=5, nslices=4, thickness=4, mode=1) as gpu:
        block, stats = stored_block(gpu, vol, 1, 1, 5, 4, np, emu)
        assert stats[4] == 2
        gpu.write_stored(0, block, block_stats(block.size, stats))
    assert not list(tmp_path.iterdir())


# -------------------------------------------------------------------- the GPU pipeline with NumPy + emulation


@pytest.fixture
def host_gpu(monkeypatch):
    """backend='cuda' runs on a HostDevice; ``host_gpu.free`` sets its memory before a run."""
    _need_compiler()
    gpu = HostDevice()
    monkeypatch.setattr(cuda_device, "open_device", lambda *args: gpu)
    return gpu


@pytest.fixture(scope="module")
def series():
    rng = np.random.default_rng(4)
    views = rng.random((21, 19, 33), dtype=np.float32)
    views[:, :, 10:20] += 2.0
    return views, np.linspace(-60, 60, 21)


@pytest.mark.parametrize("alg,pitch", [("sirt", 0.0), ("sirt", 4.0), ("sart", 0.0), ("wbp", 3.0), ("fbp", 0.0)])
def test_pipeline_equals_the_cpu_reconstruction(host_gpu, series, alg, pitch):
    views, angles = series
    options = dict(thickness=11, alg=alg, pitch=pitch, **({"iter": 4} if alg == "sirt" else {}))
    ref = tiltrec.reconstruct(views, angles, **options)
    ours = tiltrec.reconstruct(views, angles, backend="cuda", **options)
    close(ours, ref, 1e-4)
    assert host_gpu.launcher.launches and host_gpu.uploads == 1
    if alg == "sirt":
        assert host_gpu.launcher.launches["add_weighted"] == 4  # the update ran on the GPU, once per iteration


def test_pipeline_overlaps_slabs_and_writes_every_target(host_gpu, series, tmp_path):
    """A small GPU: several slabs through both row buffers, the odd/even halves too, --init, files on disk."""
    views, angles = series
    host_gpu.free = 280_000  # 9 slices of SIRT's working set: 3 slabs
    init_path = tmp_path / "init.mrc"
    tiltrec.reconstruct(views, angles, init_path, thickness=11, alg="wbp")
    options = dict(thickness=11, alg="sirt", iter=2, split="odd-even", init=init_path)
    ref = tiltrec.reconstruct(views, angles, **options)
    ours = tiltrec.reconstruct(views, angles, backend="cuda", **options)
    for a, b in zip(ours, ref):
        close(a, b, 1e-4)
    # a block and its statistics per slab and volume
    assert host_gpu.uploads == 3 and host_gpu.downloads == 2 * 3 * 3 and host_gpu.host_buffers == 2 + 2 * 3
    tiltrec.reconstruct(views, angles, tmp_path / "out.mrc", backend="cuda", **options)
    close(read_volume(tmp_path / "out.mrc")[0], ref[0], 1e-4)


@pytest.mark.parametrize("mode", [1, 12])
def test_pipeline_writes_integer_and_half_files_as_the_cpu_does(host_gpu, series, tmp_path, mode):
    """Output modes other than float32 through the GPU pipeline (slabs of the stored type, several of them): the
    same file as the CPU writes."""
    views, angles = series
    host_gpu.free = 100_000
    options = dict(thickness=11, alg="wbp", mode=mode, scale=(0.0, 3000.0 if mode == 1 else 1.0))
    tiltrec.reconstruct(views, angles, tmp_path / "cpu.mrc", **options)
    tiltrec.reconstruct(views, angles, tmp_path / "gpu.mrc", backend="cuda", **options)
    with mrcfile.open(tmp_path / "cpu.mrc") as a, mrcfile.open(tmp_path / "gpu.mrc") as b:
        assert b.data.dtype == a.data.dtype and host_gpu.uploads > 2
        np.testing.assert_allclose(b.data.astype(np.float64), a.data, rtol=0, atol=1 if mode == 1 else 1e-3)
        assert np.isclose(b.header.dmean, a.header.dmean, rtol=1e-4, atol=1e-4)


def test_admm_runs_through_the_unified_gpu_pipeline(host_gpu, series):
    views, angles = series
    options = dict(thickness=11, alg="admm", iter=3, unified=True)
    close(tiltrec.reconstruct(views, angles, backend="cuda", **options), tiltrec.reconstruct(views, angles, **options),
          1e-4)
    assert host_gpu.uploads == 1


def test_gpu_checkpoint_resume_equals_the_uninterrupted_run(host_gpu, series, tmp_path, monkeypatch):
    from tiltrec.strategies.checkpoint import Checkpoint

    views, angles = series
    host_gpu.free = 280_000  # 3 slabs: the interruption comes after the first is on disk
    stack, tlt = tmp_path / "in.mrc", tmp_path / "in.tlt"
    write_stack(stack, views)
    tlt.write_text("".join(f"{a}\n" for a in angles))
    options = dict(thickness=11, alg="sirt", iter=3, backend="cuda")
    tiltrec.reconstruct(stack, tlt, tmp_path / "whole.mrc", **options)
    write, calls = Checkpoint._write, []

    def interrupted(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return write(self, *args, **kwargs)

    monkeypatch.setattr(Checkpoint, "_write", interrupted)
    out, ck = tmp_path / "out.mrc", tmp_path / "run.ckpt"
    with pytest.raises(KeyboardInterrupt), pytest.warns(UserWarning, match="--resume"):
        tiltrec.reconstruct(stack, tlt, out, checkpoint=ck, **options)
    monkeypatch.setattr(Checkpoint, "_write", write)
    saved = _checkpoint_meta(ck)  # the GPU's plan (the CPU's for this budget: slabs of 10 and 9 slices)
    assert [b - a for a, b, _, _ in saved["plan"]] == [8, 8, 3] and [f[0] for f in saved["finished"]] == [0, 1]
    uploads = host_gpu.uploads
    tiltrec.reconstruct(stack, tlt, out, checkpoint=ck, resume=True, **options)
    assert host_gpu.uploads - uploads == 1  # the slabs already written were not computed again
    np.testing.assert_array_equal(read_volume(out)[0], read_volume(tmp_path / "whole.mrc")[0])
    assert not ck.exists()


def _checkpoint_meta(ck) -> dict:
    import json

    with np.load(ck) as stored:
        return json.loads(str(stored["meta"]))


@pytest.mark.parametrize("free", [600_000, 150_000], ids=["more", "too-little"])
def test_a_gpu_resume_with_other_free_memory_continues_the_saved_plan(host_gpu, series, tmp_path, monkeypatch, free):
    """The free memory at resume would plan other slabs (2 with more, 10 with less): the saved 4 are computed, and
    with an X-axis tilt (slab seams are approximations) that gives the uninterrupted volume bit for bit; slabs that
    no longer fit are refused in one line that names the checkpoint."""
    from cli_helpers import interrupt_checkpoint_at
    from tiltrec.strategies.checkpoint import Checkpoint

    views, angles = series
    options = dict(thickness=11, alg="sirt", iter=3, pitch=4.0, backend="cuda")
    host_gpu.free = 280_000
    whole = tiltrec.reconstruct(views, angles, **options)
    out, ck = tmp_path / "out.mrc", tmp_path / "run.ckpt"
    write = Checkpoint._write
    interrupt_checkpoint_at(monkeypatch, 2)  # once the first slab is on disk
    with pytest.raises(KeyboardInterrupt), pytest.warns(UserWarning, match="--resume"):
        tiltrec.reconstruct(views, angles, out, checkpoint=ck, **options)
    monkeypatch.setattr(Checkpoint, "_write", write)  # (undo() would also take the emulated GPU away)
    assert len(_checkpoint_meta(ck)["plan"]) == 4
    host_gpu.free = free
    if free < 280_000:
        with pytest.raises(InputError) as refused:
            tiltrec.reconstruct(views, angles, out, checkpoint=ck, resume=True, **options)
        message = str(refused.value)
        assert message.startswith(f"{ck}: its slabs need about ") and "the GPU" in message and "\n" not in message
        assert ck.exists() and not out.exists()
        return
    assert not np.array_equal(tiltrec.reconstruct(views, angles, **options), whole)  # a new plan would differ
    tiltrec.reconstruct(views, angles, out, checkpoint=ck, resume=True, **options)
    np.testing.assert_array_equal(read_volume(out)[0], whole)
    assert not ck.exists()


def test_unified_strategy_falls_back_to_managed_memory_and_says_so(host_gpu, series):
    views, angles = series
    host_gpu.free = 100_000
    with pytest.warns(UserWarning, match="managed memory"):
        ours = tiltrec.reconstruct(views, angles, thickness=11, alg="sirt", iter=2, unified=True,
                                   backend="cuda")
    assert host_gpu.managed and host_gpu.uploads == 1
    close(ours, tiltrec.reconstruct(views, angles, thickness=11, alg="sirt", iter=2), 1e-4)


def test_slice_based_strategy_does_not_need_managed_memory(host_gpu, series):
    views, angles = series
    host_gpu.free = 100_000
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tiltrec.reconstruct(views, angles, thickness=11, alg="wbp", backend="cuda")
    assert not host_gpu.managed and host_gpu.uploads > 1


def test_a_gpu_too_small_for_one_slice_is_an_input_error(host_gpu, series):
    views, angles = series
    host_gpu.free = 1000
    with pytest.raises(InputError, match="too small"):
        tiltrec.reconstruct(views, angles, thickness=11, alg="wbp", backend="cuda")


# ------------------------------------------------------------------------------------------ device errors


def test_without_a_gpu_the_error_names_the_cpu_command():
    try:
        gpu = cuda_device.open_device(None, 0, 1, "tiltrec-mpi")
    except TiltrecError as exc:
        assert "no usable CUDA GPU" in str(exc) and "tiltrec-mpi" in str(exc) and "\n" not in str(exc)
    else:
        pytest.skip(f"this machine has a GPU: {gpu.describe()}")


@pytest.mark.parametrize("direct_url, expected", [
    ('{"url": "file:///home/me/tiltrec", "dir_info": {"editable": true}}',
     "-m pip install -e '/home/me/tiltrec[cuda12]'"),
    ('{"url": "file:///home/me/tiltrec", "dir_info": {}}', "-m pip install '/home/me/tiltrec[cuda12]'"),
    ('{"url": "https://github.com/me/tiltrec", "vcs_info": {"vcs": "git"}}',
     "-m pip install 'tiltrec[cuda12] @ git+https://github.com/me/tiltrec'"),
    (None, "-m pip install 'tiltrec[cuda12]'"),  # from a package index: pip writes no direct_url.json
    ("not installed", f"-m pip install -e '{Path(__file__).resolve().parents[1]}[cuda12]'"),  # a source tree
], ids=["editable", "checkout", "git", "index", "source-tree"])
def test_the_install_advice_fits_how_tiltrec_was_installed(monkeypatch, direct_url, expected):
    """A checkout's tiltrec is not on the package index: `pip install 'tiltrec[cuda12]'` fails there, so the
    message names the checkout (editable or not), the URL, or the index, with this Python's pip."""
    class Distribution:
        def read_text(self, name):
            return direct_url if name == "direct_url.json" else None

    def distribution(name):
        if direct_url == "not installed":
            raise importlib.metadata.PackageNotFoundError(name)
        return Distribution()

    monkeypatch.setattr(importlib.metadata, "distribution", distribution)
    monkeypatch.setitem(sys.modules, "cupy", None)  # `import cupy` fails, as without the extra
    with pytest.raises(TiltrecError) as error:
        cuda_device.open_device(None, 0, 1, "tiltrec-mpi")
    message = str(error.value)
    assert f"install it with: {shlex.quote(sys.executable)} {expected}" in message, message
    assert "cuda13" in message and "run tiltrec-mpi to reconstruct on CPUs" in message and "\n" not in message


def test_a_failing_write_stops_the_pipeline_with_its_error(host_gpu, series, monkeypatch):
    from tiltrec.formats import MemoryWriter

    views, angles = series
    host_gpu.free = 100_000
    calls = []

    def fail_second(self, y0, block, stats):
        calls.append(y0)
        if len(calls) == 2:
            raise TiltrecError("disk full")

    monkeypatch.setattr(MemoryWriter, "write_stored", fail_second)
    with pytest.raises(TiltrecError, match="disk full"):
        tiltrec.reconstruct(views, angles, thickness=11, alg="wbp", backend="cuda")
    assert len(calls) == 2


def test_device_out_of_memory_says_which_memory_to_try(host_gpu, series, monkeypatch):
    class OutOfMemoryError(MemoryError):  # the name CuPy's allocation failure has
        pass

    def no_memory(*args):
        raise OutOfMemoryError("out of memory allocating 1,024 bytes")

    views, angles = series
    host_gpu.free = 100_000
    monkeypatch.setattr(host_gpu, "upload", no_memory)
    with pytest.raises(TiltrecError, match=r"ran out of memory with slabs of \d+ slices .*; try memory \S+ for "
                                           r"slabs of about \d+$"):
        tiltrec.reconstruct(views, angles, thickness=11, alg="wbp", backend="cuda")


def test_device_plan_sizes_slabs_from_the_budget(series):
    from types import SimpleNamespace

    from tiltrec.algorithms import ALGORITHMS
    from tiltrec.strategies.backends.cuda import CudaBackend
    from tiltrec.strategies.plan import Budget, Workload

    views, angles = series
    geom = Geometry(nx=33, ny=300, angles=angles, thickness=11)
    gpu = CudaBackend(SimpleNamespace(xp=np))  # planning asks nothing of the device
    work = Workload(geometry=geom, computed=geom, footprint=ALGORITHMS["wbp"].footprint, halo=0, unified=False,
                    ranks=1, outputs=1, stored_bytes=4)

    def heights(plan):
        return [s.y1 - s.y0 for s in plan.slabs]

    # the footprint, two row buffers, the float32 result and its statistics
    per_slice = ALGORITHMS["wbp"].footprint.per_slice(geom) + 4 * (2 * 21 * 33 + 11 * 33) + 32 * 11
    plan = gpu.plan(work, Budget(10 * per_slice, 1 << 40))
    assert heights(plan) == [10] * 30 and not plan.managed
    cap = gpu.slab_cap
    tall = gpu.plan(work, Budget(1000 * per_slice, 1 << 40))
    assert heights(tall) == [cap] * (300 // cap) + [300 % cap] * (300 % cap > 0)
    host_per_slice = 4 * 2 * (21 * 33 + 11 * 33)
    assert heights(gpu.plan(work, Budget(1000 * per_slice, 7 * host_per_slice)))[0] == 7
    unified = replace(work, unified=True)
    plan = gpu.plan(unified, Budget(300 * per_slice, 1 << 40))
    assert [(s.y0, s.y1) for s in plan.slabs] == [(0, 300)] and not plan.managed
    plan = gpu.plan(unified, Budget(299 * per_slice, 1 << 40))
    assert [(s.y0, s.y1) for s in plan.slabs] == [(0, 300)] and plan.managed
    with pytest.raises(InputError, match="tiltrec-cuda"):
        gpu.plan(unified, Budget(299 * per_slice, 300 * per_slice))


def test_a_tilt_com_on_the_gpu_says_it_uses_linear_interpolation(host_gpu, series, tmp_path):
    """A tilt.com asks for IMOD's CPU interpolation, which the GPU does not have: tiltrec-cuda says so and runs
    with the linear one (the -mpi command's --interp linear result)."""
    from cli_helpers import cli

    views, angles = series
    write_stack(tmp_path / "in.mrc", views)
    (tmp_path / "in.tlt").write_text("".join(f"{a}\n" for a in angles))
    com = tmp_path / "tilt.com"
    com.write_text("$tilt -StandardInput\nInputProjections in.mrc\nTILTFILE in.tlt\nOutputFile gpu.mrc\n"
                   "THICKNESS 11\nRADIAL 0.35 0.05\n")
    result = cli("--com", com, "-q", prog="tiltrec-cuda")
    assert result.exit_code == 0, result.output
    assert "warning: --interp imod runs on the cpu backend only; not on cuda: using linear instead" in result.stderr
    assert cli("--thickness", 11, "--radial", "0.35,0.05", "-q", tmp_path / "in.mrc", tmp_path / "in.tlt",
               tmp_path / "cpu.mrc").exit_code == 0
    close(read_volume(tmp_path / "gpu.mrc")[0], read_volume(tmp_path / "cpu.mrc")[0], 1e-4)


def test_local_alignments_on_the_gpu_equal_the_cpu_bit_for_bit(host_gpu, series, tmp_path):
    """kernels/local.cu (emulated) and local.c take the same samples with the same float32 operations: the WBP with
    a local alignment file is the same volume on both backends, several slabs included."""
    from test_local_alignments import local_text

    views, angles = series
    local = tmp_path / "local.xf"
    local.write_text(local_text(nx=3, ny=2, nviews=len(angles), start=(6, 4), spacing=(12, 10), pixel=0.0))
    options = dict(thickness=11, alg="wbp", local=local, pitch=3.0, xshift=1.5)
    ref = tiltrec.reconstruct(views, angles, **options)
    host_gpu.free = 60_000  # a small GPU: several slabs
    ours = tiltrec.reconstruct(views, angles, backend="cuda", **options)
    assert host_gpu.launcher.launches["back_local"] > 1
    np.testing.assert_array_equal(ours, ref)


def test_a_local_tilt_com_on_the_gpu_warns_of_nothing(host_gpu, series, tmp_path):
    """--com selects IMOD's interpolation, which a GPU replaces with a warning; with LOCALFILE no interpolation is
    replaced (every voxel is sampled at its own position), so there is nothing to warn of."""
    from cli_helpers import cli
    from test_local_alignments import local_text

    views, angles = series
    write_stack(tmp_path / "in.mrc", views)
    (tmp_path / "in.tlt").write_text("".join(f"{a}\n" for a in angles))
    (tmp_path / "local.xf").write_text(local_text(nx=3, ny=2, nviews=len(angles), start=(6, 4), spacing=(12, 10),
                                                  pixel=0.0))
    com = tmp_path / "tilt.com"
    com.write_text("InputProjections in.mrc\nOutputFile gpu.mrc\nTILTFILE in.tlt\nTHICKNESS 11\nLOCALFILE local.xf\n")
    result = cli("--com", com, "-q", prog="tiltrec-cuda")
    assert result.exit_code == 0 and "warning" not in result.stderr, result.stderr


@pytest.mark.parametrize("alg", ["sirt", "sart"])
def test_iterative_local_alignments_on_the_gpu_equal_the_cpu(host_gpu, series, tmp_path, alg):
    """kernels/local.cu's forward projection (each slice into its own window of rows, summed in slice order, a few
    views per launch) is the CPU's (local.c) up to the order of the sums: SIRT and SART with a local alignment
    file agree to float rounding.  (Slab plans differ between the backends' budgets, so one slab each.)"""
    from test_local_alignments import local_text

    views, angles = series
    local = tmp_path / "local.xf"
    local.write_text(local_text(nx=3, ny=2, nviews=len(angles), start=(6, 4), spacing=(12, 10), pixel=0.0, rate=0.1))
    options = dict(thickness=11, alg=alg, iter=3, local=local, xshift=1.5)
    ref = tiltrec.reconstruct(views, angles, **options)
    ours = tiltrec.reconstruct(views, angles, backend="cuda", **options)
    assert host_gpu.launcher.launches["forward_local_parts"] > 1  # views in several launches
    close(ours, ref, 1e-4)
