"""Several MPI ranks: the same volume bit for bit, one failure stops every rank, no output unless all succeed.

Signals and killed ranks under MPI are in test_interrupt.py.
"""

import os
import shutil
import subprocess

import numpy as np
import pytest

from cli_helpers import BIN, MPIEXEC, needs_mpi
from tiltrec.formats import read_volume, write_stack
from tiltrec.mpi.world import World
from tiltrec.simulate.phantom import cell_phantom
from tiltrec.simulate.project import project_volume

ANGLES = np.arange(-60.0, 61.0, 4.0)


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mpi")
    volume = cell_phantom(64, 40, 24, seed=3)
    write_stack(folder / "in.mrc", project_volume(volume, ANGLES), pixel_size=5.0)
    (folder / "in.tlt").write_text("".join(f"{a}\n" for a in ANGLES))
    return folder


def run(ranks, folder, out, *options, program="tiltrec-mpi", timeout=180):
    """``mpiexec -n ranks program options... in.mrc in.tlt out`` (a plain process for one rank)."""
    cmd = [str(BIN / program), "--quiet", "--thickness", "24", *map(str, options), str(folder / "in.mrc"),
           str(folder / "in.tlt"), str(out)]
    if ranks > 1:
        cmd = [MPIEXEC, "-n", str(ranks), *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def volume(folder, name, ranks, *options, program="tiltrec-mpi"):
    out = folder / f"{name}-{ranks}.mrc"
    done = run(ranks, folder, out, *options, program=program)
    assert done.returncode == 0, done.stderr
    return read_volume(out)[0]


def test_share_is_balanced_and_contiguous():
    shares = [World(rank=r, size=3).share(10) for r in range(3)]
    assert [list(s) for s in shares] == [[0, 1, 2, 3], [4, 5, 6], [7, 8, 9]]
    assert list(World(rank=2, size=3).share(2)) == []


def test_threads_are_shared_among_the_ranks_of_a_node():
    cores = len(os.sched_getaffinity(0))
    assert World(local_size=1).default_threads() == cores
    assert World(local_size=cores * 2).default_threads() == 1


@needs_mpi
@pytest.mark.parametrize("alg", ["bpt", "fbp", "wbp", "sirt", "sart"])
def test_two_and_three_ranks_give_the_same_volume_bit_for_bit(series, alg):
    options = ["--alg", alg, "--iter", "3"] if alg in ("sirt", "sart") else ["--alg", alg]
    one = volume(series, alg, 1, *options)
    for ranks in (2, 3):
        assert np.array_equal(volume(series, alg, ranks, *options), one), f"{ranks} ranks"


@needs_mpi
@pytest.mark.parametrize("alg", ["wbp", "sirt"])
def test_ranks_agree_with_pitch(series, alg):
    """One-pass algorithms read the halo rows they need; iterative ones keep slabs that depend on --memory only."""
    options = ["--alg", alg, "--pitch", "4", "--memory", "3M", *(["--iter", "3"] if alg == "sirt" else [])]
    one = volume(series, f"pitch-{alg}", 1, *options)
    two = volume(series, f"pitch-{alg}", 2, *options)
    assert np.abs(two - one).max() <= 1e-5 * np.abs(one).max()


@needs_mpi
def test_unified_command_on_two_ranks(series):
    one = volume(series, "z-sirt", 1, "--alg", "sirt", "--iter", "3", program="tiltrecz-mpi")
    assert np.array_equal(volume(series, "z-sirt", 2, "--alg", "sirt", "--iter", "3", program="tiltrecz-mpi"), one)


@needs_mpi
@pytest.mark.filterwarnings("ignore:Data array contains NaN")
def test_a_failing_rank_stops_every_rank(series, tmp_path):
    """A NaN in the rows only rank 1 reads: every rank exits 2, one message names rank 1, nothing is written."""
    from tiltrec.formats import open_stack

    with open_stack(series / "in.mrc") as stack:
        views = stack.read(slice(None), slice(None))
    views[5, 35, 10] = np.nan  # slice 35: in the second half, rank 1's share
    write_stack(tmp_path / "in.mrc", views)
    shutil.copy(series / "in.tlt", tmp_path / "in.tlt")
    done = run(2, tmp_path, tmp_path / "out.mrc", "--alg", "sirt", "--iter", "1")  # WBP reads all rows for its fill
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and "rank 1" in errors[0] and "NaN" in errors[0], done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mrc", "in.tlt"]


@needs_mpi
def test_the_summary_says_when_ranks_share_cores(series, tmp_path):
    """MPICH's mpiexec starts more ranks than cores without a word (Open MPI would want --oversubscribe): the
    summary says that the ranks share cores, and says nothing when each thread has a core."""
    cores = len(os.sched_getaffinity(0))

    def summary(*options):
        out = tmp_path / f"out{len(list(tmp_path.iterdir()))}.mrc"
        cmd = [MPIEXEC, "-n", "2", str(BIN / "tiltrec-mpi"), "--thickness", "24", *options, str(series / "in.mrc"),
               str(series / "in.tlt"), str(out)]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, done.stderr
        return done.stderr

    shared = summary("--threads", str(cores))  # 2 ranks x all the cores
    assert f"ranks share cores (2 rank(s) x {cores} thread(s) on this node's {cores} cores)" in shared, shared
    if cores >= 2:
        assert "share cores" not in summary("--threads", "1")
