"""One prepared run for a machine with a GPU: tiltrec's GPU paths through its commands, ASTRA beside them, and the
benchmark figures, in one markdown report with a PASS, FAIL or SKIP line per check.

    bin/gpu-check                        # on the GPU machine: report in $OUT/gpu-check.md, else ./gpu-check.md
    bin/gpu-check --backend cpu          # the same checks on CPUs: tiltrec-mpi / tiltrecz-mpi for the -cuda
                                         # commands, ASTRA's CPU code for its CUDA code (see benchmarks/README.md)
    python -m benchmarks.device_check    # the same, without bin/gpu-check's set-up of .venv

Every check runs the commands as a user would, as fresh processes (``tiltrec-cuda``, ``tiltrecz-cuda``,
``mpiexec``, ``tiltrec simulate``; ``bin/bench``'s GPU section and ASTRA's jobs in processes of their own), each
with a time limit, so that one that hangs or crashes the GPU costs only its own line.  The report is rewritten
after every check, so a run cut short still leaves what it found.  Without a usable GPU (and without
``--backend cpu``) the script says so in one line, writes a report of SKIPs and exits 0; otherwise the exit code
is 1 when a check failed.  The checks themselves: ``benchmarks/device_check_cases.py``.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

if __package__ in (None, ""):  # run as a script: python benchmarks/device_check.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.device_check_context import ROOT, Check, Context, Outcome, run_check  # noqa: E402

# the real series: in ../shared beside the checkout, or in a shared/ inside it
DATA = next((p for p in (ROOT.parent / "shared" / "data" / "empiar10009", ROOT / "shared" / "data" / "empiar10009")
             if p.is_dir()), ROOT.parent / "shared" / "data" / "empiar10009")
BUDGET = 540.0  # seconds for the whole run: about 9 minutes on a GPU machine
LAST = "bench"  # the one big job runs last, with time kept for it:
RESERVED = 270.0  # the other checks end by BUDGET - RESERVED at the latest; it may then take its own limit


# ------------------------------------------------------------------------------------------------- the report


def _versions() -> str:
    import numpy

    found = [f"Python {platform.python_version()}", f"NumPy {numpy.__version__}"]
    for module in ("cupy", "astra"):
        try:
            found.append(f"{'CuPy' if module == 'cupy' else 'ASTRA'} {__import__(module).__version__}")
        except Exception:
            found.append(f"no {module}")
    git = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain"], capture_output=True, text=True)
    if git.returncode == 0:
        found.insert(0, f"tiltrec git {git.stdout.strip()}{' (with uncommitted changes)' if dirty.stdout else ''}")
    return ", ".join(found)


def _where_files_go(tmp: Path) -> str:
    """The facts that whole-process times depend on beyond the GPU: the file system of the inputs and outputs, and
    whether Python may cache the modules it compiles."""
    from benchmarks.machine import filesystem_of

    cache = "not written (PYTHONDONTWRITEBYTECODE is set)" if os.environ.get("PYTHONDONTWRITEBYTECODE") else "written"
    return (f"Inputs and outputs in {tmp.parent} ({filesystem_of(tmp)}); Python's bytecode caches: {cache}; "
            f"{os.cpu_count()} CPUs.")


def render(header: list[str], checks: list[Check], outcomes: dict[str, Outcome], started: float) -> str:
    lines = ["# tiltrec device check", "", *header, "",
             f"Took {time.monotonic() - started:.0f} s. Items (a)-(h) are those of issue 20.", "", "## Results", ""]
    counts = {"PASS": 0, "FAIL": 0, "SKIP": 0}
    for check in checks:
        o = outcomes.get(check.name)
        if o is None:
            lines.append(f"- NOT RUN `{check.name}` ({check.issue_item})")
            continue
        counts[o.status] += 1
        lines.append(f"- **{o.status}** `{check.name}` ({check.issue_item}, {o.seconds:.0f} s): {o.line}")
    lines += ["", ", ".join(f"{n} {s}" for s, n in counts.items()), "", "## Details", ""]
    for check in checks:
        o = outcomes.get(check.name)
        if o and o.details:
            lines += [f"### {check.name}: {o.status}", ""]
            for d in o.details:  # a line of its own (markdown's hard break), or a block (a table) as it is
                lines += ["", d, ""] if "\n" in d else [d + "  "]
            lines.append("")
    return "\n".join(lines) + "\n"


def default_report() -> Path:
    out = os.environ.get("OUT")
    return Path(out) / "gpu-check.md" if out else Path("gpu-check.md")


def _gpu_reason() -> str | None:
    """None when a CUDA GPU is usable through CuPy, else why not (one line).  Asked in a process of its own: this
    one stays without a CUDA context (which would hold GPU memory all along and be copied into every fork)."""
    probe = ("import sys\nfrom tiltrec.projectors.cuda.device import open_device\ntry:\n"
             "    open_device(None, 0, 1, 'tiltrec-mpi')\nexcept Exception as exc:\n"
             "    sys.exit(str(exc).split(';')[0])\n")
    try:
        done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        return "opening the GPU took over 2 minutes"
    if done.returncode == 0:
        return None
    lines = done.stderr.strip().splitlines()
    return lines[-1] if lines else f"the GPU probe exited with {done.returncode}"


def _gpu_name() -> str:
    found = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
                           capture_output=True, text=True) if shutil.which("nvidia-smi") else None
    return found.stdout.strip().replace("\n", "; ") if found and found.returncode == 0 else "a CUDA GPU"


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="bin/gpu-check", description=__doc__.splitlines()[0])
    p.add_argument("where", nargs="?", choices=("cuda", "cpu"), default=None, metavar="BACKEND",
                   help="cuda (default) or cpu; the same as --backend")
    p.add_argument("--backend", choices=("cuda", "cpu"), default=None,
                   help="cuda: the -cuda commands on the GPU; cpu: the same checks with the CPU commands")
    p.add_argument("--report", "--markdown", dest="report", type=Path, default=None, metavar="FILE",
                   help="where to write the report [default: $OUT/gpu-check.md, else ./gpu-check.md]")
    p.add_argument("--only", action="append", default=None, metavar="CHECK",
                   help="run only these checks (names, or a prefix such as equal); repeat or comma-separate")
    p.add_argument("--quick", action="store_true", help="bin/bench's GPU section with --quick")
    p.add_argument("--tmpdir", type=Path, default=None,
                   help="where the inputs and outputs go [default: the system temporary folder]")
    p.add_argument("--data", type=Path, default=DATA,
                   help=f"folder of the real series empiar_10009_128.mrc/.tlt [default: {DATA}]")
    p.add_argument("--budget", type=float, default=BUDGET,
                   help="seconds for the whole run; checks that would start later are skipped [default: %(default)g]")
    p.add_argument("--wheels", type=Path, default=None, metavar="DIR",
                   help="bin/gpu-check only, as its first option: set tiltrec up from the machine's python3 and the "
                        "wheels bin/gpu-wheels downloaded into DIR, instead of creating .venv (no network needed)")
    opts = p.parse_args(argv)
    if opts.wheels is not None:  # bin/gpu-check acts on it before this program starts; here it is too late
        p.error("--wheels sets the environment up before the checks start: give it first, to bin/gpu-check")
    opts.backend = opts.backend or opts.where or "cuda"
    return opts


def select(checks: list[Check], only: list[str] | None) -> list[Check]:
    if not only:
        return checks
    wanted = [w.strip() for o in only for w in o.split(",") if w.strip()]
    chosen = [c for c in checks if any(c.name == w or c.name.startswith(w) for w in wanted)]
    if not chosen:
        raise SystemExit(f"bin/gpu-check: no check matches {', '.join(wanted)}; checks: "
                         f"{', '.join(c.name for c in checks)}")
    return chosen


def main(argv=None) -> int:
    from benchmarks.device_check_cases import CHECKS

    opts = parse_args(argv)
    checks = select(CHECKS, opts.only)
    report = opts.report or default_report()
    started = time.monotonic()
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    command = "bin/gpu-check " + " ".join(sys.argv[1:] if argv is None else argv)
    reason = _gpu_reason() if opts.backend == "cuda" else None
    where = ("CPUs (the CPU commands in place of the -cuda ones)" if opts.backend == "cpu" else
             f"GPU: {_gpu_name()}" if reason is None else reason)
    header = [f"`{command.strip()}`, {stamp}, backend {opts.backend}: {where}.", "", _versions() + "."]
    outcomes: dict[str, Outcome] = {}
    report.parent.mkdir(parents=True, exist_ok=True)
    if reason is not None:
        print(f"bin/gpu-check: {reason}: every check SKIP (bin/gpu-check cpu runs them on CPUs); report {report}",
              file=sys.stderr)
        for check in checks:
            outcomes[check.name] = Outcome("SKIP", f"{reason} (bin/gpu-check cpu runs the checks on CPUs)")
        report.write_text(render(header, checks, outcomes, started))
        return 0
    reserve = RESERVED if any(c.name == LAST for c in checks) else 0.0
    with tempfile.TemporaryDirectory(prefix="tiltrec-gpu-check-", dir=opts.tmpdir) as tmpname:
        header += ["", _where_files_go(Path(tmpname))]
        ctx = Context(opts.backend, Path(tmpname), opts.data, opts.quick)
        for check in checks:
            print(f"[gpu-check] {check.name} ...", file=sys.stderr, flush=True)
            end = started + opts.budget - (0.0 if check.name == LAST else reserve)
            outcomes[check.name] = o = run_check(check, ctx, end)
            print(f"[gpu-check] {o.status} {check.name} ({o.seconds:.0f} s): {o.line}", file=sys.stderr, flush=True)
            report.write_text(render(header, checks, outcomes, started))
    failed = [name for name, o in outcomes.items() if o.status == "FAIL"]
    print(f"bin/gpu-check: {len(outcomes) - len(failed)} of {len(outcomes)} checks passed or skipped; report "
          f"{report}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
