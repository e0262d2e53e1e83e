/* Flat (zero X-axis tilt) projector pair in C: flat_kernels.py calls it through ctypes and documents the layouts.
 *
 * For view t, thickness row z and output column x, the sample column is u = base[t, z] + x c[t], computed in double
 * from the float32 coefficients (exactly as the CUDA and Numba kernels compute it), and used when 0 <= u < ncol - 1
 * (IMOD's legal range): i = floor(u), f = u - i.  The back-projection adds (1 - f) P[t, i, y] + f P[t, i + 1, y] to
 * V[z, x, y]; the forward projection adds V[z, x, y] to P[t, i, y] and P[t, i + 1, y] with the same weights, so the
 * two are exact transposes.
 *
 * Back-projection gathers: a chunk of Y of one voxel column stays in vector registers while a group of views adds
 * its samples (looked up in a small table of columns and weights), so the volume is loaded and stored once per group
 * instead of once per view.  Forward projection scatters along X: for one view and one thickness row, the two
 * projection columns the voxels feed are summed in registers until the sample column moves on.
 *
 * Every Y lane is computed by the same sequence of operations whatever the chunking and the number of threads, and no
 * two threads write the same value, so results do not depend on the number of threads. */

#include <Python.h>
#include <limits.h>
#include <string.h>

#include "kernel_clones.h"
#include "near_equal.h"
#include <immintrin.h>

#define INLINE static inline __attribute__((always_inline))

typedef float vf __attribute__((vector_size(32), aligned(4))); /* 8 floats, any alignment */
#define VL 8
#define load(p) (*(const vf *)(p))
#define store(p, v) (*(vf *)(p) = (v))

#define BACK_GROUP 8      /* views a voxel's Y chunk takes in registers (bin/bench kernels: 6-12 within noise) */
#define BACK_X_BLOCK 128  /* columns per sample table */
#define BACK_Z_ROWS 2     /* thickness rows that read the same projection rows while X advances */
#define CHUNK_VECTORS 8   /* vectors of Y values a chunk keeps in registers */
#define WIDEST (CHUNK_VECTORS * VL)
#define WL 16             /* floats in an AVX-512 vector */
#define WIDE_VECTORS 12   /* AVX-512 vectors a forward chunk keeps: its two sums take 24 of the 32 registers */
#define FORWARD_BAND 128  /* the most Y values of a forward projection's band by whole rows (see forward_flat) */
#define WIDE_BAND (WIDE_VECTORS * WL) /* ... except a single band with AVX-512, in one chunk */

/* The Y values of the next chunk when `left` remain: the whole vectors left in near-equal chunks of at most
 * CHUNK_VECTORS (88 values: 48 + 40, not 64 + 24), then the last few lanes. */
INLINE long chunk_width(long left)
{
    const long vectors = left / VL;
    return vectors ? near_equal_part(vectors, CHUNK_VECTORS) * VL : left;
}

/* The sample of a view at one voxel; 0 outside the legal range. */
INLINE int sample(double base, double c, long x, double umax, long *col, float *frac)
{
    double u = base + (double)x * c;
    if (!(u >= 0.0 && u < umax))
        return 0;
    long i = (long)u;
    *col = i;
    *frac = (float)(u - (double)i);
    return 1;
}

/* The samples of one voxel column for the views of a group.  fill_samples gives each view's offset of its first
 * projection column from the group's first projection (in floats) and its weights (zero weights and column 0 outside
 * the legal range), and says whether every view has a sample at every column of the table, as most tables of a
 * view-wide volume do; otherwise keep_valid lists the views with a sample, in view order.  A view without a sample
 * would add exactly zero, so the sums are the same without it; X-padded widths (the iterative methods') have many.
 * Offsets and the check come out of fill_samples' vectors: taken one value at a time afterwards, they made a
 * back-projection of 32 rows 1.2-1.3x slower. */
typedef struct {
    int col[BACK_GROUP]; /* an offset */
    float g[BACK_GROUP], f[BACK_GROUP];
} Samples;

typedef double vd __attribute__((vector_size(32)));
typedef long long vl __attribute__((vector_size(32)));
typedef int vi __attribute__((vector_size(16)));
typedef float vf4 __attribute__((vector_size(16)));

