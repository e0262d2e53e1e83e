"""Outputs, defaults and messages a user can trust: what used to give a silently wrong or blank result now says
so (the IMOD parameter files' defaults, IMOD's LOG), and the small things a user reads (GUPS, --version, one-line
usage errors) are right."""

import numpy as np
import pytest

from cli_helpers import cli, one_line

JASON = "data/jason64"


def test_a_tilt_com_without_thickness_says_so(shared_dir, tmp_path):
    """tilt's default THICKNESS is 10 pixels: a parameter file without it gave a 10-pixel tomogram silently."""
    com = tmp_path / "tilt.com"
    text = (shared_dir / JASON / "tilt64.com").read_text().replace("jason64.", f"{shared_dir / JASON}/jason64.")
    com.write_text(text.replace("OutputFile ../../work/jason64/generated.mrc", f"OutputFile {tmp_path / 'o.rec'}"))
    result = cli("--com", com, "-q")
    assert result.exit_code == 0, result.stderr
    assert f"{com}: no THICKNESS: the tomogram gets tilt's default thickness of 10 pixels" in result.stderr
    result = cli("--com", com, "-q", "--thickness", "20", "--overwrite")
    assert result.exit_code == 0 and "THICKNESS" not in result.stderr
    com.write_text(com.read_text() + "THICKNESS 12\n")
    result = cli("--com", com, "-q", "--overwrite")
    assert result.exit_code == 0 and "THICKNESS" not in result.stderr


def test_log_base_that_leaves_the_data_at_the_floor_is_said(shared_dir, tmp_path):
    """jason64's values lie near -32650: LOG 0 clamps every one to the floor, and the tomogram is blank."""
    stack, tlt = shared_dir / JASON / "jason64.ali", shared_dir / JASON / "jason64.tlt"
    result = cli("--thickness", "10", "--log-base", "0", "-q", stack, tlt, tmp_path / "o.rec")
    assert result.exit_code == 0
    line = one_line(result.stderr)
    assert "leaves most values at the logarithm's floor" in line and "a base above" in line
    base = float(line.split("a base above ")[1].split()[0])
    result = cli("--thickness", "10", "--log-base", f"{base + 1:g}", "-q", stack, tlt, tmp_path / "p.rec")
    assert result.exit_code == 0 and "floor" not in result.stderr


@pytest.mark.parametrize("prog", ["tiltrec-mpi", "tiltrec-cuda"])
def test_admm_on_a_slab_command_names_the_command_to_use(shared_dir, tmp_path, prog):
    """A command-line user was told about ``unified=True``, a Python keyword."""
    result = cli("--alg", "admm", "--thickness", "10", shared_dir / JASON / "jason64.ali",
                 shared_dir / JASON / "jason64.tlt", tmp_path / "o.rec", prog=prog)
    line = one_line(result.stderr)
    assert result.exit_code == 2 and line.endswith(f"run it with {prog.replace('tiltrec-', 'tiltrecz-')}"), line
    import tiltrec

    with pytest.raises(tiltrec.errors.InputError, match="pass unified=True$"):
        tiltrec.reconstruct(np.ones((3, 4, 8), np.float32), [-30, 0, 30], thickness=4, alg="admm")


def test_a_folder_as_input_is_called_a_folder(tmp_path):
    """A folder without an extension was "unsupported extension '(none)'"."""
    (tmp_path / "series").mkdir()
    (tmp_path / "a.tlt").write_text("0\n")
    result = cli("--thickness", "10", tmp_path / "series", tmp_path / "a.tlt", tmp_path / "o.rec")
    assert result.exit_code == 2 and one_line(result.stderr).endswith("series: is a directory, not a file")


def test_a_small_run_reports_a_rate_that_is_not_zero(shared_dir, tmp_path):
    """A one-slice run printed "0.00 GUPS"."""
    result = cli("--alg", "sirt", "--iter", "1", "--thickness", "8", "--slices", "0,0", shared_dir / JASON /
                 "jason64.ali", shared_dir / JASON / "jason64.tlt", tmp_path / "o.rec")
    summary = [line for line in result.stderr.splitlines() if "wrote" in line][0]
    rate = summary.split(": ")[2].split(",")[0]
    assert rate.endswith(("GUPS", "MUPS")) and float(rate.split()[0]) > 0, summary
