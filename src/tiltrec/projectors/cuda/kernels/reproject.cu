// IMOD tilt's reprojection of a tomogram (RecFileToReproject): reprojection/imod_rays.py's reproject_lines on the
// GPU, one thread per (output line, view), doing for its row what that kernel does, in the same operations:
// float32 arithmetic in tilt's order, every product and sum a separate _rn operation (never contracted into an FMA,
// which would round differently), the positions along a ray accumulated in double (x8 += delx), truncations to
// 64-bit integers as NumPy's int() and floor(), so that the rows equal the CPU's bit for bit.
//
// Layouts (C order): vol[s][z][x] (slices first .. first + nheld - 1, 1-based numbers; thick rows, vwidth columns),
// out[view][k][x] (nviews, nlines, width), views[view][7] (cos, -sin of the angle, cos, -sin of the X-axis tilt,
// the Z factors x and y, delz), params[10] (reprojection/geometry.py's Plan.params), lines[k] the 1-based slice
// numbers (doubles: the launchers pass arrays of floats only; exact for any slice number).

#define RP_Y_TOLERANCE 3.05f  // samples this far beyond the first or last slice take that slice (tilt's ytol)
#define RP_EDGE 0.01f         // how close to the last column or row a sample may come (tilt's eps)

typedef long long rp_int;  // Numba's int(): 64 bits

__device__ __forceinline__ float rp_float(rp_int n) { return (float)n; }

// a + n * step, as imod_rays writes `a + F32(n) * step`
__device__ __forceinline__ float rp_at(float a, rp_int n, float step)
{
    return __fadd_rn(a, __fmul_rn(rp_float(n), step));
}

// How many steps of `step` tilt takes over `span` pixels: one more when the last would cover a tenth.
__device__ __forceinline__ rp_int rp_step_count(rp_int span, float step)
{
    const float num = __fadd_rn(1.0f, __fdiv_rn(rp_float(span - 1), step));
    rp_int count = (rp_int)num;
    if (__fsub_rn(num, rp_float(count)) >= 0.1f)
        ++count;
    return count;
}

// Step k (1-based) of a ray across `size` rows or columns: position, lower index, fraction, its complement and the
// fill weight; the last step past the end takes a fraction of the last one.
__device__ __forceinline__ float rp_step(rp_int k, float step, rp_int size, float fill, rp_int* index, float* frac,
                                         float* rest, float* weight)
{
    float at = rp_at(1.0f, k - 1, step);
    *index = (rp_int)at;
    *frac = __fsub_rn(at, rp_float(*index));
    *rest = __fsub_rn(1.0f, *frac);
    *weight = fill;
    if (at >= rp_float(size)) {
        at = rp_float(size);
        *index = size - 1;
        *frac = *rest;
        *rest = 0.0f;
        *weight = __fmul_rn(fill, *frac);
    }
    return at;
}

// The first output pixel (1-based) whose sample at `at + (pixel - 1) step` lies within 1 .. size (tilt's estimate).
__device__ __forceinline__ rp_int rp_first_inside(float at, float step, rp_int size)
{
    if (at < 1.0f)
        return (rp_int)ceilf(__fadd_rn(__fdiv_rn(__fsub_rn(1.0f, at), step), 1.0f));
    if (at >= rp_float(size))
        return (rp_int)ceilf(__fadd_rn(__fdiv_rn(__fsub_rn(rp_float(size), at), step), 1.0f));
    return 1;
}

// The start moved to output pixel *first, one pixel further when it is still outside; returns the moved start.
__device__ __forceinline__ float rp_advance(float at, rp_int* first, float step, rp_int size)
{
    at = rp_at(at, *first - 1, step);
    if (at < 1.0f || at >= rp_float(size)) {
        *first += 1;
        at = __fadd_rn(at, step);
    }
    return at;
}

