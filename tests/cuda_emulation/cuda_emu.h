// Compiles the package's .cu kernels as host C++: what a kernel may use beyond plain C++ is defined here, and
// nothing else (see src/tiltrec/projectors/cuda/kernels/README.md).  The emulator (emulator.py) calls a kernel once
// per thread, block by block, serially, after setting the built-in variables below.
#pragma once
#include <math.h>

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
