"""IMOD ``tilt`` parameter files (``tilt.com``, ``-StandardInput``): parse them and turn them into tiltrec options.

Its keys set the options of options.table (:func:`option_values`).  A parameter file holds one ``KEY value``
entry per line, as IMOD's PIP reads them: ``#`` starts a comment, lines starting with ``$`` are shell lines of the
command file (``$tilt -StandardInput``, ``$if ...``) and are skipped; keys are case-insensitive and may be
abbreviated to any unique prefix of one of tilt's option names; values are separated by spaces or commas.  Keys
tiltrec does not implement raise an InputError naming them, unless the caller chose to ignore them (then they come
back as a list for a warning).  Every key of ``tilt`` is listed in :data:`TILT_KEYS`,
with what tiltrec does with it (see docs/imod.md).
"""

from __future__ import annotations

import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from ..errors import file_error

# tilt's options (IMOD 4.8 to 4.12), long name -> (value type, what tiltrec does).  Types as in PIP: FN file name,
# CH text, I/F one integer/float, IP/FP two, IA/FA a list, IT/FT three, LI/LIM a list of view numbers, B boolean.
SUPPORTED, NO_EFFECT, UNSUPPORTED = "supported", "no effect", "unsupported"
TILT_KEYS: dict[str, tuple[str, str]] = {
    "InputProjections": ("FN", SUPPORTED), "OutputFile": ("FN", SUPPORTED), "TILTFILE": ("FN", SUPPORTED),
    "XTILTFILE": ("FN", SUPPORTED), "ANGLES": ("FA", SUPPORTED), "THICKNESS": ("I", SUPPORTED),
    "WIDTH": ("I", SUPPORTED), "SLICE": ("IA", SUPPORTED), "SHIFT": ("FA", SUPPORTED), "OFFSET": ("FA", SUPPORTED),
    "XAXISTILT": ("F", SUPPORTED), "IMAGEBINNED": ("I", SUPPORTED), "FULLIMAGE": ("IP", SUPPORTED),
    "SUBSETSTART": ("IP", SUPPORTED), "RADIAL": ("FP", SUPPORTED), "FalloffIsTrueSigma": ("B", SUPPORTED),
    "FakeSIRTiterations": ("I", SUPPORTED), "DENSWEIGHT": ("FA", SUPPORTED), "EXCLUDELIST2": ("LI", SUPPORTED),
    "EXCLUDELIST": ("LI", SUPPORTED), "INCLUDE": ("LI", SUPPORTED), "LOG": ("F", SUPPORTED),
    "SCALE": ("FP", SUPPORTED), "MODE": ("I", SUPPORTED), "PERPENDICULAR": ("B", SUPPORTED),
    "PARALLEL": ("B", SUPPORTED), "RotateBy90": ("B", SUPPORTED), "TITLE": ("CH", SUPPORTED),
    "SIRTIterations": ("I", SUPPORTED), "COSINTERP": ("IA", SUPPORTED), "XTILTINTERP": ("I", SUPPORTED),
    "AdjustOrigin": ("B", NO_EFFECT), "UseGPU": ("I", NO_EFFECT), "ActionIfGPUFails": ("IP", NO_EFFECT),
    "ParameterFile": ("FN", UNSUPPORTED), "DONE": ("B", NO_EFFECT), "DebugOutput": ("B", NO_EFFECT),
    "HammingLikeFilter": ("F", SUPPORTED), "MultiplyByGaussian": ("B", SUPPORTED),
    "ExactFilterSize": ("I", UNSUPPORTED), "LOCALFILE": ("FN", SUPPORTED), "LOCALSCALE": ("F", SUPPORTED),
    "ZFACTORFILE": ("FN", SUPPORTED), "COMPRESS": ("FA", UNSUPPORTED), "COMPFRACTION": ("F", UNSUPPORTED),
    "WeightFile": ("FN", UNSUPPORTED), "WeightAngleFile": ("FN", UNSUPPORTED), "MASK": ("I", UNSUPPORTED),
    "REPLICATE": ("FA", UNSUPPORTED), "TOTALSLICES": ("IP", UNSUPPORTED), "BoundaryInfoFile": ("FN", UNSUPPORTED),
    "BaseRecFile": ("FN", UNSUPPORTED), "BaseNumViews": ("I", UNSUPPORTED), "SubtractFromBase": ("LI", UNSUPPORTED),
    "MinMaxMean": ("FT", UNSUPPORTED), "REPROJECT": ("FA", SUPPORTED), "ViewsToReproject": ("LI", SUPPORTED),
    "RecFileToReproject": ("FN", SUPPORTED), "ProjectModel": ("FN", UNSUPPORTED),
    "XMinAndMaxReproj": ("IP", SUPPORTED), "YMinAndMaxReproj": ("IP", SUPPORTED),
    "ZMinAndMaxReproj": ("IP", SUPPORTED), "ThresholdedReproj": ("FT", UNSUPPORTED),
    "FlatFilterFraction": ("F", UNSUPPORTED), "SIRTSubtraction": ("B", UNSUPPORTED),
    "StartingIteration": ("I", UNSUPPORTED), "ConstrainSign": ("I", UNSUPPORTED), "FBPINTERP": ("I", UNSUPPORTED),
    "VertBoundaryFile": ("FN", UNSUPPORTED), "VertSliceOutputFile": ("FN", UNSUPPORTED),
    "VertForSIRTInput": ("B", UNSUPPORTED), "InternalSIRTSlices": ("IP", UNSUPPORTED),
}
SHORT_NAMES = {"input": "InputProjections", "output": "OutputFile", "recfile": "RecFileToReproject",
               "xminmax": "XMinAndMaxReproj", "yminmax": "YMinAndMaxReproj", "zminmax": "ZMinAndMaxReproj",
               "threshold": "ThresholdedReproj", "debug": "DebugOutput", "internal": "InternalSIRTSlices",
               "param": "ParameterFile"}
