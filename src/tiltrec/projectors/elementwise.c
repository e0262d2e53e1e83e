/* The element-wise steps of SIRT and SART on the CPU, and IMOD's logarithm of the views and its inverse
 * (elementwise.py states them), compiled without contraction into FMAs: each value is the same float32 arithmetic,
 * in the same order, whatever the threads or the build.  The logarithm and the power are the C library's log10f and
 * powf, which IMOD's tilt calls: NumPy's own float32 log10 and power differ from them in the last bit for many
 * arguments on CPUs with AVX-512 (and not on others), which moves an integer output by one. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <omp.h>

/* projected <- (measured - projected) * weight */
void weighted_residual(const float *measured, float *projected, const float *weight, long n, int threads)
{
#pragma omp parallel for schedule(static) num_threads(threads)
    for (long i = 0; i < n; i++)
        projected[i] = (measured[i] - projected[i]) * weight[i];
}

/* x <- x + update * weight, then max(x, 0) with positivity (a NaN stays NaN) */
void add_weighted(float *x, const float *update, const float *weight, long n, int positivity, int threads)
{
#pragma omp parallel for schedule(static) num_threads(threads)
    for (long i = 0; i < n; i++) {
        const float v = x[i] + update[i] * weight[i];
        x[i] = positivity && v < 0.0f ? 0.0f : v;
    }
}

/* x <- x * scale + add, as two float32 roundings (the product, then the sum) */
void scale_add(float *x, float scale, float add, long n, int threads)
{
#pragma omp parallel for schedule(static) num_threads(threads)
    for (long i = 0; i < n; i++)
        x[i] = x[i] * scale + add;
}

/* x <- log10f(max(x + add, floor)) (a NaN stays NaN) */
void log10_of_sum(float *x, float add, float floor, long n, int threads)
{
#pragma omp parallel for schedule(static) num_threads(threads)
    for (long i = 0; i < n; i++) {
        const float v = x[i] + add;
        x[i] = log10f(v < floor ? floor : v);
    }
}

/* x <- powf(10, x + shift) - subtract */
void ten_to_the(float *x, float shift, float subtract, long n, int threads)
{
#pragma omp parallel for schedule(static) num_threads(threads)
    for (long i = 0; i < n; i++)
        x[i] = powf(10.0f, x[i] + shift) - subtract;
}

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_elementwise", "Element-wise steps, called through "
                                    "ctypes.", -1, NULL, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__elementwise(void) { return PyModule_Create(&module); }