/* The samples of one thickness row for columns [xb, xe), four views at a time: the same values as sample() gives
 * one at a time (x c is exact in double, so there is one rounding either way), each column as its offset from the
 * group's first projection (in floats).  base and c: BACK_GROUP values (base -1 for the views past the group's k:
 * no sample).  Returns whether each of the k views has a sample at every column. */
INLINE int fill_samples(Samples *table, const float *base, const float *c, long xb, long xe, double umax, long k,
                        long view_stride, long col_stride)
{
    vd zero = {0.0, 0.0, 0.0, 0.0}, top = {umax, umax, umax, umax};
    vi stride = {(int)col_stride, (int)col_stride, (int)col_stride, (int)col_stride}, all = {-1, -1, -1, -1};
    for (long j = 0; j < BACK_GROUP; j += 4) {
        vd b = {base[j], base[j + 1], base[j + 2], base[j + 3]}, step = {c[j], c[j + 1], c[j + 2], c[j + 3]};
        vi first = {(int)(j * view_stride), (int)((j + 1) * view_stride), (int)((j + 2) * view_stride),
                    (int)((j + 3) * view_stride)};
        vi absent = {-(j >= k), -(j + 1 >= k), -(j + 2 >= k), -(j + 3 >= k)};
        for (long x = xb; x < xe; x++) {
            vd u = b + (double)x * step;
            vl valid = (u >= zero) & (u < top);
            vd inside = (vd)((vl)u & valid);
            vi col = __builtin_convertvector(inside, vi);
            vf4 f = __builtin_convertvector(inside - __builtin_convertvector(col, vd), vf4);
            vi keep = __builtin_convertvector(valid, vi);
            Samples *s = table + (x - xb);
            *(vi *)(s->col + j) = first + col * stride;
            *(vf4 *)(s->g + j) = (vf4)((vi)(1.0f - f) & keep);
            *(vf4 *)(s->f + j) = (vf4)((vi)f & keep);
            all &= keep | absent;
        }
    }
    return all[0] && all[1] && all[2] && all[3];
}

/* fill_samples with AVX-512: the group's 8 views in one vector of doubles, the same values (slabs of 32 rows
 * 1.10-1.17x faster than with fill_samples' two vectors of 4, whose masks GCC cannot widen to 8 without taking
 * them apart lane by lane). */
static WIDE_KERNEL int fill_samples_wide(Samples *table, const float *base, const float *c, long xb, long xe,
                                         double umax, long k, long view_stride, long col_stride)
{
    const __m512d b = _mm512_cvtps_pd(_mm256_loadu_ps(base)), step = _mm512_cvtps_pd(_mm256_loadu_ps(c));
    const __m512d zero = _mm512_setzero_pd(), top = _mm512_set1_pd(umax);
    const __m256i first = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                                             _mm256_set1_epi32((int)view_stride));
    const __m256i stride = _mm256_set1_epi32((int)col_stride);
    const __m256 one = _mm256_set1_ps(1.0f);
    const __mmask8 absent = (__mmask8)(0xff << k);
    __mmask8 all = 0xff;
    for (long x = xb; x < xe; x++) {
        __m512d u = _mm512_add_pd(b, _mm512_mul_pd(_mm512_set1_pd((double)x), step));
        __mmask8 valid = _mm512_cmp_pd_mask(u, zero, _CMP_GE_OQ) & _mm512_cmp_pd_mask(u, top, _CMP_LT_OQ);
        __m512d inside = _mm512_maskz_mov_pd(valid, u);
        __m256i col = _mm512_cvttpd_epi32(inside);
        __m256 f = _mm512_cvtpd_ps(_mm512_sub_pd(inside, _mm512_cvtepi32_pd(col)));
        Samples *s = table + (x - xb);
        _mm256_storeu_si256((__m256i *)s->col, _mm256_add_epi32(first, _mm256_mullo_epi32(col, stride)));
        _mm256_storeu_ps(s->g, _mm256_maskz_mov_ps(valid, _mm256_sub_ps(one, f)));
        _mm256_storeu_ps(s->f, _mm256_maskz_mov_ps(valid, f));
        all &= valid | absent;
    }
    return all == 0xff;
}