REPEATABLE = {"ANGLES", "INCLUDE", "EXCLUDELIST2", "EXCLUDELIST", "REPROJECT"}
REPROJECTION_KEYS = ("REPROJECT", "ViewsToReproject", "XMinAndMaxReproj", "YMinAndMaxReproj", "ZMinAndMaxReproj")
IMOD_DEFAULT_THICKNESS = 10  # tilt's thickness when a parameter file gives none
XTILT_ORDERS = 3  # XTILTINTERP: tilt's interpolation orders for X-axis tilt run from 0 (its old path) to 3
_NAMES = {name.lower(): name for name in TILT_KEYS} | {short: long for short, long in SHORT_NAMES.items()}


@dataclass(frozen=True)
class Entry:
    """One ``KEY value`` line: the canonical key, its value text and where it came from."""

    key: str
    value: str
    line: int


def canonical_key(word: str) -> str | None:
    """The tilt option ``word`` names (exact or unique prefix, any case), or None when it names none or several."""
    low = word.lower()
    if low in _NAMES:
        return _NAMES[low]
    matches = {long for name, long in _NAMES.items() if name.startswith(low)}
    return matches.pop() if len(matches) == 1 else None


def parse_params(text: str, source: str) -> dict[str, list[Entry]]:
    """Parse parameter-file text; ``source`` names it in errors.  Returns entries by canonical key."""
    entries: dict[str, list[Entry]] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("$"):
            continue
        word, _, value = line.partition(" ") if " " in line else line.partition("\t")
        word = word.strip().lstrip("-")
        key = canonical_key(word)
        if key is None:
            several = sorted({long for name, long in _NAMES.items() if name.startswith(word.lower())})
            problem = f"ambiguous abbreviation of {', '.join(several)}" if several else "not an option of tilt"
            raise file_error(source, f"line {number}: {word!r} is {problem}")
        if key in entries and key not in REPEATABLE:
            raise file_error(source, f"line {number}: {key} given twice (first on line {entries[key][0].line})")
        entries.setdefault(key, []).append(Entry(key, value.strip(), number))
    return entries


