"""The documentation keeps its promises: the quick start's commands run, and links and figures resolve.

Convention for docs/quickstart.md (stated again at the top of that page):

- A fenced block marked ```bash holds commands that run *as written* from the repository root, once
  ``bin/demo`` has written ``demo-output/``. This test runs every one of them, in order.
- Anything illustrative (the reader's own files such as ``mytomo.ali``, programs that may be missing such as
  ``3dmod``, sample output) goes into blocks marked ```text or ```console, which are not run.
- README.md's examples use placeholder files (``tomo.ali``), so only the quick start is run.

How the quick start's ```bash commands are run (``test_quickstart_commands_run``):

- in a fresh temporary folder as the working directory, so that ``demo-output/...`` resolves there and nothing
  is written into the checkout;
- with the folder of this Python's console scripts (the ``.venv/bin`` of ``bin/test``) first on ``PATH``; that
  stands in for ``source .venv/bin/activate``, which is skipped;
- ``bin/demo [ARGS]`` becomes ``python -m tiltrec.demo [ARGS] --quiet``: the same demo without the set-up check
  (the quick start must begin with it);
- ``bin/test`` is skipped: it would run this suite inside itself;
- ``mpiexec`` commands are skipped with a warning when no ``mpiexec`` is installed;
- every command must exit with status 0, and every file it names (a word ending in ``.mrc``, ``.png``, ...)
  must exist afterwards.
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

# Programs a ```bash command of the quick start may start with (anything else belongs in ```text/```console).
RUNNABLE = {"bin/demo", "bin/test", "source", ".", "tiltrec", "tiltrec-mpi", "tiltrecz-mpi", "mpiexec", "python"}
SKIPPED = {"bin/test": "would run the test suite inside itself",
           "source": "stood in for by PATH", ".": "stood in for by PATH"}
FILE_WORD = re.compile(r"^[\w./-]+\.(?:mrc|rec|st|ali|mrcs|tlt|rawtlt|hdf|h5|png|txt)$")
FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([\w+-]*)")


# ------------------------------------------------------------------------------------------- markdown
def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """``(info, body)`` of every fenced code block, in order (``info`` is the word after the fence)."""
    blocks, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence, info = len(m.group(1)), m.group(2), m.group(3).lower()
        body, i = [], i + 1
        while i < len(lines) and not lines[i].strip().startswith(fence):
            body.append(lines[i][indent:] if lines[i][:indent].isspace() else lines[i].lstrip())
            i += 1
        blocks.append((info, "\n".join(body)))
        i += 1
    return blocks


def split_commands(script: str) -> list[str]:
    """Commands of a shell block: comment and blank lines dropped, ``\\`` continuations and quoted line breaks
    joined."""
    commands, pending = [], ""
    for line in script.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        pending = f"{pending}\n{line}" if pending else line
        if pending.endswith("\\"):
            pending = pending[:-1]
            continue
        try:
            shlex.split(pending, comments=True)
        except ValueError:  # an open quote: the command goes on
            continue
        commands.append(pending.strip())
        pending = ""
    assert not pending, f"unfinished command in a ```bash block: {pending!r}"
    return commands


def quickstart_commands() -> list[str]:
    text = QUICKSTART.read_text()
    return [c for info, body in fenced_blocks(text) if info == "bash" for c in split_commands(body)]


def named_files(command: str) -> list[str]:
    """The words of ``command`` that look like file names (``demo-output/sirt20.mrc``)."""
    return [w for w in shlex.split(command, comments=True) if not w.startswith("-") and FILE_WORD.match(w)]


# --------------------------------------------------------------------------------------------- tests
def test_quickstart_bash_blocks_are_commands():
    """Every ```bash command starts with a program the quick start installs; the first is bin/demo."""
    commands = quickstart_commands()
    assert commands, f"no ```bash blocks in {QUICKSTART}"
    assert shlex.split(commands[0])[0] == "bin/demo", "the quick start must begin with bin/demo"
    for command in commands:
        program = shlex.split(command, comments=True)[0]
        assert program in RUNNABLE, (f"{program!r} in a ```bash block of quickstart.md: use ```text or ```console "
                                     f"for commands the test cannot run ({command!r})")


def test_split_commands_joins_continuations_and_quotes():
    script = "# note\n\ntiltrec-mpi --thickness 96 \\\n    a.mrc a.tlt b.mrc\npython -c \"\nprint(1)\n\"\nls\n"
    assert split_commands(script) == ["tiltrec-mpi --thickness 96 \n    a.mrc a.tlt b.mrc",
                                      "python -c \"\nprint(1)\n\"", "ls"]
    assert named_files("tiltrec preview demo-output/x.mrc -o demo-output/x.png") == ["demo-output/x.mrc",
                                                                                       "demo-output/x.png"]


@pytest.mark.slow
def test_quickstart_commands_run(tmp_path):
    """Run the quick start's ```bash commands in order, as a reader would after `bin/demo` (see the module doc)."""
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    has_mpiexec = shutil.which("mpiexec", path=env["PATH"]) is not None
    log = []
    for command in quickstart_commands():
        words = shlex.split(command, comments=True)
        if words[0] in SKIPPED:
            log.append(f"skipped ({SKIPPED[words[0]]}): {command}")
            continue
        if words[0] == "mpiexec" and not has_mpiexec:
            warnings.warn(f"no mpiexec: not run: {command}")
            continue
        run = command
        if words[0] == "bin/demo":
            run = shlex.join([sys.executable, "-m", "tiltrec.demo", *words[1:], "--quiet"])
        start = time.perf_counter()
        result = subprocess.run(["bash", "-c", run], cwd=tmp_path, env=env, capture_output=True, text=True,
                                timeout=300)
        log.append(f"{time.perf_counter() - start:5.1f} s  {command}")
        assert result.returncode == 0, (f"quick start command failed (exit {result.returncode}): {command}\n"
                                        f"stdout:\n{result.stdout[-2000:]}\nstderr:\n{result.stderr[-2000:]}")
        missing = [f for f in named_files(command) if not (tmp_path / f).exists()]
        assert not missing, f"{command}\ndid not leave {', '.join(missing)}"
    print("\n".join(log))


# ------------------------------------------------------------------------------------------- links
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
CODE_SPAN = re.compile(r"`+[^`]*`+")


def doc_pages() -> list[Path]:
    return sorted([ROOT / "README.md", *DOCS.glob("*.md"), *DOCS.glob("algorithms/*.md")])


def prose(text: str) -> str:
    """``text`` without fenced code blocks and inline code spans (links there are not links)."""
    out, fence = [], None
    for line in text.splitlines():
        m = FENCE.match(line)
        if fence is None and m:
            fence = m.group(2)
        elif fence is not None and line.strip().startswith(fence):
            fence = None
        elif fence is None:
            out.append(CODE_SPAN.sub("", line))
    return "\n".join(out)


def anchors(page: Path) -> set[str]:
    """GitHub's anchors for the headings of a Markdown page: lower case, punctuation dropped, spaces to '-'."""
    found, fence = set(), None
    for line in page.read_text().splitlines():
        m = FENCE.match(line)
        if fence is None and m:
            fence = m.group(2)
        elif fence is not None and line.strip().startswith(fence):
            fence = None
        elif fence is None and re.match(r"^#{1,6}\s", line):
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