/* Keep the views of each column of a table that have a sample (weights g + f = 1: not both zero, though g is zero
 * where u - i rounds to 1 in float), in view order; count: how many, per column (k each with `every`). */
INLINE void keep_valid(Samples *table, unsigned char *count, long columns, long k, int every)
{
    if (every) {
        memset(count, (int)k, columns);
        return;
    }
    for (long x = 0; x < columns; x++) {
        Samples *s = table + x;
        int n = 0;
        for (long j = 0; j < k; j++) { /* without branches: written always, kept when valid */
            int valid = s->g[j] != 0.0f || s->f[j] != 0.0f;
            s->col[n] = s->col[j];
            s->g[n] = s->g[j];
            s->f[n] = s->f[j];
            n += valid;
        }
        count[x] = (unsigned char)n;
    }
}

/* What the last group of a back-projection does with each voxel's sum instead of storing it, as the separate
 * element-wise step (elementwise.c) computes it from the stored sum: with w, SIRT's update x <- x + sum * w, then
 * max(x, 0) with positivity (add_weighted); without w, WBP's output scale x <- sum * scale + shift (scale_add, x
 * being the volume itself).  The product is rounded on its own (passed through memory by the empty asm, so that
 * the compiler cannot contract it into an FMA), then the sum. */
typedef struct {
    float *x;
    const float *w;
    int positivity;
    float scale, shift;
} AddTo;

typedef int vi8 __attribute__((vector_size(32)));

INLINE void add_vector(const AddTo *a, long at, vf sum)
{
    if (!a->w) {
        vf t = sum * a->scale;
        __asm__("" : "+m"(t));
        store(a->x + at, t + a->shift);
        return;
    }
    vf t = sum * load(a->w + at);
    __asm__("" : "+m"(t));
    vf r = load(a->x + at) + t;
    if (a->positivity)
        r = (vf)((vi8)r & ~(r < 0.0f)); /* a NaN stays */
    store(a->x + at, r);
}

INLINE void add_value(const AddTo *a, long at, float sum)
{
    if (!a->w) {
        float t = sum * a->scale;
        __asm__("" : "+m"(t));
        a->x[at] = t + a->shift;
        return;
    }
    float t = sum * a->w[at];
    __asm__("" : "+m"(t));
    float r = a->x[at] + t;
    a->x[at] = a->positivity && r < 0.0f ? 0.0f : r;
}

/* v[y] += sum over the views of g P[col] + f P[col + 1] (rows of Y), for NVEC vectors of Y; v[y] = the sum when
 * fresh (the first group of a back-projection that overwrites: the same operations as adding to zeros); with add,
 * the sum goes to add's volume at offset `at` (v's from the slab's start) instead of v. */
#define BACK_CHUNK(NVEC)                                                                                      \
    INLINE void back_chunk_##NVEC(const float *P, float *v, const Samples *s, long n_views, long col_stride, \
                                  int fresh, const AddTo *add, long at)                                       \
    {                                                                                                         \
        vf acc[NVEC];                                                                                         \
        _Pragma("GCC unroll 16") for (int n = 0; n < NVEC; n++) acc[n] = fresh ? (vf){0} : load(v + n * VL); \
        for (long j = 0; j < n_views; j++) {                                                                  \
            const float *p0 = P + s->col[j], *p1 = p0 + col_stride;                                           \
            float g = s->g[j], f = s->f[j];                                                                   \
            _Pragma("GCC unroll 16") for (int n = 0; n < NVEC; n++) {                                         \
                acc[n] += g * load(p0 + n * VL);                                                              \
                acc[n] += f * load(p1 + n * VL);                                                              \
            }                                                                                                 \
        }                                                                                                     \
        if (add) {                                                                                            \
            _Pragma("GCC unroll 16") for (int n = 0; n < NVEC; n++) add_vector(add, at + n * VL, acc[n]);     \
        } else {                                                                                              \
            _Pragma("GCC unroll 16") for (int n = 0; n < NVEC; n++) store(v + n * VL, acc[n]);               \
        }                                                                                                     \
    }
