"""Where the time of one ``tiltrec-mpi`` run goes: run it under cProfile and split it into phases.

Child side (run as a script): ``python benchmarks/profile_cli.py STATS.prof TIMES.json -- tiltrec-mpi ARGS...``
profiles the real CLI entry point in a fresh interpreter and writes the profile and wall-clock marks.
Parent side: ``phases(...)`` reads them back into (phase, seconds) rows.
"""

from __future__ import annotations

import json
import sys
import time

T_SCRIPT = time.time()  # first thing: when the interpreter got to this file


def _child(argv: list[str]) -> int:
    import cProfile

    stats_path, times_path, sep, prog, *args = argv
    assert sep == "--"
    marks = {"script": T_SCRIPT}
    profile = cProfile.Profile()
    code = 0

    def dump() -> None:
        profile.disable()
        marks["done"] = time.time()
        profile.dump_stats(stats_path)
        marks["dumped"] = time.time()
        with open(times_path, "w") as f:
            json.dump(marks, f)

    profile.enable()
    try:
        from tiltrec.cli import commands
        from tiltrec.cli.commands import tiltrec_mpi

        leave = commands.exit_now  # a successful run leaves from there, without Python's teardown: dump first
        commands.exit_now = lambda: (dump(), leave())

        # the modules the CLI imports only once it runs (numpy, the FFT library, numba, ...): imported here, up
        # front, so that the import time shows as one phase instead of hiding inside the phases that trigger it
        import numpy
        from tiltrec.fft_rows import rfft

        rfft(numpy.zeros((1, 8), numpy.float32))  # loads scipy's pocketfft library
        import tiltrec.cli.request  # noqa: F401
        import tiltrec.formats.slab_store  # noqa: F401
        import tiltrec.projectors.cpu  # noqa: F401

        marks["imported"] = time.time()
        sys.argv = [prog, *args]
        tiltrec_mpi()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        dump()
    return code


# ------------------------------------------------------------------------------------------------ parent side

# label: (file suffix, function name[, caller's file suffix]): cumulative time of that function (called from there)
_FUNCS = {
    "run_command_line": ("tiltrec/cli/request.py", "run_command_line"),
    "run": ("tiltrec/strategies/driver.py", "run"),
    "stack_mean": ("tiltrec/inputs.py", "stack_stats"),
    "open_source": ("tiltrec/inputs.py", "open_source"),
    # the main thread waiting for the reader thread (the slab loop's waits only, not those of the thread pools in
    # the filter and the stack's statistics)
    "rows": ("concurrent/futures/_base.py", "result", "tiltrec/strategies/driver.py"),
    "filter": ("tiltrec/filters.py", "apply"),
    "weighting": ("tiltrec/algorithms/backprojection.py", "imod_weighting"),
    "wbp": ("tiltrec/algorithms/backprojection.py", "wbp"),
    "pack": ("tiltrec/projectors/base.py", "pack"),
    "back": ("tiltrec/projectors/base.py", "back"),
    "kernel": ("tiltrec/projectors/cpu.py", "_back"),
    "kernel_into": ("tiltrec/projectors/cpu.py", "_back_into"),  # a back-projection that writes
    "kernel_scaled": ("tiltrec/projectors/cpu.py", "back_scaled"),  # ... and scales (WBP's slabs)
    "projector_init": ("tiltrec/projectors/base.py", "__init__"),
    "stage": ("tiltrec/formats/writer.py", "stage"),
    "write_wait": ("tiltrec/strategies/worker.py", "wait"),  # the main thread waiting for the writer thread
    "store": ("tiltrec/formats/slab_store.py", "store_slab"),
    "writer_init": ("tiltrec/formats/writer.py", "__init__"),
    "commit": ("tiltrec/formats/writer.py", "commit"),
    "parse": ("click/core.py", "make_context"),
    "numba_load": ("numba/core/dispatcher.py", "_compile_for_args"),
}


