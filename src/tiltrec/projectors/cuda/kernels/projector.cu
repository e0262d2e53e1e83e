// The slab projector pair on the GPU: voxel-driven linear interpolation (bilinear with X-axis tilt) and its exact
// transpose, the same maths as projectors/cpu_kernels.py.
//
// Layouts: volume V[z][x][y] (nz, nx, ny), projections P[t][u][r] (nv, ncol, nrow), Y and r innermost.
// Sample position of voxel (z, x, y) in view t (coefficients.py):
//     u = (u_row[t][z] + x * u_dx[t]) + y * u_dy[t]        r = r_row[t][z] + y * r_dy[t]
// computed in double, as the CPU kernels do, so that both backends take exactly the same samples; a sample exists
// when 0 <= u < ncol - 1 (and 0 <= r < nrow - 1): IMOD's legal range.  The coefficients are float32 values held
// as doubles on the device (exactly the same numbers), so that no update spends a conversion on them: on the GPU
// conversions to and from double run at a quarter of the rate of double arithmetic.
//
// Both directions are gathers, one thread per output element and no atomics: back-projection sums over the views
// for one voxel; forward projection sums, for one projection pixel, over the voxels whose samples touch it.

#define TWO_TO_52 4503599627370496.0

// The sample at position u: index i = trunc(u) and fraction f = u - i (as float), when 0 <= u < limit.  Adding
// 2^52 with rounding toward zero leaves trunc(u) in the low bits of the sum (u < 2^31 here), and subtracting 2^52
// again gives it exactly: the same i and f as a conversion to int and back, with one conversion (f) instead of three.
__device__ __forceinline__ bool sample(double u, double limit, int* i, float* f)
{
    if (u < 0.0 || u >= limit) return false;
    double shifted = __dadd_rz(u, TWO_TO_52);
    *i = __double2loint(shifted);
    *f = (float)(u - (shifted - TWO_TO_52));
    return true;
}

// The index range [lo, hi) of n positions p = start + j * step that contains every j with p in [c - 1, c + 1),
// with inverse = 1 / step: the bounds' rounding errors are far below one index, so one extra index on each side
// covers them; the caller tests each j exactly.  (A product with the inverse, not a division: a double division is
// a long sequence of instructions, and these bounds need no exact rounding.)
__device__ __forceinline__ void near(double start, double step, double inverse, int c, int n, int* lo, int* hi)
{
    if (step == 0.0) {
        bool in = start >= c - 1.0 && start < c + 1.0;
        *lo = 0;
        *hi = in ? n : 0;
        return;
    }
    double a = (c - 1.0 - start) * inverse;
    double b = (c + 1.0 - start) * inverse;
    if (a > b) { double s = a; a = b; b = s; }
    a = fmax(a, -2.0);
    b = fmin(b, n + 2.0);
    *lo = max(0, (int)floor(a));
    *hi = min(n, (int)ceil(b) + 1);
}

// V[z][x][y] += sum_t lerp(P[t][:][y], u); threads: y (x dimension), x (y dimension), z (grid z).
extern "C" __global__ void back_flat(const float* __restrict__ P, float* __restrict__ V,
                                     const double* __restrict__ u_row, const double* __restrict__ u_dx,
                                     int nv, int ncol, int nz, int nx, int ny)
{
    int y = blockIdx.x * blockDim.x + threadIdx.x;
    int x = blockIdx.y * blockDim.y + threadIdx.y;
    int z = blockIdx.z;
    if (y >= ny || x >= nx) return;
    double limit = ncol - 1.0;
    float sum = 0.0f;
    for (int t = 0; t < nv; ++t) {
        int i;
        float f;
        if (!sample(u_row[(long long)t * nz + z] + (double)x * u_dx[t], limit, &i, &f)) continue;
        const float* p = P + ((long long)t * ncol + i) * ny + y;
        float a = p[0];
        sum += a + f * (p[ny] - a);
    }
    V[((long long)z * nx + x) * ny + y] += sum;
}

