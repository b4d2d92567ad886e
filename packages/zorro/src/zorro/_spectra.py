"""Dose weighting and Fourier ring correlation."""

from __future__ import annotations

import numpy as np
import scipy.fft
from numpy.typing import NDArray

# Grant & Grigorieff (2015) critical exposure at 300 kV: N_c(q) = A q^B + C e⁻/Å², q in 1/Å.
CRITICAL_EXPOSURE = (0.245, -1.665, 2.81)


def voltage_factor(voltage: float) -> float:
    """Scale of the critical exposure with the accelerating voltage (kV): 1 at 300 kV, 0.8 at
    200 kV (Grant & Grigorieff), linear between and beyond, never below 0.5."""
    return max(0.5, 0.8 + 0.2 * (voltage - 200.0) / 100.0)


def critical_exposure(q: NDArray[np.floating], voltage: float = 300.0) -> NDArray[np.floating]:
    """Critical exposure (e⁻/Å²) at spatial frequency q (1/Å); infinite at q = 0."""
    a, b, c = CRITICAL_EXPOSURE
    with np.errstate(divide="ignore"):
        return (a * q**b + c) * voltage_factor(voltage)


def inverse_twice_critical(shape: tuple[int, int], pixel_size: float, voltage: float) -> NDArray[np.float32]:
    """g = 1 / (2 N_c(q)) on an rfft2 grid of a real image of ``shape``: a frame after total
    exposure D is weighted by exp(-D g)."""
    qy = scipy.fft.fftfreq(shape[0], d=pixel_size).astype(np.float32)[:, None]
    qx = scipy.fft.rfftfreq(shape[1], d=pixel_size).astype(np.float32)[None, :]
    q = np.sqrt(qy * qy + qx * qx)
    return (0.5 / critical_exposure(q, voltage)).astype(np.float32)


def cosine_ramp(n: int, width: int) -> NDArray[np.float32]:
    """n values that are 1 inside and fall to 0 at both ends with a cosine over ``width``."""
    w = np.ones(n, np.float32)
    m = min(width, n // 2)
    edge = 0.5 - 0.5 * np.cos(np.pi * (np.arange(m) + 0.5) / m)
    w[:m], w[n - m :] = edge, edge[::-1]
    return w


def edge_taper(shape: tuple[int, int], width: int) -> NDArray[np.float32]:
    """A window that is 1 inside and falls to 0 at the edges with a cosine over ``width`` pixels."""
    return cosine_ramp(shape[0], width)[:, None] * cosine_ramp(shape[1], width)[None, :]


def frc(
    a: NDArray[np.floating], b: NDArray[np.floating], shells: int | None = None, workers: int = 1
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Fourier ring correlation of two images: (shell centres in cycles/pixel, FRC).

    The images' means are removed and their edges tapered (so the border does not
    correlate); shells are 1/min(shape) wide up to Nyquist. The rings are summed a block of
    rows at a time, so that no full-size index or product arrays are made.
    """
    if a.shape != b.shape:
        raise ValueError(f"FRC of images of different shapes {a.shape} and {b.shape}")
    taper = edge_taper(a.shape, max(4, min(a.shape) // 32))
    fa = scipy.fft.rfft2((a - a.mean()) * taper, workers=workers)
    fb = scipy.fft.rfft2((b - b.mean()) * taper, workers=workers)
    shells = shells or min(a.shape) // 2
    qy = scipy.fft.fftfreq(a.shape[0])
    qx2 = scipy.fft.rfftfreq(a.shape[1])[None, :] ** 2
    # rfft2 holds half the plane: columns other than 0 and Nyquist stand for two pixels.
    multiplicity = np.full(a.shape[1] // 2 + 1, 2.0)
    multiplicity[0] = 1
    if a.shape[1] % 2 == 0:
        multiplicity[-1] = 1
    sums = np.zeros((3, shells + 1))
    for start in range(0, a.shape[0], 256):
        rows = slice(start, start + 256)
        index = np.minimum((np.sqrt(qy[rows, None] ** 2 + qx2) * 2 * shells).astype(np.intp), shells).ravel()
        ra, rb = fa[rows], fb[rows]
        for k, values in enumerate(
            (ra.real * rb.real + ra.imag * rb.imag, ra.real**2 + ra.imag**2, rb.real**2 + rb.imag**2)
        ):
            sums[k] += np.bincount(index, (values * multiplicity).ravel(), shells + 1)
    cross, pa, pb = sums[:, :shells]
    with np.errstate(invalid="ignore", divide="ignore"):
        curve = np.where((pa > 0) & (pb > 0), cross / np.sqrt(pa * pb), 0.0)
    centres = (np.arange(shells) + 0.5) / (2 * shells)
    return centres, curve