// The last of `count` output pixels whose sample stays short of the ends of 1 .. size by RP_EDGE.
__device__ __forceinline__ rp_int rp_last_inside(float at, rp_int first, float step, rp_int size, rp_int count)
{
    const float top = __fsub_rn(rp_float(size), RP_EDGE), bottom = __fadd_rn(1.0f, RP_EDGE);
    rp_int last = count;
    if (rp_at(at, last - first, step) >= top) {
        last = (rp_int)__fadd_rn(__fdiv_rn(__fsub_rn(rp_float(size), at), step), rp_float(first));
        if (rp_at(at, last - first, step) >= top)
            last -= 1;
    } else if (rp_at(at, last - first, step) < bottom) {
        last = (rp_int)__fadd_rn(__fdiv_rn(__fsub_rn(1.0f, at), step), rp_float(first));
        if (rp_at(at, last - first, step) < bottom)
            last -= 1;
    }
    return last;
}

// tilt's fill of the output pixels before `first` and after `last` (1-based).
__device__ __forceinline__ void rp_fill_outside(float* row, rp_int width, rp_int first, rp_int last, float weight)
{
    for (rp_int i = 0; i < first - 1 && i < width; ++i)
        row[i] = __fadd_rn(row[i], weight);
    for (rp_int i = last > 0 ? last : 0; i < width; ++i)
        row[i] = __fadd_rn(row[i], weight);
}

// total plus the bilinear sample of slice plane `plane` between rows iz, iz+1 and columns ix, ix+1 (0-based).
__device__ __forceinline__ float rp_add_xz(float total, const float* plane, rp_int nx, rp_int iz, rp_int ix, float fx,
                                           float omfx, float fz, float omfz)
{
    const float* p = plane + iz * nx + ix;
    total = __fadd_rn(total, __fmul_rn(__fmul_rn(omfz, omfx), p[0]));
    total = __fadd_rn(total, __fmul_rn(__fmul_rn(omfz, fx), p[1]));
    total = __fadd_rn(total, __fmul_rn(__fmul_rn(fz, omfx), p[nx]));
    return __fadd_rn(total, __fmul_rn(__fmul_rn(fz, fx), p[nx + 1]));
}

// total plus the trilinear sample between slice planes `plane` and the next, rows iz, iz+1, columns ix, ix+1, in
// tilt's order: the lower row's part, then the upper row's.
__device__ __forceinline__ float rp_add_xyz(float total, const float* plane, rp_int nx, rp_int nplane, rp_int iz,
                                            rp_int ix, float fx, float omfx, float fy, float fz, float omfz)
{
    const float omfy = __fsub_rn(1.0f, fy);
    const float d11 = __fmul_rn(omfx, omfy), d12 = __fmul_rn(omfx, fy), d21 = __fmul_rn(fx, omfy),
                d22 = __fmul_rn(fx, fy);
    float part[2];
    for (int r = 0; r < 2; ++r) {
        const float* p = plane + (iz + r) * nx + ix;  // this slice's row; p[nplane]: the next slice's
        float sum = __fmul_rn(d11, p[0]);
        sum = __fadd_rn(sum, __fmul_rn(d12, p[nplane]));
        sum = __fadd_rn(sum, __fmul_rn(d21, p[1]));
        part[r] = __fadd_rn(sum, __fmul_rn(d22, p[nplane + 1]));
    }
    return __fadd_rn(__fadd_rn(total, __fmul_rn(omfz, part[0])), __fmul_rn(fz, part[1]));
}

// The geometry of one (line, view): views' row and the plan's parameters, named as imod_rays names them.
struct RpRay {
    float cb, sb, ca, sa, xzf, yzf, delz;
    float xproj_offset, yproj_offset, xcen_out, ycen_out, xcen_in, center_slice, fill, min_x, min_y;
    bool tilted;
    rp_int line, first, last_slice, thick, nx, width;
};

