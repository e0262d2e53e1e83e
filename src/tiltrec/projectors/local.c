/* Projection with IMOD's local alignments (projectors/local_cpu.py says what it computes), compiled.
 *
 * Every voxel samples each view at its own position: xproj = xf + zz xz, yproj = yf + zz yz per column, view and
 * slice.  Along a column's thickness the position moves linearly, so the samples that need no edge rule form one
 * run; in the back-projection that run is a plain loop the compiler vectorises with gathers (AVX2, AVX-512), and
 * the ends go through every rule of IMOD's.  The forward projection is its exact transpose: each voxel deposits
 * its value at the same four pixels with the same weights and the same rules.  Built without contraction into
 * FMAs: each voxel's sum is IMOD's float32 arithmetic, in its order (views in turn), and each projection pixel's
 * sum is taken in a fixed order, whatever the threads or the vector width.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <omp.h>
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#include "kernel_clones.h"
#define YTOL 3.05f          /* rows this close beyond the first or last row read that row (IMOD's ytol) */
#define COLUMN_BLOCK 32     /* columns one task takes (local_cpu.py's COLUMN_BLOCK too) */
#define FORWARD_PARTS 8     /* fixed groups of slices a one-view forward projection is split into (local_cpu.py) */
#define SLICE_GROUP 8       /* slices a back-projection task sums before adding them to the volume (local_cpu.py) */
#define STREAMS 2           /* views (or parts) one forward-projection task takes side by side */

/* acc plus IMOD's bilinear sample, in its float32 order: acc + (1 - fy) ((1 - fx) p00 + fx p01) + fy ((1 - fx) p10
 * + fx p11), for floats and GCC's vectors of floats (__m256, __m512) alike, so that every path adds the same. */
#define ADD_SAMPLE(acc, fx, fy, p00, p01, p10, p11) \
    ((acc) + (1.0f - (fy)) * ((1.0f - (fx)) * (p00) + (fx) * (p01)) + (fy) * ((1.0f - (fx)) * (p10) + (fx) * (p11)))

static int use_pairs;  /* whether the CPU has AVX2 (back_local asks before its threads start) */
static int use_wide;   /* whether it has AVX-512 (x86-64-v4) */

typedef struct {
    float *rows;            /* [view - v0][row - r0][x]: the views of one pass */
    long nrows, nx, r0, ny, legal0, legal1;
} Views;

/* Where the sample at (x, y) falls under every rule of IMOD's (edge rows, inside the view, rows loaded): the pixel
 * (ix, iy), 1-based as IMOD's, of the pair of pixel pairs it interpolates, and the fractions; 0: no sample. */
static inline int locate(const Views *p, float x, float y, long *ix, long *iy, float *fx, float *fy)
{
    const float ny_top = (float)p->ny;
    if (y >= 1.0f - YTOL && y <= ny_top + YTOL)
        y = y < 1.0f ? 1.0f : (y > ny_top ? ny_top : y);
    if (x < 1.0f || x > (float)p->nx || y < 1.0f || y > ny_top)
        return 0;
    long jx = (long)x, jy = (long)y;
    if (jx > p->nx - 1)
        jx = p->nx - 1;
    if (jy > p->ny - 1)
        jy = p->ny - 1;
    if (jy - 1 < p->legal0 || jy + 1 > p->legal1)
        return 0;
    *ix = jx;
    *iy = jy;
    *fx = x - (float)jx;
    *fy = y - (float)jy;
    return 1;
}

/* The first of the four pixels the sample at pixel (ix, iy) of view v reads (the others: +1, +nx, +nx+1). */
static inline float *corner(const Views *p, long v, long ix, long iy)
{
    return p->rows + (v * p->nrows + iy - 1 - p->r0) * p->nx + ix - 1;
}

