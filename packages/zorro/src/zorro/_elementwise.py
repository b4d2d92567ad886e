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


def scale(spectrum: NDArray[np.complex64], factor: NDArray[np.float32]) -> None:
    """``spectrum *= factor`` (factor real, broadcastable)."""
    numexpr3.evaluate("spectrum * factor", local_dict={"spectrum": spectrum, "factor": factor}, out=spectrum)
