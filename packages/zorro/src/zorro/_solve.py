"""The deterministic robust weighted solve for per-frame shifts from pairwise measurements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import numpy as np
from numpy.typing import NDArray


@dataclass
class Solution:
    shifts: NDArray[np.float64]
    """(frames, 2): frame 0 is (0, 0)."""
    errors: NDArray[np.float64]
    """(frames, 2): standard error of each frame's shift relative to frame 0."""
    weights: NDArray[np.float64]
    """(pairs,): final weight of each measurement (0 = rejected as an outlier)."""
    residuals: NDArray[np.float64]
    """(pairs, 2): measured minus fitted relative shift."""
    sigma: float
    """Robust scale of the weight-normalised residuals."""


def solve(
    frames: int,
    first: NDArray[np.integer],
    second: NDArray[np.integer],
    relative: NDArray[np.float64],
    weights: NDArray[np.floating],
    *,
    outlier_threshold: float = 4.0,
    smoothness: float = 1e-6,
    huber: float = 2.5,
    iterations: int = 50,
) -> Solution:
    """Per-frame shifts x from measurements x[second] - x[first] = relative (pairs, 2).

    Weighted least squares made robust by iteratively reweighting with Huber's function of
    the residual length (both axes together), then measurements further than
    ``outlier_threshold`` robust standard deviations from the fit are dropped and the system
    is solved once more. A second-difference prior of ``smoothness`` times the mean weight,
    too weak to move frames that have measurements, keeps frames that lost all of theirs on a
    smooth path. Deterministic: only linear algebra.
    """
    pairs = len(first)
    design = np.zeros((pairs, frames))
    design[np.arange(pairs), second] = 1.0
    design[np.arange(pairs), first] = -1.0
    design = design[:, 1:]  # frame 0 is the origin
    curvature = np.zeros((max(frames - 2, 0), frames))
    for k in range(frames - 2):
        curvature[k, k : k + 3] = (1.0, -2.0, 1.0)
    curvature = curvature[:, 1:]
    base = np.asarray(weights, np.float64)
    prior = smoothness * (base.mean() if base.any() else 1.0) * curvature.T @ curvature
    if frames == 2:  # a single unknown needs a floor when its only measurement is rejected
        prior = prior + 1e-9 * np.eye(1)

    def fit(w: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        normal = design.T @ (w[:, None] * design) + prior
        # float64 in, float64 out (NumPy's stubs only promise some floating type)
        x = cast("NDArray[np.float64]", np.linalg.solve(normal, design.T @ (w[:, None] * relative)))
        return x, normal

    robust = np.ones(pairs)
    for _ in range(iterations):
        x, _normal = fit(base * robust)
        lengths = np.linalg.norm(design @ x - relative, axis=1) * np.sqrt(base)
        scale = _robust_scale(lengths[base > 0])
        updated = np.minimum(1.0, huber * scale / np.maximum(lengths, 1e-12))
        if np.allclose(updated, robust, atol=1e-6):
            break
        robust = updated
    inliers = lengths <= outlier_threshold * scale
    final = base * robust * inliers
    x, normal = fit(final)
    residuals = relative - design @ x
    used = final > 0
    dof = max(int(used.sum()) - (frames - 1), 1)
    variance = (final[:, None] * residuals**2).sum(axis=0) / dof  # per axis
    diag = np.clip(np.diag(np.linalg.inv(normal)), 0, None)
    errors = np.sqrt(diag[:, None] * variance[None, :])
    zero = np.zeros((1, 2))
    return Solution(
        shifts=np.vstack([zero, x]),
        errors=np.vstack([zero, errors]),
        weights=final,
        residuals=residuals,
        sigma=scale,
    )


def _robust_scale(values: NDArray[np.float64]) -> float:
    """Standard deviation of 2-D residual lengths from their median (Rayleigh: median = 1.1774 sigma)."""
    if values.size == 0:
        return 1.0
    return max(float(np.median(values)) / 1.1774, 1e-9)
