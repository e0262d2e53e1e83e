// Compiles the package's .cu kernels as host C++: what a kernel may use beyond plain C++ is defined here, and
// nothing else (see src/tiltrec/projectors/cuda/kernels/README.md).  The emulator (emulator.py) calls a kernel once
// per thread, block by block, serially, after setting the built-in variables below.
#pragma once
#include <math.h>
#include <string.h>

struct uint3 { unsigned x, y, z; };
struct dim3 { unsigned x, y, z; };

static uint3 threadIdx, blockIdx;
static dim3 blockDim, gridDim;

#define __global__
#define __device__
#define __forceinline__ inline
#define __restrict__ __restrict

// Threads run one after another, so an atomic add is a plain one.
static inline float atomicAdd(float* address, float value) { float old = *address; *address = old + value; return old; }

// CUDA's integer min and max (fmin, fmax, floor, ceil, fabs come from math.h, as in CUDA).
static inline int min(int a, int b) { return a < b ? a : b; }
static inline int max(int a, int b) { return a > b ? a : b; }

// CUDA's round-to-nearest arithmetic that the compiler may not contract into an FMA: one IEEE operation each.
static inline float __fmul_rn(float a, float b) { return a * b; }
static inline float __fadd_rn(float a, float b) { return a + b; }
static inline float __fsub_rn(float a, float b) { return a - b; }
static inline float __fdiv_rn(float a, float b) { return a / b; }
// and their double-precision counterparts
static inline double __dadd_rn(double a, double b) { return a + b; }
static inline double __dsub_rn(double a, double b) { return a - b; }
static inline double __dmul_rn(double a, double b) { return a * b; }
// Double addition rounded toward zero: the nearest sum, stepped one unit in the last place toward zero when its
// rounding error (exact, by the two-sum) shows it went away from zero.
static inline double __dadd_rz(double a, double b)
{
    double s = a + b, bb = s - a, error = (a - (s - bb)) + (b - bb);
    return (s > 0 && error < 0) || (s < 0 && error > 0) ? nextafter(s, 0.0) : s;
}
// The low 32 bits of a double's bit pattern, as an int.
static inline int __double2loint(double d)
{
    unsigned long long bits;
    memcpy(&bits, &d, sizeof bits);
    return (int)(unsigned)(bits & 0xffffffffULL);
}
