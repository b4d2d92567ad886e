"""Element-wise complex arithmetic on whole spectra, all of it through numexpr3.

This is the one module that computes with numexpr3 (the others only ask it for the core
count): cross-power spectra of frame pairs, the dose-weighting filters and their
normalisation. numexpr3 evaluates each expression in cache-sized blocks on its threads,
without NumPy's full-size temporaries.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

import numexpr3


def cross_power(
    template: NDArray[np.complex64], base: NDArray[np.complex64], out: NDArray[np.complex64]
) -> NDArray[np.complex64]:
    """``out = base * conj(template)``: the spectrum of the correlation of template with base."""
    return numexpr3.evaluate("base * conj(template)", local_dict={"base": base, "template": template}, out=out)


def exposure_filter(g: NDArray[np.float32], exposure: float, out: NDArray[np.float32]) -> NDArray[np.float32]:
    """``out = exp(-exposure * g)``: a frame's dose weights (g = 1 / (2 N_c(q)), exposure in e⁻/Å²)."""
    return numexpr3.evaluate("exp(-exposure * g)", local_dict={"g": g, "exposure": np.float32(exposure)}, out=out)


def dose_normalisation(
    g: NDArray[np.float32], frames: int, first_exposure: float, per_frame: float
) -> NDArray[np.float32]:
    """sqrt(frames / Σ_k w_k²) with w_k = exp(-(first_exposure + k per_frame) g), k < frames:
    scales the dose-weighted sum to the plain sum's noise power. The sum is a geometric
    series, evaluated in float64 with expm1 so that it stays exact where g is tiny."""
    constants = {"n": np.float64(frames), "first": np.float64(first_exposure), "step": np.float64(per_frame)}
    ratio = "where(g > 0, expm1(-2 * step * n * g) / expm1(-2 * step * g), n)"  # Σ_k exp(-2 k step g)
    # float64 by promotion with the constants, block by block (no float64 copy of g).
    norm: NDArray[np.float32] = numexpr3.evaluate(
        f"sqrt(n / (exp(-2 * first * g) * {ratio}))", local_dict={"g": g, **constants}
    ).astype(np.float32)
    return norm


def scale(spectrum: NDArray[np.complex64], factor: NDArray[np.float32]) -> None:
    """``spectrum *= factor`` (factor real, broadcastable)."""
    numexpr3.evaluate("spectrum * factor", local_dict={"spectrum": spectrum, "factor": factor}, out=spectrum)
