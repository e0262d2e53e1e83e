// IMOD tilt's reprojection of a tomogram with local alignments: reprojection/local_rays.py's reproject_view on the
// GPU, one thread per output pixel (line k, column i), doing for its ray what _ray does, in the same operations:
// float32 arithmetic in tilt's order, every product, sum and quotient a separate _rn operation (never contracted
// into an FMA, which would round differently), the ray's sum in double, truncations and floors to 64-bit integers
// as Numba's int() and np.floor(), and min/max as Numba's builtins pick (max(a, b) = b > a ? b : a), so that the
// pixels and the flags equal the CPU's bit for bit.
//
// Layouts (C order): vol[s][z][x] (slices vol_first .., vrows thickness rows, vcols loaded columns), table[q][r][c]
// (xf, xz, yf, yz of slices t_first + r and loaded columns c + 1), warp[k][nwarp] (local_rays._warp_delz of line
// k), lines[k] and loads[k][2] (doubles: the launchers pass arrays of floats only; exact for any slice number),
// limits[k][2] (local_rays.xproj_limits), out[k][width] and flags[k][width] (the ray's flags, as floats).

#define LOCAL_REPROJ_MISSED_TABLE 1
#define LOCAL_REPROJ_MISSED_VOLUME 2
#define LOCAL_REPROJ_STALLED 4
#define LOCAL_REPROJ_Y_TOLERANCE 3.05f  // tilt's ytol: a point this far beyond the loaded slices still counts
#define LOCAL_REPROJ_JUMP 5.0f          // tilt's xjump

typedef long long local_reproj_int;  // Numba's int(): 64 bits

// Numba's builtin max(a, b) and min(a, b) of floats (not fmaxf/fminf, which differ on NaN and signed zeros).
__device__ __forceinline__ float local_reproj_max(float a, float b) { return b > a ? b : a; }
__device__ __forceinline__ float local_reproj_min(float a, float b) { return b < a ? b : a; }
__device__ __forceinline__ local_reproj_int local_reproj_imax(local_reproj_int a, local_reproj_int b)
{
    return b > a ? b : a;
}
__device__ __forceinline__ local_reproj_int local_reproj_imin(local_reproj_int a, local_reproj_int b)
{
    return b < a ? b : a;
}

// The constant inputs of one view's rays: the view's global factors, the plan's parameters and the arrays' sizes.
struct LocalReprojView {
    const float* vol;
    const float* table;
    float cb, sb, ca, sa, xzf, yzf;
    float xcen_out, ycen_adj, xcen_in, axis, center_slice, yproj_offset, dx_warp;
    double fill;
    local_reproj_int vol_first, nvol, vrows, vcols, t_first, ntable, tcols, nxload, min_xload, thick, nwarp;
};

// a + b zz, as local_rays writes it
__device__ __forceinline__ float local_reproj_along(float a, float b, float zz)
{
    return __fadd_rn(a, __fmul_rn(b, zz));
}

