/* Storing a computed slab into a file's block (slab_store.py states it): transpose, type conversion and statistics
 * in one pass, compiled without contraction into FMAs, each slice's sums taken in a fixed order (the same whatever
 * the threads). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <string.h>

enum { STORE_FLOAT32 = 0, STORE_INT16 = 1, STORE_UINT8 = 2 };

/* dst[z, y, x] (byte strides sz, sy, sx) = clip(round?(src[z, x, y])); stats[z][0..7]: min, max, sum and sum of
 * squares of the stored values, sum, min and max of the values before rounding and clipping, and how many were
 * clipped.  Rounding (to nearest, halves to even) for the integer kinds; a NaN is stored as NaN, or 0 in an
 * integer kind, and left out of the minima and maxima. */
void store_slab(const float *src, long nz, long nx, long ny, char *dst, long sz, long sy, long sx, int kind,
                double lo, double hi, double *stats, int threads)
{
#pragma omp parallel for schedule(static) num_threads(threads)
    for (long z = 0; z < nz; z++) {
        double mn = INFINITY, mx = -INFINITY, total = 0.0, squares = 0.0;
        double raw = 0.0, raw_mn = INFINITY, raw_mx = -INFINITY, clipped = 0.0;
        for (long y = 0; y < ny; y++) {
            for (long x = 0; x < nx; x++) {
                double v = (double)src[(z * nx + x) * ny + y];
                raw += v;
                raw_mn = v < raw_mn ? v : raw_mn;
                raw_mx = v > raw_mx ? v : raw_mx;
                if (kind != STORE_FLOAT32)
                    v = nearbyint(v);
                if (v < lo || v > hi)
                    clipped += 1.0;
                v = lo > v ? lo : v;
                v = hi < v ? hi : v;
                char *d = dst + z * sz + y * sy + x * sx;
                if (kind == STORE_FLOAT32) {
                    const float f = (float)v;
                    memcpy(d, &f, sizeof f);
                } else if (kind == STORE_INT16) {
                    const int16_t i = v == v ? (int16_t)v : 0;
                    memcpy(d, &i, sizeof i);
                } else {
                    *(uint8_t *)d = v == v ? (uint8_t)v : 0;
                }
                mn = v < mn ? v : mn;
                mx = v > mx ? v : mx;
                total += v;
                squares += v * v;
            }
        }
        double *s = stats + z * 8;
        s[0] = mn;
        s[1] = mx;
        s[2] = total;
        s[3] = squares;
        s[4] = raw;
        s[5] = raw_mn;
        s[6] = raw_mx;
        s[7] = clipped;
    }
}

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_slab_store", "Storing slabs, called through ctypes.",
                                    -1, NULL, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__slab_store(void) { return PyModule_Create(&module); }
