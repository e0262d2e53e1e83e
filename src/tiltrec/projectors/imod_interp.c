/* IMOD tilt's two-step CPU interpolation (imod_cpu.py describes it): cosine stretching of the view lines, linear
 * back-projection of the stretched lines, and, with an X-axis tilt, the bilinear composition of output slices from
 * untilted vertical slices.  Called through ctypes.
 *
 * Built with -ffp-contract=off: every product and sum is rounded on its own, in the precision written here (double
 * where the positions are computed, float where the samples are combined), the same on every build.  Each output
 * value is computed by one thread, its sum over views in view order, so the results do not depend on the threads.
 *
 * The 3-D float arrays have unit stride along their last axis (the rows); the strides of the two leading axes are
 * given in elements. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <omp.h>

#include "kernel_clones.h"
#include "near_equal.h"
#include <immintrin.h>

static inline long min_l(long a, long b) { return a < b ? a : b; }
static inline long max_l(long a, long b) { return a > b ? a : b; }
static inline long clamp_l(long v, long lo, long hi) { return min_l(max_l(v, lo), hi); }

/* Fortran NINT: half away from zero */
static inline double fortran_nint(double x) { return copysign(floor(fabs(x) + 0.5), x); }

/* Line t of S (nv, ns, nr), sample k: view t of P (nv, nx, nr) read linearly at the 1-based position
 * clamp(((k + 1) / factor + soff[t]) * cb[t], 1, nx), for k < nxs[t]; sample nxs[t] repeats the one before. */
static KERNEL void stretch_view(const float *restrict pt, long p_st1, long nx, long nr, float *restrict st,
                                long s_st1, double soff, double cb, long n, double factor)
{
    for (long k = 0; k < n; k++) {
        double xp = ((double)(k + 1) / factor + soff) * cb;
        xp = xp > 1.0 ? xp : 1.0;
        xp = xp < (double)nx ? xp : (double)nx;
        const long i = (long)floor(xp);
        const float f = (float)(xp - (double)i);
        const long i1 = min_l(i + 1, nx);
        const float g = 1.0f - f;
        const float *restrict lo = pt + (i - 1) * p_st1, *restrict hi = pt + (i1 - 1) * p_st1;
        float *restrict dst = st + k * s_st1;
        for (long r = 0; r < nr; r++)
            dst[r] = g * lo[r] + f * hi[r];
    }
    for (long r = 0; r < nr; r++)  /* the guard sample */
        st[n * s_st1 + r] = st[(n - 1) * s_st1 + r];
}

void stretch(const float *P, long p_st0, long p_st1, long nv, long nx, long nr,
             float *S, long s_st0, long s_st1,
             const double *soff, const double *cb, const long *nxs, double factor, int threads)
{
#pragma omp parallel for schedule(static) num_threads(threads)
    for (long t = 0; t < nv; t++)
        stretch_view(P + t * p_st0, p_st1, nx, nr, S + t * s_st0, s_st1, soff[t], cb[t], nxs[t], factor);
}

#define VIEW_GROUP 8  /* views whose samples a voxel's row of values takes while it stays in registers */
#define ROW_VECTORS 8 /* vectors of a voxel's row kept in registers while the group's views add to them */
typedef float vf8 __attribute__((vector_size(32), aligned(4)));  /* 8 floats, any alignment */

/* v[0 .. NVEC vectors) += the m samples, view after view: low + f (high - low) with low, high at lo[j] and
 * lo[j] + s_st1 (each voxel's values stay in registers while the views add to them, instead of one vector at a time
 * reloading every view's place and weight). */
#define BACK_VECTORS(NVEC)                                                                                    \
    static inline __attribute__((always_inline)) void back_vectors_##NVEC(                                   \
        float *restrict v, const float *const *lo, const float *f, long m, long s_st1, long r)                \
    {                                                                                                         \
        vf8 acc[NVEC];                                                                                        \
        _Pragma("GCC unroll 8") for (int n = 0; n < NVEC; n++) acc[n] = *(const vf8 *)(v + 8 * n);            \
        for (long j = 0; j < m; j++) {                                                                        \
            const float *low = lo[j] + r, *high = low + s_st1;                                                \
            const float w = f[j];                                                                             \
            _Pragma("GCC unroll 8") for (int n = 0; n < NVEC; n++) {                                          \
                const vf8 a = *(const vf8 *)(low + 8 * n), b = *(const vf8 *)(high + 8 * n);                  \
                acc[n] += a + w * (b - a);                                                                    \
            }                                                                                                 \
        }                                                                                                     \
        _Pragma("GCC unroll 8") for (int n = 0; n < NVEC; n++) *(vf8 *)(v + 8 * n) = acc[n];                  \
    }
