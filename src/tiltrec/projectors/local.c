/* Back-projection with IMOD's local alignments (projectors/local_cpu.py says what it computes), compiled.
 *
 * Every voxel samples each view at its own position: xproj = xf + zz xz, yproj = yf + zz yz per column, view and
 * slice.  Along a column's thickness the position moves linearly, so the samples that need no edge rule form one
 * run; that run is a plain loop the compiler vectorises with gathers (AVX2, AVX-512), and the ends go through
 * every rule of IMOD's.  Built without contraction into FMAs: each voxel's sum is IMOD's float32 arithmetic, in
 * its order (views in turn), whatever the threads or the vector width.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <omp.h>
#include <string.h>

#define KERNEL __attribute__((target_clones("avx512f", "arch=x86-64-v3", "default")))
#define YTOL 3.05f          /* rows this close beyond the first or last row read that row (IMOD's ytol) */
#define COLUMN_BLOCK 32     /* columns one task takes (local_cpu.py's COLUMN_BLOCK too) */

typedef struct {
    const float *rows;      /* [view][row - r0][x] */
    long nrows, nx, r0, ny, legal0, legal1;
} Views;

/* Add the sample at (x, y) of view v with every rule: edge rows, inside the view, rows loaded. */
static inline void checked(const Views *p, long v, float x, float y, float *acc)
{
    const float ny_top = (float)p->ny;
    if (y >= 1.0f - YTOL && y <= ny_top + YTOL)
        y = y < 1.0f ? 1.0f : (y > ny_top ? ny_top : y);
    if (x < 1.0f || x > (float)p->nx || y < 1.0f || y > ny_top)
        return;
    long ix = (long)x;
    if (ix > p->nx - 1)
        ix = p->nx - 1;
    const float fx = x - (float)ix;
    long iy = (long)y;
    if (iy > p->ny - 1)
        iy = p->ny - 1;
    const float fy = y - (float)iy;
    if (iy - 1 < p->legal0 || iy + 1 > p->legal1)
        return;
    const float *low = p->rows + (v * p->nrows + iy - 1 - p->r0) * p->nx;
    const float *high = low + p->nx;
    *acc = *acc + (1.0f - fy) * ((1.0f - fx) * low[ix - 1] + fx * low[ix])
        + fy * ((1.0f - fx) * high[ix - 1] + fx * high[ix]);
}

/* Whether the sample at (x, y) needs no rule: inside, short of the last column and row, both rows loaded. */
static inline int plain(const Views *p, float x, float y)
{
    if (x < 1.0f || x >= (float)(p->nx - 1) || y < 1.0f || y >= (float)(p->ny - 1))
        return 0;
    const long iy = (long)y;
    return iy - 1 >= p->legal0 && iy + 1 <= p->legal1;
}

/* One column of one view: the run of plain samples, and the ends with every rule. */
static KERNEL void column(const Views *p, long v, float a, float b, float c, float d,
                          const float *restrict zz, long thick, float *restrict acc)
{
    long first = 0, last = thick - 1;
    while (first < thick && !plain(p, a + zz[first] * b, c + zz[first] * d)) {
        checked(p, v, a + zz[first] * b, c + zz[first] * d, acc + first);
        first++;
    }
    while (last >= first && !plain(p, a + zz[last] * b, c + zz[last] * d)) {
        checked(p, v, a + zz[last] * b, c + zz[last] * d, acc + last);
        last--;
    }
    const float *restrict view = p->rows + v * p->nrows * p->nx;
    const int nx = (int)p->nx;
    const int shift = (int)(-(1 + p->r0) * p->nx - 1);  /* row iy, column ix (1-based): view[iy nx + ix + shift] */
    for (long i = first; i <= last; i++) {
        const float x = a + zz[i] * b;
        const float y = c + zz[i] * d;
        const int ix = (int)x;
        const int iy = (int)y;
        const float fx = x - (float)ix;
        const float fy = y - (float)iy;
        const int at = iy * nx + ix + shift;
        acc[i] = acc[i] + (1.0f - fy) * ((1.0f - fx) * view[at] + fx * view[at + 1])
            + fy * ((1.0f - fx) * view[at + nx] + fx * view[at + nx + 1]);
    }
}

/* out[i][j][s] += the samples of every view, for thickness row i, column j and slab slice s; ``scratch`` holds
 * COLUMN_BLOCK x thick floats per thread. */
void back_local(const float *rows, long nviews, long nrows, long nx, long r0, long ny, long legal0, long legal1,
                const float *xf, const float *xz, const float *yf, const float *yz, const float *zz, float *out,
                long thick, long width, long nslab, float *scratch, int threads)
{
    const Views p = {rows, nrows, nx, r0, ny, legal0, legal1};
    const long nblocks = (width + COLUMN_BLOCK - 1) / COLUMN_BLOCK;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (long block = 0; block < nblocks; block++) {
        const long j0 = block * COLUMN_BLOCK;
        const long j1 = j0 + COLUMN_BLOCK < width ? j0 + COLUMN_BLOCK : width;
        float *acc = scratch + (long)omp_get_thread_num() * COLUMN_BLOCK * thick;
        for (long s = 0; s < nslab; s++) {
            memset(acc, 0, sizeof(float) * COLUMN_BLOCK * thick);
            for (long v = 0; v < nviews; v++) {
                const long at = (s * nviews + v) * width;
                for (long j = j0; j < j1; j++)
                    column(&p, v, xf[at + j], xz[at + j], yf[at + j], yz[at + j], zz, thick,
                           acc + (j - j0) * thick);
            }
            for (long j = j0; j < j1; j++)
                for (long i = 0; i < thick; i++)
                    out[(i * width + j) * nslab + s] += acc[(j - j0) * thick + i];
        }
    }
}

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_local", "Local-alignment back-projection, called "
                                    "through ctypes.", -1, NULL};

PyMODINIT_FUNC PyInit__local(void) { return PyModule_Create(&module); }
