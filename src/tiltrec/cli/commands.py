"""The four reconstruction commands: tiltrec-mpi, tiltrecz-mpi, tiltrec-cuda, tiltrecz-cuda.

They share every option; they differ in the memory strategy (slab by slab, or the whole volume: the ``z``
commands) and the backend (CPU, or a CUDA GPU: the ``-cuda`` commands).
"""

from __future__ import annotations

import os
import sys
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import typer

from ..errors import InputError
from ..interrupts import install_for_process
from .streams import open_closed_descriptors
from .usage import run_command, version_option

# The rest (NumPy, MPI) is imported once the command runs: until the signal handlers are in place (_entry), a
# signal ends the process by its default action, and under mpiexec with MPICH's "BAD TERMINATION" banner.


@dataclass(frozen=True)
class Flavor:
    """What distinguishes one command from the others."""

    name: str
    unified: bool
    backend: str


MEMORY_HELP = {"cpu": "Memory budget, e.g. 4G [default: half the available RAM].",
               "cuda": "GPU memory budget, e.g. 16G [default: the GPU's free memory]."}


def make_app(flavor: Flavor) -> typer.Typer:
    """A Typer application for one command; plain Click help, whose option names and defaults never get cut."""
    from .guard import guarded

    app = typer.Typer(add_completion=False, context_settings={"help_option_names": ["-h", "--help"]},
                      pretty_exceptions_enable=False, rich_markup_mode=None)
    strategy = "the whole volume in memory (unified)" if flavor.unified else "slab by slab along Y (slice-based)"

    @app.command(help=f"Reconstruct a tomogram from an aligned tilt series, {strategy}, on "
                      f"{'a CUDA GPU' if flavor.backend == 'cuda' else 'CPUs'}.\n\n"
                      f"Example: {flavor.name} --alg sirt --iter 10 --thickness 256 in.ali in.tlt out.rec")
    def main(
        ctx: typer.Context,
        input_pos: Optional[Path] = typer.Argument(None, metavar="INPUT", show_default=False,
                                                   help="Aligned tilt series: .mrc .st .ali .mrcs, or EMAN2 .hdf"),
        tiltfile_pos: Optional[Path] = typer.Argument(None, metavar="TILTFILE", show_default=False,
                                                      help="Tilt angles in degrees, one per view (.tlt/.rawtlt)"),
        output_pos: Optional[Path] = typer.Argument(None, metavar="OUTPUT", show_default=False,
                                                    help="Tomogram to write: .mrc .rec .st, or .hdf"),
        input_opt: Optional[Path] = typer.Option(None, "--input", "-i", help="Same as INPUT (TiltRec spelling)."),
        tiltfile_opt: Optional[Path] = typer.Option(None, "--tiltfile", "-t", help="Same as TILTFILE."),
        output_opt: Optional[Path] = typer.Option(None, "--output", "-o", help="Same as OUTPUT."),
        alg: str = typer.Option("wbp", "--alg", "-a", help="Algorithm: bpt, fbp, wbp, sirt, sart, imod-sirt (IMOD's "
                                                         "SIRT), or admm (tiltrecz-* only)."),
        method: Optional[str] = typer.Option(None, "--method", "-m",
                                             help="TiltRec spelling ALG[,ITER[,RELAX]], e.g. SIRT,30,0.5."),
        iterations: Optional[int] = typer.Option(None, "--iter", "-n", min=1,
                                                 help="SIRT/SART iterations [default: SIRT 10, SART 2]; ADMM outer "
                                                      "iterations [default: 30]."),
        relax: Optional[float] = typer.Option(None, "--relax", min=0.0,
                                              help="SIRT/SART relaxation factor [default: SIRT 1.0, SART 0.25]."),
        positivity: bool = typer.Option(False, "--positivity", help="Clip negative values after each SIRT/SART "
                                                                    "update; ADMM: constrain them to >= 0."),
        init: Optional[Path] = typer.Option(None, "--init", help="Start SIRT/SART/ADMM from this volume (same "
                                                                 "size and layout as the output)."),
        reg: str = typer.Option("tv", "--reg", help="ADMM regulariser: tv (3-D total variation) or l1 (voxel "
                                                    "values)."),
        lam: Optional[float] = typer.Option(None, "--lambda", help="ADMM regularisation weight, relative to the "
                                                                   "noise (see docs/algorithms/admm.md) [default: 1]."),
        rho: Optional[float] = typer.Option(None, "--rho", help="ADMM penalty parameter, relative to the number of "
                                                                "views [default: 1]."),
        cg_iterations: Optional[int] = typer.Option(None, "--cg-iter", min=1, help="ADMM conjugate-gradient steps "
                                                                                   "per outer iteration [default: 3]."),
        log_file: Optional[Path] = typer.Option(None, "--log", help="ADMM: append the objective and the "
                                                                         "residuals of every outer iteration here."),
        checkpoint: Optional[Path] = typer.Option(None, "--checkpoint", help="SIRT/SART/ADMM: save the state to "
                                                                             "this file as the run goes."),
        checkpoint_every: Optional[int] = typer.Option(None, "--checkpoint-every", min=1,
                                                       help="Iterations between checkpoints [default: 10]."),
        resume: bool = typer.Option(False, "--resume", help="Continue the interrupted run saved in --checkpoint."),
        filter_name: str = typer.Option("ramp", "--filter", help="FBP filter: ramp, shepp-logan, cosine, hamming, "
                                                                 "hann."),
        cutoff: float = typer.Option(1.0, "--cutoff", help="FBP filter cutoff, as a fraction of Nyquist (0, 1]."),
        radial: Optional[str] = typer.Option(None, "--radial", help="WBP low-pass as IMOD's RADIAL CUTOFF,FALLOFF "
                                                                    "(< 1: cycles/pixel, >= 1: pixels) [default: "
                                                                    "none, ramp to Nyquist]."),
        hamming: Optional[float] = typer.Option(None, "--hamming", help="WBP low-pass as IMOD's HammingLikeFilter "
                                                                        "CUTOFF (cycles/pixel), instead of --radial."),
        true_sigma: bool = typer.Option(False, "--true-sigma", help="WBP: the --radial falloff is a true Gaussian "
                                                                    "sigma (IMOD FalloffIsTrueSigma 1)."),
        fake_sirt: int = typer.Option(0, "--fake-sirt", min=0, help="WBP filter that mimics N SIRT iterations "
                                                                    "(IMOD FakeSIRTiterations)."),
        density_weighting: bool = typer.Option(True, "--density-weighting/--no-density-weighting",
                                               help="WBP: weight views by their local angular step (IMOD "
                                                    "DENSWEIGHT)."),
        interp: str = typer.Option("linear", "--interp", help="WBP interpolation: linear (once), or imod (as IMOD's "
                                                              "CPU code: cosine-stretched lines, vertical slices; "
                                                              "equals IMOD to float precision)."),
        log: Optional[float] = typer.Option(None, "--log-base", help="Take log10 of the data plus this value first "
                                                                     "(IMOD LOG)."),
        scale: Optional[str] = typer.Option(None, "--scale", help="IMOD's SCALE ADD,MULT: the output is (value + "
                                                                  "ADD) * MULT, for every algorithm [default: "
                                                                  "none; --mode 0, 1, 12 then refuse a volume they "
                                                                  "would clip or round to few levels]."),
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
        include: Optional[str] = typer.Option(None, "--include", help="Views to use (all others left out), 1-based."),
        xtilt: Optional[Path] = typer.Option(None, "--xtilt", help="Per-view X-axis tilts (IMOD XTILTFILE); the "
                                                                   "pitch of a view is --pitch minus its value."),
        title: Optional[str] = typer.Option(None, "--title", help="Label stored in the output header."),
        layout: str = typer.Option("xzy", "--layout", help="xzy: IMOD's default (file Y = thickness); xyz: as "
                                                           "after trimvol -rx (same handedness); parallel: as "
                                                           "IMOD PARALLEL (Y and Z swapped: mirrored)."),
        mode: int = typer.Option(2, "--mode", help="Output MRC mode: 2 float32, 1 int16, 0 bytes, 12 float16."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output file."),
        memory: Optional[str] = typer.Option(None, "--memory", help=MEMORY_HELP[flavor.backend]),
        threads: Optional[int] = typer.Option(None, "--threads", min=1, help="CPU threads per rank [default: the "
                                                                             "node's cores / its ranks]."),
        device: Optional[int] = typer.Option(None, "--device", min=0, help="GPU to use, for the -cuda commands "
                                                                           "[default: the rank's local GPU under "
                                                                           "MPI, else 0]."),
        pad_x: bool = typer.Option(True, "--xpad/--no-xpad", help="SIRT/SART: reconstruct a wider volume so that "
                                                                  "material outside the output width does not pile "
                                                                  "up in the X border columns (a fainter rim can "
                                                                  "remain: docs/algorithms/sirt.md)."),
        split: Optional[str] = typer.Option(None, "--split", help="odd-even: also write NAME_odd and NAME_even, "
                                                                  "reconstructed from the odd and the even views "
                                                                  "(for cryoCARE-style denoising), in the same "
                                                                  "pass."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress display or summary (warnings and "
                                                                "errors still)."),
        no_progress: bool = typer.Option(False, "--no-progress", help="No progress display; the summary line is "
                                                                      "still printed."),
        com: Optional[Path] = typer.Option(None, "--com", help="Take the parameters of an IMOD tilt command file "
                                                               "(tilt.com); options given here override it."),
        standard_input: bool = typer.Option(False, "-StandardInput", "--standard-input",
                                            help="Read IMOD tilt parameters from standard input, like tilt."),
        version: bool = version_option(flavor.name),
        ignore_unsupported: bool = typer.Option(False, "--ignore-unsupported",
                                                help="With --com: warn about tilt options tiltrec does not "
                                                     "implement instead of refusing the file."),
    ):
        from .job_builder import Request, build_and_run  # deferred: keeps --help fast

        values = {k: v for k, v in locals().items() if k in Request.__dataclass_fields__}
        typed = {p.name for p in ctx.command.params
                 if getattr(ctx.get_parameter_source(p.name), "name", "") == "COMMANDLINE"}
        request = Request(**values, given=frozenset(typed))

        def action():
            from ..mpi.world import launcher_rank

            reads_stdin = (standard_input and com is None) or str(com) == "-"
            if reads_stdin and sys.stdin is None and launcher_rank() == 0:  # (under MPI rank 0 reads it)
                raise InputError("standard input is closed: give the tilt parameters on it (e.g. < tilt.com) or "
                                 "with --com FILE")
            build_and_run(request, program=flavor.name, unified=flavor.unified, backend=flavor.backend)

        guarded(flavor.name, action)

    return app


def _entry(flavor: Flavor):
    def run() -> None:
        open_closed_descriptors()
        install_for_process()  # before the command line is read; kept through MPI's finalisation
        code = run_command(make_app(flavor), flavor.name)
        if code == 0 and "mpi4py" not in sys.modules:
            exit_now()
        raise SystemExit(code)

    return run


def exit_now() -> None:
    """End a successful run without Python's teardown of its modules: unloading Numba's compiled code and the
    rest took 0.25-0.3 s of every run (WBP 1024^2 x 61, five alternating pairs: 0.40-0.44 s from the end of the
    command to the process's exit, 0.12-0.16 s this way).  Outputs are committed and closed by then, and the
    standard streams are flushed here.  Not under MPI, whose finalisation must run."""
    for stream in (sys.stdout, sys.stderr):
        with suppress(OSError, ValueError, AttributeError):  # a closed pipe or stream (None): nothing left to say
            stream.flush()
    os._exit(0)


tiltrec_mpi = _entry(Flavor("tiltrec-mpi", unified=False, backend="cpu"))
tiltrecz_mpi = _entry(Flavor("tiltrecz-mpi", unified=True, backend="cpu"))
tiltrec_cuda = _entry(Flavor("tiltrec-cuda", unified=False, backend="cuda"))
tiltrecz_cuda = _entry(Flavor("tiltrecz-cuda", unified=True, backend="cuda"))
