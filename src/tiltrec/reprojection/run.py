"""Running a reprojection: read the tomogram a block of slices at a time, reproject them at every angle, write the
rows of the output tilt series; under MPI each rank takes its share of the slices and rank 0 commits the file.
With local alignments a block reads the slices and columns its rays reach (reprojection.local_rays)."""

from __future__ import annotations

import warnings
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .. import __version__
from ..errors import file_error
from ..formats import VolumeStats, VolumeWriter, open_stack
from ..formats.file_roles import FileUse, check_distinct
from ..formats.input_file import BadValues
from ..formats.layout import file_shape, slice_axis, slices_view
from ..formats.mrc import imod_label
from ..inputs import stack_stats
from ..interrupts import deferred
from ..mpi import collectively, committing, detect_world
from ..output_range import check_stored_range
from ..progress import Progress
from ..projectors.elementwise import ten_to_the
from .geometry import Plan, Request, log10f, plan, slices_needed

BLOCK_BYTES = 16 << 20  # output rows computed between two writes (and two chances to stop on a signal)
LOCAL_MARGIN = 2  # slices read beyond tilt's estimate of those a block's rays need (local alignments)
TABLE_MARGIN = 3  # slices beyond those whose projection factors a block's Newton steps get


@dataclass(frozen=True)
class LogScale:
    """tilt's LOG entry: the views were log10(value + base); reprojections go back to the views' values
    (``10 ** (sum + shift) - base`` with the shift that restores the views' mean ``view_mean``)."""

    base: float
    view_mean: float


@dataclass(frozen=True)
class Output:
    path: Path
    mode: int = 2
    overwrite: bool = False
    pixel_size: float = 1.0
    labels: tuple[str, ...] = ()


def _read_slices(stack, layout: str, first: int, last: int, p: Plan, path: Path, columns=None) -> np.ndarray:
    """Slices ``first .. last`` (1-based) of the tomogram, cropped to the rows and the columns reprojected (or
    ``columns``, 1-based, inclusive) and divided as the rays sum them: float32 [slice, row, column], contiguous."""
    try:
        if slice_axis(layout) == 0:
            block = stack.read(range(first - 1, last), slice(None))
        else:
            block = stack.read(slice(None), slice(first - 1, last))
    except BadValues as exc:
        raise file_error(path, f"{exc.problem} in section {exc.view + 1} of the file (1-based, as 3dmod numbers "
                               f"them)") from None
    (y0, y1), (x0, x1) = p.y_range, columns or p.x_range
    vol = np.ascontiguousarray(slices_view(layout, block)[:, y0 - 1:y1, x0 - 1:x1])  # (a fresh array: ours)
    p.descale(vol)
    return vol


def _to_views_scale(rows: np.ndarray, p: Plan, log: LogScale | None) -> np.ndarray:
    """tilt's last step for each output row: undo a LOG of the views, in float32 as tilt does: its shift restores
    the views' mean over a ray's length through the volume (in Z, or in X at high tilt).  Returns the rows (the
    same array when there is no LOG or it is C-contiguous, else a contiguous copy)."""
    if log is None:
        return rows
    rows = np.ascontiguousarray(rows)
    thick = np.float32(p.y_range[1] - p.y_range[0] + 1)
    width = np.float32(p.out_width)
    base = np.float32(log.base)
    level = log10f(np.float32(log.view_mean) + base)
    for v, (cb, sb) in enumerate(p.views[:, :2]):
        along = thick * p.fill / abs(cb) if abs(sb * thick) <= abs(cb * width) else width * p.fill / abs(sb)
        ten_to_the(rows[v], level - along, base)  # the C library's powf, as tilt
    return rows


