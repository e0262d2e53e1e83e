/* KERNEL marks the compiled kernels' hot functions: one build serves every x86-64 machine, the loader picking each
 * one's AVX-512 (x86-64-v4), AVX2 + FMA (x86-64-v3) or baseline copy (GCC's target clones); other compilers build
 * one copy.  The AVX-512 copy is x86-64-v4, not plain avx512f: avx512f alone brings neither the FMA instructions on
 * 256-bit vectors (FMA or AVX512VL) nor FMA's macro, so its vectors were multiplied and added apart while its scalar
 * lanes were fused, and a value then depended on whether its Y row fell in a vector or in the last few lanes.
 * WIDE_KERNEL marks a function written for AVX-512 alone (its vectors or intrinsics): call it where
 * has_wide_vectors(). */
#ifndef TILTREC_KERNEL_CLONES_H
#define TILTREC_KERNEL_CLONES_H
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define KERNEL __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#define WIDE_KERNEL __attribute__((target("arch=x86-64-v4")))
static inline int has_wide_vectors(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("x86-64-v4");
}
#else
#define KERNEL
#define WIDE_KERNEL
static inline int has_wide_vectors(void) { return 0; }
#endif
#endif
