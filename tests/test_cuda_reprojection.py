"""The CUDA reprojection kernel (projectors/cuda/kernels/reproject.cu, reprojection/cuda_rays.py) without a GPU:
run on the CPU through tests/cuda_emulation, it equals imod_rays.reproject_lines (the Numba kernel that equals
IMOD's tilt) bit for bit, on geometries from the real planner that take every path: rays stepped in Z and in X,
with and without an X-axis tilt, with Z factors, ranges of columns, rows and slices, and blocks of slices that do
not start at the first."""

import time

import mrcfile
import numpy as np
import pytest

import test_cuda_kernels
from test_cuda_kernels import ARCHES, compile_source
from tiltrec.projectors.cuda.launcher import KERNEL_DIR
from tiltrec.reprojection.cuda_rays import reproject_lines_cuda
from tiltrec.reprojection.geometry import Request, delz, plan, slices_needed
from tiltrec.reprojection.imod_rays import reproject_lines

F32 = np.float32
host_gpu = test_cuda_kernels.host_gpu  # the fixture: backend='cuda' runs on an emulated device
emu = test_cuda_kernels.emu  # the fixture: the emulated kernel launcher
WIDTH, THICK, NSLICES = 40, 12, 9
ANGLES = np.array([-80.0, -77.0, -74.0, -61.0, -45.0, -30.0, -10.0, 0.0, 5.0, 20.0, 40.0, 58.0, 65.0, 73.0, 73.5, 76.0,
                   77.0, 80.0])
SERIES = np.linspace(-81.0, 81.0, 28)  # the reprojected angles fall between the series' (interpolated X tilts)

# name: the request's changes, the Z factors (x, y) given to every view, the output lines (None: all)
CASES = {
    "flat": (dict(), None, None),
    "flat-ranges": (dict(x_range=(5, 30), y_range=(2, 11), z_range=(3, 8), first_slice=4, xshift=1.5, zshift=-1.0,
                         offset=2.0), None, None),
    # at 77 degrees a ray's first estimated pixel lies exactly on the edge: tilt's second check moves it one further
    "flat-edge": (dict(nx=45, xshift=1.0, axis_offset=0.5, zshift=0.5), None, None),
    "flat-zfactors": (dict(x_range=(3, 38)), (0.05, -0.03), None),
    "pitch": (dict(pitch=6.0, zshift=0.5), None, range(6, 10)),  # a block of slices from the 4th
    "pitch-steep": (dict(pitch=-25.0, z_range=(2, 9), first_slice=3, xshift=-2.0), None, range(4, 10)),
    # rays through up to ten slices: the first and last lines' leave them by more than tilt's tolerance
    "pitch-extreme": (dict(pitch=40.0, zshift=1.0), None, None),
    "xtilt-ranges": (dict(xtilt=np.linspace(3.0, 12.0, len(SERIES)), x_range=(8, 29), y_range=(3, 12),
                          z_range=(2, 7), first_slice=2, axis_offset=0.5), None, range(4, 8)),
    "xtilt-zfactors": (dict(xtilt=np.linspace(12.0, 4.0, len(SERIES)), pitch=-2.0, offset=-1.5), (-0.04, 0.06),
                       [2, 5, 9]),
}


@pytest.fixture(scope="module")
def tomogram():
    """[slice, row, column]: noise on a positive background, so that every sample and weight shows."""
    rng = np.random.default_rng(11)
    return (rng.random((NSLICES, THICK, WIDTH), dtype=F32) + F32(0.5)).astype(F32)


