from pathlib import Path

import pytest


@pytest.fixture
def shared_dir() -> Path:
    """The shared folder beside the project (real test data, references); skip without it."""
    path = Path(__file__).resolve().parents[1].parent / "shared"
    if not path.is_dir():
        pytest.skip(f"{path} is not available")
    return path
