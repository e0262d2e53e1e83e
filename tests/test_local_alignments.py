"""IMOD local alignments: the file parsers, the projection model (tiltrec.local_alignments) and its reproduction
of IMOD 4.8.2 ``tilt``'s LOCALFILE reconstructions in ``tests/data/local`` (made by
``tests/data/make_local_references.py``).  Run with ``-s`` to see each reference's figures."""

import dataclasses
import json
import math
from pathlib import Path

import mrcfile
import numpy as np
import pytest

from local_reference import backproject_local, figures, input_stack
from tiltrec.errors import InputError
from tiltrec.cpu_threads import available, set_threads
from tiltrec.formats.local_file import read_local_file, read_zfactor_file
from tiltrec.geometry import Geometry
from tiltrec.local_alignments import (_RECENT, _compute_factors, _factor_span, local_model, projection_factors,
                                      projection_positions, projection_span, row_span, view_factors, z_offsets)
from tiltrec.local_point_factors import factors_of_points, model_tables

LOCAL_DIR = Path(__file__).parent / "data" / "local"
REFERENCES = json.loads((LOCAL_DIR / "references.json").read_text())


# ----------------------------------------------------------------------------------------------- files
def local_text(nx=2, ny=2, nviews=3, start=(10, 12), spacing=(40, 30), alpha=True, zfac=True, pixel=2.5,
               dx=None, dy=None, rate=1.0) -> str:
    """A local alignment file in tiltalign's layout; area ``k`` view ``v`` has dtilt ``r (k + v/10)``, dalpha
    ``-r k``, Z factors ``(k/100, -v/100)`` and transform ``[[1, 0.01 r k, dx], [-0.01 r v, 1, dy]]`` (``r``:
    ``rate``; dx, dy default ``k`` and ``v``)."""
    lines = ["%6d%6d%6d%6d%6d%6d%6d%12.5f%4d" % (nx, ny, *start, *spacing, alpha, pixel, zfac)]
    for k in range(nx * ny):
        lines.append("".join("%7.2f" % (rate * (k + v / 10)) for v in range(nviews)))
        if alpha:
            lines.append("".join("%7.2f" % (-rate * k) for _ in range(nviews)))
        if zfac:
            lines.append("".join("%12.6f%12.6f" % (k / 100, -v / 100) for v in range(nviews)))
        for v in range(nviews):
            shift_x = k if dx is None else dx[k]
            shift_y = v if dy is None else dy[k]
            shear = (0.01 * rate * k, -0.01 * rate * v)
            lines.append("%12.7f%12.7f%12.7f%12.7f%12.3f%12.3f" % (1, *shear, 1, shift_x, shift_y))
    return "\n".join(lines) + "\n"


def test_local_file_contents(tmp_path):
    path = tmp_path / "local.xf"
    path.write_text(local_text())
    local = read_local_file(path, 3)
    assert (local.nx_areas, local.ny_areas, local.start, local.spacing) == (2, 2, (10, 12), (40, 30))
    assert local.pixel_size == 2.5 and local.has_dalpha and local.has_zfactors
    assert local.dtilt.dtype == np.float32 and local.dtilt.shape == (4, 3)
    np.testing.assert_allclose(local.dtilt[3], [3.0, 3.1, 3.2], atol=1e-6)
    np.testing.assert_allclose(local.dalpha[2], [-2.0] * 3)
    np.testing.assert_allclose(local.zfactors[1, 2], [0.01, -0.02], atol=1e-7)
    np.testing.assert_allclose(local.transforms[3, 2], [[1.0, 0.03, 3.0], [-0.02, 1.0, 2.0]], atol=1e-7)
    np.testing.assert_array_equal(local.area_centres(0), [10, 50])