BACK_VECTORS(1) BACK_VECTORS(2) BACK_VECTORS(3) BACK_VECTORS(4)
BACK_VECTORS(5) BACK_VECTORS(6) BACK_VECTORS(7) BACK_VECTORS(8)

/* v (nr values, a multiple of 8) += the m samples in near-equal chunks of at most ROW_VECTORS vectors. */
static inline __attribute__((always_inline)) void add_samples(float *restrict v, long nr, const float *const *lo,
                                                              const float *f, long m, long s_st1)
{
    const long vectors = nr / 8;
    for (long done = 0, n; done < vectors; done += n) {
        n = near_equal_part(vectors - done, ROW_VECTORS);
        const long r = 8 * done;
        switch (n) {
        case 8: back_vectors_8(v + r, lo, f, m, s_st1, r); break;
        case 7: back_vectors_7(v + r, lo, f, m, s_st1, r); break;
        case 6: back_vectors_6(v + r, lo, f, m, s_st1, r); break;
        case 5: back_vectors_5(v + r, lo, f, m, s_st1, r); break;
        case 4: back_vectors_4(v + r, lo, f, m, s_st1, r); break;
        case 3: back_vectors_3(v + r, lo, f, m, s_st1, r); break;
        case 2: back_vectors_2(v + r, lo, f, m, s_st1, r); break;
        default: back_vectors_1(v + r, lo, f, m, s_st1, r);
        }
    }
}

/* One thickness row of V (nw x nr, contiguous; nr a multiple of 8) += the samples of k views (the lines
 * st + j s_st0), each voxel taking the views in order: where 1 <= a0[j] + x da[j] < nx, the sample of line j at the
 * 1-based position s = s0[j] + x ds[j], linear between floor(s) (clamped to 1..count[j]) and the next.  a0 and s0
 * step by a_stride from view to view.  A voxel's row is loaded and stored once per group of views. */
static KERNEL void back_row_group(const float *st, long s_st0, long s_st1, const long *count, const double *a0,
                                  const double *da, const double *s0, const double *ds, long a_stride, long k,
                                  double nx, long nw, long nr, float *restrict vz)
{
    for (long x = 0; x < nw; x++) {
        const float *lo[VIEW_GROUP];
        float f[VIEW_GROUP];
        long m = 0;
        for (long j = 0; j < k; j++) {
            const double xproj = a0[j * a_stride] + (double)x * da[j];
            if (xproj < 1.0 || xproj >= nx)
                continue;
            const double s = s0[j * a_stride] + (double)x * ds[j];
            const long ip = (long)floor(s);
            f[m] = (float)(s - (double)ip);
            lo[m] = st + j * s_st0 + (clamp_l(ip, 1, count[j]) - 1) * s_st1;
            m++;
        }
        if (m)
            add_samples(vz + x * nr, nr, lo, f, m, s_st1);
    }
}

/* back_row_group with AVX-512: each voxel's samples of the group's views in one vector of 8 doubles, those with a
 * sample packed to the front in view order (the same values: floor, the float fraction and the clamp lane by
 * lane; computed view by view in scalar double, they made a 64-slice slab's back-projection 1.17x slower). */
static WIDE_KERNEL void back_row_group_wide(const float *st, long s_st0, long s_st1, const long *count,
                                            const double *a0, const double *da, const double *s0, const double *ds,
                                            long a_stride, long k, double nx, long nw, long nr, float *restrict vz)
{
    const __mmask8 views = (__mmask8)((1u << k) - 1);
    const __m512i lane = _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7);
    const __m512i stride = _mm512_set1_epi64(a_stride);
    const __m512d a = _mm512_mask_i64gather_pd(_mm512_setzero_pd(), views, _mm512_mullo_epi64(lane, stride), a0, 8);
    const __m512d s_start = _mm512_mask_i64gather_pd(_mm512_setzero_pd(), views, _mm512_mullo_epi64(lane, stride),
                                                     s0, 8);
    const __m512d da_v = _mm512_maskz_loadu_pd(views, da), ds_v = _mm512_maskz_loadu_pd(views, ds);
    const __m512i top = _mm512_maskz_loadu_epi64(views, count), one = _mm512_set1_epi64(1);
    const __m512i first = _mm512_mullo_epi64(lane, _mm512_set1_epi64(s_st0));
    const __m512i row = _mm512_set1_epi64(s_st1);
    const __m512d low = _mm512_set1_pd(1.0), high = _mm512_set1_pd(nx);
    for (long x = 0; x < nw; x++) {
        const __m512d xs = _mm512_set1_pd((double)x);
        const __m512d xproj = _mm512_add_pd(a, _mm512_mul_pd(xs, da_v));
        /* the scalar test's complement: neither xproj < 1 nor xproj >= nx (a NaN passes, as there) */
        const __mmask8 take = _mm512_mask_cmp_pd_mask(views, xproj, low, _CMP_NLT_UQ)
                              & _mm512_cmp_pd_mask(xproj, high, _CMP_NGE_UQ);
        if (!take)
            continue;
        const __m512d s = _mm512_add_pd(s_start, _mm512_mul_pd(xs, ds_v));
        const __m512d fl = _mm512_roundscale_pd(s, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
        const __m256 f8 = _mm512_cvtpd_ps(_mm512_sub_pd(s, fl));
        const __m512i ip = _mm512_min_epi64(_mm512_max_epi64(_mm512_cvttpd_epi64(fl), one), top);
        const __m512i at = _mm512_add_epi64(first, _mm512_mullo_epi64(_mm512_sub_epi64(ip, one), row));
        long offsets[VIEW_GROUP];
        float f[VIEW_GROUP];
        const float *lo[VIEW_GROUP];
        _mm512_storeu_si512(offsets, _mm512_maskz_compress_epi64(take, at));
        _mm256_storeu_ps(f, _mm256_maskz_compress_ps(take, f8));
        const long m = __builtin_popcount(take);
        for (long j = 0; j < m; j++)
            lo[j] = st + offsets[j];
        add_samples(vz + x * nr, nr, lo, f, m, s_st1);
    }
}

