"""ASTRA's CUDA code on tiltrec's geometry: the mapping onto ``parallel3d_vec``, ASTRA's kernels and SIRT3D_CUDA.

The mapping lets ASTRA compute on tiltrec's voxel grid and detector pixels, so that the two can be timed and
compared on the same job (``benchmarks/gpu.py``, ``benchmarks/device_check.py``).

Axes.  tiltrec's tomogram is stored ``[y, z, x]`` (slices along the tilt axis, thickness, width: the MRC file
order of ``--layout xzy``, what ``read_volume`` returns).  ASTRA's 3-D volume is indexed ``[slice, row, col]``,
its world axes ``(z, y, x)``.  With ``create_vol_geom(thickness, width, slices)`` the two arrays are the same
memory: ASTRA's x is tiltrec's X (width), ASTRA's y is tiltrec's Z (thickness), ASTRA's z is tiltrec's Y (along
the tilt axis).  ASTRA places voxel ``i`` of an axis of ``n`` voxels at ``i + 0.5 - n/2`` (the default window,
centred on the origin; in 3-D no axis runs backwards).  Projections: ASTRA's ``[detector row, view, detector
column]``, i.e. the tilt series ``[view, row, col]`` transposed to ``(1, 0, 2)``.

Detector.  ``parallel3d_vec`` gives per view the ray direction, the detector centre ``d`` and the steps ``U``
(one column) and ``V`` (one row); a point ``P`` lands where ``P + t ray = d + u U + v V``, and pixel ``(row,
col)`` has its centre at ``d + (col - cols/2 + 0.5) U + (row - rows/2 + 0.5) V``.  tiltrec's projection model
(docs/conventions.md, IMOD's 1-based centres) is orthographic: with the X-axis tilt ``a`` and the tilt ``t`` the
column is ``xcen_in - 1 + P . e_u`` and the row ``center_slice - 1 + P . e_v`` (0-based), ``e_u = (cos t,
-sin a sin t, -cos a sin t)`` and ``e_v = (0, cos a, -sin a)`` in tiltrec's centred ``(X, Y, Z)``.  Both are unit
vectors and orthogonal, so ``U = e_u``, ``V = e_v``, the ray is ``e_u x e_v``, and ``d`` carries the centres.

``tests/test_astra_geometry.py`` checks the mapping on CPUs: ASTRA's definition evaluated in NumPy, ASTRA's own
``projectPoint``, and ASTRA's CPU 2-D projector on the slice vectors, against tiltrec's model and its kernels'
coefficients.  On a GPU ``python -m benchmarks.astra_gpu geometry`` checks it through FP3D_CUDA.

Command line (each a fresh process, so that a GPU fault in ASTRA cannot take the caller down)::

    python -m benchmarks.astra_gpu kernels --width 2048 --thickness 512 --slices 2048 --pitch 0
    python -m benchmarks.astra_gpu sirt STACK TLT OUT --iter 30 --thickness 256 [--cpu]
    python -m benchmarks.astra_gpu geometry [--cpu]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as a script: python benchmarks/astra_gpu.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tiltrec.geometry import Geometry  # noqa: E402

NVIEWS = 61


def available() -> str | None:
    """None where ASTRA's CUDA code can run here, else the reason it cannot (one line)."""
    try:
        import astra
    except ImportError:
        return "astra-toolbox is not installed (it comes with the test extra: pip install -e '.[test]')"
    if not astra.has_feature("cuda"):
        return f"ASTRA {astra.__version__} was built without CUDA"
    if not astra.use_cuda():
        return f"ASTRA {astra.__version__} finds no usable CUDA GPU (astra.use_cuda() is False)"
    return None


# ------------------------------------------------------------------------------------------------- the mapping


def _span(geom: Geometry, y0: int | None, y1: int | None, rows: tuple[int, int] | None):
    y0, y1 = geom.slices if y0 is None else (y0, y1)
    r0, r1 = (0, geom.ny) if rows is None else rows
    return y0, y1, r0, r1


def _to_astra(v: np.ndarray) -> np.ndarray:
    """Vectors in tiltrec's (X, Y, Z) -> ASTRA's (x, y, z) = (X, Z, Y)."""
    return v[..., [0, 2, 1]]


