"""The ``tiltrec`` command (also ``python -m tiltrec``): tools around a reconstruction."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .guard import guarded
from .process_start import start_process
from .usage import run_command, version_option

PROGRAM = "tiltrec"
app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None, pretty_exceptions_enable=False,
                  context_settings={"help_option_names": ["-h", "--help"]},
                  help="Tools around a reconstruction: simulate a specimen, compare volumes (FRC/FSC), preview a "
                       "volume, describe a file. Reconstruct with tiltrec-mpi, tiltrecz-mpi (CPUs) or "
                       "tiltrec-cuda, tiltrecz-cuda (GPUs).")


@app.command()
def simulate(
    out: Path = typer.Option(Path("simulated"), "--out", "-o", help="Output folder."),
    name: str = typer.Option("specimen", "--name", help="Base name of the files written."),
    width: int = typer.Option(256, "--width", help="Specimen width X (pixels)."),
    slices: int = typer.Option(256, "--slices", help="Specimen length along the tilt axis Y (pixels)."),
    thickness: int = typer.Option(96, "--thickness", help="Volume thickness Z (pixels)."),
    tilt_range: str = typer.Option("-60,60", "--range", help="First,last tilt angle (degrees)."),
    step: float = typer.Option(3.0, "--step", help="Tilt step (degrees)."),
    scheme: str = typer.Option("dose-symmetric", "--scheme", help="Acquisition order written to NAME_order.txt: "
                                                                  "sequential, dose-symmetric, bidirectional."),
    noise: str = typer.Option("gaussian", "--noise", help="gaussian, poisson or none."),
    snr: float = typer.Option(2.0, "--snr", help="Gaussian noise: signal-to-noise variance ratio per view."),
    dose: float = typer.Option(50.0, "--dose", help="Poisson noise: electrons per pixel per view."),
    shifts: float = typer.Option(0.0, "--shifts", help="Random per-view shifts up to this many pixels (alignment "
                                                        "errors)."),
    pitch: float = typer.Option(0.0, "--pitch", help="X-axis tilt of the specimen (degrees)."),
    ice_gradient: float = typer.Option(0.0, "--ice-gradient", help="Linear ice-density change across X (fraction)."),
    pixel_size: float = typer.Option(10.0, "--pixel-size", help="Angstrom per pixel written to headers."),
    seed: int = typer.Option(1, "--seed", help="Random seed of the specimen and the noise."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing files."),
):
    """Simulate a cell-like specimen and its tilt series: NAME.mrc, NAME.tlt, NAME_truth.mrc, NAME_order.txt.

    Sizes are at least 8 pixels.  Values out of range, and a data set that the memory or the disk has no room for,
    are refused before anything is computed or written."""

    def action():
        from ..options.kinds import Numbers
        from ..simulate.series import simulate_series

        first, last = Numbers(2).convert(tilt_range, "range")  # (cli.guard: named as typed, --range)
        written = simulate_series(out, name, width=width, nslices=slices, thickness=thickness, first=first,
                                  last=last, step=step, scheme=scheme, noise=noise, snr=snr, dose=dose,
                                  shifts=shifts, pitch=pitch, ice_gradient=ice_gradient, pixel_size=pixel_size,
                                  seed=seed, overwrite=overwrite)
        typer.echo("wrote " + ", ".join(str(p) for p in written))

    guarded(PROGRAM, action)


@app.command()
def frc(
    a: Path = typer.Argument(..., help="First volume (or half tomogram)."),
    b: Path = typer.Argument(..., help="Second volume, same size."),
    axis: Optional[str] = typer.Option(None, "--axis", help="x, y or z: average the 2-D FRC of the sections "
                                                            "perpendicular to this file axis [default: 3-D FSC]."),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Also draw the curve into this PNG."),
    shells: bool = typer.Option(False, "--shells", help="Print the value of every shell too."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing --plot file."),
):
    """Fourier shell (or ring) correlation of two volumes, with its 0.143 and 0.5 crossings."""

    def action():
        from ..analysis.frc import format_frc, frc_command
        from ..errors import InputError

        if axis not in (None, "x", "y", "z"):
            raise InputError(f"--axis takes x, y or z, got {axis!r}")
        typer.echo(format_frc(frc_command(a, b, axis=axis, plot=plot, overwrite=overwrite), shells=shells))

    guarded(PROGRAM, action)


@app.command()
def preview(
    volume: Path = typer.Argument(..., help="Tomogram (MRC or EMAN2 HDF5)."),
    output: Path = typer.Option(..., "--output", "-o", help="PNG to write."),
    layout: Optional[str] = typer.Option(None, "--layout", help="Layout of the file: xzy (IMOD's default, file Y "
                                                                "= thickness), xyz (after trimvol -rx) or parallel "
                                                                "[default: as tiltrec info tells from the sizes]."),
    slab: int = typer.Option(1, "--slab", min=1, help="Average this many planes around each central slice."),
    title: Optional[str] = typer.Option(None, "--title", help="Text above the panels [default: the file name]."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing PNG."),
):
    """Central XY, XZ and YZ slices of a tomogram in one PNG, with robust contrast."""

    def action():
        from ..formats import read_volume
        from ..formats.file_roles import FileUse, check_distinct
        from ..formats.layout import check_layout, slices_view
        from ..preview import check_png, preview_layout, write_preview

        if layout is not None:
            check_layout(layout)
        check_distinct([FileUse("volume", volume)], [FileUse("PNG", output)])
        check_png(output, overwrite)  # before the volume is read
        shown = layout or preview_layout(volume)
        data, _ = read_volume(volume)
        yzx = slices_view(shown, data)
        write_preview(yzx, output, slab=slab, title=volume.name if title is None else title, overwrite=overwrite)
        typer.echo(f"wrote {output}")

    guarded(PROGRAM, action)


def _help(name: str, text: str = "") -> str:
    """An option's help as the reconstruction commands give it (options.table), with what it means here."""
    from ..options.table import BY_NAME

    option = BY_NAME[name]
    return f"{text or option.help}{f' In {option.unit}.' if option.unit else ''}"


