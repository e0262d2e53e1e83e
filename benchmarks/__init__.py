"""tiltrec benchmark harness: ``bin/bench`` (or ``python -m benchmarks.run``); see benchmarks/README.md."""
