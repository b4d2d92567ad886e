from __future__ import annotations

import os

import hypothesis
import pytest

# The GUI tests draw real widgets without a display.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

hypothesis.settings.register_profile("ci", deadline=None, derandomize=True, max_examples=30, print_blob=True)
hypothesis.settings.register_profile("dev", deadline=None, max_examples=60)
hypothesis.settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture(scope="session")
def rms_error():
    """RMS over frames of |found - truth| with the mean offset removed."""
    from zorro.simulate import rms_error

    return rms_error


@pytest.fixture(scope="session")
def small_movie():
    """8 frames of 256², 2 e⁻/px, linear drift: quick to simulate and to align."""
    from zorro.simulate import simulate

    return simulate(8, 256, dose=2.0, drift="linear", amplitude=1.2, seed=3)


@pytest.fixture(scope="session")
def small_movie_file(tmp_path_factory, small_movie):
    from zorro.simulate import write

    return write(small_movie, tmp_path_factory.mktemp("movie") / "small.mrcz")
