"""ADMM: its conjugate gradients, the TV operators, the quality on a noisy wedge phantom, the command line, MPI."""

import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from cli_helpers import MPIEXEC, cli, needs_mpi, one_line, phantom_series, run_group

from tiltrec.algorithms import ALGORITHMS
from tiltrec.algorithms.reductions import local_dot
from tiltrec.algorithms.cg import conjugate_gradient
from tiltrec.algorithms.regularizers import NonNegative
from tiltrec.algorithms.regularizers.l1 import L1
from tiltrec.algorithms.regularizers.tv import TotalVariation
from tiltrec.algorithms.regularizers.tv_cpu import CpuTotalVariation
from tiltrec.options.model import Settings
from tiltrec.formats import read_volume, write_stack
from tiltrec.geometry import Geometry
from tiltrec.mpi import Halo, World
from tiltrec.projectors.cpu import CpuProjector
from tiltrec.quality import pearson
from tiltrec.simulate.noise import add_noise
from tiltrec.simulate.phantom import cell_phantom
from tiltrec.simulate.project import project_volume

BIN = Path(sys.executable).parent
SINGLE = Halo(World())


# ------------------------------------------------------------------------------------------------------------ CG
def spd_system(seed: int, n: int, condition: float):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    m = (q * np.geomspace(1.0, condition, n)) @ q.T
    return m, rng.standard_normal(n)


def run_cg(m, b, x, steps):
    """CG from ``x``; returns the energies ``x^T M x / 2 - b^T x`` after each step and the squared residuals."""
    r = b - m @ x
    energies = [0.5 * x @ m @ x - b @ x]

    def step(alpha):
        energies.append(0.5 * x @ m @ x - b @ x)

    history = conjugate_gradient(lambda d, out: np.matmul(m, d, out=out), x, r, steps, np.dot, np,
                                 np.empty_like(x), np.empty_like(x), on_step=step)
    return np.array(energies), np.array(history), r


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("condition", [10.0, 1e4])
def test_cg_lowers_the_energy_at_every_step_and_solves_spd_systems(seed, condition):
    """CG's monotone quantity is the energy (the M-norm of the error); the residual's 2-norm may rise for a step."""
    m, b = spd_system(seed, 40, condition)
    x = np.zeros(40)
    energies, history, r = run_cg(m, b, x, 120)
    assert np.all(np.diff(energies) <= 1e-12 * np.abs(energies).max())
    assert np.allclose(r, b - m @ x, atol=1e-8 * np.linalg.norm(b))  # the carried residual is the true one
    assert np.linalg.norm(m @ x - b) < 1e-6 * np.linalg.norm(b)
    assert history[-1] < 1e-12 * history[0]


def test_cg_warm_start_goes_on_to_the_solution():
    m, b = spd_system(7, 20, 100.0)
    x = np.zeros(20)
    energies, _, _ = run_cg(m, b, x, 3)
    more, _, _ = run_cg(m, b, x, 40)  # warm start: continues from x and its residual
    assert more[0] == pytest.approx(energies[-1])
    assert np.allclose(x, np.linalg.solve(m, b), rtol=1e-8, atol=1e-10)


def test_fletcher_reeves_sign_matters():
    """TiltRec's beta had the wrong sign: with it, more steps do not approach the solution."""
    m, b = spd_system(3, 30, 1e3)
    exact = np.linalg.solve(m, b)

    def cg(sign, steps):
        x, r = np.zeros(30), b.copy()
        d, rr = r.copy(), r @ r
        for _ in range(steps):
            q = m @ d
            alpha = rr / (d @ q)
            x += alpha * d
            r -= alpha * q
            d = r + sign * (r @ r) / rr * d
            rr = r @ r
        return np.linalg.norm(x - exact)

    assert cg(+1, 60) < 1e-6 * np.linalg.norm(exact)
    assert cg(-1, 60) > 0.1 * np.linalg.norm(exact)


@pytest.mark.parametrize("xp", [np, SimpleNamespace(einsum=np.einsum, float64=np.float64)],
                         ids=["numpy", "another module"])
def test_local_dot_accumulates_in_double(xp):
    a = np.full((300, 200, 300), 0.1, np.float32)
    assert local_dot(xp, a, a) == pytest.approx(a.size * float(np.float32(0.1)) ** 2, rel=1e-12)


