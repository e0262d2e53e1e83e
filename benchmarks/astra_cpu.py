"""The same reconstructions through ASTRA's CPU code, for comparison: 2-D parallel beam, one slice at a time.

ASTRA (astra-toolbox) reconstructs each Y slice (an X-Z plane) from its sinogram (one row of every view) with its
'linear' CPU projector.  Its calls release the GIL, so slices run on a pool of threads, one per core.  Only a few
slices are timed and the time is scaled to all of them: the full job would take far longer than tiltrec's.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

# tiltrec algorithm -> ASTRA CPU algorithm and its iteration count for ``iterations`` of ours (ASTRA's SART counts
# one view per iteration, so one sweep over all views is ``nviews`` of its iterations)
ASTRA_NAMES = {"wbp": "FBP", "sirt": "SIRT", "sart": "SART"}


def available() -> str | None:
    """ASTRA's version, or None where it does not import."""
    try:
        import astra
    except ImportError:
        return None
    return astra.__version__


def _astra_iterations(alg: str, iterations: int, nviews: int) -> int:
    return {"wbp": 1, "sirt": iterations, "sart": iterations * nviews}[alg]


def run_slice(astra, name: str, projector, proj_geom, vol_geom, sinogram: np.ndarray, count: int) -> np.ndarray:
    """One slice (an X-Z plane) from its sinogram through ASTRA's CPU algorithm ``name``, run ``count`` times;
    ASTRA's objects are deleted again whatever happens."""
    sino = astra.data2d.create("-sino", proj_geom, sinogram)
    rec = astra.data2d.create("-vol", vol_geom, 0)
    cfg = astra.astra_dict(name)
    cfg.update(ProjectorId=projector, ProjectionDataId=sino, ReconstructionDataId=rec)
    algorithm = astra.algorithm.create(cfg)
    try:
        astra.algorithm.run(algorithm, count)
        return astra.data2d.get(rec)
    finally:
        astra.algorithm.delete(algorithm)
        astra.data2d.delete([sino, rec])


def time_slices(alg: str, iterations: int, sinograms: list[np.ndarray], angles_deg: np.ndarray, thickness: int,
                threads: int) -> float:
    """Wall seconds to reconstruct one slice from each sinogram (nviews x nx) with ASTRA's CPU version of ``alg``
    on ``threads`` threads; data set-up and read-back included."""
    import astra

    nviews, n = sinograms[0].shape
    vol_geom = astra.create_vol_geom(thickness, n)
    proj_geom = astra.create_proj_geom("parallel", 1.0, n, np.deg2rad(angles_deg))
    projector = astra.create_projector("linear", proj_geom, vol_geom)
    count = _astra_iterations(alg, iterations, nviews)

    def one(sinogram: np.ndarray) -> np.ndarray:
        return run_slice(astra, ASTRA_NAMES[alg], projector, proj_geom, vol_geom, sinogram, count)

    try:
        start = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(one, sinograms))
        return time.perf_counter() - start
    finally:
        astra.projector.delete(projector)
