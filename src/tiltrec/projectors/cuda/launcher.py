"""Kernel sources and how to launch them: ``launch(name, grid, block, args)`` on a GPU through CuPy, or on the CPU
through the test suite's emulator (``tests/cuda_emulation``), from the same ``.cu`` files.

Arguments are C-contiguous arrays (of the launcher's array module; float32 for ``float*``, float64 for
``double*``) and NumPy scalars whose type matches the kernel's parameter (``np.int32`` for ``int``, ``np.float32``
for ``float``).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

KERNEL_DIR = Path(__file__).parent / "kernels"

_KERNEL = re.compile(r'extern\s+"C"\s+__global__\s+void\s+(\w+)\s*\(([^)]*)\)', re.S)


@dataclass(frozen=True)
class Kernel:
    """A ``__global__`` function: its name, its source file and its parameter declarations (type, name)."""

    name: str
    path: Path
    params: tuple[tuple[str, str], ...]


def kernel_files() -> list[Path]:
    """The ``.cu`` files of the package."""
    return sorted(KERNEL_DIR.glob("*.cu"))


def parse_kernels(path: Path) -> list[Kernel]:
    """The kernels declared in ``path`` as ``extern "C" __global__ void name(type name, ...)``."""
    kernels = []
    for match in _KERNEL.finditer(path.read_text()):
        params = []
        for decl in match.group(2).split(","):
            words = decl.replace("*", " * ").split()
            params.append((" ".join(words[:-1]), words[-1]))
        kernels.append(Kernel(match.group(1), path, tuple(params)))
    return kernels


def kernels_in(paths) -> dict[str, Kernel]:
    """Every kernel of the ``.cu`` files ``paths``, by name."""
    return {k.name: k for path in paths for k in parse_kernels(Path(path))}


@functools.cache
def kernels() -> dict[str, Kernel]:
    """Every kernel of the package, by name."""
    return kernels_in(kernel_files())


class Launcher(Protocol):
    """Runs a kernel over a grid of blocks (CUDA's launch configuration)."""

    def launch(self, name: str, grid: tuple[int, int, int], block: tuple[int, int, int], args: tuple) -> None:
        ...


def check_args(name: str, args: tuple) -> None:
    """Kernels index flat arrays: refuse a strided view, which a GPU would read wrongly without a word."""
    for position, arg in enumerate(args):
        flags = getattr(arg, "flags", None)
        if flags is not None and not flags.c_contiguous:
            raise ValueError(f"kernel {name}: argument {position} is not C-contiguous")


class CupyLauncher:
    """Launches on the current CuPy device; each ``.cu`` file is compiled (NVRTC) once per device and cached
    (in the process, and by CuPy on disk).  ``table``: the kernels by name (default: the package's; a benchmark
    may give another version's, ``kernels_in``)."""

    def __init__(self, cupy, table: dict[str, Kernel] | None = None):
        self.cupy = cupy
        self.table = kernels() if table is None else table

    def launch(self, name, grid, block, args) -> None:
        check_args(name, args)
        device = self.cupy.cuda.Device().id
        _module(self.cupy, device, self.table[name].path).get_function(name)(grid, block, args)


@functools.cache
def _module(cupy, device: int, path: Path):
    return cupy.RawModule(code=path.read_text(), options=("--std=c++14",))


def blocks(n: int, per_block: int) -> int:
    """Blocks of ``per_block`` threads covering ``n`` items."""
    return max(1, -(-n // per_block))
