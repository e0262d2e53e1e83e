// Projection with IMOD's local alignments (projectors/local_cpu.py).  back_local: one thread per voxel adds, view
// by view, the bilinear sample at its own position xproj = xf + zz xz, yproj = yf + zz yz, with IMOD's rules (a
// yproj within 3.05 rows beyond the first or last row moved onto it; inside 1 <= x <= nx, 1 <= y <= ny; both rows
// among those loaded).  The _rn operations keep every product and sum a separate float32 operation, as local.c
// (built without FMAs) and IMOD compute them, so the GPU's voxels equal the CPU's.  forward_local_parts and
// forward_local_sum: its transpose (the CPU's forward sums in another order: equal to float rounding).

__device__ __forceinline__ float lerp_rn(float a, float b, float f)
{
    return __fadd_rn(__fmul_rn(__fsub_rn(1.0f, f), a), __fmul_rn(f, b));
}

// Where the sample at (x, y) falls under IMOD's rules: the pixel (ix, iy), 1-based as IMOD's, of the first of the
// four pixels it interpolates, and the fractions; false where it takes no sample.
__device__ __forceinline__ bool locate(float x, float y, int nx, int ny, int legal0, int legal1, int* ix, int* iy,
                                       float* fx, float* fy)
{
    const float ny_top = (float)ny;
    if (y >= 1.0f - 3.05f && y <= ny_top + 3.05f)
        y = y < 1.0f ? 1.0f : (y > ny_top ? ny_top : y);
    if (x < 1.0f || x > (float)nx || y < 1.0f || y > ny_top)
        return false;
    *ix = min((int)x, nx - 1);
    *iy = min((int)y, ny - 1);
    *fx = __fsub_rn(x, (float)*ix);
    *fy = __fsub_rn(y, (float)*iy);
    return *iy - 1 >= legal0 && *iy + 1 <= legal1;
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
    float acc = 0.0f;
    for (int v = v0; v < v1; ++v) {  // rows holds views [v0, v1); the factors all nviews
        long long f = ((long long)s * nviews + v) * width + j;
        int ix, iy;
        float fx, fy;
        if (!locate(__fadd_rn(xf[f], __fmul_rn(z, xz[f])), __fadd_rn(yf[f], __fmul_rn(z, yz[f])), nx, ny, legal0,
                    legal1, &ix, &iy, &fx, &fy))
            continue;
        const float* low = rows + ((long long)(v - v0) * nrows + iy - 1 - r0) * nx;
        const float* high = low + nx;
        acc = __fadd_rn(__fadd_rn(acc, __fmul_rn(__fsub_rn(1.0f, fy), lerp_rn(low[ix - 1], low[ix], fx))),
                        __fmul_rn(fy, lerp_rn(high[ix - 1], high[ix], fx)));
    }
    long long o = ((long long)i * width + j) * nslab + s;
    out[o] = __fadd_rn(out[o], acc);
}

// The forward projection, the transpose of back_local, without atomics so that the sums do not depend on the
// order threads run in: one thread per (view, slab slice) spreads the slice's voxels, column by column, over its
// own window of rows (`parts`: [view][slice][window][nx], the window starting at row first[s] of the views held),
// with the weights and rules back_local samples with; forward_local_sum then adds the slices' windows up in
// slice order.  The windows come from the slice's extreme positions with two rows of margin (CudaProjector), so
// every deposit falls inside its window.
extern "C" __global__ void forward_local_parts(const float* __restrict__ vol, const float* __restrict__ xf,
                                               const float* __restrict__ xz, const float* __restrict__ yf,
                                               const float* __restrict__ yz, const float* __restrict__ zz,
                                               const float* __restrict__ first, float* __restrict__ parts, int v0,
                                               int nv, int nviews, int nx, int r0, int ny, int legal0, int legal1,
                                               int thick, int width, int nslab, int window)
{
    int s = blockIdx.x * blockDim.x + threadIdx.x;  // slab slice
    int v = blockIdx.y * blockDim.y + threadIdx.y;  // view of this launch
    if (s >= nslab || v >= nv)
        return;
    float* part = parts + ((long long)v * nslab + s) * window * nx;
    for (long long k = 0; k < (long long)window * nx; ++k)
        part[k] = 0.0f;
    const int row0 = r0 + (int)first[s];  // the view row of the window's first row
    for (int j = 0; j < width; ++j) {
        long long f = ((long long)s * nviews + v0 + v) * width + j;
        for (int i = 0; i < thick; ++i) {
            const float z = zz[i];
            int ix, iy;
            float fx, fy;
            if (!locate(__fadd_rn(xf[f], __fmul_rn(z, xz[f])), __fadd_rn(yf[f], __fmul_rn(z, yz[f])), nx, ny,
                        legal0, legal1, &ix, &iy, &fx, &fy))
                continue;
            const float value = vol[((long long)i * width + j) * nslab + s];
            float* low = part + (long long)(iy - 1 - row0) * nx + ix - 1;
            const float w0 = __fmul_rn(__fsub_rn(1.0f, fy), value), w1 = __fmul_rn(fy, value);
            low[0] = __fadd_rn(low[0], __fmul_rn(__fsub_rn(1.0f, fx), w0));
            low[1] = __fadd_rn(low[1], __fmul_rn(fx, w0));
            low[nx] = __fadd_rn(low[nx], __fmul_rn(__fsub_rn(1.0f, fx), w1));
            low[nx + 1] = __fadd_rn(low[nx + 1], __fmul_rn(fx, w1));
        }
    }
}

// proj[v][row][x] += the windows of forward_local_parts that hold that row, in slice order.
extern "C" __global__ void forward_local_sum(const float* __restrict__ parts, const float* __restrict__ first,
                                             float* __restrict__ proj, int nv, int nslab, int nrows, int nx,
                                             int window)
{
    int x = blockIdx.x * blockDim.x + threadIdx.x;
    int row = blockIdx.y * blockDim.y + threadIdx.y;
    int v = blockIdx.z;
    if (x >= nx || row >= nrows || v >= nv)
        return;
    float acc = 0.0f;
    for (int s = 0; s < nslab; ++s) {
        const int k = row - (int)first[s];
        if (k >= 0 && k < window)
            acc = __fadd_rn(acc, parts[(((long long)v * nslab + s) * window + k) * nx + x]);
    }
    long long o = ((long long)v * nrows + row) * nx + x;
    proj[o] = __fadd_rn(proj[o], acc);
}