/* Whether the sample at (x, y) needs no rule: inside, short of the last column and row, both rows loaded. */
static inline int plain(const Views *p, float x, float y)
{
    if (x < 1.0f || x >= (float)(p->nx - 1) || y < 1.0f || y >= (float)(p->ny - 1))
        return 0;
    const long iy = (long)y;
    return iy - 1 >= p->legal0 && iy + 1 <= p->legal1;
}

/* The samples of one column of view v that need no rule: [*first, *last], from the ends inwards. */
static inline void plain_run(const Views *p, float a, float b, float c, float d, const float *zz, long thick,
                             long *first, long *last)
{
    long i0 = 0, i1 = thick - 1;
    while (i0 < thick && !plain(p, a + zz[i0] * b, c + zz[i0] * d))
        i0++;
    while (i1 >= i0 && !plain(p, a + zz[i1] * b, c + zz[i1] * d))
        i1--;
    *first = i0;
    *last = i1;
}

/* acc += the sample at (x, y) of view v, with every rule. */
static inline void gather(const Views *p, long v, float x, float y, float *acc)
{
    long ix, iy;
    float fx, fy;
    if (!locate(p, x, y, &ix, &iy, &fx, &fy))
        return;
    const float *low = corner(p, v, ix, iy), *high = low + p->nx;
    *acc = ADD_SAMPLE(*acc, fx, fy, low[0], low[1], high[0], high[1]);
}

/* The transpose of gather: value spread over the four pixels the sample at (x, y) of view v reads. */
static inline void deposit(const Views *p, long v, float x, float y, float value)
{
    long ix, iy;
    float fx, fy;
    if (!locate(p, x, y, &ix, &iy, &fx, &fy))
        return;
    float *low = corner(p, v, ix, iy), *high = low + p->nx;
    const float w0 = (1.0f - fy) * value, w1 = fy * value;
    low[0] += (1.0f - fx) * w0;
    low[1] += fx * w0;
    high[0] += (1.0f - fx) * w1;
    high[1] += fx * w1;
}

/* Four pairs of neighbouring pixels (each pair one 8-byte load) as the first and second pixels of four samples:
 * pairs at a, b (samples 0, 1) and c, e (samples 2, 3). */
__attribute__((target("avx2"))) static inline void pairs4(const float *a, const float *b, const float *c,
                                                          const float *e, __m128 *first, __m128 *second)
{
    const __m128 ab = _mm_loadh_pi(_mm_loadl_pi(_mm_setzero_ps(), (const __m64 *)a), (const __m64 *)b);
    const __m128 ce = _mm_loadh_pi(_mm_loadl_pi(_mm_setzero_ps(), (const __m64 *)c), (const __m64 *)e);
    *first = _mm_shuffle_ps(ab, ce, _MM_SHUFFLE(2, 0, 2, 0));
    *second = _mm_shuffle_ps(ab, ce, _MM_SHUFFLE(3, 1, 3, 1));
}

/* Eight samples' first and second pixels from one row: taken out of the eight (span <= 6) or sixteen (span <= 14)
 * pixels from ``row`` on, ``idx`` the samples' columns counted from there (vpermps instead of a load per pair). */
__attribute__((target("avx2"))) static inline void from_row(const float *row, int wide, __m256i idx, __m256i next,
                                                              __m256i high_idx, __m256i high_next, __m256 *first,
                                                              __m256 *second)
{
    const __m256 lo = _mm256_loadu_ps(row);
    *first = _mm256_permutevar8x32_ps(lo, idx);
    *second = _mm256_permutevar8x32_ps(lo, next);
    if (wide) {
        const __m256 hi = _mm256_loadu_ps(row + 8);
        *first = _mm256_blendv_ps(*first, _mm256_permutevar8x32_ps(hi, idx), _mm256_castsi256_ps(high_idx));
        *second = _mm256_blendv_ps(*second, _mm256_permutevar8x32_ps(hi, next), _mm256_castsi256_ps(high_next));
    }
}

