/* The back-projection's innermost loop alone, with every load served by L1: what a CPU core can do at most with
 * projectors/flat.c's arithmetic, beside the same core's FMA peak.
 *
 * flat.c keeps a voxel column's chunk of Y values in vector registers while a group of 8 views adds its samples:
 * per view two vector loads (projection columns i and i + 1) and two FMAs per vector of the chunk.  Here the chunk
 * loop runs with nothing else (no sample tables, no volume traffic, 12 projection columns of a few KiB), so its rate
 * bounds any kernel built on it.  Chunks of 32, 64 and 128 values, in 8-float vectors and, where the compiler
 * targets AVX-512, in 16-float vectors.  FMA peak: independent FMAs on registers, 2 flops each.
 *
 * bin/bench's ceiling section builds and runs it (benchmarks/ceiling.py: back_loop); alone:
 *     gcc -O3 -march=native -ffp-contract=fast -fopenmp benchmarks/back_loop.c -o /tmp/back_loop
 *     /tmp/back_loop [threads] [seconds per measure]
 * prints `fma_gflops G`, then `loop LANES VALUES GUPS` per loop (LANES: floats per vector; VALUES: the chunk). */

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#define VIEWS 8
#define COLUMNS 12
#define MOST 128 /* the widest chunk, in floats */

typedef float v8 __attribute__((vector_size(32), aligned(4)));
typedef float v16 __attribute__((vector_size(64), aligned(4)));

typedef struct {
    int col[VIEWS];
    float g[VIEWS], f[VIEWS];
} Samples;

/* acc[n] += g P[col] + f P[col + 1] over a group's views for `count` voxel columns, as flat.c's back_chunk does;
 * the accumulators go back to memory after each column (as flat.c stores a chunk after each group).  The view count
 * is a constant here (flat.c's is the group's count of views with a sample): unrolled whole, the loop ran as fast
 * or faster than with the count read at run time (64 values in 8-float vectors: 41.3 against 38.5 GUPS on 2 Zen 4
 * cores; the same change in flat.c was not faster, docs/performance.md's design notes). */
#define CHUNK_LOOP(NAME, T, NVEC)                                                                                \
    static void NAME(const float *P, float *out, const Samples *table, long count)                            \
    {                                                                                                         \
        enum { L = sizeof(T) / sizeof(float) };                                                               \
        for (long x = 0; x < count; x++) {                                                                    \
            const Samples *s = table + (x & 63);                                                              \
            T acc[NVEC];                                                                                      \
            for (int n = 0; n < NVEC; n++)                                                                    \
                acc[n] = *(const T *)(out + n * L);                                                           \
            for (int j = 0; j < VIEWS; j++) {                                                                 \
                const float *p0 = P + s->col[j], *p1 = p0 + MOST;                                             \
                float g = s->g[j], f = s->f[j];                                                               \
                _Pragma("GCC unroll 16") for (int n = 0; n < NVEC; n++) {                                     \
                    acc[n] += g * *(const T *)(p0 + n * L);                                                   \
                    acc[n] += f * *(const T *)(p1 + n * L);                                                   \
                }                                                                                             \
            }                                                                                                 \
            for (int n = 0; n < NVEC; n++)                                                                    \
                *(T *)(out + n * L) = acc[n];                                                                 \
        }                                                                                                     \
    }
CHUNK_LOOP(narrow_32, v8, 4)
CHUNK_LOOP(narrow_64, v8, 8)
CHUNK_LOOP(narrow_128, v8, 16)
#ifdef __AVX512F__
CHUNK_LOOP(wide_32, v16, 2)
CHUNK_LOOP(wide_64, v16, 4)
CHUNK_LOOP(wide_128, v16, 8)
#endif

