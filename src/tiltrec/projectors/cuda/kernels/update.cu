// SIRT's and SART's element-wise steps (algorithms/iterative.py through the projector's methods): the weighted
// residual of the projections and the weighted update of the volume, with the optional positivity clip.
// Flat, C-contiguous arrays of n elements; one thread per element.

// projected <- (measured - projected) * weight
extern "C" __global__ void weighted_residual(const float* __restrict__ measured, float* __restrict__ projected,
                                             const float* __restrict__ weight, long long n)
{
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) projected[i] = (measured[i] - projected[i]) * weight[i];
}

// x <- x + update * weight, then 0 where negative when positivity is set
extern "C" __global__ void add_weighted(float* __restrict__ x, const float* __restrict__ update,
                                        const float* __restrict__ weight, long long n, int positivity)
{
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    float v = x[i] + update[i] * weight[i];
    x[i] = (positivity && v < 0.0f) ? 0.0f : v;
}

// x <- max(x, 0)
extern "C" __global__ void clip_negative(float* __restrict__ x, long long n)
{
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n && x[i] < 0.0f) x[i] = 0.0f;
}
