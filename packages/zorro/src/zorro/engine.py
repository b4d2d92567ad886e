"""The alignment engine: pairwise masked normalised correlations, refinement, exact sums.

``align`` runs the stages, each a function below: the detector (gain, defects, hot pixels
from the sum of all frames); pass 1, which reads each frame once and keeps its spectrum
Fourier-cropped to the correlation grid with the per-frame terms of the masked normalised
cross-correlation (Padfield 2012); the pairwise correlations of every pair in the band, each
peak searched after the Gaussian low-pass that makes it most significant and weighted by
its significance; a robust weighted least-squares solve for the starting path; the
refinement of each frame against the aligned sum of the others (``_refine``), which gives
the shifts and honest errors, or zero motion when the data support none; pass 2, which
reads each frame again, translates it exactly (a Fourier phase ramp on a padded grid, so
nothing wraps around), accumulates the plain, dose-weighted and even-frame sums in Fourier
space and hands the aligned frame to an optional sink. Memory: the movie, the cropped
spectra of all frames and a few full spectra.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import scipy.fft

import numexpr3

from . import _core, _elementwise
from ._errors import InputError
from ._lanes import lanes_for, run_in_lanes
from ._prepare import FramePreparer, find_hot_pixels
from ._refine import Prior, Refined, refine
from ._solve import solve
from ._spectra import cosine_ramp, frc, inverse_twice_critical
from .io import Movie, check_frames, defect_mask, oriented_gain, read_defects, read_gain, read_movie

_log = logging.getLogger("zorro")
NO_PIXEL_SIZE = (
    "the pixel size is unknown (not in the file's header): the movie is aligned, the dose-weighted sum is skipped "
    "and the STAR file says 1 Å/px; pass pixel_size (--pixel-size, Å) to dose-weight"
)
NO_MOTION = (
    "no motion found: the frames carry too little signal for a trajectory better than none; the shifts are zero "
    "and the errors say how far the truth may be"
)


@dataclass(frozen=True)
class Parameters:
    """Every setting of an alignment, with its default."""

    band: int = 6
    """Correlate frame pairs (i, j) with 0 < j - i <= band; 0 correlates all pairs."""
    corr_size: int = 512
    """Largest side of the Fourier-cropped grid the correlations are computed on..."""
    max_binning: float = 4.0
    """...unless that bins by more than this, so that the correlation grid keeps at least a
    quarter of the frequencies, where the signal of a low-dose movie lies."""
    max_shift: float = 40.0
    """Largest shift (input pixels) searched between the two frames of a pair."""
    sigmas: tuple[float, ...] = (0.0, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0)
    """Gaussian low-pass widths (correlation-grid pixels) tried on each map."""
    exclude_origin: bool = False
    """For fixed-pattern noise, leave the zero-shift pixel out of the pairwise peak search and
    fit, and keep the pairwise path (the refinement against the sum of the other frames would
    see the pattern again)."""
    min_significance: float = 4.0
    """Peak significance below which a pair's weight fades out."""
    outlier_threshold: float = 4.0
    """Pairs whose residual exceeds this many robust standard deviations are rejected."""
    pixel_size: float | None = None
    """Å per input pixel; from the file header when None."""
    voltage: float | None = None
    """kV; from the file header when None, else 300."""
    dose_per_frame: float | None = None
    """e⁻ per input pixel per frame; from the file's metadata when None, else the mean count."""
    pre_exposure: float = 0.0
    """e⁻/Å² received before the first frame."""
    gain: str | os.PathLike[str] | np.ndarray | None = None
    """Gain reference, a path or an array, multiplied into every frame."""
    gain_orientation: str = "rot0"
    """Orientation that turns the gain reference into the frames' orientation."""
    defects: str | os.PathLike[str] | np.ndarray | dict[str, Any] | None = None
    """Defect map, as a path, a boolean mask or ``{"rows": [], "columns": [], "pixels": [[y, x]]}``."""
    hot_pixels: bool = True
    """Find and repair hot and dead pixels and lines statistically."""
    hot_threshold: float = 8.0
    """Standard deviations beyond which a pixel or line is an outlier."""
    workers: int | None = None
    """Threads for FFTs and kernels; all usable cores when None."""

    def check(self) -> None:
        """Raise InputError for values that make no sense."""
        if self.band < 0:
            raise InputError(f"band must be 0 (all pairs) or positive, not {self.band}")
        if self.corr_size < 32:
            raise InputError(f"corr_size must be at least 32, not {self.corr_size}")
        if not self.max_binning >= 1:
            raise InputError(f"max_binning must be at least 1, not {self.max_binning}")
        if not self.max_shift >= 1:
            raise InputError(f"max_shift must be at least 1 pixel, not {self.max_shift}")
        if not self.sigmas or min(self.sigmas) < 0:
            raise InputError(f"sigmas must be non-negative widths, not {self.sigmas}")
        for name in ("pixel_size", "voltage", "dose_per_frame"):
            value = getattr(self, name)
            if value is not None and not (np.isfinite(value) and value > 0):
                raise InputError(f"{name} must be positive, not {value}")
        if not (np.isfinite(self.pre_exposure) and self.pre_exposure >= 0):
            raise InputError(f"pre_exposure must be zero or positive, not {self.pre_exposure}")
        if self.workers is not None and self.workers < 1:
            raise InputError(f"workers must be at least 1, not {self.workers}")


