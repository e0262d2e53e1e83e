// A reconstructed slab in the output file's order, with the statistics of the stored values, so that the host
// only writes it (projectors/cuda/file_order.py; formats/slab_store.py does the same on the CPU).
//
// vol[z][x][y] is the algorithm's slab (nz thickness rows, nx columns, ny slices); the output is its columns
// x0 .. x0+width-1 and slices y0 .. y0+nys-1.  Element (slice l, thickness row j, column x) goes to
// block[origin + l * stride_l + j * stride_j + x] (formats/layout.py's slices_strides).
// rounding: 0 float32 (values clipped to [lo, hi]), 1 integers (rounded to nearest, even on ties, then clipped),
// 2 float16 (clipped, then rounded to the nearest half-precision value, as the conversion to it will).
// One thread per (thickness row j, slice l), threads of a warp on consecutive slices (reading consecutive y), each
// looping over the columns; stats[(j * nys + l) * 4 + k] gets its minimum, maximum, sum and sum of squares.

__device__ __forceinline__ double stored_value(float value, int rounding, double lo, double hi)
{
    double v = (double)value;
    if (rounding == 1) v = rint(v);
    v = fmin(fmax(v, lo), hi);
    if (rounding == 2) {
        int e;
        double m = frexp(v, &e);                        // v = m * 2^e, 0.5 <= |m| < 1
        if (e < -13) v = rint(ldexp(v, 24)) * ldexp(1.0, -24);  // subnormal halves: steps of 2^-24
        else v = ldexp(rint(ldexp(m, 11)), e - 11);     // 11 significant bits
    }
    return v;
}

extern "C" __global__ void store_slab(const float* __restrict__ vol, float* __restrict__ block,
                                      double* __restrict__ stats, int nz, int nx, int ny, int x0, int y0,
                                      int width, int nys, long long origin, long long stride_l, long long stride_j,
                                      int rounding, double lo, double hi)
{
    int l = blockIdx.x * blockDim.x + threadIdx.x;
    int j = blockIdx.y * blockDim.y + threadIdx.y;
    if (l >= nys || j >= nz) return;
    const float* src = vol + ((long long)j * nx + x0) * ny + y0 + l;
    float* dst = block + origin + l * stride_l + j * stride_j;
    double first = stored_value(src[0], rounding, lo, hi);
    double low = first, high = first, total = 0.0, squares = 0.0;
    for (int x = 0; x < width; ++x) {
        double v = stored_value(src[(long long)x * ny], rounding, lo, hi);
        dst[x] = (float)v;
        low = fmin(low, v);
        high = fmax(high, v);
        total += v;
        squares += v * v;
    }
    double* out = stats + ((long long)j * nys + l) * 4;
    out[0] = low;
    out[1] = high;
    out[2] = total;
    out[3] = squares;
}