def vectors(geom: Geometry, y0: int | None = None, y1: int | None = None,
            rows: tuple[int, int] | None = None) -> np.ndarray:
    """ASTRA ``parallel3d_vec`` vectors (nviews x 12: ray, d, U, V) for output slices ``[y0, y1)`` (default: the
    geometry's) seen on the view rows ``rows = (r0, r1)`` (default: all), per view with its tilt and X-axis tilt."""
    if getattr(geom, "local", None) is not None:
        raise ValueError("local alignments move every voxel on its own: no parallel3d_vec geometry holds them")
    y0, y1, r0, r1 = _span(geom, y0, y1, rows)
    t, a = geom.theta, geom.pitch_radians
    ct, st, ca, sa = np.cos(t), np.sin(t), np.cos(a), np.sin(a)
    e_u = np.stack([ct, -sa * st, -ca * st], axis=1)
    e_v = np.stack([np.zeros_like(t), ca, -sa], axis=1)
    ray = np.stack([st, ct * sa, ct * ca], axis=1)  # e_u x e_v
    # tiltrec's centred coordinates of a voxel = ASTRA's world position (reordered) + shift: ASTRA centres each
    # axis on the middle of its voxels, IMOD on width//2 + 0.5 (+ shifts) in 1-based pixels
    shift = np.array([geom.width / 2 + 0.5 - geom.xcen_out,
                      y0 + (y1 - y0) / 2 + 0.5 - geom.center_slice,
                      geom.thickness / 2 + 0.5 - geom.zcen_out])
    # detector coordinates relative to ASTRA's detector centre, for tiltrec's column and row (0-based)
    u_off = shift @ e_u.T + geom.xcen_in - 0.5 - geom.nx / 2
    v_off = shift @ e_v.T + geom.center_slice - 0.5 - r0 - (r1 - r0) / 2
    U, V = _to_astra(e_u), _to_astra(e_v)
    d = -u_off[:, None] * U - v_off[:, None] * V  # U, V orthonormal: (P - d) . U = P . U + u_off
    return np.ascontiguousarray(np.concatenate([_to_astra(ray), d, U, V], axis=1))


def geometries(geom: Geometry, y0: int | None = None, y1: int | None = None,
               rows: tuple[int, int] | None = None) -> tuple[dict, dict]:
    """``(vol_geom, proj_geom)``: ASTRA's volume of output slices ``[y0, y1)``, shaped ``(slices, thickness,
    width)`` like tiltrec's ``[y, z, x]``, and the ``parallel3d_vec`` detector of view rows ``rows`` (all: the
    whole view), data shaped ``(rows, nviews, nx)``."""
    import astra

    y0, y1, r0, r1 = _span(geom, y0, y1, rows)
    vol_geom = astra.create_vol_geom(geom.thickness, geom.width, y1 - y0)
    proj_geom = astra.create_proj_geom("parallel3d_vec", r1 - r0, geom.nx, vectors(geom, y0, y1, (r0, r1)))
    return vol_geom, proj_geom


def slice_vectors(geom: Geometry) -> np.ndarray:
    """ASTRA 2-D ``parallel_vec`` vectors (nviews x 6: ray, d, u) of one output slice without X-axis tilt: the
    3-D vectors without their z parts, and with y negated, because ASTRA's 2-D image rows run from +y down (a
    2-D volume of ``(thickness, width)`` is then tiltrec's ``[z, x]`` slice, its sinogram one row of every view)."""
    if geom.has_pitch:
        raise ValueError("a slice of a geometry with X-axis tilt is not a 2-D parallel geometry")
    v = vectors(geom, 0, 1, (0, 1))
    flip = np.array([1.0, -1.0])
    return np.ascontiguousarray(np.concatenate([v[:, 0:2] * flip, v[:, 3:5] * flip, v[:, 6:8] * flip], axis=1))


# ------------------------------------------------------------------------------------------------- kernels


