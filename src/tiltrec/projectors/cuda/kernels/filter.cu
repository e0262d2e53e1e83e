// The element-wise steps of filters.RowFilter on the GPU; the FFTs between them are cupy.fft's.

// out[row][j] (npad samples) = in[row][j] for j < nx, then IMOD's taper: pad sample m = 1..npad-nx goes linearly
// from the mean of the row's last 3 samples to the mean of its first 3, f*start + (1-f)*end with f = m/(pad+1).
// One thread per output sample.
extern "C" __global__ void pad_rows(const float* __restrict__ in, float* __restrict__ out,
                                    int nrows, int nx, int npad)
{
    long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (long long)nrows * npad) return;
    long long row = idx / npad;
    int j = (int)(idx - row * npad);
    const float* r = in + row * nx;
    if (j < nx) {
        out[idx] = r[j];
        return;
    }
    int n = min(3, nx);
    float start = 0.0f, end = 0.0f;
    for (int m = 0; m < n; ++m) {
        start += r[m];
        end += r[nx - n + m];
    }
    start /= (float)n;
    end /= (float)n;
    float f = (float)(j - nx + 1) / (float)(npad - nx + 1);
    out[idx] = f * start + (1.0f - f) * end;
}

// spec (complex, interleaved re/im), nviews x ny x nfreq, times the real weight of its view and frequency:
// w is nw x nfreq with nw = nviews, or 1 (shared by all views).  One thread per complex value.
extern "C" __global__ void weight_spectra(float* __restrict__ spec, const float* __restrict__ w,
                                          int nviews, int ny, int nfreq, int nw)
{
    long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    long long per_view = (long long)ny * nfreq;
    if (idx >= nviews * per_view) return;
    int v = (int)(idx / per_view);
    int k = (int)(idx % nfreq);
    float weight = w[(long long)(nw == 1 ? 0 : v) * nfreq + k];
    spec[2 * idx] *= weight;
    spec[2 * idx + 1] *= weight;
}
