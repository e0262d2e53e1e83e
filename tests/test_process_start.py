"""Every command's process starts alike (cli.process_start): NumPy's arrays on ordinary pages unless the user chose.

Each case runs in a fresh interpreter: the test process's NumPy must keep its own setting.
"""

import os
import subprocess
import sys

import pytest

PROBE = """
import os, sys
sys.argv = [{program!r}, "--no-such-option"]  # a usage error: exit 2, back here
{before}
from {module} import {entry} as entry
try:
    entry()
except SystemExit:
    pass
import numpy
core = getattr(numpy, "_core", None) or numpy.core
print(os.environ.get("NUMPY_MADVISE_HUGEPAGE"), core.multiarray._get_madvise_hugepage())
"""


def probe(program: str, module: str, entry: str, env_value: str | None, numpy_first: bool) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != "NUMPY_MADVISE_HUGEPAGE"}
    if env_value is not None:
        env["NUMPY_MADVISE_HUGEPAGE"] = env_value
    code = PROBE.format(program=program, module=module, entry=entry, before="import numpy" if numpy_first else "")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.split("\n")[-2].split()


@pytest.mark.parametrize("program, module, entry", [
    ("tiltrec-mpi", "tiltrec.cli.commands", "tiltrec_mpi"),
    ("tiltrecz-cuda", "tiltrec.cli.commands", "tiltrecz_cuda"),
    ("tiltrec", "tiltrec.cli.tools", "main"),  # imports NumPy before its entry runs
])
@pytest.mark.parametrize("numpy_first", [False, True])
def test_commands_keep_numpy_off_huge_pages(program, module, entry, numpy_first):
    assert probe(program, module, entry, None, numpy_first) == ["0", "False"]


@pytest.mark.parametrize("numpy_first", [False, True])
def test_the_users_choice_of_huge_pages_stays(numpy_first):
    assert probe("tiltrec-mpi", "tiltrec.cli.commands", "tiltrec_mpi", "1", numpy_first) == ["1", "True"]