def test_local_file_without_flags_and_over_several_lines(tmp_path):
    """Lists may run over several lines and use commas, as Fortran list-directed input allows; without the
    flags there are no X-tilt or Z-factor lists and those values are zero."""
    text = local_text(alpha=False, zfac=False).splitlines()
    text[1] = "0.00,\n  0.10 , 0.20"  # the first area's tilt changes over two lines
    path = tmp_path / "local.xf"
    path.write_text("\n".join(text) + "\n")
    local = read_local_file(path, 3)
    assert not local.has_dalpha and not local.has_zfactors
    np.testing.assert_allclose(local.dtilt[0], [0.0, 0.1, 0.2], atol=1e-6)
    assert not local.dalpha.any() and not local.zfactors.any()
    six = tmp_path / "six.xf"  # a header of the six oldest fields only
    six.write_text("2 2 10 12 40 30\n" + "\n".join(local_text(alpha=False, zfac=False).splitlines()[1:]) + "\n")
    assert read_local_file(six, 3).pixel_size == 0.0


def _replace_line(text, index, new):
    lines = text.splitlines()
    lines[index] = new
    return "\n".join(lines) + "\n"


# (name, file text, fragment of the message); the valid file has 2 x 2 areas, 3 views, both flags
VALID = local_text()
BAD_FILES = [
    ("empty", "", "is empty"),
    ("header too short", _replace_line(VALID, 0, "2 2 10 12 40"), "6 to 9"),
    ("header too long", _replace_line(VALID, 0, "2 2 10 12 40 30 1 2.5 1 7"), "6 to 9"),
    ("text in header", _replace_line(VALID, 0, "2 two 10 12 40 30 1 2.5 1"), "'two' is not a number"),
    ("fractional count", _replace_line(VALID, 0, "2.5 2 10 12 40 30 1 2.5 1"), "areas in X (2.5) is not a whole"),
    ("one area in X", _replace_line(VALID, 0, "1 2 10 12 40 30 1 2.5 1"), "at least 2"),
    ("zero spacing", _replace_line(VALID, 0, "2 2 10 12 0 30 1 2.5 1"), "at least 1 pixel"),
    ("bad flag", _replace_line(VALID, 0, "2 2 10 12 40 30 2 2.5 1"), "must be 0 or 1"),
    ("negative pixel size", _replace_line(VALID, 0, "2 2 10 12 40 30 1 -2.5 1"), "negative"),
    ("NaN in header", _replace_line(VALID, 0, "2 2 10 12 40 30 1 nan 1"), "'nan' is not a number"),
    ("truncated", "\n".join(VALID.splitlines()[:-2]) + "\n", "ends early: area 4 (X 2, Y 2): the transform of view 2"),
    ("text in a transform", VALID.replace("   1.0000000   0.0000000", "   1.0000000   abc", 1), "'abc' is not a"),
    ("NaN in a list", VALID.replace("   0.10", "    nan", 1), "'nan' is not a number"),
    ("infinite", VALID.replace("   0.10", "    inf", 1), "'inf' is not a number"),
    ("beyond float32", VALID.replace("   0.10", "  1e+39", 1), "not a finite single-precision"),
    ("a view too many on a line", _replace_line(VALID, 1, "   0.00   0.10   0.20   0.30"), "more than area 1"),
    ("data after the last area", VALID + "   1.0 0.0 0.0 1.0 0.0 0.0\n", "more data after the 4 areas"),
    ("empty value", _replace_line(VALID, 1, "0.00,,0.10 0.20"), "empty value between commas"),
    ("repeat count", _replace_line(VALID, 1, "3*0.0"), "'3*0.0' is not a number"),
]


@pytest.mark.parametrize("name, text, message", BAD_FILES, ids=[case[0] for case in BAD_FILES])
def test_bad_local_files(tmp_path, name, text, message):
    path = tmp_path / "bad.xf"
    path.write_text(text)
    with pytest.raises(InputError) as info:
        read_local_file(path, 3)
    text = str(info.value)
    assert text.startswith(str(path)) and "\n" not in text and message in text, text


def test_local_file_for_fewer_views_is_refused(tmp_path):
    path = tmp_path / "local.xf"
    path.write_text(local_text(nviews=4))
    with pytest.raises(InputError, match="more than area 1"):
        read_local_file(path, 3)
    with pytest.raises(InputError, match="no such file"):
        read_local_file(tmp_path / "missing.xf", 3)


