"""A synthetic cell-like specimen for reconstruction tests.

Volumes are float32 arrays indexed ``[y, z, x]`` (IMOD's tomogram file order): y runs along the
tilt axis, z through the thickness with z increasing "up", x along the columns.  The specimen is a
slab of ice filling the middle 70 % of the thickness.  It holds the edge of a cell (a large curved
plasma membrane, slightly denser cytoplasm on its concave side), vesicles, particles of three sizes
and gold beads near both slab surfaces.  Edges are ramped over about one voxel so that a
band-limited reconstruction can match them.  Overlapping densities combine by maximum.
"""

from dataclasses import dataclass, replace

import numpy as np

ICE = 0.1  # ice density inside the slab
CYTOPLASM = 0.05  # extra density on the cell side of the plasma membrane
OUTSIDE_P = 0.1  # relative chance of a particle outside the cell
BEAD = 5.0  # gold bead density
SLAB_FRACTION = 0.7  # fraction of the thickness occupied by the specimen slab
GAP = 1.0  # minimum clearance between objects, px
MIN_SIZE = 8  # voxels along each axis: room for the slab, a membrane and the smallest objects
_RADII = np.array([2.0, 4.0, 6.0])  # particle radii at 256 px, one per particle kind
_MIN_RADII = np.array([1.5, 2.5, 3.5])  # ... never smaller than these
_KIND_P = (0.45, 0.35, 0.2)  # probability of each particle kind


@dataclass(frozen=True)
class Ball:
    """A sphere: ``center`` as (y, z, x) in voxels and ``radius`` in voxels."""

    center: tuple[float, float, float]
    radius: float

    def __post_init__(self):
        object.__setattr__(self, "center", tuple(float(c) for c in self.center))
        object.__setattr__(self, "radius", float(self.radius))


@dataclass(frozen=True)
class Particle:
    """A particle: balls of one density, all within ``bound`` (its bounding ball)."""

    bound: Ball
    balls: tuple[Ball, ...]
    density: float


@dataclass(frozen=True)
class PhantomLayout:
    """Where every object of a phantom is; render it with :func:`render_phantom`."""

    shape: tuple[int, int, int]  # (nslices, thickness, width) = (ny, nz, nx)
    slab: tuple[float, float]  # z of the lower and upper slab surfaces
    leaflet: float  # membrane length scale: leaflets are 1.5 * leaflet px apart
    membrane: Ball  # the plasma membrane is this sphere's surface; the cell is inside
    vesicles: tuple[Ball, ...]
    particles: tuple[Particle, ...]
    beads: tuple[Ball, ...]

    @property
    def membrane_halfwidth(self) -> float:
        """Distance from a membrane's mid-surface beyond which its density is negligible."""
        return 1.875 * self.leaflet


def cell_phantom(width, nslices, thickness, *, seed=0, n_particles=None, n_beads=None,
                 ice_gradient=0.0) -> np.ndarray:
    """A ``[y, z, x]`` float32 cell-like phantom of shape ``(nslices, thickness, width)``.

    ``ice_gradient`` is the fractional change of the ice density across the width (linear in x).
    Counts default to values scaled with the volume; the result is deterministic per ``seed``.
    """
    layout = phantom_layout(width, nslices, thickness, seed=seed, n_particles=n_particles,
                            n_beads=n_beads)
    return render_phantom(layout, ice_gradient=ice_gradient)


def phantom_layout(width, nslices, thickness, *, seed=0, n_particles=None,
                   n_beads=None) -> PhantomLayout:
    """Place the objects of :func:`cell_phantom` without overlaps (see there for arguments).

    Fewer particles or beads than asked for are placed when the slab has no room for them.
    """
    shape = (int(nslices), int(thickness), int(width))
    if min(shape) < MIN_SIZE:
        raise ValueError(f"phantom needs at least {MIN_SIZE} voxels along each axis, got {shape}")
    rng = np.random.default_rng(seed)
    scale = min(width, nslices) / 256
    margin = (1 - SLAB_FRACTION) / 2 * thickness
    slab = (margin - 0.5, thickness - 0.5 - margin)
    slab_volume = width * nslices * (slab[1] - slab[0])
    if n_particles is None:
        n_particles = max(3, round(400 * slab_volume / (256 * 256 * 67.2)))
    if n_beads is None:
        n_beads = max(2, round(8 * width * nslices / 256**2))
    layout = PhantomLayout(shape, slab, max(scale, 1.0), _plasma_membrane(rng, shape, slab),
                           (), (), ())
    layout = _add_vesicles(rng, layout)
    layout = _add_beads(rng, layout, n_beads)
    return _add_particles(rng, layout, n_particles, scale)