// One output line at one angle, stepping the rays up through the rows (low tilt): imod_rays._rays_in_z.
__device__ void rp_rays_in_z(const RpRay& r, const float* vol, float* row)
{
    const rp_int nplane = r.thick * r.nx;
    const float delx = __fdiv_rn(1.0f, r.cb);
    const rp_int nz = rp_step_count(r.thick, r.delz);
    for (rp_int kz = 1; kz <= nz; ++kz) {
        rp_int iz;
        float fz, omfz, pfill;
        float zz = rp_step(kz, r.delz, r.thick, r.fill, &iz, &fz, &omfz, &pfill);
        zz = __fsub_rn(__fsub_rn(__fadd_rn(zz, r.min_y), 1.0f), r.ycen_out);
        const float yproj = __fadd_rn(rp_float(r.line), r.yproj_offset);
        const float yy = __fdiv_rn(__fsub_rn(__fadd_rn(yproj, __fmul_rn(zz, __fsub_rn(r.sa, r.yzf))), r.center_slice),
                                   r.ca);
        float yslice = __fsub_rn(__fadd_rn(yy, r.center_slice), r.yproj_offset);
        if (!r.tilted)
            yslice = rp_float(r.line);
        if (yslice < __fsub_rn(1.0f, RP_Y_TOLERANCE) || yslice > __fadd_rn(rp_float(r.last_slice), RP_Y_TOLERANCE)) {
            for (rp_int i = 0; i < r.width; ++i)
                row[i] = __fadd_rn(row[i], pfill);
            continue;
        }
        rp_int iys = (rp_int)floorf(yslice);
        float fy = 0.0f;
        if (r.tilted) {
            if (iys < 1) {
                iys = 1;
                fy = 0.0f;
            } else if (iys >= r.last_slice) {
                iys = r.last_slice - 1;
                fy = 1.0f;
            } else {
                fy = __fsub_rn(yslice, rp_float(iys));
            }
        }
        const float xproj = __fadd_rn(1.0f, r.xproj_offset);
        const float along = __fadd_rn(__fadd_rn(__fmul_rn(__fmul_rn(yy, r.sa), r.sb),
                                                __fmul_rn(zz, __fadd_rn(__fmul_rn(r.ca, r.sb), r.xzf))), r.xcen_in);
        float xx = __fsub_rn(__fadd_rn(__fdiv_rn(__fsub_rn(xproj, along), r.cb), r.xcen_out),
                             __fsub_rn(r.min_x, 1.0f));
        rp_int ixst = rp_first_inside(xx, delx, r.width);
        xx = rp_advance(xx, &ixst, delx, r.width);
        const rp_int ixnd = rp_last_inside(xx, ixst, delx, r.width, r.width);
        rp_fill_outside(row, r.width, ixst, ixnd, pfill);
        const float* plane = vol + (iys - r.first) * nplane;
        double x8 = (double)xx;
        for (rp_int i = ixst - 1; i < ixnd; ++i) {
            const rp_int ix = (rp_int)x8;
            const float fx = (float)__dsub_rn(x8, (double)ix);
            if (r.tilted)
                row[i] = rp_add_xyz(row[i], plane, r.nx, nplane, iz - 1, ix - 1, fx, __fsub_rn(1.0f, fx), fy, fz,
                                    omfz);
            else
                row[i] = rp_add_xz(row[i], plane, r.nx, iz - 1, ix - 1, fx, __fsub_rn(1.0f, fx), fz, omfz);
            x8 = __dadd_rn(x8, (double)delx);
        }
    }
}

// Samples i0 .. i1 - 1 (0-based output pixels) of one column of rays in the slice pair at `plane`, z8 stepping by
// delz: the stretches of _rays_in_x where the slice is held fixed.  Returns the position after the last.
__device__ __forceinline__ double rp_fixed_slice(float* row, const float* plane, const RpRay& r, rp_int nplane,
                                                 rp_int i0, rp_int i1, double z8, float delz, rp_int ix, float fx,
                                                 float omfx, float fy)
{
    for (rp_int i = i0; i < i1; ++i) {
        const rp_int iz = (rp_int)z8;
        const float fz = (float)__dsub_rn(z8, (double)iz);
        row[i] = rp_add_xyz(row[i], plane, r.nx, nplane, iz - 1, ix - 1, fx, omfx, fy, fz, __fsub_rn(1.0f, fz));
        z8 = __dadd_rn(z8, (double)delz);
    }
    return z8;
}

