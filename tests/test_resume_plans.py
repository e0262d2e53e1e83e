"""A resumed run computes the slabs the interrupted one planned, whatever memory it has now: the checkpoint holds
the slab plan, and a resume with another --memory (or another default: the available RAM) gives the
uninterrupted result bit for bit, or is refused in one line if the saved slabs do not fit.  (The GPU's free memory
at resume: tests/test_cuda_kernels.py.)"""

import json

import numpy as np
import pytest

from checkpoint_files import edit_meta
from cli_helpers import interrupt_checkpoint_at

import tiltrec
from tiltrec.errors import InputError
from tiltrec.formats import read_volume
from tiltrec.strategies.checkpoint import VERSION

# SIRT with an X-axis tilt: its slabs carry a halo and their seams are approximations, so the result depends on
# the slab plan (200 kB: 5 slabs; 600 kB would plan 2)
OPTIONS = dict(thickness=11, alg="sirt", iter=3, pitch=4.0)
MEMORY = 200_000


@pytest.fixture(scope="module")
def views():
    rng = np.random.default_rng(4)
    views = rng.random((21, 19, 33), dtype=np.float32)
    views[:, :, 10:20] += 2.0
    return views, np.linspace(-60, 60, 21)


def interrupted(views, tmp_path, monkeypatch):
    """A checkpointed run stopped once its first slab is on disk; returns (output, checkpoint)."""
    out, ck = tmp_path / "out.mrc", tmp_path / "run.ckpt"
    interrupt_checkpoint_at(monkeypatch, 2)
    with pytest.raises(KeyboardInterrupt), pytest.warns(UserWarning, match="--resume"):
        tiltrec.reconstruct(*views, out, checkpoint=ck, memory=MEMORY, **OPTIONS)
    monkeypatch.undo()
    return out, ck


def meta(ck) -> dict:
    with np.load(ck) as stored:
        return json.loads(str(stored["meta"]))


def test_the_plan_matters_here(views):
    """(Else the tests below would pass with any plan.)"""
    ours = tiltrec.reconstruct(*views, memory=MEMORY, **OPTIONS)
    assert not np.array_equal(ours, tiltrec.reconstruct(*views, memory=3 * MEMORY, **OPTIONS))


@pytest.mark.parametrize("memory", [3 * MEMORY, None], ids=["more", "default"])
def test_a_resume_with_other_memory_continues_the_saved_plan(views, tmp_path, monkeypatch, memory):
    whole = tiltrec.reconstruct(*views, memory=MEMORY, **OPTIONS)
    out, ck = interrupted(views, tmp_path, monkeypatch)
    saved = meta(ck)
    assert saved["version"] == VERSION and len(saved["plan"]) == 5 and "slabs" not in saved["identity"]
    assert [entry[:2] for entry in saved["finished"]] == [[0, 0]]  # the first slab of the plan
    tiltrec.reconstruct(*views, out, checkpoint=ck, resume=True, memory=memory, **OPTIONS)
    np.testing.assert_array_equal(read_volume(out)[0], whole)
    assert not ck.exists()


def test_saved_slabs_that_do_not_fit_now_are_refused_in_one_line(views, tmp_path, monkeypatch):
    out, ck = interrupted(views, tmp_path, monkeypatch)
    with pytest.raises(InputError) as refused:
        tiltrec.reconstruct(*views, out, checkpoint=ck, resume=True, memory=MEMORY // 2, **OPTIONS)
    message = str(refused.value)
    assert message.startswith(f"{ck}: its slabs need about ") and "more than memory allows now" in message
    assert "\n" not in message
    assert ck.exists() and not out.exists()
    tiltrec.reconstruct(*views, out, checkpoint=ck, resume=True, memory=MEMORY, **OPTIONS)  # still resumable
    np.testing.assert_array_equal(read_volume(out)[0], tiltrec.reconstruct(*views, memory=MEMORY, **OPTIONS))


@pytest.mark.parametrize("craft,words", [
    (lambda m: m.update(version=2), "a checkpoint in format 2, which this tiltrec"),
    (lambda m: m["plan"].pop(), "cannot be read as a tiltrec checkpoint: its slabs are not a plan of slices 0-18"),
    (lambda m: m["plan"][1].__setitem__(2, 0), "cannot be read as a tiltrec checkpoint: its slabs are not a plan"),
    (lambda m: m.update(plan="all"), "cannot be read as a tiltrec checkpoint: no slab plan"),
    (lambda m: m["plan"].append([19, "20", 18, 19]), "cannot be read as a tiltrec checkpoint: slab [19, '20'"),
], ids=["old-version", "other-slices", "halo", "no-list", "strings"])
def test_an_old_or_crafted_plan_is_refused_in_one_line(views, tmp_path, monkeypatch, craft, words):
    out, ck = interrupted(views, tmp_path, monkeypatch)
    edit_meta(ck, craft)
    with pytest.raises(InputError) as refused:
        tiltrec.reconstruct(*views, out, checkpoint=ck, resume=True, memory=MEMORY, **OPTIONS)
    message = str(refused.value)
    assert message.startswith(f"{ck}: ") and words in message and "\n" not in message, message
    assert ck.exists() and not out.exists()
