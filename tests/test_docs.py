"""The documentation keeps its promises: its runnable commands run, and links and figures resolve.

Runnable blocks: a fenced block whose info string is ``bash runnable`` or ``python runnable`` (GitHub shows it as
any ```bash or ```python block) holds commands or a Python script that run as written (a Python block with this
Python, ``python -c``). ``test_runnable_blocks_run`` runs every such block of README.md and
docs/**/*.md, so the pages cannot drift from the program:

- the blocks of a page in the page's order, each as one ``bash -e`` script, in a fresh temporary folder for that
  page (the working directory): a page's first blocks make the files its later ones use (the quick start begins
  with ``bin/demo``, other pages with ``tiltrec simulate``), and nothing is written into the checkout;
- with the folder of this Python's console scripts (the ``.venv/bin`` of ``bin/test``) first on ``PATH``, which
  stands in for ``source .venv/bin/activate``;
- ``bin/demo`` there is a stub that runs ``python -m tiltrec.demo ARGS --quiet``: the same demo without bin/demo's
  set-up check (which would install into .venv);
- a block that calls ``mpiexec`` is skipped with a warning where no ``mpiexec`` is installed;
- every block must exit with status 0, and the demo's correlations that the page quotes must be those it printed.

Everything else stays unmarked (```bash, ```text, ```console): ``bin/test`` (it would run this suite inside
itself), ``source``, the reader's own files (``tomo.ali``), programs that may be missing (``3dmod``), sample
output, and big examples. Runnable blocks keep to small sizes: the whole run takes about a minute on 2 cores.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
QUICKSTART = DOCS / "quickstart.md"
BIN = Path(sys.executable).parent
FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([^`]*)$")
RUNNABLE = "runnable"  # the word after the language that marks a block to run
RUN_WITH = {"bash": ["bash", "-e", "-c"], "python": [sys.executable, "-c"]}  # how a runnable block runs
LANGUAGES = {"", "bash", "text", "console", "python", "toml", "json"}  # what the pages' blocks may be written in
# "the correlation is 0.289 for WBP and 0.563 for SIRT": what a page says the demo prints (its table: name, time,
# correlation, NRMSE), checked against what it prints
DEMO_QUOTE = re.compile(r"([01]\.\d+) for WBP and ([01]\.\d+) for SIRT")
DEMO_ROW = re.compile(r"^(WBP|SIRT)\s+[\d.]+\s+([-\d.]+)", re.M)


# ------------------------------------------------------------------------------------------- markdown
def fenced_blocks(text: str) -> list[tuple[list[str], str]]:
    """``(info words, body)`` of every fenced code block, in order (``["bash", "runnable"]`` for
    ```bash runnable)."""
    blocks, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence, info = len(m.group(1)), m.group(2), m.group(3).lower().split()
        body, i = [], i + 1
        while i < len(lines) and not lines[i].strip().startswith(fence):
            body.append(lines[i][indent:] if not indent or lines[i][:indent].isspace() else lines[i].lstrip())
            i += 1
        blocks.append((info, "\n".join(body)))
        i += 1
    return blocks


def runnable_blocks(page: Path) -> list[tuple[str, str]]:
    """``(language, body)`` of the page's runnable blocks: ```bash runnable and ```python runnable."""
    return [(info[0], body) for info, body in fenced_blocks(page.read_text())
            if info[1:] == [RUNNABLE] and info[0] in RUN_WITH]


def doc_pages() -> list[Path]:
    return sorted([ROOT / "README.md", *DOCS.glob("*.md"), *DOCS.glob("algorithms/*.md")])


def pages_with_runnable_blocks() -> list[Path]:
    return [page for page in doc_pages() if runnable_blocks(page)]


# --------------------------------------------------------------------------------------------- tests
def test_fenced_blocks_read_the_marker():
    text = "a\n```bash runnable\nls\n```\n  ```text\n  x\n  ```\n~~~\ny\n~~~\n"
    assert fenced_blocks(text) == [(["bash", "runnable"], "ls"), (["text"], "x"), ([], "y")]


@pytest.mark.parametrize("page", doc_pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_info_strings_are_known(page):
    """A block is in a known language, and the only word after it is the marker: a misspelt marker
    (```bash runable) would silently leave a block out of the test."""
    for info, body in fenced_blocks(page.read_text()):
        assert info[:1] == [] or info[0] in LANGUAGES, f"{page.name}: unknown language {info[0]!r}:\n{body}"
        assert info[1:] == [] or (info[1:] == [RUNNABLE] and info[0] in RUN_WITH), (
            f"{page.name}: info string {' '.join(info)!r}: only ```bash {RUNNABLE} and ```python {RUNNABLE} mark a "
            f"block to run")


def test_the_quick_start_begins_with_the_demo():
    blocks = runnable_blocks(QUICKSTART)
    assert blocks and blocks[0][1].split()[0] == "bin/demo", "the quick start's first runnable block must be " \
                                                             "bin/demo"


@pytest.mark.slow
@pytest.mark.parametrize("page", pages_with_runnable_blocks(), ids=lambda p: str(p.relative_to(ROOT)))
def test_runnable_blocks_run(page, tmp_path):
    """Run the page's runnable blocks in order, as a reader would (see the module doc)."""
    (tmp_path / "bin").mkdir()
    demo = tmp_path / "bin" / "demo"
    demo.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m tiltrec.demo "$@" --quiet\n')
    demo.chmod(0o755)
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    has_mpiexec = shutil.which("mpiexec", path=env["PATH"]) is not None
    log = []
    for language, block in runnable_blocks(page):
        if re.search(r"\bmpiexec\b", block) and not has_mpiexec:
            warnings.warn(f"no mpiexec: not run:\n{block}")
            continue
        start = time.perf_counter()
        done = subprocess.run([*RUN_WITH[language], block], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=300)
        log.append(f"{time.perf_counter() - start:5.1f} s  {block.splitlines()[0]}")
        assert done.returncode == 0, (f"{page.name}: runnable block failed (exit {done.returncode}):\n{block}\n"
                                      f"stdout:\n{done.stdout[-2000:]}\nstderr:\n{done.stderr[-2000:]}")
        if block.split()[0] == "bin/demo":
            printed = dict(DEMO_ROW.findall(done.stdout))
            for wbp, sirt in DEMO_QUOTE.findall(page.read_text()):
                assert (wbp, sirt) == (printed.get("WBP"), printed.get("SIRT")), (
                    f"{page.name} quotes {wbp} for WBP and {sirt} for SIRT; the demo printed:\n{done.stdout}")
    print("\n".join(log))


