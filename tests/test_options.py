"""The one option table (options.table) and what is made from it: the commands' parameters, the signature of
``tiltrec.reconstruct``, the checks of what applies where, tilt.com keys, docs/options.md."""

import inspect
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tiltrec
from cli_helpers import FLAVORS, cli
from tiltrec.cli.commands import make_app
from tiltrec.cli.imod_com import SUPPORTED, TILT_KEYS
from tiltrec.errors import InputError
from tiltrec.formats import write_stack
from tiltrec.options.kinds import Flag, FlagOrCount
from tiltrec.options.reference import markdown
from tiltrec.options.table import ALGORITHM_NAMES, BY_NAME, OPTIONS, SPELLINGS

ANGLES = np.array([-60, -52, -45, -37, -30, -22, -15, -7, 0, 5, 12, 20, 31, 44, 60], float)  # uneven: DENSWEIGHT acts
# the parameter-file keys that name files or views rather than set an option, and those of a reprojection (which
# cli.imod_reproject reads, not a reconstruction)
FILE_KEYS = {"InputProjections", "OutputFile", "TILTFILE", "ANGLES", "RecFileToReproject", "REPROJECT",
             "ViewsToReproject", "XMinAndMaxReproj", "YMinAndMaxReproj", "ZMinAndMaxReproj"}


@pytest.fixture(scope="module")
def views():
    rng = np.random.default_rng(3)
    data = rng.random((ANGLES.size, 6, 40), dtype=np.float32)
    data[:, :, 14:26] += 2.0
    return data


@pytest.fixture(scope="module")
def series(views, tmp_path_factory):
    folder = tmp_path_factory.mktemp("options")
    write_stack(folder / "in.mrc", views)
    (folder / "in.tlt").write_text("".join(f"{a}\n" for a in ANGLES))
    return folder


# ------------------------------------------------------------------------------------------ one declaration
def test_the_commands_offer_exactly_the_table():
    from typer.main import get_command

    for flavor in FLAVORS.values():
        params = {p.name: p for p in get_command(make_app(flavor)).params}
        offered = {o.name for o in OPTIONS if o.cli}
        assert offered <= params.keys()
        extra = params.keys() - offered
        assert extra == {"input_pos", "tiltfile_pos", "output_pos", "input", "tiltfile", "output", "com",
                         "standard_input", "ignore_unsupported", "version", *(s.name for s in SPELLINGS)}
        for option in OPTIONS:
            if option.cli:
                assert option.long_flag in params[option.name].opts  # the Python name, with - for _
    sections = re.findall(r"^(\w[\w ]*):$", cli("--help").stdout, re.M)
    assert sections == ["Arguments", "Files", "Input", "Geometry", "Algorithm", "Output", "Resources",
                        "TiltRec spellings", "IMOD parameter files", "Other"]  # --help grouped as the table


def test_reconstruct_takes_exactly_the_table_by_the_same_names():
    signature = inspect.signature(tiltrec.reconstruct)
    keywords = {n: p for n, p in signature.parameters.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}
    assert set(keywords) == {o.name for o in OPTIONS if o.api} | {"pixel_size"}
    assert keywords["iter"].default is None and keywords["quiet"].default is True  # Python callers: quiet
    doc = tiltrec.reconstruct.__doc__
    for section in ("Parameters\n----------", "Returns\n-------", "Raises\n------", "Examples\n--------"):
        assert section in doc
    for option in OPTIONS:
        assert re.search(rf"^{option.name} : ", doc, re.M), option.name


def test_an_unknown_keyword_is_a_type_error_naming_the_option_meant(views):
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'iterations' \(did you mean 'iter'\?\)"):
        tiltrec.reconstruct(views, ANGLES, thickness=8, alg="sirt", iterations=3)