def read_params(path: Path | str) -> tuple[dict[str, list[Entry]], Path]:
    """Read a parameter file, or standard input for ``-``; returns the entries and the directory relative paths in
    it are taken from (the file's own directory; the current one for standard input)."""
    if str(path) == "-":
        from ..mpi import detect_world

        world = detect_world()  # under mpiexec only rank 0 gets the standard input
        text = world.bcast(sys.stdin.read() if world.rank == 0 else None)
        return parse_params(text, "standard input"), Path.cwd()
    path = Path(path)
    try:
        text = path.read_text(errors="replace")
    except OSError as err:
        raise file_error(path, f"cannot read the parameter file ({err.strerror or err})") from None
    return parse_params(text, str(path)), path.absolute().parent


# ------------------------------------------------------------------------------------------ values
def _number(text: str, cast):
    """``text`` as a finite float, or for ``cast`` int a whole number; None if it is neither (NaN, 1e999, 2.5)."""
    try:
        value = float(text)
    except ValueError:
        return None
    if not math.isfinite(value) or (cast is int and not value.is_integer()):
        return None
    return cast(value)


def _numbers(entry: Entry, source: str, count: int | tuple[int, int], cast=float) -> list:
    parts = [p for p in re.split(r"[\s,]+", entry.value) if p]
    low, high = (count, count) if isinstance(count, int) else count
    kind = "integer" if cast is int else "number"
    values = [_number(p, cast) for p in parts]
    if None in values and high > 1 and low <= len(values) <= high:  # say which entry of a list (ANGLES) is wrong
        bad = parts[values.index(None)]
        raise file_error(source, f"line {entry.line}: {entry.key} entry {values.index(None) + 1}, {bad[:40]!r}, is "
                                 f"not {'an integer' if cast is int else 'a finite number'}")
    if None in values or not low <= len(values) <= high:
        want = str(low) if low == high else f"{low} to {high}"
        raise file_error(source, f"line {entry.line}: {entry.key} needs {want} {kind}(s), got {entry.value[:80]!r}")
    return values


def _flag(entry: Entry, source: str) -> bool:
    return not entry.value or _numbers(entry, source, 1, int)[0] != 0


@dataclass(frozen=True)
class TiltParams:
    """A parsed parameter file and the directory its relative paths refer to."""

    entries: dict[str, list[Entry]]
    base: Path
    source: str

    def has(self, key: str) -> bool:
        return key in self.entries

    def first(self, key: str) -> Entry:
        return self.entries[key][0]

    def numbers(self, key: str, count, cast=float) -> list:
        return _numbers(self.first(key), self.source, count, cast)

    def numbers_in(self, entry: Entry, count, cast=float) -> list:
        """The numbers of one entry of a repeatable key."""
        return _numbers(entry, self.source, count, cast)

    def whole_number(self, key: str, low: int, high: float = math.inf) -> int:
        """The one integer of ``key``, refused with its line unless ``low <= value <= high`` (as tilt refuses it)."""
        value = self.numbers(key, 1, int)[0]
        if not low <= value <= high:
            allowed = f"at least {low}" if high == math.inf else f"{low} to {high}"
            raise file_error(self.source, f"line {self.first(key).line}: {key} must be {allowed}, got {value}")
        return value

    def flag(self, key: str) -> bool:
        return self.has(key) and _flag(self.first(key), self.source)

    def path(self, key: str) -> Path:
        value = self.first(key).value
        if not value:
            raise file_error(self.source, f"line {self.first(key).line}: {key} needs a file name")
        p = Path(value).expanduser()
        return p if p.is_absolute() else self.base / p


def load(path: Path | str) -> TiltParams:
    """Read and parse a parameter file (``-``: standard input)."""
    entries, base = read_params(path)
    return TiltParams(entries, base, "standard input" if str(path) == "-" else str(path))


