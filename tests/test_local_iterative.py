"""IMOD's local alignments in tiltrec's own algorithms: the forward projection with local positions (local.c's
``forward_local``) is the exact transpose of the local back-projection, so SIRT, SART and ADMM iterate a matched
pair; a series distorted by a local model is reconstructed better with ``--local`` than without."""

import subprocess
from dataclasses import replace

import numpy as np
import pytest

from cli_helpers import BIN, MPIEXEC, cli, needs_mpi, one_line
from test_local_alignments import GEOMETRY, local_text

import tiltrec
from tiltrec.formats import read_volume, write_stack
from tiltrec.formats.local_file import read_local_file
from tiltrec.geometry import Geometry
from tiltrec.local_alignments import YTOL, local_model, projection_positions
from tiltrec.projectors.cpu import CpuProjector
from tiltrec.projectors.local_cpu import back_local, forward_local

SLAB = (20, 44)  # output slices of the slab the operator tests use


@pytest.fixture(scope="module")
def model_geometry(tmp_path_factory):
    """GEOMETRY (pitch, offset, shifts) with local areas that rotate, stretch, shift, change tilt and X-axis tilt,
    and have Z factors."""
    path = tmp_path_factory.mktemp("local") / "local.xf"
    path.write_text(local_text(nx=3, ny=2, nviews=GEOMETRY.nviews))
    model = local_model(GEOMETRY, read_local_file(path, GEOMETRY.nviews), axis_offset=1.25,
                        zfactors=np.zeros((GEOMETRY.nviews, 2)))
    return replace(GEOMETRY, local=model)


def _data(op, seed=1):
    rng = np.random.default_rng(seed)
    return rng.random(op.vol_shape, dtype=np.float32), rng.random(op.proj_shape, dtype=np.float32)


def _dot(a, b) -> float:
    return float(np.vdot(a.astype(np.float64), b.astype(np.float64)))


def test_the_forward_projection_is_the_transpose_of_the_back_projection(model_geometry):
    op = CpuProjector(model_geometry, *SLAB)
    x, y = _data(op)
    assert _dot(op.forward(x), y) == pytest.approx(_dot(x, op.back(y)), rel=1e-6)
    for views in (slice(0, 1), slice(2, 3), slice(1, 3)):  # SART's single views take another path in local.c
        part = y[views]
        assert _dot(op.forward(x, views=views), part) == pytest.approx(_dot(x, op.back(part, views=views)), rel=1e-6)


def test_the_forward_projection_deposits_where_the_back_projection_samples(model_geometry):
    """A NumPy statement of the transpose: every voxel adds its value times the four bilinear weights at its
    position, under the rules of local_alignments.sample_view (edge rows, inside the view, rows held)."""
    g = model_geometry
    op = CpuProjector(g, *SLAB)
    x, _ = _data(op)
    ours = op.forward(x)
    c = op.coef
    xproj, yproj = projection_positions(g.local, *SLAB)  # (slice, view, thickness, column)
    ny, nx = g.ny, g.nx
    reference = np.zeros((g.nviews, ny, nx), np.float64)
    for v in range(g.nviews):
        px, py = xproj[:, v], yproj[:, v].copy()
        near = (py >= 1 - YTOL) & (py <= ny + YTOL)
        py[near] = np.clip(py[near], 1, ny)
        inside = (px >= 1) & (px <= nx) & (py >= 1) & (py <= ny)
        ix = np.minimum(np.trunc(np.where(inside, px, 1)).astype(int), nx - 1)
        iy = np.minimum(np.trunc(np.where(inside, py, 1)).astype(int), ny - 1)
        inside &= (iy - 1 >= c.legal0) & (iy + 1 <= c.legal1)
        fx, fy = px - ix, py - iy
        value = x.transpose(2, 0, 1)  # (slice, thickness, column) as the positions
        for dy, wy in ((0, 1 - fy), (1, fy)):
            for dx, wx in ((0, 1 - fx), (1, fx)):
                np.add.at(reference[v], (iy[inside] - 1 + dy, ix[inside] - 1 + dx),
                          (wy * wx * value)[inside])
    np.testing.assert_allclose(ours, reference[:, op.r0:op.r1], rtol=1e-5, atol=1e-4)
    assert np.count_nonzero(ours) > 0.5 * ours.size


