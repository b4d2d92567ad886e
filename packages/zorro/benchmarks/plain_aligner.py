"""The peer: a plain iterative aligner, as most movie-alignment programs do it (Unblur's scheme).

Each frame is correlated with the aligned sum of all the other frames, after a Gaussian
low-pass of B = 1500 px² (amplitudes times exp(-B q² / 4), q in cycles/px); the peak is
found at whole pixels and refined by a parabola through its neighbours on each axis; the
frame's shift is updated and the sum rebuilt; this repeats until no shift moves by more
than 0.01 px (at most 20 rounds). Shifts follow zorro's convention (frame 0 is (0, 0)).
No gain, defect or hot-pixel handling: it sees the frames as they come.
"""

from __future__ import annotations

import numpy as np
import scipy.fft
from numpy.typing import NDArray


def plain_align(
    frames: NDArray[np.number], *, bfactor: float = 1500.0, tolerance: float = 0.01, rounds: int = 20, workers: int = 2
) -> NDArray[np.float64]:
    n, h, w = frames.shape
    qy = scipy.fft.fftfreq(h)[:, None]
    qx = scipy.fft.rfftfreq(w)[None, :]
    lowpass = np.exp(-bfactor * (qy**2 + qx**2) / 4).astype(np.float32)
    spectra = np.stack(
        [scipy.fft.rfft2(f.astype(np.float32) - f.mean(dtype=np.float64), workers=workers) for f in frames]
    )
    ramp_y, ramp_x = (-2j * np.pi * qy).astype(np.complex64), (-2j * np.pi * qx).astype(np.complex64)

    def aligned(k: int, shift: NDArray[np.float64]) -> NDArray[np.complexfloating]:
        spectrum: NDArray[np.complexfloating] = spectra[k] * np.exp(ramp_y * shift[0]) * np.exp(ramp_x * shift[1])
        return spectrum

    shifts = np.zeros((n, 2))
    for _ in range(rounds):
        total = sum(aligned(k, shifts[k]) for k in range(n))
        moves = np.zeros((n, 2))
        for k in range(n):
            mine = aligned(k, shifts[k])
            correlation = scipy.fft.irfft2(lowpass * np.conj(mine) * (total - mine), s=(h, w), workers=workers)
            moves[k] = _parabolic_peak(correlation)
        shifts += moves
        if np.abs(moves).max() < tolerance:
            break
    return shifts - shifts[:1]


def _parabolic_peak(correlation: NDArray[np.floating]) -> NDArray[np.float64]:
    """Position of the highest value of a periodic map (signed, in pixels), refined per axis
    by the vertex of the parabola through it and its two neighbours."""
    h, w = correlation.shape
    iy, ix = np.unravel_index(int(np.argmax(correlation)), correlation.shape)
    centre = correlation[iy, ix]
    peak = []
    for below, above, index, size in (
        (correlation[(iy - 1) % h, ix], correlation[(iy + 1) % h, ix], iy, h),
        (correlation[iy, (ix - 1) % w], correlation[iy, (ix + 1) % w], ix, w),
    ):
        curvature = below - 2 * centre + above
        offset = 0.5 * (below - above) / curvature if curvature < 0 else 0.0
        peak.append((index + size // 2) % size - size // 2 + offset)
    return np.array(peak, np.float64)
