"""The GPU a ``-cuda`` command runs on, through CuPy: found and checked once, then the streams, events, pinned
host buffers and memory figures the slab pipeline (``strategies.backends.cuda``) needs.

CuPy is imported here only, when a CUDA reconstruction starts; without a usable GPU the commands stop with one line
that says so and names the CPU command; they never fall back to the CPU silently.
"""

from __future__ import annotations

import shlex
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ...errors import InputError, TiltrecError
from .launcher import CupyLauncher
from ...options.spelling import spelled

HEADROOM = 0.9  # share of the free device memory a run plans to use: cuFFT plans and CuPy's pool need the rest


def open_device(index: int | None, local_rank: int, local_size: int, cpu_command: str) -> "CupyDevice":
    """The GPU numbered ``index`` (default: ``local_rank`` modulo the node's GPUs), made current."""
    hint = f"run {cpu_command} to reconstruct on CPUs"
    try:
        import cupy
    except Exception as exc:  # not installed, or an installation that fails to load
        raise TiltrecError(f"no usable CUDA GPU: CuPy cannot be imported ({type(exc).__name__}); install it with: "
                           f"{install_command('cuda12')} (cuda13 for a CUDA 13 driver); {hint}") from None
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception:  # no driver, or no device visible
        count = 0
    if count == 0:
        raise TiltrecError(f"no usable CUDA GPU (no device or no NVIDIA driver found); {hint}")
    if index is not None and not 0 <= index < count:
        raise InputError(f"{spelled('device')} {index}: this node has {count} GPU(s), numbered 0 to {count - 1}")
    chosen = local_rank % count if index is None else index
    sharing = local_size if index is not None else len(range(chosen, local_size, count))
    try:
        return CupyDevice(cupy, chosen, max(1, sharing))
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TiltrecError(f"GPU {chosen} is not usable ({reason}); {hint}") from None


def device_for(program: str, index: int | None, world) -> "CupyDevice":
    """The GPU of this MPI rank (``world``) for ``program``; without one, an error that names the CPU command."""
    cpu = program.replace("-cuda", "-mpi") if program.endswith("-cuda") else "with backend='cpu'"
    return open_device(index, world.local_rank, world.local_size, cpu)


def install_command(extra: str) -> str:
    """The pip command that adds ``extra`` (cuda12, cuda13) to this tiltrec, the way it was installed: the package
    index has no tiltrec for a checkout, so a checkout (editable or not) is named by its folder, a URL by itself,
    and only a tiltrec from an index by its name.  pip records where it installed from in direct_url.json."""
    import json
    from importlib import metadata  # here, not at the top: ~0.1 s of every GPU run's start-up otherwise
    from urllib.parse import unquote, urlparse

    try:
        direct = json.loads(metadata.distribution("tiltrec").read_text("direct_url.json") or "{}")
    except metadata.PackageNotFoundError:  # not installed: imported from a source tree on sys.path
        root = Path(__file__).resolve().parents[4]
        direct = {"url": root.as_uri(), "dir_info": {"editable": True}} if (root / "pyproject.toml").exists() else {}
    url = direct.get("url", "")
    if url.startswith("file:"):
        editable = "-e " if direct.get("dir_info", {}).get("editable") else ""
        target = editable + shlex.quote(f"{unquote(urlparse(url).path)}[{extra}]")
    elif url:
        vcs = f"{direct['vcs_info']['vcs']}+" if "vcs_info" in direct else ""
        target = shlex.quote(f"tiltrec[{extra}] @ {vcs}{url}")
    else:
        target = shlex.quote(f"tiltrec[{extra}]")
    return f"{shlex.quote(sys.executable)} -m pip install {target}"


class CupyDevice:
    """One CUDA device: ``xp`` (cupy), a kernel ``launcher``, streams, pinned buffers, memory figures."""

    def __init__(self, cupy, index: int, sharing: int = 1):
        import cupyx

        self.xp = cupy
        self.index = index
        self.sharing = sharing  # ranks of this node that use the same GPU
        self.launcher = CupyLauncher(cupy)
        self._cupyx = cupyx
        cupy.cuda.Device(index).use()
        props = cupy.cuda.runtime.getDeviceProperties(index)
        self.name = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
        cupy.zeros(1).sum()  # creates the context now: a broken driver fails here, before any output exists

    def describe(self) -> str:
        return f"GPU {self.index} ({self.name})"

    def free_memory(self) -> int:
        """Bytes this rank may plan to use on the device: free memory (and CuPy's cached blocks), shared."""
        free, _ = self.xp.cuda.runtime.memGetInfo()
        return int((free + self.xp.get_default_memory_pool().free_bytes()) * HEADROOM) // self.sharing

    def stream(self):
        return self.xp.cuda.Stream(non_blocking=True)

    def host_buffer(self, size: int) -> np.ndarray:
        """``size`` float32 in page-locked host memory (copies from and to it run asynchronously); from any
        thread (allocated in this device's context)."""
        with self.xp.cuda.Device(self.index):
            return self._cupyx.empty_pinned((size,), dtype=np.float32)

    def upload(self, host: np.ndarray, device_array, stream) -> None:
        device_array.set(host, stream=stream)

    def download(self, device_array, host: np.ndarray, stream) -> None:
        device_array.get(stream=stream, out=host, blocking=False)

    def synchronize(self) -> None:
        self.xp.cuda.Device(self.index).synchronize()

    @contextmanager
    def managed_memory(self):
        """Allocate in CUDA managed memory (the driver pages between host and device) inside the block."""
        cupy = self.xp
        pool = cupy.cuda.MemoryPool(cupy.cuda.malloc_managed)
        cupy.cuda.set_allocator(pool.malloc)
        try:
            yield
        finally:
            self.synchronize()
            cupy.cuda.set_allocator(cupy.get_default_memory_pool().malloc)
            pool.free_all_blocks()