def test_the_back_projection_is_imods_float32_sum_bit_for_bit(tmp_path):
    """Each voxel adds its views' bilinear samples in order, in IMOD's float32 operations, whichever way local.c
    reads the pixels: high tilts (a sample's x moves more than 6/7 pixel a step: sixteen pixels per row), rows
    changing within eight samples (pitch, X-axis tilt, Z factors), the right edge of the views and the edge rules."""
    path = tmp_path / "local.xf"
    angles = [-72.0, -50.0, -3.0, 35.0, 66.0]
    path.write_text(local_text(nx=3, ny=2, nviews=len(angles), rate=2.0))
    g = Geometry(nx=96, ny=80, angles=angles, thickness=40, width=100, offset=1.5, pitch=4.0, xshift=3.0,
                 zshift=-2.0)
    g = replace(g, local=local_model(g, read_local_file(path, len(angles)), zfactors=np.zeros((len(angles), 2))))
    y0, y1 = 20, 36
    op = CpuProjector(g, y0, y1)
    _, y = _data(op)
    c = op.coef
    ours = np.zeros(op.vol_shape, np.float32)
    back_local(c, y, ours, op.r0, g.ny, 2)
    xproj, yproj = projection_positions(g.local, y0, y1)  # (slice, view, thickness, column)
    one = np.float32(1)
    acc = np.zeros(xproj[:, 0].shape, np.float32)
    for v in range(g.nviews):
        px, py = xproj[:, v], yproj[:, v].copy()
        near = (py >= 1 - YTOL) & (py <= g.ny + YTOL)
        py[near] = np.clip(py[near], 1, g.ny)
        inside = (px >= 1) & (px <= g.nx) & (py >= 1) & (py <= g.ny)
        ix = np.minimum(np.trunc(np.where(inside, px, 1)).astype(int), g.nx - 1)
        iy = np.minimum(np.trunc(np.where(inside, py, 1)).astype(int), g.ny - 1)
        inside &= (iy - 1 >= c.legal0) & (iy + 1 <= c.legal1)
        fx, fy = px - ix.astype(np.float32), py - iy.astype(np.float32)
        rows = iy - 1 - op.r0
        view = np.pad(y[v], ((0, 1), (0, 1)))
        pixel = [[view[np.where(inside, rows + dy, 0), np.where(inside, ix - 1 + dx, 0)] for dx in (0, 1)]
                 for dy in (0, 1)]
        low = (one - fy) * ((one - fx) * pixel[0][0] + fx * pixel[0][1])
        high = fy * ((one - fx) * pixel[1][0] + fx * pixel[1][1])
        acc = np.where(inside, (acc + low) + high, acc)
    assert np.array_equal(ours, acc.transpose(1, 2, 0))
    steps = np.abs(np.diff(xproj, axis=2))
    assert steps.max() > 6 / 7 and np.count_nonzero(np.diff(np.trunc(yproj), axis=2)) > 100


@pytest.mark.parametrize("views", [slice(None), slice(2, 3)], ids=["all views", "one view"])
def test_the_projections_do_not_depend_on_the_threads(model_geometry, views):
    op = CpuProjector(model_geometry, *SLAB)
    x, y = _data(op)
    c = op.coef.subset(views)
    y = np.ascontiguousarray(y[views])
    forward, back = [], []
    for threads in (1, 2, 3):
        proj = np.zeros_like(y)
        forward_local(c, x, proj, op.r0, model_geometry.ny, threads, np.empty_like(x))
        vol = np.zeros_like(x)
        back_local(c, y, vol, op.r0, model_geometry.ny, threads)
        forward.append(proj)
        back.append(vol)
    assert all(np.array_equal(forward[0], f) for f in forward) and np.count_nonzero(forward[0])
    assert all(np.array_equal(back[0], b) for b in back) and np.count_nonzero(back[0])