// tilt's loadedProjectingPoint (local_rays._loaded_point): Newton steps on the factors of the loaded columns and
// slices lo .. hi; moves *xx, *yy to the point found.  Returns true when the table lacks a slice it needs.
__device__ bool local_reproj_point(const LocalReprojView& w, float xproj, float yproj, float zz, local_reproj_int lo,
                                   local_reproj_int hi, float* xx, float* yy)
{
    const local_reproj_int plane = w.ntable * w.tcols;
    for (int it = 0; it < 5; ++it) {
        local_reproj_int ix = (local_reproj_int)floorf(*xx);
        local_reproj_int iy = (local_reproj_int)floorf(*yy);
        const bool outside = ix < 1 || ix >= w.nxload || iy < lo || iy >= hi;
        if (outside) {
            ix = local_reproj_imin(w.nxload - 1, local_reproj_imax(1, ix));
            iy = local_reproj_imin(hi - 1, local_reproj_imax(lo, iy));
        }
        const local_reproj_int r = iy - w.t_first;
        if (r < 0 || r + 1 >= w.ntable)
            return true;
        const float* f = w.table + r * w.tcols + (ix - 1);  // f[q * plane]: factor q; + 1: next column; + tcols
        const float xp11 = local_reproj_along(f[0], f[plane], zz);
        const float yp11 = local_reproj_along(f[2 * plane], f[3 * plane], zz);
        const float xp21 = local_reproj_along(f[1], f[plane + 1], zz);
        const float yp21 = local_reproj_along(f[2 * plane + 1], f[3 * plane + 1], zz);
        const float xp12 = local_reproj_along(f[w.tcols], f[plane + w.tcols], zz);
        const float yp12 = local_reproj_along(f[2 * plane + w.tcols], f[3 * plane + w.tcols], zz);
        const float xerr = __fsub_rn(xproj, xp11), yerr = __fsub_rn(yproj, yp11);
        const float dxpx = __fsub_rn(xp21, xp11), dxpy = __fsub_rn(xp12, xp11);
        const float dypx = __fsub_rn(yp21, yp11), dypy = __fsub_rn(yp12, yp11);
        const float den = __fsub_rn(__fmul_rn(dxpx, dypy), __fmul_rn(dxpy, dypx));
        const float fx = __fdiv_rn(__fsub_rn(__fmul_rn(xerr, dypy), __fmul_rn(yerr, dxpy)), den);
        const float fy = __fdiv_rn(__fsub_rn(__fmul_rn(dxpx, yerr), __fmul_rn(dypx, xerr)), den);
        *xx = __fadd_rn((float)ix, fx);
        *yy = __fadd_rn((float)iy, fy);
        if (-0.1f < fx && fx < 1.1f && -0.1f < fy && fy < 1.1f)
            break;
        if (outside && (it > 0 || *xx < 0.0f || *xx > (float)(w.nxload + 1) || *yy < __fsub_rn((float)lo, 1.0f) ||
                        *yy > __fadd_rn((float)hi, 1.0f)))
            break;
    }
    return false;
}

// total plus the trilinear sample between slices s, s+1, rows iz, iz+1 and columns ix, ix+1 (0-based), its lower
// row's part and its upper row's each rounded to float and added in turn (local_rays._sample).
__device__ __forceinline__ double local_reproj_sample(double total, const LocalReprojView& w, local_reproj_int s,
                                                      local_reproj_int iz, local_reproj_int ix, float fx, float omfx,
                                                      float fy, float omfy, float fz, float omfz)
{
    const float d11 = __fmul_rn(omfx, omfy), d12 = __fmul_rn(omfx, fy), d21 = __fmul_rn(fx, omfy),
                d22 = __fmul_rn(fx, fy);
    const local_reproj_int slice = w.vrows * w.vcols;
    float part[2];
    for (int r = 0; r < 2; ++r) {
        const float* p = w.vol + (s * w.vrows + iz + r) * w.vcols + ix;  // p[slice]: the next slice's
        float sum = __fadd_rn(__fmul_rn(d11, p[0]), __fmul_rn(d12, p[slice]));
        sum = __fadd_rn(sum, __fmul_rn(d21, p[1]));
        part[r] = __fadd_rn(sum, __fmul_rn(d22, p[slice + 1]));
    }
    return __dadd_rn(__dadd_rn(total, (double)__fmul_rn(omfz, part[0])), (double)__fmul_rn(fz, part[1]));
}

// The Z step at the column of xx (the warp entry tilt picks).
__device__ __forceinline__ float local_reproj_delz(const LocalReprojView& w, const float* warp, float xx)
{
    const float at = local_reproj_max(1.0f, local_reproj_min((float)w.nwarp, __fdiv_rn(xx, w.dx_warp)));
    return warp[(local_reproj_int)at - 1];
}

