"""Refinement against the sum of the others: hard movies, no-signal movies, honest error bars."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.fft

import zorro
from zorro import engine
from zorro._refine import SHAPES, STEADY, _Band, _locate, smooth
from zorro.simulate import simulate


def _frame_errors(found, truth):
    d = np.asarray(found) - truth
    return d - d.mean(axis=0)


def test_newton_peak_finds_an_exact_sub_pixel_shift():
    """Noise-free: a frame translated by a known fraction of a pixel against its original."""
    rng = np.random.default_rng(0)
    image = scipy.fft.irfft2(scipy.fft.rfft2(rng.standard_normal((128, 128))) * np.exp(-np.arange(65) / 20.0))
    spectrum = scipy.fft.rfft2(image).astype(np.complex64)
    band = _Band(spectrum[None], (128, 128), np.ones(2), 1.0, 250.0)
    shift = np.array([0.37, -1.62])
    moved = band.spectra[0] * band.ramp(shift)  # image translated by +shift
    # The correlation of the original with the moved one peaks at the translation.
    t, covariance, _ = _locate(band.lowpass * np.conj(band.spectra[0]) * moved, band, np.array([0.0, -2.0]))
    np.testing.assert_allclose(t, shift, atol=1e-3)
    assert covariance is not None


def test_smoothing_follows_precise_data_and_smooths_noisy_data():
    k = np.arange(20.0)
    truth = np.stack([10 * (1 - np.exp(-k / 3)), 0.5 * k], axis=1)
    rng = np.random.default_rng(1)
    precise = truth + rng.normal(0, 0.01, truth.shape)
    path, covariance, _ = smooth(precise, np.full(truth.shape, 0.01**2))
    assert np.abs(path - truth).max() < 0.03  # the bend at the start is kept
    noisy = truth + rng.normal(0, 0.5, truth.shape)
    path, covariance, _ = smooth(noisy, np.full(truth.shape, 0.5**2))
    assert np.sqrt(((path - truth) ** 2).mean()) < 0.6 * np.sqrt(((noisy - truth) ** 2).mean())
    assert covariance.shape == (2, 20, 20)


@pytest.mark.parametrize(
    ("drift", "amplitude", "dose", "contrast", "limit"),
    [
        ("decaying", 10.0, 1.0, 0.05, 0.7),
        ("linear", 1.0, 0.5, 0.1, 0.3),
        ("random-walk", 0.5, 2.0, 0.05, 0.65),
        ("jittery", 8.0, 1.0, 0.1, 0.45),
    ],
)
def test_low_contrast_ice_movies(drift, amplitude, dose, contrast, limit, rms_error):
    """The hard end: soft low-contrast particles in ice at low dose, known drift."""
    movie = simulate(12, 384, dose=dose, drift=drift, amplitude=amplitude, specimen="ice", contrast=contrast, seed=21)
    result = zorro.align(movie.frames, pixel_size=1.0)
    error = rms_error(result.shifts, movie.shifts)
    assert result.motion_found
    assert error < limit
    assert error < 0.25 * rms_error(np.zeros_like(movie.shifts), movie.shifts)


def test_no_signal_gives_no_motion_not_a_catastrophe(rms_error, caplog):
    """Frames that carry no specimen at all: any trajectory would be noise. zorro says so and
    reports zero motion, which is never worse than zero motion."""
    movie = simulate(8, 256, dose=0.25, drift="linear", amplitude=0.3, specimen="ice", contrast=0.002, seed=5)
    result = zorro.align(movie.frames, pixel_size=1.0)
    assert not result.motion_found
    assert np.array_equal(result.shifts, np.zeros_like(result.shifts))
    assert rms_error(result.shifts, movie.shifts) <= rms_error(np.zeros_like(movie.shifts), movie.shifts)
    assert any("no motion found" in note for note in result.notes)
    assert any("no motion found" in r.getMessage() for r in caplog.records)
    # The errors are honest about how far the truth may be: it lies within them.
    assert (np.abs(movie.shifts[1:] - movie.shifts[0]) <= 3 * result.errors[1:] + 1e-9).all()


def test_error_bars_cover_the_truth_on_a_small_grid():
    """Over a few small movies, the fraction of frame coordinates whose true error is within the
    reported 1 sigma is near 68 % and within 2 sigma near 95 %."""
    inside = {1: [], 2: []}
    for seed, (drift, amplitude, specimen) in enumerate(
        [("decaying", 8.0, "ice"), ("linear", 1.0, "carbon"), ("random-walk", 0.5, "ice"), ("jittery", 6.0, "ice")]
    ):
        movie = simulate(10, 320, dose=1.0, drift=drift, amplitude=amplitude, specimen=specimen, contrast=0.1,
                         seed=40 + seed)  # fmt: skip
        result = zorro.align(movie.frames, pixel_size=1.0)
        error = np.abs(result.shifts[1:] - movie.shifts[1:])
        for k, within in inside.items():
            within.append(error <= k * result.errors[1:])
    one, two = (float(np.concatenate(inside[k]).mean()) for k in (1, 2))
    assert 0.45 < one < 0.9
    assert two > 0.8


def test_frames_without_any_structure_give_no_motion():
    """Perfectly flat frames: no peak anywhere, no warning, no motion."""
    result = zorro.align(np.full((6, 128, 128), 5, np.float32), pixel_size=1.0, hot_pixels=False)
    assert not result.motion_found
    assert np.array_equal(result.shifts, np.zeros((6, 2)))


def test_smoothing_tells_a_random_walk_from_a_smooth_path():
    """The prior's kind is the data's: a random walk's steps are independent, a smooth path's bend."""
    rng = np.random.default_rng(2)
    walk = np.cumsum(0.5 + rng.normal(0, 0.3, (24, 2)), axis=0)
    k = np.arange(24.0)[:, None]
    decaying = 10 * (1 - np.exp(-k / 3)) * np.array([[0.6, 0.8]])
    for truth, kind in ((walk, "walk"), (decaying, "smooth")):
        measured = truth + rng.normal(0, 0.15, truth.shape)
        path, _, prior = smooth(measured, np.full(truth.shape, 0.15**2))
        assert prior.kind == kind
        assert np.sqrt(((path - truth) ** 2).mean()) < 0.9 * 0.15


def test_a_fading_prior_follows_motion_that_settles():
    """A power-law decay (not the simulator's exponential) is found better by the prior whose
    bends may fade than by a steady one, and a straight path, which needs no fade, loses little."""
    k = np.arange(20.0)[:, None]
    settling = 10 * (1 - (1 + k) ** -1.5) * np.array([[0.6, 0.8]])
    straight = 0.5 * k * np.array([[0.6, 0.8]])
    variances = np.full(settling.shape, 0.3**2)
    for truth, most in ((settling, 0.85), (straight, 1.15)):
        free, steady = [], []
        for seed in range(10):
            measured = truth + np.random.default_rng(seed).normal(0, 0.3, truth.shape)
            for errors, shapes in ((free, SHAPES), (steady, [STEADY])):
                path, _, _ = smooth(measured, variances, shapes=shapes)
                errors.append(np.sqrt(((path - truth) ** 2).mean()))
        assert np.mean(free) < most * np.mean(steady)


def test_edge_taper_spans_twice_the_largest_shift():
    """As narrow as the shifts allow (each pixel of taper costs signal), at least 4 pixels and
    at most a sixteenth of the frame."""
    grid = engine._Grid(padded=(256, 256), crop=(256, 256), prebin=1, binning=np.ones(2), radius=10.0, half=15,
                        inside=(250, 250))  # fmt: skip
    spectra = np.zeros((2, 256, 129), np.complex64)
    for largest, width in ((0.5, 4), (5.0, 10), (100.0, 250 // 16)):
        profile, _ = engine._taper_edges(spectra, grid, 1, largest)
        assert int((profile[:250] < 1).sum()) == 2 * width
        assert not profile[250:].any()
