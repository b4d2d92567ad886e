"""Synthetic cryo-EM movies with a known drift: the reference for tests, demo and benchmarks.

A phantom of particle-like blobs on a field that is partly covered by carbon-like fine
texture is translated exactly (a Fourier phase ramp on a larger field, then cropped) along a
drift trajectory and sampled with Poisson noise at the requested dose. Optionally the
detector has a per-pixel and per-column gain (its reference is written in a known
orientation), hot pixels and defective rows and columns.

Shifts follow zorro's convention: ``shifts[k]`` is the translation that aligns frame k
with frame 0, so a feature at p in frame 0 is at p - shifts[k] in frame k.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypedDict, get_args

import numpy as np
import scipy.fft
import tifffile
from numpy.typing import ArrayLike, NDArray

import mrcz
import numexpr3

from ._atomic import write_text_atomic
from ._orient import ORIENTATIONS, Orientation, unorient

DriftModel = Literal["linear", "decaying", "random-walk", "jittery"]
Specimen = Literal["particles", "ice", "carbon"]
DRIFT_MODELS: tuple[DriftModel, ...] = get_args(DriftModel)
SPECIMENS: tuple[Specimen, ...] = get_args(Specimen)
_POISSON_BLOCKS = 8  # fixed so that the noise does not depend on the number of threads


class Defects(TypedDict):
    """Defective detector lines and pixels of a simulated movie."""

    rows: list[int]
    columns: list[int]
    pixels: list[list[int]]
    """[y, x] pairs."""


@dataclass
class SimulatedMovie:
    """A synthetic movie and everything that is true about it."""

    frames: NDArray[np.uint8] | NDArray[np.uint16]
    """Counts, (frames, y, x), uint8 or uint16."""
    shifts: NDArray[np.float64]
    """True shifts (frames, 2) as (y, x) in pixels; frame 0 is (0, 0)."""
    dose_per_frame: float
    """Mean electrons per pixel per frame."""
    pixel_size: float
    """Å per pixel."""
    voltage: float
    """kV."""
    drift: DriftModel
    gain: NDArray[np.float32] | None = None
    """Gain reference as stored (multiply the frames by ``orient(gain, gain_orientation)``)."""
    gain_orientation: Orientation | None = None
    defects: Defects | None = None
    """``rows``, ``columns`` and ``pixels`` ([y, x] pairs) that are defective (None: none)."""
    seed: int = 0

    def truth(self) -> dict[str, object]:
        """The known facts as JSON-ready data (what ``<stem>_truth.json`` holds)."""
        return {
            "shifts_yx": self.shifts.tolist(),
            "shift_convention": "translation aligning frame k with frame 1 (feature at p in frame 1 is at p - shift)",
            "frames": int(self.frames.shape[0]),
            "shape": list(self.frames.shape[1:]),
            "dose_per_frame": self.dose_per_frame,
            "pixel_size": self.pixel_size,
            "voltage": self.voltage,
            "drift": self.drift,
            "gain_orientation": self.gain_orientation,
            "defects": self.defects or {},
            "seed": self.seed,
        }


def trajectory(
    frames: int,
    model: DriftModel = "linear",
    amplitude: float = 1.0,
    *,
    tau: float = 3.0,
    jitter: float = 0.3,
    rng: np.random.Generator | None = None,
) -> NDArray[np.float64]:
    """True shifts (frames, 2) for a drift model; the direction is drawn from ``rng``.

    - ``linear``: constant speed ``amplitude`` px/frame.
    - ``decaying``: beam-induced motion that starts fast and settles: ``amplitude`` px in
      total, approached as 1 - exp(-k / tau).
    - ``random-walk``: mean speed ``amplitude`` px/frame plus Gaussian steps of ``jitter`` px.
    - ``jittery``: the ``decaying`` path plus independent Gaussian offsets of ``jitter`` px
      in every frame (stage vibration).
    """
    if model not in DRIFT_MODELS:
        raise ValueError(f"unknown drift model {model!r}; choose one of {', '.join(DRIFT_MODELS)}")
    if frames < 1:
        raise ValueError("a movie needs at least one frame")
    rng = rng or np.random.default_rng(0)
    angle = rng.uniform(0, 2 * np.pi)
    direction = np.array([np.sin(angle), np.cos(angle)], np.float64)
    k = np.arange(frames, dtype=np.float64)[:, None]
    if model == "linear":
        shifts = k * amplitude * direction
    elif model in ("decaying", "jittery"):
        shifts = amplitude * (1 - np.exp(-k / tau)) * direction
        if model == "jittery":
            shifts = shifts + rng.normal(0.0, jitter, size=(frames, 2))
    else:
        steps = amplitude * direction + rng.normal(0.0, jitter, size=(frames, 2))
        steps[0] = 0
        shifts = np.cumsum(steps, axis=0)
    return shifts - shifts[:1]


def _gaussian(shape: tuple[int, int], sigma: float) -> NDArray[np.float64]:
    """Fourier transform (rfft2 layout) of a unit-sum Gaussian of width sigma pixels."""
    qy = scipy.fft.fftfreq(shape[0])[:, None]
    qx = scipy.fft.rfftfreq(shape[1])[None, :]
    gaussian: NDArray[np.float64] = np.exp(-2 * np.pi**2 * sigma**2 * (qy**2 + qx**2))
    return gaussian


def phantom_spectrum(
    shape: tuple[int, int],
    rng: np.random.Generator,
    specimen: Specimen = "particles",
    defocus: float | None = None,
    pixel_size: float = 1.0,
    voltage: float = 300.0,
) -> NDArray[np.complex64]:
    """rfft2 of a zero-mean, unit-variance specimen image (one of ``SPECIMENS``).

    - ``particles``: clusters of 3-6 subunits (Gaussian blobs, sigma 2.5 px) around centres
      about 40 px apart, plus a softer body (sigma 6 px), on a field partly covered by carbon
      (fine random texture, sigma 1 px, outside a round hole whose edge crosses the field).
    - ``ice``: soft Gaussian particles 4-18 px in radius on a smooth background, as in
      vitreous ice: nearly all the power below 0.05 cycles/px.
    - ``carbon``: amorphous-carbon texture everywhere, power falling as 1 / (1 + (q / 0.05)²).

    With ``defocus`` (Å, underfocus positive) the image is the specimen seen through a
    phase-contrast transfer function (7 % amplitude contrast, no spherical aberration term):
    rings where the contrast vanishes and flips.
    """
    if specimen not in SPECIMENS:
        raise ValueError(f"unknown specimen {specimen!r}; choose one of {', '.join(SPECIMENS)}")
    spectrum = {"particles": _particles_on_carbon, "ice": _ice, "carbon": _carbon}[specimen](shape, rng)
    if defocus is not None:
        spectrum = spectrum * _ctf(shape, defocus, pixel_size, voltage)
    spectrum[0, 0] = 0
    return (spectrum / _std(spectrum, shape)).astype(np.complex64)


def _std(spectrum: NDArray[np.complexfloating], shape: tuple[int, int]) -> float:
    """Standard deviation of the zero-mean image whose rfft2 is ``spectrum`` (Parseval)."""
    return float(np.sqrt(np.sum(np.abs(spectrum) ** 2 * _rfft_multiplicity(shape))) / (shape[0] * shape[1]))


def _particles_on_carbon(shape: tuple[int, int], rng: np.random.Generator) -> NDArray[np.complexfloating]:
    h, w = shape
    count = max(1, h * w // 1600)
    centres = rng.uniform(0, [h, w], size=(count, 2))
    subunits = centres[:, None, :] + rng.normal(0, 5.0, size=(count, 5, 2))
    subunits = subunits[:, : rng.integers(3, 7)].reshape(-1, 2)
    points = np.zeros(shape, np.float32)
    np.add.at(points, tuple(np.mod(np.round(subunits).astype(int), [h, w]).T), 1.0)
    body = np.zeros(shape, np.float32)
    np.add.at(body, tuple(np.mod(np.round(centres).astype(int), [h, w]).T), 1.0)
    particles: NDArray[np.complexfloating] = scipy.fft.rfft2(points) * _gaussian(shape, 2.5)
    particles += 0.5 * scipy.fft.rfft2(body) * _gaussian(shape, 6.0)

    noise = scipy.fft.irfft2(
        scipy.fft.rfft2(rng.standard_normal(shape, dtype=np.float32)) * _gaussian(shape, 1.0), s=shape
    )
    centre = rng.uniform(0.3, 0.7, size=2) * [h, w]
    yy, xx = np.ogrid[:h, :w]
    radius = 0.45 * min(h, w)
    edge = np.hypot(yy - centre[0], xx - centre[1]) - radius
    carbon = 1 / (1 + np.exp(-edge / 4.0))  # 1 on the carbon, 0 in the hole
    texture = scipy.fft.rfft2((noise / noise.std() * carbon).astype(np.float32))

    particles_std = float(np.sqrt(np.mean(scipy.fft.irfft2(particles, s=shape) ** 2)))
    return particles / particles_std + 0.6 * texture


def _ice(shape: tuple[int, int], rng: np.random.Generator) -> NDArray[np.complexfloating]:
    h, w = shape
    particles = np.zeros((h, w // 2 + 1), np.complex128)
    for radius in (4, 6, 9, 13, 18):  # particles of each size, about one per (6 radius)² of the field
        points = np.zeros(shape, np.float32)
        centres = rng.uniform(0, [h, w], size=(max(1, int(h * w / (6 * radius) ** 2)), 2))
        np.add.at(points, tuple(np.mod(np.round(centres).astype(int), [h, w]).T), 1.0)
        particles += scipy.fft.rfft2(points) * _gaussian(shape, radius / 2) * (radius / 2) ** 2
    background = scipy.fft.rfft2(rng.standard_normal(shape, dtype=np.float32)) * _gaussian(shape, 24.0)
    particles[0, 0] = background[0, 0] = 0
    return particles / _std(particles, shape) + 0.5 * background / _std(background, shape)


def _carbon(shape: tuple[int, int], rng: np.random.Generator) -> NDArray[np.complexfloating]:
    q2 = scipy.fft.fftfreq(shape[0])[:, None] ** 2 + scipy.fft.rfftfreq(shape[1])[None, :] ** 2
    falloff: NDArray[np.float64] = np.sqrt(1 + q2 / 0.05**2)
    return scipy.fft.rfft2(rng.standard_normal(shape, dtype=np.float32)) / falloff


def _ctf(shape: tuple[int, int], defocus: float, pixel_size: float, voltage: float) -> NDArray[np.float64]:
    """-(sqrt(1 - A²) sin chi + A cos chi), chi = pi lambda defocus q², A = 0.07 (q in 1/Å)."""
    volts = voltage * 1e3
    wavelength = 12.2643 / np.sqrt(volts * (1 + 0.978466e-6 * volts))  # Å, relativistic
    q2 = scipy.fft.fftfreq(shape[0], d=pixel_size)[:, None] ** 2 + scipy.fft.rfftfreq(shape[1], d=pixel_size) ** 2
    chi = np.pi * wavelength * defocus * q2
    amplitude = 0.07
    ctf: NDArray[np.float64] = -(np.sqrt(1 - amplitude**2) * np.sin(chi) + amplitude * np.cos(chi))
    return ctf


def _rfft_multiplicity(shape: tuple[int, int]) -> NDArray[np.float64]:
    """How often each rfft2 column appears in the full spectrum (1 for DC and Nyquist, else 2)."""
    m = np.full(shape[1] // 2 + 1, 2.0)
    m[0] = 1
    if shape[1] % 2 == 0:
        m[-1] = 1
    return m[None, :]


def _translated(
    spectrum: NDArray[np.complex64], field_shape: tuple[int, int], shift: NDArray[np.float64]
) -> NDArray[np.float32]:
    """The field whose value at q is the phantom's at q + shift (exact Fourier shift, NumPy)."""
    qy = scipy.fft.fftfreq(field_shape[0])[:, None]
    qx = scipy.fft.rfftfreq(field_shape[1])[None, :]
    ramp = np.exp(2j * np.pi * qy * shift[0]).astype(np.complex64) * np.exp(2j * np.pi * qx * shift[1]).astype(
        np.complex64
    )
    return scipy.fft.irfft2(spectrum * ramp, s=field_shape, workers=-1)