@dataclass
class Result:
    """What an alignment found and made. Shifts are (y, x) in input pixels: the translation
    that aligns each frame with frame 1 (a feature at p in frame 1 is at p - shift in frame k)."""

    shifts: np.ndarray
    """(frames, 2); frame 1 is (0, 0)."""
    errors: np.ndarray
    """(frames, 2) standard errors of the shifts."""
    sum: np.ndarray
    """Aligned sum of the frames (float32, counts)."""
    sum_dw: np.ndarray | None
    """Dose-weighted aligned sum, with the noise power of the plain sum (None without a pixel size)."""
    frc: dict[str, np.ndarray]
    """``frequency`` (cycles/pixel), ``aligned`` and ``unaligned``: FRC between the sums of
    the even and of the odd frames."""
    pairs: dict[str, np.ndarray]
    """For every correlated pair, ``first``, ``second`` (0-based frames), ``measured`` (shift of the
    second minus the first), ``significance``, ``sigma`` (low-pass chosen), ``weight`` (0 =
    rejected) and ``residual``."""
    parameters: dict[str, Any]
    """Every parameter used, with the calibration resolved and where it came from."""
    timings: dict[str, float] = field(default_factory=dict)
    """Seconds per stage."""
    repaired: dict[str, int] = field(default_factory=dict)
    """How many pixels, rows and columns were repaired."""
    motion_found: bool = True
    """Whether the data support a trajectory better than no motion (if not, the shifts are zero)."""
    notes: list[str] = field(default_factory=list)
    """What the user should know about this alignment (also logged and written to the JSON)."""

    @property
    def frames(self) -> int:
        return int(self.shifts.shape[0])


def _smooth_even_at_most(n: int) -> int:
    """The largest even 2·3·5-smooth number <= n (an FFT-friendly size)."""
    m = max(2, n - n % 2)
    while True:
        k = m
        for p in (2, 3, 5):
            while k % p == 0:
                k //= p
        if k == 1:
            return m
        m -= 2


