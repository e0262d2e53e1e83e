"""IMOD drop-in: tilt parameter files (tilt.com, -StandardInput), their mapping, and IMOD-exact results."""

import re
import subprocess
from pathlib import Path

import mrcfile
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli_helpers import BIN, cli, run_command
from reference_backprojector import backproject_imod_cpu
from tiltrec.cli.imod_com import TILT_KEYS, UNSUPPORTED, canonical_key, load, option_values, parse_params
from tiltrec.errors import InputError
from tiltrec.filters import imod_radial_weights
from tiltrec.geometry import Geometry
from tiltrec.options.table import BY_NAME
from tiltrec.projectors.imod_cpu import ImodCpuBackprojector

# Each reference's tolerance for the RMS difference from IMOD's volume, in % of the reference's standard
# deviation: the "tolerance" column of docs/imod.md, "What you get" (about 1.5 times the measured difference).
RMS_TOLERANCE_PERCENT = {
    "empiar_wbp": 0.2,
    "empiar_wbp_nofilter": 0.35,
    "empiar_wbp_geomA": 0.01,
    "jason64_wbp": 0.035,
    "empiar_sirt10": 0.0005,
    "jason64_sirt10": 0.0005,
}
MIN_CORRELATION = 0.99999  # every reference, docs/imod.md, "What you get"
REFERENCES = list(RMS_TOLERANCE_PERCENT)


def _write(tmp_path, text, name="tilt.com"):
    path = tmp_path / name
    path.write_text(text)
    return path


# ------------------------------------------------------------------------------------------ parsing
def test_both_jason64_command_files_parse(shared_dir):
    setup = load(shared_dir / "data/jason64/tilt_setup5.com")
    values, files, ignored = option_values(setup)
    assert not ignored
    assert files["input"] == shared_dir / "data/jason64/jason64.ali"  # relative to the file's folder
    assert (values["thickness"], values["mode"], values["log_base"], values["scale"]) == (20, 2, 0.0, (0.0, 1000.0))
    assert values["radial"] == (0.35, 0.05) and values["layout"] == "xzy" and values["interp"] == "imod"
    full = load(shared_dir / "data/jason64/tilt64.com")
    values, files, _ = option_values(full)
    assert values["pitch"] == -1.6 and values["mode"] == 1 and values["thickness"] == 10  # IMOD's default
    assert files["output"].name == "generated.mrc"


def test_every_supported_key_maps(tmp_path):
    text = """# a comment
$tilt -StandardInput
InputProjections in.ali
OutputFile out.rec
TILTFILE in.tlt
XTILTFILE in.xtilt
THICK 400
WIDTH 300
SLICE 10 21
SHIFT 4, -6
OFFSET 1.5 2
XAXISTILT 2.5
IMAGEBINNED 2
FULLIMAGE 513 500
SUBSETSTART 10 -4
RADIAL 0.3 0.05
FalloffIsTrueSigma 1
FakeSIRTiterations 12
DENSWEIGHT 3
EXCLUDELIST2 1-3
EXCLUDELIST 7
LOG 10
SCALE 1.5 20
MODE 1
PARALLEL
TITLE my title
COSINTERP 1 3
AdjustOrigin
UseGPU 0
ActionIfGPUFails 1,2
$if (-e ./savework) ./savework
"""
    values, files, ignored = option_values(load(_write(tmp_path, text + "MultiplyByGaussian 1\n")))
    assert not ignored and values["multiply_gaussian"]
    assert option_values(load(_write(tmp_path, "HammingLike 0.3\n", "h.com")))[0]["hamming"] == 0.3
    base = tmp_path
    assert (files["input"], files["output"], files["tiltfile"], values["xtilt"]) == \
        (base / "in.ali", base / "out.rec", base / "in.tlt", base / "in.xtilt")
    # IMAGEBINNED 2: sizes and pixel values scaled down as IMOD does
    assert (values["thickness"], values["width"], values["slices"]) == (200, 150, (5, 10))
    assert (values["xshift"], values["zshift"], values["offset"], values["axis_offset"]) == (2.0, -3.0, 1.5, 1.0)
    assert (values["full_image"], values["subset_start"], values["pitch"]) == ((257, 250), (5, -2), 2.5)
    assert values["radial"] == (0.3, 0.05) and values["true_sigma"] and values["fake_sirt"] == 12
    assert values["density_weighting"] == 3 and values["exclude"] == "7,1-3"
    assert (values["log_base"], values["scale"], values["mode"], values["layout"]) == (10.0, (1.5, 20.0), 1,
                                                                                       "parallel")
    assert values["title"] == "my title" and values["cosine_stretch"] == 3
    assert set(values) <= set(BY_NAME)  # a parameter file sets the options of the one table
    sirt, _, _ = option_values(load(_write(tmp_path, "SIRTIterations 7\nRotateBy90\nINCLUDE 2-5\n")))
    assert (sirt["alg"], sirt["iter"], sirt["layout"], sirt["include"]) == ("imod-sirt", 7, "xyz", "2-5")