def _linked(astra, kind: str, geometry: dict, array):
    """A data3d object on ``array``: linked where ASTRA takes it as it is (a GPU array through DLPack), else a copy
    in ASTRA's own (host) memory."""
    try:
        return astra.data3d.link(kind, geometry, array), True
    except Exception:
        host = array.get() if hasattr(array, "get") else np.asarray(array)
        return astra.data3d.create(kind, geometry, host), False


def time_kernels(width: int, thickness: int, slices: int, nviews: int, pitch: float, repeats: int,
                 device: int = 0) -> dict:
    """Wall seconds of ASTRA's BP3D_CUDA and FP3D_CUDA on random data of tiltrec's geometry, each call between two
    device synchronisations, after one warm-up call: ``{"back-projection": [...], "forward projection": [...],
    "data": how the data reached ASTRA}``.  Creating the data objects and algorithms is not timed; what ASTRA does
    inside a call is (e.g. copying its input into a CUDA array for texture sampling)."""
    import astra

    geom = Geometry(nx=width, ny=slices, angles=np.linspace(-60, 60, nviews), thickness=thickness, width=width,
                    pitch=pitch)
    vol_geom, proj_geom = geometries(geom)
    try:
        import cupy as xp

        xp.cuda.Device(device).use()
        sync = xp.cuda.Device(device).synchronize
    except ImportError:
        xp, sync = np, (lambda: None)
    astra.set_gpu_index(device)
    random = np.random.default_rng(0).random if xp is np else xp.random.random
    vol = random((slices, thickness, width), dtype=np.float32)
    proj = random((slices, nviews, width), dtype=np.float32)
    sync()  # CuPy filled them on its stream; ASTRA works on streams of its own
    vid, on_gpu_v = _linked(astra, "-vol", vol_geom, vol)
    pid, on_gpu_p = _linked(astra, "-sino", proj_geom, proj)
    data = ("GPU arrays (CuPy) linked into astra.data3d through DLPack: no host copies" if on_gpu_v and on_gpu_p
            and xp is not np else "host arrays in astra.data3d objects: times include the copies to and from the GPU")
    times = {}
    try:
        for name, kind, keys in (("back-projection", "BP3D_CUDA", {"ReconstructionDataId": vid}),
                                 ("forward projection", "FP3D_CUDA", {"VolumeDataId": vid})):
            cfg = astra.astra_dict(kind)
            cfg.update(ProjectionDataId=pid, option={"GPUindex": device}, **keys)
            alg = astra.algorithm.create(cfg)
            try:
                astra.algorithm.run(alg)  # warm-up
                runs = []
                for _ in range(repeats):
                    sync()
                    start = time.perf_counter()
                    astra.algorithm.run(alg)
                    sync()
                    runs.append(time.perf_counter() - start)
                times[name] = runs
            finally:
                astra.algorithm.delete(alg)
    finally:
        astra.data3d.delete([vid, pid])
    return {**times, "data": data, "version": astra.__version__}


# ------------------------------------------------------------------------------------------------- SIRT


def _read_series(stack: Path, tlt: Path) -> tuple[np.ndarray, np.ndarray, float]:
    from tiltrec.formats import open_stack, read_angles

    with open_stack(stack) as s:
        views, pixel = s.read(slice(None), slice(None)), s.pixel_size
    return views, read_angles(tlt, len(views)), pixel


def _write_volume(path: Path, vol: np.ndarray, pixel: float) -> None:
    """An MRC volume in tiltrec's default file order (``[y, z, x]``), float32."""
    import mrcfile

    with mrcfile.new(path, overwrite=True) as mrc:
        mrc.set_data(np.ascontiguousarray(vol, dtype=np.float32))
        mrc.voxel_size = pixel


def sirt_gpu(views: np.ndarray, geom: Geometry, iterations: int, device: int = 0) -> np.ndarray:
    """ASTRA's SIRT3D_CUDA on the whole volume, ``[y, z, x]``; the data in ASTRA's own (host) objects, as a user
    of its Python interface runs it."""
    import astra

    astra.set_gpu_index(device)
    vol_geom, proj_geom = geometries(geom)
    sid = astra.data3d.create("-sino", proj_geom, np.ascontiguousarray(views.transpose(1, 0, 2)))
    rid = astra.data3d.create("-vol", vol_geom, 0.0)
    cfg = astra.astra_dict("SIRT3D_CUDA")
    cfg.update(ProjectionDataId=sid, ReconstructionDataId=rid, option={"GPUindex": device})
    alg = astra.algorithm.create(cfg)
    try:
        astra.algorithm.run(alg, iterations)
        return astra.data3d.get(rid)
    finally:
        astra.algorithm.delete(alg)
        astra.data3d.delete([sid, rid])