// One output line at one angle, stepping the rays across the columns (high tilt): imod_rays._rays_in_x.
__device__ void rp_rays_in_x(const RpRay& r, const float* vol, float* row)
{
    const rp_int nplane = r.thick * r.nx;
    const float lo = 1.0f, hi = rp_float(r.last_slice);
    const float lo_tol = __fsub_rn(lo, RP_Y_TOLERANCE), hi_tol = __fadd_rn(hi, RP_Y_TOLERANCE);
    const float delx = fabsf(r.sb);
    const float delz = __fdiv_rn(r.delz, __fmul_rn(r.sb, fabsf(r.cb)));
    const float dely = __fdiv_rn(__fmul_rn(delz, __fsub_rn(r.sa, r.yzf)), r.ca);
    const rp_int nx_steps = rp_step_count(r.width, delx);
    for (rp_int kx = 1; kx <= nx_steps; ++kx) {
        rp_int ix;
        float fx, omfx, pfill;
        const float xx = rp_step(kx, delx, r.width, r.fill, &ix, &fx, &omfx, &pfill);
        const float ratio = __fdiv_rn(__fmul_rn(r.sa, r.sb), r.ca);
        const float xcen_adj = __fsub_rn(r.xcen_out, __fsub_rn(r.min_x, 1.0f));
        const float xproj = __fadd_rn(1.0f, r.xproj_offset);
        const float yproj = __fadd_rn(rp_float(r.line), r.yproj_offset);
        const float num = __fsub_rn(__fsub_rn(__fsub_rn(xproj, __fmul_rn(__fsub_rn(yproj, r.center_slice), ratio)),
                                              r.xcen_in), __fmul_rn(__fsub_rn(xx, xcen_adj), r.cb));
        const float den = __fadd_rn(__fadd_rn(__fmul_rn(__fsub_rn(r.sa, r.yzf), ratio), __fmul_rn(r.ca, r.sb)), r.xzf);
        float zz = __fdiv_rn(num, den);
        const float yy = __fdiv_rn(__fsub_rn(__fadd_rn(yproj, __fmul_rn(zz, __fsub_rn(r.sa, r.yzf))), r.center_slice),
                                   r.ca);
        float yslice = __fsub_rn(__fadd_rn(yy, r.center_slice), r.yproj_offset);
        if (!r.tilted)
            yslice = rp_float(r.line);
        zz = __fsub_rn(zz, __fsub_rn(__fsub_rn(r.min_y, 1.0f), r.ycen_out));
        rp_int ixst = rp_first_inside(zz, delz, r.thick);
        if (r.tilted) {
            const float ysl = rp_at(yslice, ixst - 1, dely);
            if (ysl < lo_tol)
                ixst = (rp_int)ceilf(__fadd_rn(__fdiv_rn(__fsub_rn(lo_tol, yslice), dely), 1.0f));
            else if (ysl > hi_tol)
                ixst = (rp_int)ceilf(__fadd_rn(__fdiv_rn(__fsub_rn(hi_tol, yslice), dely), 1.0f));
        }
        zz = rp_advance(zz, &ixst, delz, r.thick);
        yslice = rp_at(yslice, ixst - 1, dely);
        if (!r.tilted)
            yslice = rp_float(r.line);
        rp_int ixnd = rp_last_inside(zz, ixst, delz, r.thick, r.width);
        if (r.tilted) {
            const float ysl = rp_at(yslice, ixnd - ixst, dely);
            if (ysl < lo_tol)
                ixnd = (rp_int)__fadd_rn(__fdiv_rn(__fsub_rn(lo_tol, yslice), dely), rp_float(ixst));
            else if (ysl > hi_tol)
                ixnd = (rp_int)__fadd_rn(__fdiv_rn(__fsub_rn(hi_tol, yslice), dely), rp_float(ixst));
        }
        rp_int ok_start = ixst, ok_end = ixnd;  // the stretch where the slice may vary without leaving the volume
        if (r.tilted) {
            if (yslice < lo) {
                ok_start = (rp_int)ceilf(__fadd_rn(__fdiv_rn(__fsub_rn(lo, yslice), dely), rp_float(ixst)));
                if (rp_at(yslice, ok_start - ixst, dely) < __fadd_rn(lo, RP_EDGE))
                    ok_start += 1;
            } else if (yslice >= hi) {
                ok_start = (rp_int)ceilf(__fadd_rn(__fdiv_rn(__fsub_rn(hi, yslice), dely), rp_float(ixst)));
                if (rp_at(yslice, ok_start - ixst, dely) >= __fsub_rn(hi, RP_EDGE))
                    ok_start += 1;
            }
            yslice = rp_at(yslice, ok_start - ixst, dely);
            const float ysl = rp_at(yslice, ixnd - ok_start, dely);
            if (ysl < lo) {
                ok_end = (rp_int)__fadd_rn(__fdiv_rn(__fsub_rn(lo, yslice), dely), rp_float(ok_start));
                if (rp_at(yslice, ok_end - ok_start, dely) < __fadd_rn(lo, RP_EDGE))
                    ok_end -= 1;
            } else if (ysl >= hi) {
                ok_end = (rp_int)__fadd_rn(__fdiv_rn(__fsub_rn(hi, yslice), dely), rp_float(ok_start));
                if (rp_at(yslice, ok_end - ok_start, dely) >= __fsub_rn(hi, RP_EDGE))
                    ok_end -= 1;
            }
        }
        rp_fill_outside(row, r.width, ixst, ixnd, pfill);
        if (!r.tilted) {
            const float* plane = vol + (r.line - r.first) * nplane;
            double z8 = (double)zz;
            for (rp_int i = ixst - 1; i < ixnd; ++i) {
                const rp_int iz = (rp_int)z8;
                const float fz = (float)__dsub_rn(z8, (double)iz);
                row[i] = rp_add_xz(row[i], plane, r.nx, iz - 1, ix - 1, fx, omfx, fz, __fsub_rn(1.0f, fz));
                z8 = __dadd_rn(z8, (double)delz);
            }
            continue;
        }
        double y8 = (double)yslice;
        double z8 = (double)rp_at(zz, ok_start - ixst, delz);
        rp_int iys = (rp_int)y8;
        float fy = (float)__dsub_rn(y8, (double)iys);
        for (rp_int i = ok_start - 1; i < ok_end; ++i) {
            const rp_int iz = (rp_int)z8;
            const float fz = (float)__dsub_rn(z8, (double)iz);
            iys = (rp_int)y8;
            fy = (float)__dsub_rn(y8, (double)iys);
            row[i] = rp_add_xyz(row[i], vol + (iys - r.first) * nplane, r.nx, nplane, iz - 1, ix - 1, fx, omfx, fy, fz,
                                __fsub_rn(1.0f, fz));
            z8 = __dadd_rn(z8, (double)delz);
            y8 = __dadd_rn(y8, (double)dely);
        }
        // the slice held fixed: first past the stretch's end (continuing its Y and Z), then before its start
        rp_fixed_slice(row, vol + (iys - r.first) * nplane, r, nplane, ok_end, ixnd, z8, delz, ix, fx, omfx, fy);
        y8 = (double)yslice;
        iys = (rp_int)y8;
        fy = (float)__dsub_rn(y8, (double)iys);
        rp_fixed_slice(row, vol + (iys - r.first) * nplane, r, nplane, ixst - 1, ok_start - 1, (double)zz, delz, ix,
                       fx, omfx, fy);
    }
}

