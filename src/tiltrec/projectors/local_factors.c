/* IMOD's localProjFactors for every column and slice, compiled (tiltrec.local_factors states the model; part of
 * the _local extension).
 *
 * Per slice, view and column: the four local areas around the column (bilinear weights on the area grid, clamped
 * at its edges), each area's projection terms weighted, and the sums IMOD takes, as float32 operations in IMOD's
 * order.  The area (and so every per-area value) changes only where a column crosses an area boundary, so the
 * columns are taken in runs of one area: within a run the per-area values are scalars and the loop over columns
 * vectorises.  Built without contraction into FMAs, so every number equals the NumPy statement's
 * (local_alignments._factors) bit for bit, whatever the threads or the vector width.
 */
#include <math.h>
#include <omp.h>
#include <stdlib.h>

#include "kernel_clones.h"
#define SMALL_JOB (1L << 20)  /* factors (columns x slices x views) below which one thread computes them: a team
                              * costs more, up to a scheduler quantum at its barrier on a busy machine */

/* Fortran NINT of a float32: nearest whole number, halves away from zero. */
static long nint(float x)
{
    const long n = (long)floorf(fabsf(x) + 0.5f);
    return x < 0.0f ? -n : n;
}

/* IMOD local_factors along one axis: the lower area (0-based) and the fraction towards the next. */
static void area(long position, long start, long spacing, long count, long *lower, float *frac)
{
    long t = position - start;
    t = t < 0 ? 0 : (t > (count - 1) * spacing ? (count - 1) * spacing : t);
    long low = t / spacing;
    if (low > count - 2)
        low = count - 2;
    *lower = low;
    *frac = (float)(t - low * spacing) / (float)spacing;
}

typedef struct {
    const float *cos_tilt, *sin_tilt, *cos_alpha, *sin_alpha, *xz, *yz, *a11, *a12, *a21, *a22, *xadd, *yadd;
    long nareas;
} Areas;  /* per-area values, [view][area] */

/* One run of columns [c0, c1) of one slice and view whose four areas start at area k: out0..3 = xf, xz, yf, yz. */
static KERNEL void run(const Areas *a, long v, long k, long nxa, float yy, float xcen_in, float axis,
                       float cen_slice, const float *restrict xx, const float *restrict f1, const float *restrict f2,
                       const float *restrict f3, const float *restrict f4, long c0, long c1, float *restrict out0,
                       float *restrict out1, float *restrict out2, float *restrict out3)
{
    const long corner[4] = {k, k + 1, k + nxa, k + nxa + 1};
    float ct[4], q[4], xpz[4], ypf[4], syz[4], a11[4], a12[4], a21[4], a22[4], xad[4], yad[4];
    for (int c = 0; c < 4; c++) {
        const long at = v * a->nareas + corner[c];
        const float sb = a->sin_tilt[at], sa = a->sin_alpha[at], ca = a->cos_alpha[at];
        ct[c] = a->cos_tilt[at];
        q[c] = (yy * sa) * sb;
        xpz[c] = ca * sb + a->xz[at];
        ypf[c] = yy * ca + cen_slice;
        syz[c] = sa - a->yz[at];
        a11[c] = a->a11[at];
        a12[c] = a->a12[at];
        a21[c] = a->a21[at];
        a22[c] = a->a22[at];
        xad[c] = a->xadd[at];
        yad[c] = a->yadd[at];
    }
    for (long j = c0; j < c1; j++) {
        const float f[4] = {f1[j], f2[j], f3[j], f4[j]};
        float t0[4], t1[4], t2[4], t3[4], t4[4], t5[4], t6[4], t7[4], t8[4], t9[4];
        for (int c = 0; c < 4; c++) {
            const float xpf = ((xx[j] * ct[c] + q[c]) + xcen_in) + axis;
            const float fa11 = f[c] * a11[c], fa12 = f[c] * a12[c], fa21 = f[c] * a21[c], fa22 = f[c] * a22[c];
            t0[c] = fa11 * xpf;
            t1[c] = fa12 * ypf[c];
            t2[c] = fa11 * xpz[c];
            t3[c] = fa12 * syz[c];
            t4[c] = fa21 * xpf;
            t5[c] = fa22 * ypf[c];
            t6[c] = fa21 * xpz[c];
            t7[c] = fa22 * syz[c];
            t8[c] = f[c] * xad[c];
            t9[c] = f[c] * yad[c];
        }
        const float xadd_all = ((t8[0] + t8[1]) + t8[2]) + t8[3];
        const float yadd_all = ((t9[0] + t9[1]) + t9[2]) + t9[3];
        out0[j] = (((((((t0[0] + t0[1]) + t0[2]) + t0[3]) + t1[0]) + t1[1]) + t1[2]) + t1[3]) + xadd_all;
        out1[j] = (((t2[0] + t2[1]) + t2[2]) + t2[3]) - (((t3[0] + t3[1]) + t3[2]) + t3[3]);
        out2[j] = (((((((t4[0] + t4[1]) + t4[2]) + t4[3]) + t5[0]) + t5[1]) + t5[2]) + t5[3]) + yadd_all;
        out3[j] = (((t6[0] + t6[1]) + t6[2]) + t6[3]) - (((t7[0] + t7[1]) + t7[2]) + t7[3]);
    }
}

