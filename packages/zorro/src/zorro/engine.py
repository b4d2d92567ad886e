"""The alignment engine: pairwise masked normalised correlations, robust solve, exact sums.

Pass 1 reads each frame once: gain, defect repair, Fourier crop of its spectrum to the
correlation grid, and the per-frame terms of the masked normalised cross-correlation
(Padfield 2012). Every pair in the band is then correlated on that grid; each map's peak
is searched after the Gaussian low-pass that makes it most significant, fitted to
sub-pixel precision and weighted by its significance. A robust weighted least-squares
solve turns the pairs into one shift per frame with an error estimate. Pass 2 reads each
frame again, translates it exactly (a Fourier phase ramp on a padded grid, so nothing
wraps around) and accumulates the plain, dose-weighted and even-frame sums in Fourier
space. Memory: the movie, the cropped spectra of all frames and a few full spectra.
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass, field

import numpy as np
import scipy.fft

import mrcz

from . import _core, _elementwise
from ._errors import InputError
from ._prepare import FramePreparer, find_hot_pixels
from ._solve import solve
from ._spectra import dose_normalisation, frc, inverse_twice_critical
from .io import Movie, check_frames, defect_mask, oriented_gain, read_defects, read_gain, read_movie


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
    """Leave the zero-shift pixel out of the peak search and fit (for fixed-pattern noise)."""
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
    gain: str | os.PathLike | np.ndarray | None = None
    """Gain reference, a path or an array, multiplied into every frame."""
    gain_orientation: str = "rot0"
    """Orientation that turns the gain reference into the frames' orientation."""
    defects: str | os.PathLike | np.ndarray | dict | None = None
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
    sum_dw: np.ndarray
    """Dose-weighted aligned sum, with the noise power of the plain sum."""
    frc: dict[str, np.ndarray]
    """``frequency`` (cycles/pixel), ``aligned`` and ``unaligned``: FRC between the sums of
    the even and of the odd frames."""
    pairs: dict[str, np.ndarray]
    """For every correlated pair, ``first``, ``second`` (0-based frames), ``measured`` (shift of the
    second minus the first), ``significance``, ``sigma`` (low-pass chosen), ``weight`` (0 =
    rejected) and ``residual``."""
    parameters: dict
    """Every parameter used, with the calibration resolved and where it came from."""
    timings: dict[str, float] = field(default_factory=dict)
    """Seconds per stage."""
    repaired: dict[str, int] = field(default_factory=dict)
    """How many pixels, rows and columns were repaired."""

    @property
    def frames(self) -> int:
        return int(self.shifts.shape[0])


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


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


def _window(image: np.ndarray, half: int) -> np.ndarray:
    """The (2 half + 1)² values of a periodic map around index (0, 0), centre at [half, half]."""
    iy = np.arange(-half, half + 1) % image.shape[0]
    ix = np.arange(-half, half + 1) % image.shape[1]
    return image[np.ix_(iy, ix)]


def _window_sums(image: np.ndarray, half: int) -> np.ndarray:
    """For every shift s in [-half, half]²: the sum of ``image`` over the pixels x whose
    x + s still falls inside it (the overlap of the frame with its shifted self), from an
    integral image. Element [half + sy, half + sx] is shift (sy, sx)."""
    integral = np.zeros((image.shape[0] + 1, image.shape[1] + 1))
    np.cumsum(np.cumsum(image, axis=0, dtype=np.float64), axis=1, out=integral[1:, 1:])
    s = np.arange(-half, half + 1)
    r0, r1 = np.maximum(0, -s)[:, None], np.minimum(image.shape[0], image.shape[0] - s)[:, None]
    c0, c1 = np.maximum(0, -s)[None, :], np.minimum(image.shape[1], image.shape[1] - s)[None, :]
    return integral[r1, c1] - integral[r0, c1] - integral[r1, c0] + integral[r0, c0]