def reproject_file(tomogram: Path, layout: str, req: Request, out: Output, *, program: str, quiet: bool = False,
                   log: LogScale | None = None, threads: int | None = None,
                   read_files: tuple[FileUse, ...] = (), backend: str = "cpu", device: int | None = None) -> None:
    """Reproject ``tomogram`` (``layout``: xzy or xyz) as ``req`` says into ``out``: a tilt series (one view per
    angle, one row per slice reprojected), written whole or not at all.  ``req.mean`` None: the tomogram's mean
    is computed (its header has none).  ``backend`` "cuda": the rays run on this rank's GPU (``device``: its
    number, default as for a reconstruction), with the same numbers."""
    from ..cpu_threads import set_threads

    world = detect_world()
    p = plan(replace(req, mean=req.mean or 0.0))  # the request checked before any file is opened
    check_distinct([FileUse("tomogram", tomogram), *read_files], [FileUse("output", out.path)])
    writer = None

    def undo():
        if writer is not None:
            writer.release() if world.rank > 0 else writer.abort()

    with ExitStack() as files, deferred():
        with collectively(world, undo):
            gpu = _open_gpu(program, device, world) if backend == "cuda" else None
            stack = files.enter_context(open_stack(tomogram))
            want = file_shape(layout, req.width, req.nslices, req.thickness)
            if (stack.nviews, stack.ny, stack.nx) != want:
                raise file_error(tomogram, f"is {stack.nx} x {stack.ny} x {stack.nviews}; a tomogram of width "
                                           f"{req.width}, thickness {req.thickness} and {req.nslices} slices in "
                                           f"layout {layout} is {want[2]} x {want[1]} x {want[0]}")
            if req.mean is None:
                p = plan(replace(req, mean=stack_stats(stack)[2]))
            nviews = len(p.views)
            if world.rank == 0:
                ours = imod_label(f"{program} {__version__}: Reprojection from tomogram")
                writer = VolumeWriter(out.path, width=p.out_width, nslices=p.nlines, thickness=nviews,
                                      layout="parallel", mode=out.mode, pixel_size=out.pixel_size,
                                      labels=[*out.labels, ours], overwrite=out.overwrite)
        temporary = world.bcast(writer.temporary if writer is not None else None)
        with collectively(world, undo):
            if world.rank > 0:
                writer = VolumeWriter(out.path, width=p.out_width, nslices=p.nlines, thickness=nviews,
                                      layout="parallel", mode=out.mode, pixel_size=out.pixel_size,
                                      overwrite=out.overwrite, join=temporary)
            set_threads(threads or world.default_threads())
            mine = world.share(p.nlines)
            step = max(1, BLOCK_BYTES // (4 * nviews * p.out_width))
            progress = Progress(len(mine), f"{program}: reprojecting", quiet=quiet or world.rank > 0)
            for start in range(mine.start, mine.stop, step):
                lines = range(p.z_range[0] + start, p.z_range[0] + min(start + step, mine.stop))
                rows = _reproject_block(stack, layout, p, lines, req.nslices, tomogram, gpu)
                rows = _to_views_scale(rows, p, log)
                writer.write_slab(start, rows)
                progress.advance(len(lines))
            progress.finish()
            if world.rank > 0:
                writer.release()
        gathered = world.allgather(writer.stats)
        with committing(world, undo):
            if world.rank == 0:
                merged = VolumeStats()
                for stats in gathered:
                    merged = merged.merge(stats)
                writer.stats = merged
                check_stored_range(writer.path, merged, out.mode, (0.0, 1.0))
                writer.commit()


def _open_gpu(program: str, index: int | None, world):
    from ..projectors.cuda.device import device_for

    return device_for(program, index, world)


def _reproject_block(stack, layout: str, p: Plan, lines: range, nslices: int, path: Path, gpu) -> np.ndarray:
    """Output ``lines`` at every angle: float32 [view, x, line] (any strides), on ``gpu`` when given."""
    from .imod_rays import reproject_lines, reproject_untilted

    if p.local is not None:
        return _reproject_local(stack, layout, p, lines, path, gpu).transpose(0, 2, 1)
    first, last = slices_needed(p, lines, nslices)
    vol = _read_slices(stack, layout, first, last, p, path)
    numbers = np.arange(lines.start, lines.stop, dtype=np.int64)
    if gpu is not None:  # one kernel for every ray: its untilted rows equal reproject_untilted's
        return _reproject_on_gpu(gpu, vol, first, nslices, numbers, p).transpose(0, 2, 1)
    if p.tilted:
        rows = np.empty((len(p.views), len(lines), p.out_width), np.float32)
        reproject_lines(vol, first, nslices, numbers, p.views, p.params, rows)
        return rows.transpose(0, 2, 1)
    rows = np.empty((len(p.views), p.out_width, len(lines)), np.float32)  # the lines along the last axis: every
    reproject_untilted(np.ascontiguousarray(vol.transpose(1, 2, 0)), p.views, p.params, rows)  # ray serves all
    return rows


def _reproject_on_gpu(gpu, vol: np.ndarray, first: int, nslices: int, lines: np.ndarray, p: Plan) -> np.ndarray:
    """imod_rays.reproject_lines on the GPU (reprojection.cuda_rays): float32 [view, line, x] on the host."""
    from .cuda_rays import reproject_lines_cuda

    d_rows = gpu.xp.empty((len(p.views), len(lines), p.out_width), np.float32)
    reproject_lines_cuda(_to_device(gpu, vol), first, nslices, lines, p.views, p.params, d_rows, gpu.xp, gpu.launcher)
    return _to_host(gpu, d_rows)


def _to_device(gpu, host: np.ndarray):
    device = gpu.xp.empty(host.shape, host.dtype)
    gpu.upload(np.ascontiguousarray(host), device, None)
    return device


def _to_host(gpu, device) -> np.ndarray:
    host = np.empty(device.shape, np.float32)
    gpu.download(device, host, None)
    gpu.synchronize()
    return host


def _reproject_local(stack, layout: str, p: Plan, lines: range, path: Path, gpu=None) -> np.ndarray:
    """Output ``lines`` at every angle with local alignments: float32 [view, line, x], the rays on ``gpu`` when
    given (reprojection.cuda_local_rays, the same numbers).  The block reads the slices tilt estimates its rays need
    (with a margin); should a ray reach beyond them, it is done again from every slice tilt holds for those lines
    (the same numbers either way)."""
    from ..local_alignments import view_factors
    from . import local_rays as lr

    lp = p.local
    k0, k1 = lines.start - p.z_range[0], lines.stop - p.z_range[0]
    loads, needed = lp.loads[k0:k1], lp.needed[k0:k1]
    held = int(loads[:, 0].min()), int(loads[:, 1].max())
    first = max(held[0], int(needed[:, 0].min()) - LOCAL_MARGIN)
    last = min(held[1], int(needed[:, 1].max()) + LOCAL_MARGIN)
    numbers = np.arange(lines.start, lines.stop, dtype=np.int64)
    shape = (len(p.views), len(lines), p.out_width)
    rows = np.empty(shape, np.float32) if gpu is None else gpu.xp.empty(shape, np.float32)
    while True:
        vol = _read_slices(stack, layout, first, last, p, path, columns=lp.columns)
        if gpu is not None:
            vol = _to_device(gpu, vol)
        t_first, t_last = max(held[0], first - TABLE_MARGIN), min(held[1], last + TABLE_MARGIN)
        slices = np.arange(t_first, t_last + 1, dtype=np.int64) + int(round(float(lp.lp[lr.YPROJ_OFFSET])))
        columns = np.arange(lp.columns[0], lp.columns[1] + 1, dtype=np.int64)
        flags = 0
        for v in range(len(p.views)):
            table = view_factors(lp.model, v, columns, slices)
            limits = np.empty((len(lines), 2), np.float32)
            for load in {tuple(row) for row in loads.tolist()}:
                at = np.all(loads == load, axis=1)
                limits[at] = lr.xproj_limits(lp.tables, lp.grid, lp.centres, v, lp.lp, lp.li, *load)
            inputs = (first, table, t_first, lp.tables, lp.grid, lp.centres, lp.area_delz, v, p.views[v], numbers,
                      loads, limits, lp.lp, lp.li)
            if gpu is None:
                flags |= lr.reproject_view(vol, *inputs, rows[v])
            else:
                from .cuda_local_rays import reproject_view_cuda

                inputs = (first, _to_device(gpu, table), *inputs[2:])
                flags |= reproject_view_cuda(vol, *inputs, rows[v], gpu.xp, gpu.launcher)
            if flags & (lr.MISSED_TABLE | lr.MISSED_VOLUME):
                break
        if not flags & (lr.MISSED_TABLE | lr.MISSED_VOLUME):
            break
        if (first, last) == held:
            raise AssertionError(f"local reprojection of slices {lines.start}-{lines.stop - 1} reaches beyond the "
                                 f"slices tilt holds")
        first, last = held
    if flags & lr.STALLED:
        warnings.warn("some rays with local alignments could not step up (IMOD's tilt would not finish this "
                      "reprojection); they were stopped where they stalled")
    return rows if gpu is None else _to_host(gpu, rows)
