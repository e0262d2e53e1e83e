/* IMOD tilt's internal SIRT (algorithms/imod_sirt.py): its two projections, compiled; imod_sirt_kernels.py calls
 * them through ctypes and documents the layouts.
 *
 * - back(): the direct linear back-projection of every view's line into the slice (no cosine stretching); a voxel
 *   whose position falls outside the line takes the fill value;
 * - reproject(): the ray-driven reprojection of the slice at every angle (unit steps along the ray, bilinear, the
 *   slice mean for each sample outside the slice), minus the views.
 *
 * The per-angle tables (which columns sample each line, where each ray starts and ends, how many of its samples
 * fall outside) come from back_plan() and ray_plan(), once per run; they follow IMOD's rules as the NumPy model in
 * tests/imod_sirt_model.py does, and the kernels compute what that model's matrices compute.
 *
 * Arithmetic is float64, as in the model (which reproduces IMOD's float32 SIRT to 3e-6 of its references' standard
 * deviation).  The slices are the innermost axis, in blocks of LANES: every sample's weights serve a whole block,
 * and a block is one task.  Each slice is computed by the same operations, in the same order, whatever
 * the block, the thread or the vector width (built without contraction into FMAs), so results do not depend on the
 * number of threads or the machine.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <omp.h>
#include <string.h>

#include "kernel_clones.h"

#define LANES 16      /* slices per block (imod_sirt_kernels.py's LANES) */
typedef double vd __attribute__((vector_size(32), aligned(8)));  /* 4 lanes, any alignment */
#define NV (LANES / 4)  /* vectors per block of lanes */
#define BACK_ROWS 8   /* thickness rows whose sums one back-projection pass keeps in cache while the views go by */

typedef struct {
    long jl, jr;      /* 1-based columns [jl, jr] sample the line (jl = width + 1: none) */
    double x0;        /* the line position (1-based) that column jl samples; column j: x0 + (j - jl) cos */
} BackRow;

typedef struct {
    long along_z;     /* the rays advance along the thickness (1) or along X (0) */
    long count;       /* samples in ray_plan's table for this view */
    double step;      /* the step between output pixels, along the inner axis */
} RayView;

typedef struct {
    double start;     /* position on the inner axis of the sample for output pixel `first` */
    double fo;        /* fraction of the outer coordinate (between rows or columns io and io + 1) */
    double weight;    /* weight of the sample: 1, or the part of the last step inside the slice */
    long io;          /* the outer coordinate's row (along_z) or column, 1-based */
    long first, last; /* 1-based output pixels whose sample lies inside the slice */
} RaySample;

static inline long clamp(long i, long top) { return i < 0 ? 0 : (i > top ? top : i); }
static inline long lmin(long a, long b) { return a < b ? a : b; }
static inline long lmax(long a, long b) { return a > b ? a : b; }

/* rows[v thick + i - 1]: the back-projection of view v into thickness row i (IMOD's float32 limits). */
void back_plan(long nv, const double *cb, const double *sb, long nx, long width, long thick, BackRow *rows)
{
    const float xcen_in = (float)(nx / 2.0 + 0.5);
    const double xcen_out = width / 2 + 0.5, zcen = thick / 2 + 0.5;
    for (long v = 0; v < nv; v++) {
        const float c = (float)cb[v], s = (float)sb[v];
        for (long i = 1; i <= thick; i++) {
            const float zpart = (float)(i - zcen) * s + xcen_in;
            float xl = (1.0f - zpart) / c + (float)xcen_out;
            float xr = ((float)nx - zpart) / c + (float)xcen_out;
            if (xl > xr) {
                const float t = xl;
                xl = xr;
                xr = t;
            }
            const long tl = (long)xl, tr = (long)xr;
            long jl = tl + ((float)tl < xl), jr = tr - ((float)tr == xr);
            jl = lmax(jl, 1);
            jr = lmin(jr, width);
            if (jl > jr) {
                jl = width + 1;
                jr = width;
            }
            rows[v * thick + i - 1] = (BackRow){jl, jr, (double)zpart + ((double)jl - xcen_out) * cb[v]};
        }
    }
}

