"""The compiled kernels of IMOD's CPU interpolation (projectors/imod_interp.c) against plain statements of the same
arithmetic, on tiny inputs.

The statements below are what the kernels computed when they were Numba functions: positions in float64 (Python
floats), fractions cast to float32, samples combined in float32, each product and sum rounded on its own.  The
stretching and the composition of output slices must match them bit for bit.  The back-projection of the lines was
compiled by Numba with fastmath (free to contract into FMAs and reorder), so the old results may differ from the
plain arithmetic in the last bits; it is held to 1e-6 relative here (and is in fact equal to the plain statement).
"""

import math

import numpy as np
import pytest

from tiltrec import cpu_threads
from tiltrec.projectors import imod_cpu

BRANCHES = ("all four", "slice before", "row before", "none")


# --- the statements ---
def stretch_statement(P, S, soff, cb, nxs, factor):
    nv, nx, nr = P.shape
    for t in range(nv):
        n = int(nxs[t])
        for k in range(n):
            xp = min(max(((k + 1) / factor + float(soff[t])) * float(cb[t]), 1.0), float(nx))
            i = int(math.floor(xp))
            f = np.float32(xp - i)
            i1 = min(i + 1, nx)
            S[t, k] = (np.float32(1.0) - f) * P[t, i - 1] + f * P[t, i1 - 1]
        S[t, n] = S[t, n - 1]


def back_lines_statement(S, V, a0, da, s0, ds, count, nx):
    nv = S.shape[0]
    nz, nw, _ = V.shape
    for t in range(nv):  # every voxel's sum runs over the views in order
        n = int(count[t])
        for z in range(nz):
            for x in range(nw):
                xproj = float(a0[t, z]) + x * float(da[t])
                if xproj < 1.0 or xproj >= nx:
                    continue
                s = float(s0[t, z]) + x * float(ds[t])
                ip = int(math.floor(s))
                f = np.float32(s - ip)
                ip = min(max(ip, 1), n)
                lo = S[t, ip - 1]
                V[z, x] += lo + f * (S[t, ip] - lo)


def fnint(x):
    return math.copysign(math.floor(abs(x) + 0.5), x)