BACK_CHUNK(8)
BACK_CHUNK(7)
BACK_CHUNK(6)
BACK_CHUNK(5)
BACK_CHUNK(4)
BACK_CHUNK(3)
BACK_CHUNK(2)
BACK_CHUNK(1)

/* The same sequence of operations for fewer than VL values of Y. */
INLINE void back_lanes(const float *P, float *v, const Samples *s, long n_views, long col_stride, long width,
                       int fresh, const AddTo *add, long at)
{
    for (long y = 0; y < width; y++) {
        float acc = fresh ? 0.0f : v[y];
        for (long j = 0; j < n_views; j++) {
            const float *p0 = P + s->col[j] + y;
            acc += s->g[j] * p0[0];
            acc += s->f[j] * p0[col_stride];
        }
        if (add)
            add_value(add, at + y, acc);
        else
            v[y] = acc;
    }
}

/* The last `width` (< VL) values of a row of at least VL: the vector that ends with them, summed as back_chunk_1 sums
 * a vector and kept in those lanes only, so that each lane gets back_lanes' operations in one pass over the views
 * (a lane at a time cost a whole chunk per lane: a slab of 67 rows took 1.6x one of 64). */
INLINE void back_tail(const float *P, float *v, const Samples *s, long n_views, long col_stride, long width,
                      int fresh, const AddTo *add, long at)
{
    const long from = VL - width;
    vf acc = fresh ? (vf){0} : load(v - from);
    for (long j = 0; j < n_views; j++) {
        const float *p0 = P - from + s->col[j];
        acc += s->g[j] * load(p0);
        acc += s->f[j] * load(p0 + col_stride);
    }
    for (long y = 0; y < width; y++) {
        if (add)
            add_value(add, at + y, acc[from + y]);
        else
            v[y] = acc[from + y];
    }
}

/* V[z, x, y] += the back-projection of every view, for thickness rows [z0, z1).  Each voxel's Y chunks in turn,
 * so that projection rows are read whole; the block of columns is narrower for longer rows, so that the rows a group
 * of views reads across it stay in L2 (about BACK_X_BLOCK x 64 values per view). */
static KERNEL void back_flat_rows(const float *P, float *V, const float *base, const float *c, long nv, long ncol,
                                  long view_stride, long col_stride, long nx, long ny, long z0, long z1, int overwrite,
                                  const AddTo *add_to, int wide)
{
    const double umax = (double)ncol - 1.0;
    const long x_block = ny <= WIDEST ? BACK_X_BLOCK : (BACK_X_BLOCK * WIDEST / ny > 8 ? BACK_X_BLOCK * WIDEST / ny : 8);
    Samples table[BACK_Z_ROWS][BACK_X_BLOCK];
    unsigned char count[BACK_Z_ROWS][BACK_X_BLOCK];
    float rows_base[BACK_GROUP], steps[BACK_GROUP];
    for (long t0 = 0; t0 < nv; t0 += BACK_GROUP) {
        long k = t0 + BACK_GROUP < nv ? BACK_GROUP : nv - t0;
        int fresh = overwrite && t0 == 0;
        const AddTo *add = t0 + BACK_GROUP >= nv ? add_to : NULL; /* the last group */
        const float *Pg = P + t0 * view_stride;
        for (long j = 0; j < BACK_GROUP; j++)
            steps[j] = j < k ? c[t0 + j] : 0.0f;
        for (long xb = 0; xb < nx; xb += x_block) {
            long xe = xb + x_block < nx ? xb + x_block : nx;
            for (long zr = z0; zr < z1; zr += BACK_Z_ROWS) {
                long rows = zr + BACK_Z_ROWS < z1 ? BACK_Z_ROWS : z1 - zr;
                for (long r = 0; r < rows; r++) {
                    for (long j = 0; j < BACK_GROUP; j++)
                        rows_base[j] = j < k ? base[(zr + r) * nv + t0 + j] : -1.0f; /* no sample */
                    int every = wide ? fill_samples_wide(table[r], rows_base, steps, xb, xe, umax, k, view_stride,
                                                          col_stride)
                                     : fill_samples(table[r], rows_base, steps, xb, xe, umax, k, view_stride,
                                                    col_stride);
                    keep_valid(table[r], count[r], xe - xb, k, every);
                }
                for (long x = xb; x < xe; x++)
                    for (long r = 0; r < rows; r++) {
                        const Samples *s = &table[r][x - xb];
                        long n_views = count[r][x - xb], at = ((zr + r) * nx + x) * ny;
                        if (!n_views) { /* no view of the group adds to this voxel */
                            if (add)
                                for (long y = 0; y < ny; y++)
                                    add_value(add, at + y, fresh ? 0.0f : V[at + y]);
                            else if (fresh)
                                memset(V + at, 0, ny * sizeof(float));
                            continue;
                        }
                        for (long y = 0, width; y < ny; y += width) {
                            width = chunk_width(ny - y);
                            float *v = V + at + y;
                            const float *Py = Pg + y;
                            switch (width / VL) {
#define BACK_CASE(n) case n: back_chunk_##n(Py, v, s, n_views, col_stride, fresh, add, at + y); break;
                            BACK_CASE(8) BACK_CASE(7) BACK_CASE(6) BACK_CASE(5)
                            BACK_CASE(4) BACK_CASE(3) BACK_CASE(2) BACK_CASE(1)
                            default:
                                if (ny >= VL)
                                    back_tail(Py, v, s, n_views, col_stride, width, fresh, add, at + y);
                                else
                                    back_lanes(Py, v, s, n_views, col_stride, width, fresh, add, at + y);
                            }
                        }
                    }
            }
        }
    }
}