/* IMOD's first output pixel whose sample start + (i - 1) step lies within [1, limit), and that sample. */
static void ray_span(double start, double step, long limit, long *first, double *at)
{
    long f = 1;
    if (start < 1.0)
        f = (long)ceil((1.0 - start) / step + 1.0);
    else if (start >= (double)limit)
        f = (long)ceil(((double)limit - start) / step + 1.0);
    start += (double)(f - 1) * step;
    if (start < 1.0 || start >= (double)limit) {
        f++;
        start += step;
    }
    *first = f;
    *at = start;
}

/* The rays of every view: views[v], samples[v maxk + k] and fill[v width + i] (how many samples of output pixel i
 * fall outside the slice, each weighted).  Returns 0, or -1 when a view would need more than maxk samples. */
int ray_plan(long nv, const double *cb, const double *sb, long width, long thick, long maxk, RayView *views,
             RaySample *samples, double *fill)
{
    const double xcen = width / 2 + 0.5, zcen = thick / 2 + 0.5, eps = 0.01;
    for (long v = 0; v < nv; v++) {
        const double c = cb[v], s = sb[v];
        /* walk the shorter way through the slice: along the depth (most views) or along X (steep views) */
        const long along_z = fabs(s * (double)thick) <= fabs(c * (double)width);
        const long outer_len = along_z ? thick : width, inner_len = along_z ? width : thick;
        const double outer_step = along_z ? c : fabs(s);
        const double step = along_z ? (double)(1.0f / (float)c) : (double)((float)c / ((float)s * fabsf((float)c)));
        const double span = 1.0 + (double)(outer_len - 1) / outer_step;
        long count = (long)trunc(span) + (span - trunc(span) >= 0.1);
        count = lmax(count, 0);
        if (count > maxk)
            return -1;
        double *vfill = fill + v * width;
        memset(vfill, 0, sizeof(double) * width);
        for (long k = 1; k <= count; k++) {
            double outer = 1.0 + (double)(k - 1) * outer_step;
            long io = (long)trunc(outer);
            double fo = outer - (double)io, weight = 1.0;
            /* a last sample past the far edge reads the edge, weighted by how far it falls short */
            if (outer >= (double)outer_len) {
                weight = 1.0 - fo;
                outer = (double)outer_len;
                io = outer_len - 1;
                fo = 1.0;
            }
            double start = along_z ? (1.0 - ((outer - zcen) * s + xcen)) / c + xcen
                                   : (1.0 - xcen - (outer - xcen) * c) / s + zcen;
            long first, last = width;
            ray_span(start, step, inner_len, &first, &start);
            const double top = (double)inner_len - eps, bottom = 1.0 + eps;
            if (start + (double)(last - first) * step >= top) {
                last = (long)trunc(((double)inner_len - start) / step + (double)first);
                if (start + (double)(last - first) * step >= top)
                    last--;
            } else if (start + (double)(last - first) * step < bottom) {
                last = (long)trunc((1.0 - start) / step + (double)first);
                if (start + (double)(last - first) * step < bottom)
                    last--;
            }
            if (first > 1)
                for (long i = 0; i < lmin(first - 1, width); i++)
                    vfill[i] += weight;
            if (last < width)
                for (long i = lmax(last, 0); i < width; i++)
                    vfill[i] += weight;
            samples[v * maxk + k - 1] = (RaySample){start, fo, weight, io, first, last};
        }
        views[v] = (RayView){along_z, count, step};
    }
    return 0;
}