// out[view][k][:] = slice lines[k] reprojected at views[view]; threads: views (x), lines (y).
extern "C" __global__ void reproject_lines(const float* __restrict__ vol, const double* __restrict__ lines,
                                           const float* __restrict__ views, const float* __restrict__ params,
                                           float* __restrict__ out, int first, int last_slice, int thick, int nx,
                                           int nlines, int nviews, int width)
{
    const int v = blockIdx.x * blockDim.x + threadIdx.x;
    const int k = blockIdx.y * blockDim.y + threadIdx.y;
    if (v >= nviews || k >= nlines)
        return;
    const float* w = views + (rp_int)v * 7;
    RpRay r;
    r.cb = w[0], r.sb = w[1], r.ca = w[2], r.sa = w[3], r.xzf = w[4], r.yzf = w[5], r.delz = w[6];
    r.xproj_offset = params[0], r.yproj_offset = params[1], r.xcen_out = params[2], r.ycen_out = params[3];
    r.xcen_in = params[4], r.center_slice = params[5], r.fill = params[6], r.min_x = params[7], r.min_y = params[8];
    r.tilted = params[9] != 0.0f;
    r.line = (rp_int)lines[k];
    r.first = first, r.last_slice = last_slice, r.thick = thick, r.nx = nx, r.width = width;
    float* row = out + ((rp_int)v * nlines + k) * width;
    for (int i = 0; i < width; ++i)
        row[i] = 0.0f;
    if (fabsf(__fmul_rn(r.sb, rp_float(thick))) <= fabsf(__fmul_rn(r.cb, rp_float(width))))
        rp_rays_in_z(r, vol, row);
    else
        rp_rays_in_x(r, vol, row);
}