def render_phantom(layout: PhantomLayout, *, ice_gradient=0.0) -> np.ndarray:
    """Voxelise ``layout`` into a ``[y, z, x]`` float32 volume."""
    vol = _render_cell(layout, ice_gradient)
    hw = layout.membrane_halfwidth
    for ves in layout.vesicles:
        sl = _block(ves.center, ves.radius + hw + 1, layout.shape)
        shell = _bilayer(_distance(sl, ves.center) - ves.radius, layout.leaflet)
        np.maximum(vol[sl], shell, out=vol[sl])
    for p in layout.particles:
        sl = _block(p.bound.center, p.bound.radius + 1, layout.shape)
        occ = np.max([_ball_occupancy(b, sl) for b in p.balls], axis=0)
        np.maximum(vol[sl], p.density * occ, out=vol[sl])
    for bead in layout.beads:
        sl = _block(bead.center, bead.radius + 1, layout.shape)
        np.maximum(vol[sl], BEAD * _ball_occupancy(bead, sl), out=vol[sl])
    z = np.arange(layout.shape[1], dtype=np.float32)
    zlo, zhi = layout.slab
    vol *= np.clip(np.minimum(z - zlo, zhi - z) + 0.5, 0, 1)[None, :, None]  # nothing outside
    return vol


def _render_cell(layout, ice_gradient):
    """Ice, cytoplasm and plasma membrane over the whole volume (not yet cut to the slab)."""
    ny, nz, nx = layout.shape
    ice = ICE * (1 + ice_gradient * np.linspace(-0.5, 0.5, nx, dtype=np.float32))
    cy, cz, cx = np.float32(layout.membrane.center)
    d = np.sqrt((np.arange(ny, dtype=np.float32)[:, None, None] - cy) ** 2
                + (np.arange(nz, dtype=np.float32)[None, :, None] - cz) ** 2
                + (np.arange(nx, dtype=np.float32)[None, None, :] - cx) ** 2)
    s = d - layout.membrane.radius
    vol = ice + CYTOPLASM * np.clip(0.5 - s, 0, 1)
    band = np.nonzero(np.abs(s) < layout.membrane_halfwidth + 1)
    vol[band] = np.maximum(vol[band], _bilayer(s[band], layout.leaflet))
    return vol


def _bilayer(s, leaflet):
    """Lipid-bilayer density at signed distance ``s`` from the mid-surface: two Gaussian leaflets."""
    h, two_var = 0.75 * leaflet, 2 * (0.45 * leaflet) ** 2
    return np.exp(-((s - h) ** 2) / two_var) + np.exp(-((s + h) ** 2) / two_var)


def _block(center, extent, shape):
    """Slices of the box of voxels within ``extent`` of ``center``, cut to the volume."""
    c = np.asarray(center)
    lo = np.maximum(np.floor(c - extent).astype(int), 0)
    hi = np.minimum(np.ceil(c + extent).astype(int) + 1, shape)
    return tuple(slice(a, b) for a, b in zip(lo, hi))


def _distance(sl, center):
    """float32 distances from ``center`` to the voxels of block ``sl``."""
    dy, dz, dx = [(g - c).astype(np.float32) for g, c in zip(np.ogrid[sl], center)]
    return np.sqrt(dy * dy + dz * dz + dx * dx)


def _ball_occupancy(ball, sl):
    """Fraction of each voxel of block ``sl`` inside ``ball`` (a linear ramp over one voxel)."""
    return np.clip(ball.radius + 0.5 - _distance(sl, ball.center), 0, 1)


def _plasma_membrane(rng, shape, slab):
    """A big sphere whose surface crosses the field, inclined by up to 20 deg through the slab."""
    ny, nz, nx = shape
    radius = 1.5 * max(ny, nx)
    tilt = np.radians(rng.uniform(-20, 20))
    theta = rng.uniform(0, 2 * np.pi)
    # the field centre lies inside the cell, 20-35 % of the field from the membrane
    reach = radius * np.cos(tilt) - rng.uniform(0.2, 0.35) * min(ny, nx)
    center = ((ny - 1) / 2 + reach * np.cos(theta),
              sum(slab) / 2 - radius * np.sin(tilt),
              (nx - 1) / 2 + reach * np.sin(theta))
    return Ball(center, radius)


