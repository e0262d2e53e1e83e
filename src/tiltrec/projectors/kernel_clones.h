/* KERNEL marks the compiled kernels' hot functions: one build serves every x86-64 machine, the loader picking each
 * one's AVX-512, AVX2 + FMA (x86-64-v3) or baseline copy (GCC's target clones); other compilers build one copy. */
#ifndef TILTREC_KERNEL_CLONES_H
#define TILTREC_KERNEL_CLONES_H
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define KERNEL __attribute__((target_clones("avx512f", "arch=x86-64-v3", "default")))
#else
#define KERNEL
#endif
#endif