def compose_statement(vert, out, y0, r0, ny, thick, thick_bp, cen_slice, zshift, ca, sa, tan_a):
    """Returns how many (slice, Z) lines took each branch (BRANCHES)."""
    taken = [0, 0, 0, 0]
    vertcen = thick_bp // 2 + 0.5
    for k in range(out.shape[2]):
        cenl = y0 + k + 1 - cen_slice
        for j in range(thick):
            cenj = j + 1 - (thick // 2 + 0.5) - zshift
            vsl = cenl * ca - cenj * sa + cen_slice
            vycen = cenl * sa + cenj * ca
            ivsl = int(vsl)
            fx = vsl - ivsl
            exists, ivy, fy = [False] * 5, [0] * 5, 0.0
            for i in range(1, 5):
                lv = ivsl + i - 2
                exists[i] = 1 <= lv <= ny
                vy = vycen + vertcen - fnint(tan_a * (lv - cen_slice)) + zshift / ca
                ivy[i] = int(vy)
                if exists[i]:
                    fy = vy - ivy[i]

            def valid(kk, i):
                return exists[i] and 1 <= ivy[i] + kk - 2 <= thick_bp

            ok0 = valid(2, 2) and valid(2, 3) and valid(3, 2) and valid(3, 3)
            res_a = not ok0 and fx < 0.02 and valid(2, 1) and valid(3, 1) and valid(2, 2) and valid(3, 2)
            res_b = (not ok0 and not res_a and fy < 0.02 and valid(1, 2) and valid(1, 3) and valid(2, 2)
                     and valid(3, 2) and valid(2, 3))
            if not (ok0 or res_a or res_b):
                taken[3] += 1
                out[j, :, k] = 0.0
                continue
            taken[0 if ok0 else 1 if res_a else 2] += 1
            s_lo = 1 if res_a else 2
            roff = -1 if res_b else 0
            fx += 1.0 if res_a else 0.0
            fy += 1.0 if res_b else 0.0
            l_lo = min(max(ivsl + s_lo - 2, 1), ny) - 1 - r0
            l_hi = min(max(ivsl + s_lo - 1, 1), ny) - 1 - r0
            a_lo = min(max(ivy[s_lo] + roff, 1), thick_bp) - 1
            a_hi = min(max(ivy[s_lo] + roff + 1, 1), thick_bp) - 1
            b_lo = min(max(ivy[s_lo + 1] + roff, 1), thick_bp) - 1
            b_hi = min(max(ivy[s_lo + 1] + roff + 1, 1), thick_bp) - 1
            w11, w12 = np.float32((1 - fy) * (1 - fx)), np.float32((1 - fy) * fx)
            w21, w22 = np.float32(fy * (1 - fx)), np.float32(fy * fx)
            out[j, :, k] = (w11 * vert[a_lo, :, l_lo] + w12 * vert[b_lo, :, l_hi]
                            + w21 * vert[a_hi, :, l_lo] + w22 * vert[b_hi, :, l_hi])
    return taken


# --- inputs ---
def random_views(rng, nv, nx, nr):
    return rng.standard_normal((nv, nx, nr)).astype(np.float32)


@pytest.fixture(params=[1, 3])
def threads(request):
    """Each comparison with one thread and with several (the results may not depend on them)."""
    before = cpu_threads.threads()
    cpu_threads.set_threads(request.param)
    yield request.param
    cpu_threads.set_threads(before)


# --- stretching ---
@pytest.mark.parametrize("seed", range(4))
def test_stretch_equals_its_statement(seed, threads):
    rng = np.random.default_rng(seed)
    nv, nx, nr = 5, 11, 7
    # the whole of a wider array's rows but a part of its last axis: rows with unit stride, other strides not tight
    P = random_views(rng, nv, nx, nr + 3)[:, :, 1:1 + nr]
    theta = np.radians(rng.uniform(-70, 70, nv))
    cb = np.cos(theta)
    factor = float(rng.integers(1, 4))
    # offsets that start below column 1 and lengths that run past nx: both clamps are taken
    soff = rng.uniform(-1.5, 1.0, nv)
    nxs = (factor * (nx + 2) / cb).astype(np.int64)
    ns = int(nxs.max()) + 1
    ours = np.full((nv, ns + 2, nr), np.nan, dtype=np.float32)
    want = ours.copy()
    imod_cpu._stretch(P, ours, soff, cb, nxs, factor)
    stretch_statement(P, want, soff, cb, nxs, factor)
    assert np.array_equal(ours, want, equal_nan=True)  # untouched samples stay NaN in both


# --- back-projecting the lines ---
def line_coefficients(rng, nv, nz, nx, factor):
    """a0, da, s0, ds, count of a stretched (factor > 0) or unstretched back-projection."""
    cb = np.cos(np.radians(rng.uniform(-65, 65, nv)))
    sb = -np.sin(np.arccos(cb)) * rng.choice([-1, 1], nv)
    z = np.arange(1, nz + 1) - (nz // 2 + 0.5)
    zpart = z[None, :] * sb[:, None] + (nx + 1) / 2.0
    a0 = zpart + (1.0 - (nx + 3) / 2.0) * cb[:, None]  # a little wider than the views: some voxels fall outside
    if factor:
        soff = rng.uniform(-0.5, 0.5, nv)
        s0 = factor * (zpart / cb[:, None] + 1.0 - (nx + 3) / 2.0 - soff[:, None])
        return a0, cb, s0, np.full(nv, float(factor)), (factor * (nx + 2) / cb).astype(np.int64)
    return a0, cb, a0.copy(), cb.copy(), np.full(nv, nx, dtype=np.int64)


@pytest.mark.parametrize("factor", [0, 2])
@pytest.mark.parametrize("nz", [5, 37])  # one block of thickness rows, and several with a partial last one
@pytest.mark.parametrize("nr", [4, 64, 136])  # one view at a time; view groups, one chunk; chunks of 6, 6, 5 vectors
def test_back_lines_equals_its_statement(factor, nz, nr, threads):
    """Bit for bit IMOD's float32 sums in view order, whichever copy of the kernels this CPU runs."""
    rng = np.random.default_rng(nz + factor)
    nv, nx, nw = 11, 13, 15
    a0, da, s0, ds, count = line_coefficients(rng, nv, nz, nx, factor)
    ns = int(count.max()) + 1 if factor else nx
    S = random_views(rng, nv, ns, nr + 5)[:, :, 2:2 + nr]  # part of the rows, as back() passes them
    start = rng.standard_normal((nz, nw, nr)).astype(np.float32)  # the kernel adds to what is there
    ours, want = start.copy(), start.copy()
    imod_cpu._back_lines(S, ours, a0, da, s0, ds, count, float(nx))
    back_lines_statement(S, want, a0, da, s0, ds, count, float(nx))
    assert not np.array_equal(ours, start)
    assert np.array_equal(ours, want, equal_nan=True)


# --- composing output slices ---
def compose_case(seed):
    """Arguments of _compose for a tiny pitched geometry; the Z extent of the vertical slices is sometimes cut
    short, and the output slices run past the data, so that the fall-backs and the empty lines occur."""
    rng = np.random.default_rng(seed)
    ny = int(rng.integers(4, 9))
    thick = int(rng.integers(3, 10))
    pitch = math.radians(rng.uniform(-30, 30))
    ca, sa, tan_a = math.cos(pitch), math.sin(pitch), math.tan(pitch)
    thick_bp = int(thick / ca + 4.5) - int(rng.integers(0, 5))
    cen_slice = ny / 2.0 + 0.5 + rng.choice([0.0, 0.5])
    zshift = float(rng.choice([0.0, rng.uniform(-2, 2)]))
    y0 = int(rng.integers(-2, 2))
    nys = ny + 3 - y0
    vert = rng.standard_normal((thick_bp, 3, ny)).astype(np.float32)
    return vert, (y0, 0, ny, thick, thick_bp, cen_slice, zshift, ca, sa, tan_a), (thick, 3, nys)


def row_before_cases(wanted=4):
    """Cases where some line falls back on the row before: that needs the top row of a vertical slice, a
    whole-pixel shift between two slices and a Z fraction below 0.02 together, which random cases rarely bring.
    A Z shift scanned finely over one geometry with vertical slices cut short finds them; the kernel's own count
    only picks the cases (the test holds them against the statement, counting there)."""
    ny, thick, pitch = 6, 7, math.radians(-35.0)
    ca, sa, tan_a = math.cos(pitch), math.sin(pitch), math.tan(pitch)
    thick_bp = int(thick / ca + 4.5) - 4
    vert = np.random.default_rng(7).standard_normal((thick_bp, 3, ny)).astype(np.float32)
    found = []
    for zshift in np.linspace(-2.0, 2.0, 401):
        args = (-2, 0, ny, thick, thick_bp, 3.5, float(zshift), ca, sa, tan_a)
        counted = np.zeros(4, dtype=np.int64)
        imod_cpu._compose(vert, np.empty((thick, 3, ny + 5), dtype=np.float32), *args, branches=counted)
        if counted[2]:
            found.append((vert, args, (thick, 3, ny + 5)))
            if len(found) == wanted:
                break
    return found


def test_compose_equals_its_statement_on_every_branch(threads):
    taken = np.zeros(4, dtype=np.int64)
    for number, (vert, args, shape) in enumerate([compose_case(seed) for seed in range(40)] + row_before_cases()):
        ours = np.full(shape, np.nan, dtype=np.float32)
        want = ours.copy()
        counted = np.zeros(4, dtype=np.int64)
        imod_cpu._compose(vert, ours, *args, branches=counted)
        expected = compose_statement(vert, want, *args)
        assert np.array_equal(ours, want), f"case {number}"
        assert list(counted) == expected, f"case {number}"
        taken += expected
    for name, count in zip(BRANCHES, taken):
        assert count > 0, f"no line took the branch '{name}': {dict(zip(BRANCHES, taken))}"


def test_fnint_rounds_half_away_from_zero():
    assert [imod_cpu._fnint(x) for x in (2.5, -2.5, 2.49, -0.5, 0.0)] == [3.0, -3.0, 2.0, -1.0, 0.0]