// One output pixel (local_rays._ray): the sum along its ray into *total, and its flags.
__device__ int local_reproj_ray(const LocalReprojView& w, float xproj, float yproj, local_reproj_int lo,
                                local_reproj_int hi, float xp_low, float xp_high, const float* warp, double* total)
{
    const float one = 1.0f;
    int flags = 0;
    *total = 0.0;
    float zz = __fsub_rn(one, w.ycen_adj);
    // the first guess: the global geometry's point at the bottom of the ray, in loaded columns and tomogram slices
    float yy = __fadd_rn(__fdiv_rn(__fsub_rn(__fadd_rn(yproj, __fmul_rn(zz, __fsub_rn(w.sa, w.yzf))),
                                             w.center_slice), w.ca), w.center_slice);
    float xx = __fsub_rn(xproj, __fmul_rn(__fmul_rn(yy, w.sa), w.sb));
    xx = __fsub_rn(xx, __fmul_rn(zz, __fadd_rn(__fmul_rn(w.ca, w.sb), w.xzf)));
    xx = __fsub_rn(__fsub_rn(xx, w.xcen_in), w.axis);
    xx = __fsub_rn(__fadd_rn(__fdiv_rn(xx, w.cb), w.xcen_out), (float)(w.min_xload - 1));
    yy = __fsub_rn(yy, w.yproj_offset);
    bool last_done = false, jumping = true;
    const float zjump = __fdiv_rn(__fmul_rn(LOCAL_REPROJ_JUMP, w.cb), local_reproj_max(0.2f, fabsf(w.sb)));
    const float top = __fsub_rn((float)(w.thick + 1), w.ycen_adj);
    const float jump_top = __fsub_rn(__fsub_rn((float)w.thick, w.ycen_adj), one);
    const bool beyond = xproj < __fsub_rn(xp_low, 5.0f) || xproj > __fadd_rn(xp_high, 5.0f);
    const float flo = (float)lo, fhi = (float)hi, fnxload = (float)w.nxload;
    while (zz < top && !last_done) {
        if (beyond) {
            *total = __dadd_rn(*total, w.fill);
        } else {
            if (local_reproj_point(w, xproj, yproj, zz, lo, hi, &xx, &yy))
                return LOCAL_REPROJ_MISSED_TABLE;
            if (yy < __fsub_rn(flo, LOCAL_REPROJ_Y_TOLERANCE) || yy > __fadd_rn(fhi, LOCAL_REPROJ_Y_TOLERANCE) ||
                xx < one || xx >= fnxload) {
                *total = __dadd_rn(*total, w.fill);
            } else {
                local_reproj_int ix = (local_reproj_int)xx;
                float fx = __fsub_rn(xx, (float)ix);
                yy = local_reproj_max(flo, local_reproj_min(__fsub_rn(fhi, 0.01f), yy));
                local_reproj_int iy = (local_reproj_int)yy;
                float fy = __fsub_rn(yy, (float)iy);
                local_reproj_int iz = (local_reproj_int)local_reproj_max(one, __fadd_rn(zz, w.ycen_adj));
                float fz = __fsub_rn(__fadd_rn(zz, w.ycen_adj), (float)iz);
                float omfz = __fsub_rn(one, fz);
                if (iz >= w.thick) {  // a fraction of the top row, the last sample of the ray
                    iz = w.thick - 1;
                    fz = omfz;
                    omfz = 0.0f;
                    last_done = true;
                }
                local_reproj_int s = iy - w.vol_first;
                if (s < 0 || s + 1 >= w.nvol)
                    return LOCAL_REPROJ_MISSED_VOLUME;
                *total = local_reproj_sample(*total, w, s, iz - 1, ix - 1, fx, __fsub_rn(one, fx), fy,
                                             __fsub_rn(one, fy), fz, omfz);
                while (jumping) {  // jumps up the ray, the points between them interpolated
                    const float x0 = xx, y0 = yy, z0 = zz;
                    const float delz = local_reproj_delz(w, warp, xx);
                    local_reproj_int njump = (local_reproj_int)__fdiv_rn(zjump, delz);
                    if (__fadd_rn(zz, zjump) > jump_top) {
                        njump = (local_reproj_int)__fdiv_rn(__fsub_rn(jump_top, zz), delz);
                        jumping = false;
                    }
                    float delx = 0.0f, dely = 0.0f;
                    if (njump > 0) {
                        zz = __fadd_rn(zz, __fmul_rn((float)njump, delz));
                        xx = __fadd_rn(xx, __fmul_rn((float)njump, w.sb));
                        if (local_reproj_point(w, xproj, yproj, zz, lo, hi, &xx, &yy))
                            return LOCAL_REPROJ_MISSED_TABLE;
                        if (yy < flo || yy > fhi || xx < one || xx >= fnxload) {
                            njump = 0;
                            xx = x0, yy = y0, zz = z0;
                            jumping = false;
                        } else {
                            delx = __fdiv_rn(__fsub_rn(xx, x0), (float)njump);
                            dely = __fdiv_rn(__fsub_rn(yy, y0), (float)njump);
                        }
                    } else if (jumping) {  // tilt would try this jump for ever
                        flags |= LOCAL_REPROJ_STALLED;
                        jumping = false;
                    }
                    for (local_reproj_int j = 1; j <= njump; ++j) {
                        xx = __fadd_rn(x0, __fmul_rn((float)j, delx));
                        yy = __fadd_rn(y0, __fmul_rn((float)j, dely));
                        zz = __fadd_rn(z0, __fmul_rn((float)j, delz));
                        ix = (local_reproj_int)xx;
                        fx = __fsub_rn(xx, (float)ix);
                        iy = local_reproj_imin((local_reproj_int)yy, hi - 1);
                        fy = __fsub_rn(yy, (float)iy);
                        iz = (local_reproj_int)__fadd_rn(zz, w.ycen_adj);
                        fz = __fsub_rn(__fadd_rn(zz, w.ycen_adj), (float)iz);
                        s = iy - w.vol_first;
                        if (s < 0 || s + 1 >= w.nvol)
                            return LOCAL_REPROJ_MISSED_VOLUME;
                        *total = local_reproj_sample(*total, w, s, iz - 1, ix - 1, fx, __fsub_rn(one, fx), fy,
                                                     __fsub_rn(one, fy), fz, __fsub_rn(one, fz));
                    }
                }
            }
        }
        zz = __fadd_rn(zz, local_reproj_delz(w, warp, xx));
        xx = __fadd_rn(xx, w.sb);
    }
    return flags;
}

