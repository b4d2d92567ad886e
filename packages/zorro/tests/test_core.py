"""zorro._core against NumPy references."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.fft
from hypothesis import given
from hypothesis import strategies as st

from zorro import _core


def gaussian_map(size: int, centre: tuple[float, float], width: float, noise: float = 0.0, seed: int = 0):
    y, x = np.mgrid[:size, :size] - size // 2
    m = np.exp(-((y - centre[0]) ** 2 + (x - centre[1]) ** 2) / (2 * width**2))
    return (m + noise * np.random.default_rng(seed).standard_normal(m.shape)).astype(np.float32)


@pytest.mark.parametrize("centre", [(0.0, 0.0), (0.3, -0.45), (-2.25, 1.5), (4.49, -3.1)])
def test_find_peaks_locates_gaussian_peaks_without_bias(centre):
    maps = gaussian_map(41, centre, 1.5)[None]
    dy, dx, significance, _, error = _core.find_peaks(maps, 10.0, np.array([0.0]))
    assert dy[0] == pytest.approx(centre[0], abs=1e-3)
    assert dx[0] == pytest.approx(centre[1], abs=1e-3)
    assert significance[0] > 10
    assert np.isfinite(error[0])


def test_find_peaks_low_pass_choice_is_as_precise_as_the_best_fixed_one():
    centre = (1.2, -0.7)
    maps = np.stack([gaussian_map(51, centre, 2.5, noise=0.25, seed=i) for i in range(40)])

    def spread(sigmas):
        dy, dx, _, sigma, _ = _core.find_peaks(maps, 12.0, np.array(sigmas))
        return np.sqrt(np.mean((dy - centre[0]) ** 2 + (dx - centre[1]) ** 2)), sigma

    chosen, sigma = spread([0.0, 1.0, 2.0, 3.0])
    best_fixed = min(spread([s])[0] for s in (0.0, 1.0, 2.0, 3.0))
    unfiltered = spread([0.0])[0]
    assert chosen <= 1.15 * best_fixed
    assert chosen < 0.5 * unfiltered
    assert (sigma > 0).all()  # a bare noisy map is never the most precise choice


def test_find_peaks_respects_the_search_radius_and_the_origin():
    m = gaussian_map(41, (0.0, 0.0), 0.6) + 0.6 * gaussian_map(41, (6.0, 0.0), 0.6)
    dy, _, _, _, _ = _core.find_peaks(m[None], 10.0, np.array([0.0]))
    assert abs(dy[0]) < 0.1
    # Without the origin the strongest remaining peak is the one 6 px away.
    spike = np.zeros((41, 41), np.float32)
    spike[20, 20] = 5.0
    dy, dx, _, _, _ = _core.find_peaks(
        (spike + 0.6 * gaussian_map(41, (6.0, 0.0), 1.2))[None], 10.0, np.array([0.0]), exclude_origin=True
    )
    assert dy[0] == pytest.approx(6.0, abs=0.05) and dx[0] == pytest.approx(0.0, abs=0.05)
    dy, _, _, _, _ = _core.find_peaks(gaussian_map(41, (8.0, 0.0), 1.0)[None], 5.0, np.array([0.0]))
    assert abs(dy[0]) <= 5.5


def test_find_peaks_rejects_bad_arguments():
    with pytest.raises(ValueError, match="3-D"):
        _core.find_peaks(np.zeros((5, 5), np.float32), 2.0, np.array([0.0]))
    with pytest.raises(ValueError, match="sigmas"):
        _core.find_peaks(np.zeros((1, 9, 9), np.float32), 2.0, np.array([]))


def numpy_shift(image: np.ndarray, dy: float, dx: float) -> np.ndarray:
    """Reference: Fourier shift with NumPy's full complex FFT (Nyquist term kept real)."""
    ny, nx = image.shape
    ky = np.fft.fftfreq(ny) * ny
    kx = np.fft.fftfreq(nx) * nx
    ry = np.exp(-2j * np.pi * ky * dy / ny)
    rx = np.exp(-2j * np.pi * kx * dx / nx)
    if ny % 2 == 0:
        ry[ny // 2] = np.cos(np.pi * dy)
    if nx % 2 == 0:
        rx[nx // 2] = np.cos(np.pi * dx)
    return np.fft.ifft2(np.fft.fft2(image) * ry[:, None] * rx[None, :]).real


@pytest.mark.parametrize(("shape", "dy", "dx"), [((64, 48), 3, -5), ((63, 50), -7, 11), ((32, 32), 0, 31)])
def test_phase_shift_equals_exact_integer_roll(shape, dy, dx):
    image = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    spectrum = scipy.fft.rfft2(image).astype(np.complex64)
    _core.phase_shift(spectrum, shape[1], dy, dx)
    shifted = scipy.fft.irfft2(spectrum, s=shape)
    np.testing.assert_allclose(shifted, np.roll(image, (dy, dx), axis=(0, 1)), atol=2e-5)


@given(st.floats(-20, 20), st.floats(-20, 20), st.sampled_from([(32, 32), (30, 45), (64, 40)]))
def test_phase_shift_matches_numpy_reference_for_fractional_shifts(dy, dx, shape):
    image = np.random.default_rng(2).standard_normal(shape).astype(np.float32)
    spectrum = scipy.fft.rfft2(image).astype(np.complex64)
    _core.phase_shift(spectrum, shape[1], dy, dx)
    np.testing.assert_allclose(scipy.fft.irfft2(spectrum, s=shape), numpy_shift(image, dy, dx), atol=5e-5)


def test_shift_accumulate_matches_numpy():
    rng = np.random.default_rng(5)
    shape = (40, 54)
    image = rng.standard_normal(shape).astype(np.float32)
    spectrum = scipy.fft.rfft2(image).astype(np.complex64)
    weight = rng.random(spectrum.shape).astype(np.float32)
    plain = (rng.standard_normal(spectrum.shape) + 1j).astype(np.complex64)
    weighted = plain.copy()
    expected_plain, expected_weighted = plain.copy(), weighted.copy()
    shifted = scipy.fft.rfft2(numpy_shift(image, 2.3, -7.6))
    expected_plain += shifted
    expected_weighted += shifted * weight
    before = spectrum.copy()
    _core.shift_accumulate(spectrum, shape[1], 2.3, -7.6, plain, weighted, weight)
    np.testing.assert_array_equal(spectrum, before)
    np.testing.assert_allclose(plain, expected_plain, atol=2e-4)
    np.testing.assert_allclose(weighted, expected_weighted, atol=2e-4)
    with pytest.raises(ValueError, match="shape"):
        _core.shift_accumulate(spectrum, shape[1], 0.0, 0.0, plain[:5], weighted, weight)


def test_phase_shift_checks_the_spectrum_shape():
    with pytest.raises(ValueError, match="columns"):
        _core.phase_shift(np.zeros((8, 8), np.complex64), 8, 1.0, 1.0)


def test_in_place_arguments_of_another_type_are_refused_not_copied():
    # A converted copy would take the write and leave the caller's array silently unchanged.
    spectrum = np.ones((8, 5), np.complex128)
    with pytest.raises(TypeError, match="spectrum is written in place and must be complex64, not complex128"):
        _core.phase_shift(spectrum, 8, 1.0, 1.0)
    ok = np.ones((8, 5), np.complex64)
    with pytest.raises(TypeError, match="plain is written in place"):
        _core.shift_accumulate(ok, 8, 0.0, 0.0, ok.astype(np.complex128), ok.copy(), np.ones((8, 5), np.float32))
    with pytest.raises(TypeError, match="image is written in place and must be float32, not float64"):
        _core.repair_pixels(np.ones((8, 8)), np.zeros((8, 8), bool))
    with pytest.raises(ValueError, match="C-contiguous"):
        _core.phase_shift(np.ones((8, 10), np.complex64)[:, ::2], 8, 1.0, 1.0)


def numpy_repair(image: np.ndarray, bad: np.ndarray, max_radius: int = 16) -> np.ndarray:
    out = image.copy()
    h, w = image.shape
    for y, x in zip(*np.nonzero(bad)):
        for r in range(1, max_radius + 1):
            window = (slice(max(0, y - r), min(h, y + r + 1)), slice(max(0, x - r), min(w, x + r + 1)))
            good = ~bad[window]
            if good.any():
                out[y, x] = image[window][good].mean()
                break
        else:
            out[y, x] = 0
    return out


def test_repair_pixels_matches_numpy_reference():
    rng = np.random.default_rng(4)
    image = rng.poisson(3.0, (60, 70)).astype(np.float32)
    bad = rng.random((60, 70)) < 0.03
    bad[10] = True  # a dead row
    bad[:, 33] = True  # and a column
    bad[40:44, 50:54] = True  # a cluster
    expected = numpy_repair(image, bad)
    missing = _core.repair_pixels(image, bad)
    assert missing == 0
    np.testing.assert_allclose(image, expected, rtol=1e-6)


def test_repair_pixels_reports_pixels_without_good_neighbours():
    image = np.ones((8, 8), np.float32)
    bad = np.ones((8, 8), bool)
    bad[0, 0] = False
    assert _core.repair_pixels(image, bad, max_radius=2) == 8 * 8 - 1 - 8  # 8 within 2 px of (0, 0)