def test_zfactor_file(tmp_path):
    path = tmp_path / "z.zfac"
    path.write_text("0.01 -0.02\n0.03, 0.04\n\n0.05 0.06\n")
    np.testing.assert_allclose(read_zfactor_file(path, 3), [[0.01, -0.02], [0.03, 0.04], [0.05, 0.06]], atol=1e-7)
    for text, message in (("0.01 0.02\n0.03 0.04\n", "ends early"), ("0.01 0.02\n0.03 x\n0.05 0.06\n", "'x' is"),
                          ("1 2\n3 4\n5 6\n7 8\n", "more data after the 3 pairs"), ("1 2\n3 4\n5 6 7\n", "more than")):
        path.write_text(text)
        with pytest.raises(InputError, match=message) as info:
            read_zfactor_file(path, 3)
        assert "\n" not in str(info.value)


# ----------------------------------------------------------------------------------------------- model
GEOMETRY = Geometry(nx=96, ny=80, angles=[-50.0, -20.0, 0.0, 35.0], thickness=24, width=90, offset=1.5, pitch=3.0,
                    xshift=2.5 + 1.25, zshift=-2.0)
AXIS = 1.25  # OFFSET's second value: part of xshift (job_geometry) and added to the input centre by IMOD


def _local(tmp_path, **kw):
    path = tmp_path / "local.xf"
    path.write_text(local_text(nviews=4, **kw))
    return read_local_file(path, 4)


def _identity(local):
    xf = np.zeros_like(local.transforms)
    xf[..., 0, 0] = xf[..., 1, 1] = 1.0
    return dataclasses.replace(local, transforms=xf, dtilt=local.dtilt * 0, dalpha=local.dalpha * 0)


def test_identity_local_file_gives_the_global_geometry(tmp_path):
    """No changes and identity transforms: IMOD's global projection (conventions.md) with the axis offset added
    to the input centre, to float32 and IMOD's degree constant (0.0174532) precision."""
    model = local_model(GEOMETRY, _identity(_local(tmp_path)), axis_offset=AXIS)
    g = GEOMETRY
    xproj, yproj = projection_positions(model, 30, 34)
    X = np.arange(1, g.width + 1) - g.xcen_out
    Z = np.arange(1, g.thickness + 1) - g.zcen_out
    Y = np.arange(31, 35) - g.center_slice
    a = math.radians(g.pitch)
    for v, angle in enumerate(g.angles + g.offset):
        t = math.radians(angle)
        zt = Y[:, None] * math.sin(a) + Z[None, :] * math.cos(a)
        want_x = g.xcen_in + AXIS + X[None, None, :] * math.cos(t) - zt[:, :, None] * math.sin(t)
        want_y = g.center_slice + Y[:, None] * math.cos(a) - Z[None, :] * math.sin(a)
        np.testing.assert_allclose(xproj[:, v], want_x, atol=1e-3)  # measured: 2e-4
        np.testing.assert_allclose(yproj[:, v], np.broadcast_to(want_y[:, :, None], want_x.shape), atol=1e-3)


def test_zero_z_factors_equal_none(tmp_path):
    local = _local(tmp_path)
    z = np.zeros((4, 2), np.float32)
    without = projection_factors(local_model(GEOMETRY, dataclasses.replace(local, zfactors=local.zfactors * 0,
                                                                           has_zfactors=False)), 10, 13)
    zero = projection_factors(local_model(GEOMETRY, dataclasses.replace(local, zfactors=local.zfactors * 0),
                                          zfactors=z), 10, 13)
    ignored = projection_factors(local_model(GEOMETRY, local), 10, 13)  # no ZFACTORFILE: file's Z factors unused
    used = projection_factors(local_model(GEOMETRY, local, zfactors=z), 10, 13)
    for a, b, c in zip(without, zero, ignored):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
    assert not np.array_equal(used[1], ignored[1])  # the Z-dependent parts change with Z factors on
    np.testing.assert_array_equal(used[0], ignored[0])  # the fixed parts do not