@app.command(context_settings={"ignore_unknown_options": True})  # a list of angles may start with a minus sign
def reproject(
    tomogram: Path = typer.Argument(..., help="Tomogram (MRC or EMAN2 HDF5), as a reconstruction command wrote it."),
    angles: str = typer.Argument(..., help="Angles to reproject at: a file with one per line (.tlt), or a list "
                                           "such as -60,-30,0,30,60 (degrees)."),
    output: Path = typer.Argument(..., help="Tilt series to write: one view per angle, one row per slice."),
    layout: Optional[str] = typer.Option(None, "--layout", help="Layout of the tomogram: xzy (IMOD's default, file "
                                                                "Y = thickness) or xyz [default: as its sizes tell]."),
    values: Optional[str] = typer.Option(None, "--values", help="imod: the values are on IMOD's WBP scale (IMOD's "
                                                                "tilt; tiltrec wbp, bpt, imod-sirt), divided by "
                                                                "nx/2.2 before summing, as tilt does; density: "
                                                                "values per pixel of path (tiltrec sirt, sart, fbp, "
                                                                "admm), summed as they are [default: as the "
                                                                "tomogram's label tells]."),
    views_size: Optional[str] = typer.Option(None, "--views-size", metavar="NX,NY",
                                             help="Size of the views the tomogram was made from [default: its "
                                                  "width x its slices]."),
    slices: Optional[str] = typer.Option(None, "--slices", metavar="FIRST,LAST",
                                         help="The views' rows the tomogram's slices are (0-based, inclusive) "
                                              "[default: 0 to its slices - 1]."),
    offset: Optional[str] = typer.Option(None, "--offset", help=_help("offset")),
    pitch: Optional[str] = typer.Option(None, "--pitch", help=_help("pitch")),
    xshift: Optional[str] = typer.Option(None, "--xshift", help=_help("xshift")),
    zshift: Optional[str] = typer.Option(None, "--zshift", help=_help("zshift")),
    axis_offset: Optional[str] = typer.Option(None, "--axis-offset", help=_help("axis_offset")),
    scale: Optional[str] = typer.Option(None, "--scale", metavar="ADD,MULT",
                                        help=_help("scale", "The SCALE the tomogram was written with (undone "
                                                            "first: value / MULT - ADD).")),
    local: Optional[Path] = typer.Option(
        None, "--local", help=_help("local", "IMOD local alignment file (LOCALFILE) the tomogram was made with, one "
                                             "entry per angle of ANGLES.")),
    zfactors: Optional[Path] = typer.Option(None, "--zfactors", help=_help("zfactors")),
    local_scale: Optional[str] = typer.Option(None, "--local-scale", help=_help("local_scale")),
    mode: Optional[str] = typer.Option(None, "--mode", help=_help("mode")),
    threads: Optional[str] = typer.Option(None, "--threads", help=_help("threads")),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output file."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress display."),
):
    """Reproject a tomogram into a tilt series, with the geometry it was reconstructed with, as IMOD's tilt does
    with RecFileToReproject: rays sampled one pixel apart through the volume, the fill value outside it.
    Reprojecting a reconstruction at its own angles gives views registered with its input."""

    def action():
        from ..reprojection.command import reproject_command

        reproject_command(tomogram, angles, output, layout=layout, values=values, views_size=views_size,
                          slices=slices, geometry=dict(offset=offset, pitch=pitch, xshift=xshift, zshift=zshift,
                                                       axis_offset=axis_offset, scale=scale),
                          local=dict(local=local, zfactors=zfactors, local_scale=local_scale),
                          mode=mode, threads=threads, overwrite=overwrite, quiet=quiet, program=PROGRAM)

    guarded(PROGRAM, action)


@app.command()
def info(path: Path = typer.Argument(..., help="Tilt series or tomogram (MRC or EMAN2 HDF5).")):
    """Header, dimensions, layout, pixel size, value statistics and tilt angles of a file."""

    def action():
        from ..analysis.info import describe, format_info

        typer.echo(format_info(describe(path)))

    guarded(PROGRAM, action)


@app.callback()
def tools(version: bool = version_option(PROGRAM)) -> None:
    """Tools around a reconstruction."""


def main() -> None:
    start_process()
    raise SystemExit(run_command(app, PROGRAM))