def test_python_errors_name_the_keyword_and_the_command_line_the_option(views, series, tmp_path):
    with pytest.raises(InputError, match=r"^thickness must be a positive whole number of pixels, got 0$"):
        tiltrec.reconstruct(views, ANGLES, thickness=0)
    result = cli("--thickness", "0", series / "in.mrc", series / "in.tlt", tmp_path / "out.mrc")
    assert result.exit_code == 2 and "error: --thickness must be a positive whole number of pixels, got 0" in \
        result.output


def test_tilt_com_keys_set_options_of_the_table():
    declared = {key for option in OPTIONS for key in option.imod}
    assert declared <= TILT_KEYS.keys()
    supported = {key for key, (_, what) in TILT_KEYS.items() if what == SUPPORTED}
    assert supported - FILE_KEYS <= declared  # every key tiltrec implements sets an option of the table


def test_the_options_page_is_the_table():
    from pathlib import Path

    page = Path(__file__).resolve().parents[1] / "docs" / "options.md"
    assert page.read_text() == markdown(), "regenerate: python -m tiltrec.options.reference > docs/options.md"


# ------------------------------------------------------------------------------------------ what applies
# a value other than the default for every option that applies to some algorithms only, as typed
TYPED = {"init": None, "iter": ["--iter", "3"], "relax": ["--relax", "0.5"], "positivity": ["--positivity"],
         "xpad": ["--no-xpad"], "filter": ["--filter", "hann"], "cutoff": ["--cutoff", "0.5"],
         "radial": ["--radial", "0.3,0.05"], "hamming": ["--hamming", "0.3"], "true_sigma": ["--true-sigma"],
         "multiply_gaussian": ["--multiply-gaussian"], "fake_sirt": ["--fake-sirt", "5"],
         "density_weighting": ["--no-density-weighting"], "interp": ["--interp", "imod"],
         "cosine_stretch": ["--cosine-stretch", "0"], "reg": ["--reg", "l1"], "lam": ["--lam", "5"],
         "rho": ["--rho", "5"], "cg_iter": ["--cg-iter", "1"], "log": ["--log", "run.log"],
         "checkpoint": ["--checkpoint", "run.ckpt"], "checkpoint_every": ["--checkpoint-every", "2"],
         "resume": ["--resume"], "local": ["--local", "local.xf"], "local_scale": ["--local-scale", "2"],
         "zfactors": ["--zfactors", "zfac.txt"]}
RESTRICTED = [o for o in OPTIONS if o.algorithms is not None]


def test_every_restricted_option_has_a_sample():
    assert {o.name for o in RESTRICTED} == TYPED.keys()


@pytest.mark.parametrize("option", RESTRICTED, ids=lambda o: o.name)
def test_an_option_typed_for_an_algorithm_it_does_not_apply_to_is_refused(series, tmp_path, option):
    alg = next(a for a in ALGORITHM_NAMES if a not in option.algorithms)
    typed = TYPED[option.name] or ["--init", str(series / "in.mrc")]
    result = cli("--alg", alg, *typed, "--thickness", "8", series / "in.mrc", series / "in.tlt",
                 tmp_path / "out.mrc", prog="tiltrecz-mpi")
    assert result.exit_code == 2, result.output
    assert result.output.strip() == f"tiltrecz-mpi: error: {option.long_flag} applies to " \
                                    f"{', '.join(option.algorithms)}; not to {alg}"
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_forgotten_alg_is_not_a_silent_wbp(series, tmp_path):
    result = cli("--iter", "30", "--filter", "hann", "--thickness", "8", series / "in.mrc", series / "in.tlt",
                 tmp_path / "out.mrc")
    assert result.exit_code == 2 and "--iter applies to sirt, sart, imod-sirt, admm; not to wbp" in result.output
    with pytest.raises(InputError, match="radial applies to wbp, imod-sirt; not to sirt"):
        tiltrec.reconstruct(series / "in.mrc", series / "in.tlt", thickness=8, alg="sirt", radial=(0.35, 0.05))


