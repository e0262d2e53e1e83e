"""The header origin of a reconstruction is the one IMOD's tilt writes (with AdjustOrigin, as etomo runs it), so
that models and coordinates from a tiltrec tomogram land where they land on IMOD's: tests/data/imod_origins.json
holds what IMOD 4.8.2's tilt wrote for parameter files that move it (SHIFT, WIDTH, SLICE, IMAGEBINNED, PARALLEL,
an input origin) and some that do not (OFFSET, XAXISTILT, FULLIMAGE/SUBSETSTART)."""

import json
import re
from pathlib import Path

import mrcfile
import numpy as np
import pytest

from cli_helpers import cli

CASES = json.loads((Path(__file__).parent / "data" / "imod_origins.json").read_text())["cases"]
PIXEL = 2.0


@pytest.fixture(scope="module")
def stacks(tmp_path_factory):
    """The stacks the parameter files name: 11 views of 64 x 48 pixels of 2 Angstrom, header origin 0 (st.mrc)
    or (10, -6, 3) (st_org.mrc), angles -50..50."""
    folder = tmp_path_factory.mktemp("origin")
    views = np.random.default_rng(0).random((11, 48, 64), dtype=np.float32)
    for name, origin in (("st.mrc", (0.0, 0.0, 0.0)), ("st_org.mrc", (10.0, -6.0, 3.0))):
        with mrcfile.new(folder / name) as mrc:
            mrc.set_data(views)
            mrc.voxel_size = PIXEL
            mrc.header.origin = origin
    (folder / "st.tlt").write_text("".join(f"{a:g}\n" for a in np.linspace(-50, 50, 11)))
    return folder


def origin_of(path) -> tuple:
    with mrcfile.open(path, header_only=True) as mrc:
        return (mrc.header.nx, mrc.header.ny, mrc.header.nz), tuple(mrc.header.origin.tolist())


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_origin_is_imods(stacks, tmp_path, name):
    case = CASES[name]
    com = stacks / f"{name}.com"
    com.write_text(case["param"].replace(f"OutputFile {name}.rec", f"OutputFile {tmp_path / 'out.rec'}"))
    result = cli("--com", com, "-q")
    assert result.exit_code == 0, result.output
    size, origin = origin_of(tmp_path / "out.rec")
    assert size == tuple(case["size"])
    np.testing.assert_allclose(origin, case["origin"], rtol=0, atol=1e-3 * PIXEL)


@pytest.mark.parametrize("extra", [[], ["--slices", "10,29", "--xshift", "2.5", "--zshift", "-4", "--width", "41"]])
def test_the_rotated_layout_keeps_every_voxels_coordinates(stacks, tmp_path, extra):
    """xyz is IMOD's layout turned by -90 degrees about X (as trimvol -rx turns it): a voxel's coordinates
    (index x pixel - origin) in the xyz file are those of the same voxel in the xzy file, turned."""
    common = [stacks / "st_org.mrc", stacks / "st.tlt", "--thickness", "21", "-q", *extra]
    assert cli(*common, tmp_path / "xzy.mrc").exit_code == 0
    assert cli(*common, "--layout", "xyz", tmp_path / "xyz.mrc").exit_code == 0
    (nx, nt, ns), (ox, ot, os_) = origin_of(tmp_path / "xzy.mrc")
    size, (px_, py_, pz_) = origin_of(tmp_path / "xyz.mrc")
    assert size == (nx, ns, nt)
    for ix, it, is_ in [(0, 0, 0), (nx - 1, nt - 1, ns - 1), (3, 7, 5)]:
        x, t, s = ix * PIXEL - ox, it * PIXEL - ot, is_ * PIXEL - os_  # in the xzy file: X, thickness, slice
        # the same voxel in the xyz file: column ix, row is_ (the slice), section nt - 1 - it (thickness reversed)
        turned = (ix * PIXEL - px_, is_ * PIXEL - py_, (nt - 1 - it) * PIXEL - pz_)
        np.testing.assert_allclose(turned, (x, s, -t), atol=1e-4)


def test_the_label_dates_as_imods_do(stacks, tmp_path):
    """IMOD's programs end their label with the date at column 57, the day padded with a space (` 3-Dec-26`)."""
    assert cli(stacks / "st.mrc", stacks / "st.tlt", tmp_path / "v.mrc", "--thickness", "8", "-q").exit_code == 0
    with mrcfile.open(tmp_path / "v.mrc", header_only=True) as mrc:
        ours = bytes(mrc.header.label[int(mrc.header.nlabl) - 1]).decode()
    assert ours.startswith("tiltrec-mpi ") and re.fullmatch(r"[ \d]\d-[A-Z][a-z]{2}-\d\d  \d\d:\d\d:\d\d", ours[56:75])
