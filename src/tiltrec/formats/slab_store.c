/* Storing a computed slab into a file's block (slab_store.py states it): transpose, type conversion and statistics
 * in one pass, compiled without contraction into FMAs, each slice's sums taken in a fixed order (the same whatever
 * the threads).  The slab is read along Y, its contiguous axis: eight Y lanes at a time are one vector. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <omp.h>
#include <float.h>
#include <immintrin.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { STORE_FLOAT32 = 0, STORE_INT16 = 1, STORE_UINT8 = 2 };

typedef struct {
    double mn, mx, total, squares, raw, raw_mn, raw_mx, clipped;
} Lane;  /* the statistics of one Y lane of a slice, over X */

static void lane_start(Lane *l)
{
    l->mn = l->raw_mn = INFINITY;
    l->mx = l->raw_mx = -INFINITY;
    l->total = l->squares = l->raw = l->clipped = 0.0;
}

/* The stored value of one slab value, folded into its lane's statistics. */
static inline double store_one(float value, char *d, int kind, double lo, double hi, Lane *l)
{
    double v = (double)value;
    l->raw += v;
    l->raw_mn = v < l->raw_mn ? v : l->raw_mn;
    l->raw_mx = v > l->raw_mx ? v : l->raw_mx;
    if (kind != STORE_FLOAT32)
        v = nearbyint(v);
    if (v < lo || v > hi)
        l->clipped += 1.0;
    v = lo > v ? lo : v;
    v = hi < v ? hi : v;
    if (kind == STORE_FLOAT32) {
        const float f = (float)v;
        memcpy(d, &f, sizeof f);
    } else if (kind == STORE_INT16) {
        const int16_t i = v == v ? (int16_t)v : 0;
        memcpy(d, &i, sizeof i);
    } else {
        *(uint8_t *)d = v == v ? (uint8_t)v : 0;
    }
    l->mn = v < l->mn ? v : l->mn;
    l->mx = v > l->mx ? v : l->mx;
    l->total += v;
    l->squares += v * v;
    return v;
}

/* Eight float32 lanes y0 .. y0 + 7 of slice z over every X, as store_one does them one by one: the same values,
 * the same statistics per lane (minima and maxima of floats are exact in float; a float's square is exact in
 * double), so the result does not depend on which path ran. */