# ------------------------------------------------------------------------------------ whole reconstructions
NX, NY, THICK = 96, 64, 24
ANGLES = np.linspace(-60.0, 60.0, 31)


@pytest.fixture(scope="module")
def distorted(tmp_path_factory):
    """A phantom projected through a local model (areas shifted by up to 3 pixels, tilt changes up to 0.8 and
    X-axis tilt changes up to 0.5 degrees, stretches up to 0.03), written as a stack, angles and the local file;
    and the phantom ``[z, x, y]``."""
    folder = tmp_path_factory.mktemp("distorted")
    local = folder / "local.xf"
    local.write_text(local_text(nx=3, ny=2, nviews=ANGLES.size, start=(16, 16), spacing=(32, 32), pixel=1.0,
                                zfac=False, dx=[2, -3, 1, 0, 2, -2], dy=[1, -1, 0, 2, -2, 1], rate=0.1))
    plain = Geometry(nx=NX, ny=NY, angles=ANGLES, thickness=THICK)
    g = replace(plain, local=local_model(plain, read_local_file(local, ANGLES.size), pixel_size=1.0))
    rng = np.random.default_rng(0)
    phantom = np.zeros((THICK, NX, NY), np.float32)
    for _ in range(40):
        z, x, y = rng.integers(4, THICK - 4), rng.integers(10, NX - 10), rng.integers(8, NY - 8)
        phantom[z - 2:z + 2, x - 3:x + 3, y - 3:y + 3] += 1.0
    op = CpuProjector(g, 0, NY)
    views = np.zeros((ANGLES.size, NY, NX), np.float32)
    views[:, op.r0:op.r1] = op.unpack(op.forward(phantom))
    write_stack(folder / "in.mrc", views, pixel_size=1.0)
    (folder / "in.tlt").write_text("".join(f"{a}\n" for a in ANGLES))
    return folder, phantom


def _correlation(volume, phantom) -> float:
    """Of the output ``[y, z, x]`` with the phantom ``[z, x, y]``, away from the X and Y edges."""
    a, b = volume.transpose(1, 2, 0)[:, 10:-10, 8:-8], phantom[:, 10:-10, 8:-8]
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))


@pytest.mark.parametrize("options", [dict(alg="sirt", iter=20, memory="4M"), dict(alg="sart", iter=3),
                                     dict(alg="admm", iter=5, unified=True), dict(alg="fbp")],
                         ids=["sirt-slabs", "sart", "admm", "fbp"])
def test_local_alignments_undo_the_distortion(distorted, options):
    folder, phantom = distorted
    common = dict(thickness=THICK, quiet=True, **options)
    with_local = tiltrec.reconstruct(folder / "in.mrc", folder / "in.tlt", local=folder / "local.xf", **common)
    without = tiltrec.reconstruct(folder / "in.mrc", folder / "in.tlt", **common)
    ours, theirs = _correlation(with_local, phantom), _correlation(without, phantom)
    print(f"{options['alg']}: correlation with the phantom {ours:.3f} with --local, {theirs:.3f} without")
    assert ours > 0.7 and ours > theirs + 0.15


def test_sirt_slabs_carry_the_local_halo(distorted, monkeypatch):
    """Slabs of an iterative reconstruction carry the slices whose voxels share projection rows with theirs: the
    halo comes from the local model (Geometry.slab_halo), and more slabs give nearly the same volume."""
    folder, _ = distorted
    common = dict(thickness=THICK, quiet=True, alg="sirt", iter=10, local=folder / "local.xf")
    one_slab = tiltrec.reconstruct(folder / "in.mrc", folder / "in.tlt", **common)
    slabs = tiltrec.reconstruct(folder / "in.mrc", folder / "in.tlt", memory="4M", **common)
    assert np.abs(slabs - one_slab).max() <= 0.02 * np.abs(one_slab).max()
    monkeypatch.setattr(Geometry, "slab_halo", lambda self: 0)
    seams = tiltrec.reconstruct(folder / "in.mrc", folder / "in.tlt", memory="4M", **common)
    assert np.abs(seams - one_slab).max() > 2 * np.abs(slabs - one_slab).max()


