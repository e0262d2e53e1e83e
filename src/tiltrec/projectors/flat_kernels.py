"""The compiled flat projector pair (flat.c, built with the package as ``tiltrec.projectors._flat``).

Layouts, as for every CPU kernel (Y innermost, so that the interpolation weights, which do not depend on Y without
pitch, are reused along contiguous vectors):

- volume slab ``V[z, x, y]``, float32, C-contiguous;
- projections ``P[t, u, r]`` (view, column, row), float32, rows contiguous; views and columns may be strided
  (the rows beyond the volume's ``y`` extent are not read);
- coefficients ``u_row[t, z]`` and ``u_dx[t]`` (coefficients.py): the sample column of voxel (z, x) in view t is
  ``u_row[t, z] + x * u_dx[t]``.

A sample exists when ``0 <= u < ncol - 1`` (IMOD's legal range) and interpolates columns ``floor(u)`` and
``floor(u) + 1``; back and forward projection apply the same rule, so they are exact transposes.  Results do not
depend on the number of threads.
"""

from __future__ import annotations

import ctypes

import numpy as np

from . import elementwise

try:
    from . import _flat
except ImportError as error:  # a checkout used without installing: the C kernels are built by pip
    raise ImportError("tiltrec's compiled projector (tiltrec.projectors._flat) is not built: install tiltrec with "
                      "pip (from a checkout: bin/test or `pip install -e .`), which compiles it") from error

_LIB = ctypes.CDLL(_flat.__file__)
_PTR, _LONG = ctypes.c_void_p, ctypes.c_long
_LIB.back_flat.argtypes = ([_PTR] * 4 + [_LONG] * 8 + [ctypes.c_int] + [_PTR] * 2 + [ctypes.c_int] * 2
                           + [ctypes.c_float] * 2 + [ctypes.c_int])
_LIB.back_flat.restype = ctypes.c_int
_LIB.forward_flat.argtypes = [_PTR] * 4 + [_LONG] * 9 + [ctypes.c_int]
_LIB.forward_flat.restype = None

BACK_Z_BLOCK = 16  # thickness rows per back-projection task (fewer when there are few rows per thread)
FORWARD_Z_BLOCK = 16  # thickness rows every view reads before the next block (bin/bench kernels)
_WIDE, _NARROW = 64, 8  # Y values of a forward task: flat.c's WIDEST and its vector length


def back_flat(P: np.ndarray, V: np.ndarray, u_row: np.ndarray, u_dx: np.ndarray, threads: int,
              overwrite: bool = False, add_to: np.ndarray | None = None, weight: np.ndarray | None = None,
              positivity: bool = False, scale: tuple[float, float] | None = None) -> None:
    """``V[z, x, y] += sum_t lerp(P[t, :, y], u_row[t, z] + x * u_dx[t])`` on ``threads`` threads (``=`` with
    ``overwrite``: V's values are not read, and the result is the same as adding to zeros).

    With ``add_to`` (and ``weight``, arrays shaped as V): ``elementwise.add_weighted(add_to, V', weight,
    positivity)`` of the result V' instead, bit for bit, without storing V' (V is left with partial sums).
    With ``scale`` = (factor, shift): V' then ``elementwise.scale_add(V', factor, shift)``, bit for bit, in one
    pass."""
    nv, ncol, view_stride, col_stride = _projections(P, V)
    add_x = add_w = None
    if add_to is not None and scale is not None:
        raise ValueError("back_flat: add_to or scale, not both")
    if scale is not None and nv == 0:  # no group of views to finish in: the separate step
        back_flat(P, V, u_row, u_dx, threads, overwrite)
        elementwise.scale_add(V.reshape(-1), *scale)
        return
    if add_to is not None:
        for a in (add_to, weight):
            if a is None or a.dtype != np.float32 or a.shape != V.shape or not a.flags.c_contiguous:
                raise ValueError("back_flat: add_to and weight are C-contiguous float32 arrays shaped as V")
        if not add_to.flags.writeable:
            raise ValueError("back_flat: add_to is read-only")
        if nv == 0:  # nothing to add but the zero sum: the separate step does it
            back_flat(P, V, u_row, u_dx, threads, overwrite)
            elementwise.add_weighted(add_to.reshape(-1), V.reshape(-1), weight.reshape(-1), positivity)
            return
        add_x, add_w = add_to.ctypes.data, weight.ctypes.data
    nz, nx, ny = V.shape
    base = np.ascontiguousarray(_coefficients(u_row, u_dx, nv, nz).T)
    z_block = max(1, min(BACK_Z_BLOCK, nz // (2 * threads)))
    if _LIB.back_flat(P.ctypes.data, V.ctypes.data, base.ctypes.data, u_dx.ctypes.data, nv, ncol, view_stride,
                      col_stride, nz, nx, ny, z_block, int(overwrite), add_x, add_w, int(bool(positivity)),
                      scale is not None, *(np.float32(v) for v in (scale or (0.0, 0.0))), threads):
        raise ValueError("projections too large for the back-projection's 32-bit offsets within a group of views")


def forward_flat(V: np.ndarray, P: np.ndarray, u_row: np.ndarray, u_dx: np.ndarray, threads: int) -> None:
    """``P[t, :, y] +=`` the transpose of back_flat for every view, on ``threads`` threads."""
    nv, ncol, view_stride, col_stride = _projections(P, V)
    nz, nx, ny = V.shape
    base = _coefficients(u_row, u_dx, nv, nz)
    # few views (SART's one at a time) split Y into narrower tasks, so that every thread has work
    chunk = _WIDE if nv * -(-ny // _WIDE) >= 4 * threads else _NARROW
    _LIB.forward_flat(V.ctypes.data, P.ctypes.data, base.ctypes.data, u_dx.ctypes.data, nv, ncol, view_stride,
                      col_stride, nz, nx, ny, FORWARD_Z_BLOCK, chunk, threads)


def _projections(P: np.ndarray, V: np.ndarray) -> tuple[int, int, int, int]:
    """Check the arrays a kernel gets; returns views, columns and the view and column strides in floats."""
    if P.dtype != np.float32 or V.dtype != np.float32 or P.ndim != 3 or V.ndim != 3:
        raise ValueError("the flat kernels take 3-D float32 arrays")
    if not V.flags.c_contiguous or P.strides[2] != 4 or P.strides[0] % 4 or P.strides[1] % 4:
        raise ValueError("the flat kernels need a C-contiguous volume and projection rows of contiguous floats")
    if not V.flags.writeable or not P.flags.writeable:
        raise ValueError("the flat kernels write into their output array")
    if P.shape[2] < V.shape[2]:
        raise ValueError(f"projection rows ({P.shape[2]}) shorter than the volume's Y extent ({V.shape[2]})")
    return P.shape[0], P.shape[1], P.strides[0] // 4, P.strides[1] // 4


def _coefficients(u_row: np.ndarray, u_dx: np.ndarray, nv: int, nz: int) -> np.ndarray:
    if u_row.shape != (nv, nz) or u_dx.shape != (nv,) or u_dx.dtype != np.float32 or not u_dx.flags.c_contiguous:
        raise ValueError("coefficients do not match the arrays")
    return np.ascontiguousarray(u_row, dtype=np.float32)
