"""Outputs, defaults and messages a user can trust: what would give a silently wrong or blank result says so (the
IMOD parameter files' defaults, IMOD's LOG), and the small things a user reads (GUPS, --version, one-line usage
errors) are right."""

import numpy as np
import pytest

from cli_helpers import cli, one_line

JASON = "data/jason64"


def test_a_tilt_com_without_thickness_says_so(shared_dir, tmp_path):
    """tilt's default THICKNESS is 10 pixels: a parameter file without it gives a 10-pixel tomogram, which a
    warning must say."""
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
    """A command-line user is told which command to run, not about ``unified=True`` (the Python keyword)."""
    result = cli("--alg", "admm", "--thickness", "10", shared_dir / JASON / "jason64.ali",
                 shared_dir / JASON / "jason64.tlt", tmp_path / "o.rec", prog=prog)
    line = one_line(result.stderr)
    assert result.exit_code == 2 and line.endswith(f"run it with {prog.replace('tiltrec-', 'tiltrecz-')}"), line
    import tiltrec

    with pytest.raises(tiltrec.errors.InputError, match="pass unified=True$"):
        tiltrec.reconstruct(np.ones((3, 4, 8), np.float32), [-30, 0, 30], thickness=4, alg="admm")


def test_a_folder_as_input_is_called_a_folder(tmp_path):
    """A folder is called a folder, not a file with "unsupported extension '(none)'"."""
    (tmp_path / "series").mkdir()
    (tmp_path / "a.tlt").write_text("0\n")
    result = cli("--thickness", "10", tmp_path / "series", tmp_path / "a.tlt", tmp_path / "o.rec")
    assert result.exit_code == 2 and one_line(result.stderr).endswith("series: is a directory, not a file")


def test_a_small_run_reports_a_rate_that_is_not_zero(shared_dir, tmp_path):
    """A one-slice run reports its rate with enough digits not to print "0.00 GUPS"."""
    result = cli("--alg", "sirt", "--iter", "1", "--thickness", "8", "--slices", "0,0", shared_dir / JASON /
                 "jason64.ali", shared_dir / JASON / "jason64.tlt", tmp_path / "o.rec")
    summary = [line for line in result.stderr.splitlines() if "wrote" in line][0]
    rate = summary.split(": ")[2].split(",")[0]
    assert rate.endswith(("GUPS", "MUPS")) and float(rate.split()[0]) > 0, summary


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class Terminal:
    """A stream that says it is a terminal, collecting what is written."""

    def __init__(self, tty: bool):
        self.tty, self.text = tty, ""

    def isatty(self):
        return self.tty

    def write(self, text):
        self.text += text

    def flush(self):
        pass


def test_progress_in_a_log_is_a_few_plain_lines(monkeypatch):
    """Into a file or a Slurm log the progress is a plain line per quarter, not dozens of carriage-return lines."""
    from tiltrec import progress as module

    clock = Clock()
    monkeypatch.setattr(module.time, "perf_counter", clock)
    log = Terminal(tty=False)
    bar = module.Progress(100, label="SIRT", stream=log)
    for _ in range(100):
        clock.now += 0.1
        bar.advance()
    bar.finish()
    lines = log.text.splitlines()
    assert "\r" not in log.text and [line.split(":")[1].split()[0] for line in lines] == ["25%", "50%", "75%",
                                                                                          "100%"]
    assert lines[0] == "SIRT: 25% in 2.5 s, about 7.5 s left"
    terminal = Terminal(tty=True)
    bar = module.Progress(100, label="SIRT", stream=terminal)
    bar.advance()
    assert terminal.text.startswith("\rSIRT [")