def setup(name: str, tomogram: np.ndarray):
    """The kernels' arguments for case ``name``, as reprojection.run makes them: the planner's views and
    parameters, the block of slices the lines' rays reach, cropped to the rows and columns reprojected."""
    changes, zfactors, lines = CASES[name]
    request = dict(nx=44, ny=NSLICES + 3, series_angles=SERIES, angles=ANGLES, width=WIDTH, thickness=THICK,
                   nslices=NSLICES, mean=0.7)
    p = plan(Request(**{**request, **changes}))
    views = p.views.copy()
    if zfactors is not None:  # as the planner sets them with a Z factor file (negated), and their Z step
        views[:, 4], views[:, 5] = -F32(zfactors[0]), -F32(zfactors[1])
        cb, sb, ca, sa, xzf, yzf = (views[:, i] for i in range(6))
        views[:, 6] = delz(sb, cb, sa, ca, xzf, yzf)
    numbers = np.arange(p.z_range[0], p.z_range[1] + 1) if lines is None else np.asarray(lines)
    if p.tilted and len(numbers) == len(range(numbers[0], numbers[-1] + 1)):
        first, last = slices_needed(p, range(numbers[0], numbers[-1] + 1), NSLICES)
    else:
        first, last = (1, NSLICES) if p.tilted else (numbers.min(), numbers.max())
    (y0, y1), (x0, x1) = p.y_range, p.x_range
    vol = np.ascontiguousarray(tomogram[first - 1:last, y0 - 1:y1, x0 - 1:x1])
    return p, views, vol, int(first), numbers.astype(np.int64)


def in_z(views: np.ndarray, thick: int, width: int) -> np.ndarray:
    """Which views the kernels step in Z (tilt's test, in float32)."""
    return np.abs(views[:, 1] * F32(thick)) <= np.abs(views[:, 0] * F32(width))


def run_both(p, views, vol, first, lines, emu):
    ours = np.full((len(views), len(lines), p.out_width), np.nan, F32)  # every element must be written
    theirs = np.empty_like(ours)
    reproject_lines_cuda(vol, first, NSLICES, lines, views, p.params, ours, np, emu)
    reproject_lines(vol, first, NSLICES, lines, views, p.params, theirs)
    return ours, theirs


@pytest.mark.parametrize("name", sorted(CASES))
def test_emulated_kernel_equals_the_numba_kernel_bit_for_bit(name, tomogram, emu):
    p, views, vol, first, lines = setup(name, tomogram)
    zs = in_z(views, vol.shape[1], p.out_width)
    assert zs.any() and not zs.all(), "the case must step some rays in Z and some in X"
    assert p.tilted == (name.startswith(("pitch", "xtilt")))
    ours, theirs = run_both(p, views, vol, first, lines, emu)
    equal = ours.view(np.uint32) == theirs.view(np.uint32)
    print(f"{name}: {equal.mean():.2%} of {equal.size} pixels equal bit for bit; views in Z "
          f"{np.flatnonzero(zs).tolist()}, in X {np.flatnonzero(~zs).tolist()}")
    assert np.array_equal(ours, theirs)
    # the rows are sums of samples, not fills: the volume's values change every view's rows on both paths
    empty, _ = run_both(p, views, np.zeros_like(vol), first, lines, emu)
    changed = np.abs(ours - empty).max(axis=(1, 2)) > 0.1
    assert changed.all(), f"views whose rays sample nothing: {np.flatnonzero(~changed).tolist()}"
    assert np.isfinite(ours).all() and len(np.unique(ours)) > ours.size // 4


