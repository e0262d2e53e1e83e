"""bin/gpu-check's script (benchmarks/device_check.py) on CPUs, so that the one run prepared for a GPU machine keeps
working: a fast subset of its checks with the CPU backend, its report, what it does without a GPU, a failing check,
its time limits; and bin/bench's GPU code (benchmarks/gpu.py) on the emulated device."""

import os
import re
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the benchmarks package sits beside src/, not inside the installed tiltrec
    sys.path.insert(0, str(ROOT))

from benchmarks.device_check_context import Check, Context, Failed, Skipped, run_check  # noqa: E402

SUBSET = ["astra-geometry", "equal-wbp", "resume-sirt", "managed-memory", "interp-imod", "local-wbp", "local-sirt",
          "reproject", "reproject-local",
          "out-of-memory", "bench"]
RESULT = re.compile(r"^- \*\*(PASS|FAIL|SKIP)\*\* `([\w-]+)`", re.M)


def has_astra() -> bool:
    try:
        __import__("astra")
    except ImportError:
        return False
    return True


def usable_gpu() -> bool:
    from benchmarks.device_check import _gpu_reason

    return _gpu_reason() is None


def gpu_check(*args, timeout=240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "benchmarks.device_check", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout, env=dict(os.environ, PYTHONPATH=str(ROOT)))


def results(report: Path) -> dict[str, str]:
    return {name: status for status, name in RESULT.findall(report.read_text())}


def test_a_subset_of_the_checks_passes_on_cpus(tmp_path):
    report = tmp_path / "report.md"
    done = gpu_check("--backend", "cpu", "--report", report, "--only", ",".join(SUBSET), "--tmpdir", tmp_path)
    assert done.returncode == 0, done.stderr
    expected = {name: "PASS" for name in SUBSET}
    expected["bench"] = "SKIP"  # measured with the cuda backend only
    if not has_astra():
        expected["astra-geometry"] = "SKIP"
    assert results(report) == expected, report.read_text()
    text = report.read_text()
    assert "$ tiltrec-mpi --threads 1 --alg wbp" in text and "$ tiltrec-mpi --alg wbp" in text  # what ran
    assert "SIGTERM sent once the checkpoint existed" in text
    assert f"Inputs and outputs in {tmp_path} (" in text and "Python's bytecode caches: " in text  # the header
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("tiltrec-gpu-check-")]  # its folder is gone


@pytest.mark.skipif(usable_gpu(), reason="this machine has a usable GPU")
def test_without_a_gpu_it_says_so_and_skips_everything(tmp_path):
    report = tmp_path / "report.md"
    started = time.monotonic()
    done = gpu_check("--report", report, "--only", "equal,bench", timeout=60)
    assert done.returncode == 0 and time.monotonic() - started < 30
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "no usable CUDA GPU" in lines[0]
    assert set(results(report).values()) == {"SKIP"} and len(results(report)) == 7


def test_a_failing_check_fails_the_run(tmp_path):
    """A real series that cannot be read: tiltrec-mpi stops, the check says FAIL, the exit code is 1."""
    if not has_astra():
        pytest.skip("astra-toolbox is not installed")
    data = tmp_path / "data"
    data.mkdir()
    (data / "empiar_10009_128.mrc").write_bytes(b"not an MRC file" * 100)
    (data / "empiar_10009_128.tlt").write_text("0\n")
    report = tmp_path / "report.md"
    done = gpu_check("cpu", "--markdown", report, "--only", "astra-sirt", "--data", data, "--tmpdir", tmp_path)
    assert done.returncode == 1
    assert results(report) == {"astra-sirt": "FAIL"}
    assert re.search(r"FAIL\*\* `astra-sirt` .*tiltrec-mpi .* exited with 2", report.read_text())


def test_every_outcome_of_a_check(tmp_path):
    ctx = Context("cpu", tmp_path, tmp_path, quick=True)

    def fails(ctx):
        raise Failed("wrong")

    def skips(ctx):
        raise Skipped("not here")

    def breaks(ctx):
        raise ValueError("a bug\nmore")

    outcomes = {fn.__name__: run_check(Check(fn.__name__, "c", 10, fn), ctx, float("inf"))
                for fn in (fails, skips, breaks, lambda ctx: "fine")}
    assert [(o.status, o.line) for o in outcomes.values()] == [
        ("FAIL", "wrong"), ("SKIP", "not here"), ("FAIL", "ValueError: a bug (a fault of the check?)"),
        ("PASS", "fine")]
    late = run_check(Check("late", "c", 60, lambda ctx: "fine"), ctx, time.monotonic() + 5)
    assert (late.status, late.line) == ("SKIP", "the run's time budget is spent")