/* The lowest and highest yproj = yf + z yz over n factors, for z = zlo and z = zhi (the bottom and top voxels),
 * folded into span[0], span[1]; float32 as the NumPy statement of it (local_alignments.row_span). */
static KERNEL void fold_span(const float *restrict yf, const float *restrict yz, long n, float zlo, float zhi,
                             float *span)
{
    float low = span[0], high = span[1];
    for (long j = 0; j < n; j++) {
        const float a = yf[j] + zlo * yz[j], b = yf[j] + zhi * yz[j];
        low = a < low ? a : low;
        low = b < low ? b : low;
        high = a > high ? a : high;
        high = b > high ? b : high;
    }
    span[0] = low;
    span[1] = high;
}

/* out[0..3][slice][view][column] = xf, xz, yf, yz of 1-based ``columns`` and ``slices``; per-area tables
 * [view][area]; ``centres``: xcen_out, xcen_in, axis offset, centre slice, and the bottom and top voxels' z;
 * ``grid``: areas in X and Y, start X, Y, spacing X, Y; ``span``: the lowest and highest yproj of those voxels
 * (an exact fold: the same whatever the threads).  ``out`` NULL: only the span (each slice and view's factors in
 * a scratch row; planning asks for it, and fresh memory for factors it drops costs page faults). */
void local_factors(const long *columns, long ncols, const long *slices, long nslices, const float *cos_tilt,
                   const float *sin_tilt, const float *cos_alpha, const float *sin_alpha, const float *xz,
                   const float *yz, const float *a11, const float *a12, const float *a21, const float *a22,
                   const float *xadd, const float *yadd, long nviews, long nareas, const float *centres,
                   const long *grid, float *out, float *span, int threads)
{
    const Areas a = {cos_tilt, sin_tilt, cos_alpha, sin_alpha, xz, yz, a11, a12, a21, a22, xadd, yadd, nareas};
    const float xcen_out = centres[0], xcen_in = centres[1], axis = centres[2], cen_slice = centres[3];
    const float zlo = centres[4], zhi = centres[5];
    const long nxa = grid[0], nya = grid[1];
    /* per column: its centred X and its lower area in X (the same for every slice) */
    float *xx = malloc(sizeof(float) * ncols), *fx = malloc(sizeof(float) * ncols);
    long *ix = malloc(sizeof(long) * ncols);
    for (long j = 0; j < ncols; j++) {
        xx[j] = (float)columns[j] - xcen_out;
        area(nint((xx[j] + xcen_in) + axis), grid[2], grid[4], nxa, ix + j, fx + j);
    }
    const long plane = out != NULL ? nslices * nviews * ncols : ncols;
    span[0] = INFINITY;
    span[1] = -INFINITY;
#pragma omp parallel num_threads(threads > 0 ? threads : omp_get_max_threads()) \
    if (nslices * ncols * nviews >= SMALL_JOB)
    {
        float *w = malloc(sizeof(float) * 4 * ncols), *row = out != NULL ? NULL : malloc(sizeof(float) * 4 * ncols);
        float mine[2] = {INFINITY, -INFINITY};
#pragma omp for schedule(dynamic, 1)
        for (long s = 0; s < nslices; s++) {
            long iy;
            float fy;
            area(slices[s], grid[3], grid[5], nya, &iy, &fy);
            const float yy = (float)slices[s] - cen_slice, one = 1.0f;
            float *f1 = w, *f2 = w + ncols, *f3 = w + 2 * ncols, *f4 = w + 3 * ncols;
            for (long j = 0; j < ncols; j++) {
                f1[j] = (one - fy) * (one - fx[j]);
                f2[j] = (one - fy) * fx[j];
                f3[j] = fy * (one - fx[j]);
                f4[j] = fy * fx[j];
            }
            for (long v = 0; v < nviews; v++) {
                float *o = out != NULL ? out + (s * nviews + v) * ncols : row;
                for (long c0 = 0, c1; c0 < ncols; c0 = c1) {
                    for (c1 = c0 + 1; c1 < ncols && ix[c1] == ix[c0]; c1++)
                        ;
                    run(&a, v, iy * nxa + ix[c0], nxa, yy, xcen_in, axis, cen_slice, xx, f1, f2, f3, f4, c0, c1,
                        o, o + plane, o + 2 * plane, o + 3 * plane);
                }
                fold_span(o + 2 * plane, o + 3 * plane, ncols, zlo, zhi, mine);
            }
        }
#pragma omp critical
        {
            span[0] = mine[0] < span[0] ? mine[0] : span[0];
            span[1] = mine[1] > span[1] ? mine[1] : span[1];
        }
        free(w);
        free(row);
    }
    free(xx);
    free(fx);
    free(ix);
}
