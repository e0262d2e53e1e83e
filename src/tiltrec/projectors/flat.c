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
#define FORWARD_BAND (CHUNK_VECTORS * WL) /* Y values a forward task with wide chunks takes per thickness row */

/* The Y values of the next chunk when `left` remain, in vectors of `lanes` floats: the whole vectors left in
 * near-equal chunks of at most CHUNK_VECTORS (88 values in vectors of 8: 48 + 40, not 64 + 24), then the last few
 * lanes. */
INLINE long even_chunk(long left, long lanes)
{
    long vectors = left / lanes, chunks = (vectors + CHUNK_VECTORS - 1) / CHUNK_VECTORS;
    return vectors ? (vectors + chunks - 1) / chunks * lanes : left;
}

/* even_chunk in the 8-float vectors, at most WIDEST values. */
INLINE long chunk_width(long left) { return even_chunk(left, VL); }

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
                                  const AddTo *add_to)
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
                    int every = fill_samples(table[r], rows_base, steps, xb, xe, umax, k, view_stride, col_stride);
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
 * on, so most voxels add to registers, not to memory.  (Lines along Z for views near zero tilt, where a column's
 * samples stay longer in one projection column, were no faster: bin/bench kernels.) */
#define FORWARD_CHUNK(NAME, T, NVEC, LOAD, STORE, ZERO)                                                       \
    INLINE void NAME(const float *V, float *p, const float *base, double c, long nx, long ny, long col_stride,\
                     double umax, long z0, long z1, long from)                                                \
    {                                                                                                         \
        for (long z = z0; z < z1; z++) {                                                                      \
            T a[NVEC], b[NVEC];                                                                               \
            _Pragma("GCC unroll 16") for (int n = 0; n < NVEC; n++) a[n] = b[n] = ZERO;                       \
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
                        _Pragma("GCC unroll 16") for (int n = 0; n < NVEC; n++) STORE(q, n, LOAD(q, n) + a[n]);\
                        if (i == cur + 1) {                                                                   \
                            _Pragma("GCC unroll 16") for (int n = 0; n < NVEC; n++) a[n] = b[n];              \
                        } else {                                                                              \
                            q += col_stride;                                                                  \
                            _Pragma("GCC unroll 16") for (int n = 0; n < NVEC; n++) {                         \
                                STORE(q, n, LOAD(q, n) + b[n]);                                               \
                                a[n] = ZERO;                                                                  \
                            }                                                                                 \
                        }                                                                                     \
                    }                                                                                         \
                    _Pragma("GCC unroll 16") for (int n = 0; n < NVEC; n++) b[n] = ZERO;                      \
                    cur = i;                                                                                  \
                }                                                                                             \
                const float *v = vz + x * ny;                                                                 \
                float g = 1.0f - f;                                                                           \
                _Pragma("GCC unroll 16") for (int n = 0; n < NVEC; n++) {                                     \
                    T s = LOAD(v, n);                                                                         \
                    a[n] += g * s;                                                                            \
                    b[n] += f * s;                                                                            \
                }                                                                                             \
            }                                                                                                 \
            if (cur >= 0) {                                                                                   \
                float *q = p + cur * col_stride;                                                              \
                _Pragma("GCC unroll 16") for (int n = 0; n < NVEC; n++) {                                     \
                    STORE(q, n, LOAD(q, n) + a[n]);                                                           \
                    STORE(q + col_stride, n, LOAD(q + col_stride, n) + b[n]);                                 \
                }                                                                                             \
            }                                                                                                 \
        }                                                                                                     \
    }
