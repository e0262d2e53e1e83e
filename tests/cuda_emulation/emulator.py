"""Run the package's CUDA kernels on the CPU: the same ``.cu`` sources, built by the host C++ compiler with
``cuda_emu.h`` into a shared library, each kernel called once per thread over the whole launch grid.

The library is built once per source version (a hash of the sources, the header and the flags names its folder
under the temporary directory) and loaded with ctypes; NumPy arrays pass as pointers.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from tiltrec.projectors.cuda.launcher import Kernel, check_args, kernel_files, kernels, kernels_in

HEADER = Path(__file__).with_name("cuda_emu.h")
FLAGS = ("-O2", "-std=c++17", "-shared", "-fPIC", "-fno-fast-math")
_CTYPES = {"int": (ctypes.c_int, np.int32), "float": (ctypes.c_float, np.float32),
           "double": (ctypes.c_double, np.float64), "long long": (ctypes.c_longlong, np.int64)}


def _wrapper(k: Kernel) -> str:
    """``emu_NAME(grid, block, params)``: the kernel over every thread of every block."""
    decls = ", ".join(f"{t} {n}" for t, n in k.params)
    names = ", ".join(n for _, n in k.params)
    return f"""
extern "C" void emu_{k.name}(unsigned emu_gx, unsigned emu_gy, unsigned emu_gz, unsigned emu_nx, unsigned emu_ny,
                             unsigned emu_nz, {decls})
{{
    gridDim = {{emu_gx, emu_gy, emu_gz}};
    blockDim = {{emu_nx, emu_ny, emu_nz}};
    // loop variables named so that they never hide a kernel parameter
    for (unsigned emu_bz = 0; emu_bz < emu_gz; ++emu_bz) for (unsigned emu_by = 0; emu_by < emu_gy; ++emu_by)
    for (unsigned emu_bx = 0; emu_bx < emu_gx; ++emu_bx) {{
        blockIdx = {{emu_bx, emu_by, emu_bz}};
        for (unsigned emu_tz = 0; emu_tz < emu_nz; ++emu_tz) for (unsigned emu_ty = 0; emu_ty < emu_ny; ++emu_ty)
        for (unsigned emu_tx = 0; emu_tx < emu_nx; ++emu_tx) {{
            threadIdx = {{emu_tx, emu_ty, emu_tz}};
            {k.name}({names});
        }}
    }}
}}
"""


def emulation_source(files: tuple[Path, ...]) -> str:
    """One C++ translation unit: the header, the .cu files, and a launcher per kernel."""
    parts = [f'#include "{HEADER}"'] + [f'#include "{p}"' for p in files]
    return "\n".join(parts) + "\n" + "".join(_wrapper(k) for k in kernels_in(files).values())


def compiler() -> str | None:
    """The host C++ compiler: $CXX, g++ or c++, whichever is found first."""
    found = (shutil.which(name) for name in (os.environ.get("CXX"), "g++", "c++") if name)
    return next((path for path in found if path), None)


@functools.cache
def build(files: tuple[Path, ...] | None = None) -> Path:
    """The emulation library of the .cu ``files`` (default: the package's), built if this version of the sources
    has not been built yet."""
    cxx = compiler()
    if cxx is None:
        raise RuntimeError("no C++ compiler (g++) to build the CUDA emulation")
    files = tuple(kernel_files()) if files is None else tuple(Path(f).resolve() for f in files)
    source = emulation_source(files)
    digest = hashlib.sha256("\n".join([source, HEADER.read_text(), *(p.read_text() for p in files),
                                       cxx, *FLAGS]).encode()).hexdigest()[:16]
    folder = Path(tempfile.gettempdir()) / f"tiltrec-cuda-emu-{digest}"
    library = folder / "kernels.so"
    if not library.exists():
        folder.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(dir=folder))
        (work / "emu.cpp").write_text(source)
        done = subprocess.run([cxx, *FLAGS, "-o", str(work / "kernels.so"), str(work / "emu.cpp")],
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"building the CUDA emulation failed:\n{done.stderr}")
        os.replace(work / "kernels.so", library)  # atomic: parallel test runs never load a half-written file
        shutil.rmtree(work, ignore_errors=True)
    return library


class EmulatedLauncher:
    """The launcher interface of ``tiltrec.projectors.cuda.launcher`` on the CPU, for NumPy arrays; ``files``: the
    .cu files whose kernels it runs (default: the package's)."""

    def __init__(self, files: tuple[Path, ...] | None = None):
        self.library = ctypes.CDLL(str(build(files)))
        self.table = kernels() if files is None else kernels_in(files)
        self.launches: dict[str, int] = {}  # kernel name -> number of launches (tests check what ran)

    def launch(self, name, grid, block, args) -> None:
        kernel = self.table[name]
        if len(args) != len(kernel.params):
            raise TypeError(f"kernel {name} takes {len(kernel.params)} arguments, got {len(args)}")
        check_args(name, args)
        values = [_argument(name, decl, arg) for decl, arg in zip(kernel.params, args)]
        dims = [ctypes.c_uint(int(v)) for v in (*grid, *block)]
        getattr(self.library, f"emu_{name}")(*dims, *values)
        self.launches[name] = self.launches.get(name, 0) + 1


def _argument(kernel: str, decl: tuple[str, str], arg):
    """The ctypes value of one argument, checked against its declaration as a GPU launch would need it."""
    ctype, name = decl
    if "*" in ctype:
        dtype = np.float64 if "double" in ctype else np.float32
        if not isinstance(arg, np.ndarray) or arg.dtype != dtype:
            raise TypeError(f"kernel {kernel}: {name} must be a {np.dtype(dtype).name} array")
        return ctypes.c_void_p(arg.ctypes.data)
    c_type, np_type = _CTYPES[ctype]
    if not isinstance(arg, np_type):
        raise TypeError(f"kernel {kernel}: {name} must be {np_type.__name__} ({ctype}), got {type(arg).__name__}")
    return c_type(arg)