/* The plain run [first, last] of one column, eight samples at a time; the same operations in the same order as the
 * loop in back_column, which takes the rest.  Along the run x and y move monotonically (zz increases, x = a + zz b
 * rounds monotonically), so the eight samples' columns lie between those of the first and the last, and their row
 * is one row when the first's and the last's are: then the pixels come out of one or two vector loads per row,
 * shuffled (a tilt of up to ~59 deg moves x less than 6/7 pixel a sample: one load); otherwise, or at the right
 * edge of the view, each sample's two pixel pairs are read as two 8-byte loads.  Returns the first sample it did
 * not take. */
__attribute__((target("avx2"))) static long back_run_avx2(const float *view, int nx, int shift, float a, float b,
                                                            float c, float d, const float *zz, long first, long last,
                                                            float *acc)
{
    const __m256 va = _mm256_set1_ps(a), vb = _mm256_set1_ps(b), vc = _mm256_set1_ps(c), vd = _mm256_set1_ps(d);
    const __m256i vnx = _mm256_set1_epi32(nx), vshift = _mm256_set1_epi32(shift);
    const __m256i seven = _mm256_set1_epi32(7), unit = _mm256_set1_epi32(1);
    int at[8];
    long i = first;
    for (; i + 8 <= last + 1; i += 8) {
        const __m256 z = _mm256_loadu_ps(zz + i);
        const __m256 x = _mm256_add_ps(va, _mm256_mul_ps(z, vb));
        const __m256 y = _mm256_add_ps(vc, _mm256_mul_ps(z, vd));
        const __m256i ix = _mm256_cvttps_epi32(x), iy = _mm256_cvttps_epi32(y);
        const __m256 fx = _mm256_sub_ps(x, _mm256_cvtepi32_ps(ix)), fy = _mm256_sub_ps(y, _mm256_cvtepi32_ps(iy));
        const int ix_a = _mm256_cvtsi256_si32(ix), ix_b = _mm256_extract_epi32(ix, 7);
        const int iy_a = _mm256_cvtsi256_si32(iy), iy_b = _mm256_extract_epi32(iy, 7);
        const int low = ix_a < ix_b ? ix_a : ix_b, span = ix_a < ix_b ? ix_b - ix_a : ix_a - ix_b;
        __m256 v00, v01, v10, v11;
        if (iy_a == iy_b && span <= 14 && low + (span <= 6 ? 7 : 15) <= nx) {
            const __m256i idx = _mm256_sub_epi32(ix, _mm256_set1_epi32(low)), next = _mm256_add_epi32(idx, unit);
            const int wide = span > 6;
            const __m256i high_idx = _mm256_cmpgt_epi32(idx, seven), high_next = _mm256_cmpgt_epi32(next, seven);
            const float *row = view + iy_a * nx + low + shift;
            from_row(row, wide, idx, next, high_idx, high_next, &v00, &v01);
            from_row(row + nx, wide, idx, next, high_idx, high_next, &v10, &v11);
        } else {
            _mm256_storeu_si256((__m256i *)at,
                                _mm256_add_epi32(_mm256_add_epi32(_mm256_mullo_epi32(iy, vnx), ix), vshift));
            __m128 l0, l1, h0, h1, l0b, l1b, h0b, h1b;
            pairs4(view + at[0], view + at[1], view + at[2], view + at[3], &l0, &l1);
            pairs4(view + at[4], view + at[5], view + at[6], view + at[7], &l0b, &l1b);
            pairs4(view + at[0] + nx, view + at[1] + nx, view + at[2] + nx, view + at[3] + nx, &h0, &h1);
            pairs4(view + at[4] + nx, view + at[5] + nx, view + at[6] + nx, view + at[7] + nx, &h0b, &h1b);
            v00 = _mm256_set_m128(l0b, l0);
            v01 = _mm256_set_m128(l1b, l1);
            v10 = _mm256_set_m128(h0b, h0);
            v11 = _mm256_set_m128(h1b, h1);
        }
        _mm256_storeu_ps(acc + i, ADD_SAMPLE(_mm256_loadu_ps(acc + i), fx, fy, v00, v01, v10, v11));
    }
    return i;
}