def test_areas_interpolate_bilinearly_and_clamp_outside(tmp_path):
    """With shifts only (dx = the area's column, dy = 2 x its row), the local change of xproj / yproj is the
    bilinear interpolation of the area values at the column's position in the views and the slice's row,
    clamped at the outer area centres."""
    nx_areas, ny_areas, start, spacing = 3, 2, (20, 15), (30, 40)
    k = np.arange(nx_areas * ny_areas)
    text = local_text(nx=nx_areas, ny=ny_areas, nviews=4, start=start, spacing=spacing, dx=k % nx_areas,
                      dy=2 * (k // nx_areas))
    local = read_local_file(_write(tmp_path, text), 4)
    shifted = _identity(local)
    shifted.transforms[..., :, 2] = local.transforms[..., :, 2]
    base = projection_factors(local_model(GEOMETRY, _identity(local), axis_offset=AXIS), 0, GEOMETRY.ny)
    moved = projection_factors(local_model(GEOMETRY, shifted, axis_offset=AXIS), 0, GEOMETRY.ny)
    g = GEOMETRY
    column = np.floor(np.arange(1, g.width + 1) - g.xcen_out + g.xcen_in + AXIS + 0.5)  # NINT: halves go up here
    want_x = np.clip((column - start[0]) / spacing[0], 0, nx_areas - 1)
    want_y = 2 * np.clip((np.arange(1, g.ny + 1) - start[1]) / spacing[1], 0, ny_areas - 1)
    np.testing.assert_allclose(moved[0] - base[0], np.broadcast_to(want_x, base[0].shape), atol=2e-4)
    np.testing.assert_allclose(moved[2] - base[2], np.broadcast_to(want_y[:, None, None], base[2].shape),
                               atol=2e-4)


def _write(tmp_path, text):
    path = tmp_path / "grid.xf"
    path.write_text(text)
    return path


def test_local_scale_from_pixel_sizes(tmp_path):
    local = _local(tmp_path)  # pixel size 2.5 in the file
    by_pixels = local_model(GEOMETRY, local, pixel_size=5.0)
    assert by_pixels.scale == 0.5 and by_pixels.start == (5, 6) and by_pixels.spacing == (20, 15)
    explicit = local_model(GEOMETRY, local, local_scale=0.5, pixel_size=1.0)
    for a, b in zip(projection_factors(by_pixels, 5, 7), projection_factors(explicit, 5, 7)):
        np.testing.assert_array_equal(a, b)
    assert local_model(GEOMETRY, local).scale == 1.0  # the views' pixel size unknown


def test_bad_grids_and_views(tmp_path):
    local = _local(tmp_path)
    with pytest.raises(InputError, match="lie outside the 96 pixels"):
        local_model(GEOMETRY, local, local_scale=10.0)
    with pytest.raises(InputError, match="at least 2"):
        local_model(GEOMETRY, local, local_scale=0.04)
    with pytest.raises(InputError, match="uses view 5"):
        local_model(GEOMETRY, local, views=[0, 1, 2, 4])
    assert local_model(GEOMETRY, local, views=[3, 2, 1, 0]).views.tolist() == [3, 2, 1, 0]


def test_positions_are_factors_times_z(tmp_path):
    model = local_model(GEOMETRY, _local(tmp_path), zfactors=np.zeros((4, 2)))
    xf, xz, yf, yz = projection_factors(model, 40, 42)
    xproj, yproj = projection_positions(model, 40, 42)
    assert xproj.shape == (2, 4, GEOMETRY.thickness, GEOMETRY.width) and xproj.dtype == np.float32
    zz = z_offsets(model)
    np.testing.assert_array_equal(xproj[1, 2, 5], xf[1, 2] + zz[5] * xz[1, 2])
    np.testing.assert_array_equal(yproj[0, 3, 7], yf[0, 3] + zz[7] * yz[0, 3])


# ----------------------------------------------------------------------------------------------- the oracle
# Largest RMS difference and largest single difference, in % of the reference's SD.  jason64's values sit on a
# mean of -6527 with an SD of 14: float32 rounding of the mean alone (IMOD filters and sums in float32) is
# 0.02 % of its SD.
TOLERANCE = {"jason64_local": (0.03, 0.15)}
DEFAULT_TOLERANCE = (0.001, 0.01)


def _reconstruct(name, shared, transform=None):
    info = REFERENCES[name]
    stack, _ = input_stack(info["input"], shared, LOCAL_DIR)
    return backproject_local(LOCAL_DIR / f"{name}.param", stack, data_mean=info["data_mean"],
                             pixel_size=info["pixel_size"], transform=transform)


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_reproduces_imod_local_reference(name):
    """The NumPy back-projector with this model reproduces the oracle's LOCALFILE reconstruction; and the same
    parameters with the local file replaced by identity (the global geometry) do not, so each reference
    exercises the local model (except sim_identity, whose file is the identity)."""
    shared = Path(__file__).resolve().parents[1].parent / "shared"
    if REFERENCES[name]["input"] != "sim" and not shared.is_dir():
        pytest.skip(f"{shared} is not available")
    with mrcfile.open(LOCAL_DIR / f"{name}.rec", permissive=True) as mrc:
        reference = mrc.data.astype(np.float64)
    ours = _reconstruct(name, shared)
    assert ours.shape == reference.shape
    corr, rms, largest = figures(reference, ours)
    max_rms, max_largest = TOLERANCE.get(name, DEFAULT_TOLERANCE)
    line = f"{name}: correlation {corr:.9f}, RMS difference {rms:.5f} %, largest {largest:.4f} % of the SD"
    if name != "sim_identity":
        global_rms = figures(reference, _reconstruct(name, shared, transform=_identity))[1]
        line += f"; with the global geometry instead: RMS {global_rms:.1f} %"
        assert global_rms > 1000 * max_rms
    print(line)
    assert rms <= max_rms and largest <= max_largest


def test_the_compiled_factors_equal_the_point_statement_bit_for_bit(tmp_path):
    """local_factors.column_factors (what the projector uses) against local_point_factors.factors_at (the model as
    written from IMOD, one point at a time), on every column and slice of a geometry with all parts of the model."""
    local = _local(tmp_path, nx=3, ny=2)
    model = local_model(GEOMETRY, local, axis_offset=AXIS, zfactors=np.zeros((4, 2)))
    compiled = projection_factors(model, 0, GEOMETRY.ny)
    columns, slices = np.arange(1, GEOMETRY.width + 1), np.arange(1, GEOMETRY.ny + 1)
    points = np.empty((4, slices.size, model.nviews, columns.size), np.float32)
    factors_of_points(*model_tables(model), columns, slices, points)
    statement = tuple(points)
    for a, b in zip(compiled, statement):
        assert np.array_equal(a, b)
    for v in range(model.nviews):
        assert np.array_equal(view_factors(model, v, columns[::3], slices[5:9]), points[:, 5:9, v, ::3])
    # the rows the samples reach, found while the factors are computed (whatever the threads)
    for threads in (1, available()):
        set_threads(threads)
        _RECENT.clear()
        assert projection_span(model, 3, 17) == row_span(statement[2][3:17], statement[3][3:17], model)
        columns, slices = np.arange(1, GEOMETRY.width + 1, 7), np.arange(4, 18)  # the span alone, as planning asks
        assert _factor_span(model, columns, slices) == row_span(statement[2][3:17, :, columns - 1],
                                                                statement[3][3:17, :, columns - 1], model)
    set_threads(None)


def test_kept_factors_memory_is_reused_only_when_nothing_holds_it(tmp_path):
    """A finished slab's factor memory serves the next slab (fresh pages cost the kernels' page zeroing), but memory
    that a projector, or any view of it, still holds is never written."""
    model = local_model(GEOMETRY, _local(tmp_path, nx=3, ny=2), axis_offset=AXIS)
    _RECENT.clear()
    first = projection_factors(model, 0, 4)
    memory, kept_view = id(first[0].base), first[2][1:]  # (the id: a name would hold the memory; the cache keeps it)
    copy = kept_view.copy()
    del first
    second = projection_factors(model, 4, 8)  # the first slab's memory is held (by a view): fresh memory
    assert id(second[0].base) != memory and np.array_equal(kept_view, copy)
    del second, kept_view
    third = projection_factors(model, 8, 12)  # nothing holds the first slab's memory now: the oldest, reused
    assert id(third[0].base) == memory
    fresh = _compute_factors(model, 8, 12)[0]
    for a, b in zip(third, fresh):
        assert np.array_equal(a, b)
