"""The MRC header of a reconstruction is the one IMOD's tilt writes: tests/data/imod_headers.json holds what IMOD
4.8.2's tilt wrote (space group, version, machine stamp, IMOD stamp and flags, header tilt angles, labels, origin,
the integer modes' statistics and byte convention) for parameter files run here again with tiltrec-mpi on the same
stacks (tests/data/make_imod_headers.py makes both the stacks and the file)."""

import importlib.util
import json
import re
from pathlib import Path

import mrcfile
import numpy as np
import pytest

from cli_helpers import cli

DATA = Path(__file__).parent / "data"
CASES = json.loads((DATA / "imod_headers.json").read_text())["cases"]
_spec = importlib.util.spec_from_file_location("make_imod_headers", DATA / "make_imod_headers.py")
make = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make)
PROGRAM = "tiltrec-mpi"
DATE = re.compile(r"[ \d]\d-[A-Z][a-z]{2}-\d\d  \d\d:\d\d:\d\d")  # `` 3-Dec-26  17:46:18``, from column 57
SAME = ("size", "mode", "ispg", "nversion", "machst", "nsymbt", "exttyp", "mapcrs", "cellb", "imod_stamp",
        "imod_flags", "tilt_angles")


@pytest.fixture(scope="module")
def stacks(tmp_path_factory):
    folder = tmp_path_factory.mktemp("headers")
    make.write_stacks(folder)
    return folder


def run(stacks, out: Path, param: str) -> None:
    name = param.split("OutputFile ")[1].split("\n")[0]
    com = out.parent / f"{out.stem}.com"
    com.write_text(param.replace(f"OutputFile {name}", f"OutputFile {out}").replace(
        "InputProjections ", f"InputProjections {stacks}/").replace("TILTFILE ", f"TILTFILE {stacks}/"))
    result = cli("--com", com, "-q")
    assert result.exit_code == 0, result.output


def ours_for(imod_label: str) -> str | None:
    """Our label for IMOD's: with a TITLE, IMOD's ``TILT: title`` is ours ``tiltrec-mpi: title``; IMOD's default
    ``TILT: Tomographic reconstruction`` is ours with version, algorithm and size (None: not compared)."""
    title = imod_label.removeprefix("TILT: ")
    return None if title == "Tomographic reconstruction" else f"{PROGRAM}: {title}"


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_header_is_imods(stacks, tmp_path, name):
    imod = CASES[name]["header"]
    run(stacks, tmp_path / "out.rec", CASES[name]["param"])
    ours = make.header_facts(tmp_path / "out.rec")
    assert {key: ours[key] for key in SAME} == {key: imod[key] for key in SAME}
    np.testing.assert_allclose(ours["origin"], imod["origin"], rtol=0, atol=1e-3 * make.PIXEL)
    if imod["mode"] != 2:  # the scales clip both ends: the extremes of the stored type, signed bytes' in mode 0
        assert (ours["dmin"], ours["dmax"]) == (imod["dmin"], imod["dmax"])
    # the input's labels, then the program's own if there is room, its date where IMOD's programs put it
    assert len(ours["labels"]) == len(imod["labels"]) and ours["labels"][:-1] == imod["labels"][:-1]
    if imod["labels"][-1].startswith("TILT: "):
        expected = ours_for(imod["labels"][-1])
        if expected:
            assert ours["labels"][-1] == expected
        else:
            assert ours["labels"][-1].startswith(f"{PROGRAM} ")
        assert DATE.fullmatch(ours["label_dates"][-1]) and DATE.fullmatch(imod["label_dates"][-1])
    else:  # ten labels: IMOD adds none
        assert ours["labels"][-1] == imod["labels"][-1]


def test_bytes_are_stored_signed_as_imods(stacks, tmp_path):
    """MODE 0: IMOD's tilt stores value - 128 as a signed byte (0 -> -128, 255 -> 127) under the signed-bytes flag;
    IMOD, and tiltrec's reader, add the 128 back."""
    param = CASES["mode0"]["param"]
    run(stacks, tmp_path / "bytes.rec", param)
    run(stacks, tmp_path / "float.rec", param.replace("MODE 0", "MODE 2"))
    values = mrcfile.read(tmp_path / "float.rec").astype(np.float64)
    stored = np.fromfile(tmp_path / "bytes.rec", np.int8, offset=1024).reshape(values.shape)
    inside = (values > 1) & (values < 254)
    assert np.median(stored[inside] - values[inside]) == pytest.approx(CASES["mode0"]["stored_minus_value"], abs=0.5)
    np.testing.assert_array_equal(stored, np.clip(np.rint(values), 0, 255) - 128)
    from tiltrec.formats import read_volume

    np.testing.assert_array_equal(read_volume(tmp_path / "bytes.rec")[0], np.clip(np.rint(values), 0, 255))


def test_rotated_layout_has_clip_rotx_tilt_angles(stacks, tmp_path):
    """IMOD 4.8.2's tilt has no RotateBy90: ``--layout xyz`` writes what ``clip rotx`` (trimvol -rx) makes of tilt's
    PERPENDICULAR header (IMOD's clip_proc.c): the current angles become the original ones, and the current X
    angle loses the 90 degrees."""
    out = tmp_path / "xyz.rec"
    assert cli(stacks / "st.mrc", stacks / "st.tlt", out, "--thickness", "8", "--layout", "xyz", "-q").exit_code == 0
    assert make.header_facts(out)["tilt_angles"] == [90.0, 0.0, 0.0, 0.0, 0.0, 0.0]