@pytest.mark.parametrize("text, message", [
    ("THICKNESS 10\nBOGUS 3\n", "line 2: 'BOGUS' is not an option of tilt"),
    ("X 3\n", "ambiguous abbreviation"),
    ("THICKNESS 10\nTHICKNESS 20\n", "THICKNESS given twice (first on line 1)"),
    ("THICKNESS ten\n", "line 1: THICKNESS needs 1 integer"),
    ("SHIFT 1 2 3\n", "SHIFT needs 1 to 2 number"),
    ("COMPRESS 1\n", "tiltrec does not implement COMPRESS"),
    ("ZFACTORFILE z\nMASK 3\n",
     "MASK, ZFACTORFILE without LOCALFILE (Z factors of the global alignment); remove them or pass "
     "--ignore-unsupported"),
    ("INCLUDE 1-3\nEXCLUDELIST2 5\n", "INCLUDE and EXCLUDELIST cannot both be given"),
    ("PARALLEL\nRotateBy90\n", "PARALLEL and RotateBy90 exclude each other"),
])
def test_bad_parameter_files_name_the_line_and_the_problem(tmp_path, text, message):
    path = _write(tmp_path, text)
    with pytest.raises(InputError, match=re.escape(message)) as err:
        option_values(load(path))
    assert str(err.value).startswith(str(path))


def test_abbreviations_and_case():
    assert canonical_key("thick") == "THICKNESS" and canonical_key("xaxis") == "XAXISTILT"
    assert canonical_key("input") == "InputProjections" and canonical_key("EXCLUDELIST") == "EXCLUDELIST"
    assert canonical_key("SIRT") is None  # SIRTIterations and SIRTSubtraction
    assert all(canonical_key(k.lower()) == k for k in TILT_KEYS)


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=400))
def test_arbitrary_text_raises_only_tiltrecs_error(tmp_path_factory, text):
    try:
        params = parse_params(text, "fuzz.com")
        from tiltrec.cli.imod_com import TiltParams

        option_values(TiltParams(params, tmp_path_factory.getbasetemp(), "fuzz.com"), ignore_unsupported=True)
    except InputError:
        pass