def test_the_eta_leaves_out_the_start_up(monkeypatch):
    """The first step carries the start-up (kernel compilation: 3 s here), which would make the ETA of a 3.5 s run
    37.8 s: the rate is counted from the first step on."""
    from tiltrec import progress as module

    clock = Clock()
    monkeypatch.setattr(module.time, "perf_counter", clock)
    bar = module.Progress(10, quiet=True)
    clock.now = 3.0
    bar.advance()
    assert bar.eta() is None  # one measurement: no rate yet
    clock.now = 3.05
    bar.advance()
    assert bar.eta() == pytest.approx(0.05 * 8)


def test_no_progress_keeps_the_summary(shared_dir, tmp_path):
    """-q hides the progress and the summary; --no-progress only the progress."""
    args = ["--thickness", "10", shared_dir / JASON / "jason64.ali", shared_dir / JASON / "jason64.tlt"]
    result = cli(*args, tmp_path / "a.rec", "--no-progress")
    assert result.exit_code == 0 and result.stderr.startswith("tiltrec-mpi: wrote ")
    assert "%" not in result.stderr
    result = cli(*args, tmp_path / "b.rec", "-q")
    assert result.exit_code == 0 and result.stderr == ""


@pytest.mark.parametrize("prog", ["tiltrec-mpi", "tiltrecz-mpi", "tiltrec-cuda", "tiltrecz-cuda", "tiltrec"])
def test_every_command_says_its_version(prog, capsys, monkeypatch):
    import tiltrec
    from cli_helpers import FLAVORS
    from tiltrec.cli.commands import make_app
    from tiltrec.cli.tools import app
    from tiltrec.cli.usage import run_command

    monkeypatch.setattr("sys.argv", [prog, "--version"])
    assert run_command(app if prog == "tiltrec" else make_app(FLAVORS[prog]), prog) == 0
    assert capsys.readouterr().out == f"{prog} {tiltrec.__version__}\n"


@pytest.mark.parametrize("args, message", [(["--bogus"], "No such option: --bogus"),
                                           (["--thickness"], "Option '--thickness' requires an argument."),
                                           (["--mode", "x"], "--mode takes one of 2, 1, 0, 12, got 'x'")])
def test_a_usage_error_is_one_line(args, message, capsys, monkeypatch):
    """One line, where Click prints a usage line, a hint, a blank line and the message."""
    from cli_helpers import FLAVORS
    from tiltrec.cli.commands import make_app
    from tiltrec.cli.usage import run_command

    monkeypatch.setattr("sys.argv", ["tiltrec-mpi", *args])
    assert run_command(make_app(FLAVORS["tiltrec-mpi"]), "tiltrec-mpi") == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith("tiltrec-mpi: error: ") and message in line
    assert line.endswith("(see tiltrec-mpi --help)") or not message.startswith(("No such", "Option"))


@pytest.mark.parametrize("mode", ["2", "1"])
def test_outputs_carry_the_imod_stamp_and_the_inputs_labels(shared_dir, tmp_path, mode):
    """Every output carries IMOD's stamp and keeps the input's labels, adding one (as IMOD's programs do)."""
    from tiltrec.analysis.info import describe

    stack = shared_dir / JASON / "jason64.ali"
    result = cli("--thickness", "10", "--mode", mode, "--scale", "0,1", "-q", stack, shared_dir / JASON /
                 "jason64.tlt", tmp_path / "o.rec")
    assert result.exit_code == 0, result.stderr
    source, out = describe(stack), describe(tmp_path / "o.rec")
    assert out["imod_stamp"] and out["imod_flags"] == 1  # the signed-bytes flag, set as IMOD's tilt sets it
    assert source["labels"] and out["labels"][:-1] == source["labels"][:9]
    assert out["labels"][-1].startswith("tiltrec-mpi ")


def test_the_xpad_help_promises_what_it_does():
    """--xpad's help does not promise "no edge artifacts": SIRT leaves a fainter rim near the edges
    (docs/algorithms/sirt.md)."""
    flat = " ".join(cli("--help").stdout.split())
    assert "no edge artifacts" not in flat and "a fainter rim can remain: docs/algorithms/sirt.md" in flat
