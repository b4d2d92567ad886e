"""The robust weighted solve against known trajectories."""

from __future__ import annotations

import numpy as np
import pytest

from zorro._solve import solve


def band_pairs(frames: int, band: int):
    return map(np.array, zip(*[(i, j) for i in range(frames) for j in range(i + 1, min(frames, i + band + 1))]))


def test_exact_measurements_give_the_exact_trajectory():
    truth = np.cumsum(np.random.default_rng(0).normal(0, 1, (12, 2)), axis=0)
    truth -= truth[0]
    first, second = band_pairs(12, 4)
    sol = solve(12, first, second, truth[second] - truth[first], np.ones(len(first)))
    np.testing.assert_allclose(sol.shifts, truth, atol=1e-4)  # the smoothness prior is 1e-6 of the data


def test_outliers_are_rejected_and_noise_is_averaged():
    rng = np.random.default_rng(1)
    truth = np.stack([np.linspace(0, 10, 16), np.linspace(0, -5, 16)], axis=1)
    first, second = band_pairs(16, 5)
    measured = truth[second] - truth[first] + rng.normal(0, 0.1, (len(first), 2))
    measured[[3, 17, 40]] += [[6.0, -4.0], [-5.0, 0.0], [0.0, 8.0]]  # wrong peaks
    sol = solve(16, first, second, measured, np.ones(len(first)))
    assert (sol.weights[[3, 17, 40]] == 0).all()
    assert (sol.weights > 0).sum() >= len(first) - 5
    error = np.sqrt(((sol.shifts - truth) ** 2).sum(axis=1).mean())
    assert error < 0.1
    # The error estimates match the actual scatter to within a factor of 2.
    assert 0.5 < np.sqrt((sol.errors[1:] ** 2).mean() * 2) / max(error, 1e-3) < 4


def test_a_frame_without_measurements_follows_a_smooth_path():
    truth = np.stack([np.arange(6.0), np.zeros(6)], axis=1)
    first, second = np.array([0, 1, 3, 4]), np.array([1, 2, 4, 5])  # nothing links 2 and 3
    sol = solve(6, first, second, truth[second] - truth[first], np.ones(4))
    np.testing.assert_allclose(sol.shifts, truth, atol=0.05)


def test_solve_is_deterministic():
    rng = np.random.default_rng(2)
    first, second = band_pairs(10, 3)
    measured = rng.normal(0, 1, (len(first), 2))
    a = solve(10, first, second, measured, np.ones(len(first)))
    b = solve(10, first, second, measured.copy(), np.ones(len(first)))
    assert np.array_equal(a.shifts, b.shifts) and np.array_equal(a.errors, b.errors)


def test_weights_pull_towards_trusted_measurements():
    first, second = np.array([0, 0]), np.array([1, 1])
    measured = np.array([[1.0, 0.0], [2.0, 0.0]])
    sol = solve(2, first, second, measured, np.array([9.0, 1.0]), outlier_threshold=100)
    assert sol.shifts[1, 0] == pytest.approx(1.1, abs=0.01)