/* Forward projection of one view and thickness rows [z0, z1) into the projection plane p (already offset to the Y
 * chunk), along X: a and b hold the sums for the projection columns cur and cur + 1 until the sample column moves
 * on, so most voxels add to registers, not to memory.  A chunk is NVEC vectors of T at 0, L, 2L, ... (L floats
 * each) and, with TAILED, one more at `tail`, of which only the lanes set in the mask `mine` (of type M) change: a
 * row's last values as the vector that ends with them (its other lanes, which belong to the vector before, are
 * summed again and written back as they were), so that the row takes one pass over X, not one more for its last
 * values.  (Lines along Z for views near zero tilt, where a column's samples stay longer in one projection column,
 * were no faster: bin/bench kernels.) */
#define FORWARD_CHUNK(NAME, T, M, NVEC, TAILED)                                                               \
    INLINE void NAME(const float *V, float *p, const float *base, double c, long nx, long ny, long col_stride,\
                     double umax, long z0, long z1, long tail, M mine)                                        \
    {                                                                                                         \
        enum { L = sizeof(T) / sizeof(float), WHOLE = NVEC, N = NVEC + TAILED }; /* N > WHOLE: a tail */      \
        (void)tail;                                                                                           \
        (void)mine;                                                                                           \
        for (long z = z0; z < z1; z++) {                                                                      \
            T a[N], b[N];                                                                                     \
            _Pragma("GCC unroll 16") for (int n = 0; n < N; n++) a[n] = b[n] = (T){0};                        \
            long cur = -1;                                                                                    \
            const float *vz = V + z * nx * ny;                                                                \
            for (long x = 0; x < nx; x++) {                                                                   \
                long i;                                                                                       \
                float f;                                                                                      \
                if (!sample(base[z], c, x, umax, &i, &f))                                                     \
                    continue;                                                                                 \
                if (i != cur) {                                                                               \
                    if (cur >= 0) {                                                                           \
                        float *q = p + cur * col_stride;                                                      \
                        ADD_TO(T, M, q, a);                                                                   \
                        if (i == cur + 1) {                                                                   \
                            _Pragma("GCC unroll 16") for (int n = 0; n < N; n++) a[n] = b[n];                 \
                        } else {                                                                              \
                            ADD_TO(T, M, q + col_stride, b);                                                  \
                            _Pragma("GCC unroll 16") for (int n = 0; n < N; n++) a[n] = (T){0};               \
                        }                                                                                     \
                    }                                                                                         \
                    _Pragma("GCC unroll 16") for (int n = 0; n < N; n++) b[n] = (T){0};                       \
                    cur = i;                                                                                  \
                }                                                                                             \
                const float *v = vz + x * ny;                                                                 \
                float g = 1.0f - f;                                                                           \
                _Pragma("GCC unroll 16") for (int n = 0; n < N; n++) {                                        \
                    T s = *(const T *)(v + AT(n));                                                            \
                    a[n] += g * s;                                                                            \
                    b[n] += f * s;                                                                            \
                }                                                                                             \
            }                                                                                                 \
            if (cur >= 0) {                                                                                   \
                float *q = p + cur * col_stride;                                                              \
                ADD_TO(T, M, q, a);                                                                           \
                ADD_TO(T, M, q + col_stride, b);                                                              \
            }                                                                                                 \
        }                                                                                                     \
    }
