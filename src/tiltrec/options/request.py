"""From what a caller asked for to checked ``Options``: one path for the command line, tilt.com files and
``tiltrec.reconstruct``.

``given`` are the options the caller chose (typed on the command line, passed to the API): one that has no effect
on the chosen algorithm or backend is refused, so that a forgotten ``--alg sirt`` is not a silent WBP.  Values
from a tilt.com that do not apply are dropped, as IMOD ignores them.
"""

from __future__ import annotations

import difflib
import warnings
from collections.abc import Mapping
from pathlib import Path

from ..errors import InputError
from ..limits import Limit
from .model import Options
from .spelling import API, spelled
from .table import BY_NAME, Option


def make_options(given: Mapping[str, object], from_file: Mapping[str, object] | None = None,
                 front: str = API) -> Options:
    """Checked options from the values the caller gave (by option name; None: not given) over those of a
    parameter file (``from_file``), over the defaults of the ``front`` end (CLI or API).  InputError (one line)
    for a value of the wrong kind, out of range, or for an option that does not apply."""
    chosen = {name: value for name, value in given.items() if value is not None}
    for name in chosen.keys() | (from_file or {}).keys():
        if name not in BY_NAME:
            raise unknown_option(name)
    values = {o.name: o.default_for(front) for o in BY_NAME.values()}
    filed = {name: converted(name, value) for name, value in (from_file or {}).items() if value is not None}
    typed = {name: converted(name, value) for name, value in chosen.items()}
    values.update(filed)
    values.update(typed)
    for name in sorted(filed.keys() - typed.keys(), key=_after_what_they_require):
        _drop_if_inapplicable(BY_NAME[name], values)
    for name in sorted(typed, key=list(BY_NAME).index):  # the first in the table's order is named
        _require_applies(BY_NAME[name], typed[name], values)
    _check_together(values)
    return Options.of(values)


def _after_what_they_require(name: str) -> int:
    """Options that work with another one are judged after it (a dropped --interp imod drops its stretch)."""
    return BY_NAME[name].requires is not None


def unknown_option(name: str) -> TypeError:
    """The error for a keyword that is no option, with the nearest names."""
    near = difflib.get_close_matches(name, list(BY_NAME), n=1, cutoff=0.5)
    hint = f" (did you mean {' or '.join(repr(n) for n in near)}?)" if near else ""
    return TypeError(f"unexpected keyword argument {name!r}{hint}")


def converted(name: str, value):
    """``value`` (text or typed) as option ``name``'s typed value, checked against its range."""
    option = BY_NAME[name]
    value = option.kind.convert(value, name)
    check_limit(option, value)
    return value


def check_limit(option: Option, value) -> None:
    """An InputError naming the option unless ``value`` is within its range."""
    limit = option.limit
    if limit is None or value is None or isinstance(value, Path):  # a file's values are checked once read
        return
    if isinstance(limit, Limit):
        limit.check(value, spelled(option.name))
        return
    parts = option.kind.metavar.split(",")
    for part, one, entry in zip(parts, limit, value):
        one.check(entry, f"{spelled(option.name)} {part}")


def _applies(option: Option, value, values: dict) -> str | None:
    """Why ``option`` with ``value`` has no effect among ``values`` (the chosen algorithm, backend and other
    options); None if it has."""
    return _not_here(option, values) or _backend_cannot(option, value, values) or _missing_partner(option, values)


def _not_here(option: Option, values: dict) -> str | None:
    """Why the option has no effect with this algorithm, backend or other options whatever its value."""
    alg, backend = values["alg"], values["backend"]
    if option.algorithms is not None and alg not in option.algorithms:
        return f"{spelled(option.name)} applies to {', '.join(option.algorithms)}; not to {alg}"
    if option.backends is not None and backend not in option.backends:
        return f"{spelled(option.name)} applies to the {' and '.join(option.backends)} backend; not to {backend}"
    if option.excluded_by is not None and values[option.excluded_by] is not None:
        return f"{spelled(option.name)} has no effect with {spelled(option.excluded_by)}"
    return None


def _backend_cannot(option: Option, value, values: dict) -> str | None:
    """Why this backend cannot run the option's ``value``."""
    backend = values["backend"]
    for restricted, backends in option.value_backends:
        if value == restricted and backend not in backends:
            return f"{spelled(option.name)} {value} runs on the {' and '.join(backends)} backend only; not on {backend}"
    return None


def _missing_partner(option: Option, values: dict) -> str | None:
    """Why the option has no effect without the option (and value) it works with."""
    if option.requires is not None:
        other, wanted = option.requires
        if values[other] is None or (wanted is not None and values[other] != wanted):
            return f"{spelled(option.name)} works with {spelled(other)}{'' if wanted is None else f' {wanted}'}"
    return None


def _require_applies(option: Option, value, values: dict) -> None:
    problem = _applies(option, value, values)
    if problem:
        raise InputError(problem)


def _drop_if_inapplicable(option: Option, values: dict) -> None:
    """A parameter file's value that has no effect here goes back to the default; IMOD's interpolation, which a
    GPU cannot run, is said to be replaced (the result differs from IMOD's)."""
    value = values[option.name]
    problem = _applies(option, value, values)
    if problem is None:
        return
    if option.refuse_unless_applies:
        raise InputError(f"{problem} (IMOD's {'/'.join(option.imod)} in the parameter file)")
    if _not_here(option, values) is None and _backend_cannot(option, value, values):
        warnings.warn(f"{problem}: using {option.default} instead (the result differs from IMOD's slightly)")
    values[option.name] = option.default


def _check_together(values: dict) -> None:
    """Rules between options."""
    if values["thickness"] is None:
        raise InputError(f"{spelled('thickness')} is required (output thickness in pixels, e.g. "
                         f"{spelled('thickness')}{' ' if spelled('thickness').startswith('-') else '='}256)")
    if values["alg"] == "imod-sirt" and values["iter"] is None:
        raise InputError(f"imod-sirt needs {spelled('iter')} (IMOD's SIRTIterations, which has no default)")
    if values["exclude"] is not None and values["include"] is not None:
        raise InputError(f"give the views to leave out ({spelled('exclude')}) or to keep ({spelled('include')}), "
                         f"not both")
    if values["radial"] is not None and values["hamming"] is not None:
        raise InputError(f"{spelled('radial')} and {spelled('hamming')} exclude each other")