# ----------------------------------------------------------------------------------------------- regularisers
def generic(name, positivity, halo=SINGLE):
    """The array-operation regulariser (the one CuPy runs), whatever make_regularizer picks for NumPy."""
    reg = {"tv": TotalVariation, "l1": L1}[name](np, halo)
    return NonNegative(reg) if positivity else reg


IMPLEMENTATIONS = {
    "tv": lambda halo=SINGLE: generic("tv", False, halo),
    "tv+": lambda halo=SINGLE: generic("tv", True, halo),
    "tv-cpu": lambda halo=SINGLE: CpuTotalVariation(np, halo),
    "tv-cpu+": lambda halo=SINGLE: CpuTotalVariation(np, halo, positivity=True),
    "l1": lambda halo=SINGLE: generic("l1", False, halo),
    "l1+": lambda halo=SINGLE: generic("l1", True, halo),
}


def random_state(reg, shape=(6, 9, 7), seed=1):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(np.float32)
    z, u = (rng.standard_normal((reg.components,) + shape).astype(np.float32) for _ in range(2))
    return x, z, u


@pytest.mark.parametrize("kind", IMPLEMENTATIONS)
def test_regularizer_adjoint_and_normal(kind):
    """<D x, v> = <x, D^T v> (the gradient and minus the divergence), and add_normal adds D^T D x."""
    reg = IMPLEMENTATIONS[kind]()
    x, v, _ = random_state(reg)
    dx, dtv = np.zeros_like(v), np.zeros_like(x)
    reg.forward(x, dx)
    reg.adjoint(v, dtv)
    lhs, rhs = np.vdot(dx.astype(np.float64), v), np.vdot(x.astype(np.float64), dtv)
    assert abs(lhs - rhs) < 1e-5 * np.linalg.norm(dx) * np.linalg.norm(v)
    normal, expected = np.zeros_like(x), np.zeros_like(x)
    reg.add_normal(x, normal, 2.5)
    reg.adjoint(dx, expected)
    np.testing.assert_allclose(normal, 2.5 * expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("positivity", [False, True])
def test_fused_cpu_steps_equal_the_array_operations(positivity):
    """The Numba kernels' split and divergences do what the generic code does step by step."""
    fused, reference = CpuTotalVariation(np, SINGLE, positivity), generic("tv", positivity)
    x, z, u = random_state(fused)
    results = []
    for reg in (fused, reference):
        zz, uu = z.copy(), u.copy()
        value, primal = reg.split(x, zz, uu, 0.7)
        h, g, r = np.ones_like(x), np.full_like(x, 2.0), np.zeros_like(x)
        dual = reg.divergences(zz, uu, h, g, r, 3.0)
        results.append((value, primal, dual, zz, uu, h, g, r))
    for ours, theirs in zip(*results):
        np.testing.assert_allclose(ours, theirs, rtol=2e-5, atol=2e-5)


def test_tv_gradient_of_a_ramp_and_neumann_edges():
    x = np.zeros((3, 4, 5), np.float32) + np.arange(5, dtype=np.float32)  # rises by 1 per slice along Y
    g = np.zeros((3, 3, 4, 5), np.float32)
    TotalVariation(np, SINGLE).forward(x, g)
    assert np.all(g[0] == 0) and np.all(g[1] == 0)
    assert np.all(g[2][..., :-1] == 1) and np.all(g[2][..., -1] == 0)


def test_tv_prox_shrinks_gradient_vectors():
    tv = TotalVariation(np, SINGLE)
    v = np.array([[[[3.0, 0.3]]], [[[4.0, 0.4]]], [[[0.0, 0.0]]]], np.float32)  # lengths 5 and 0.5
    tv.prox(v, 1.0, np.zeros((2, 1, 1, 2), np.float32))
    np.testing.assert_allclose(v[:, 0, 0, 0], [2.4, 3.2, 0.0], rtol=1e-6)  # length 4, same direction
    assert np.all(v[:, 0, 0, 1] == 0)


class BlockHalo:
    """The halo of slices [y0, y1) of whole volumes, without MPI: what the neighbouring ranks would send."""

    def __init__(self, wholes, y0, y1):
        self.wholes, self.y0, self.y1 = wholes, y0, y1
        self.has_prev, self.has_next = y0 > 0, y1 < wholes[0].shape[-1]

    def neighbours(self, a, xp):
        whole = next(w for w in self.wholes if np.shares_memory(a, w))
        return (whole[..., self.y0 - 1] if self.has_prev else None,
                whole[..., self.y1] if self.has_next else None)


@pytest.mark.parametrize("kind", ["tv", "tv-cpu+"])
def test_tv_in_blocks_with_halos_equals_the_whole_volume(kind):
    """What each MPI rank computes on its block of slices, with its halo, is the whole volume's result there."""
    make = IMPLEMENTATIONS[kind]
    x, z, u = random_state(make(), (5, 6, 11), seed=2)
    whole = make()
    grad, lap = np.zeros_like(z), np.zeros_like(x)
    whole.forward(x, grad)
    whole.add_normal(x, lap, 1.5)
    zw, uw, hw, gw = z.copy(), u.copy(), np.zeros_like(x), np.zeros_like(x)
    split = whole.split(x, zw, uw, 0.5)
    whole.divergences(zw, uw, hw, gw)
    sums = np.zeros(3)
    for y0, y1 in ((0, 4), (4, 5), (5, 11)):
        part = (Ellipsis, slice(y0, y1))
        zb, ub = z[part].copy(), u[part].copy()
        reg = make(BlockHalo([x, zb[2], ub[2]], y0, y1))
        g, n, h, gg = np.zeros_like(z[part]), np.zeros_like(x[part]), np.zeros_like(x[part]), np.zeros_like(x[part])
        reg.forward(x[part], g)
        reg.add_normal(x[part], n, 1.5)
        sums[:2] += reg.split(x[part], zb, ub, 0.5)
        np.testing.assert_allclose(g, grad[part], atol=1e-6)
        np.testing.assert_allclose(n, lap[part], atol=1e-5)
        np.testing.assert_allclose(zb, zw[part], atol=1e-6)
        np.testing.assert_allclose(ub, uw[part], atol=1e-6)
        zb_whole = zw.copy()  # the divergences need the neighbours' updated z and u
        reg = make(BlockHalo([zw[2], uw[2]], y0, y1))
        reg.divergences(zw[part], uw[part], h, gg)
        np.testing.assert_allclose(h, hw[part], atol=1e-5)
        np.testing.assert_allclose(gg, gw[part], atol=1e-5)
        assert np.array_equal(zb_whole, zw)
    np.testing.assert_allclose(sums[:2], split, rtol=1e-5)


# ---------------------------------------------------------------------------------------------------- quality
W, NY, T = 96, 24, 48
WEDGE = np.arange(-60.0, 60.1, 3.0)


class Recorder:
    """An iteration log that keeps the records."""

    def __init__(self):
        self.records, self.lam = [], None

    def weights(self, lam, rho, sigma):
        self.lam = lam

    def __call__(self, record):
        self.records.append(record)


@pytest.fixture(scope="module")
def noisy_wedge():
    """A cell-like phantom seen from -60..60 degrees in 3 degree steps, noise at signal-to-noise variance 2."""
    truth = cell_phantom(W, NY, T, seed=2)  # [y, z, x]
    views = add_noise(project_volume(truth, WEDGE), snr=2.0, rng=1)
    op = CpuProjector(Geometry(nx=W, ny=NY, angles=WEDGE, thickness=T), 0, NY)
    return op, views, truth.transpose(1, 2, 0)


def test_admm_tv_beats_tuned_sirt_and_its_objective_falls(noisy_wedge):
    """Measured: ADMM-TV (defaults) 0.930; SIRT at its best count (5 of these) 0.574; objective falls after it 3."""
    op, views, truth = noisy_wedge
    sirt = max(pearson(ALGORITHMS["sirt"].run(op, views, Settings(iter=n)), truth) for n in (3, 5, 10, 20, 40))
    log = Recorder()
    x = ALGORITHMS["admm"].run(op, views, Settings(), log=log)
    assert pearson(x, truth) >= sirt + 0.05
    objective = np.array([r["objective"] for r in log.records])
    assert len(objective) == 30
    assert np.all(np.diff(objective[3:]) < 0)
    assert objective[-1] < 0.8 * objective[0]
    assert log.records[-1]["primal"] < 0.1 * log.records[0]["primal"]
    for r in log.records:
        assert r["objective"] == pytest.approx(r["data"] + r["regularization"])


def test_admm_objective_terms_are_what_they_say(noisy_wedge):
    op, views, _ = noisy_wedge
    log = Recorder()
    x = ALGORITHMS["admm"].run(op, views, Settings(iter=4), log=log)
    misfit = op.forward(x).astype(np.float64) - op.pack(views)
    data = 0.5 * np.sum((misfit - misfit.mean()) ** 2)  # about its mean: the views' offset is fitted
    grad = np.zeros((3,) + x.shape, np.float32)
    TotalVariation(np, SINGLE).forward(x, grad)
    tv = np.sum(np.sqrt(np.sum(grad.astype(np.float64) ** 2, axis=0)))
    assert log.records[-1]["data"] == pytest.approx(data, rel=1e-4)  # A x carried through the CG steps
    assert log.records[-1]["regularization"] == pytest.approx(log.lam * tv, rel=1e-4)


def test_admm_l1_and_positivity(noisy_wedge):
    op, views, truth = noisy_wedge
    tv = ALGORITHMS["admm"].run(op, views, Settings(iter=10))
    l1 = ALGORITHMS["admm"].run(op, views, Settings(iter=10, reg="l1"))
    assert pearson(tv, truth) > pearson(l1, truth) > 0.3
    positive = ALGORITHMS["admm"].run(op, views, Settings(iter=10, positivity=True))
    assert positive.min() >= 0 and pearson(positive, truth) > 0.8


def test_admm_ignores_a_constant_offset_of_the_views(noisy_wedge):
    """Such an offset (the vacuum level of cryo-EM views) fits no volume at every tilt; ADMM fits it apart."""
    op, views, truth = noisy_wedge
    plain = ALGORITHMS["admm"].run(op, views, Settings(iter=5))
    shifted = ALGORITHMS["admm"].run(op, views + np.float32(300.0), Settings(iter=5))
    np.testing.assert_allclose(shifted, plain, atol=1e-3 * np.abs(plain).max())
    assert pearson(ALGORITHMS["sirt"].run(op, views + np.float32(300.0), Settings(iter=5)), truth) < 0.3


def test_admm_result_scales_with_the_data(noisy_wedge):
    """lambda follows the noise and rho the number of views: data twice as strong give a volume twice as strong."""
    op, views, _ = noisy_wedge
    one = ALGORITHMS["admm"].run(op, views, Settings(iter=5))
    two = ALGORITHMS["admm"].run(op, 2 * views, Settings(iter=5))
    np.testing.assert_allclose(two, 2 * one, rtol=1e-3, atol=1e-3 * np.abs(one).max())


# ------------------------------------------------------------------------------------------------ command line
@pytest.fixture(scope="module")
def series(tmp_path_factory):
    return phantom_series(tmp_path_factory.mktemp("admm"), WEDGE, noise_seed=2)


def test_admm_on_the_slice_based_command_points_to_tiltrecz(series, tmp_path):
    result = cli("--alg", "admm", "--thickness", "24", series / "in.mrc", series / "in.tlt", tmp_path / "out.mrc")
    assert result.exit_code == 2 and "tiltrecz-mpi" in one_line(result.stderr)
    assert not any(tmp_path.iterdir())


def test_cli_log_file_has_one_line_per_iteration(series, tmp_path):
    out, log = tmp_path / "out.mrc", tmp_path / "admm.log"
    result = cli("--alg", "admm", "--iter", "6", "--cg-iter", "2", "--lambda", "0.5", "--thickness", "24", "-q",
                 "--log", log, series / "in.mrc", series / "in.tlt", out, prog="tiltrecz-mpi")
    assert result.exit_code == 0, result.stderr
    lines = log.read_text().splitlines()
    assert lines[0].startswith("# ADMM of slices 0-39 for") and "lambda" in lines[0]
    assert lines[1].split()[1:] == ["iteration", "objective", "data", "regularization", "primal", "dual", "cg",
                                    "seconds"]
    table = np.array([[float(v) for v in line.split()] for line in lines[2:]])
    assert table.shape == (6, 8) and list(table[:, 0]) == [1, 2, 3, 4, 5, 6]
    np.testing.assert_allclose(table[:, 1], table[:, 2] + table[:, 3], rtol=1e-6)
    assert read_volume(out)[0].shape == (40, 24, 64)


@pytest.mark.parametrize("args,message", [
    (["--reg", "tv2"], "--reg takes one of tv, l1, got 'tv2'"),
    (["--rho", "0"], "--rho must be positive"),
    (["--lambda", "-1"], "--lam must be positive"),
])
def test_cli_refuses_bad_admm_options(series, tmp_path, args, message):
    result = cli("--alg", "admm", "--thickness", "24", *args, series / "in.mrc", series / "in.tlt",
                 tmp_path / "out.mrc", prog="tiltrecz-mpi")
    assert result.exit_code == 2 and message in one_line(result.stderr)


# ------------------------------------------------------------------------------------------------------- GPU
@pytest.mark.parametrize("regularizer", ["fused", "array operations"])
def test_admm_on_the_cuda_projector_with_emulated_kernels(noisy_wedge, regularizer, monkeypatch):
    """The GPU path: the same ADMM code on the CUDA projector, whose kernels run emulated on the CPU (NumPy
    arrays); "array operations" also swaps in the regulariser that CuPy arrays get."""
    from cuda_emulation.emulator import EmulatedLauncher, compiler
    from tiltrec.projectors.cuda.projector import CudaProjector

    if compiler() is None:
        pytest.skip("no C++ compiler (g++) for the CUDA emulation")
    if regularizer == "array operations":
        monkeypatch.setattr(sys.modules["tiltrec.algorithms.admm"], "make_regularizer",
                            lambda name, xp, halo, positivity: generic(name, positivity))
    cpu, views, truth = noisy_wedge
    launcher = EmulatedLauncher()
    gpu = CudaProjector(cpu.geom, 0, NY, np, launcher)
    settings = Settings(iter=3, positivity=True)
    ref = ALGORITHMS["admm"].run(cpu, views, settings)
    ours = ALGORITHMS["admm"].run(gpu, views, settings)
    assert launcher.launches
    assert np.abs(ours - ref).max() <= 1e-4 * np.abs(ref).max()


# ------------------------------------------------------------------------------------------------------- MPI
def mpi_volume(folder, out, ranks, *options):
    cmd = [str(BIN / "tiltrecz-mpi"), "--quiet", "--alg", "admm", "--thickness", "24", *options,
           str(folder / "in.mrc"), str(folder / "in.tlt"), str(out)]
    if ranks > 1:
        cmd = [MPIEXEC, "-n", str(ranks), *cmd]
    code, err = run_group(cmd)
    return code, err, read_volume(out)[0] if code == 0 else None


@pytest.mark.mpi
@needs_mpi
@pytest.mark.parametrize("options,ranks", [(["--iter", "6"], (1, 2, 3)),
                                           (["--iter", "4", "--positivity", "--slices", "20,21"], (1, 3))],
                         ids=["whole", "two-slices"])
def test_one_two_and_three_ranks_agree(series, tmp_path, options, ranks):
    """Blocks of slices with halo exchange and summed inner products: the ranks' result is one process's (the
    two-slice case leaves the third rank without a block)."""
    results = []
    for ranks in ranks:
        code, err, vol = mpi_volume(series, tmp_path / f"out{ranks}.mrc", ranks, *options)
        assert code == 0, err
        results.append(vol)
    for vol in results[1:]:
        assert np.abs(vol - results[0]).max() <= 1e-5 * np.abs(results[0]).max()


@pytest.mark.mpi
@needs_mpi
def test_pitch_under_mpi_is_refused(series, tmp_path):
    code, err, _ = mpi_volume(series, tmp_path / "out.mrc", 2, "--pitch", "3")
    errors = [line for line in err.splitlines() if "error" in line]
    assert code == 2 and len(errors) == 1 and "--pitch" in errors[0] and "one rank" in errors[0]


@pytest.mark.mpi
@needs_mpi
@pytest.mark.filterwarnings("ignore:Data array contains NaN")
def test_bad_rows_on_one_rank_stop_every_rank_cleanly(series, tmp_path):
    """The ranks agree on a failure to read before they meet in ADMM's collectives: one line, nothing written."""
    from tiltrec.formats import open_stack

    with open_stack(series / "in.mrc") as stack:
        views = stack.read(slice(None), slice(None))
    views[5, 35, 10] = np.nan  # slice 35: rank 1's block
    write_stack(tmp_path / "in.mrc", views)
    (tmp_path / "in.tlt").write_text((series / "in.tlt").read_text())
    code, err, _ = mpi_volume(tmp_path, tmp_path / "out.mrc", 2)
    errors = [line for line in err.splitlines() if "error" in line]
    assert code == 2 and len(errors) == 1 and "rank 1" in errors[0] and "NaN" in errors[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mrc", "in.tlt"]