# ------------------------------------------------------------------------------------------ filters and projector
def test_hamming_like_filter_is_the_ramp_times_a_gaussian():
    nx, npad = 128, 144
    w = imod_radial_weights(nx, npad, hamming=0.25)
    ramp = np.arange(npad // 2 + 1, dtype=float)
    ramp[0] = 0.2
    m = round(int(nx * 0.25) * npad / nx)
    np.testing.assert_allclose(w[:m], ramp[:m])
    sigma = 0.438 * (0.5 * nx - int(nx * 0.25)) * npad / nx
    k = np.arange(m, npad // 2 + 1)
    np.testing.assert_allclose(w[m:], ramp[m:] * np.exp(-0.5 * ((k + 1 - m) / sigma) ** 2), rtol=1e-5)


@pytest.mark.parametrize("pitch, factor, zshift, xshift", [(0.0, 2, 0.0, 0.0), (5.0, 2, 1.5, 2.5),
                                                            (-7.0, 0, -2.0, 0.0), (3.0, 2, 0.0, -1.0)])
def test_imod_cpu_backprojector_equals_the_emulation(pitch, factor, zshift, xshift):
    rng = np.random.default_rng(int(abs(pitch)) + factor)
    nv, ny, nx, width, thick = 11, 24, 33, 31, 13
    views = rng.standard_normal((nv, ny, nx)).astype(np.float32)
    angles = np.linspace(-60, 60, nv) + rng.uniform(-1, 1, nv)
    ref = backproject_imod_cpu(views, angles, width=width, thickness=thick, pitch=pitch, xshift=xshift,
                               zshift=zshift, stretch_factor=factor)
    geom = Geometry(nx=nx, ny=ny, angles=angles, thickness=thick, width=width, pitch=pitch, xshift=xshift,
                    zshift=zshift)
    bp = ImodCpuBackprojector(geom, factor)
    parts = []
    for y0, y1 in [(0, 7), (7, ny)]:  # two slabs: the seam must not show
        r0, r1 = geom.rows_needed(y0, y1)
        parts.append(bp.back(np.ascontiguousarray(views[:, r0:r1].transpose(0, 2, 1)), y0, y1, r0))
    ours = np.concatenate(parts, axis=2).transpose(2, 0, 1)
    np.testing.assert_allclose(ours, ref, atol=1e-4 * ref.std())


# ------------------------------------------------------------------------------------------ end to end
def _param_for_shared_data(shared_dir, tmp_path, name):
    """The reference's .param with its input paths pointing at the shared data."""
    text = (shared_dir / "reference/imod-4.8.2" / f"{name}.param").read_text()
    for old, new in {"empiar_u8.mrc": "data/empiar10009/empiar_10009_128.mrc",
                     "empiar.tlt": "data/empiar10009/empiar_10009_128.tlt",
                     "jason64.ali": "data/jason64/jason64.ali", "jason64.tlt": "data/jason64/jason64.tlt"}.items():
        text = text.replace(old, str(shared_dir / new))
    return _write(tmp_path, text, f"{name}.param")


@pytest.mark.parametrize("name", REFERENCES)
def test_com_runs_reproduce_imod(shared_dir, tmp_path, name):
    """The reference's own parameter file reproduces IMOD's volume within the tolerance docs/imod.md states for
    that reference; prints the figures that the page's table quotes (run with -s to see them)."""
    param = _param_for_shared_data(shared_dir, tmp_path, name)
    assert run_command(["--com", param, "--quiet"]) == 0
    with mrcfile.open(tmp_path / f"{name}.rec", permissive=True) as ours_file, \
            mrcfile.open(shared_dir / "reference/imod-4.8.2" / f"{name}.rec", permissive=True) as ref_file:
        ours, ref = ours_file.data.astype(np.float64), ref_file.data.astype(np.float64)
        assert (ours_file.header.nx, ours_file.header.ny, ours_file.header.nz) == \
            (ref_file.header.nx, ref_file.header.ny, ref_file.header.nz)
        # IMOD's origin, in pixels (the reference of the EMPIAR series was made from a copy without its pixel size)
        ours_origin = np.array(ours_file.header.origin.tolist()) / float(ours_file.voxel_size.x)
        ref_origin = np.array(ref_file.header.origin.tolist()) / float(ref_file.voxel_size.x)
        np.testing.assert_allclose(ours_origin, ref_origin, rtol=0, atol=1e-3)
    corr = np.corrcoef(ours.ravel(), ref.ravel())[0, 1]
    rms = 100 * np.sqrt(np.mean((ours - ref) ** 2)) / ref.std()
    print(f"{name}: correlation {corr:.7f}, RMS difference {rms:.5f} % of the reference's SD "
          f"(tolerance {RMS_TOLERANCE_PERCENT[name]:g} %)")
    assert corr >= MIN_CORRELATION
    assert rms <= RMS_TOLERANCE_PERCENT[name]


@pytest.mark.parametrize("thickness", [1, 2])
def test_imod_sirt_of_the_thinnest_volumes_reproduces_imod(shared_dir, tmp_path, thickness):
    """IMOD's SIRT into 1 or 2 slices of thickness (tests/data/make_imod_sirt_thin.py ran IMOD 4.8.2's tilt): the
    compiled kernels' edge rules hold where every ray crosses one or two rows, to empiar_sirt10's tolerance."""
    import make_imod_sirt_thin as thin

    name = f"empiar_sirt10_t{thickness}"
    param = _write(tmp_path, thin.param_text(thickness, str(shared_dir / "data/empiar10009/empiar_10009_128.mrc"),
                                             str(shared_dir / "data/empiar10009/empiar_10009_128.tlt"),
                                             str(tmp_path / "ours.rec")), f"{name}.param")
    assert run_command(["--com", param, "--quiet"]) == 0
    ours = mrcfile.read(tmp_path / "ours.rec").astype(np.float64)
    ref = mrcfile.read(Path(__file__).parent / "data" / "imod_sirt_thin" / f"{name}.rec").astype(np.float64)
    assert ours.shape == ref.shape == (128, thickness, 128)
    rms = 100 * np.sqrt(np.mean((ours - ref) ** 2)) / ref.std()
    print(f"{name}: RMS difference {rms:.6f} % of the reference's SD")
    assert rms <= RMS_TOLERANCE_PERCENT["empiar_sirt10"]


def test_command_line_overrides_the_file_and_standard_input_works(shared_dir, tmp_path):
    param = _param_for_shared_data(shared_dir, tmp_path, "jason64_wbp")
    out = tmp_path / "thin.rec"
    assert run_command(["--com", param, "--thickness", 16, "--quiet", "-o", out]) == 0
    with mrcfile.open(out) as thin:
        assert thin.header.ny == 16
    done = subprocess.run([BIN / "tiltrec-mpi", "-StandardInput", "--quiet"], input=param.read_text(),
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    with mrcfile.open(tmp_path / "jason64_wbp.rec") as piped:
        assert piped.header.ny == 32


def test_unsupported_key_refused_or_ignored_with_a_warning(shared_dir, tmp_path):
    param = _param_for_shared_data(shared_dir, tmp_path, "jason64_wbp")
    param.write_text(param.read_text() + "MASK 4\n")
    refused = cli("--com", param)
    assert refused.exit_code == 2 and "MASK" in refused.stderr and not (tmp_path / "jason64_wbp.rec").exists()
    allowed = cli("--com", param, "--ignore-unsupported", "--quiet")
    assert allowed.exit_code == 0 and "warning: ignoring tilt option(s)" in allowed.stderr


def test_xtilt_file_of_a_constant_equals_the_opposite_axis_tilt(shared_dir, tmp_path):
    """IMOD adds the file's X tilts minus XAXISTILT: a file of c equals XAXISTILT -c."""
    param = _param_for_shared_data(shared_dir, tmp_path, "jason64_wbp")
    xtilt = _write(tmp_path, "2.0\n" * 90, "c.xtilt")
    text = param.read_text().replace("XAXISTILT -1.6", f"XAXISTILT 0.0\nXTILTFILE {xtilt}")
    assert run_command(["--com", _write(tmp_path, text, "file.param"), "--quiet", "-o", tmp_path / "file.rec"]) == 0
    text = param.read_text().replace("XAXISTILT -1.6", "XAXISTILT -2.0")
    assert run_command(["--com", _write(tmp_path, text, "const.param"), "--quiet", "-o", tmp_path / "const.rec"]) == 0
    a, b = (mrcfile.read(tmp_path / f"{n}.rec") for n in ("file", "const"))
    np.testing.assert_allclose(a, b, atol=1e-5 * np.abs(b).max())


def test_scale_suggestion_maps_the_range_like_imod():
    from tiltrec.formats.writer import VolumeStats
    from tiltrec.output_range import scale_suggestions

    nviews, add, mult = 61, 3.0, 2.0
    sums = np.array([-400.0, 1250.0])  # IMOD's unscaled sums over the views
    written = (sums / nviews + add) * mult  # what SCALE add mult wrote
    lines = scale_suggestions(VolumeStats.of(written), (add, mult))
    for line, (low, high) in zip(lines, [(10.0, 245.0), (-15000.0, 15000.0)]):
        new_add, new_mult = (float(v) for v in line.split("--scale ")[1].split(" ")[0].split(","))
        np.testing.assert_allclose((sums / nviews + new_add) * new_mult, [low, high], atol=1e-4 * (high - low))


@pytest.mark.parametrize("name, thickness, mode", [("tilt_setup5.com", 20, 2), ("tilt64.com", 10, 1)])
def test_jason64_command_files_run(shared_dir, tmp_path, name, thickness, mode):
    out = tmp_path / "out.rec"
    assert run_command(["--com", shared_dir / "data/jason64" / name, "-o", out, "--quiet"]) == 0
    with mrcfile.open(out) as rec:
        assert (rec.header.nx, rec.header.ny, rec.header.nz, int(rec.header.mode)) == (64, thickness, 64, mode)
        assert np.isfinite(rec.data).all() and rec.data.std() > 0


@pytest.mark.mpi
def test_standard_input_reaches_every_rank(shared_dir, tmp_path):
    """Under mpiexec only rank 0 reads standard input; the others get the parameters from it."""
    param = _param_for_shared_data(shared_dir, tmp_path, "empiar_wbp_geomA")
    out = tmp_path / "two.rec"
    done = subprocess.run([BIN / "mpiexec", "-n", "2", BIN / "tiltrec-mpi", "-StandardInput", "--quiet", "-o", out],
                          input=param.read_text(), capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr
    assert run_command(["--com", param, "--quiet", "-o", tmp_path / "one.rec"]) == 0
    np.testing.assert_array_equal(mrcfile.read(out), mrcfile.read(tmp_path / "one.rec"))


def test_log_takes_log10_of_data_plus_base_with_imods_floor():
    import tiltrec

    rng = np.random.default_rng(5)
    views = rng.uniform(-1.0, 50.0, (9, 6, 24)).astype(np.float32)
    angles = np.linspace(-40, 40, 9)
    floor = 1e-3 * (views.max() - views.min())
    logged = np.log10(np.maximum(views + 0.5, floor)).astype(np.float32)
    ours = tiltrec.reconstruct(views, angles, thickness=8, alg="bpt", log_base=0.5)
    np.testing.assert_allclose(ours, tiltrec.reconstruct(logged, angles, thickness=8, alg="bpt"), rtol=1e-5,
                               atol=1e-6)


def test_the_docs_give_every_refused_key_a_reason():
    """docs/imod.md's table of refused keys names every key tilt.com parsing refuses, each with what it does and
    why; and it names no key that is accepted."""
    text = (Path(__file__).parent.parent / "docs" / "imod.md").read_text()
    section = text.split("### Refused keys", 1)[1].split("\n#", 1)[0]
    named = set()
    for row in section.splitlines():
        cells = [c.strip() for c in row.strip("|").split("|")]
        if not row.startswith("| ") or cells[0] in ("tilt key", "---") or len(cells) != 3:
            continue
        assert all(cells), row  # what it does and why, for every row
        for name in cells[0].split(", "):
            named |= {f"{axis}MinAndMaxReproj" for axis in "XYZ"} if name == "X/Y/ZMinAndMaxReproj" else {name}
    refused = {key for key, (_, action) in TILT_KEYS.items() if action == UNSUPPORTED}
    assert refused <= named
    assert not (named & set(TILT_KEYS)) - refused
