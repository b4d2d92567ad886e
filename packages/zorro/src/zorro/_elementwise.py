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


def accumulate_frame(
    total: np.ndarray, weighted: np.ndarray, spectrum: np.ndarray, g: np.ndarray, exposure: float
) -> None:
    """One frame into the sums: ``total += spectrum`` and
    ``weighted += spectrum * exp(-exposure * g)`` (its dose weights; g = 1 / (2 N_c(q)))."""
    numexpr3.evaluate("total + spectrum", local_dict={"total": total, "spectrum": spectrum}, out=total)
    numexpr3.evaluate(
        "weighted + spectrum * exp(-exposure * g)",
        local_dict={"weighted": weighted, "spectrum": spectrum, "g": g, "exposure": np.float32(exposure)},
        out=weighted,
    )


def scale(spectrum: np.ndarray, factor: np.ndarray) -> None:
    """``spectrum *= factor`` (factor real, broadcastable)."""
    numexpr3.evaluate("spectrum * factor", local_dict={"spectrum": spectrum, "factor": factor}, out=spectrum)
