"""bin/bench's measure of the back-projection's inner loop alone (benchmarks/back_loop.c via ceiling.back_loop)."""

import sysconfig

import pytest

from benchmarks import ceiling


def test_the_loop_builds_runs_and_reports_every_chunk():
    result = ceiling.back_loop(threads=1, seconds=0.01)
    assert result["fma_gflops"] > 0
    chunks = [(lanes, values) for lanes, values, _ in result["loops"]]
    assert chunks[:3] == [(8, 32), (8, 64), (8, 128)]
    assert set(chunks[3:]) <= {(16, 32), (16, 64), (16, 128)}  # with AVX-512 only
    assert all(gups > 0 for _, _, gups in result["loops"])


def test_a_missing_compiler_is_an_error_that_names_the_program(monkeypatch):
    real = sysconfig.get_config_var
    monkeypatch.setattr(sysconfig, "get_config_var",
                        lambda name: "/nonexistent/cc" if name == "CC" else real(name))
    with pytest.raises(RuntimeError, match="back_loop.c"):
        ceiling.back_loop(threads=1, seconds=0.01)