@pytest.mark.parametrize("args, message", [
    (["--true-sigma"], "--true-sigma works with --radial"),
    (["--interp", "linear", "--cosine-stretch", "1"], "--cosine-stretch works with --interp imod"),
    (["--device", "0"], "--device applies to the cuda backend; not to cpu"),
    (["--method", "SIRT,5", "--iter", "3"], "--method and --iter both set iter: give it once"),
    (["--geometry", "0,0,0,8", "--thickness", "8"], "--geometry and --thickness both set thickness: give it once"),
    (["--method", "SIRT,5,0.5,9"], "--method takes ALG[,ITER[,RELAX]], got 'SIRT,5,0.5,9'"),
])
def test_options_that_need_another_are_refused(series, tmp_path, args, message):
    result = cli(*args, *([] if "--geometry" in args else ["--thickness", "8"]), series / "in.mrc",
                 series / "in.tlt", tmp_path / "out.mrc")
    assert result.exit_code == 2 and message in result.output, result.output


def test_a_backend_that_cannot_run_a_value_refuses_it_before_reading(series, tmp_path):
    result = cli("--interp", "imod", "--thickness", "8", tmp_path / "missing.mrc", series / "in.tlt",
                 tmp_path / "out.mrc", prog="tiltrec-cuda")
    assert result.exit_code == 2 and "--interp imod runs on the cpu backend only; not on cuda" in result.output


# the non-default values of the Python API; and the base each algorithm runs with
VALUES = {"iter": 3, "relax": 0.5, "positivity": True, "xpad": False, "filter": "hann", "cutoff": 0.5,
          "radial": (0.2, 0.05), "hamming": 0.2, "true_sigma": True, "multiply_gaussian": True, "fake_sirt": 5,
          "density_weighting": False, "interp": "imod", "cosine_stretch": 0, "reg": "l1", "lam": 5.0, "rho": 5.0,
          "cg_iter": 1}
BASE = {"admm": {"iter": 2, "unified": True}, "imod-sirt": {"iter": 2}, "sirt": {"iter": 2}, "sart": {"iter": 1}}
NEEDS = {"true_sigma": {"radial": (0.3, 0.05)}, "multiply_gaussian": {"radial": (0.3, 0.05)},
         "cosine_stretch": {"interp": "imod"}}


@pytest.fixture(scope="module", autouse=True)
def local_files(tmp_path_factory):
    """A local alignment file (with Z factors) and a Z-factor file for the views of ``views``: the samples of
    --local, --local-scale and --zfactors."""
    from test_local_alignments import local_text

    folder = tmp_path_factory.mktemp("local")
    (folder / "local.xf").write_text(local_text(nviews=ANGLES.size, start=(10, 2), spacing=(20, 3), pixel=0.0))
    (folder / "zfac.txt").write_text("".join("0.01 -0.02\n" for _ in ANGLES))
    VALUES.update(local=folder / "local.xf", local_scale=2.0, zfactors=folder / "zfac.txt")
    NEEDS.update(local_scale={"local": folder / "local.xf"}, zfactors={"local": folder / "local.xf"})


# options whose effect is on files, not on the voxels: tested in test_checkpoint and test_admm
NOT_ON_VOXELS = {"log", "checkpoint", "checkpoint_every", "resume"}


@pytest.mark.parametrize("option, alg", [(o, a) for o in RESTRICTED if o.name not in NOT_ON_VOXELS
                                         for a in o.algorithms], ids=lambda v: getattr(v, "name", v))
def test_an_option_the_table_says_applies_changes_the_volume(views, option, alg):
    """The table's word is checked against the code: an option declared for an algorithm changes its result
    (the fault this guards against: --radial with SIRT silently giving the same voxels)."""
    base = {"thickness": 8, "alg": alg, **BASE.get(alg, {}), **NEEDS.get(option.name, {})}
    if option.name == "init":
        changed = {"init": np.full((6, 8, 40), 0.5, np.float32)}
    else:
        changed = {option.name: VALUES[option.name] if VALUES[option.name] != base.get(option.name) else 4}
    data = views - np.float32(1.5)  # negative values too: --positivity acts
    plain = tiltrec.reconstruct(data, ANGLES, **base)
    other = tiltrec.reconstruct(data, ANGLES, **{**base, **changed})
    assert not np.array_equal(plain, other)