// P[t][i][y] += transpose of back_flat; threads: y, column i, view t (grid z).
extern "C" __global__ void forward_flat(const float* __restrict__ V, float* __restrict__ P,
                                        const double* __restrict__ u_row, const double* __restrict__ u_dx,
                                        int nv, int ncol, int nz, int nx, int ny)
{
    int y = blockIdx.x * blockDim.x + threadIdx.x;
    int c = blockIdx.y * blockDim.y + threadIdx.y;
    int t = blockIdx.z;
    if (y >= ny || c >= ncol) return;
    double limit = ncol - 1.0;
    double step = u_dx[t], inverse = 1.0 / step;
    float sum = 0.0f;
    for (int z = 0; z < nz; ++z) {
        double start = u_row[(long long)t * nz + z];
        int lo, hi;
        near(start, step, inverse, c, nx, &lo, &hi);
        for (int x = lo; x < hi; ++x) {
            int i;
            float f;
            if (!sample(start + (double)x * step, limit, &i, &f)) continue;
            float v = V[((long long)z * nx + x) * ny + y];
            if (i == c) sum += (1.0f - f) * v;
            else if (i == c - 1) sum += f * v;
        }
    }
    P[((long long)t * ncol + c) * ny + y] += sum;
}

// Bilinear back-projection with X-axis tilt; threads as back_flat.
extern "C" __global__ void back_pitched(const float* __restrict__ P, float* __restrict__ V,
                                        const double* __restrict__ u_row, const double* __restrict__ u_dx,
                                        const double* __restrict__ u_dy, const double* __restrict__ r_row,
                                        const double* __restrict__ r_dy,
                                        int nv, int ncol, int nrow, int nz, int nx, int ny)
{
    int y = blockIdx.x * blockDim.x + threadIdx.x;
    int x = blockIdx.y * blockDim.y + threadIdx.y;
    int z = blockIdx.z;
    if (y >= ny || x >= nx) return;
    double ulimit = ncol - 1.0, rlimit = nrow - 1.0;
    float sum = 0.0f;
    for (int t = 0; t < nv; ++t) {
        long long tz = (long long)t * nz + z;
        double u = (u_row[tz] + (double)x * u_dx[t]) + (double)y * u_dy[t];
        double r = r_row[tz] + (double)y * r_dy[t];
        int i, k;
        float f, g;
        if (!sample(u, ulimit, &i, &f) || !sample(r, rlimit, &k, &g)) continue;
        const float* p = P + ((long long)t * ncol + i) * nrow + k;
        float a = p[0] + g * (p[1] - p[0]);
        float b = p[nrow] + g * (p[nrow + 1] - p[nrow]);
        sum += a + f * (b - a);
    }
    V[((long long)z * nx + x) * ny + y] += sum;
}

// P[t][c][k] += transpose of back_pitched; threads: row k, column c, view t (grid z).
extern "C" __global__ void forward_pitched(const float* __restrict__ V, float* __restrict__ P,
                                           const double* __restrict__ u_row, const double* __restrict__ u_dx,
                                           const double* __restrict__ u_dy, const double* __restrict__ r_row,
                                           const double* __restrict__ r_dy,
                                           int nv, int ncol, int nrow, int nz, int nx, int ny)
{
    int k = blockIdx.x * blockDim.x + threadIdx.x;
    int c = blockIdx.y * blockDim.y + threadIdx.y;
    int t = blockIdx.z;
    if (k >= nrow || c >= ncol) return;
    double ulimit = ncol - 1.0, rlimit = nrow - 1.0;
    double ustep = u_dx[t], uy = u_dy[t], rstep = r_dy[t];
    double uinverse = 1.0 / ustep, rinverse = 1.0 / rstep;
    float sum = 0.0f;
    for (int z = 0; z < nz; ++z) {
        long long tz = (long long)t * nz + z;
        double rstart = r_row[tz];
        double ustart = u_row[tz];
        int ylo, yhi;
        near(rstart, rstep, rinverse, k, ny, &ylo, &yhi);
        for (int y = ylo; y < yhi; ++y) {
            int kk;
            float g;
            if (!sample(rstart + (double)y * rstep, rlimit, &kk, &g)) continue;
            if (kk != k && kk != k - 1) continue;
            float gk = kk == k ? 1.0f - g : g;
            double shift = (double)y * uy;
            int lo, hi;
            near(ustart + shift, ustep, uinverse, c, nx, &lo, &hi);
            for (int x = lo; x < hi; ++x) {
                int i;
                float f;
                if (!sample((ustart + (double)x * ustep) + shift, ulimit, &i, &f)) continue;
                float v = V[((long long)z * nx + x) * ny + y];
                if (i == c) sum += gk * ((1.0f - f) * v);
                else if (i == c - 1) sum += gk * (f * v);
            }
        }
    }
    P[((long long)t * ncol + c) * nrow + k] += sum;
}