@needs_mpi
def test_ranks_give_the_same_volume_bit_for_bit(distorted, tmp_path):
    folder, _ = distorted
    outs = []
    for ranks in (1, 2):
        out = tmp_path / f"out{ranks}.mrc"
        cmd = [str(BIN / "tiltrec-mpi"), "--quiet", "--thickness", str(THICK), "--alg", "sirt", "--iter", "4",
               "--memory", "4M", "--local", str(folder / "local.xf"), str(folder / "in.mrc"), str(folder / "in.tlt"),
               str(out)]
        done = subprocess.run(([MPIEXEC, "-n", str(ranks)] if ranks > 1 else []) + cmd, capture_output=True,
                              text=True, timeout=180)
        assert done.returncode == 0, done.stderr
        outs.append(read_volume(out)[0])
    assert np.array_equal(outs[0], outs[1])


def test_imods_sirt_refuses_local_alignments(distorted, tmp_path):
    """As IMOD's tilt does: one line before any work, nothing written."""
    folder, _ = distorted
    files = (folder / "in.mrc", folder / "in.tlt")
    result = cli("--alg", "imod-sirt", "--iter", "2", "--local", folder / "local.xf", "--thickness", THICK, *files,
                 tmp_path / "out.mrc")
    assert result.exit_code == 2 and "--local applies to bpt, fbp, wbp, sirt, sart, admm; not to imod-sirt" in \
        one_line(result.stderr)
    assert not (tmp_path / "out.mrc").exists()


def test_an_interpolation_given_with_local_alignments_is_refused(distorted, tmp_path):
    """Every voxel samples the views at its own position whatever --interp says: the option would be a silent
    no-op, so it is refused (a tilt.com's COSINTERP is dropped instead: test_cuda_kernels)."""
    folder, _ = distorted
    result = cli("--interp", "imod", "--local", folder / "local.xf", "--thickness", THICK, folder / "in.mrc",
                 folder / "in.tlt", tmp_path / "out.mrc")
    assert result.exit_code == 2 and one_line(result.stderr).endswith("--interp has no effect with --local")
    assert not list(tmp_path.iterdir())


@needs_mpi
def test_admm_with_local_alignments_runs_on_one_rank(distorted, tmp_path):
    """A projection row gathers slices of other ranks' blocks: refused with one line, nothing written."""
    folder, _ = distorted
    cmd = [MPIEXEC, "-n", "2", str(BIN / "tiltrecz-mpi"), "--quiet", "--thickness", str(THICK), "--alg", "admm",
           "--iter", "2", "--local", str(folder / "local.xf"), str(folder / "in.mrc"), str(folder / "in.tlt"),
           str(tmp_path / "out.mrc")]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert done.returncode == 2 and "ADMM with local alignments (--local) runs on one rank" in done.stderr
    assert not list(tmp_path.iterdir())


def test_a_checkpoint_continues_only_the_same_local_alignments(distorted, tmp_path, monkeypatch):
    from cli_helpers import interrupt_checkpoint_at

    folder, _ = distorted
    out, ck = tmp_path / "out.mrc", tmp_path / "run.ckpt"
    interrupt_checkpoint_at(monkeypatch, 2)
    with pytest.raises(KeyboardInterrupt), pytest.warns(UserWarning):
        tiltrec.reconstruct(folder / "in.mrc", folder / "in.tlt", out, thickness=THICK, alg="sirt", iter=6,
                            local=folder / "local.xf", checkpoint=ck, checkpoint_every=2)
    monkeypatch.undo()
    other = tmp_path / "other.xf"
    lines = (folder / "local.xf").read_text().splitlines()
    lines[-1] = lines[-1][:-12] + "%12.3f" % (float(lines[-1][-12:]) + 0.5)  # one area of one view moved
    other.write_text("\n".join(lines) + "\n")
    result = cli("--alg", "sirt", "--iter", "6", "--thickness", THICK, "--local", other, "--checkpoint", ck,
                 "--resume", folder / "in.mrc", folder / "in.tlt", out)
    assert result.exit_code == 2 and "geometry" in one_line(result.stderr)
    assert ck.exists() and not out.exists()