def _cropped_spectrum(frame: np.ndarray, grid: tuple[int, int], crop: tuple[int, int], workers: int) -> np.ndarray:
    """rfft2 of ``frame`` zero-padded to ``grid``, Fourier-cropped to the low frequencies of a
    ``crop`` image. Done axis by axis so that the column transforms run only over the
    columns kept (and the row transforms only over the frame's rows): about half the work
    of the full transform for a 4 x crop."""
    rows = scipy.fft.rfft(frame, n=grid[1], axis=1, workers=workers)[:, : crop[1] // 2 + 1]
    columns = scipy.fft.fft(rows, n=grid[0], axis=0, workers=workers)
    half = crop[0] // 2
    out = np.empty((crop[0], crop[1] // 2 + 1), np.complex64)
    out[:half] = columns[:half]
    out[half:] = columns[grid[0] - (crop[0] - half) :]
    return out


def _binned_2x2(frame: np.ndarray, buffers: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Sums of ``frame``'s 2 x 2 blocks (even sides), made in ``buffers`` (rows, then both)."""
    rows, both = buffers
    np.add(frame[0::2], frame[1::2], out=rows)
    np.add(rows[:, 0::2], rows[:, 1::2], out=both)
    return both


def _window(image: np.ndarray, half: int) -> np.ndarray:
    """The (2 half + 1)² values of a periodic map around index (0, 0), centre at [half, half]."""
    iy = np.arange(-half, half + 1) % image.shape[0]
    ix = np.arange(-half, half + 1) % image.shape[1]
    return image[np.ix_(iy, ix)]


def _window_sums(image: np.ndarray, half: int) -> np.ndarray:
    """For every shift s in [-half, half]²: the sum of ``image`` over the pixels x whose
    x + s still falls inside it (the overlap of the frame with its shifted self). Element
    [half + sy, half + sx] is shift (sy, sx). A shift leaves out a band of |sy| rows at one
    edge and of |sx| columns at another, so the sum is the total less those bands plus their
    corner: only the image's edges are read, in float64."""
    h, w = image.shape
    b, c = min(half, h), min(half, w)  # the widest bands left out
    total = float(image.sum(dtype=np.float64))
    rows = _edge_sums(image[:b].sum(axis=1, dtype=np.float64), image[h - b :][::-1].sum(axis=1, dtype=np.float64))
    columns = _edge_sums(image[:, :c].sum(axis=0, dtype=np.float64),
                         image[:, w - c :][:, ::-1].sum(axis=0, dtype=np.float64))  # fmt: skip
    corners = np.zeros((2, 2, b + 1, c + 1))  # [bottom?, right?, rows left out, columns left out]
    for bottom, rows_in in enumerate((slice(0, b), slice(h - 1, h - b - 1 if h > b else None, -1))):
        for right, columns_in in enumerate((slice(0, c), slice(w - 1, w - c - 1 if w > c else None, -1))):
            block = image[rows_in, columns_in].astype(np.float64)
            corners[bottom, right, 1:, 1:] = block.cumsum(axis=0).cumsum(axis=1)
    s = np.arange(-half, half + 1)
    side, iy, ix = (s > 0).astype(np.intp), np.minimum(np.abs(s), b), np.minimum(np.abs(s), c)
    corner = corners[side[:, None], side[None, :], iy[:, None], ix[None, :]]
    sums: np.ndarray = total - rows[side, iy][:, None] - columns[side, ix][None, :] + corner
    return sums


def _edge_sums(first: np.ndarray, last: np.ndarray) -> np.ndarray:
    """[0 or 1, d]: the sum of the first (0) or last (1) d lines, from the line sums counted
    from each edge inward."""
    sums = np.zeros((2, first.size + 1))
    sums[0, 1:], sums[1, 1:] = np.cumsum(first), np.cumsum(last)
    return sums


def _half_sums(frames: np.ndarray, workers: int) -> np.ndarray:
    """Sums of the even and of the odd frames, float32 (2, y, x), one in each of two lanes.
    8-bit counts are added as 16-bit integers when they cannot overflow: several times
    faster than as floats."""
    halves = np.empty((2, *frames.shape[1:]), np.float32)
    small = frames.dtype == np.uint8 and len(frames) <= 2 * 257

    def one_half(parity: int) -> None:
        if small:
            halves[parity] = np.add.reduce(frames[parity::2], axis=0, dtype=np.uint16)
        else:
            np.add.reduce(frames[parity::2], axis=0, dtype=np.float32, out=halves[parity])

    run_in_lanes(one_half, 2, lanes_for(workers, 2)[0])
    return halves


def _pairs(frames: int, band: int) -> tuple[np.ndarray, np.ndarray]:
    width = frames - 1 if band == 0 else min(band, frames - 1)
    first, second = zip(*[(i, j) for i in range(frames) for j in range(i + 1, min(frames, i + width + 1))])
    return np.array(first), np.array(second)


def _resolve(params: Parameters, movie: Movie) -> dict[str, Any]:
    """Calibration from the parameters, else the file, else defaults; with its sources."""
    resolved: dict[str, Any] = {}
    sources: dict[str, str | None] = {}
    for name in ("pixel_size", "voltage", "dose_per_frame"):
        value, source = getattr(params, name), "parameter"
        if value is None:
            value, source = getattr(movie, name), "file"
        if value is None and name == "voltage":
            value, source = 300.0, "default"
        resolved[name], sources[name] = value, source if value is not None else None
    resolved["sources"] = sources
    return resolved


def _load_gain(params: Parameters, frame_shape: tuple[int, int]) -> np.ndarray | None:
    if params.gain is None:
        return None
    gain = read_gain(params.gain) if isinstance(params.gain, (str, os.PathLike)) else np.asarray(params.gain)
    if gain.ndim != 2:
        raise InputError(f"the gain reference must be a 2-D image, not shape {gain.shape}")
    gain = oriented_gain(gain, params.gain_orientation, frame_shape)
    if not np.isfinite(gain).all() or (gain < 0).any() or not gain.any():
        raise InputError("the gain reference must hold finite, non-negative values, not all zero")
    return gain


def _load_defects(params: Parameters, frame_shape: tuple[int, int]) -> np.ndarray:
    if params.defects is None:
        return np.zeros(frame_shape, bool)
    if isinstance(params.defects, (str, os.PathLike)):
        return read_defects(params.defects, frame_shape)
    if isinstance(params.defects, dict):
        return defect_mask(params.defects, frame_shape)
    mask = np.asarray(params.defects, bool)
    if mask.shape != frame_shape:
        raise InputError(f"the defect mask is {mask.shape} but the frames are {frame_shape}")
    return mask


class FrameSink(Protocol):
    """Where the aligned frames go as they are made (``pipeline.process`` writes them to a file)."""

    def start(self, shape: tuple[int, int], pixel_size: float | None, voltage: float) -> None:
        """Called once before the first frame, with the frame shape and the calibration."""

    def append(self, frame: np.ndarray) -> None:
        """Called with each aligned frame (float32, counts), in order."""


@dataclass
class _Detector:
    """What the sum of all frames says about the detector, and the frame preparer it makes."""

    prepare: FramePreparer
    repaired: dict[str, int]
    frc_unaligned: np.ndarray


@dataclass
class _Grid:
    """The correlation grid: frames zero-padded to ``padded``, Fourier-cropped to ``crop``;
    first binned ``prebin`` x ``prebin`` in real space (then ``padded`` is a multiple of it)."""

    padded: tuple[int, int]
    crop: tuple[int, int]
    prebin: int
    binning: np.ndarray
    radius: float
    """Largest pairwise shift searched, in crop pixels."""
    half: int
    """Half-width of the correlation window kept around zero shift."""
    inside: tuple[int, int]
    """Crop pixels covered by the frame; the rest is padding."""


@dataclass
class _Pass1:
    spectra: np.ndarray
    means: np.ndarray
    local_sum: np.ndarray
    local_var: np.ndarray


def align(
    movie: str | os.PathLike[str] | np.ndarray | Movie, *, frame_sink: FrameSink | None = None, **params: Any
) -> Result:
    """Align a movie: find each frame's shift, and make the aligned and dose-weighted sums.

    ``movie`` is a path (MRC/MRCS/MRCZ/TIFF), a (frames, y, x) array or a :class:`zorro.io.Movie`.
    ``params`` are the fields of :class:`Parameters`. ``frame_sink`` receives the aligned
    frames (float32) as they are made. Without a pixel size (from the parameters or the file)
    the movie is aligned and summed, but not dose-weighted (``sum_dw`` is None, with a note).
    """
    p = _parameters(params)
    timings: dict[str, float] = {}
    start = time.perf_counter()
    movie = _as_movie(movie)
    timings["read"] = time.perf_counter() - start
    h, w = movie.frames.shape[1:]
    workers = p.workers or numexpr3.detect_number_of_cores()
    calibration = _resolve(p, movie)
    notes = []
    if calibration["pixel_size"] is None:
        notes.append(NO_PIXEL_SIZE)
        _log.warning(NO_PIXEL_SIZE)

    tick = time.perf_counter()
    detector = _detector(p, movie.frames, calibration, workers)
    timings["hot_pixels"] = time.perf_counter() - tick

    tick = time.perf_counter()
    grid = _correlation_grid(p, h, w)
    first_pass = _first_pass(movie.frames, detector.prepare, grid, workers)
    timings["spectra"] = time.perf_counter() - tick

    pairs, refined = _trajectory(first_pass, grid, p, workers, timings)
    if not refined.motion_found:
        notes.append(NO_MOTION)
        _log.warning(NO_MOTION)

    tick = time.perf_counter()
    sums = _second_pass(movie.frames, detector.prepare, first_pass.means, refined.shifts, calibration, p, workers,
                        frame_sink)  # fmt: skip
    timings["sums"] = time.perf_counter() - tick

    tick = time.perf_counter()
    frequency, frc_aligned = frc(sums["even"], sums["odd"], workers=workers)
    timings["frc"] = time.perf_counter() - tick
    timings["total"] = time.perf_counter() - start
    return Result(
        shifts=refined.shifts,
        errors=refined.errors,
        sum=sums["sum"],
        sum_dw=sums["sum_dw"],
        frc={"frequency": frequency, "aligned": frc_aligned, "unaligned": detector.frc_unaligned},
        pairs=pairs,
        parameters=_record(p, movie, calibration, grid, refined, workers, sums["grid"]),
        timings=timings,
        repaired=detector.repaired,
        motion_found=refined.motion_found,
        notes=notes,
    )


def _parameters(params: dict[str, Any]) -> Parameters:
    unknown = set(params) - {f.name for f in dataclasses.fields(Parameters)}
    if unknown:
        raise TypeError(f"align() got unknown parameter(s): {', '.join(sorted(unknown))}")
    p = Parameters(**params)
    p.check()
    return p


def _as_movie(movie: str | os.PathLike[str] | np.ndarray | Movie) -> Movie:
    if isinstance(movie, (str, os.PathLike)):
        return read_movie(movie)
    if isinstance(movie, Movie):
        return movie
    frames = np.asarray(movie)
    check_frames(frames)
    return Movie(frames=frames)


def _detector(p: Parameters, frames: np.ndarray, calibration: dict[str, Any], workers: int) -> _Detector:
    """Gain, defect map and statistical hot pixels from the sum of all frames; the dose per
    frame from the mean count when nothing else gives it; the unaligned FRC."""
    n, h, w = frames.shape
    gain = _load_gain(p, (h, w))
    bad = _load_defects(p, (h, w))
    halves = _half_sums(frames, workers)  # of the even and of the odd frames, for the unaligned FRC
    total = halves[0] + halves[1]
    if gain is not None:
        total *= gain
    repaired = {"defects": int(bad.sum()), "hot_pixels": 0, "rows": 0, "columns": 0}
    if p.hot_pixels:
        hot = find_hot_pixels(np.where(bad, np.float32(0), total), p.hot_threshold)
        repaired.update(
            hot_pixels=int((hot["pixels"] & ~bad).sum()), rows=int(hot["rows"].sum()), columns=int(hot["columns"].sum())
        )
        bad = bad | hot["pixels"] | hot["rows"][:, None] | hot["columns"][None, :]
    if bad.all():
        raise InputError("every pixel is flagged as defective; check the defect map and the gain reference")
    mean_count = float(total[~bad].mean()) / n
    if calibration["dose_per_frame"] is None:
        if not mean_count > 0:
            raise InputError(
                f"the frames average {mean_count:g} counts per pixel: the dose per frame cannot be estimated and "
                "must be positive; pass dose_per_frame (e⁻/pixel)"
            )
        calibration["dose_per_frame"], calibration["sources"]["dose_per_frame"] = mean_count, "mean count"
    prepare = FramePreparer((h, w), gain, bad, workers)
    # Gain and repair are linear: applied to the raw half sums they give the sums of the prepared frames.
    unaligned_even = prepare(halves[0]).copy()
    _, frc_unaligned = frc(unaligned_even, prepare(halves[1]), workers=workers)
    return _Detector(prepare, repaired, frc_unaligned)


def _fast_multiple(n: int, unit: int) -> int:
    """The smallest multiple of ``unit`` that is >= n and FFT-friendly divided by ``unit``."""
    return unit * scipy.fft.next_fast_len(-(-n // unit), real=True)


def _correlation_grid(p: Parameters, h: int, w: int) -> _Grid:
    pad = int(np.ceil(p.max_shift)) + 2
    scale = min(1.0, max(p.corr_size / _fast_multiple(max(h, w) + pad, 1), 1 / p.max_binning))
    # Where the crop keeps at most a quarter of the frequencies, 2 x 2 binning first costs the
    # kept band little (the box passes >= cos²(π/8) of its amplitude; the noise stays white)
    # and quarters the transforms.
    prebin = 2 if scale <= 0.25 and h % 2 == 0 and w % 2 == 0 else 1
    padded = (_fast_multiple(h + pad, prebin), _fast_multiple(w + pad, prebin))
    crop = (_smooth_even_at_most(int(padded[0] * scale)), _smooth_even_at_most(int(padded[1] * scale)))
    binning = np.array([padded[0] / crop[0], padded[1] / crop[1]])
    radius = max(1.0, p.max_shift / binning.max())
    half = int(np.ceil(radius + 3 * max(p.sigmas))) + 2
    if 2 * half + 1 > min(crop):
        raise InputError(f"max_shift {p.max_shift} is too large for frames of {h} x {w}")
    inside = (int(h / binning[0]) - 1, int(w / binning[1]) - 1)
    return _Grid(padded, crop, prebin, binning, radius, half, inside)


def _first_pass(frames: np.ndarray, prepare: FramePreparer, grid: _Grid, workers: int) -> _Pass1:
    """Each frame once: prepared, mean removed, binned (2 x 2 in real space where ``grid.prebin``
    says, then by Fourier cropping) onto the correlation grid (its padding zeroed), with the
    per-frame terms of the masked correlation. The frames are spread over lanes of threads,
    each with its own preparer and buffers."""
    n, half = len(frames), grid.half
    mask = np.zeros(grid.crop, np.float32)
    mask[: grid.inside[0], : grid.inside[1]] = 1
    overlap = _window_sums(np.ones(grid.inside), half)
    spectra = np.empty((n, grid.crop[0], grid.crop[1] // 2 + 1), np.complex64)
    local_sum = np.empty((n, 2 * half + 1, 2 * half + 1), np.float32)
    local_var = np.empty_like(local_sum)
    means = np.empty(n)
    crop_norm = np.float32(grid.crop[0] * grid.crop[1] / (grid.padded[0] * grid.padded[1]))
    lanes, threads = lanes_for(workers, n)
    preparers = [prepare.clone(threads) for _ in range(lanes)]
    frame_grid = (grid.padded[0] // grid.prebin, grid.padded[1] // grid.prebin)
    h, w = frames.shape[1:]
    binned_buffers = [(np.empty((h // 2, w), np.float32), np.empty((h // 2, w // 2), np.float32))
                      for _ in range(lanes if grid.prebin == 2 else 0)]  # fmt: skip

    def one_frame(k: int) -> None:
        frame = preparers[k % lanes](frames[k])
        means[k] = frame.mean(dtype=np.float64)
        if grid.prebin == 2:
            frame = _binned_2x2(frame, binned_buffers[k % lanes])
        frame -= np.float32(means[k] * grid.prebin**2)
        small = _cropped_spectrum(frame, frame_grid, grid.crop, threads)
        small *= crop_norm
        binned = scipy.fft.irfft2(small, s=grid.crop, workers=threads) * mask
        spectra[k] = scipy.fft.rfft2(binned, workers=threads)
        inner = binned[: grid.inside[0], : grid.inside[1]]
        local_sum[k] = _window_sums(inner, half)
        local_var[k] = _window_sums(inner * inner, half) - local_sum[k] ** 2 / overlap

    run_in_lanes(one_frame, n, lanes)
    return _Pass1(spectra, means, local_sum, local_var)


def _correlate_pairs(first_pass: _Pass1, grid: _Grid, p: Parameters, workers: int) -> dict[str, np.ndarray]:
    """Masked normalised correlation of every pair in the band; each map's significant peak."""
    spectra, half = first_pass.spectra, grid.half
    first, second = _pairs(len(spectra), p.band)
    overlap = _window_sums(np.ones(grid.inside), half)
    maps = np.empty((len(first), 2 * half + 1, 2 * half + 1), np.float32)
    lanes, threads = lanes_for(workers, len(first))
    products = [np.empty_like(spectra[0]) for _ in range(lanes)]
    floor = max(1e-6 * float(first_pass.local_var.max()), 1e-12)  # its square stays a normal float32

    def one_pair(m: int) -> None:
        i, j, product = first[m], second[m], products[m % lanes]
        _elementwise.cross_power(spectra[i], spectra[j], out=product)
        numerator = _window(scipy.fft.irfft2(product, s=grid.crop, workers=threads), half)
        # The "base" frame's terms are the template's mirrored: s -> -s.
        sum_i, var_i = first_pass.local_sum[i], first_pass.local_var[i]
        sum_j, var_j = first_pass.local_sum[j][::-1, ::-1], first_pass.local_var[j][::-1, ::-1]
        numerator -= sum_i * sum_j / overlap
        maps[m] = numerator / np.sqrt(np.maximum(var_i, floor) * np.maximum(var_j, floor))

    run_in_lanes(one_pair, len(first), lanes)
    dy, dx, significance, sigma, _ = _core.find_peaks(
        maps, grid.radius, np.asarray(p.sigmas, np.float64), p.exclude_origin, threads=workers
    )
    # The peak is where frame i's content lies in frame j: shift_j - shift_i = -peak.
    measured = -np.stack([dy, dx], axis=1) * grid.binning
    weight = significance**2 / (1 + np.exp(-2 * (significance - p.min_significance)))
    return {"first": first, "second": second, "measured": measured, "significance": significance,
            "sigma": sigma, "weight": weight}  # fmt: skip


def _taper_edges(spectra: np.ndarray, grid: _Grid, workers: int, largest: float) -> tuple[np.ndarray, np.ndarray]:
    """Soften each frame's edges in place, so that the overlap of frames at different shifts
    changes smoothly: a cosine over twice the ``largest`` shift between frames (input px), at
    least 4 and at most a sixteenth of the frame in correlation-grid pixels, as every pixel of
    the taper costs signal. Returns the window's profiles along y and x on that grid."""
    cap = max(4, min(grid.inside) // 16)
    width = int(np.clip(np.ceil(2 * largest / grid.binning.max()), 4, cap))
    profiles = []
    for axis in (0, 1):
        profile = np.zeros(grid.crop[axis])
        profile[: grid.inside[axis]] = cosine_ramp(grid.inside[axis], width)
        profiles.append(profile)
    taper = np.outer(profiles[0], profiles[1]).astype(np.float32)
    lanes, threads = lanes_for(workers, len(spectra))

    def one_frame(k: int) -> None:
        image = scipy.fft.irfft2(spectra[k], s=grid.crop, workers=threads)
        image *= taper
        spectra[k] = scipy.fft.rfft2(image, workers=threads)
        spectra[k, 0, 0] = 0

    run_in_lanes(one_frame, len(spectra), lanes)
    return profiles[0], profiles[1]


def _trajectory(
    first_pass: _Pass1, grid: _Grid, p: Parameters, workers: int, timings: dict[str, float]
) -> tuple[dict[str, np.ndarray], Refined]:
    """Pairwise correlations, their robust solve (the starting path), and its refinement."""
    tick = time.perf_counter()
    pairs = _correlate_pairs(first_pass, grid, p, workers)
    timings["correlate"] = time.perf_counter() - tick

    tick = time.perf_counter()
    n = len(first_pass.spectra)
    solution = solve(
        n, pairs["first"], pairs["second"], pairs["measured"], pairs["weight"], outlier_threshold=p.outlier_threshold
    )
    pairs.update(weight=solution.weights, residual=solution.residuals)
    timings["solve"] = time.perf_counter() - tick

    tick = time.perf_counter()
    if p.exclude_origin:  # the sum of the others holds the fixed pattern too: keep the pairwise path
        unsmoothed = Prior("none", 1.0, 0.0)
        refined = Refined(solution.shifts, solution.errors, 0.0, unsmoothed, 0, "pairwise (exclude_origin)", True)
    else:
        window = _taper_edges(first_pass.spectra, grid, workers, float(np.ptp(solution.shifts, axis=0).max()))
        oversampling = grid.crop[0] * grid.crop[1] / (grid.inside[0] * grid.inside[1])
        refined = refine(first_pass.spectra, grid.crop, grid.binning, oversampling, window, solution.shifts,
                         p.max_shift)  # fmt: skip
    del first_pass.spectra
    timings["refine"] = time.perf_counter() - tick
    return pairs, refined


@dataclass
class _SumBuffers:
    """One lane's buffers in pass 2: its preparer, the padded frame, the dose weights and the
    dose-weighted sum of its frames."""

    prepare: FramePreparer
    padded: np.ndarray
    weight: np.ndarray
    weighted: np.ndarray

    @staticmethod
    def make(big: tuple[int, int], prepare: FramePreparer) -> _SumBuffers:
        half_plane = (big[0], big[1] // 2 + 1)
        return _SumBuffers(prepare, np.zeros(big, np.float32), np.zeros(half_plane, np.float32),
                           np.zeros(half_plane, np.complex64))  # fmt: skip


def _second_pass(
    frames: np.ndarray,
    prepare: FramePreparer,
    means: np.ndarray,
    shifts: np.ndarray,
    calibration: dict[str, Any],
    p: Parameters,
    workers: int,
    sink: FrameSink | None,
) -> dict[str, Any]:
    """Each frame again: translated exactly on a padded grid, accumulated into the even, odd
    and (with a pixel size) dose-weighted sums in Fourier space, and handed to ``sink``."""
    n, h, w = frames.shape
    reach = np.ceil(np.maximum(shifts.max(axis=0), 0) + np.maximum(-shifts.min(axis=0), 0)).astype(int)
    big = (
        scipy.fft.next_fast_len(h + int(reach[0]) + 16, real=True),
        scipy.fft.next_fast_len(w + int(reach[1]) + 16, real=True),
    )
    dose_weighting = calibration["pixel_size"] is not None
    if dose_weighting:
        g = inverse_twice_critical(big, calibration["pixel_size"], calibration["voltage"])
        dose_per_area = calibration["dose_per_frame"] / calibration["pixel_size"] ** 2
    else:  # the exposure filter needs e⁻/Å²: zero weights leave the weighted sum empty, then dropped
        g, dose_per_area = np.zeros((big[0], big[1] // 2 + 1), np.float32), 0.0
    half_specs = np.zeros((2, big[0], big[1] // 2 + 1), np.complex64)  # even and odd frames
    # Two lanes at most (each holds full-size buffers): lane k % 2 adds only frames of its parity
    # into half_specs[k % 2], and has a dose-weighted sum of its own.
    lanes, threads = lanes_for(workers, n, most=2)
    buffers = [_SumBuffers.make(big, prepare.clone(threads)) for _ in range(lanes)]
    if sink is not None:
        sink.start((h, w), calibration["pixel_size"], calibration["voltage"])

    def one_frame(k: int) -> np.ndarray | None:
        own = buffers[k % lanes]
        np.subtract(own.prepare(frames[k]), np.float32(means[k]), out=own.padded[:h, :w])
        spectrum = scipy.fft.rfft2(own.padded, workers=threads)
        if dose_weighting:  # weighted by the exposure at the end of the frame, as Grant & Grigorieff and RELION do
            _elementwise.exposure_filter(g, p.pre_exposure + (k + 1) * dose_per_area, out=own.weight)
        dy, dx = float(shifts[k, 0]), float(shifts[k, 1])
        _core.shift_accumulate(spectrum, big[1], dy, dx, half_specs[k % 2], own.weighted, own.weight, threads=threads)
        if sink is None:
            return None
        _core.phase_shift(spectrum, big[1], dy, dx, threads=threads)
        aligned: np.ndarray = scipy.fft.irfft2(spectrum, s=big, workers=threads)[:h, :w] + np.float32(means[k])
        return aligned.astype(np.float32)

    def hand_over(aligned: np.ndarray | None) -> None:
        if sink is not None and aligned is not None:
            sink.append(aligned)

    run_in_lanes(one_frame, n, lanes, hand_over)
    dw_spec = buffers[0].weighted
    for other in buffers[1:]:
        dw_spec += other.weighted
    buffers.clear()
    offset = np.float32(means.sum())
    sum_dw = None
    if dose_weighting:
        # Σ w_k F_k · sqrt(N / Σ w_k²): the dose-weighted sum keeps the plain sum's noise power.
        norm = _elementwise.dose_normalisation(g, n, p.pre_exposure + dose_per_area, dose_per_area)
        _elementwise.scale(dw_spec, norm)
        sum_dw = (scipy.fft.irfft2(dw_spec, s=big, workers=workers)[:h, :w] + offset).astype(np.float32)
    del dw_spec
    even = np.ascontiguousarray(scipy.fft.irfft2(half_specs[0], s=big, workers=workers)[:h, :w])
    odd = np.ascontiguousarray(scipy.fft.irfft2(half_specs[1], s=big, workers=workers)[:h, :w])
    return {"even": even, "odd": odd, "sum": (even + odd + offset).astype(np.float32), "sum_dw": sum_dw,
            "grid": big, "dose_per_area": dose_per_area if dose_weighting else None}  # fmt: skip


def _record(
    p: Parameters,
    movie: Movie,
    calibration: dict[str, Any],
    grid: _Grid,
    refined: Refined,
    workers: int,
    sum_grid: tuple[int, int],
) -> dict[str, Any]:
    """Every parameter used, with the calibration resolved and where it came from."""
    n, h, w = movie.frames.shape
    resolved = {f.name: getattr(p, f.name) for f in dataclasses.fields(Parameters)}
    resolved.update({k: v for k, v in calibration.items() if k != "sources"})
    resolved["sigmas"] = list(p.sigmas)
    resolved["workers"] = workers
    for key in ("gain", "defects"):
        value = resolved[key]
        resolved[key] = str(value) if isinstance(value, (str, os.PathLike)) else (None if value is None else "array")
    pixel_size = calibration["pixel_size"]
    resolved.update(
        calibration_sources=calibration["sources"],
        movie=str(movie.path) if movie.path is not None else None,
        frames=n,
        shape=[h, w],
        correlation_grid=list(grid.crop),
        padded_grid=list(grid.padded),
        prebinning=grid.prebin,
        binning=grid.binning.tolist(),
        sum_grid=list(sum_grid),
        dose_per_area=None if pixel_size is None else calibration["dose_per_frame"] / pixel_size**2,
        dose_weighting=None
        if pixel_size is None
        else "Grant & Grigorieff 2015 critical exposure, exposure at the end of each frame",
        refinement={
            "lowpass_bfactor_px2": refined.bfactor,
            "prior": refined.prior.kind,
            "prior_fade": refined.prior.fade,
            "smoothness": refined.prior.lam,
            "rounds": refined.rounds,
            "start": refined.start,
            "motion_found": refined.motion_found,
        },
    )
    return resolved