def test_tilt_com_keys_that_do_not_apply_are_ignored_as_imod_ignores_them(series, tmp_path):
    com = tmp_path / "tilt.com"
    com.write_text(f"$tilt -StandardInput\nInputProjections {series / 'in.mrc'}\nTILTFILE {series / 'in.tlt'}\n"
                   f"THICKNESS 8\nRADIAL 0.3 0.05\nFalloffIsTrueSigma 1\nFakeSIRTiterations 4\n")
    assert cli("--com", com, "--alg", "sirt", "--iter", "2", "-q", "-o", tmp_path / "com.mrc").exit_code == 0
    assert cli("--alg", "sirt", "--iter", "2", "--thickness", "8", "-q", series / "in.mrc", series / "in.tlt",
               tmp_path / "plain.mrc").exit_code == 0
    from tiltrec.formats import read_volume

    np.testing.assert_array_equal(read_volume(tmp_path / "com.mrc")[0], read_volume(tmp_path / "plain.mrc")[0])


def test_flags_and_values_convert_alike_from_text_and_from_python():
    for option in OPTIONS:
        if isinstance(option.kind, (Flag, FlagOrCount)):
            assert option.kind.convert(True, option.name) is True
            with pytest.raises(InputError, match=option.name):
                option.kind.convert("yes", option.name)
    radial = BY_NAME["radial"].kind
    assert radial.convert("0.3,0.05", "radial") == radial.convert((0.3, 0.05), "radial")
    assert BY_NAME["memory"].kind.convert("1.5G", "memory") == 3 << 29
    assert BY_NAME["exclude"].kind.convert([1, 2, 7], "exclude") == "1,2,7"


def test_the_tables_algorithm_lists_are_the_algorithms_declarations():
    from tiltrec.algorithms import ALGORITHMS

    assert tuple(ALGORITHMS) == ALGORITHM_NAMES
    assert set(BY_NAME["init"].algorithms) == {a.name for a in ALGORITHMS.values() if a.resumable}
    assert set(BY_NAME["checkpoint"].algorithms) == {a.name for a in ALGORITHMS.values() if a.resumable}
    assert set(BY_NAME["xpad"].algorithms) == {a.name for a in ALGORITHMS.values() if a.pads_x}
    assert set(BY_NAME["log"].algorithms) == {a.name for a in ALGORITHMS.values() if a.couples_slices}


@settings(max_examples=300, deadline=None, derandomize=True)
@given(option=st.sampled_from([o for o in OPTIONS if not isinstance(o.kind, (Flag, FlagOrCount))]),
       text=st.text(max_size=40))
def test_any_text_for_any_option_is_taken_or_refused_in_one_line(option, text):
    """What a user may type after an option: a value, or one InputError line; never another exception."""
    from tiltrec.options.request import make_options
    from tiltrec.options.spelling import CLI, speaking

    with speaking(CLI):
        try:
            make_options({"thickness": "8", option.name: text}, front=CLI)
        except InputError as exc:
            assert "\n" not in str(exc) and "--" in str(exc)  # one line naming the option (or the one it needs)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(option=st.sampled_from(OPTIONS),
       value=st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=10),
                       st.lists(st.floats(), max_size=3),
                       st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)))
def test_any_python_value_for_any_option_is_taken_or_refused_as_input_error(option, value):
    from tiltrec.options.request import make_options

    try:
        make_options({"thickness": 8, option.name: value})
    except InputError as exc:
        assert "\n" not in str(exc) and not str(exc).startswith("--")
