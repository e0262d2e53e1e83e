"""The four reconstruction commands: tiltrec-mpi, tiltrecz-mpi, tiltrec-cuda, tiltrecz-cuda.

They share every option; they differ in the memory strategy (slab by slab, or the whole volume: the ``z``
commands) and the backend (CPU, or a CUDA GPU: the ``-cuda`` commands).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import typer

from ..errors import TiltrecError
from .guard import guarded


@dataclass(frozen=True)
class Flavor:
    """What distinguishes one command from the others."""

    name: str
    unified: bool
    backend: str


def _check_backend(flavor: Flavor) -> None:
    """The CUDA commands need a usable GPU; say so plainly instead of falling back to the CPU."""
    if flavor.backend != "cuda":
        return
    try:
        import cupy

        usable = cupy.is_available()
    except Exception:  # not installed, or a broken CUDA installation
        usable = False
    cpu_twin = flavor.name.replace("-cuda", "-mpi")
    if not usable:
        raise TiltrecError(f"no usable CUDA GPU (CuPy missing or no device); run {cpu_twin} to reconstruct on CPUs")
    raise TiltrecError(f"the CUDA backend is not part of this release yet; run {cpu_twin} to reconstruct on CPUs")


def make_app(flavor: Flavor) -> typer.Typer:
    """A Typer application for one command; plain Click help, whose option names and defaults never get cut."""
    app = typer.Typer(add_completion=False, context_settings={"help_option_names": ["-h", "--help"]},
                      pretty_exceptions_enable=False, rich_markup_mode=None)
    strategy = "the whole volume in memory (unified)" if flavor.unified else "slab by slab along Y (slice-based)"

    @app.command(help=f"Reconstruct a tomogram from an aligned tilt series, {strategy}, on "
                      f"{'a CUDA GPU' if flavor.backend == 'cuda' else 'CPUs'}.\n\n"
                      f"Example: {flavor.name} --alg sirt --iter 10 --thickness 256 in.ali in.tlt out.rec")
    def main(
        input_pos: Optional[Path] = typer.Argument(None, metavar="INPUT", show_default=False,
                                                   help="Aligned tilt series: .mrc .st .ali .mrcs, or EMAN2 .hdf"),
        tiltfile_pos: Optional[Path] = typer.Argument(None, metavar="TILTFILE", show_default=False,
                                                      help="Tilt angles in degrees, one per view (.tlt/.rawtlt)"),
        output_pos: Optional[Path] = typer.Argument(None, metavar="OUTPUT", show_default=False,
                                                    help="Tomogram to write: .mrc .rec .st, or .hdf"),
        input_opt: Optional[Path] = typer.Option(None, "--input", "-i", help="Same as INPUT (TiltRec spelling)."),
        tiltfile_opt: Optional[Path] = typer.Option(None, "--tiltfile", "-t", help="Same as TILTFILE."),
        output_opt: Optional[Path] = typer.Option(None, "--output", "-o", help="Same as OUTPUT."),
        alg: str = typer.Option("wbp", "--alg", "-a", help="Algorithm: bpt, fbp, wbp, sirt or sart."),
        method: Optional[str] = typer.Option(None, "--method", "-m",
                                             help="TiltRec spelling ALG[,ITER[,RELAX]], e.g. SIRT,30,0.5."),
        iterations: Optional[int] = typer.Option(None, "--iter", "-n", min=1,
                                                 help="SIRT/SART iterations [default: SIRT 10, SART 2]."),
        relax: Optional[float] = typer.Option(None, "--relax", min=0.0,
                                              help="SIRT/SART relaxation factor [default: SIRT 1.0, SART 0.25]."),
        positivity: bool = typer.Option(False, "--positivity", help="Clip negative values after each SIRT/SART "
                                                                    "update."),
        init: Optional[Path] = typer.Option(None, "--init", help="Start SIRT/SART from this volume (same size "
                                                                 "and layout as the output)."),
        filter_name: str = typer.Option("ramp", "--filter", help="FBP filter: ramp, shepp-logan, cosine, hamming, "
                                                                 "hann."),
        cutoff: float = typer.Option(1.0, "--cutoff", help="FBP filter cutoff, as a fraction of Nyquist (0, 1]."),
        radial: Optional[str] = typer.Option(None, "--radial", help="WBP low-pass as IMOD's RADIAL CUTOFF,FALLOFF "
                                                                    "(< 1: cycles/pixel, >= 1: pixels) [default: "
                                                                    "none, ramp to Nyquist]."),
        density_weighting: bool = typer.Option(True, "--density-weighting/--no-density-weighting",
                                               help="WBP: weight views by their local angular step (IMOD "
                                                    "DENSWEIGHT)."),
        scale: Optional[str] = typer.Option(None, "--scale", help="WBP output as IMOD's SCALE ADD,MULT "
                                                                  "[default: 0,1]."),
        thickness: Optional[int] = typer.Option(None, "--thickness", help="Output thickness in pixels "
                                                                          "(required; or via --geometry)."),
        width: Optional[int] = typer.Option(None, "--width", help="Output width in pixels [default: view width]."),
        slices: Optional[str] = typer.Option(None, "--slices", help="First,last slice to reconstruct (0-based, "
                                                                    "inclusive, input rows) [default: all]."),
        offset: Optional[float] = typer.Option(None, "--offset", help="Added to every tilt angle (degrees) "
                                                                      "[default: 0]."),
        pitch: Optional[float] = typer.Option(None, "--pitch", "--xaxis-tilt", help="X-axis tilt in degrees "
                                                                                    "(IMOD XAXISTILT) [default: 0]."),
        xshift: float = typer.Option(0.0, "--xshift", help="Shift the volume in X (pixels, + is right)."),
        zshift: Optional[float] = typer.Option(None, "--zshift", help="Shift the volume in Z (pixels, + is up) "
                                                                      "[default: 0]."),
        geometry: Optional[str] = typer.Option(None, "--geometry", help="TiltRec spelling OFFSET,PITCH,ZSHIFT,"
                                                                        "THICKNESS."),
        binning: int = typer.Option(1, "--bin", min=1, help="Bin the views N x N on reading; pixel-valued "
                                                            "options stay in unbinned pixels."),
        exclude: Optional[str] = typer.Option(None, "--exclude", help="Views to leave out, 1-based, e.g. 1-3,7."),
        layout: str = typer.Option("xzy", "--layout", help="xzy: IMOD's default (file Y = thickness); xyz: as "
                                                           "after trimvol -rx (same handedness)."),
        mode: int = typer.Option(2, "--mode", help="Output MRC mode: 2 float32, 1 int16, 0 bytes, 12 float16."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output file."),
        memory: Optional[str] = typer.Option(None, "--memory", help="Memory budget, e.g. 4G [default: half the "
                                                                    "available RAM]."),
        threads: Optional[int] = typer.Option(None, "--threads", min=1, help="CPU threads [default: all cores]."),
        pad_x: bool = typer.Option(True, "--xpad/--no-xpad", help="SIRT/SART: reconstruct a wider volume so the "
                                                                  "X borders carry no edge artifacts."),
        split: Optional[str] = typer.Option(None, "--split", help="odd-even: also write NAME_odd and NAME_even, "
                                                                  "reconstructed from the odd and the even views "
                                                                  "(for cryoCARE-style denoising), in the same "
                                                                  "pass."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or summary."),
    ):
        from .job_builder import Request, build_and_run  # deferred: keeps --help fast

        request = Request(**{k: v for k, v in locals().items() if k in Request.__dataclass_fields__})

        def action():
            _check_backend(flavor)
            build_and_run(request, program=flavor.name, unified=flavor.unified)

        guarded(flavor.name, action)

    return app


def _entry(flavor: Flavor):
    def run() -> None:
        app = make_app(flavor)
        app(prog_name=flavor.name)

    return run


tiltrec_mpi = _entry(Flavor("tiltrec-mpi", unified=False, backend="cpu"))
tiltrecz_mpi = _entry(Flavor("tiltrecz-mpi", unified=True, backend="cpu"))
tiltrec_cuda = _entry(Flavor("tiltrec-cuda", unified=False, backend="cuda"))
tiltrecz_cuda = _entry(Flavor("tiltrecz-cuda", unified=True, backend="cuda"))
