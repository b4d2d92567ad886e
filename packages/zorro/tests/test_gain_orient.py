"""gain-orient finds each of the 8 orientations from the movies alone."""

from __future__ import annotations

import numpy as np
import pytest

from zorro import ORIENTATIONS, InputError, find_gain_orientation
from zorro.simulate import simulate


@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_gain_orientation_is_found(orientation):
    movie = simulate(
        4,
        (96, 128) if "90" in orientation or "270" in orientation else 128,
        dose=8.0,
        gain=True,
        gain_orientation=orientation,
        seed=ORIENTATIONS.index(orientation),
    )
    best, scores = find_gain_orientation([movie.frames], movie.gain)
    assert best == orientation
    ranked = sorted(scores.values())
    assert ranked[1] > 1.1 * ranked[0]


def test_non_square_frames_only_try_orientations_that_fit():
    movie = simulate(3, (64, 96), dose=8.0, gain=True, gain_orientation="rot90", seed=1)
    best, scores = find_gain_orientation([movie.frames, movie.frames], movie.gain)
    assert best == "rot90"
    assert set(scores) == {"rot90", "rot270", "rot90+flip", "rot270+flip"}


def test_gain_that_fits_no_orientation():
    movie = simulate(2, 64, dose=1.0, seed=0)
    with pytest.raises(InputError, match="no orientation"):
        find_gain_orientation([movie.frames], np.ones((50, 64), np.float32))