/* back_run_avx2 sixteen samples at a time, for CPUs with AVX-512: the pixels of sixteen samples on one row come out
 * of one 16-value load per row and a full permute (a tilt of up to ~60 deg moves x at most 14 pixels in 16
 * samples); where the samples change row or spread wider, back_run_avx2 takes those sixteen.  The same operations
 * per sample in the same order (no FMAs: the file is built without contraction).  Returns the first sample it did
 * not take. */
WIDE_KERNEL static long back_run_avx512(const float *view, int nx, int shift, float a, float b, float c, float d,
                                        const float *zz, long first, long last, float *acc)
{
    const __m512 va = _mm512_set1_ps(a), vb = _mm512_set1_ps(b), vc = _mm512_set1_ps(c), vd = _mm512_set1_ps(d);
    const __m512i unit = _mm512_set1_epi32(1);
    long i = first;
    for (; i + 16 <= last + 1; i += 16) {
        const __m512 z = _mm512_loadu_ps(zz + i);
        const __m512 x = _mm512_add_ps(va, _mm512_mul_ps(z, vb));
        const __m512 y = _mm512_add_ps(vc, _mm512_mul_ps(z, vd));
        const __m512i ix = _mm512_cvttps_epi32(x), iy = _mm512_cvttps_epi32(y);
        const int ix_a = _mm_cvtsi128_si32(_mm512_castsi512_si128(ix));
        const int ix_b = _mm_extract_epi32(_mm512_extracti32x4_epi32(ix, 3), 3);
        const int iy_a = _mm_cvtsi128_si32(_mm512_castsi512_si128(iy));
        const int iy_b = _mm_extract_epi32(_mm512_extracti32x4_epi32(iy, 3), 3);
        const int low = ix_a < ix_b ? ix_a : ix_b, span = ix_a < ix_b ? ix_b - ix_a : ix_a - ix_b;
        if (iy_a != iy_b || span > 14 || low + 15 > nx) {
            back_run_avx2(view, nx, shift, a, b, c, d, zz, i, i + 15, acc);
            continue;
        }
        const __m512 fx = _mm512_sub_ps(x, _mm512_cvtepi32_ps(ix)), fy = _mm512_sub_ps(y, _mm512_cvtepi32_ps(iy));
        const __m512i idx = _mm512_sub_epi32(ix, _mm512_set1_epi32(low)), next = _mm512_add_epi32(idx, unit);
        const float *row = view + iy_a * nx + low + shift;
        const __m512 lo = _mm512_loadu_ps(row), hi = _mm512_loadu_ps(row + nx);
        const __m512 v00 = _mm512_permutexvar_ps(idx, lo), v01 = _mm512_permutexvar_ps(next, lo);
        const __m512 v10 = _mm512_permutexvar_ps(idx, hi), v11 = _mm512_permutexvar_ps(next, hi);
        _mm512_storeu_ps(acc + i, ADD_SAMPLE(_mm512_loadu_ps(acc + i), fx, fy, v00, v01, v10, v11));
    }
    return i;
}