def _half_sums(frames: np.ndarray) -> np.ndarray:
    """Sums of the even and of the odd frames, float32 (2, y, x). 8-bit counts are added as
    16-bit integers when they cannot overflow: several times faster than as floats."""
    if frames.dtype == np.uint8 and len(frames) <= 2 * 257:
        return np.stack([np.add.reduce(frames[parity::2], axis=0, dtype=np.uint16) for parity in (0, 1)]).astype(
            np.float32
        )
    return np.stack([np.add.reduce(frames[parity::2], axis=0, dtype=np.float32) for parity in (0, 1)])


def _pairs(frames: int, band: int) -> tuple[np.ndarray, np.ndarray]:
    width = frames - 1 if band == 0 else min(band, frames - 1)
    first, second = zip(*[(i, j) for i in range(frames) for j in range(i + 1, min(frames, i + width + 1))])
    return np.array(first), np.array(second)


def _resolve(params: Parameters, movie: Movie) -> dict:
    """Calibration from the parameters, else the file, else defaults; with its sources."""
    resolved, sources = {}, {}
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


def align(
    movie: str | os.PathLike | np.ndarray | Movie, *, save_movie: str | os.PathLike | None = None, **params
) -> Result:
    """Align a movie: find each frame's shift, and make the aligned and dose-weighted sums.

    ``movie`` is a path (MRC/MRCS/MRCZ/TIFF), a (frames, y, x) array or a :class:`zorro.io.Movie`.
    ``params`` are the fields of :class:`Parameters`. ``save_movie`` writes the aligned frames
    (float32) to that path as they are made (MRCZ when it ends in .mrcz).
    """
    unknown = set(params) - {f.name for f in dataclasses.fields(Parameters)}
    if unknown:
        raise TypeError(f"align() got unknown parameter(s): {', '.join(sorted(unknown))}")
    p = Parameters(**params)
    p.check()
    timings: dict[str, float] = {}
    start = time.perf_counter()
    if isinstance(movie, (str, os.PathLike)):
        movie = read_movie(movie)
    elif not isinstance(movie, Movie):
        frames = np.asarray(movie)
        check_frames(frames)
        movie = Movie(frames=frames)
    timings["read"] = time.perf_counter() - start

    frames = movie.frames
    n, h, w = frames.shape
    workers = p.workers or _usable_cores()
    calibration = _resolve(p, movie)
    if calibration["pixel_size"] is None:
        raise InputError("the pixel size is unknown (not in the file's header): pass pixel_size in Å")

    tick = time.perf_counter()
    gain = _load_gain(p, (h, w))
    bad = _load_defects(p, (h, w))
    halves = _half_sums(frames)  # of the even and of the odd frames, for the unaligned FRC
    total = halves[0] + halves[1]
    if gain is not None:
        total *= gain
    repaired = {"defects": int(bad.sum()), "hot_pixels": 0, "rows": 0, "columns": 0}
    if p.hot_pixels:
        hot = find_hot_pixels(np.where(bad, np.float32(0), total), p.hot_threshold)
        hot_lines = hot["rows"][:, None] | hot["columns"][None, :]
        repaired.update(
            hot_pixels=int((hot["pixels"] & ~bad).sum()),
            rows=int(hot["rows"].sum()),
            columns=int(hot["columns"].sum()),
        )
        bad = bad | hot["pixels"] | hot_lines
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
    # The unaligned FRC now, so the half sums need not be kept. Gain and repair are linear:
    # applied to the raw half sums they give the sums of the prepared frames.
    unaligned_even = prepare(halves[0]).copy()
    _, frc_unaligned = frc(unaligned_even, prepare(halves[1]), workers=workers)
    del halves, total, unaligned_even
    timings["hot_pixels"] = time.perf_counter() - tick

    # ---- pass 1: cropped spectra and the per-frame terms of the masked correlation
    tick = time.perf_counter()
    pad = int(np.ceil(p.max_shift)) + 2
    grid = (scipy.fft.next_fast_len(h + pad, real=True), scipy.fft.next_fast_len(w + pad, real=True))
    scale = min(1.0, max(p.corr_size / max(grid), 1 / p.max_binning))
    crop = (_smooth_even_at_most(int(grid[0] * scale)), _smooth_even_at_most(int(grid[1] * scale)))
    binning = np.array([grid[0] / crop[0], grid[1] / crop[1]])
    radius = max(1.0, p.max_shift / binning.max())
    half = int(np.ceil(radius + 3 * max(p.sigmas))) + 2
    if 2 * half + 1 > min(crop):
        raise InputError(f"max_shift {p.max_shift} is too large for frames of {h} x {w}")
    mask = np.zeros(crop, np.float32)
    inside = (int(h / binning[0]) - 1, int(w / binning[1]) - 1)
    mask[: inside[0], : inside[1]] = 1
    overlap = _window_sums(np.ones(inside), half)

    spectra = np.empty((n, crop[0], crop[1] // 2 + 1), np.complex64)
    local_sum = np.empty((n, 2 * half + 1, 2 * half + 1), np.float32)
    local_var = np.empty_like(local_sum)
    means = np.empty(n)
    crop_norm = np.float32(crop[0] * crop[1] / (grid[0] * grid[1]))
    for k in range(n):
        frame = prepare(frames[k])
        means[k] = frame.mean(dtype=np.float64)
        frame -= np.float32(means[k])
        small = _cropped_spectrum(frame, grid, crop, workers)
        small *= crop_norm
        binned = scipy.fft.irfft2(small, s=crop, workers=workers) * mask
        spectra[k] = scipy.fft.rfft2(binned, workers=workers)
        inner = binned[: inside[0], : inside[1]]
        local_sum[k] = _window_sums(inner, half)
        local_var[k] = _window_sums(inner * inner, half) - local_sum[k] ** 2 / overlap
    timings["spectra"] = time.perf_counter() - tick

    # ---- pairwise correlations and their peaks
    tick = time.perf_counter()
    first, second = _pairs(n, p.band)
    maps = np.empty((len(first), 2 * half + 1, 2 * half + 1), np.float32)
    product = np.empty_like(spectra[0])
    floor = 1e-6 * max(float(local_var.max()), 1e-30)
    for m, (i, j) in enumerate(zip(first, second)):
        _elementwise.cross_power(spectra[i], spectra[j], out=product)
        numerator = _window(scipy.fft.irfft2(product, s=crop, workers=workers), half)
        # The "base" frame's terms are the template's mirrored: s -> -s.
        sum_j, var_j = local_sum[j][::-1, ::-1], local_var[j][::-1, ::-1]
        numerator -= local_sum[i] * sum_j / overlap
        maps[m] = numerator / np.sqrt(np.maximum(local_var[i], floor) * np.maximum(var_j, floor))
    del spectra
    dy, dx, significance, sigma, _ = _core.find_peaks(
        maps, radius, np.asarray(p.sigmas, np.float64), p.exclude_origin, threads=workers
    )
    # The peak is where frame i's content lies in frame j: shift_j - shift_i = -peak.
    measured = -np.stack([dy, dx], axis=1) * binning
    weights = significance**2 / (1 + np.exp(-2 * (significance - p.min_significance)))
    timings["correlate"] = time.perf_counter() - tick

    tick = time.perf_counter()
    solution = solve(n, first, second, measured, weights, outlier_threshold=p.outlier_threshold)
    timings["solve"] = time.perf_counter() - tick

    shifts = solution.shifts

    # ---- pass 2: exact shifts, sums in Fourier space
    tick = time.perf_counter()
    reach = np.ceil(np.maximum(shifts.max(axis=0), 0) + np.maximum(-shifts.min(axis=0), 0)).astype(int)
    big = (
        scipy.fft.next_fast_len(h + int(reach[0]) + 16, real=True),
        scipy.fft.next_fast_len(w + int(reach[1]) + 16, real=True),
    )
    g = inverse_twice_critical(big, calibration["pixel_size"], calibration["voltage"])
    dose_per_area = calibration["dose_per_frame"] / calibration["pixel_size"] ** 2
    half_specs = np.zeros((2, big[0], big[1] // 2 + 1), np.complex64)  # even and odd frames
    dw_spec = np.zeros_like(half_specs[0])
    weight = np.empty_like(g)
    writer = None
    if save_movie is not None:
        compressor = "zstd" if str(save_movie).lower().endswith(".mrcz") else None
        writer = mrcz.open(
            save_movie,
            "w",
            frame_shape=(h, w),
            dtype="float32",
            compressor=compressor,
            pixel_size=calibration["pixel_size"],
            voltage=calibration["voltage"],
            overwrite=True,
        )
    try:
        padded = np.zeros(big, np.float32)
        for k in range(n):
            np.subtract(prepare(frames[k]), np.float32(means[k]), out=padded[:h, :w])
            spectrum = scipy.fft.rfft2(padded, workers=workers)
            # Weighted by the exposure at the end of the frame, as Grant & Grigorieff and RELION do.
            _elementwise.exposure_filter(g, p.pre_exposure + (k + 1) * dose_per_area, out=weight)
            dy, dx = float(shifts[k, 0]), float(shifts[k, 1])
            _core.shift_accumulate(spectrum, big[1], dy, dx, half_specs[k % 2], dw_spec, weight, threads=workers)
            if writer is not None:
                _core.phase_shift(spectrum, big[1], dy, dx, threads=workers)
                aligned = scipy.fft.irfft2(spectrum, s=big, workers=workers)[:h, :w] + np.float32(means[k])
                writer.append(aligned.astype(np.float32))
        if writer is not None:
            writer.close()
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    del padded, spectrum, weight
    offset = np.float32(means.sum())
    # Σ w_k F_k · sqrt(N / Σ w_k²): the dose-weighted sum keeps the plain sum's noise power.
    _elementwise.scale(dw_spec, dose_normalisation(g, n, p.pre_exposure + dose_per_area, dose_per_area))
    del g
    sum_dw = scipy.fft.irfft2(dw_spec, s=big, workers=workers)[:h, :w] + offset
    del dw_spec
    even = np.ascontiguousarray(scipy.fft.irfft2(half_specs[0], s=big, workers=workers)[:h, :w])
    odd = np.ascontiguousarray(scipy.fft.irfft2(half_specs[1], s=big, workers=workers)[:h, :w])
    del half_specs
    aligned_sum = even + odd
    timings["sums"] = time.perf_counter() - tick

    tick = time.perf_counter()
    frequency, frc_aligned = frc(even, odd, workers=workers)
    timings["frc"] = time.perf_counter() - tick
    timings["total"] = time.perf_counter() - start

    resolved = {f.name: getattr(p, f.name) for f in dataclasses.fields(Parameters)}
    resolved.update({k: v for k, v in calibration.items() if k != "sources"})
    resolved["sigmas"] = list(p.sigmas)
    resolved["workers"] = workers
    for key in ("gain", "defects"):
        value = resolved[key]
        resolved[key] = str(value) if isinstance(value, (str, os.PathLike)) else (None if value is None else "array")
    resolved.update(
        calibration_sources=calibration["sources"],
        movie=str(movie.path) if movie.path is not None else None,
        frames=n,
        shape=[h, w],
        correlation_grid=list(crop),
        padded_grid=list(grid),
        binning=binning.tolist(),
        sum_grid=list(big),
        dose_per_area=dose_per_area,
        dose_weighting="Grant & Grigorieff 2015 critical exposure, exposure at the end of each frame",
    )
    return Result(
        shifts=shifts,
        errors=solution.errors,
        sum=(aligned_sum + offset).astype(np.float32),
        sum_dw=sum_dw.astype(np.float32),
        frc={"frequency": frequency, "aligned": frc_aligned, "unaligned": frc_unaligned},
        pairs={
            "first": first,
            "second": second,
            "measured": measured,
            "significance": significance,
            "sigma": sigma,
            "weight": solution.weights,
            "residual": solution.residuals,
        },
        parameters=resolved,
        timings=timings,
        repaired=repaired,
    )
