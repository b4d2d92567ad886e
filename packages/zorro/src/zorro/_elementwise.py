"""Element-wise complex arithmetic on whole spectra, all of it through numexpr3.

This is the one module that uses numexpr3: cross-power spectra, accumulation of shifted
spectra and the dose-weighting filters. numexpr3 evaluates each expression in cache-sized
blocks on its threads, without NumPy's full-size temporaries.
"""

from __future__ import annotations

import numpy as np

import numexpr3


def cross_power(template: np.ndarray, base: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``out = base * conj(template)``: the spectrum of the correlation of template with base."""
    return numexpr3.evaluate("base * conj(template)", local_dict={"base": base, "template": template}, out=out)


def accumulate(total: np.ndarray, spectrum: np.ndarray) -> None:
    """``total += spectrum``."""
    numexpr3.evaluate("total + spectrum", local_dict={"total": total, "spectrum": spectrum}, out=total)


def exposure_filter(inverse_twice_critical: np.ndarray, exposure: float, out: np.ndarray) -> np.ndarray:
    """``out = exp(-exposure * g)`` with g = 1 / (2 N_c(q)): one frame's dose weights."""
    return numexpr3.evaluate(
        "exp(-exposure * g)", local_dict={"g": inverse_twice_critical, "exposure": np.float32(exposure)}, out=out
    )


def accumulate_weighted(total: np.ndarray, spectrum: np.ndarray, weight: np.ndarray) -> None:
    """``total += spectrum * weight`` (weight real)."""
    numexpr3.evaluate(
        "total + spectrum * weight", local_dict={"total": total, "spectrum": spectrum, "weight": weight}, out=total
    )


def accumulate_square(total: np.ndarray, weight: np.ndarray) -> None:
    """``total += weight * weight``."""
    numexpr3.evaluate("total + weight * weight", local_dict={"total": total, "weight": weight}, out=total)


def scale(spectrum: np.ndarray, factor: np.ndarray) -> None:
    """``spectrum *= factor`` (factor real, broadcastable)."""
    numexpr3.evaluate("spectrum * factor", local_dict={"spectrum": spectrum, "factor": factor}, out=spectrum)
