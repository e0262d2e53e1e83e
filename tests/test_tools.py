"""The ``tiltrec`` tools command: simulate, frc, preview, info, as a user runs them."""

import subprocess
import sys

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from tiltrec.cli.tools import app
from tiltrec.formats import open_stack, read_angles, read_volume

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_simulate_writes_a_consistent_data_set(tmp_path):
    done = invoke("simulate", "--out", tmp_path, "--width", 48, "--slices", 16, "--thickness", 20, "--range",
                  "-45,45", "--step", 5, "--scheme", "dose-symmetric", "--shifts", 1.5, "--seed", 3)
    assert done.exit_code == 0, done.output
    angles = read_angles(tmp_path / "specimen.tlt")
    assert np.allclose(angles, np.arange(-45, 46, 5))
    with open_stack(tmp_path / "specimen.mrc") as stack:
        assert (stack.nviews, stack.ny, stack.nx, stack.pixel_size) == (19, 16, 48, 10.0)
        np.testing.assert_allclose(stack.header_angles, angles, atol=0.01)
    assert read_volume(tmp_path / "specimen_truth.mrc")[0].shape == (16, 20, 48)
    order = [int(v) for v in (tmp_path / "specimen_order.txt").read_text().split()]
    assert sorted(order) == list(range(1, 20)) and angles[order[0] - 1] == 0.0
    again = invoke("simulate", "--out", tmp_path, "--width", 48, "--slices", 16, "--thickness", 20)
    assert again.exit_code == 2 and "already exists" in again.output


def test_frc_of_odd_even_halves_and_its_plot(tmp_path):
    assert invoke("simulate", "--out", tmp_path, "--width", 64, "--slices", 16, "--thickness", 24).exit_code == 0
    from cli_helpers import run_command

    assert run_command(["--quiet", "--thickness", 24, "--split", "odd-even", tmp_path / "specimen.mrc",
                        tmp_path / "specimen.tlt", tmp_path / "rec.mrc"]) == 0
    done = invoke("frc", tmp_path / "rec_odd.mrc", tmp_path / "rec_even.mrc", "--plot", tmp_path / "frc.png")
    assert done.exit_code == 0, done.output
    assert "0.143" in done.output and "Angstrom" in done.output
    assert Image.open(tmp_path / "frc.png").size[0] > 200
    same = invoke("frc", tmp_path / "rec.mrc", tmp_path / "rec.mrc", "--axis", "z", "--shells")
    assert same.exit_code == 0 and "1.000" in same.output
    wrong = invoke("frc", tmp_path / "rec.mrc", tmp_path / "specimen.mrc")
    assert wrong.exit_code == 2 and "differ in size" in wrong.output


def test_preview_handles_both_layouts(tmp_path):
    vol = np.zeros((10, 6, 20), np.float32)  # [y, z, x]
    vol[5, 5, 10] = 1.0
    from tiltrec.formats import write_stack

    write_stack(tmp_path / "xzy.mrc", vol)
    write_stack(tmp_path / "xyz.mrc", vol.transpose(1, 0, 2)[::-1].copy())
    for name in ("xzy", "xyz"):
        done = invoke("preview", tmp_path / f"{name}.mrc", "-o", tmp_path / f"{name}.png", "--layout", name)
        assert done.exit_code == 0, done.output
    a, b = (np.asarray(Image.open(tmp_path / f"{n}.png")) for n in ("xzy", "xyz"))
    assert a.shape == b.shape and np.array_equal(a[40:], b[40:])  # the same picture below the title strip


def test_info_and_errors(tmp_path, shared_dir):
    done = invoke("info", shared_dir / "data/jason64/jason64.ali")
    assert done.exit_code == 0
    assert "mode 1" in done.output and "90 views" in done.output and "32 A" in done.output
    missing = invoke("info", tmp_path / "nothing.mrc")
    assert missing.exit_code == 2 and missing.output.count("\n") == 1 and "nothing.mrc" in missing.output


def test_python_dash_m_runs_the_tools():
    done = subprocess.run([sys.executable, "-m", "tiltrec", "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "simulate" in done.stdout and "frc" in done.stdout


def test_preview_takes_the_layout_the_file_tells(tmp_path):
    """Without --layout a volume is shown in the layout its sizes tell (as tiltrec info says): an xyz output
    gives the same picture as the xzy one; a tilt series is not taken for a tomogram."""
    from tiltrec.formats import write_stack

    vol = np.zeros((10, 6, 20), np.float32)  # [y, z, x]
    vol[5, 5, 10] = 1.0
    write_stack(tmp_path / "xzy.mrc", vol)
    write_stack(tmp_path / "xyz.mrc", vol.transpose(1, 0, 2)[::-1].copy())
    for name in ("xzy", "xyz"):
        done = invoke("preview", tmp_path / f"{name}.mrc", "-o", tmp_path / f"{name}.png", "--title", "same")
        assert done.exit_code == 0, done.output
    a, b = (np.asarray(Image.open(tmp_path / f"{n}.png")) for n in ("xzy", "xyz"))
    assert np.array_equal(a, b)
    write_stack(tmp_path / "series.mrc", np.ones((5, 16, 16), np.float32), angles=np.linspace(-60, 60, 5))
    refused = invoke("preview", tmp_path / "series.mrc", "-o", tmp_path / "series.png")
    assert refused.exit_code == 2 and "is a tilt series" in refused.output and not (tmp_path / "series.png").exists()
    shown = invoke("preview", tmp_path / "series.mrc", "-o", tmp_path / "series.png", "--layout", "xzy")
    assert shown.exit_code == 0