def test_a_command_past_its_time_limit_is_stopped_with_its_children(tmp_path):
    ctx = Context("cpu", tmp_path, tmp_path, quick=True)
    ctx.deadline = time.monotonic() + 1.0
    started = time.monotonic()
    done = ctx.run(["bash", "-c", f"sleep 30 & echo $! > {tmp_path / 'child'}; wait"], check=False)
    assert done.timed_out and time.monotonic() - started < 10
    child = int((tmp_path / "child").read_text())
    time.sleep(0.2)
    assert not Path(f"/proc/{child}").exists() or "Z" in Path(f"/proc/{child}/stat").read_text().split()[2]
    ctx.deadline = time.monotonic() + 1.0
    with pytest.raises(Failed, match="ran out of time"):
        ctx.run(["sleep", "30"])


def test_the_gpu_sections_kernels_run_on_the_emulated_device():
    """benchmarks/gpu.py's side by side with ASTRA, tiltrec's side on the CPU emulation of the CUDA kernels; ASTRA's
    side in its own process (which, without a GPU, reports why it did not run)."""
    from cuda_emulation.emulator import compiler
    from cuda_emulation.host_device import HostDevice

    if compiler() is None:
        pytest.skip("no C++ compiler for the CUDA emulation")
    import benchmarks.gpu as gpu

    rng = np.random.default_rng(0)
    device = HostDevice()
    device.index = 0
    device.xp = types.SimpleNamespace(  # what the benchmark asks of CuPy beyond NumPy's functions
        random=types.SimpleNamespace(random=lambda shape, dtype: rng.random(shape, dtype=dtype)),
        get_default_memory_pool=lambda: types.SimpleNamespace(free_all_blocks=lambda: None),
        zeros=np.zeros, asarray=np.asarray, ascontiguousarray=np.ascontiguousarray, subtract=np.subtract)
    rows, notes = gpu.astra_kernel_rows(device, 24, 8, 2, lambda text: None)
    expected = [(op, pitch) for pitch in ("0 deg", "5 deg") for op in ("back-projection", "forward projection")]
    assert [(r[0], r[3]) for r in rows] == expected
    for r in rows:  # tiltrec's time [ms] and GUPS, both printed to one decimal: the GUPS the time's interval allows
        ms, gups, updates = float(r[4]), float(r[7]), 24 * 8 * 24 * 61
        assert ms > 0 and updates / (ms + 0.05) / 1e6 - 0.051 <= gups <= updates / max(ms - 0.05, 1e-9) / 1e6 + 0.051
    for r in rows:
        assert (r[5] == r[6] == r[8] == "-") == any(n.startswith("ASTRA, pitch") for n in notes)


def test_the_gpu_sections_wbp_rows_give_the_jobs_seconds_and_a_plain_write(tmp_path, monkeypatch):
    """benchmarks/gpu.py's whole-process WBP rows, with tiltrec-mpi standing in for both GPU commands (the same
    command line and summary line): wall times, the job's seconds from each run's summary line, and two last rows
    timing the output's bytes written into the same folder, buffered and through the commands' writer."""
    import benchmarks.gpu as gpu
    from benchmarks.procs import program
    from benchmarks.run import write_series

    monkeypatch.setattr(gpu, "program", lambda name: program("tiltrec-mpi"))
    rows = gpu.wbp_rows(tmp_path, write_series, 64, 16, 2)
    assert len(rows) == 4
    for row in rows[:2]:
        walls, jobs = ([float(x) for x in cell.split(", ")] for cell in (row[4], row[5]))
        assert len(walls) == len(jobs) == 2 and all(0 < j < w for j, w in zip(jobs, walls))
    assert rows[2][0].startswith("256.0 KiB written into the same folder: plain buffered writes")
    assert rows[3][0].startswith("256.0 KiB written into the same folder: the commands' writer")
    assert float(rows[2][3]) >= 0 and float(rows[3][3]) >= 0 and not (tmp_path / "sequential_write.bin").exists()