/* 16 independent chains of FMAs on 8-float vectors, each chain started apart so that none can be merged */
static float fma_chains(long n)
{
    v8 acc[16], m, c;
    for (int k = 0; k < 8; k++) {
        m[k] = 0.999999f;
        c[k] = 1e-6f * (float)(k + 1);
    }
    for (int k = 0; k < 16; k++)
        acc[k] = c * (float)(k + 1);
    for (long i = 0; i < n; i++) {
        _Pragma("GCC unroll 16") for (int k = 0; k < 16; k++) acc[k] = acc[k] * m + c;
        __asm__("" : "+x"(m)); /* m unknown to the compiler at each pass: no folding of the chains */
    }
    float sum = 0.0f;
    for (int k = 0; k < 16; k++)
        for (int l = 0; l < 8; l++)
            sum += acc[k][l];
    return sum;
}

typedef void (*Loop)(const float *, float *, const Samples *, long);

/* Seconds of `count` voxel columns of `loop` on every thread at once (the slowest thread's time). */
static double timed(Loop loop, long count, int threads, float *checksum)
{
    double slowest = 0.0;
#pragma omp parallel num_threads(threads) reduction(max : slowest)
    {
        float *P = aligned_alloc(64, sizeof(float) * (VIEWS * COLUMNS + 2) * MOST);
        float *out = aligned_alloc(64, sizeof(float) * MOST);
        Samples *table = aligned_alloc(64, sizeof(Samples) * 64);
        for (long i = 0; i < (VIEWS * COLUMNS + 2) * MOST; i++)
            P[i] = 1e-3f * (float)(i % 97);
        for (int i = 0; i < MOST; i++)
            out[i] = 0.0f;
        for (int x = 0; x < 64; x++)
            for (int j = 0; j < VIEWS; j++) { /* columns moving with x, as a view's samples do */
                table[x].col[j] = (j * COLUMNS + (x * (j + 3) / 8) % (COLUMNS - 1)) * MOST;
                table[x].g[j] = 0.25f + 0.01f * (float)j;
                table[x].f[j] = 0.75f - 0.01f * (float)j;
            }
#pragma omp barrier
        double start = omp_get_wtime();
        loop(P, out, table, count);
        slowest = omp_get_wtime() - start;
#pragma omp atomic
        *checksum += out[0];
        free(P);
        free(out);
        free(table);
    }
    return slowest;
}

int main(int argc, char **argv)
{
    const int threads = argc > 1 ? atoi(argv[1]) : omp_get_num_procs();
    const double seconds = argc > 2 ? atof(argv[2]) : 0.3;
    float checksum = 0.0f;

    const long chains = 1000000;
    double fma_s = 1e30;
    for (int r = 0; r < 3; r++) {
        double s = 0.0;
#pragma omp parallel num_threads(threads) reduction(max : s) reduction(+ : checksum)
        {
#pragma omp barrier
            double start = omp_get_wtime();
            checksum += fma_chains(chains);
            s = omp_get_wtime() - start;
        }
        fma_s = s < fma_s ? s : fma_s;
    }
    const double fma_gflops = 2.0 * 16 * 8 * chains * threads / fma_s / 1e9;
    printf("threads %d\nfma_gflops %.2f\n", threads, fma_gflops);

    struct {
        int lanes, values;
        Loop loop;
    } loops[] = {
        {8, 32, narrow_32}, {8, 64, narrow_64}, {8, 128, narrow_128},
#ifdef __AVX512F__
        {16, 32, wide_32}, {16, 64, wide_64}, {16, 128, wide_128},
#endif
    };
    for (size_t i = 0; i < sizeof loops / sizeof loops[0]; i++) {
        /* size the run to `seconds` from a short one, then best of 3 */
        long count = 1000;
        double s = timed(loops[i].loop, count, threads, &checksum);
        count = (long)(count * seconds / (s > 1e-6 ? s : 1e-6)) + 1;
        double best = 1e30;
        for (int r = 0; r < 3; r++) {
            s = timed(loops[i].loop, count, threads, &checksum);
            best = s < best ? s : best;
        }
        double gups = (double)count * VIEWS * loops[i].values * threads / best / 1e9;
        printf("loop %d %d %.3f\n", loops[i].lanes, loops[i].values, gups);
    }
    return checksum == 12345.0f; /* the results are used: the loops cannot be left out */
}