def _poisson(rate: NDArray[np.float32], seed: np.random.SeedSequence) -> NDArray[np.int32]:
    """Poisson counts for each rate, drawn in fixed row blocks on threads (numpy releases the GIL)."""
    blocks = np.array_split(np.arange(rate.shape[0]), _POISSON_BLOCKS)
    seeds = seed.spawn(len(blocks))
    out = np.empty(rate.shape, np.int32)

    def draw(i: int) -> None:
        rows = slice(blocks[i][0], blocks[i][-1] + 1) if len(blocks[i]) else slice(0, 0)
        out[rows] = np.random.default_rng(seeds[i]).poisson(rate[rows])

    with ThreadPoolExecutor(min(numexpr3.detect_number_of_cores(), _POISSON_BLOCKS)) as pool:
        list(pool.map(draw, range(len(blocks))))
    return out


def simulate(
    frames: int = 20,
    shape: tuple[int, int] | int = 1024,
    *,
    dose: float = 1.0,
    pixel_size: float = 1.0,
    voltage: float = 300.0,
    drift: DriftModel = "linear",
    amplitude: float | None = None,
    tau: float = 3.0,
    jitter: float = 0.3,
    contrast: float = 0.2,
    specimen: Specimen = "particles",
    defocus: float | None = None,
    gain: bool = False,
    gain_spread: float = 0.06,
    gain_orientation: Orientation = "rot90+flip",
    hot_pixels: int = 0,
    defect_rows: int = 0,
    defect_columns: int = 0,
    seed: int = 0,
) -> SimulatedMovie:
    """A synthetic movie with known drift.

    ``dose`` is the mean number of electrons per pixel per frame, ``pixel_size`` in Å.
    ``drift`` is one of ``DRIFT_MODELS`` (linear, decaying, random-walk, jittery) with its
    ``amplitude`` (px/frame for linear and random-walk, total px for decaying and jittery;
    defaults 1, 1 and 20), ``tau`` and ``jitter``.
    ``contrast`` is the specimen's standard deviation relative to the mean dose; ``specimen``
    and ``defocus`` choose its spectrum (see ``phantom_spectrum``). With ``gain=True`` the
    detector has a per-pixel (``gain_spread``) and per-column (half that) sensitivity, and
    :attr:`SimulatedMovie.gain` is its correction stored in ``gain_orientation``.
    ``hot_pixels`` pixels count about 20 extra electrons per frame; ``defect_rows`` rows
    read 0 and ``defect_columns`` columns read high. The same arguments give the same movie.
    """
    h, w = (shape, shape) if isinstance(shape, int) else (int(shape[0]), int(shape[1]))
    if h < 32 or w < 32:
        raise ValueError(f"frames of {h} x {w} pixels are too small to simulate (at least 32 x 32)")
    if not dose > 0:
        raise ValueError(f"the dose per frame must be positive, not {dose}")
    if gain and gain_orientation not in ORIENTATIONS:
        raise ValueError(f"unknown gain orientation {gain_orientation!r}; choose one of {', '.join(ORIENTATIONS)}")
    seeds = np.random.SeedSequence(seed).spawn(4)
    rng = np.random.default_rng(seeds[0])
    if amplitude is None:
        amplitude = 20.0 if drift in ("decaying", "jittery") else 1.0
    shifts = trajectory(frames, drift, amplitude, tau=tau, jitter=jitter, rng=rng)

    # The frames are windows into a larger field, so nothing wraps around.
    margin = int(np.ceil(np.abs(shifts).max())) + 16
    field_shape = (
        scipy.fft.next_fast_len(h + 2 * margin, real=True),
        scipy.fft.next_fast_len(w + 2 * margin, real=True),
    )
    spectrum = phantom_spectrum(field_shape, rng, specimen, defocus, pixel_size, voltage)

    sensitivity = np.ones((h, w), np.float32)
    defects = Defects(rows=[], columns=[], pixels=[])
    detector_rng = np.random.default_rng(seeds[1])
    if gain:
        per_pixel = 1 + gain_spread * detector_rng.standard_normal((h, w))
        per_column = 1 + 0.5 * gain_spread * detector_rng.standard_normal(w)
        sensitivity = np.clip(per_pixel * per_column, 0.5, 1.5).astype(np.float32)
    hot = detector_rng.choice(h * w, size=hot_pixels, replace=False) if hot_pixels else np.array([], int)
    defects["pixels"] = [[int(i // w), int(i % w)] for i in hot]
    defects["rows"] = sorted(int(r) for r in detector_rng.choice(h, size=defect_rows, replace=False))
    defects["columns"] = sorted(int(c) for c in detector_rng.choice(w, size=defect_columns, replace=False))

    noise_seeds = seeds[2].spawn(frames)
    counts = np.empty((frames, h, w), np.int32)
    for k in range(frames):
        image = _translated(spectrum, field_shape, shifts[k])[margin : margin + h, margin : margin + w]
        rate = np.clip(dose * (1 + contrast * image), 0, None) * sensitivity
        rate.flat[hot] += 20.0
        for c in defects["columns"]:
            rate[:, c] += 5.0 * dose
        for r in defects["rows"]:
            rate[r] = 0
        counts[k] = _poisson(rate.astype(np.float32), noise_seeds[k])
    stored = counts.astype(np.uint8) if counts.max() <= np.iinfo(np.uint8).max else counts.astype(np.uint16)
    reference = unorient((1 / sensitivity).astype(np.float32), gain_orientation) if gain else None
    return SimulatedMovie(
        frames=stored,
        shifts=shifts,
        dose_per_frame=float(dose),
        pixel_size=float(pixel_size),
        voltage=float(voltage),
        drift=drift,
        gain=reference,
        gain_orientation=gain_orientation if gain else None,
        defects=defects,
        seed=seed,
    )


def rms_error(shifts: ArrayLike, truth: ArrayLike) -> float:
    """RMS over frames of |found - true| shift after removing the mean offset (the origin is arbitrary)."""
    difference = np.asarray(shifts, float) - np.asarray(truth, float)
    difference -= difference.mean(axis=0)
    return float(np.sqrt((difference**2).sum(axis=1).mean()))


def write(movie: SimulatedMovie, path: str | os.PathLike[str]) -> dict[str, Path]:
    """Write the movie (format by extension: .mrcz, .mrc/.mrcs, .tif/.tiff) and its truth beside it.

    Returns the paths: ``movie``, ``truth`` (``<stem>_truth.json``) and, with a gain
    reference, ``gain`` (``<stem>_gain.mrc``).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    meta = {"dose_per_frame": movie.dose_per_frame, "zorro_simulated": True}
    if suffix == ".mrcz":
        mrcz.write(
            path,
            movie.frames,
            compressor="zstd",
            clevel=1,
            pixel_size=movie.pixel_size,
            voltage=movie.voltage,
            meta=meta,
            overwrite=True,
        )
    elif suffix in (".mrc", ".mrcs"):
        mrcz.write(path, movie.frames, pixel_size=movie.pixel_size, voltage=movie.voltage, meta=meta, overwrite=True)
    elif suffix in (".tif", ".tiff"):
        tifffile.imwrite(
            path,
            movie.frames,
            compression="zlib",
            metadata={**meta, "pixel_size": movie.pixel_size, "voltage": movie.voltage},
        )
    else:
        raise ValueError(f"cannot write a movie as {suffix!r}: use .mrcz, .mrc, .mrcs, .tif or .tiff")
    paths = {"movie": path, "truth": path.with_name(path.stem + "_truth.json")}
    write_text_atomic(paths["truth"], json.dumps(movie.truth(), indent=1))
    if movie.gain is not None:
        paths["gain"] = path.with_name(path.stem + "_gain.mrc")
        mrcz.write(paths["gain"], movie.gain, pixel_size=movie.pixel_size, overwrite=True)
    return paths
