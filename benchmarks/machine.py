"""What the numbers were measured on: CPU, SIMD flags, memory, software versions, load, date."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

SIMD_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512vl", "avx512bw")


def _cpuinfo() -> dict:
    """Model, logical CPUs, physical cores and flags from /proc/cpuinfo (empty values where it is missing)."""
    model, flags, cores, sockets = "", set(), set(), set()
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {"model": platform.processor() or platform.machine(), "flags": set(), "physical": None}
    phys = core = None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if key == "model name" and not model:
            model = value
        elif key == "flags" and not flags:
            flags = set(value.split())
        elif key == "physical id":
            phys = value
            sockets.add(value)
        elif key == "core id":
            core = value
        elif not key and phys is not None and core is not None:  # blank line ends one processor
            cores.add((phys, core))
            phys = core = None
    if phys is not None and core is not None:
        cores.add((phys, core))
    return {"model": model, "flags": flags, "physical": len(cores) or None, "sockets": len(sockets) or None}


def _meminfo_gib(field: str = "MemTotal") -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return None


def _version(module: str) -> str:
    try:
        return __import__(module).__version__
    except Exception:  # not installed or no version
        return "-"


def _git(root: Path) -> str:
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "-"
    return (head + (" (with uncommitted changes)" if dirty else "")) if head else "-"


def filesystem_of(path: Path) -> str:
    """Filesystem type of the mount holding ``path`` (tmpfs means files live in RAM)."""
    path = Path(path).resolve()
    best, kind = "", "?"
    try:
        for line in Path("/proc/mounts").read_text().splitlines():
            parts = line.split()
            if len(parts) >= 3:
                mount = parts[1]
                if (str(path) == mount or str(path).startswith(mount.rstrip("/") + "/")) and len(mount) > len(best):
                    best, kind = mount, parts[2]
    except OSError:
        pass
    return kind


def sequential_write_seconds(folder: Path, nbytes: int, direct: bool = False, block: int = 64 << 20) -> float:
    """Seconds to write ``nbytes`` into a new file in ``folder`` with sequential writes of one zeroed block, closed
    without fsync (as the commands write), then removed: what writing an output of that size costs here at the
    least.  ``direct``: through the commands' own writer (formats/direct_io.py: around the page cache where the
    file system allows), else plain buffered writes."""
    from tiltrec.formats.direct_io import DataWriter, block_at

    _, buffer = block_at(None, (block,), "u1", 0)  # aligned, as the commands' slab buffers are
    buffer[:] = 0
    path = folder / "sequential_write.bin"
    started = time.perf_counter()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            writer = DataWriter(path, fd) if direct else None
            for done in range(0, nbytes, block):
                part = buffer[:min(block, nbytes - done)]
                if writer:
                    writer.write(part, done)
                else:
                    os.pwrite(fd, part, done)  # a block of at most 64 MiB: one call writes it all on Linux
            if writer:
                writer.close()
        finally:
            os.close(fd)
        return time.perf_counter() - started
    finally:
        path.unlink(missing_ok=True)


def load_average() -> str:
    try:
        return " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "-"


def describe(root: Path, threads: int) -> list[tuple[str, str]]:
    """(item, value) rows describing this machine and software."""
    import numba

    info = _cpuinfo()
    flags = info["flags"]
    logical = os.cpu_count()
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = logical
    try:
        layer = numba.threading_layer()
    except ValueError:  # no parallel region has run yet
        layer = f"not yet chosen (config: {numba.config.THREADING_LAYER})"
    simd = ", ".join(f"{f} {'yes' if f in flags else 'no'}" for f in SIMD_FLAGS) if flags else "unknown"
    total = _meminfo_gib()
    avail = _meminfo_gib("MemAvailable")
    return [
        ("Date", datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")),
        ("CPU", info["model"] or "unknown"),
        ("CPUs", f"{logical} logical, {usable} usable by this process, {info['physical'] or '?'} physical cores, "
                 f"{info.get('sockets') or '?'} socket(s)"),
        ("Numba threads used", f"{threads} (NUMBA_NUM_THREADS={numba.config.NUMBA_NUM_THREADS}, "
                               f"threading layer {layer})"),
        ("SIMD", simd),
        ("RAM", f"{total:.1f} GiB total, {avail:.1f} GiB available at start" if total and avail else "unknown"),
        ("OS", f"{platform.system()} {platform.release()} {platform.machine()}"),
        ("Python", sys.version.split()[0]),
        ("numpy / scipy / numba", f"{_version('numpy')} / {_version('scipy')} / {_version('numba')}"),
        ("tiltrec", f"{_version('tiltrec')} at git {_git(root)}"),
    ]


def simd_level(flags: set[str]) -> str:
    """The widest vector instruction set the CPU reports: AVX-512, AVX2, AVX, SSE4.2 or unknown."""
    if not flags:
        return "unknown"
    if "avx512f" in flags:
        return "AVX-512"
    for flag, name in (("avx2", "AVX2 (no AVX-512)"), ("avx", "AVX (no AVX2)"), ("sse4_2", "SSE4.2 (no AVX)")):
        if flag in flags:
            return name
    return "below SSE4.2"


def one_line() -> str:
    """Date, CPU model, SIMD level and logical CPUs in one line: where a ratio was measured."""
    info = _cpuinfo()
    return (f"{datetime.now().astimezone().strftime('%Y-%m-%d %H:%M %Z')}, {info['model'] or 'unknown CPU'}, "
            f"{simd_level(info['flags'])}, {os.cpu_count()} logical CPU(s)")
