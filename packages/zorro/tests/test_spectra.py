"""Dose weighting and FRC against their definitions."""

from __future__ import annotations

import numpy as np
import pytest

from zorro._elementwise import dose_normalisation, exposure_filter
from zorro._spectra import critical_exposure, frc, inverse_twice_critical, voltage_factor


def test_critical_exposure_is_grant_and_grigorieff():
    # N_c(q) = 0.245 q^-1.665 + 2.81 at 300 kV; at 1/4 Å⁻¹ that is 0.245 * 4^1.665 + 2.81.
    assert critical_exposure(np.array(0.25)) == pytest.approx(0.245 * 4**1.665 + 2.81)
    assert critical_exposure(np.array(0.25), 200.0) == pytest.approx(0.8 * (0.245 * 4**1.665 + 2.81))
    assert voltage_factor(300) == 1.0 and voltage_factor(200) == pytest.approx(0.8)


def test_dose_filter_grid_uses_angstrom_frequencies():
    g = inverse_twice_critical((64, 64), pixel_size=2.0, voltage=300.0)
    assert g[0, 0] == 0.0  # no damage at zero frequency
    q = 1 / 4.0  # column 16 of 64 is 0.25 cycles/px = 0.125 1/Å at 2 Å/px
    assert g[0, 16] == pytest.approx(0.5 / critical_exposure(np.array(q / 2)), rel=1e-5)
    assert (np.diff(g[0, 1:]) > 0).all()  # higher frequencies fade faster


def test_frc_of_an_image_with_itself_is_one_and_of_independent_noise_about_zero():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((128, 128))
    f, curve = frc(a, a)
    assert len(f) == 64 and f[0] > 0 and f[-1] < 0.5
    np.testing.assert_allclose(curve, 1.0, atol=1e-9)
    _, noise = frc(a, rng.standard_normal((128, 128)))
    assert abs(noise[5:].mean()) < 0.03
    with pytest.raises(ValueError, match="shapes"):
        frc(a, a[:100])


def test_dose_normalisation_is_the_brute_force_sum():
    g = inverse_twice_critical((64, 64), pixel_size=1.0, voltage=300.0)
    frames, first, step = 30, 1.3, 1.3
    weights = np.exp(-(first + step * np.arange(frames))[:, None, None] * g[None].astype(np.float64))
    expected = np.sqrt(frames / (weights**2).sum(axis=0))
    np.testing.assert_allclose(dose_normalisation(g, frames, first, step), expected, rtol=1e-5)
    assert dose_normalisation(g, frames, first, step)[0, 0] == pytest.approx(1.0)


def test_exposure_filter_matches_numpy():
    g = inverse_twice_critical((48, 40), pixel_size=1.2, voltage=200.0)
    out = np.empty_like(g)
    exposure_filter(g, 7.5, out=out)
    np.testing.assert_allclose(out, np.exp(-7.5 * g.astype(np.float64)), rtol=1e-6)
