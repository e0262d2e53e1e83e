"""The CUDA reprojection kernel with local alignments (projectors/cuda/kernels/local_reproject.cu,
reprojection/cuda_local_rays.py) without a GPU: run on the CPU through tests/cuda_emulation, it equals
local_rays.reproject_view (the Numba kernel that equals IMOD's tilt) bit for bit, pixels and flags, on the inputs
the real reprojection makes for the oracle cases of tests/data/local_reprojection: the parameter file is run as
``tiltrec --com`` would run it, and every call reprojection.run makes of local_rays.reproject_view is also given to
the emulated kernel."""

import time

import numpy as np
import pytest

from cli_helpers import cli
import test_cuda_kernels
from test_local_reprojection import materialize
from tiltrec.reprojection import local_rays as lr
from tiltrec.reprojection.cuda_local_rays import reproject_view_cuda

# oracle case -> what it takes; each is small (3 to 8 lines of 16 to 128 pixels, 6 to 48 views), run whole
CASES = {
    "sim_local": "Z factors, an X-axis tilt and an angle offset",
    "empiar_zfac_angles": "Z factors, angles between the views, up to 70 degrees",
    "empiar_localscale": "LOCALSCALE on a binned stack",
    "empiar_bin2": "a binned stack (the local file scaled by the pixel sizes), excluded views",
    "empiar_thin_high": "a thin wide slab at up to 89 degrees",
    "empiar_full_xwindow": "a window of loaded columns far from the left edge, a range of rows",
}
MISSED = lr.MISSED_TABLE | lr.MISSED_VOLUME
host_gpu = test_cuda_kernels.host_gpu  # the fixture: backend='cuda' runs on an emulated device
emu = test_cuda_kernels.emu  # the fixture: the emulated kernel launcher


def reproject(name: str, folder, shared, monkeypatch, emu) -> list:
    """Run case ``name``'s reprojection with local_rays.reproject_view also run by the emulated kernel; returns,
    per call: its arguments, the Numba kernel's flags and output, the emulated kernel's."""
    calls = []
    numba_view = lr.reproject_view

    def both(*args):
        ours = np.full_like(args[-1], np.nan)  # every element must be written
        ours_flags = reproject_view_cuda(*args[:-1], ours, np, emu)
        flags = numba_view(*args)
        calls.append((args, flags, args[-1].copy(), ours_flags, ours))
        return flags

    monkeypatch.setattr(lr, "reproject_view", both)
    result = cli("--com", materialize(folder, shared, name), "--quiet")
    assert result.exit_code == 0, result.output
    assert calls
    return calls


def bits_equal(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and np.array_equal(a.view(np.uint32), b.view(np.uint32))


@pytest.mark.parametrize("name", sorted(CASES))
def test_emulated_kernel_equals_the_numba_kernel_bit_for_bit(name, shared_dir, tmp_path, monkeypatch, emu):
    start = time.perf_counter()
    calls = reproject(name, tmp_path, shared_dir, monkeypatch, emu)
    pixels = np.concatenate([c[2].ravel() for c in calls])
    for v, (args, flags, theirs, ours_flags, ours) in enumerate(calls):
        assert ours_flags == flags, v
        assert bits_equal(ours, theirs), (v, float(np.abs(ours - theirs).max()))
    print(f"{name} ({CASES[name]}): {len(calls)} views, {pixels.size} pixels equal bit for bit, flags "
          f"{sorted({c[1] for c in calls})}; {time.perf_counter() - start:.2f} s")
    assert np.isfinite(pixels).all() and len(np.unique(pixels)) > pixels.size // 5  # sums of samples, not fills only


@pytest.mark.parametrize("name", ["sim_local", "empiar_thin_high", "empiar_localscale"])
def test_a_block_short_of_slices_is_flagged_alike(name, shared_dir, tmp_path, monkeypatch, emu):
    """reprojection.run reading one slice fewer than tilt's estimate on each side and giving the factors of only
    those: both kernels flag the first view's rays that reach beyond them alike (with the same partial sums), and
    the block is done again from every slice tilt holds, alike."""
    from tiltrec.reprojection import run

    monkeypatch.setattr(run, "LOCAL_MARGIN", -1)
    monkeypatch.setattr(run, "TABLE_MARGIN", 0)
    calls = reproject(name, tmp_path, shared_dir, monkeypatch, emu)
    assert calls[0][1] & MISSED and not any(c[1] & MISSED for c in calls[1:])
    for v, (args, flags, theirs, ours_flags, ours) in enumerate(calls):
        assert ours_flags == flags and bits_equal(ours, theirs), v


@pytest.mark.parametrize("name, which", [("sim_local", "volume"), ("empiar_zfac_angles", "table"),
                                         ("empiar_thin_high", "volume")])
def test_too_few_slices_are_flagged_alike(name, which, shared_dir, tmp_path, monkeypatch, emu):
    """Given only two slices of the tomogram (or of the factors' table), both kernels flag the rays that reach
    beyond them (MISSED_VOLUME, or MISSED_TABLE), with the same flags, and leave the same partial sums."""
    args, *_ = reproject(name, tmp_path, shared_dir, monkeypatch, emu)[0]
    vol, vol_first, table, t_first = args[:4]
    if which == "volume":
        middle = len(vol) // 2 - 1
        vol, vol_first = np.ascontiguousarray(vol[middle:middle + 2]), vol_first + middle
    else:
        middle = table.shape[1] // 2 - 1
        table, t_first = np.ascontiguousarray(table[:, middle:middle + 2]), t_first + middle
    rest = args[4:-1]
    theirs, ours = np.empty_like(args[-1]), np.full_like(args[-1], np.nan)
    flags = lr.reproject_view(vol, vol_first, table, t_first, *rest, theirs)
    assert flags == (lr.MISSED_VOLUME if which == "volume" else lr.MISSED_TABLE)
    assert reproject_view_cuda(vol, vol_first, table, t_first, *rest, ours, np, emu) == flags
    assert bits_equal(ours, theirs)


def test_host_arguments_are_checked(shared_dir, tmp_path, monkeypatch, emu):
    args, *_ = reproject("empiar_thin_high", tmp_path, shared_dir, monkeypatch, emu)[0]
    with pytest.raises(TypeError):
        reproject_view_cuda(args[0].astype(np.float64), *args[1:], np, emu)
    with pytest.raises(ValueError):
        reproject_view_cuda(*args[:10], args[10][:-1], *args[11:], np, emu)
    with pytest.raises(ValueError):
        reproject_view_cuda(np.ascontiguousarray(args[0][:, :, 1:]), *args[1:], np, emu)


@pytest.mark.parametrize("name", ["sim_local", "empiar_thin_high"])
def test_the_gpu_commands_reproject_with_local_alignments_on_the_gpu(name, host_gpu, shared_dir, tmp_path):
    """tiltrec-cuda with LOCALFILE and RecFileToReproject: the rays on the (emulated) GPU, the output equal to IMOD's
    reference as tiltrec-mpi's is."""
    from test_cuda_reprojection import gpu_command_reproduces
    from test_local_reprojection import DATA, TOLERANCE

    gpu_command_reproduces(materialize(tmp_path, shared_dir, name), DATA / f"{name}.mrc", TOLERANCE, host_gpu,
                           "local_reproject_view")