/* The lines of one block of slices, as float64 [view][column][lane] (0 beyond the last slice). */
static void gather_lines(const float *lines, long nv, long nrows, long nx, long view_stride, long row_stride,
                         long row0, double *out)
{
    const long nlanes = lmin(LANES, nrows - row0);
    memset(out, 0, sizeof(double) * nv * nx * LANES);
    for (long v = 0; v < nv; v++)
        for (long s = 0; s < nlanes; s++) {
            const float *line = lines + v * view_stride + (row0 + s) * row_stride;
            double *o = out + v * nx * LANES + s;
            for (long x = 0; x < nx; x++)
                o[x * LANES] = (double)line[x];
        }
}

/* Add view v's line to thickness rows [z0, z0 + nz) of one block's sums: total[z - z0][j][lane]. */
static KERNEL void back_view(const double *restrict line, const BackRow *restrict rows, double c, long nx,
                             long width, const vd *restrict fill, long z0, long nz, double *restrict total)
{
    for (long z = z0; z < z0 + nz; z++) {
        const BackRow r = rows[z];
        vd *restrict t = (vd *)(total + (z - z0) * width * LANES - LANES);  /* t[j NV + h]: column j (1-based) */
        for (long j = 1; j < r.jl; j++)
            for (int h = 0; h < NV; h++)
                t[j * NV + h] += fill[h];
        for (long j = r.jl; j <= r.jr; j++) {
            const double xproj = r.x0 + (double)(j - r.jl) * c;
            const double ip = floor(xproj);
            const double frac = xproj - ip, g = 1.0 - frac;
            const vd *a = (const vd *)(line + clamp((long)ip - 1, nx - 1) * LANES);
            const vd *b = (const vd *)(line + clamp((long)ip, nx - 1) * LANES);
            for (int h = 0; h < NV; h++)
                t[j * NV + h] += g * a[h] + frac * b[h];
        }
        for (long j = r.jr + 1; j <= width; j++)
            for (int h = 0; h < NV; h++)
                t[j * NV + h] += fill[h];
    }
}

/* x[block][z][j][lane] += (sum over views of the back-projection, fill[row] outside the line) / recscale, for rows
 * lines[v view_stride + row row_stride + column] (float32).  A negative recscale subtracts.  scratch: per thread,
 * nv nx LANES + BACK_ROWS width LANES doubles. */
void back(const float *lines, long nv, long nrows, long nx, long view_stride, long row_stride, const double *fill,
          const BackRow *plan, const double *cb, double *x, long thick, long width, double recscale, double *scratch,
          int threads)
{
    const long nblocks = (nrows + LANES - 1) / LANES;
    const long per_thread = nv * nx * LANES + BACK_ROWS * width * LANES;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (long b = 0; b < nblocks; b++) {
        double *own = scratch + (long)omp_get_thread_num() * per_thread;
        double *blines = own, *total = own + nv * nx * LANES;
        double bfill[LANES] = {0.0};
        for (long s = 0; s < lmin(LANES, nrows - b * LANES); s++)
            bfill[s] = fill[b * LANES + s];
        gather_lines(lines, nv, nrows, nx, view_stride, row_stride, b * LANES, blines);
        double *xb = x + b * thick * width * LANES;
        for (long z0 = 0; z0 < thick; z0 += BACK_ROWS) {
            const long nz = lmin(BACK_ROWS, thick - z0);
            memset(total, 0, sizeof(double) * nz * width * LANES);
            for (long v = 0; v < nv; v++)
                back_view(blines + v * nx * LANES, plan + v * thick, cb[v], nx, width, (const vd *)bfill, z0, nz,
                          total);
            vd *xz = (vd *)(xb + z0 * width * LANES);
            const vd *sums = (const vd *)total;
            for (long i = 0; i < nz * width * NV; i++)
                xz[i] += sums[i] / recscale;
        }
    }
}

/* One sample of every output pixel of a ray, bilinear between voxel rows iz, iz + 1 and columns ix, ix + 1
 * (1-based), fz and fx of the way: acc[i][lane] += weight x sample.  The voxel indices are clamped to the slice
 * (they never need to be, with ray_plan's tables), so that no table can read outside it. */