/* One thickness row of V += the samples of one view (rows shorter than a vector: the pitched path's groups of
 * rows with one Z shift, often one row). */
static KERNEL void back_row(const float *restrict st, long s_st1, long n, double a, double da, double s_start,
                            double ds, double nx, long nw, long nr, float *restrict vz)
{
    for (long x = 0; x < nw; x++) {
        const double xproj = a + (double)x * da;
        if (xproj < 1.0 || xproj >= nx)
            continue;
        const double s = s_start + (double)x * ds;
        long ip = (long)floor(s);
        const float f = (float)(s - (double)ip);
        ip = clamp_l(ip, 1, n);
        const float *restrict lo = st + (ip - 1) * s_st1, *restrict hi = st + ip * s_st1;
        float *restrict v = vz + x * nr;
        for (long r = 0; r < nr; r++)
            v[r] += lo[r] + f * (hi[r] - lo[r]);
    }
}

/* V[z, x, r] (nz, nw, nr; contiguous) += over views t in order, where 1 <= a0[t, z] + x * da[t] < nx, the sample of
 * line t of S at the 1-based position s = s0[t, z] + x * ds[t], linear between floor(s) (clamped to 1..count[t]) and
 * the next.  a0 and s0 are (nv, nz) contiguous.  Parallel over blocks of z_block thickness rows; the views in groups
 * of VIEW_GROUP (each voxel still sums them in view order: the same numbers). */
void back_lines(const float *S, long s_st0, long s_st1, long nv,
                float *V, long nz, long nw, long nr,
                const double *a0, const double *da, const double *s0, const double *ds, const long *count,
                double nx, long z_block, int threads)
{
    const long nblocks = (nz + z_block - 1) / z_block;
    const int wide = has_wide_vectors();
#pragma omp parallel for schedule(static) num_threads(threads)
    for (long zb = 0; zb < nblocks; zb++) {
        const long z_end = min_l(nz, (zb + 1) * z_block);
        if (nr % 8) {  /* grouping views pays only with rows of whole vectors (the pitched path's groups of rows
                        * with one Z shift: 0.57 s a slab one view at a time, 0.66 s grouped with their last lanes) */
            for (long t = 0; t < nv; t++)
                for (long z = zb * z_block; z < z_end; z++)
                    back_row(S + t * s_st0, s_st1, count[t], a0[t * nz + z], da[t], s0[t * nz + z], ds[t], nx, nw,
                             nr, V + z * nw * nr);
            continue;
        }
        for (long t0 = 0; t0 < nv; t0 += VIEW_GROUP) {
            const long k = min_l(VIEW_GROUP, nv - t0);
            for (long z = zb * z_block; z < z_end; z++)
                (wide ? back_row_group_wide : back_row_group)(S + t0 * s_st0, s_st0, s_st1, count + t0,
                                                              a0 + t0 * nz + z, da + t0, s0 + t0 * nz + z, ds + t0,
                                                              nz, k, nx, nw, nr, V + z * nw * nr);
        }
    }
}

/* Slice position i (1..4) holds an existing vertical slice whose row ivy[i] + k - 2 lies in 1..thick_bp. */
static inline int valid(const int *exists, const long *ivy, int k, int i, long thick_bp)
{
    const long r = ivy[i] + (k - 2);
    return exists[i] && 1 <= r && r <= thick_bp;
}

/* out (thick, nw, nys) from vert (thick_bp, nw, nrows), both contiguous, whose row 0 is input row r0 (0-based):
 * bilinear in (slice, Z), falling back to the slice before (fx < 0.02) or the row before (fy < 0.02) where a
 * neighbour is missing, zero where neither applies.  Parallel over the output slices k. */