#define VLOAD(p, n) load((p) + (n) * VL)
#define VSTORE(p, n, v) store((p) + (n) * VL, (v))
#define SLOAD(p, n) ((p)[n])
#define SSTORE(p, n, v) ((p)[n] = (v))
/* NAME_1 .. NAME_8: chunks of 1 to 8 vectors of T */
#define FORWARD_CHUNKS(NAME, T, LOAD, STORE)                                                                  \
    FORWARD_CHUNK(NAME##_8, T, 8, LOAD, STORE, ((T){0})) FORWARD_CHUNK(NAME##_7, T, 7, LOAD, STORE, ((T){0}))   \
    FORWARD_CHUNK(NAME##_6, T, 6, LOAD, STORE, ((T){0})) FORWARD_CHUNK(NAME##_5, T, 5, LOAD, STORE, ((T){0}))   \
    FORWARD_CHUNK(NAME##_4, T, 4, LOAD, STORE, ((T){0})) FORWARD_CHUNK(NAME##_3, T, 3, LOAD, STORE, ((T){0}))   \
    FORWARD_CHUNK(NAME##_2, T, 2, LOAD, STORE, ((T){0})) FORWARD_CHUNK(NAME##_1, T, 1, LOAD, STORE, ((T){0}))
FORWARD_CHUNKS(forward_chunk, vf, VLOAD, VSTORE)
FORWARD_CHUNK(forward_lane, float, 1, SLOAD, SSTORE, 0.0f)

/* One vector of which only lanes [from, VL) are stored: a row's last few values as the vector that ends with them
 * (its other lanes, the chunk before's, are summed again and dropped), so that they take one pass over X, not one per
 * lane (a slab of 171 rows took 1.45x one of 168). */
INLINE void store_lanes(float *p, vf value, long from)
{
    for (long k = from; k < VL; k++)
        p[k] = value[k];
}
#define TSTORE(p, n, v) store_lanes((p) + (n) * VL, (v), from)
FORWARD_CHUNK(forward_tail, vf, 1, VLOAD, TSTORE, ((vf){0}))

/* The same sums in AVX-512's vectors of WL floats, up to CHUNK_VECTORS per chunk. */
typedef float vw __attribute__((vector_size(4 * WL), aligned(4)));
#define WLOAD(p, n) (*(const vw *)((p) + (n) * WL))
#define WSTORE(p, n, v) (*(vw *)((p) + (n) * WL) = (v))
FORWARD_CHUNKS(forward_wide, vw, WLOAD, WSTORE)

/* P[t, :, y:y + width] += the forward projection of thickness rows [z0, z1) (width: 8 to 64 in whole vectors, or
 * 1; with `wide`, 16 to 128 in whole vectors of WL, on CPUs with AVX-512 only). */
#define FORWARD_CASE(name, n) case n: name##_##n(v, p, b, c[t], nx, ny, col_stride, umax, z0, z1, 0); break;
#define FORWARD_PART(NAME, ATTRIBUTES, SWITCH)                                                                 \
    static ATTRIBUTES void NAME(const float *V, float *P, const float *base, const float *c, long t, long ncol,  \
                                long view_stride, long col_stride, long nz, long nx, long ny, long z0, long z1, \
                                long y, long width, long from)                                                  \
    {                                                                                                           \
        const double umax = (double)ncol - 1.0;                                                                 \
        float *p = P + t * view_stride + y;                                                                     \
        const float *v = V + y, *b = base + t * nz;                                                             \
        SWITCH                                                                                                  \
    }
FORWARD_PART(forward_flat_part, KERNEL, switch (from ? -1 : width / VL) {
    FORWARD_CASE(forward_chunk, 8) FORWARD_CASE(forward_chunk, 7) FORWARD_CASE(forward_chunk, 6)
    FORWARD_CASE(forward_chunk, 5) FORWARD_CASE(forward_chunk, 4) FORWARD_CASE(forward_chunk, 3)
    FORWARD_CASE(forward_chunk, 2) FORWARD_CASE(forward_chunk, 1)
    case -1: forward_tail(v, p, b, c[t], nx, ny, col_stride, umax, z0, z1, from); break;
    default: forward_lane(v, p, b, c[t], nx, ny, col_stride, umax, z0, z1, 0);
})
FORWARD_PART(forward_wide_part, WIDE_KERNEL, switch (width / WL) {
    FORWARD_CASE(forward_wide, 8) FORWARD_CASE(forward_wide, 7) FORWARD_CASE(forward_wide, 6)
    FORWARD_CASE(forward_wide, 5) FORWARD_CASE(forward_wide, 4) FORWARD_CASE(forward_wide, 3)
    FORWARD_CASE(forward_wide, 2) FORWARD_CASE(forward_wide, 1)
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
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (long b = 0; b < blocks; b++) {
        long z1 = (b + 1) * z_block < nz ? (b + 1) * z_block : nz;
        back_flat_rows(P, V, base, c, nv, ncol, view_stride, col_stride, nx, ny, b * z_block, z1, overwrite,
                       (add_x || scaled) && nv ? &add : NULL);
    }
    return 0;
}

/* The Y values of a forward task when `left` remain and tasks take at most `chunk`: one chunk, or one lane. */
static long task_width(long left, long chunk)
{
    long width = chunk_width(left < chunk ? left : chunk);
    return width >= VL ? width : 1;
}

/* The Y values of the next band of a forward projection with wide chunks when `left` remain: all of them up to
 * FORWARD_BAND, else near-equal bands of at most FORWARD_BAND in whole vectors of WL. */
static long band_width(long left)
{
    if (left <= FORWARD_BAND)
        return left;
    long bands = (left + FORWARD_BAND - 1) / FORWARD_BAND, width = (left + bands - 1) / bands;
    return (width + WL - 1) / WL * WL;
}

/* Forward projection of a slab into P (added to it).  Bands of Y in turn, in a band blocks of z_block thickness rows
 * in turn (a block's band stays in cache while every view reads it: rows of 512, bin/bench admm's shape, read whole
 * for every view ran 1.3x slower with 64-value chunks, 1.8x with AVX-512's 128), in a block (view, Y) tasks.  With
 * wide chunks (many views), bands of at most FORWARD_BAND values and a task per view, which takes each thickness row
 * across the band, chunk after chunk, so that the band's part of a row is read whole while it is in cache (rows of
 * 128 in two bands of 64 ran 1.1x slower with the AVX2 copy, 1.8-2x with AVX-512's single 128-value chunk).  With
 * fewer views (SART's one at a time), bands of at most WIDEST values and a task per (view, narrower chunk), so that
 * every thread has work.  base: (nv, nz). */
void forward_flat(const float *V, float *P, const float *base, const float *c, long nv, long ncol, long view_stride,
                  long col_stride, long nz, long nx, long ny, long z_block, long chunk, int threads)
{
    const int whole = chunk >= WIDEST, wide = whole && has_wide_vectors();
#pragma omp parallel num_threads(threads)
    for (long band = 0, band_end; band < ny; band = band_end) {
        band_end = band + (whole ? band_width(ny - band) : chunk_width(ny - band));
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
                            if (wide && band_end - y >= WL) {
                                width = even_chunk(band_end - y, WL);
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