def unsupported_keys(params: TiltParams) -> list[str]:
    """The keys in the file that tiltrec does not implement (their values would change the result)."""
    keys = [k for k in params.entries if TILT_KEYS[k][1] == UNSUPPORTED]
    if params.has("COSINTERP") and params.numbers("COSINTERP", (1, 2), int)[0] not in (0, 1):
        keys.append("COSINTERP (interpolation order other than 0 or 1)")
    if params.has("DENSWEIGHT") and len(params.numbers("DENSWEIGHT", (1, 100))) > 1:
        keys.append("DENSWEIGHT (explicit weights)")
    if params.has("SLICE") and len(params.numbers("SLICE", (2, 3), int)) == 3 \
            and params.numbers("SLICE", 3, int)[2] != 1:
        keys.append("SLICE (a slice increment)")
    if params.has("XTILTINTERP") and params.whole_number("XTILTINTERP", 0, XTILT_ORDERS) > 1:
        keys.append("XTILTINTERP (interpolation order above 1)")
    reprojecting = [k for k in REPROJECTION_KEYS if params.has(k)]
    if reprojecting and not params.has("RecFileToReproject"):
        keys.append(f"{reprojecting[0]} without RecFileToReproject (reprojecting the slices being computed)")
    if params.has("ZFACTORFILE") and not params.has("LOCALFILE"):
        keys.append("ZFACTORFILE without LOCALFILE (Z factors of the global alignment)")
    if params.has("RecFileToReproject") and params.has("SIRTIterations"):
        keys.append("RecFileToReproject with SIRTIterations (continuing IMOD's SIRT from a tomogram)")
    return keys


