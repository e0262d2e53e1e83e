"""docs/options.md, made from options.table: ``python -m tiltrec.options.reference > docs/options.md``.

tests/test_docs.py checks that the page is what this prints, so the page cannot drift from the table.
"""

from __future__ import annotations

from .table import BY_NAME, GROUPS, OPTIONS, SPELLINGS

INTRO = """# Options

Every option of the reconstruction commands (`tiltrec-mpi`, `tiltrecz-mpi`, `tiltrec-cuda`, `tiltrecz-cuda`)
and of `tiltrec.reconstruct`, from the one table they are all made from (`src/tiltrec/options/table.py`). The
Python keyword is the command-line name with `_` for `-` (`--log-base` is `log_base=`); the Python API takes
numbers, tuples and arrays where the command line takes text or files (`radial=(0.35, 0.05)`,
`xtilt=[0.1, ...]`, `init=volume`). An option given for an algorithm or backend it does not apply to is
refused (exit code 2, one line), so that a forgotten `--alg sirt` is not a silent WBP; the keys of a tilt.com
that do not apply are ignored, as IMOD ignores them. Python callers get `quiet=True` by default.

This page is generated: `python -m tiltrec.options.reference > docs/options.md`.
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\\\|")


def _spellings(option) -> str:
    names = [option.long_flag + (f" / {option.negative}" if option.negative else ""), *option.flags]
    return ", ".join(f"`{n}`" for n in names) if option.cli else "(Python only)"


def markdown() -> str:
    lines = [INTRO]
    for group in GROUPS:
        lines += [f"## {group.title()}", "",
                  "| Option | Python | Default | Unit | Applies to | tilt.com | What it does |",
                  "|---|---|---|---|---|---|---|"]
        for o in OPTIONS:
            if o.group != group:
                continue
            where = ", ".join(o.algorithms) if o.algorithms else "all"
            if o.backends:
                where += f" (backend {', '.join(o.backends)})"
            for value, backends in o.value_backends:
                where += f"; `{value}` on {', '.join(backends)} only"
            if o.excluded_by:
                where += f"; not with `{BY_NAME[o.excluded_by].long_flag}`"
            imod = ", ".join(o.imod)
            default = o.default_words() or ""
            lines.append(f"| {_spellings(o)} | `{o.name}` | {_cell(default)} | {o.unit} | {where} | {imod} | "
                         f"{_cell(o.help)} |")
        lines.append("")
    lines += ["## TiltRec's combined spellings (command line only)", "", "| Option | Sets | What it does |",
              "|---|---|---|"]
    for s in SPELLINGS:
        lines.append(f"| `{s.long_flag} {s.usage}` | {', '.join(f'`{p}`' for p in s.parts)} | {s.help} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