@pytest.mark.parametrize("name", ["pitch-steep", "pitch-extreme", "xtilt-ranges"])
def test_tilted_rays_cross_slices_and_leave_them(name, tomogram, emu):
    """The tilted cases take what an X-axis tilt adds: samples between slices (the rows differ from those of the
    same rays kept in their slice, on both paths) and, at 40 degrees, rays that leave the slices beyond tilt's
    tolerance (the first and last lines collect more fill than the middle one)."""
    p, views, vol, first, lines = setup(name, tomogram)
    flat = p.params.copy()
    flat[9] = 0.0
    ours, _ = run_both(p, views, vol, first, lines, emu)
    kept = np.empty_like(ours)
    reproject_lines(vol, first, NSLICES, lines, views, flat, kept)
    zs = in_z(views, vol.shape[1], p.out_width)
    for path in (zs, ~zs):
        assert (np.abs(ours[path] - kept[path]).max(axis=(1, 2)) > 1e-3).all()
    if name == "pitch-extreme":
        fills, _ = run_both(p, views, np.zeros_like(vol), first, lines, emu)
        middle = fills[:, len(lines) // 2].sum(axis=1)
        assert (fills[:, 0].sum(axis=1) > middle).all() and (fills[:, -1].sum(axis=1) > middle).all()


def test_one_thread_per_line_and_view_and_the_time(tomogram, emu):
    """The kernel's launch covers every line and view (more views than a block holds); the time of both kernels
    (the best of three), for the record."""
    p, views, vol, first, lines = setup("xtilt-zfactors", tomogram)
    lines = np.arange(1, NSLICES + 1)
    many = np.concatenate([views] * 3)
    ours, theirs = run_both(p, many, vol, first, lines, emu)
    assert np.array_equal(ours, theirs)
    timings = {}
    runs = {"emulated CUDA": lambda: reproject_lines_cuda(vol, first, NSLICES, lines, many, p.params, ours, np, emu),
            "Numba": lambda: reproject_lines(vol, first, NSLICES, lines, many, p.params, theirs)}
    for label, call in runs.items():
        times = []
        for _ in range(3):
            start = time.perf_counter()
            call()
            times.append(time.perf_counter() - start)
        timings[label] = min(times)
    print(", ".join(f"{k}: {v * 1e3:.2f} ms" for k, v in timings.items()), f"({ours.shape})")


def test_host_arguments_are_checked(tomogram, emu):
    p, views, vol, first, lines = setup("flat", tomogram)
    out = np.empty((len(views), len(lines), p.out_width), F32)
    with pytest.raises(ValueError):
        reproject_lines_cuda(vol, first, NSLICES, lines[:-1], views, p.params, out, np, emu)
    with pytest.raises(TypeError):
        reproject_lines_cuda(vol.astype(np.float64), first, NSLICES, lines, views, p.params, out, np, emu)


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("source, kernel", [("reproject.cu", "reproject_lines"),
                                            ("local_reproject.cu", "local_reproject_view")])
def test_the_kernels_compile_without_fused_multiply_adds(source, kernel, arch, tmp_path):
    """nvcc (or NVRTC) builds the reprojection kernels (global and local alignments); their PTX holds no FMA,
    which would round differently from the CPU."""
    path = KERNEL_DIR / source
    ptx = compile_source(path.read_text(), path.name, arch, tmp_path)
    assert f".entry {kernel}(" in ptx
    assert "fma." not in ptx


@pytest.mark.parametrize("name", ["jason_xtilt_angles", "empiar_geomA_narrow", "empiar_log_mode1", "sim_binned"])
def test_the_gpu_commands_reproject_on_the_gpu_as_imods_tilt(name, host_gpu, shared_dir, tmp_path):
    """tiltrec-cuda with a RecFileToReproject parameter file: the rays on the (emulated) GPU, tilted and untilted,
    the output equal to IMOD's reference as tiltrec-mpi's is (the checks of test_reprojection)."""
    from test_reprojection import DATA, TOLERANCE, materialize

    gpu_command_reproduces(materialize(tmp_path, shared_dir, name), DATA / f"{name}.mrc", TOLERANCE, host_gpu,
                           "reproject_lines")


def gpu_command_reproduces(param, reference, tolerance: float, host_gpu, kernel: str) -> None:
    """``tiltrec-cuda --com param`` ran ``kernel`` on the emulated device and wrote ``reference``'s values (to
    ``tolerance`` of its SD) into the parameter file's folder's ours.mrc."""
    from cli_helpers import cli

    result = cli("--com", param, "--quiet", prog="tiltrec-cuda")
    assert result.exit_code == 0, result.output
    assert "CPU" not in result.output  # no word of running elsewhere
    assert host_gpu.launcher.launches[kernel] >= 1
    with mrcfile.open(reference) as ref, mrcfile.open(param.parent / "ours.mrc") as ours:
        theirs, mine = ref.data.astype(np.float64), ours.data.astype(np.float64)
        assert mine.shape == theirs.shape
        assert float(np.abs(mine - theirs).max()) / theirs.std() <= tolerance
