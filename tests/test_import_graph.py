"""No module of tiltrec imports itself back: the package's modules form an import graph without cycles, counting the
imports inside functions too (a deferred import is still a dependency, and a cycle through one breaks as soon as
someone moves it to the top)."""

import ast
from pathlib import Path

import tiltrec

ROOT = Path(tiltrec.__file__).resolve().parent


def modules() -> dict[str, tuple[Path, bool]]:
    """Every module of the package by dotted name, with its file and whether it is a package's ``__init__``."""
    found = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        package = parts[-1] == "__init__"
        found[".".join(parts[:-1] if package else parts)] = (path, package)
    return found


def imported(name: str, path: Path, package: bool, known) -> set[str]:
    """The package's modules that module ``name`` imports anywhere in its text, relative imports resolved.

    ``from X import n`` depends on ``X.n`` where that is a module, else on ``X`` (its ``__init__``)."""
    here = name if package else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = here.split(".")[:len(here.split(".")) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
    return {module for module in found if module in known and module != name}


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imported(name, path, package, known) for name, (path, package) in known.items()}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``edges`` (its modules, the first repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_the_graph_sees_every_kind_of_import():
    edges = graph()
    assert "tiltrec.strategies.job" in edges["tiltrec.strategies.driver"]  # from .job import ...
    assert "tiltrec.projectors.cpu" in edges["tiltrec.strategies.backends.cpu"]  # inside a method, two levels up
    assert "tiltrec.strategies.backends.cuda" in edges["tiltrec.reconstruction"]  # inside a function


def test_the_finder_reports_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_package_has_no_import_cycle():
    cycle = find_cycle(graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_flat_wbp_and_sirt_runs_load_no_numba(tmp_path):
    """The compiled kernels serve a flat WBP and SIRT whole (projectors, element-wise steps, storing), and a WBP with
    IMOD's interpolation (imod_interp.c), with and without a pitch: importing Numba and loading its first kernel cost
    such a run 0.6-1.0 s of start-up, more than the work of a small job."""
    import subprocess
    import sys

    code = f"""
import sys
import numpy as np
import tiltrec
views = np.random.default_rng(0).random((9, 12, 16), dtype=np.float32)
for alg in ("wbp", "sirt"):
    tiltrec.reconstruct(views, np.linspace(-40, 40, 9), alg=alg, thickness=6, output="{tmp_path}/" + alg + ".mrc")
for pitch in (0.0, 2.0):
    tiltrec.reconstruct(views, np.linspace(-40, 40, 9), alg="wbp", thickness=6, interp="imod", pitch=pitch,
                        output="{tmp_path}/imod" + str(pitch) + ".mrc")
print("tiltrec.projectors.imod_cpu" in sys.modules, "numba" in sys.modules)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True False"  # IMOD's interpolation ran, and Numba was not loaded


def test_a_run_on_mrc_files_loads_no_h5py(tmp_path):
    """h5py is imported where an EMAN2 HDF5 file is opened or made: its import cost every run ~0.05 s of start-up."""
    import subprocess
    import sys

    import mrcfile
    import numpy as np

    with mrcfile.new(tmp_path / "in.mrc") as mrc:
        mrc.set_data(np.random.default_rng(0).random((5, 12, 16), dtype=np.float32))
    (tmp_path / "in.tlt").write_text("\n".join(str(a) for a in np.linspace(-40, 40, 5)) + "\n")
    code = f"""
import sys
from tiltrec.cli.commands import tiltrec_mpi
sys.argv = ["tiltrec-mpi", "--alg", "wbp", "--thickness", "6", "--quiet", "{tmp_path}/in.mrc", "{tmp_path}/in.tlt",
            "{tmp_path}/out.mrc"]
tiltrec_mpi()
"""
    # the command ends with os._exit: -X importtime lists every module it imported, on stderr
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True, timeout=300)
    assert (tmp_path / "out.mrc").exists(), done.stderr
    imported = [line.split("|")[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")]
    assert "numpy" in imported and "tiltrec.formats.hdf5" in imported
    assert not [name for name in imported if name.split(".")[0] == "h5py"]
