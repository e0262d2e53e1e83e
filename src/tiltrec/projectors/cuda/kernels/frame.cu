// The tilted frame of a slab whose views share one X-axis tilt (projectors/pitch_frame.py): the flat kernels of
// projector.cu project between the views and the frame Q[k][x][m] (nq, nx, nr); these kernels interpolate the
// slab's volume V[z][x][y] (nz, nx, ny) from the frame and back.
//
// Voxel (z, y) lies at lattice position kf and slab projection row r (computed in double, in the order of
// pitch_frame.py, so that both backends take the same samples):
//     Y = y_first + y,  Z = z_first + z,  kf = Y sin_a + Z cos_a - z_first - k0,  r = r_first + Y cos_a - Z sin_a
// and interpolates Q bilinearly at (kf, r) where 0 <= r < nr - 1 (zero elsewhere).
//
// Both are gathers: compose has one thread per voxel; its transpose one thread per frame sample, which sums over
// the few voxels whose interpolation touches that sample.

struct FrameMap {
    double y_first, z_first, sin_a, cos_a, k0, r_first;
    int nr;
};

// Lattice row k, slab row m and the weights of (k, m), (k, m+1), (k+1, m), (k+1, m+1) for voxel (z, y); false where
// the voxel's row lies outside the slab's projection rows.
__device__ __forceinline__ bool frame_sample(const FrameMap& f, int z, int y, int* k, int* m, float w[4])
{
    double Y = f.y_first + (double)y;
    double Z = f.z_first + (double)z;
    double kf = Y * f.sin_a + Z * f.cos_a - f.z_first - f.k0;
    double r = f.r_first + Y * f.cos_a - Z * f.sin_a;
    if (r < 0.0 || r >= f.nr - 1.0) return false;
    *k = (int)floor(kf);
    *m = (int)floor(r);
    float fk = (float)(kf - *k);
    float fm = (float)(r - *m);
    w[0] = (1.0f - fk) * (1.0f - fm);
    w[1] = (1.0f - fk) * fm;
    w[2] = fk * (1.0f - fm);
    w[3] = fk * fm;
    return true;
}

// V[z][x][y] += bilinear interpolation of Q[:][x][:]; threads: y, x, z (grid z).
extern "C" __global__ void compose(const float* __restrict__ Q, float* __restrict__ V, int nq, int nx, int nr,
                                   int nz, int ny, double y_first, double z_first, double sin_a, double cos_a,
                                   double k0, double r_first)
{
    int y = blockIdx.x * blockDim.x + threadIdx.x;
    int x = blockIdx.y * blockDim.y + threadIdx.y;
    int z = blockIdx.z;
    if (y >= ny || x >= nx) return;
    FrameMap f = {y_first, z_first, sin_a, cos_a, k0, r_first, nr};
    int k, m;
    float w[4];
    if (!frame_sample(f, z, y, &k, &m, w)) return;
    const float* q = Q + ((long long)k * nx + x) * nr + m;
    const float* q1 = q + (long long)nx * nr;
    V[((long long)z * nx + x) * ny + y] += w[0] * q[0] + w[1] * q[1] + w[2] * q1[0] + w[3] * q1[1];
}

// Q[k][x][m] += transpose of compose; threads: m, x, k (grid z).  The voxels that touch sample (k, m) lie within
// sqrt(2) of its inverse rotation (the map is a rotation plus a shift), so a 5 x 5 neighbourhood holds them all.
extern "C" __global__ void compose_transposed(const float* __restrict__ V, float* __restrict__ Q, int nq, int nx,
                                              int nr, int nz, int ny, double y_first, double z_first, double sin_a,
                                              double cos_a, double k0, double r_first)
{
    int m = blockIdx.x * blockDim.x + threadIdx.x;
    int x = blockIdx.y * blockDim.y + threadIdx.y;
    int k = blockIdx.z;
    if (m >= nr || x >= nx) return;
    FrameMap f = {y_first, z_first, sin_a, cos_a, k0, r_first, nr};
    double zp = k + k0 + z_first;  // Z' of the sample
    double yp = m - r_first;       // Y' of the sample
    int yc = (int)floor(yp * cos_a + zp * sin_a - y_first);
    int zc = (int)floor(zp * cos_a - yp * sin_a - z_first);
    float sum = 0.0f;
    for (int z = max(0, zc - 2); z <= min(nz - 1, zc + 2); ++z) {
        for (int y = max(0, yc - 2); y <= min(ny - 1, yc + 2); ++y) {
            int kv, mv;
            float w[4];
            if (!frame_sample(f, z, y, &kv, &mv, w)) continue;
            int dk = k - kv, dm = m - mv;
            if (dk < 0 || dk > 1 || dm < 0 || dm > 1) continue;
            sum += w[2 * dk + dm] * V[((long long)z * nx + x) * ny + y];
        }
    }
    Q[((long long)k * nx + x) * nr + m] += sum;
}