/* One column of one view into acc[0 .. thick): the run of plain samples, and the ends with every rule. */
static KERNEL void back_column(const Views *p, long v, float a, float b, float c, float d,
                               const float *restrict zz, long thick, float *restrict acc)
{
    long first, last;
    plain_run(p, a, b, c, d, zz, thick, &first, &last);
    for (long i = 0; i < first; i++)
        gather(p, v, a + zz[i] * b, c + zz[i] * d, acc + i);
    for (long i = last + 1; i < thick; i++)
        gather(p, v, a + zz[i] * b, c + zz[i] * d, acc + i);
    const float *restrict view = p->rows + v * p->nrows * p->nx;
    const int nx = (int)p->nx;
    const int shift = (int)(-(1 + p->r0) * p->nx - 1);  /* row iy, column ix (1-based): view[iy nx + ix + shift] */
    long i = first;
    if (use_wide)
        i = back_run_avx512(view, nx, shift, a, b, c, d, zz, i, last, acc);
    if (use_pairs)
        i = back_run_avx2(view, nx, shift, a, b, c, d, zz, i, last, acc);
    for (; i <= last; i++) {
        const float x = a + zz[i] * b;
        const float y = c + zz[i] * d;
        const int ix = (int)x;
        const int iy = (int)y;
        const float fx = x - (float)ix;
        const float fy = y - (float)iy;
        const int at = iy * nx + ix + shift;
        acc[i] = ADD_SAMPLE(acc[i], fx, fy, view[at], view[at + 1], view[at + nx], view[at + nx + 1]);
    }
}

/* vol[i][j][s] += the samples of views [v0, v1) (rows[v - v0]), for thickness row i, column j and slab slice s;
 * the factors are [s][v][j] for all nviews views; ``scratch`` holds SLICE_GROUP x COLUMN_BLOCK x thick floats per
 * thread.  A task's slices are summed SLICE_GROUP at a time (each slice's sums stay in the first cache while its
 * views are sampled) and added to the volume together, SLICE_GROUP neighbouring values at a time. */
void back_local(const float *rows, long v0, long v1, long nviews, long nrows, long nx, long r0, long ny,
                long legal0, long legal1, const float *xf, const float *xz, const float *yf, const float *yz,
                const float *zz, float *out, long thick, long width, long nslab, float *scratch, int threads)
{
    const Views p = {(float *)rows, nrows, nx, r0, ny, legal0, legal1};
    const long nblocks = (width + COLUMN_BLOCK - 1) / COLUMN_BLOCK;
    const long plane = COLUMN_BLOCK * thick;
    __builtin_cpu_init();
    use_pairs = __builtin_cpu_supports("avx2");
    use_wide = has_wide_vectors();
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (long block = 0; block < nblocks; block++) {
        const long j0 = block * COLUMN_BLOCK;
        const long j1 = j0 + COLUMN_BLOCK < width ? j0 + COLUMN_BLOCK : width;
        float *acc = scratch + (long)omp_get_thread_num() * SLICE_GROUP * plane;
        for (long s0 = 0; s0 < nslab; s0 += SLICE_GROUP) {
            const long group = nslab - s0 < SLICE_GROUP ? nslab - s0 : SLICE_GROUP;
            memset(acc, 0, sizeof(float) * group * plane);
            for (long g = 0; g < group; g++)
                for (long v = v0; v < v1; v++) {
                    const long at = ((s0 + g) * nviews + v) * width;
                    for (long j = j0; j < j1; j++)
                        back_column(&p, v - v0, xf[at + j], xz[at + j], yf[at + j], yz[at + j], zz, thick,
                                    acc + g * plane + (j - j0) * thick);
                }
            for (long j = j0; j < j1; j++)
                for (long i = 0; i < thick; i++) {
                    float *dst = out + (i * width + j) * nslab + s0;
                    const float *src = acc + (j - j0) * thick + i;
                    for (long g = 0; g < group; g++)
                        dst[g] += src[g * plane];
                }
        }
    }
}

/* The plain run's deposits of one column, computed as vectors: the first of the four pixels of each voxel and the
 * four parts of its value.  ``scratch``: 5 x thick floats. */
