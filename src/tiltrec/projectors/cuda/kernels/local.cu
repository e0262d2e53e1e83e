// Back-projection with IMOD's local alignments (projectors/local_cpu.py): one thread per voxel adds, view by view,
// the bilinear sample at its own position xproj = xf + zz xz, yproj = yf + zz yz, with IMOD's rules (a yproj
// within 3.05 rows beyond the first or last row moved onto it; inside 1 <= x <= nx, 1 <= y <= ny; both rows among
// those loaded).  The _rn operations keep every product and sum a separate float32 operation, as local.c (built
// without FMAs) and IMOD compute them, so the GPU's voxels equal the CPU's.

__device__ __forceinline__ float lerp_rn(float a, float b, float f)
{
    return __fadd_rn(__fmul_rn(__fsub_rn(1.0f, f), a), __fmul_rn(f, b));
}

extern "C" __global__ void back_local(const float* __restrict__ rows, const float* __restrict__ xf,
                                      const float* __restrict__ xz, const float* __restrict__ yf,
                                      const float* __restrict__ yz, const float* __restrict__ zz,
                                      float* __restrict__ out, int v0, int v1, int nviews, int nrows, int nx,
                                      int r0, int ny, int legal0, int legal1, int thick, int width, int nslab)
{
    int s = blockIdx.x * blockDim.x + threadIdx.x;  // slab slice: contiguous in out
    int j = blockIdx.y * blockDim.y + threadIdx.y;  // column
    int i = blockIdx.z;                             // thickness row
    if (s >= nslab || j >= width || i >= thick)
        return;
    const float z = zz[i];
    const float ny_top = (float)ny;
    float acc = 0.0f;
    for (int v = v0; v < v1; ++v) {  // rows holds views [v0, v1); the factors all nviews
        long long f = ((long long)s * nviews + v) * width + j;
        float x = __fadd_rn(xf[f], __fmul_rn(z, xz[f]));
        float y = __fadd_rn(yf[f], __fmul_rn(z, yz[f]));
        if (y >= 1.0f - 3.05f && y <= ny_top + 3.05f)
            y = y < 1.0f ? 1.0f : (y > ny_top ? ny_top : y);
        if (x < 1.0f || x > (float)nx || y < 1.0f || y > ny_top)
            continue;
        int ix = min((int)x, nx - 1);
        int iy = min((int)y, ny - 1);
        float fx = __fsub_rn(x, (float)ix);
        float fy = __fsub_rn(y, (float)iy);
        if (iy - 1 < legal0 || iy + 1 > legal1)
            continue;
        const float* low = rows + ((long long)(v - v0) * nrows + iy - 1 - r0) * nx;
        const float* high = low + nx;
        acc = __fadd_rn(__fadd_rn(acc, __fmul_rn(__fsub_rn(1.0f, fy), lerp_rn(low[ix - 1], low[ix], fx))),
                        __fmul_rn(fy, lerp_rn(high[ix - 1], high[ix], fx)));
    }
    long long o = ((long long)i * width + j) * nslab + s;
    out[o] = __fadd_rn(out[o], acc);
}
