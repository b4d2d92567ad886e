"""Refinement of a trajectory: each frame against the aligned sum of all the others.

The pairwise solve gives a starting path. Each round, every frame is correlated with the
sum of the other frames at their current shifts, through a Gaussian low-pass; the peak is
located by Newton steps on the exact Fourier-space correlation (no interpolation bias),
and its uncertainty is the sandwich estimate H⁻¹ V H⁻¹ of the terms the correlation is
made of (V from the spread of the per-frequency gradient terms, so it holds for whatever
noise the data carry). The measured positions are then smoothed with a second-difference
prior whose strength maximises the marginal likelihood of the measurements: with little
signal per frame the path shrinks toward a smooth one instead of following the noise. On
the last round's measurements, freer shapes are tried too and kept where they are the more
likely: smooth paths whose bends fade along the movie (beam-induced motion settles after its
first frames), and a random walk (independent steps about a mean drift; only where the
measurements make it clearly the more likely).

The low-pass and the starting point (the pairwise path or no motion) are chosen by the data:
the low-pass that gives the smallest total error, the start whose path gives the stronger
aligned sum. Last, if the path found is not larger than its own errors (zero motion would be
as good), the result is zero motion, flagged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import scipy.fft

BFACTORS = (250.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0)
"""Gaussian low-passes tried, exp(-B q² / 4) with q in cycles per input pixel."""
MIN_SIGNIFICANCE = 4.5
"""A frame whose correlation peak is weaker (in noise standard deviations) carries no weight:
pure noise reaches about 3.5 over the search window."""
_NO_INFORMATION = 1e4  # variance (px²) of a frame whose correlation has no peak


@dataclass
class Refined:
    shifts: np.ndarray
    """(frames, 2) input pixels, frame 0 = (0, 0)."""
    errors: np.ndarray
    """(frames, 2) standard errors relative to frame 0."""
    bfactor: float
    prior: Prior
    """The prior chosen for the path ('none' for a path not refined)."""
    rounds: int
    start: str
    """'pairwise' or 'zero': the starting path that won."""
    motion_found: bool
    """False when the data do not support any motion: the shifts are then zero."""


class _Band:
    """The frames' cropped spectra where one Gaussian low-pass leaves anything (above 1e-4 of
    its peak), with the frequency grids and the low-pass itself on that band."""

    def __init__(self, spectra: np.ndarray, crop: tuple[int, int], binning: np.ndarray, oversampling: float,
                 bfactor: float, overlap: _Overlap | None = None) -> None:  # fmt: skip
        self.binning, self.bfactor = np.asarray(binning, float), bfactor
        self.overlap = overlap  # of the frames' windows; needed to search against the others' sum
        self.oversampling = oversampling  # correlated neighbouring frequencies: inflate the variance
        cut = np.sqrt(4 * np.log(1e4) / bfactor) * self.binning  # cycles per crop pixel
        qy, qx = scipy.fft.fftfreq(crop[0]), scipy.fft.rfftfreq(crop[1])
        keep_y = min(int(cut[0] * crop[0]) + 1, crop[0] // 2)
        rows = np.r_[0:keep_y, crop[0] - keep_y : crop[0]]
        columns = min(int(cut[1] * crop[1]) + 2, qx.size)
        # A view where the band is every row (no copy of the largest band), else a copy.
        self.spectra = spectra[:, :, :columns] if rows.size == crop[0] else spectra[:, rows, :columns]
        self.qy, self.qx = qy[rows].astype(np.float32), qx[:columns].astype(np.float32)
        # The coarse-search map lives on the band's own grid: (2 keep_y) x 2 (columns - 1) pixels.
        self.map_shape = (rows.size, 2 * (columns - 1))
        self.map_pixel = np.array([crop[0] / self.map_shape[0], crop[1] / self.map_shape[1]])
        m = np.full(columns, 2.0, np.float32)  # rfft columns other than 0 and Nyquist count twice
        m[0] = 1
        if columns == crop[1] // 2 + 1 and crop[1] % 2 == 0:
            m[-1] = 1
        self.m = m
        self.columns = np.stack([m, m * self.qx, m * self.qx**2], axis=1)  # (x, 3) for the sums
        self.columns_sq = np.stack([m * m, m * m * self.qx, m * m * self.qx**2], axis=1)
        q2 = (self.qy[:, None] / self.binning[0]) ** 2 + (self.qx[None, :] / self.binning[1]) ** 2
        self.lowpass = np.exp(-bfactor * q2 / 4).astype(np.float32)

    def ramp(self, shift: np.ndarray) -> np.ndarray:
        """exp(-2 pi i q·s): translates a frame by ``shift`` input pixels."""
        sy, sx = np.asarray(shift) / self.binning
        ey = np.exp(-2j * np.pi * self.qy * sy).astype(np.complex64)
        ex = np.exp(-2j * np.pi * self.qx * sx).astype(np.complex64)
        ramp: np.ndarray = ey[:, None] * ex[None, :]
        return ramp

    def aligned_sum(self, shifts: np.ndarray) -> np.ndarray:
        total = np.zeros_like(self.spectra[0])
        for k, spectrum in enumerate(self.spectra):
            total += spectrum * self.ramp(shifts[k])
        return np.asarray(total)

    def power(self, shifts: np.ndarray) -> float:
        """Filtered power of the aligned sum: what a better alignment makes larger."""
        total = self.aligned_sum(shifts)
        return float(np.sum((total.real**2 + total.imag**2) * self.lowpass, axis=0, dtype=np.float64) @ self.m)


class _Overlap:
    """How much of a frame's (tapered) window overlaps the windows of the others: the
    correlation with their sum is this times the specimen's, so its slope would pull each
    frame toward the middle of the others; the peak search divides it out (as the masked
    normalised correlation does for pairs)."""

    def __init__(self, window: tuple[np.ndarray, np.ndarray]) -> None:
        self.acf = [np.correlate(w, w, mode="full") for w in window]  # lags -(n-1)..(n-1)
        self.centre = [len(w) - 1 for w in window]

    def _value(self, axis: int, lag: np.ndarray) -> np.ndarray:
        return np.asarray(np.interp(lag + self.centre[axis], np.arange(self.acf[axis].size), self.acf[axis]))

    def log_gradient(self, offsets: np.ndarray, t: np.ndarray, h: float = 0.5) -> np.ndarray:
        """∇ log Σ_k acf(offsets_k + t) by central differences (crop px)."""
        gradient = np.empty(2)
        for axis in (0, 1):
            other = self._value(1 - axis, offsets[:, 1 - axis] + t[1 - axis])
            up = self._value(axis, offsets[:, axis] + t[axis] + h) @ other
            down = self._value(axis, offsets[:, axis] + t[axis] - h) @ other
            gradient[axis] = (np.log(max(up, 1e-300)) - np.log(max(down, 1e-300))) / (2 * h)
        return gradient


def _terms(z: np.ndarray, columns: np.ndarray, qy: np.ndarray) -> np.ndarray:
    """Σ over the half-plane of z · [1, qy, qy²] x [m, m qx, m qx²] as a 3 x 3 array."""
    by_row = z @ columns  # (y, 3)
    return np.stack([by_row.sum(axis=0), qy @ by_row, (qy * qy) @ by_row])


def _locate(
    product: np.ndarray, grid: _Band, start: np.ndarray, offsets: np.ndarray | None = None, steps: int = 4
) -> tuple[np.ndarray, np.ndarray | None, float]:
    """Newton steps from ``start`` (crop px) to the maximum of C(t) = Re Σ m product e^{2 pi i q·t}
    divided by the windows' overlap at t (the other frames' window ``offsets``, crop px).

    Returns the position, its covariance (crop px², None where C has no maximum) and the
    peak's significance: C over its standard deviation were the terms pure noise of random
    phase (sqrt(Σ m² |product|² / 2), inflated for correlated neighbouring frequencies).
    """
    t = np.array(start, float)
    two_pi = 2 * np.pi
    for step in range(steps + 1):
        ey = np.exp(two_pi * 1j * grid.qy * t[0]).astype(np.complex64)
        ex = np.exp(two_pi * 1j * grid.qx * t[1]).astype(np.complex64)
        terms = product * ey[:, None] * ex[None, :]
        re, im = _terms(terms.real, grid.columns, grid.qy), _terms(terms.imag, grid.columns, grid.qy)
        gradient = -two_pi * np.array([im[1, 0], im[0, 1]])
        if offsets is not None and grid.overlap is not None:  # of C / overlap: its Hessian is nearly C's over it
            gradient -= re[0, 0] * grid.overlap.log_gradient(offsets, t)
        hessian = -(two_pi**2) * np.array([[re[2, 0], re[1, 1]], [re[1, 1], re[0, 2]]])
        if not (hessian[0, 0] < 0 and np.linalg.det(hessian) > 0):
            return t, None, 0.0
        if step == steps:
            break
        move = -np.linalg.solve(hessian, gradient)
        t += np.clip(move, -1.0, 1.0)
        if np.abs(move).max() < 1e-4:
            steps = step + 1  # one more evaluation, at the converged position, for the errors
    spread = _terms(terms.imag**2, grid.columns_sq, grid.qy) * two_pi**2 * grid.oversampling
    variance = np.array([[spread[2, 0], spread[1, 1]], [spread[1, 1], spread[0, 2]]])
    inverse = np.linalg.inv(hessian)
    power = (product.real**2 + product.imag**2).sum(axis=0, dtype=np.float64) @ (grid.m**2)
    significance = re[0, 0] / np.sqrt(max(power * grid.oversampling / 2, 1e-300))
    return t, inverse @ variance @ inverse, float(significance)


def _coarse_peak(product: np.ndarray, grid: _Band, radius: float) -> np.ndarray:
    """Maximum (crop px) of the correlation within ``radius`` crop px of zero, on the band's map grid."""
    correlation = scipy.fft.irfft2(product, s=grid.map_shape)
    r = np.minimum(np.ceil(radius / grid.map_pixel).astype(int), np.array(grid.map_shape) // 2 - 1)
    iy, ix = np.arange(-r[0], r[0] + 1) % grid.map_shape[0], np.arange(-r[1], r[1] + 1) % grid.map_shape[1]
    window = correlation[np.ix_(iy, ix)]
    yy, xx = np.meshgrid(np.arange(-r[0], r[0] + 1) * grid.map_pixel[0], np.arange(-r[1], r[1] + 1) * grid.map_pixel[1],
                         indexing="ij")  # fmt: skip
    window[yy**2 + xx**2 > radius**2] = -np.inf
    y, x = np.unravel_index(int(np.argmax(window)), window.shape)
    return np.array([yy[y, x], xx[y, x]])


def measure(
    grid: _Band, shifts: np.ndarray, radius: float | None, frames: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Each frame (of ``frames``, default all) against the sum of the others at ``shifts``: its
    new position (input px) and per-axis variance. ``radius`` (crop px): search whole pixels
    that far first; without it the previous position is already close (two Newton steps)."""
    total = grid.aligned_sum(shifts)
    n = len(shifts)
    positions, variances = np.array(shifts, float), np.full((n, 2), _NO_INFORMATION)
    for k in range(n) if frames is None else frames:
        mine = grid.spectra[k] * grid.ramp(shifts[k])
        product = grid.lowpass * np.conj(mine) * (total - mine)
        start = _coarse_peak(product, grid, radius) if radius else np.zeros(2)
        offsets = np.delete(shifts[k] - shifts, k, axis=0) / grid.binning
        t, covariance, significance = _locate(product, grid, start, offsets, steps=4 if radius else 2)
        moved = np.abs(t - start).max()
        if covariance is None or significance < MIN_SIGNIFICANCE or moved > 2 * grid.map_pixel.max():
            t = start  # no peak, or one noise could make: keep the whole-pixel estimate, with no weight
        else:
            variances[k] = np.diag(covariance) * grid.binning**2
        positions[k] = shifts[k] + t * grid.binning
    return positions, variances


class Prior(NamedTuple):
    """What the smoothing expects of a path, and how strongly."""

    kind: str
    """'smooth' (second differences held small), 'walk' (steps held about a mean drift) or
    'none' (a path that was not smoothed)."""
    fade: float
    """Factor per frame by which a smooth path's expected squared bend shrinks (1: steady), as
    beam-induced motion settles after its first frames."""
    lam: float
    """λ: the innovations are N(0, 1/λ)."""


STEADY = ("smooth", 1.0)
SHAPES = (STEADY,) + tuple(("smooth", fade) for fade in (0.9, 0.8, 0.7, 0.6)) + (("walk", 1.0),)
"""The (kind, fade) pairs tried: a steady smooth path, smooth paths whose bends fade (the
strongest halves the expected squared bend every 1.4 frames), a random walk."""
FADE_MARGIN = float(np.log(sum(fade < 1 for _, fade in SHAPES)))
"""Log-likelihood by which a fading path has to beat the steady one: half the prior odds are the
steady path's, the other half shared by the fades. Without it a straight path, which every
fade fits, would take a fade and follow the noise of its first frames."""
WALK_MARGIN = 3.0
"""Log-likelihood by which a random walk has to beat a smooth path to be chosen (prior odds of
e³ ≈ 20 for the smooth path of beam-induced motion): with little signal per frame the choice
would otherwise be the noise's, and a random walk follows the noise more."""


def smooth(
    measured: np.ndarray, variances: np.ndarray, prior: Prior | None = None,
    shapes: Sequence[tuple[str, float]] = SHAPES,
) -> tuple[np.ndarray, np.ndarray, Prior]:  # fmt: skip
    """The path x under measurements ``measured`` (n, 2) with per-axis ``variances`` and a prior
    of one of ``shapes``: x is smooth (its second differences, the k-th over fade^(k/2), are
    N(0, 1/λ)) or a random walk (its steps are N(v, 1/λ) about a free drift v). The shape and λ
    (unless ``prior`` gives λ for its shape) maximise the marginal likelihood (shared by both
    axes). The prior is made robust (Huber, by reweighting): where the path bends or steps more
    than twice what λ expects, as at the start of beam-induced motion, it is let. Returns x, its
    posterior covariance (2, n, n) and the prior."""
    n = len(measured)
    if n < 3:
        return measured.copy(), np.stack([np.diag(variances[:, a]) for a in range(2)]), Prior(*STEADY, 0.0)
    given = {(prior.kind, prior.fade): prior.lam} if prior else {}
    fits = [_robust(measured, 1 / variances, kind, fade, given.get((kind, fade))) for kind, fade in shapes]
    _, path, covariance, chosen = max(fits, key=lambda fit: fit[0] - _margin(fit[3]))
    return path, covariance, chosen


def _margin(prior: Prior) -> float:
    return WALK_MARGIN if prior.kind == "walk" else FADE_MARGIN if prior.fade < 1 else 0.0


def _innovations(n: int, kind: str, fade: float) -> np.ndarray:
    """The combinations of the path's positions that the prior holds to N(0, 1/λ): second
    differences (the k-th over fade^(k/2)), or first differences less their mean. Both leave a
    line free."""
    if kind == "smooth":
        bends: np.ndarray = np.diff(np.eye(n), 2, axis=0) * fade ** (-np.arange(n - 2) / 2)[:, None]
        return bends
    steps = np.diff(np.eye(n), axis=0)
    centred: np.ndarray = steps - steps.mean(axis=0)
    return centred


def _robust(
    measured: np.ndarray, precision: np.ndarray, kind: str, fade: float, lam: float | None
) -> tuple[float, np.ndarray, np.ndarray, Prior]:
    """:func:`smooth` with one shape of prior: the marginal likelihood under the plain (not yet
    reweighted) prior, the path, its covariance and the prior."""
    n = len(measured)
    innovations = _innovations(n, kind, fade)
    lams = [lam] if lam else (float(np.median(precision)) * np.logspace(-4, 6, 21)).tolist()
    bend = np.ones(len(innovations))
    for step in range(3):  # λ from the plain prior, then the bends it cannot explain let free
        roughness = innovations.T @ (bend[:, None] * innovations)
        score, chosen, fits = _most_likely(measured, precision, roughness, lams)
        if step == 0:  # the prior's normalisation, which differs between the shapes
            spectrum = np.linalg.eigvalsh(innovations @ innovations.T)[-(n - 2) :]
            likelihood = score + float(np.log(spectrum).sum())
        lams = [chosen]
        path = np.stack([x for x, _ in fits], axis=1)
        curvature = np.linalg.norm(innovations @ path, axis=1) / np.sqrt(2)
        bend = np.minimum(1.0, 2 / np.sqrt(chosen) / np.maximum(curvature, 1e-12))
    covariance = np.stack([np.linalg.inv(p) for _, p in fits])
    return likelihood, path, covariance, Prior(kind, fade, float(chosen))


Fit = tuple[np.ndarray, np.ndarray]  # posterior mean and precision of one axis


def _most_likely(
    measured: np.ndarray, precision: np.ndarray, roughness: np.ndarray, lams: Sequence[float]
) -> tuple[float, float, list[Fit]]:
    """The λ of ``lams`` with the largest marginal likelihood of the measurements, that
    likelihood, and the posterior (mean, precision) per axis under it."""
    n = len(measured)
    best: tuple[float, float, list[Fit]] | None = None
    for lam in lams:
        score, fits = 0.0, []
        for a in range(2):
            p = np.diag(precision[:, a]) + lam * roughness
            b = precision[:, a] * measured[:, a]
            x = np.linalg.solve(p, b)
            logdet = 2 * np.log(np.diag(np.linalg.cholesky(p))).sum()
            score += -0.5 * (precision[:, a] @ measured[:, a] ** 2 - b @ x + logdet - (n - 2) * np.log(lam))
            fits.append((x, p))
        if best is None or score > best[0]:
            best = (score, lam, fits)
    assert best is not None, "no smoothness to try"
    return best


def _relative_to_first(path: np.ndarray, covariance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    shifts = path - path[0]
    var = np.stack([np.diag(c) + c[0, 0] - 2 * c[0] for c in covariance], axis=1)
    return shifts, np.sqrt(np.clip(var, 0, None))


def _significant(path: np.ndarray, covariance: np.ndarray) -> bool:
    """Whether the path is better than no motion: its centred size exceeds what its own
    errors would make of a still specimen (expected squared error of zero motion, |x|² - tr C,
    above that of the path, tr C)."""
    n = len(path)
    centre = np.eye(n) - 1 / n
    centred = path - path.mean(axis=0)
    trace = sum(np.trace(centre @ c @ centre) for c in covariance)
    return float((centred**2).sum()) > 2 * float(trace)


def _run(grid: _Band, start: np.ndarray, radius: float, rounds: int) -> tuple[np.ndarray, np.ndarray, Prior, int]:
    """Rounds of measuring and smoothing (with a steady smooth prior) until the path moves less
    than a tenth of its errors (and 0.005 px); the smoothness is chosen anew in the first two
    rounds, then kept. Last, where that steady path is better than no motion, every shape of
    prior is tried on the final measurements: freer priors in the rounds would let the noise of
    low-signal frames into the sum, and their tighter errors would pass a noise path as motion."""
    shifts, prior = start, Prior(*STEADY, 0.0)
    for done in range(1, rounds + 1):
        measured, variances = measure(grid, shifts, radius if done == 1 else None)
        given = prior if done > 2 else None
        path, covariance, prior = smooth(measured, variances, given, shapes=[STEADY])
        change = np.abs((path - path.mean(axis=0)) - (shifts - shifts.mean(axis=0))).max()
        shifts = path
        if change < max(0.005, 0.1 * np.sqrt(np.median(variances))):
            break
    if _significant(path, covariance):
        path, covariance, prior = smooth(measured, variances, prior)
    return path, covariance, prior, done


def refine(
    spectra: np.ndarray,
    crop: tuple[int, int],
    binning: np.ndarray,
    oversampling: float,
    window: tuple[np.ndarray, np.ndarray],
    start: np.ndarray,
    max_shift: float,
    rounds: int = 10,
) -> Refined:
    """Refine ``start`` (frames, 2; input px) against the frames' cropped ``spectra``, whose
    frames were tapered by the separable ``window`` (profiles along y and x)."""
    overlap = _Overlap(window)
    # The low-pass: the one whose measurements around the starting path are most precise
    # (judged on at most 8 frames spread over the movie).
    sample = np.unique(np.linspace(0, len(start) - 1, min(8, len(start))).round().astype(int))
    best = np.inf
    for bfactor in BFACTORS:
        band = _Band(spectra, crop, binning, oversampling, bfactor, overlap)
        _, variances = measure(band, start, None, sample)
        error = float(np.sum(1 / np.mean(1 / variances[sample], axis=0)))
        if error < best:
            best, grid, informative = error, band, np.mean(variances[sample] < _NO_INFORMATION)
    bfactor = grid.bfactor
    near = max(2.0, 2 * np.sqrt(bfactor / 8) / np.pi / binning.max())
    candidates = {"pairwise": _run(grid, start, near, rounds)}
    if informative < 1:  # some frames see no peak near the pairwise path: try from no motion too
        candidates["zero"] = _run(grid, np.zeros_like(start), max_shift / binning.max(), rounds)
    name = max(candidates, key=lambda c: grid.power(candidates[c][0]))
    path, covariance, prior, done = candidates[name]
    shifts, errors_rel = _relative_to_first(path, covariance)
    found = bool(_significant(path, covariance))
    if not found:  # the truth is within about the path's size of zero: say so in the errors
        errors_rel = np.sqrt(errors_rel**2 + shifts**2)
        shifts = np.zeros_like(shifts)
    return Refined(shifts, errors_rel, bfactor, prior, done, name, found)
