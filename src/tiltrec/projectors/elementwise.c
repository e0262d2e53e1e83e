/* The element-wise steps of SIRT and SART on the CPU (elementwise.py states them), compiled without contraction
 * into FMAs: each value is the same float32 arithmetic, in the same order, whatever the threads or the build. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
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

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_elementwise", "Element-wise steps, called through "
                                    "ctypes.", -1, NULL, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__elementwise(void) { return PyModule_Create(&module); }