__attribute__((target("avx2"))) static void store_eight(const float *src, long nx, long ny, char *dst, long sy,
                                                         long sx, Lane *lanes)
{
    const __m256 lo = _mm256_set1_ps(-FLT_MAX), hi = _mm256_set1_ps(FLT_MAX), one = _mm256_set1_ps(1.0f);
    __m256 mn = _mm256_set1_ps(INFINITY), mx = _mm256_set1_ps(-INFINITY);
    __m256 raw_mn = mn, raw_mx = mx, clipped = _mm256_setzero_ps();
    __m256d total0 = _mm256_setzero_pd(), total1 = total0, squares0 = total0, squares1 = total0;
    __m256d raw0 = total0, raw1 = total0;
    float stored[8];
    for (long x = 0; x < nx; x++) {
        __m256 v = _mm256_loadu_ps(src + x * ny);
        raw0 = _mm256_add_pd(raw0, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
        raw1 = _mm256_add_pd(raw1, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
        raw_mn = _mm256_min_ps(v, raw_mn);  /* v < m ? v : m: a NaN leaves m */
        raw_mx = _mm256_max_ps(v, raw_mx);
        const __m256 out = _mm256_or_ps(_mm256_cmp_ps(v, lo, _CMP_LT_OQ), _mm256_cmp_ps(v, hi, _CMP_GT_OQ));
        clipped = _mm256_add_ps(clipped, _mm256_and_ps(out, one));
        v = _mm256_max_ps(lo, v);  /* lo > v ? lo : v: a NaN stays */
        v = _mm256_min_ps(hi, v);
        _mm256_storeu_ps(stored, v);
        char *d = dst + x * sx;
        for (int k = 0; k < 8; k++)  /* (a tile written out in runs per lane was slower: 18.6 against 15.8 ms) */
            memcpy(d + k * sy, stored + k, sizeof(float));
        mn = _mm256_min_ps(v, mn);
        mx = _mm256_max_ps(v, mx);
        const __m256d v0 = _mm256_cvtps_pd(_mm256_castps256_ps128(v));
        const __m256d v1 = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
        total0 = _mm256_add_pd(total0, v0);
        total1 = _mm256_add_pd(total1, v1);
        squares0 = _mm256_add_pd(squares0, _mm256_mul_pd(v0, v0));
        squares1 = _mm256_add_pd(squares1, _mm256_mul_pd(v1, v1));
    }
    float f[6][8];
    double g[6][4];
    _mm256_storeu_ps(f[0], mn);
    _mm256_storeu_ps(f[1], mx);
    _mm256_storeu_ps(f[2], raw_mn);
    _mm256_storeu_ps(f[3], raw_mx);
    _mm256_storeu_ps(f[4], clipped);
    _mm256_storeu_pd(g[0], total0);
    _mm256_storeu_pd(g[1], total1);
    _mm256_storeu_pd(g[2], squares0);
    _mm256_storeu_pd(g[3], squares1);
    _mm256_storeu_pd(g[4], raw0);
    _mm256_storeu_pd(g[5], raw1);
    for (int k = 0; k < 8; k++) {
        Lane *l = lanes + k;
        /* an empty slice (nx = 0) keeps the infinities, as the one-by-one path does */
        l->mn = f[0][k];
        l->mx = f[1][k];
        l->raw_mn = f[2][k];
        l->raw_mx = f[3][k];
        l->clipped = f[4][k];
        l->total = g[k / 4][k % 4];
        l->squares = g[2 + k / 4][k % 4];
        l->raw = g[4 + k / 4][k % 4];
    }
}

/* dst[z, y, x] (byte strides sz, sy, sx) = clip(round?(src[z, x, y])); stats[z][0..7]: min, max, sum and sum of
 * squares of the stored values, sum, min and max of the values before rounding and clipping, and how many were
 * clipped.  Rounding (to nearest, halves to even) for the integer kinds; a NaN is stored as NaN, or 0 in an
 * integer kind, and left out of the minima and maxima.  Each Y lane's sums are taken along X, then the lanes'
 * in Y order: the same whatever the threads and the path (float32 lanes eight at a time with AVX2). */
void store_slab(const float *src, long nz, long nx, long ny, char *dst, long sz, long sy, long sx, int kind,
                double lo, double hi, double *stats, int threads)
{
    __builtin_cpu_init();
    const int eights = kind == STORE_FLOAT32 && __builtin_cpu_supports("avx2") && lo == -FLT_MAX && hi == FLT_MAX;
#pragma omp parallel num_threads(threads)
    {
        Lane *lanes = malloc(sizeof(Lane) * (ny > 0 ? ny : 1));
#pragma omp for schedule(static)
        for (long z = 0; z < nz; z++) {
            const float *sz_src = src + z * nx * ny;
            char *sz_dst = dst + z * sz;
            long y = 0;
            if (eights)
                for (; y + 8 <= ny; y += 8)
                    store_eight(sz_src + y, nx, ny, sz_dst + y * sy, sy, sx, lanes + y);
            for (; y < ny; y++) {
                lane_start(lanes + y);
                for (long x = 0; x < nx; x++)
                    store_one(sz_src[x * ny + y], sz_dst + y * sy + x * sx, kind, lo, hi, lanes + y);
            }
            Lane all;
            lane_start(&all);
            for (y = 0; y < ny; y++) {
                const Lane *l = lanes + y;
                all.mn = l->mn < all.mn ? l->mn : all.mn;
                all.mx = l->mx > all.mx ? l->mx : all.mx;
                all.raw_mn = l->raw_mn < all.raw_mn ? l->raw_mn : all.raw_mn;
                all.raw_mx = l->raw_mx > all.raw_mx ? l->raw_mx : all.raw_mx;
                all.total += l->total;
                all.squares += l->squares;
                all.raw += l->raw;
                all.clipped += l->clipped;
            }
            double *s = stats + z * 8;
            s[0] = all.mn;
            s[1] = all.mx;
            s[2] = all.total;
            s[3] = all.squares;
            s[4] = all.raw;
            s[5] = all.raw_mn;
            s[6] = all.raw_mx;
            s[7] = all.clipped;
        }
        free(lanes);
    }
}

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_slab_store", "Storing slabs, called through ctypes.",
                                    -1, NULL, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__slab_store(void) { return PyModule_Create(&module); }
