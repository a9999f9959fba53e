"""Shared test helpers."""
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def _reference_file(filename: str) -> Path:
    """A reference file committed in ``tests/fixtures/`` (where each one comes from: its README.md).

    A missing file fails the test (it is never skipped): these facts are what the models are checked against.
    """
    path = FIXTURES / filename
    if not path.is_file():
        pytest.fail(f"reference file {path} is missing: it is committed in the repository "
                    "(see tests/fixtures/README.md)")
    return path


@pytest.fixture(scope="session")
def reference_file():
    """``reference_file("cp_mobile.json")``: the path of a committed reference file."""
    return _reference_file
