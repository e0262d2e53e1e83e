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

/* The statistics of the stored values of eight lanes, taken eight values (one X) at a time: minima and maxima in
 * float (exact), the sum and the sum of squares of each lane in double, in X order, as store_one takes them. */
typedef struct {
    __m256 mn, mx;
    __m256d total0, total1, squares0, squares1; /* lanes 0-3 and 4-7 */
} Sums8;

#define AVX2_INLINE __attribute__((target("avx2"), always_inline)) static inline

AVX2_INLINE void sums8_start(Sums8 *s)
{
    s->mn = _mm256_set1_ps(INFINITY);
    s->mx = _mm256_set1_ps(-INFINITY);
    s->total0 = s->total1 = s->squares0 = s->squares1 = _mm256_setzero_pd();
}

AVX2_INLINE void sums8_add(Sums8 *s, __m256 v)
{
    s->mn = _mm256_min_ps(v, s->mn); /* v < m ? v : m: a NaN leaves m */
    s->mx = _mm256_max_ps(v, s->mx);
    const __m256d v0 = _mm256_cvtps_pd(_mm256_castps256_ps128(v));
    const __m256d v1 = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
    s->total0 = _mm256_add_pd(s->total0, v0);
    s->total1 = _mm256_add_pd(s->total1, v1);
    s->squares0 = _mm256_add_pd(s->squares0, _mm256_mul_pd(v0, v0));
    s->squares1 = _mm256_add_pd(s->squares1, _mm256_mul_pd(v1, v1));
}

/* The stored values' statistics into the lanes (an empty slice, nx = 0, keeps the infinities, as store_one's
 * lane_start leaves them). */
AVX2_INLINE void sums8_lanes(const Sums8 *s, Lane *lanes)
{
    float f[2][8];
    double g[4][4];
    _mm256_storeu_ps(f[0], s->mn);
    _mm256_storeu_ps(f[1], s->mx);
    _mm256_storeu_pd(g[0], s->total0);
    _mm256_storeu_pd(g[1], s->total1);
    _mm256_storeu_pd(g[2], s->squares0);
    _mm256_storeu_pd(g[3], s->squares1);
    for (int k = 0; k < 8; k++) {
        lanes[k].mn = f[0][k];
        lanes[k].mx = f[1][k];
        lanes[k].total = g[k / 4][k % 4];
        lanes[k].squares = g[2 + k / 4][k % 4];
    }
}

/* Eight float32 lanes y0 .. y0 + 7 of slice z over every X, as store_one does them one by one: the same values,
 * the same statistics per lane (minima and maxima of floats are exact in float; a float's square is exact in
 * double), so the result does not depend on which path ran. */
__attribute__((target("avx2"))) static void store_eight(const float *src, long nx, long ny, char *dst, long sy,
                                                         long sx, Lane *lanes)
{
    const __m256 lo = _mm256_set1_ps(-FLT_MAX), hi = _mm256_set1_ps(FLT_MAX), one = _mm256_set1_ps(1.0f);
    Sums8 sums;
    sums8_start(&sums);
    __m256 raw_mn = _mm256_set1_ps(INFINITY), raw_mx = _mm256_set1_ps(-INFINITY), clipped = _mm256_setzero_ps();
    __m256d raw0 = _mm256_setzero_pd(), raw1 = raw0;
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
        /* (a tile written out through memory in runs per lane was slower: 18.6 against 15.8 ms; a tile turned in
         * registers is faster where the rows allow it: store_eight_plain) */
        for (int k = 0; k < 8; k++)
            memcpy(d + k * sy, stored + k, sizeof(float));
        sums8_add(&sums, v);
    }
    sums8_lanes(&sums, lanes);
    float f[3][8];
    double g[2][4];
    _mm256_storeu_ps(f[0], raw_mn);
    _mm256_storeu_ps(f[1], raw_mx);
    _mm256_storeu_ps(f[2], clipped);
    _mm256_storeu_pd(g[0], raw0);
    _mm256_storeu_pd(g[1], raw1);
    for (int k = 0; k < 8; k++) {
        Lane *l = lanes + k;
        l->raw_mn = f[0][k];
        l->raw_mx = f[1][k];
        l->clipped = f[2][k];
        l->raw = g[k / 4][k % 4];
    }
}

/* Eight float32 lanes as store_eight stores them when nothing can be clipped (lo = -FLT_MAX, hi = FLT_MAX) and the
 * destination's rows are contiguous in X: every value stored as it is, eight X at a time turned in registers into
 * eight runs of eight values, one per lane (not eight scattered floats per X).  The statistics are store_eight's
 * for finite values (the stored values are the values, none clipped), summed in the same order; lanes holding a
 * NaN or an infinity have a sum that is not finite, and the caller stores them again with store_eight. */
__attribute__((target("avx2"))) static void store_eight_plain(const float *src, long nx, long ny, char *dst,
                                                               long sy, Lane *lanes)
{
    Sums8 sums;
    sums8_start(&sums);
    long x = 0;
    for (; x + 8 <= nx; x += 8) {
        __m256 r[8];
        for (int k = 0; k < 8; k++) {
            r[k] = _mm256_loadu_ps(src + (x + k) * ny);
            sums8_add(&sums, r[k]);
        }
        /* 8 x 8 transpose: r[k] = lane k's values at x .. x + 7 */
        const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
        const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
        const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
        const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
        const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
        const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
        const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
        const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
        r[0] = _mm256_permute2f128_ps(u0, u4, 0x20);
        r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
        r[2] = _mm256_permute2f128_ps(u2, u6, 0x20);
        r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
        r[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
        r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
        r[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
        r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
        for (int k = 0; k < 8; k++)
            _mm256_storeu_ps((float *)(dst + k * sy) + x, r[k]);
    }
    float stored[8];
    for (; x < nx; x++) {
        const __m256 v = _mm256_loadu_ps(src + x * ny);
        sums8_add(&sums, v);
        _mm256_storeu_ps(stored, v);
        for (int k = 0; k < 8; k++)
            memcpy(dst + k * sy + x * sizeof(float), stored + k, sizeof(float));
    }
    sums8_lanes(&sums, lanes);
    for (int k = 0; k < 8; k++) {
        Lane *l = lanes + k;
        l->raw_mn = l->mn;
        l->raw_mx = l->mx;
        l->raw = l->total;
        l->clipped = 0.0;
    }
}

static int all_finite(const Lane *lanes)
{
    for (int k = 0; k < 8; k++)
        if (!isfinite(lanes[k].total))
            return 0;
    return 1;
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
    const int plain = eights && sx == (long)sizeof(float);
#pragma omp parallel num_threads(threads)
    {
        Lane *lanes = malloc(sizeof(Lane) * (ny > 0 ? ny : 1));
#pragma omp for schedule(static)
        for (long z = 0; z < nz; z++) {
            const float *sz_src = src + z * nx * ny;
            char *sz_dst = dst + z * sz;
            long y = 0;
            if (eights)
                for (; y + 8 <= ny; y += 8) {
                    if (plain) {
                        store_eight_plain(sz_src + y, nx, ny, sz_dst + y * sy, sy, lanes + y);
                        if (all_finite(lanes + y))
                            continue;
                    }
                    store_eight(sz_src + y, nx, ny, sz_dst + y * sy, sy, sx, lanes + y);
                }
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