/* Where a chunk's vector n starts; q[vector n] += sum[n] for every n, the tail's lanes outside `mine` left as they
 * were.  With a tail, every value is read before any is written: the tail overlaps the vector before, and a read
 * across the lanes of a store still in flight waits for it (tails written in between ran 1.2-1.3x slower). */
#define AT(n) ((n) < WHOLE ? (n) * L : tail)
#define ADD_TO(T, M, q, sum)                                                                                  \
    do {                                                                                                      \
        if (N == WHOLE) {                                                                                     \
            _Pragma("GCC unroll 16") for (int n = 0; n < N; n++) *(T *)((q) + n * L) += sum[n];               \
            break;                                                                                            \
        }                                                                                                     \
        T was[N];                                                                                             \
        _Pragma("GCC unroll 16") for (int n = 0; n < N; n++) was[n] = *(const T *)((q) + AT(n));              \
        *(T *)((q) + tail) = (T)(((M)(was[N - 1] + sum[N - 1]) & mine) | ((M)was[N - 1] & ~mine));            \
        _Pragma("GCC unroll 16") for (int n = 0; n < WHOLE; n++) *(T *)((q) + n * L) = was[n] + sum[n];       \
    } while (0)

typedef float vw __attribute__((vector_size(4 * WL), aligned(4))); /* AVX-512's 16 floats, any alignment */
typedef int vwi __attribute__((vector_size(4 * WL)));
#define VF_CHUNK(n) FORWARD_CHUNK(forward_chunk_##n, vf, vi8, n, 0)
VF_CHUNK(8) VF_CHUNK(7) VF_CHUNK(6) VF_CHUNK(5) VF_CHUNK(4) VF_CHUNK(3) VF_CHUNK(2) VF_CHUNK(1)
FORWARD_CHUNK(forward_tail, vf, vi8, 0, 1)
typedef float f1 __attribute__((vector_size(4)));  /* one value, as a vector of one */
typedef int i1 __attribute__((vector_size(4)));
FORWARD_CHUNK(forward_lane, f1, i1, 1, 0)
#define WIDE_CHUNKS(n) \
    FORWARD_CHUNK(forward_wide_##n, vw, vwi, n, 0) FORWARD_CHUNK(forward_wide_tailed_##n, vw, vwi, n, 1)
WIDE_CHUNKS(1) WIDE_CHUNKS(2) WIDE_CHUNKS(3) WIDE_CHUNKS(4) WIDE_CHUNKS(5) WIDE_CHUNKS(6)
WIDE_CHUNKS(7) WIDE_CHUNKS(8) WIDE_CHUNKS(9) WIDE_CHUNKS(10) WIDE_CHUNKS(11)
FORWARD_CHUNK(forward_wide_12, vw, vwi, 12, 0)

/* P[t, :, y:y + width] += the forward projection of thickness rows [z0, z1).  forward_flat_part: width 8 to 64 in
 * whole vectors, or 1; with from > 0, the 8 values at y of which the last 8 - from are stored.  forward_wide_part
 * (on CPUs with AVX-512 only): any width from WL to WIDE_BAND in one pass. */
#define FORWARD_PART(NAME, ATTRIBUTES, ...)                                                                  \
    static ATTRIBUTES void NAME(const float *V, float *P, const float *base, const float *c, long t, long ncol,\
                                long view_stride, long col_stride, long nz, long nx, long ny, long z0, long z1, \
                                long y, long width, long from)                                                \
    {                                                                                                         \
        const double umax = (double)ncol - 1.0;                                                               \
        float *p = P + t * view_stride + y;                                                                   \
        const float *v = V + y, *b = base + t * nz;                                                           \
        (void)from;                                                                                           \
        __VA_ARGS__                                                                                           \
    }
#define FORWARD_CALL(name, tail, mine) name(v, p, b, c[t], nx, ny, col_stride, umax, z0, z1, tail, mine); break;
#define FORWARD_CASE(name, n, tail, mine) case n: FORWARD_CALL(name##_##n, tail, mine)
#define VF_CASE(n) FORWARD_CASE(forward_chunk, n, 0, (vi8){0})
FORWARD_PART(forward_flat_part, KERNEL, {
    const vi8 lane = {0, 1, 2, 3, 4, 5, 6, 7};
    switch (from ? -1 : width / VL) {
        VF_CASE(8) VF_CASE(7) VF_CASE(6) VF_CASE(5) VF_CASE(4) VF_CASE(3) VF_CASE(2) VF_CASE(1)
        case -1: FORWARD_CALL(forward_tail, 0, lane >= (int)from)
        default: FORWARD_CALL(forward_lane, 0, (i1){0})
    }
})
#define WIDE_CASE(n) FORWARD_CASE(forward_wide, n, 0, (vwi){0})
#define TAILED_CASE(n) FORWARD_CASE(forward_wide_tailed, n, width - WL, lane >= (int)(WL - width % WL))
FORWARD_PART(forward_wide_part, WIDE_KERNEL, {
    const vwi lane = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    if (width % WL)
        switch (width / WL) {
            TAILED_CASE(11) TAILED_CASE(10) TAILED_CASE(9) TAILED_CASE(8) TAILED_CASE(7) TAILED_CASE(6)
            TAILED_CASE(5) TAILED_CASE(4) TAILED_CASE(3) TAILED_CASE(2) TAILED_CASE(1)
        }
    else
        switch (width / WL) {
            WIDE_CASE(12) WIDE_CASE(11) WIDE_CASE(10) WIDE_CASE(9) WIDE_CASE(8) WIDE_CASE(7) WIDE_CASE(6)
            WIDE_CASE(5) WIDE_CASE(4) WIDE_CASE(3) WIDE_CASE(2) WIDE_CASE(1)
        }
})

/* Back-projection of a slab, added to V (or written into it: overwrite): blocks of z_block thickness rows in
 * parallel (each writes its own rows).
 * P: (nv, ncol, col_stride) floats with view_stride between views; V: (nz, nx, ny); base: (nz, nv), the sample
 * column of x = 0; c: (nv,), its step per column.  With add_x (and nv > 0), the sums go to add_x (shaped as V)
 * as add_weighted does it with weights add_w, and V is only the groups' scratch; with scaled (and nv > 0), V gets
 * each sum * scale + shift as scale_add computes it.  Returns -1 (and does nothing) when the offsets within a group
 * of views do not fit an int, else 0. */
int back_flat(const float *P, float *V, const float *base, const float *c, long nv, long ncol, long view_stride,
              long col_stride, long nz, long nx, long ny, long z_block, int overwrite, float *add_x,
              const float *add_w, int positivity, int scaled, float scale, float shift, int threads)
{
    const AddTo add = scaled ? (AddTo){V, NULL, 0, scale, shift} : (AddTo){add_x, add_w, positivity, 0.0f, 0.0f};
    if ((BACK_GROUP - 1) * view_stride + ncol * col_stride > INT_MAX) /* the sample tables' offsets are ints */
        return -1;
    if (overwrite && nv == 0) {
        memset(V, 0, nz * nx * ny * sizeof(float));
        return 0;
    }
    long blocks = (nz + z_block - 1) / z_block;
    const int wide = has_wide_vectors();
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (long b = 0; b < blocks; b++) {
        long z1 = (b + 1) * z_block < nz ? (b + 1) * z_block : nz;
        back_flat_rows(P, V, base, c, nv, ncol, view_stride, col_stride, nx, ny, b * z_block, z1, overwrite,
                       (add_x || scaled) && nv ? &add : NULL, wide);
    }
    return 0;
}

/* The Y values of a forward task when `left` remain and tasks take at most `chunk`: one chunk, or one lane. */
static long task_width(long left, long chunk)
{
    long width = chunk_width(left < chunk ? left : chunk);
    return width >= VL ? width : 1;
}

/* The Y values of the next band of a forward projection by whole rows when `left` remain: all of them up to `one`,
 * else near-equal bands of at most FORWARD_BAND in whole vectors of WL. */
static long band_width(long left, long one)
{
    if (left <= one)
        return left;
    return (near_equal_part(left, FORWARD_BAND) + WL - 1) / WL * WL;
}

/* Forward projection of a slab into P (added to it).  Bands of Y in turn, in a band blocks of z_block thickness rows
 * in turn (a block's band stays in cache while every view reads it: rows of 512, bin/bench admm's shape, read whole
 * for every view ran 1.3x slower with 64-value chunks, 1.8x with AVX-512's 128), in a block (view, Y) tasks.  With
 * whole rows (many views), a task per view, which takes each thickness row across the band, so that the band's part
 * of a row is read whole while it is in cache: with AVX-512, rows of up to WIDE_BAND in one band and one pass each
 * (the rows of 152 of a 128-slice slab pitched 5 deg in bands of 80 and 72, in three passes, ran 1.4-1.7x slower;
 * rows of 512 in bands of 176 1.4x slower than in bands of 128), longer rows in bands of at most FORWARD_BAND;
 * without AVX-512, bands of at most FORWARD_BAND, chunk after chunk (rows of 128 in two bands of 64 ran 1.1x
 * slower).  With fewer views (SART's one at a time), bands of at most WIDEST values and a task per (view, narrower
 * chunk), so that every thread has work.  base: (nv, nz). */
void forward_flat(const float *V, float *P, const float *base, const float *c, long nv, long ncol, long view_stride,
                  long col_stride, long nz, long nx, long ny, long z_block, long chunk, int threads)
{
    const int whole = chunk >= WIDEST, wide = whole && has_wide_vectors();
#pragma omp parallel num_threads(threads)
    for (long band = 0, band_end; band < ny; band = band_end) {
        band_end = band + (whole ? band_width(ny - band, wide ? WIDE_BAND : FORWARD_BAND) : chunk_width(ny - band));
        long chunks = 0;
        for (long y = band; y < band_end && !whole; chunks++)
            y += task_width(band_end - y, chunk);
        long tasks = whole ? nv : nv * chunks;
        for (long z0 = 0; z0 < nz; z0 += z_block) {
            long z1 = z0 + z_block < nz ? z0 + z_block : nz;
#pragma omp for schedule(dynamic, 1)
            for (long task = 0; task < tasks; task++) {
                /* neighbouring tasks take other views, so that two threads never share a cache line */
                long t = task % nv;
                if (whole) {
                    for (long z = z0; z < z1; z++)
                        for (long y = band, width; y < band_end; y += width) {
                            if (wide && band_end - y >= WL) { /* the rest of the band in one pass */
                                width = band_end - y;
                                forward_wide_part(V, P, base, c, t, ncol, view_stride, col_stride, nz, nx, ny, z,
                                                  z + 1, y, width, 0);
                            } else if (band_end - y < VL && band_end >= VL) { /* the view's lanes before: ours */
                                width = band_end - y;
                                forward_flat_part(V, P, base, c, t, ncol, view_stride, col_stride, nz, nx, ny, z,
                                                  z + 1, band_end - VL, VL, VL - width);
                            } else {
                                width = task_width(band_end - y, chunk);
                                forward_flat_part(V, P, base, c, t, ncol, view_stride, col_stride, nz, nx, ny, z,
                                                  z + 1, y, width, 0);
                            }
                        }
                    continue;
                }
                long k = task / nv, y = band, width = task_width(band_end - band, chunk);
                for (long n = 0; n < k; n++) {
                    y += width;
                    width = task_width(band_end - y, chunk);
                }
                forward_flat_part(V, P, base, c, t, ncol, view_stride, col_stride, nz, nx, ny, z0, z1, y, width, 0);
            }
        }
    }
}

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_flat", "Flat projector kernels, called through ctypes.",
                                    -1, NULL, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__flat(void) { return PyModule_Create(&module); }