def option_values(params: TiltParams, ignore_unsupported: bool = False) -> tuple[dict, dict, list[str]]:
    """What a parameter file sets: option values by name (options.table, typed), the files and angles
    (``input``, ``output``, ``tiltfile`` paths; ``angles`` numbers), and the unsupported keys that were ignored
    (an InputError names them unless ``ignore_unsupported``)."""
    ignored = unsupported_keys(params)
    if ignored and not ignore_unsupported:
        raise file_error(params.source, f"tiltrec does not implement {', '.join(ignored)}; remove "
                                        f"{'it' if len(ignored) == 1 else 'them'} or pass --ignore-unsupported")
    p, values, files = params, {}, {}
    b = p.whole_number("IMAGEBINNED", 1) if p.has("IMAGEBINNED") else 1
    for key, name in (("InputProjections", "input"), ("OutputFile", "output"), ("TILTFILE", "tiltfile")):
        if p.has(key):
            files[name] = p.path(key)
    if p.has("TILTFILE") and p.has("ANGLES"):
        raise file_error(p.source, "give the angles with TILTFILE or ANGLES, not both")
    if p.has("ANGLES"):
        files["angles"] = [a for e in p.entries["ANGLES"] for a in _numbers(e, p.source, (1, 100000))]
    if p.has("XTILTFILE"):
        values["xtilt"] = p.path("XTILTFILE")
    if p.has("LOCALFILE"):
        values["local"] = p.path("LOCALFILE")
        if p.has("LOCALSCALE") and p.numbers("LOCALSCALE", 1)[0] > 0:  # tilt: 0 or less, from the pixel sizes
            values["local_scale"] = p.numbers("LOCALSCALE", 1)[0]
        if p.has("ZFACTORFILE"):
            values["zfactors"] = p.path("ZFACTORFILE")
    # IMOD scales these down by IMAGEBINNED (the stack is already binned): thickness and width by integer
    # division, slices to the binned row holding them, shifts and offsets exactly
    values["thickness"] = _binned_size(p, "THICKNESS", b)
    if p.has("WIDTH"):
        values["width"] = _binned_size(p, "WIDTH", b)
    if p.has("SLICE"):
        first, last = p.numbers("SLICE", (2, 3), int)[:2]
        values["slices"] = (max(0, (first + b) // b - 1), max(0, (last + b) // b - 1))
    if p.has("SHIFT"):
        shift = p.numbers("SHIFT", (1, 2))
        values["xshift"] = shift[0] / b
        values["zshift"] = (shift[1] if len(shift) > 1 else 0.0) / b
    if p.has("OFFSET"):
        offset = p.numbers("OFFSET", (1, 2))
        values["offset"] = offset[0]
        if len(offset) > 1:
            values["axis_offset"] = offset[1] / b
    if p.has("XAXISTILT"):
        values["pitch"] = p.numbers("XAXISTILT", 1)[0]
    if p.has("FULLIMAGE"):
        nx, ny = p.numbers("FULLIMAGE", 2, int)
        values["full_image"] = (-(-nx // b), -(-ny // b))
    if p.has("SUBSETSTART"):
        x0, y0 = p.numbers("SUBSETSTART", 2, int)
        values["subset_start"] = (int(x0 / b), int(y0 / b))
    if p.has("RADIAL"):
        values["radial"] = tuple(p.numbers("RADIAL", 2))
    if p.has("HammingLikeFilter"):
        values["hamming"] = p.numbers("HammingLikeFilter", 1)[0]
    if p.flag("FalloffIsTrueSigma"):
        values["true_sigma"] = True
    if p.flag("MultiplyByGaussian"):
        values["multiply_gaussian"] = True
    if p.has("FakeSIRTiterations"):
        values["fake_sirt"] = p.numbers("FakeSIRTiterations", 1, int)[0]
    if p.has("DENSWEIGHT"):
        values["density_weighting"] = max(0, int(round(p.numbers("DENSWEIGHT", (1, 100))[0])))
    values.update(_views(p))
    if p.has("LOG"):
        values["log_base"] = p.numbers("LOG", 1)[0]
    if p.has("SCALE"):
        values["scale"] = tuple(p.numbers("SCALE", 2))
    if p.has("MODE"):
        values["mode"] = p.numbers("MODE", 1, int)[0]
    values.update(_layout(p))
    if p.has("TITLE"):
        values["title"] = p.first("TITLE").value
    if p.has("SIRTIterations"):
        values["alg"] = "imod-sirt"
        values["iter"] = p.numbers("SIRTIterations", 1, int)[0]
    # IMOD's CPU path stretches lines (COSINTERP 1,2 by default) unless an angle exceeds 80 degrees or SIRT runs
    stretch = 2
    if p.has("COSINTERP"):
        order_factor = p.numbers("COSINTERP", (1, 2), int)
        stretch = 0 if order_factor[0] == 0 else (order_factor[1] if len(order_factor) > 1 else 2)
    values["interp"], values["cosine_stretch"] = "imod", stretch
    if p.has("XTILTINTERP") and p.whole_number("XTILTINTERP", 0, XTILT_ORDERS) == 0:
        values["interp"] = "linear"  # IMOD's old-style X-tilt path: tiltrec's own interpolation is the nearest
    return values, files, ignored


def _binned_size(p: TiltParams, key: str, binning: int) -> int:
    """THICKNESS or WIDTH (tilt's default thickness when absent) in pixels of the binned stack, by IMOD's integer
    division; less than one pixel is refused."""
    size = p.whole_number(key, 1) if p.has(key) else IMOD_DEFAULT_THICKNESS
    if size // binning < 1:
        named = f"line {p.first(key).line}: {key} {size}" if p.has(key) else f"the default {key} {size}"
        raise file_error(p.source, f"{named} is less than one pixel after IMAGEBINNED {binning}")
    return size // binning


def _views(p: TiltParams) -> dict:
    """EXCLUDELIST/EXCLUDELIST2 and INCLUDE as tiltrec's --exclude or --include lists (1-based view numbers)."""
    excluded = [e.value for k in ("EXCLUDELIST", "EXCLUDELIST2") for e in p.entries.get(k, [])]
    included = [e.value for e in p.entries.get("INCLUDE", [])]
    if excluded and included:
        raise file_error(p.source, "INCLUDE and EXCLUDELIST cannot both be given")
    if excluded:
        return {"exclude": ",".join(excluded)}
    if included:
        return {"include": ",".join(included)}
    return {}


def _layout(p: TiltParams) -> dict:
    chosen = [k for k in ("PERPENDICULAR", "PARALLEL", "RotateBy90") if p.flag(k)]
    if len(chosen) > 1 and "PERPENDICULAR" in chosen:
        chosen.remove("PERPENDICULAR")  # etomo writes PERPENDICULAR by default; the other entry is the request
    if len(chosen) > 1:
        raise file_error(p.source, f"{' and '.join(chosen)} exclude each other")
    return {"layout": {"PARALLEL": "parallel", "RotateBy90": "xyz"}.get(chosen[0], "xzy")} if chosen else {}
