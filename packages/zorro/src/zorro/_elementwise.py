"""Element-wise complex arithmetic on whole spectra, all of it through numexpr3.

This is the one module that computes with numexpr3 (the others only ask it for the core
count): cross-power spectra of frame pairs, the dose-weighting filters and their
normalisation. numexpr3 evaluates each expression in cache-sized blocks on its threads,
without NumPy's full-size temporaries.
"""

from __future__ import annotations

import numpy as np

import numexpr3


def cross_power(template: np.ndarray, base: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``out = base * conj(template)``: the spectrum of the correlation of template with base."""
    return numexpr3.evaluate("base * conj(template)", local_dict={"base": base, "template": template}, out=out)


def exposure_filter(g: np.ndarray, exposure: float, out: np.ndarray) -> np.ndarray:
    """``out = exp(-exposure * g)``: a frame's dose weights (g = 1 / (2 N_c(q)), exposure in e⁻/Å²)."""
    return numexpr3.evaluate("exp(-exposure * g)", local_dict={"g": g, "exposure": np.float32(exposure)}, out=out)


def scale(spectrum: np.ndarray, factor: np.ndarray) -> None:
    """``spectrum *= factor`` (factor real, broadcastable)."""
    numexpr3.evaluate("spectrum * factor", local_dict={"spectrum": spectrum, "factor": factor}, out=spectrum)
