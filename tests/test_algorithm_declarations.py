"""What an algorithm declares (algorithms.Algorithm) is what the run does with it: the backends it runs on, whether a
checkpoint continues it, whether it pads X, whether it needs the data mean; the run never tests names.  And the
iteration loop of the resumable algorithms (algorithms.iterating)."""

import ast
import inspect
from pathlib import Path

import numpy as np
import pytest

import tiltrec
from tiltrec.algorithms import ALGORITHMS, iterating, require_backend
from tiltrec.errors import InputError

SRC = Path(tiltrec.__file__).resolve().parent


@pytest.fixture(scope="module")
def views():
    return np.random.default_rng(1).random((9, 8, 16), dtype=np.float32), np.linspace(-40, 40, 9)


def test_imod_sirt_is_refused_on_a_gpu_before_the_gpu_is_opened(views, monkeypatch):
    from tiltrec.projectors.cuda import device

    def no_gpu(*args):
        raise AssertionError("the GPU was opened")

    monkeypatch.setattr(device, "open_device", no_gpu)
    with pytest.raises(InputError, match=r"^imod-sirt runs on CPUs only: use the -mpi command \(backend 'cpu'\)$"):
        tiltrec.reconstruct(*views, thickness=6, alg="imod-sirt", iter=2, backend="cuda")
    require_backend("imod-sirt", "cpu")
    for name in ALGORITHMS.keys() - {"imod-sirt"}:
        require_backend(name, "cuda")


def test_a_checkpoint_of_a_one_pass_algorithm_is_refused(views, tmp_path):
    with pytest.raises(InputError, match="checkpoint"):
        tiltrec.reconstruct(*views, tmp_path / "v.mrc", thickness=6, alg="wbp", checkpoint=tmp_path / "c.ckpt")
    assert not list(tmp_path.iterdir())


def test_the_declarations():
    def named(flag):
        return {name for name, alg in ALGORITHMS.items() if getattr(alg, flag)}

    assert named("resumable") == named("pads_x") == {"sirt", "sart", "admm"}
    assert named("needs_data_mean") == {"wbp", "imod-sirt"}
    assert {name for name, alg in ALGORITHMS.items() if alg.backends != ("cpu", "cuda")} == {"imod-sirt"}
    for alg in ALGORITHMS.values():  # a resumable algorithm takes the checkpoint store; no other does
        assert alg.resumable == ("checkpoint" in inspect.signature(alg.run).parameters), alg.name


def test_the_run_asks_the_declarations_not_the_names():
    """No algorithm's name in the modules that run a job."""
    names = set(ALGORITHMS)
    for path in [SRC / "reconstruction.py", *sorted((SRC / "strategies").rglob("*.py"))]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in names:
                pytest.fail(f"{path.relative_to(SRC)}:{node.lineno} tests the name {node.value!r}")


class SavedAt:
    """A checkpoint store that holds the state after ``iteration`` and records what is saved."""

    def __init__(self, iteration: int | None, x):
        self.iteration, self.x, self.saved = iteration, x, []

    def restore(self):
        if self.iteration is None:
            return None
        store = self

        class Arrays:
            def load(self, xp, name, target):
                assert name == "x"
                target[...] = store.x

        return self.iteration, Arrays()

    def save(self, iteration, arrays):
        self.saved.append((iteration, float(arrays["x"][0])))


@pytest.mark.parametrize("saved", [None, 2])
def test_the_iteration_loop_continues_a_saved_state(saved):
    x, steps, reported, fresh = np.zeros(1), [], [], []
    store = SavedAt(saved, np.array([20.0]))

    def step(k):
        steps.append(k)
        x[0] += 1

    iterating.run(5, step, {"x": x}, np, store, reported.append, lambda: fresh.append(1))
    first = saved or 0
    assert steps == list(range(first, 5)) and fresh == ([] if saved else [1])
    assert reported == ([saved] if saved else []) + [1] * (5 - first)
    start = 20.0 if saved else 0.0
    assert store.saved == [(k + 1, start + k + 1 - first) for k in range(first, 5)]