void compose(const float *vert, long nrows, float *out, long thick, long nw, long nys,
             long y0, long r0, long ny, long thick_bp, double cen_slice, double zshift,
             double ca, double sa, double tan_a, int threads, long *branches)
{
    const double vertcen = (double)(thick_bp / 2) + 0.5;
    const double thick_cen = (double)(thick / 2) + 0.5;
    long n_ok = 0, n_a = 0, n_b = 0, n_zero = 0;
#pragma omp parallel for schedule(static) num_threads(threads) reduction(+ : n_ok, n_a, n_b, n_zero)
    for (long k = 0; k < nys; k++) {
        const double cenl = (double)(y0 + k + 1) - cen_slice;
        for (long j = 0; j < thick; j++) {
            const double cenj = (double)(j + 1) - thick_cen - zshift;
            const double vsl = cenl * ca - cenj * sa + cen_slice;
            const double vycen = cenl * sa + cenj * ca;
            const long ivsl = (long)vsl;  /* truncation toward zero, as int() */
            double fx = vsl - (double)ivsl;
            int exists[5] = {0, 0, 0, 0, 0};
            long ivy[5] = {0, 0, 0, 0, 0};
            double fy = 0.0;
            for (int i = 1; i < 5; i++) {
                const long lv = ivsl + i - 2;
                exists[i] = 1 <= lv && lv <= ny;
                const double vy = vycen + vertcen - fortran_nint(tan_a * ((double)lv - cen_slice)) + zshift / ca;
                ivy[i] = (long)vy;
                if (exists[i])
                    fy = vy - (double)ivy[i];
            }
            const int ok0 = valid(exists, ivy, 2, 2, thick_bp) && valid(exists, ivy, 2, 3, thick_bp)
                            && valid(exists, ivy, 3, 2, thick_bp) && valid(exists, ivy, 3, 3, thick_bp);
            const int res_a = !ok0 && fx < 0.02 && valid(exists, ivy, 2, 1, thick_bp)
                              && valid(exists, ivy, 3, 1, thick_bp) && valid(exists, ivy, 2, 2, thick_bp)
                              && valid(exists, ivy, 3, 2, thick_bp);
            const int res_b = !ok0 && !res_a && fy < 0.02 && valid(exists, ivy, 1, 2, thick_bp)
                              && valid(exists, ivy, 1, 3, thick_bp) && valid(exists, ivy, 2, 2, thick_bp)
                              && valid(exists, ivy, 3, 2, thick_bp) && valid(exists, ivy, 2, 3, thick_bp);
            float *dst = out + j * nw * nys + k;
            if (!(ok0 || res_a || res_b)) {
                n_zero++;
                for (long x = 0; x < nw; x++)
                    dst[x * nys] = 0.0f;
                continue;
            }
            n_ok += ok0;
            n_a += res_a;
            n_b += res_b;
            const int s_lo = res_a ? 1 : 2;
            const long roff = res_b ? -1 : 0;
            if (res_a)
                fx += 1.0;
            if (res_b)
                fy += 1.0;
            const long l_lo = clamp_l(ivsl + s_lo - 2, 1, ny) - 1 - r0;
            const long l_hi = clamp_l(ivsl + s_lo - 1, 1, ny) - 1 - r0;
            const long a_lo = clamp_l(ivy[s_lo] + roff, 1, thick_bp) - 1;
            const long a_hi = clamp_l(ivy[s_lo] + roff + 1, 1, thick_bp) - 1;
            const long b_lo = clamp_l(ivy[s_lo + 1] + roff, 1, thick_bp) - 1;
            const long b_hi = clamp_l(ivy[s_lo + 1] + roff + 1, 1, thick_bp) - 1;
            const float w11 = (float)((1.0 - fy) * (1.0 - fx));
            const float w12 = (float)((1.0 - fy) * fx);
            const float w21 = (float)(fy * (1.0 - fx));
            const float w22 = (float)(fy * fx);
            const long row = nw * nrows;
            const float *p11 = vert + a_lo * row + l_lo, *p12 = vert + b_lo * row + l_hi;
            const float *p21 = vert + a_hi * row + l_lo, *p22 = vert + b_hi * row + l_hi;
            for (long x = 0; x < nw; x++) {
                const long o = x * nrows;
                dst[x * nys] = w11 * p11[o] + w12 * p12[o] + w21 * p21[o] + w22 * p22[o];
            }
        }
    }
    if (branches) {
        branches[0] = n_ok;
        branches[1] = n_a;
        branches[2] = n_b;
        branches[3] = n_zero;
    }
}

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_imod_interp", "IMOD's CPU interpolation kernels, called "
                                    "through ctypes.", -1, NULL, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__imod_interp(void) { return PyModule_Create(&module); }
