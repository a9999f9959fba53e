"""Shared test helpers."""
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _shared_reference(filename: str) -> Path:
    """A file of the shared reference folder: ``$ASCLAB_SHARED/reference`` or ``../shared/reference``.

    A missing file fails the test (it is never skipped): these facts are what the models are checked against.
    """
    shared = Path(os.environ.get("ASCLAB_SHARED", REPO.parent / "shared"))
    path = shared / "reference" / filename
    if not path.is_file():
        pytest.fail(f"reference file {path} is missing: set ASCLAB_SHARED to the folder holding "
                    f"reference/{filename} (the shared reference facts)")
    return path


@pytest.fixture(scope="session")
def shared_reference():
    """``shared_reference("cp_mobile.json")``: the path of a shared reference file (see ``_shared_reference``)."""
    return _shared_reference
