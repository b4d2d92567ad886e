from __future__ import annotations

import os
from pathlib import Path

import hypothesis
import pytest

hypothesis.settings.register_profile("ci", deadline=None, derandomize=True, max_examples=40, print_blob=True)
hypothesis.settings.register_profile("dev", deadline=None, max_examples=100)
hypothesis.settings.register_profile("thorough", deadline=None, max_examples=2000)  # by hand, before a release
hypothesis.settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

# Files python-mrcz 0.6.0 wrote, with the arrays they hold (see data/README.md).
FIXTURES = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def fixtures() -> Path:
    assert FIXTURES.is_dir(), f"interop fixtures missing at {FIXTURES}"
    return FIXTURES