# ---------------------------------------------------------------------------------- prose against the program
OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
# Options of other programs that the pages name: Slurm's #SBATCH, pip, nvcc, mpiexec, and Open MPI's
# --oversubscribe (named as the option MPICH's mpiexec refuses).
OTHER_PROGRAMS = {"--cpus-per-task", "--job-name", "--mem", "--nodes", "--ntasks-per-node", "--time", "--no-binary",
                  "--ptx", "--oversubscribe", "--bogus"}  # --bogus: the example of a mistyped option
NOT_OFFERED = re.compile(r"not available|not offered|does not offer|not implemented", re.I)


def outside_fences(text: str):
    """The lines of Markdown ``text`` outside fenced code blocks."""
    fence = None
    for line in text.splitlines():
        m = FENCE.match(line)
        if fence is None and m:
            fence = m.group(2)
        elif fence is not None and line.strip().startswith(fence):
            fence = None
        elif fence is None:
            yield line


def items(page: Path) -> list[str]:
    """The paragraphs, list items and table rows of a page, fenced code left out (inline code kept)."""
    found = []
    for line in outside_fences(page.read_text()):
        if not line.strip() or re.match(r"\s*([-*] |\||#)", line) or not found:
            found.append("")
        found[-1] += " " + line.strip()
    return [item.strip() for item in found if item.strip()]


