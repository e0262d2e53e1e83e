import sys
from pathlib import Path

import pytest

# the scripts that made the reference data (tests/data/make_*.py) hold what the tests need to use it again
sys.path.insert(0, str(Path(__file__).parent / "data"))


@pytest.fixture
def shared_dir() -> Path:
    """The shared folder beside the project (real test data, references); skip without it."""
    path = Path(__file__).resolve().parents[1].parent / "shared"
    if not path.is_dir():
        pytest.skip(f"{path} is not available")
    return path