def sirt_cpu(views: np.ndarray, geom: Geometry, iterations: int, threads: int = 2) -> np.ndarray:
    """ASTRA's CPU SIRT ('linear' projector) slice by slice on :func:`slice_vectors`, ``[y, z, x]``: the stand-in
    for SIRT3D_CUDA where no GPU is (the same vectors, without X-axis tilt)."""
    from concurrent.futures import ThreadPoolExecutor

    import astra

    vol_geom = astra.create_vol_geom(geom.thickness, geom.width)
    proj_geom = astra.create_proj_geom("parallel_vec", geom.nx, slice_vectors(geom))
    projector = astra.create_projector("linear", proj_geom, vol_geom)

    from benchmarks.astra_cpu import run_slice

    def one(y: int) -> np.ndarray:
        return run_slice(astra, "SIRT", projector, proj_geom, vol_geom, np.ascontiguousarray(views[:, y, :]),
                         iterations)

    try:
        with ThreadPoolExecutor(threads) as pool:
            return np.stack(list(pool.map(one, range(geom.slices[0], geom.slices[1]))))
    finally:
        astra.projector.delete(projector)


def sirt_job(stack: Path, tlt: Path, out: Path, iterations: int, thickness: int, width: int = 0, device: int = 0,
             cpu: bool = False) -> None:
    """The whole job as a user would run it: read the series and its angles, SIRT, write the MRC volume."""
    views, angles, pixel = _read_series(stack, tlt)
    geom = Geometry(nx=views.shape[2], ny=views.shape[1], angles=angles, thickness=thickness, width=width)
    vol = sirt_cpu(views, geom, iterations) if cpu else sirt_gpu(views, geom, iterations, device)
    _write_volume(out, vol, pixel)


# ------------------------------------------------------------------------------------------------- geometry check


def blob(shape: tuple[int, ...], centre, sigma: float) -> np.ndarray:
    """A Gaussian of ``sigma`` voxels at index ``centre`` of an array of ``shape`` (float32)."""
    grids = np.meshgrid(*(np.arange(n) - c for n, c in zip(shape, centre)), indexing="ij", sparse=True)
    return np.exp(-sum(g * g for g in grids) / (2 * sigma * sigma)).astype(np.float32)


def model_position(geom: Geometry, x: int, z: int, y: int) -> tuple[np.ndarray, np.ndarray]:
    """(column, row) per view, 0-based, where tiltrec's model (docs/conventions.md) puts the centre of output voxel
    column ``x``, thickness row ``z``, slice ``y`` (input row, 0-based)."""
    X, Z, Y = x + 1 - geom.xcen_out, z + 1 - geom.zcen_out, y + 1 - geom.center_slice
    t, a = geom.theta, geom.pitch_radians
    z_tilted = Y * np.sin(a) + Z * np.cos(a)
    col = geom.xcen_in - 1 + X * np.cos(t) - z_tilted * np.sin(t)
    row = geom.center_slice - 1 + Y * np.cos(a) - Z * np.sin(a)
    return col, row


def _centroids(images: np.ndarray) -> np.ndarray:
    """Centre of mass (last axis first) of each image of ``images`` (n, rows, cols)."""
    rows, cols = np.indices(images.shape[1:])
    mass = images.sum(axis=(1, 2))
    return np.stack([(images * cols).sum(axis=(1, 2)) / mass, (images * rows).sum(axis=(1, 2)) / mass], axis=1)


CHECK_GEOMETRY = dict(nx=96, ny=72, angles=np.linspace(-57, 63, 31), thickness=40, width=88, offset=1.5,
                      xshift=2.5, zshift=-3.0)