static KERNEL void plain_deposits(float a, float b, float c, float d, const float *restrict zz, long first,
                                  long last, long nx, long shift, const float *restrict col, int *restrict at,
                                  float *restrict w00, float *restrict w01, float *restrict w10, float *restrict w11)
{
    for (long i = first; i <= last; i++) {
        const float x = a + zz[i] * b;
        const float y = c + zz[i] * d;
        const int ix = (int)x, iy = (int)y;
        const float fx = x - (float)ix, fy = y - (float)iy;
        const float w0 = (1.0f - fy) * col[i], w1 = fy * col[i];
        at[i] = iy * (int)nx + ix + (int)shift;
        w00[i] = (1.0f - fx) * w0;
        w01[i] = fx * w0;
        w10[i] = (1.0f - fx) * w1;
        w11[i] = fx * w1;
    }
}

/* One column's values col[0 .. thick) into view v, up to the plain run: the voxels before and after it with every
 * rule; the run's first pixel and four parts per voxel into ``scratch`` (5 x thick floats: pixel, then the parts
 * for rows iy-1 and iy of columns ix-1 and ix as w00 w01 w10 w11).  Returns the run [*first, *last]. */
static void prepare_column(const Views *p, long v, float a, float b, float c, float d, const float *zz, long thick,
                           const float *col, float *scratch, long *first, long *last)
{
    plain_run(p, a, b, c, d, zz, thick, first, last);
    for (long i = 0; i < *first; i++)
        deposit(p, v, a + zz[i] * b, c + zz[i] * d, col[i]);
    for (long i = *last + 1; i < thick; i++)
        deposit(p, v, a + zz[i] * b, c + zz[i] * d, col[i]);
    if (*first > *last)
        return;
    const long nx = p->nx;
    float *w00 = scratch + thick;
    /* row iy, column ix (1-based): view[iy nx + ix + shift] */
    plain_deposits(a, b, c, d, zz, *first, *last, nx, -(1 + p->r0) * nx - 1, col, (int *)scratch, w00, w00 + thick,
                   w00 + 2 * thick, w00 + 3 * thick);
}

/* One stream of forward projection: view v of p, the (slice, column) pairs of slices [s0, s1) in order. */
typedef struct {
    const Views *p;
    long v, s0, s1;
    float *scratch;         /* prepare_column's */
    long first, last;       /* the current column's plain run */
} Stream;

/* The plain runs prepared in the active streams added to their views, the left pixels of every voxel, then the
 * right ones (a voxel's left pixel is often the previous voxel's right one, and an addition that reads a pair of
 * pixels just stored one pixel apart waits long for the store), the streams' voxels alternating: successive voxels
 * of one column often fall on the same pixels and wait for each other; another stream's do not.  Each view takes
 * its own voxels in the same order whatever the other stream. */
static void scatter(Stream *streams, int count, long thick)
{
    long n = 0;
    float *view[STREAMS];
    for (int k = 0; k < count; k++) {
        view[k] = streams[k].p->rows + streams[k].v * streams[k].p->nrows * streams[k].p->nx;
        if (streams[k].last - streams[k].first + 1 > n)
            n = streams[k].last - streams[k].first + 1;
    }
    const long nx = streams[0].p->nx;
    for (int right = 0; right < 2; right++)
        for (long t = 0; t < n; t++)
            for (int k = 0; k < count; k++) {
                const long i = streams[k].first + t;
                if (i > streams[k].last)
                    continue;
                const float *w = streams[k].scratch + thick * (1 + right);  /* w00 or w01; w10, w11 2 thick on */
                float *pixel = view[k] + ((const int *)streams[k].scratch)[i] + right;
                pixel[0] += w[i];
                pixel[nx] += w[i + 2 * thick];
            }
}

