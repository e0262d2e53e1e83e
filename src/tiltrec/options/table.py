"""Every option of a reconstruction, declared once: its name, kind, default, unit, help, command-line spellings,
tilt.com keys, range, and the algorithms and backends it applies to.

The command-line programs (cli.commands), ``tiltrec.reconstruct`` (api) and the typed ``Options`` (options.model)
are all made from :data:`OPTIONS`; a tilt.com's keys (cli.imod_com) set the same names.  An option's name is its
Python name everywhere: the API keyword and the ``Options`` field; its command-line long name is the same with
``-`` for ``_`` (``log_base``: ``--log-base``).  docs/options.md is the table in words.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..filters import FBP_FILTERS
from ..limits import DATA_LIMIT, MEMORY_LIMIT, PIXEL_LIMIT, SCALE_LIMIT, Limit
from .kinds import (ByteSize, Choice, File, FileOrNumbers, FileOrVolume, Flag, FlagOrCount, Number, Numbers, Text,
                    ViewList, Whole)

GROUPS = ("input", "geometry", "algorithm", "output", "resources")
ALGORITHM_NAMES = ("bpt", "fbp", "wbp", "sirt", "sart", "imod-sirt", "admm")
ITERATIVE = ("sirt", "sart", "admm")  # start from --init, save checkpoints, pad X
IMOD_WEIGHTING = ("wbp", "imod-sirt")  # IMOD's radial weighting of the views
# tiltrec's projectors with IMOD's local alignments; IMOD's own SIRT reprojects them by a search tiltrec does not
# reproduce
LOCAL_ALGORITHMS = ("bpt", "fbp", "wbp", "sirt", "sart", "admm")


@dataclass(frozen=True)
class Option:
    """One option.  ``algorithms`` / ``backends``: where it has an effect (None: everywhere); giving it elsewhere
    is refused, as is giving it with the option ``excluded_by``.  ``value_backends``: values that only some
    backends can run.  ``negative``: the off switch of a
    flag that is on by default.  ``cli`` / ``api``: whether the command line / ``tiltrec.reconstruct`` offer it
    (the commands choose the backend and strategy themselves)."""

    name: str
    group: str
    kind: object
    default: object
    help: str
    unit: str = ""
    flags: tuple[str, ...] = ()  # further command-line spellings: short ones, TiltRec's, aliases
    imod: tuple[str, ...] = ()  # tilt.com keys that set it
    limit: object = None  # a limits.Limit, or a tuple of them for a fixed number of values
    algorithms: tuple[str, ...] | None = None
    backends: tuple[str, ...] | None = None
    value_backends: tuple[tuple[object, tuple[str, ...]], ...] = ()
    requires: tuple[str, object] | None = None  # (option, value) it works with; value None: any value given
    excluded_by: str | None = None  # an option that, given, leaves this one without effect
    negative: str | None = None
    per_algorithm: tuple[tuple[str, object], ...] = ()  # defaults that depend on the algorithm (default None)
    default_text: str | None = None  # the default in words where it depends on others
    api_default: object = None  # a different default for Python callers (None: the same)
    cli: bool = True
    api: bool = True
    refuse_unless_applies: bool = False  # a parameter file's value that has no effect is refused, not dropped: the
    # result would silently differ from IMOD's

    @property
    def long_flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def default_words(self) -> str | None:
        """The default as the help and the docs say it (``SIRT 10, SART 2, ADMM 30``, ``0,0``); None: none."""
        if self.per_algorithm:
            return ", ".join(f"{alg.upper()} {value}" for alg, value in self.per_algorithm)
        if self.default_text is not None:
            return self.default_text
        if self.default is None:
            return None
        return ",".join(map(str, self.default)) if isinstance(self.default, tuple) else str(self.default)

    def default_for(self, front: str):
        """The default for the command line (``"cli"``) or for Python callers (``"api"``)."""
        return self.api_default if front == "api" and self.api_default is not None else self.default

    def applies_to(self, algorithm: str, backend: str) -> bool:
        return (self.algorithms is None or algorithm in self.algorithms) and \
            (self.backends is None or backend in self.backends)


def _size(text: str) -> Limit:
    return Limit(text, 1, math.inf, "a positive whole number of pixels", integral=True)


def _count(low: int = 1) -> Limit:
    return Limit("", low, math.inf, f"a whole number, at least {low}", integral=True)


def _pixels() -> Limit:
    return Limit("", -PIXEL_LIMIT, PIXEL_LIMIT, f"between -{PIXEL_LIMIT:g} and {PIXEL_LIMIT:g} pixels")


def _angle() -> Limit:
    return Limit("", -90, 90, "between -90 and 90 degrees", low_open=True, high_open=True)


_DATA = f"between -{DATA_LIMIT:g} and {DATA_LIMIT:g}"
_RADIAL_CUTOFF = f"positive (below 1: cycles/pixel, from 1: pixels), at most {PIXEL_LIMIT:g}"

OPTIONS: tuple[Option, ...] = (
    # ---------------------------------------------------------------------------------------------------- input
    Option("exclude", "input", ViewList(), None, "Views to leave out, 1-based, e.g. 1-3,7.",
           imod=("EXCLUDELIST", "EXCLUDELIST2")),
    Option("include", "input", ViewList(), None, "Views to use (all others left out), 1-based.", imod=("INCLUDE",)),
    Option("bin", "input", Whole(), 1, "Bin the views N x N on reading; pixel-valued options stay in unbinned "
                                       "pixels.", limit=_count(), imod=("IMAGEBINNED",)),
    Option("log_base", "input", Number(), None, "Take log10 of the data plus this value first (IMOD LOG).",
           imod=("LOG",), limit=Limit("", -DATA_LIMIT, DATA_LIMIT, _DATA), default_text="none"),
    Option("init", "input", FileOrVolume(), None, "Start from this volume (same size and layout as the output).",
           algorithms=ITERATIVE),
    # ------------------------------------------------------------------------------------------------- geometry
    Option("thickness", "geometry", Whole(), None, "Output thickness (required; or via --geometry).",
           unit="pixels", imod=("THICKNESS",), limit=_size("")),
    Option("width", "geometry", Whole(), None, "Output width.", unit="pixels", imod=("WIDTH",), limit=_size(""),
           default_text="the view width"),
    Option("slices", "geometry", Numbers(2, integral=True, metavar="FIRST,LAST"), None,
           "First,last slice to reconstruct (0-based, inclusive, input rows).", imod=("SLICE",),
           limit=(_count(0), _count(0)), default_text="all"),
    Option("offset", "geometry", Number(), 0.0, "Added to every tilt angle.", unit="degrees", imod=("OFFSET",),
           limit=_angle()),
    Option("pitch", "geometry", Number(), 0.0, "X-axis tilt (IMOD XAXISTILT).", unit="degrees",
           flags=("--xaxis-tilt",), imod=("XAXISTILT",), limit=_angle()),
    Option("xshift", "geometry", Number(), 0.0, "Shift the volume in X (+ is right).", unit="pixels",
           imod=("SHIFT",), limit=_pixels()),
    Option("zshift", "geometry", Number(), 0.0, "Shift the volume in Z (+ is up).", unit="pixels",
           imod=("SHIFT",), limit=_pixels()),
    Option("xtilt", "geometry", FileOrNumbers(), None, "Per-view X-axis tilts (IMOD XTILTFILE); the pitch of a "
                                                       "view is --pitch minus its value.", unit="degrees",
           imod=("XTILTFILE",), limit=Limit("", -90, 90, "between -90 and 90 degrees", low_open=True,
                                            high_open=True, each=True)),
    Option("axis_offset", "geometry", Number(), 0.0, "Tilt axis offset from the centre of the views (IMOD "
                                                     "OFFSET's second value).", unit="pixels", imod=("OFFSET",),
           limit=_pixels()),
    Option("full_image", "geometry", Numbers(2, integral=True, metavar="NX,NY"), None,
           "Size of the full aligned image of which the views are a subset (IMOD FULLIMAGE).", unit="pixels",
           imod=("FULLIMAGE",), limit=(_size(""), _size("")), default_text="the views' size"),
    Option("subset_start", "geometry", Numbers(2, integral=True, metavar="X,Y"), (0, 0),
           "Where the views start in the full aligned image (IMOD SUBSETSTART).", unit="pixels",
           imod=("SUBSETSTART",), limit=(Limit("", -math.inf, math.inf, "a whole number", integral=True),) * 2),
    Option("local", "geometry", File(), None, "IMOD local alignment file (LOCALFILE, from tiltalign): per-area "
                                              "changes of each view's alignment, interpolated over the volume as "
                                              "IMOD's tilt does.", imod=("LOCALFILE",), algorithms=LOCAL_ALGORITHMS,
           refuse_unless_applies=True),
    Option("local_scale", "geometry", Number(), None, "Scale from the local file's pixels to the views' (IMOD "
                                                      "LOCALSCALE).", imod=("LOCALSCALE",),
           limit=Limit("", 0, math.inf, "a positive number", low_open=True), algorithms=LOCAL_ALGORITHMS,
           requires=("local", None), default_text="the local file's pixel size over the views'",
           refuse_unless_applies=True),
    Option("zfactors", "geometry", File(), None, "IMOD Z-factor file (ZFACTORFILE): with --local, the local file's "
                                                 "own Z factors are applied, as IMOD applies them.",
           imod=("ZFACTORFILE",), algorithms=LOCAL_ALGORITHMS, requires=("local", None),
           refuse_unless_applies=True),
    # ------------------------------------------------------------------------------------------------ algorithm
    Option("alg", "algorithm", Choice(ALGORITHM_NAMES), "wbp", "Algorithm: bpt, fbp, wbp, sirt, sart, imod-sirt "
                                                               "(IMOD's SIRT), or admm (tiltrecz-* only).",
           flags=("-a",), imod=("SIRTIterations",)),
    # Chosen on a simulated specimen with noisy views (signal-to-noise variance 2 per view, docs/algorithms/):
    # more iterations fit the noise; SIRT 10 x 1.0 and SART 2 x 0.25 came out best or near it.
    Option("iter", "algorithm", Whole(), None, "Iterations (ADMM: outer iterations; imod-sirt needs it).",
           flags=("-n",), imod=("SIRTIterations",), limit=_count(), algorithms=("sirt", "sart", "imod-sirt", "admm"),
           per_algorithm=(("sirt", 10), ("sart", 2), ("admm", 30))),
    # SIRT and SART converge for relaxation factors strictly between 0 and 2
    Option("relax", "algorithm", Number(), None, "Relaxation factor.", limit=Limit(
        "", 0, 2, "greater than 0 and less than 2", low_open=True, high_open=True), algorithms=("sirt", "sart"),
        per_algorithm=(("sirt", 1.0), ("sart", 0.25))),
    Option("positivity", "algorithm", Flag(), False, "Clip negative values after each update (ADMM: constrain "
                                                     "them to >= 0).", algorithms=ITERATIVE),
    Option("xpad", "algorithm", Flag(), True, "Reconstruct a wider volume so that material outside the output "
                                              "width does not pile up in the X border columns (a fainter rim can "
                                              "remain: docs/algorithms/sirt.md).", negative="--no-xpad",
           algorithms=ITERATIVE),
    Option("filter", "algorithm", Choice(FBP_FILTERS, aliases=(("ram-lak", "ramp"), ("ramlak", "ramp"),
                                                               ("shepp", "shepp-logan"), ("hanning", "hann"))),
           "ramp", "FBP filter: " + ", ".join(FBP_FILTERS) + ".", algorithms=("fbp",)),
    Option("cutoff", "algorithm", Number(), 1.0, "FBP filter cutoff, as a fraction of Nyquist (0, 1].",
           limit=Limit("", 0, 1, "in (0, 1]", low_open=True), algorithms=("fbp",)),
    Option("radial", "algorithm", Numbers(2, metavar="CUTOFF,FALLOFF"), None,
           "Low-pass as IMOD's RADIAL (< 1: cycles/pixel, >= 1: pixels).", imod=("RADIAL",),
           limit=(Limit("", 0, PIXEL_LIMIT, _RADIAL_CUTOFF, low_open=True),
                  Limit("", 0, PIXEL_LIMIT, f"0 or positive, at most {PIXEL_LIMIT:g}")),
           algorithms=IMOD_WEIGHTING, default_text="none, ramp to Nyquist"),
    Option("hamming", "algorithm", Number(), None, "Low-pass as IMOD's HammingLikeFilter, instead of --radial.",
           unit="cycles/pixel", imod=("HammingLikeFilter",),
           limit=Limit("", 0, 0.5, "between 0 and 0.5 cycles/pixel"), algorithms=("wbp",)),
    Option("true_sigma", "algorithm", Flag(), False, "The --radial falloff is a true Gaussian sigma (IMOD "
                                                     "FalloffIsTrueSigma 1).", imod=("FalloffIsTrueSigma",),
           algorithms=("wbp",), requires=("radial", None)),
    Option("multiply_gaussian", "algorithm", Flag(), False, "Multiply the filter by the Gaussian falloff instead "
                                                            "of joining it (IMOD MultiplyByGaussian).",
           imod=("MultiplyByGaussian",), algorithms=("wbp",), requires=("radial", None)),
    Option("fake_sirt", "algorithm", Whole(), 0, "A filter that mimics N SIRT iterations (IMOD "
                                                 "FakeSIRTiterations).", imod=("FakeSIRTiterations",),
           limit=_count(0), algorithms=("wbp",)),
    Option("density_weighting", "algorithm", FlagOrCount(), True, "Weight views by their local angular step "
                                                                  "(IMOD DENSWEIGHT).",
           negative="--no-density-weighting", imod=("DENSWEIGHT",), algorithms=IMOD_WEIGHTING),
    Option("interp", "algorithm", Choice(("linear", "imod")), "linear",
           "Interpolation: linear (once), or imod (as IMOD's CPU code: cosine-stretched lines, vertical slices; "
           "equals IMOD to float precision).", imod=("COSINTERP", "XTILTINTERP"), algorithms=("wbp",),
           value_backends=(("imod", ("cpu",)),), excluded_by="local"),
    Option("cosine_stretch", "algorithm", Whole(), 2, "With --interp imod: samples per pixel of the "
                                                      "cosine-stretched lines, 0 for none (IMOD COSINTERP's "
                                                      "factor).", imod=("COSINTERP",), limit=_count(0),
           algorithms=("wbp",), requires=("interp", "imod")),
    Option("scale", "algorithm", Numbers(2, metavar="ADD,MULT"), None,
           "IMOD's SCALE: the output is (value + ADD) * MULT.", imod=("SCALE",),
           limit=(Limit("", -DATA_LIMIT, DATA_LIMIT, _DATA),
                  Limit("", -SCALE_LIMIT, SCALE_LIMIT, f"non-zero, between -{SCALE_LIMIT:g} and {SCALE_LIMIT:g}",
                        zero=False)),
           default_text="none; --mode 0, 1, 12 then refuse a volume they would clip or round to few levels"),
    Option("reg", "algorithm", Choice(("tv", "l1")), "tv", "ADMM regulariser: tv (3-D total variation) or l1 "
                                                           "(voxel values).", algorithms=("admm",)),
    # ADMM's weights are relative to the data (algorithms.admm.weights)
    Option("lam", "algorithm", Number(), 1.0, "ADMM regularisation weight, relative to the noise "
                                              "(docs/algorithms/admm.md).", flags=("--lambda",),
           limit=Limit("", 0, 1e6, "positive or 0, at most 1e+06"), algorithms=("admm",)),
    Option("rho", "algorithm", Number(), 1.0, "ADMM penalty parameter, relative to the number of views.",
           limit=Limit("", 1e-6, 1e6, "positive, from 1e-06 to 1e+06"), algorithms=("admm",)),
    Option("cg_iter", "algorithm", Whole(), 3, "ADMM conjugate-gradient steps per outer iteration.",
           limit=_count(), algorithms=("admm",)),
    # --------------------------------------------------------------------------------------------------- output
    Option("layout", "output", Choice(("xzy", "xyz", "parallel")), "xzy",
           "xzy: IMOD's default (file Y = thickness); xyz: as after trimvol -rx (same handedness); parallel: as "
           "IMOD PARALLEL (Y and Z swapped: mirrored).", imod=("PERPENDICULAR", "PARALLEL", "RotateBy90")),
    Option("mode", "output", Choice((2, 1, 0, 12)), 2, "MRC mode: 2 float32, 1 int16, 0 bytes, 12 float16.",
           imod=("MODE",)),
    Option("title", "output", Text(), None, "Label stored in the output header.", imod=("TITLE",)),
    Option("overwrite", "output", Flag(), False, "Replace an existing output file."),
    Option("split", "output", Choice(("odd-even",)), None, "odd-even: also write NAME_odd and NAME_even, "
                                                           "reconstructed from the odd and the even views (for "
                                                           "cryoCARE-style denoising), in the same pass."),
    Option("log", "output", File(), None, "Append the objective and the residuals of every outer iteration here.",
           algorithms=("admm",)),
    Option("checkpoint", "output", File(), None, "Save the state to this file as the run goes.",
           algorithms=ITERATIVE),
    Option("checkpoint_every", "output", Whole(), 10, "Iterations between checkpoints.", limit=_count(),
           algorithms=ITERATIVE, requires=("checkpoint", None)),
    Option("resume", "output", Flag(), False, "Continue the interrupted run saved in --checkpoint.",
           algorithms=ITERATIVE, requires=("checkpoint", None)),
    # a library call says nothing unless asked to; a command shows its progress and summary
    Option("quiet", "output", Flag(), False, "No progress display or summary (warnings and errors still).",
           flags=("-q",), api_default=True),
    Option("progress", "output", Flag(), True, "The progress display (the summary line is printed without it).",
           negative="--no-progress"),
    # ------------------------------------------------------------------------------------------------ resources
    Option("memory", "resources", ByteSize(), None, "Memory budget, e.g. 4G.", unit="bytes",
           limit=Limit("", 1, MEMORY_LIMIT, "a number of bytes from 1 byte to 1024 TiB", integral=True),
           default_text="CPU: half the available RAM; GPU: its free memory"),
    Option("threads", "resources", Whole(), None, "CPU threads per rank.", limit=_count(),
           default_text="the node's cores / its ranks"),
    Option("device", "resources", Whole(), None, "GPU to use.", limit=_count(0), backends=("cuda",),
           default_text="the rank's local GPU under MPI, else 0"),
    Option("backend", "resources", Choice(("cpu", "cuda")), "cpu", "cpu, or cuda (a GPU through CuPy).", cli=False),
    Option("unified", "resources", Flag(), False, "Reconstruct the whole volume at once (the tiltrecz-* "
                                                  "commands) instead of slab by slab.", cli=False),
)

BY_NAME: dict[str, Option] = {option.name: option for option in OPTIONS}


@dataclass(frozen=True)
class Spelling:
    """A TiltRec spelling that sets several options at once (command line only): ``--method SIRT,30,0.5``."""

    name: str
    parts: tuple[str, ...]
    least: int  # entries that must be given
    usage: str
    help: str
    flags: tuple[str, ...] = ()

    @property
    def long_flag(self) -> str:
        return "--" + self.name


SPELLINGS: tuple[Spelling, ...] = (
    Spelling("method", ("alg", "iter", "relax"), 1, "ALG[,ITER[,RELAX]]", "TiltRec's spelling of --alg, --iter "
                                                                          "and --relax, e.g. SIRT,30,0.5.",
             flags=("-m",)),
    Spelling("geometry", ("offset", "pitch", "zshift", "thickness"), 4, "OFFSET,PITCH,ZSHIFT,THICKNESS",
             "TiltRec's spelling of --offset, --pitch, --zshift and --thickness."),
)
