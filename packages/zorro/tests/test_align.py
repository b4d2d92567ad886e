"""Alignment accuracy against the simulator's known drift, and the sums against exact shifts."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.fft
import scipy.ndimage

import zorro
from zorro.simulate import simulate


@pytest.mark.parametrize(
    ("drift", "amplitude", "dose", "limit"),
    [
        ("linear", 1.0, 0.5, 0.25),
        ("linear", 1.0, 2.0, 0.12),
        ("linear", 0.3, 1.0, 0.15),
        ("decaying", 15.0, 1.0, 0.15),
        ("random-walk", 1.0, 1.0, 0.15),
        ("random-walk", 0.5, 8.0, 0.05),
    ],
)
def test_trajectory_matches_the_known_drift(drift, amplitude, dose, limit, rms_error):
    movie = simulate(10, 384, dose=dose, drift=drift, amplitude=amplitude, seed=11)
    result = zorro.align(movie.frames, pixel_size=1.0)
    assert rms_error(result.shifts, movie.shifts) < limit
    assert np.array_equal(result.shifts[0], [0.0, 0.0])
    # The per-frame errors (relative to frame 1, as the shifts are) are of the true error's order.
    true_error = np.abs(result.shifts - movie.shifts)[1:]
    assert 0.2 < np.sqrt((result.errors[1:] ** 2).mean()) / max(np.sqrt((true_error**2).mean()), 1e-3) < 5


def test_binning_in_real_space_first_aligns_as_well_as_fourier_cropping_alone(rms_error):
    movie = simulate(10, 384, dose=2.0, drift="decaying", amplitude=10.0, seed=12)
    # The crop keeps a quarter of the frequencies: binned 2 x 2 first; just above: Fourier cropping only.
    binned = zorro.align(movie.frames, pixel_size=1.0, corr_size=64)
    cropped = zorro.align(movie.frames, pixel_size=1.0, corr_size=64, max_binning=3.9)
    assert (binned.parameters["prebinning"], cropped.parameters["prebinning"]) == (2, 1)
    assert rms_error(binned.shifts, movie.shifts) < 0.12
    assert rms_error(binned.shifts, movie.shifts) < 1.25 * rms_error(cropped.shifts, movie.shifts) + 0.01


def test_all_pairs_and_a_narrow_band_both_work(small_movie, rms_error):
    for band, limit in ((0, 0.15), (1, 0.35), (3, 0.15)):
        result = zorro.align(small_movie.frames, pixel_size=1.0, band=band)
        assert rms_error(result.shifts, small_movie.shifts) < limit
        pairs = len(result.pairs["first"])
        assert pairs == (28 if band == 0 else sum(min(band, 7 - i) for i in range(8)))


def test_identical_input_gives_identical_output(small_movie):
    a = zorro.align(small_movie.frames, pixel_size=1.0)
    b = zorro.align(small_movie.frames.copy(), pixel_size=1.0)
    assert np.array_equal(a.shifts, b.shifts)
    assert np.array_equal(a.errors, b.errors)
    assert np.array_equal(a.sum, b.sum)
    assert np.array_equal(a.sum_dw, b.sum_dw)


def test_aligned_sum_has_better_frc_than_unaligned_where_there_is_signal():
    movie = simulate(12, 384, dose=3.0, drift="linear", amplitude=1.5, seed=5)
    result = zorro.align(movie.frames, pixel_size=1.0)
    frc = result.frc
    signal = frc["aligned"] > 0.143
    assert signal[:10].all() and signal.sum() > 20
    # At the lowest frequencies both are saturated near 1 (drift blur does not reach them):
    # there they may tie; everywhere else with signal the aligned sum must be better.
    saturated = frc["unaligned"] > 0.98
    assert (frc["aligned"][signal] >= frc["unaligned"][signal] - 0.005).all()
    assert (frc["aligned"][signal & ~saturated] > frc["unaligned"][signal & ~saturated]).all()
    assert (signal & ~saturated).sum() > 10


def test_sum_is_the_exact_shifted_sum():
    """Noise-free frames with integer drift: the aligned sum is n times frame 1 wherever every
    shifted frame has data, and the mean level (each frame's mean) where some have none."""
    rng = np.random.default_rng(0)
    field = scipy.ndimage.gaussian_filter(rng.standard_normal((260, 280)), 2.0) * 200 + 100
    shifts = np.array([[0, 0], [2, -1], [4, -3], [5, -4], [7, -6]])
    # A feature at p in frame 1 is at p - shift in frame k.
    frames = np.stack([field[20 + sy : 220 + sy, 20 + sx : 244 + sx] for sy, sx in shifts]).astype(np.float32)
    result = zorro.align(frames, pixel_size=1.0, hot_pixels=False, dose_per_frame=100.0)
    np.testing.assert_allclose(result.shifts, shifts, atol=0.02)
    inside = (slice(8, 200 - 8), slice(8, 224 - 8))  # where every shifted frame has data
    assert np.abs(result.sum[inside] - 5 * frames[0][inside]).max() < 0.02 * frames[0].std() * 5


def test_gain_defects_and_hot_pixels_are_handled(tmp_path, rms_error):
    movie = simulate(
        10,
        384,
        dose=2.0,
        drift="linear",
        amplitude=1.0,
        gain=True,
        gain_orientation="rot270",
        hot_pixels=60,
        defect_rows=1,
        defect_columns=2,
        seed=8,
    )
    ok = zorro.align(movie.frames, pixel_size=1.0, gain=movie.gain, gain_orientation="rot270")
    assert rms_error(ok.shifts, movie.shifts) < 0.15
    assert ok.repaired["hot_pixels"] >= 55
    assert ok.repaired["rows"] == 1 and ok.repaired["columns"] == 2
    # The hot column would otherwise dominate: without repair the sum carries it.
    column = movie.defects["columns"][0]
    neighbours = ok.sum[:, [column - 1, column + 1]].mean() if 0 < column < 383 else ok.sum.mean()
    assert abs(ok.sum[:, column].mean() - neighbours) < 0.1 * neighbours
    defects = {"rows": movie.defects["rows"], "columns": movie.defects["columns"]}
    explicit = zorro.align(
        movie.frames, pixel_size=1.0, gain=movie.gain, gain_orientation="rot270", defects=defects, hot_pixels=True
    )
    assert rms_error(explicit.shifts, movie.shifts) < 0.15


def test_dose_weighted_sum_keeps_low_and_damps_high_frequencies(small_movie):
    result = zorro.align(small_movie.frames, pixel_size=1.0)
    plain = np.abs(scipy.fft.rfft2(result.sum - result.sum.mean()))
    weighted = np.abs(scipy.fft.rfft2(result.sum_dw - result.sum_dw.mean()))
    assert result.sum_dw.mean() == pytest.approx(result.sum.mean(), rel=1e-4)
    low = (slice(1, 6), slice(1, 6))
    assert weighted[low].sum() == pytest.approx(plain[low].sum(), rel=0.1)
    # 16 e⁻/Å² in total: by Nyquist (0.5/Å) the later frames are strongly attenuated, so the
    # signal part is damped while the noise power is restored; the two sums must differ there.
    assert not np.allclose(weighted[100:, 100:], plain[100:, 100:], rtol=0.05)


def test_exclude_origin_defeats_fixed_pattern_noise(rms_error):
    """A pattern common to every frame (a bad dark or gain reference) puts a peak at zero shift
    in every correlation; leaving the origin out of the search, the low-pass and the fit
    recovers the drift, even below a pixel per frame."""
    movie = simulate(10, 384, dose=2.0, drift="linear", amplitude=0.7, seed=4)
    pattern = np.random.default_rng(9).normal(0, 1.0, movie.frames.shape[1:]).astype(np.float32)
    frames = movie.frames + pattern
    stuck = zorro.align(frames, pixel_size=1.0, hot_pixels=False)
    assert rms_error(stuck.shifts, movie.shifts) > 1.0
    freed = zorro.align(frames, pixel_size=1.0, hot_pixels=False, exclude_origin=True)
    assert rms_error(freed.shifts, movie.shifts) < 0.15


@pytest.mark.parametrize(("shape", "half"), [((40, 50), 6), ((13, 40), 6), ((9, 9), 6)])
def test_window_sums_are_the_sums_over_each_overlap(shape, half):
    # From the edge rows only where the edges are apart, from every row where they meet.
    from zorro.engine import _window_sums

    image = np.random.default_rng(5).normal(size=shape).astype(np.float32)
    h, w = shape
    for sy in range(-half, half + 1):
        for sx in range(-half, half + 1):
            overlap = image[max(0, -sy) : min(h, h - sy), max(0, -sx) : min(w, w - sx)]
            assert _window_sums(image, half)[half + sy, half + sx] == pytest.approx(overlap.sum(dtype=np.float64))