// out[k][i], flags[k][i] = the sum along the ray of output pixel (line lines[k], column i + 1) at the view and its
// flags; threads: columns (x), lines (y).
extern "C" __global__ void local_reproject_view(const float* __restrict__ vol, const float* __restrict__ table,
                                                const float* __restrict__ warp, const double* __restrict__ lines,
                                                const double* __restrict__ loads, const float* __restrict__ limits,
                                                float* __restrict__ out, float* __restrict__ flags, float cb, float sb,
                                                float ca, float sa, float xzf, float yzf, float xproj_offset,
                                                float yproj_offset, float xcen_out, float ycen_adj, float xcen_in,
                                                float axis, float center_slice, float fill, float dx_warp,
                                                int vol_first, int nvol, int vrows, int vcols, int t_first, int ntable,
                                                int tcols, int nxload, int min_xload, int thick, int nwarp, int nlines,
                                                int width)
{
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    const int k = blockIdx.y * blockDim.y + threadIdx.y;
    if (i >= width || k >= nlines)
        return;
    LocalReprojView w;
    w.vol = vol, w.table = table;
    w.cb = cb, w.sb = sb, w.ca = ca, w.sa = sa, w.xzf = xzf, w.yzf = yzf;
    w.xcen_out = xcen_out, w.ycen_adj = ycen_adj, w.xcen_in = xcen_in, w.axis = axis;
    w.center_slice = center_slice, w.yproj_offset = yproj_offset, w.dx_warp = dx_warp, w.fill = (double)fill;
    w.vol_first = vol_first, w.nvol = nvol, w.vrows = vrows, w.vcols = vcols;
    w.t_first = t_first, w.ntable = ntable, w.tcols = tcols;
    w.nxload = nxload, w.min_xload = min_xload, w.thick = thick, w.nwarp = nwarp;
    const float xproj = __fadd_rn((float)(i + 1), xproj_offset);
    const float yproj = __fadd_rn((float)(local_reproj_int)lines[k], yproj_offset);
    double total;
    const int flag = local_reproj_ray(w, xproj, yproj, (local_reproj_int)loads[2 * k],
                                      (local_reproj_int)loads[2 * k + 1], limits[2 * k], limits[2 * k + 1],
                                      warp + (local_reproj_int)k * nwarp, &total);
    const local_reproj_int o = (local_reproj_int)k * width + i;
    out[o] = (float)total;
    flags[o] = (float)flag;
}