/* The streams' slices of ``columns`` ([s][j][i]) into their views, column by column, the streams side by side. */
static void forward_streams(Stream *streams, int count, long nviews, const float *xf, const float *xz,
                            const float *yf, const float *yz, const float *zz, const float *columns, long thick,
                            long width, long v0)
{
    long steps = 0;
    for (int k = 0; k < count; k++)
        if ((streams[k].s1 - streams[k].s0) * width > steps)
            steps = (streams[k].s1 - streams[k].s0) * width;
    for (long t = 0; t < steps; t++) {
        Stream active[STREAMS];
        int n = 0;
        for (int k = 0; k < count; k++) {
            const long s = streams[k].s0 + t / width, j = t % width;
            if (s >= streams[k].s1)
                continue;
            const long at = (s * nviews + streams[k].v + v0) * width + j;
            active[n] = streams[k];
            prepare_column(streams[k].p, streams[k].v, xf[at], xz[at], yf[at], yz[at], zz, thick,
                           columns + (s * width + j) * thick, streams[k].scratch, &active[n].first, &active[n].last);
            n++;
        }
        scatter(active, n, thick);
    }
}

/* rows[v - v0] += the projections of vol ([i][j][s]) in views [v0, v1), the transpose of back_local.  Each view's
 * pixels take their voxels in one fixed order: a task takes STREAMS views side by side (forward_streams); a single
 * view is split into FORWARD_PARTS fixed groups of slices, taken the same way and summed in order.  ``columns``:
 * the volume's size; ``parts``: FORWARD_PARTS views' size. */
void forward_local(float *rows, long v0, long v1, long nviews, long nrows, long nx, long r0, long ny, long legal0,
                   long legal1, const float *xf, const float *xz, const float *yf, const float *yz, const float *zz,
                   const float *vol, long thick, long width, long nslab, float *columns, float *parts, int threads)
{
#pragma omp parallel for schedule(static) num_threads(threads)
    for (long s = 0; s < nslab; s++)
        for (long j = 0; j < width; j++)
            for (long i = 0; i < thick; i++)
                columns[(s * width + j) * thick + i] = vol[(i * width + j) * nslab + s];
    const long view_size = nrows * nx;
    const int one_view = v1 - v0 == 1;
    const Views all = {rows, nrows, nx, r0, ny, legal0, legal1};
    Views part_views[FORWARD_PARTS];
    for (int part = 0; part < FORWARD_PARTS; part++)
        part_views[part] = (Views){parts + part * view_size, nrows, nx, r0, ny, legal0, legal1};
    /* tasks of STREAMS views (or parts of the one view) side by side */
    const long units = one_view ? FORWARD_PARTS : v1 - v0;
    const long tasks = (units + STREAMS - 1) / STREAMS;
#pragma omp parallel num_threads(threads)
    {
        float *scratch = malloc(sizeof(float) * 5 * thick * STREAMS);
#pragma omp for schedule(dynamic, 1)
        for (long task = 0; task < tasks; task++) {
            Stream streams[STREAMS];
            int count = 0;
            for (long u = task * STREAMS; u < units && u < (task + 1) * STREAMS; u++, count++) {
                float *own = scratch + 5 * thick * count;
                if (one_view) {
                    memset(part_views[u].rows, 0, sizeof(float) * view_size);
                    streams[count] = (Stream){&part_views[u], 0, u * nslab / FORWARD_PARTS,
                                              (u + 1) * nslab / FORWARD_PARTS, own, 0, -1};
                } else {
                    streams[count] = (Stream){&all, u, 0, nslab, own, 0, -1};
                }
            }
            forward_streams(streams, count, nviews, xf, xz, yf, yz, zz, columns, thick, width, v0);
        }
        free(scratch);
    }
    if (!one_view)
        return;
#pragma omp parallel for schedule(static) num_threads(threads)
    for (long k = 0; k < view_size; k++) {
        float sum = rows[k];
        for (long part = 0; part < FORWARD_PARTS; part++)
            sum += parts[part * view_size + k];
        rows[k] = sum;
    }
}

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_local", "Local-alignment projection, called through "
                                    "ctypes.", -1, NULL};

PyMODINIT_FUNC PyInit__local(void) { return PyModule_Create(&module); }