def _add_vesicles(rng, layout):
    """Add 2-3 vesicles inside the cell, fully within the slab and the field."""
    ny, _, nx = layout.shape
    zlo, zhi = layout.slab
    hw = layout.membrane_halfwidth
    half = (zhi - zlo) / 2
    vesicles = []
    target = rng.integers(2, 4)
    for _ in range(100):
        if len(vesicles) == target:
            break
        r = min(rng.uniform(0.3, 0.45) * 2 * half, 0.15 * min(ny, nx), half - hw - GAP)
        outer = r + hw + GAP
        if r < 2 or min(ny, nx) < 2 * outer:
            break
        center = (rng.uniform(outer, ny - 1 - outer),
                  (zlo + zhi) / 2 + rng.uniform(-1, 1) * (half - outer),
                  rng.uniform(outer, nx - 1 - outer))
        inside = _dist(center, [layout.membrane])[0] < layout.membrane.radius - outer - hw
        apart = np.all(_dist(center, vesicles) > outer + hw + np.array([v.radius for v in vesicles]))
        if inside and apart:
            vesicles.append(Ball(center, r))
    return replace(layout, vesicles=tuple(vesicles))


def _add_beads(rng, layout, n):
    """Add gold beads touching the slab surfaces from inside, alternately top and bottom."""
    ny, _, nx = layout.shape
    zlo, zhi = layout.slab
    r_scale = layout.leaflet  # beads grow with the volume like membranes do
    beads = []
    for _ in range(50 * n):
        if len(beads) == n:
            break
        r = rng.uniform(2.0, 3.0) * r_scale
        depth = r + rng.uniform(0, 0.5)
        z = zhi - depth if len(beads) % 2 == 0 else zlo + depth
        if not _fits(r, ny, nx):
            continue
        center = (rng.uniform(r + 1, ny - 2 - r), z, rng.uniform(r + 1, nx - 2 - r))
        if _clear(center, r, layout, beads):
            beads.append(Ball(center, r))
    return replace(layout, beads=tuple(beads))


def _add_particles(rng, layout, n, scale):
    """Add up to ``n`` particles of three sizes in the slab, mostly in the cell, clear of the rest."""
    ny, _, nx = layout.shape
    zlo, zhi = layout.slab
    radii = np.maximum(_RADII * scale, _MIN_RADII)
    placed = list(layout.beads)
    particles = []
    for _ in range(50 * n):
        if len(particles) == n:
            break
        kind = rng.choice(3, p=_KIND_P)
        r = radii[kind]
        if zhi - zlo < 2 * (r + GAP) or not _fits(r, ny, nx):
            continue
        center = (rng.uniform(r + 1, ny - 2 - r), rng.uniform(zlo + r + GAP, zhi - r - GAP),
                  rng.uniform(r + 1, nx - 2 - r))
        outside = _dist(center, [layout.membrane])[0] > layout.membrane.radius
        if (not outside or rng.random() < OUTSIDE_P) and _clear(center, r, layout, placed):
            particles.append(_particle(rng, Ball(center, r), kind))
            placed.append(particles[-1].bound)
    return replace(layout, particles=tuple(particles))


def _fits(r, ny, nx) -> bool:
    """Whether a ball of radius ``r`` fits the field with a voxel to spare on each side (small volumes)."""
    return min(ny, nx) - 3 >= 2 * r


def _particle(rng, bound, kind):
    """A single ball (kind 0), a trimer (kind 1) or a two-subunit complex (kind 2) within ``bound``."""
    c, r = np.asarray(bound.center), bound.radius
    u, v = np.linalg.qr(rng.normal(size=(3, 2)))[0].T  # random orthonormal pair
    if kind == 0:
        balls = [(c, r)]
    elif kind == 1:
        phi = rng.uniform(0, 2 * np.pi) + np.arange(3) * 2 * np.pi / 3
        balls = [(c + 0.45 * r * (np.cos(p) * u + np.sin(p) * v), 0.55 * r) for p in phi]
    else:
        balls = [(c - 0.3 * r * u, 0.7 * r), (c + 0.45 * r * u, 0.55 * r)]
    density = float(rng.uniform(0.6, 1.0))
    return Particle(bound, tuple(Ball(bc, br) for bc, br in balls), density)


def _clear(center, r, layout, balls):
    """Whether a ball at ``center`` of radius ``r`` keeps ``GAP`` from membranes and ``balls``."""
    walls = [layout.membrane, *layout.vesicles]
    wall_r = np.array([w.radius for w in walls])
    if np.any(np.abs(_dist(center, walls) - wall_r) <= r + layout.membrane_halfwidth + GAP):
        return False
    return bool(np.all(_dist(center, balls) > r + GAP + np.array([b.radius for b in balls])))


def _dist(center, balls):
    """Distances from ``center`` to the centres of ``balls``."""
    if not balls:
        return np.empty(0)
    return np.linalg.norm(np.array([b.center for b in balls]) - np.asarray(center), axis=1)