def _cumulative(stats_path: str) -> tuple[dict[str, float], dict[str, int]]:
    import pstats

    raw = pstats.Stats(stats_path).stats
    times = {k: 0.0 for k in _FUNCS}
    calls = {k: 0 for k in _FUNCS}
    for (filename, _line, func), (_cc, nc, _tt, ct, callers) in raw.items():
        path = filename.replace("\\", "/")
        for key, (suffix, name, *caller) in _FUNCS.items():
            if func == name and path.endswith(suffix):
                if key == "writer_init" and "VolumeWriter" not in _class_hint(filename, _line):
                    continue
                if caller:
                    called = [v for c, v in callers.items() if c[0].replace("\\", "/").endswith(caller[0])]
                    nc, ct = sum(v[1] for v in called), sum(v[3] for v in called)
                times[key] += ct
                calls[key] += nc
    return times, calls


def _class_hint(filename: str, line: int) -> str:
    """The class enclosing ``line`` of ``filename`` (writer.py has several ``__init__``)."""
    try:
        with open(filename) as f:
            lines = f.readlines()[:line]
    except OSError:
        return ""
    for text in reversed(lines):
        if text.startswith("class "):
            return text
    return ""


def phases(stats_path: str, times_path: str, launched: float, wall: float) -> list[tuple[str, float, str]]:
    """(phase, seconds, note) rows that add up to ``wall``; ``launched`` is time.time() just before the spawn."""
    with open(times_path) as f:
        marks = json.load(f)
    t, n = _cumulative(stats_path)
    startup = marks["script"] - launched
    imports = marks["imported"] - marks["script"]
    main = marks["done"] - marks["imported"]
    dump = marks["dumped"] - marks["done"]
    kernel = t["kernel"] + t["kernel_into"] + t["kernel_scaled"] - t["numba_load"]
    back_other = t["back"] - t["kernel"] - t["kernel_into"]
    wbp_rest = t["wbp"] - t["filter"] - t["pack"] - t["back"] - t["kernel_scaled"] - t["weighting"]
    stage_rest = t["stage"] - t["store"]
    in_run = t["rows"] + t["wbp"] + t["stage"] + t["write_wait"] + t["projector_init"]
    run_rest = t["run"] - in_run
    setup = main - t["parse"] - t["run"] - t["stack_mean"] - t["writer_init"] - t["commit"]
    rows = [
        ("interpreter start-up", startup, "spawn to the first line of the script"),
        ("imports (tiltrec, numpy, scipy, numba, typer)", imports, "the CLI's deferred imports included"),
        ("CLI argument parsing (typer/click)", t["parse"], ""),
        ("open input, angles, geometry, threads", setup, "what main does besides the phases below"),
        ("mean of the whole stack (WBP fill value)", t["stack_mean"], "reads every pixel once more"),
        ("create + fallocate output file", t["writer_init"], ""),
        ("wait for the projection rows", t["rows"], "read on the reader thread while the slab before computes"),
        ("R-weighting filter (FFT)", t["filter"], "scipy's pocketfft, rfft/irfft (fft_rows)"),
        ("build the weighting filter", t["weighting"], ""),
        ("pack rows into projector layout", t["pack"], "transpose copy"),
        ("Numba: load the kernel (first call)", t["numba_load"], "from the on-disk cache, or compile on a miss"),
        (f"back-projection kernel ({n['kernel'] + n['kernel_into'] + n['kernel_scaled']} calls)", kernel,
         "back_flat (with WBP's output scale) / back_pitched"),
        ("allocate volume slab", back_other, "SlabProjector.back minus the kernel"),
        ("WBP element-wise (fill; the scale where the kernel does not apply it)", wbp_rest, ""),
        ("slab set-up (coefficients)", t["projector_init"], ""),
        ("store slab: transpose, convert, statistics", t["store"],
         "one compiled pass (slab_store.c) into a file-order buffer"),
        ("allocate the file-order buffer", stage_rest, "VolumeWriter.stage minus the store"),
        ("wait for the writer thread", t["write_wait"], "positioned writes (direct where possible), on its thread "
                                                       "while the next slab computes"),
        ("other work in the slab loop", run_rest, "progress, slicing"),
        ("commit (header, rename)", t["commit"], ""),
        ("writing the profile", dump, "profiling only"),
        ("process exit (os._exit after a success: no teardown)", wall - (marks["dumped"] - launched), ""),
    ]
    return rows


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))