static inline void add_sample(const double *restrict xb, long thick, long width, long iz, long ix, double fz,
                              double fx, double weight, vd *restrict acc)
{
    const double w00 = weight * (1.0 - fz) * (1.0 - fx), w01 = weight * (1.0 - fz) * fx;
    const double w10 = weight * fz * (1.0 - fx), w11 = weight * fz * fx;
    const long z0 = clamp(iz - 1, thick - 1), z1 = clamp(iz, thick - 1);
    const long x0 = clamp(ix - 1, width - 1), x1 = clamp(ix, width - 1);
    const vd *a = (const vd *)xb + (z0 * width + x0) * NV, *b = (const vd *)xb + (z0 * width + x1) * NV;
    const vd *c = (const vd *)xb + (z1 * width + x0) * NV, *d = (const vd *)xb + (z1 * width + x1) * NV;
    for (int h = 0; h < NV; h++)
        acc[h] += w00 * a[h] + w01 * b[h] + w10 * c[h] + w11 * d[h];
}

/* The rays of one view through one block of slices: acc[i][lane], i the 0-based output pixel. */
static KERNEL void reproject_view(const double *restrict xb, long thick, long width, RayView view,
                                  const RaySample *restrict samples, vd *restrict acc)
{
    memset(acc, 0, sizeof(double) * width * LANES);
    for (long k = 0; k < view.count; k++) {
        const RaySample r = samples[k];
        const long lo = lmax(r.first, 1), hi = lmin(r.last, width);
        for (long i = lo; i <= hi; i++) {
            const double inner = r.start + (double)(i - r.first) * view.step;
            const long ii = (long)inner;
            const double fi = inner - (double)ii;
            if (view.along_z)
                add_sample(xb, thick, width, r.io, ii, r.fo, fi, r.weight, acc + (i - 1) * NV);
            else
                add_sample(xb, thick, width, ii, r.io, fi, r.fo, r.weight, acc + (i - 1) * NV);
        }
    }
}

/* out[v][row][i] = float32(the reprojection of slice row at view v + fill[v][i] x the slice's mean) - views[v][row][i]
 * (views: float32 like out, or NULL for none).  x: [block][z][j][lane].  scratch: width LANES doubles per thread. */
void reproject(const double *x, long nrows, long thick, long width, long nv, const RayView *views,
               const RaySample *samples, long maxk, const double *fill, const float *data, float *out,
               double *scratch, int threads)
{
    const long nblocks = (nrows + LANES - 1) / LANES;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (long b = 0; b < nblocks; b++) {
        const double *xb = x + b * thick * width * LANES;
        double *acc = scratch + (long)omp_get_thread_num() * width * LANES;
        double mean[LANES] = {0.0};
        for (long i = 0; i < thick * width; i++)
            for (long s = 0; s < LANES; s++)
                mean[s] += xb[i * LANES + s];
        for (long s = 0; s < LANES; s++)
            mean[s] /= (double)(thick * width);
        const long nlanes = lmin(LANES, nrows - b * LANES);
        for (long v = 0; v < nv; v++) {
            reproject_view(xb, thick, width, views[v], samples + v * maxk, (vd *)acc);
            for (long s = 0; s < nlanes; s++) {
                const long at = (v * nrows + b * LANES + s) * width;
                for (long i = 0; i < width; i++) {
                    const float p = (float)(acc[i * LANES + s] + fill[v * width + i] * mean[s]);
                    out[at + i] = data ? p - data[at + i] : p;
                }
            }
        }
    }
}

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_imod_sirt", "IMOD's SIRT projections, called through "
                                    "ctypes.", -1, NULL};

PyMODINIT_FUNC PyInit__imod_sirt(void) { return PyModule_Create(&module); }