CHECK_BLOBS = ((44, 20, 36), (30, 12, 20), (60, 27, 50), (51, 25, 28))  # (x, z, y), well inside volume and views


def geometry_error(cpu: bool = False, device: int = 0) -> float:
    """Largest distance in pixels between where ASTRA's forward projection puts Gaussian blobs (their centroid in
    each view) and where tiltrec's model projects their centres: FP3D_CUDA with a 5-degree X-axis tilt, or (``cpu``)
    ASTRA's CPU 2-D projector on the slice vectors without tilt (only the column is checked there)."""
    import astra

    worst = 0.0
    if cpu:
        geom = Geometry(**CHECK_GEOMETRY)
        vol_geom = astra.create_vol_geom(geom.thickness, geom.width)
        proj_geom = astra.create_proj_geom("parallel_vec", geom.nx, slice_vectors(geom))
        projector = astra.create_projector("linear", proj_geom, vol_geom)
        try:
            for x, z, y in CHECK_BLOBS:
                sid, sino = astra.create_sino(blob((geom.thickness, geom.width), (z, x), 2.0), projector)
                astra.data2d.delete(sid)
                cols = _centroids(sino[:, None, :])[:, 0]
                worst = max(worst, float(np.abs(cols - model_position(geom, x, z, y)[0]).max()))
        finally:
            astra.projector.delete(projector)
        return worst
    geom = Geometry(**CHECK_GEOMETRY, pitch=5.0)
    astra.set_gpu_index(device)
    vol_geom, proj_geom = geometries(geom)
    for x, z, y in CHECK_BLOBS:
        pid, proj = astra.create_sino3d_gpu(blob((geom.ny, geom.thickness, geom.width), (y, z, x), 2.0), proj_geom,
                                            vol_geom, gpuIndex=device)
        astra.data3d.delete(pid)
        found = _centroids(np.ascontiguousarray(proj.transpose(1, 0, 2)))
        col, row = model_position(geom, x, z, y)
        worst = max(worst, float(np.hypot(found[:, 0] - col, found[:, 1] - row).max()))
    return worst


# ------------------------------------------------------------------------------------------------- command line


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.astra_gpu", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="what", required=True)
    k = sub.add_parser("kernels", help="time BP3D_CUDA and FP3D_CUDA; prints one JSON line")
    k.add_argument("--width", type=int, default=2048)
    k.add_argument("--thickness", type=int, default=512)
    k.add_argument("--slices", type=int, default=2048)
    k.add_argument("--views", type=int, default=NVIEWS)
    k.add_argument("--pitch", type=float, default=0.0)
    k.add_argument("--repeats", type=int, default=3)
    k.add_argument("--device", type=int, default=0)
    s = sub.add_parser("sirt", help="SIRT3D_CUDA (or, with --cpu, ASTRA's CPU SIRT) as a whole job")
    s.add_argument("stack", type=Path)
    s.add_argument("tlt", type=Path)
    s.add_argument("out", type=Path)
    s.add_argument("--iter", type=int, default=30)
    s.add_argument("--thickness", type=int, required=True)
    s.add_argument("--width", type=int, default=0)
    s.add_argument("--device", type=int, default=0)
    s.add_argument("--cpu", action="store_true")
    g = sub.add_parser("geometry", help="largest blob position error of FP3D_CUDA (or, with --cpu, 2-D CPU FP)")
    g.add_argument("--device", type=int, default=0)
    g.add_argument("--cpu", action="store_true")
    opts = p.parse_args(argv)
    if not (opts.what in ("sirt", "geometry") and opts.cpu):
        reason = available()
        if reason:
            print(f"ASTRA's CUDA is not usable: {reason}", file=sys.stderr)
            return 3
    if opts.what == "kernels":
        result = time_kernels(opts.width, opts.thickness, opts.slices, opts.views, opts.pitch, opts.repeats,
                              opts.device)
        print(json.dumps(result))
    elif opts.what == "sirt":
        sirt_job(opts.stack, opts.tlt, opts.out, opts.iter, opts.thickness, opts.width, opts.device, opts.cpu)
    else:
        error = geometry_error(opts.cpu, opts.device)
        print(json.dumps({"max_error_px": error}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