def test_options_the_docs_name_exist():
    """Every --option on the pages is one of the commands' (their --help), bin/demo's, bin/bench's or
    bin/gpu-check's."""
    from typer.testing import CliRunner

    from cli_helpers import FLAVORS, cli
    from tiltrec.cli.tools import app

    helps = [cli("--help", prog=program).stdout for program in FLAVORS]
    tools = ("simulate", "frc", "preview", "info", "reproject")
    helps += [CliRunner().invoke(app, [tool, "--help"]).stdout for tool in tools]
    for module in ("tiltrec.demo", "benchmarks.run", "benchmarks.device_check"):  # bin/demo, bench, gpu-check
        helps.append(subprocess.run([sys.executable, "-m", module, "--help"], cwd=ROOT, capture_output=True,
                                    text=True, timeout=60, check=True).stdout)
    known = set(OTHER_PROGRAMS).union(*(OPTION.findall(text) for text in helps))
    unknown = [f"{page.relative_to(ROOT)}: {option}" for page in doc_pages()
               for option in sorted(set(OPTION.findall(page.read_text())) - known)]
    assert not unknown, "options no command has:\n" + "\n".join(unknown)


def test_tilt_keys_the_docs_call_unavailable_are_refused():
    """A tilt.com key that a page calls not available (not offered, not implemented) is one that --com refuses, so
    that a page cannot call a key tiltrec reads (LOG, XTILTFILE, SIRTIterations, PARALLEL) unavailable.
    (troubleshooting.md quotes messages about values of supported keys, such as XTILTINTERP 2, and is left out.)"""
    from tiltrec.cli.imod_com import TILT_KEYS, UNSUPPORTED

    pages = [page for page in doc_pages() if page.name != "troubleshooting.md"]
    wrong = [f"{page.relative_to(ROOT)}: {key} in {item!r}" for page in pages for item in items(page)
             if NOT_OFFERED.search(item)
             for key in sorted(set(re.findall(r"\w+", item)) & TILT_KEYS.keys()) if TILT_KEYS[key][1] != UNSUPPORTED]
    assert not wrong, "keys tiltrec reads, called not available:\n" + "\n".join(wrong)


# ------------------------------------------------------------------------------------------- links
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
CODE_SPAN = re.compile(r"`+[^`]*`+")


def prose(text: str) -> str:
    """``text`` without fenced code blocks and inline code spans (links there are not links)."""
    return "\n".join(CODE_SPAN.sub("", line) for line in outside_fences(text))


def anchors(page: Path) -> set[str]:
    """GitHub's anchors for the headings of a Markdown page: lower case, punctuation dropped, spaces to '-'."""
    found = set()
    for line in outside_fences(page.read_text()):
        if re.match(r"^#{1,6}\s", line):
            heading = line.lstrip("#").strip().lower()
            found.add(re.sub(r"[^\w\- ]", "", heading).replace(" ", "-"))
    return found


@pytest.mark.parametrize("page", doc_pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page):
    """Every relative link and image of the page points to an existing file (and heading, for #anchors)."""
    broken = []
    for target in LINK.findall(prose(page.read_text())):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # http:, https:, mailto:
            continue
        path_part, _, anchor = target.partition("#")
        dest = (page.parent / path_part).resolve() if path_part else page
        if not dest.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and dest.suffix == ".md" and anchor.lower() not in anchors(dest):
            broken.append(f"{target} (no heading #{anchor} in {dest.name})")
    assert not broken, f"{page.relative_to(ROOT)}: broken links: {', '.join(broken)}"


def test_figures_are_small_and_used():
    """docs/figures/*.png (made by docs/make_figures.py) stay under 100 kB and are shown on some page."""
    figures = sorted((DOCS / "figures").glob("*.png"))
    assert figures, "no figures in docs/figures (run python docs/make_figures.py)"
    used = {(page.parent / t.partition("#")[0]).resolve()
            for page in doc_pages() for t in LINK.findall(prose(page.read_text()))}
    for png in figures:
        assert png.stat().st_size < 100_000, f"{png.name} is {png.stat().st_size} bytes"
        assert png.resolve() in used, f"{png.name} is not shown on any page"
