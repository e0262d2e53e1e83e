import signal
import sys
from pathlib import Path

import pytest

# the scripts that made the reference data (tests/data/make_*.py) hold what the tests need to use it again
sys.path.insert(0, str(Path(__file__).parent / "data"))


def pytest_configure(config):
    """Signals deliverable again where the run inherited them ignored (a job started with ``&`` by a
    non-interactive shell ignores SIGINT and SIGQUIT, and so would every program the tests start): the signal
    tests send them on purpose, and tiltrec rightly leaves an inherited SIG_IGN alone."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if signal.getsignal(signal.SIGQUIT) == signal.SIG_IGN:
        signal.signal(signal.SIGQUIT, signal.SIG_DFL)


@pytest.fixture
def shared_dir() -> Path:
    """The shared folder beside the project (real test data, references); skip without it."""
    path = Path(__file__).resolve().parents[1].parent / "shared"
    if not path.is_dir():
        pytest.skip(f"{path} is not available")
    return path
