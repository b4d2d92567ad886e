"""Reading movies, gain references and defect maps, and the calibration they carry.

Movies: MRC/MRCS/MRCZ (through mrcz) and TIFF, also LZW/deflate/zstd-compressed (through
tifffile). Pixel size (Å), voltage (kV) and dose per frame (e⁻/pixel) come from the header
or metadata when the file has them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

import mrcz

from ._errors import InputError
from ._orient import ORIENTATIONS, orient

MRC_SUFFIXES = (".mrc", ".mrcs", ".mrcz", ".mrczs", ".st")
TIFF_SUFFIXES = (".tif", ".tiff")
MOVIE_SUFFIXES = MRC_SUFFIXES + TIFF_SUFFIXES


@dataclass
class Movie:
    """A movie's frames and the calibration found in its file (None where it had none)."""

    frames: np.ndarray
    """(frames, y, x), the file's own dtype."""
    path: Path | None = None
    pixel_size: float | None = None
    voltage: float | None = None
    dose_per_frame: float | None = None
    meta: dict[str, Any] = field(default_factory=dict)


def _positive(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) and number > 0 else None


def _read_image_file(path: Path) -> tuple[np.ndarray, dict[str, Any]]:
    """Data and metadata of an MRC-family or TIFF file; InputError if it cannot be read."""
    suffix = path.suffix.lower()
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    try:
        if suffix in MRC_SUFFIXES:
            with mrcz.open(path) as f:
                data = f.read()
                header = f.header
                meta = dict(f.meta or {})
            meta.setdefault("pixel_size", header.voxel_size.x)
            meta.setdefault("voltage", header.voltage)
            return data, meta
        if suffix in TIFF_SUFFIXES:
            with tifffile.TiffFile(path) as tif:
                data = tif.asarray()
                meta = dict(tif.shaped_metadata[0]) if tif.shaped_metadata else {}
            meta.pop("shape", None)
            return data, meta
    except mrcz.MRCZError as exc:  # its message names the file already
        raise InputError(f"cannot read {exc}" if path.name in str(exc) else f"cannot read {path}: {exc}") from exc
    except (tifffile.TiffFileError, ValueError, OSError) as exc:
        raise InputError(f"cannot read {path} as TIFF: {exc}") from exc
    raise InputError(f"{path}: unknown file type {suffix!r}; zorro reads {', '.join(MOVIE_SUFFIXES)}")


def read_movie(path: str | os.PathLike[str]) -> Movie:
    """Read a movie file, checking that it is a stack of at least two finite frames."""
    path = Path(path)
    data, meta = _read_image_file(path)
    movie = Movie(
        frames=data,
        path=path,
        pixel_size=_positive(meta.get("pixel_size")),
        voltage=_positive(meta.get("voltage")),
        dose_per_frame=_positive(meta.get("dose_per_frame")),
        meta=meta,
    )
    check_frames(movie.frames, str(path))
    return movie


def check_frames(frames: np.ndarray, name: str = "the movie") -> None:
    """Raise InputError unless ``frames`` is a (frames, y, x) stack of ≥ 2 finite real frames."""
    if frames.ndim == 2:
        raise InputError(f"{name} is a single {frames.shape[0]} x {frames.shape[1]} image, not a movie (frames, y, x)")
    if frames.ndim != 3:
        raise InputError(f"{name} has {frames.ndim} dimensions; a movie is a 3-D stack (frames, y, x)")
    if frames.shape[0] < 2:
        raise InputError(f"{name} has {frames.shape[0]} frame(s); alignment needs at least 2")
    if min(frames.shape[1:]) < 32:
        raise InputError(f"{name} has frames of {frames.shape[1]} x {frames.shape[2]} pixels; at least 32 x 32 needed")
    if not np.issubdtype(frames.dtype, np.integer) and not np.issubdtype(frames.dtype, np.floating):
        raise InputError(f"{name} holds {frames.dtype} data; a movie holds real numbers")
    if np.issubdtype(frames.dtype, np.floating):
        bad = [k for k in range(frames.shape[0]) if not np.isfinite(frames[k]).all()]
        if bad:
            listed = ", ".join(str(k + 1) for k in bad[:10]) + (" ..." if len(bad) > 10 else "")
            raise InputError(f"{name} has NaN or infinite values in frame(s) {listed} (1-based)")


def read_gain(path: str | os.PathLike[str]) -> np.ndarray:
    """A gain reference image (2-D, float32, finite and positive where used)."""
    data, _ = _read_image_file(Path(path))
    if data.ndim == 3 and data.shape[0] == 1:
        data = data[0]
    if data.ndim != 2:
        raise InputError(f"gain reference {path} has shape {data.shape}; it must be one 2-D image")
    gain = data.astype(np.float32)
    if not np.isfinite(gain).all():
        raise InputError(f"gain reference {path} has NaN or infinite values")
    return gain


def oriented_gain(gain: np.ndarray, orientation: str, frame_shape: tuple[int, int], name: str = "gain") -> np.ndarray:
    """The gain reference turned into ``orientation``, checked against the frame shape."""
    if orientation not in ORIENTATIONS:
        raise InputError(f"unknown gain orientation {orientation!r}; choose one of {', '.join(ORIENTATIONS)}")
    out = orient(np.asarray(gain, np.float32), orientation)
    if out.shape != tuple(frame_shape):
        raise InputError(
            f"the {name} reference is {gain.shape[0]} x {gain.shape[1]} ({out.shape[0]} x {out.shape[1]} in "
            f"orientation {orientation}) but the frames are {frame_shape[0]} x {frame_shape[1]}"
        )
    return out


def read_defects(path: str | os.PathLike[str], frame_shape: tuple[int, int]) -> np.ndarray:
    """A defect map as a boolean mask (True = defective).

    Either an image file (MRC/TIFF, non-zero = defective) of the frame shape, or a text
    file with one defect per line: ``row Y``, ``column X`` or ``pixel Y X`` (0-based;
    ``#`` starts a comment).
    """
    path = Path(path)
    if path.suffix.lower() in MOVIE_SUFFIXES:
        data, _ = _read_image_file(path)
        if data.shape != tuple(frame_shape):
            raise InputError(f"defect map {path} is {data.shape} but the frames are {tuple(frame_shape)}")
        return np.asarray(data != 0)
    spec: dict[str, list[Any]] = {"rows": [], "columns": [], "pixels": []}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        words = line.split("#")[0].split()
        if not words:
            continue
        kind, values = words[0].lower(), words[1:]
        expected = {"row": 1, "column": 1, "pixel": 2}.get(kind)
        if expected is None or len(values) != expected or not all(v.lstrip("-").isdigit() for v in values):
            raise InputError(f"{path}:{number}: expected 'row Y', 'column X' or 'pixel Y X', not {line.strip()!r}")
        key = {"row": "rows", "column": "columns", "pixel": "pixels"}[kind]
        spec[key].append([int(v) for v in values] if kind == "pixel" else int(values[0]))
    return defect_mask(spec, frame_shape, str(path))


def defect_mask(spec: Mapping[str, Sequence[Any]], frame_shape: tuple[int, int], name: str = "defects") -> np.ndarray:
    """A boolean mask from ``{"rows": [...], "columns": [...], "pixels": [[y, x], ...]}``."""
    h, w = frame_shape
    mask = np.zeros((h, w), bool)
    unknown = set(spec) - {"rows", "columns", "pixels"}
    if unknown:
        raise InputError(f"{name}: unknown defect kind(s) {sorted(unknown)}; use rows, columns, pixels")
    for r in spec.get("rows", []):
        if not 0 <= r < h:
            raise InputError(f"{name}: defect row {r} is outside the {h} rows of the frames")
        mask[r] = True
    for c in spec.get("columns", []):
        if not 0 <= c < w:
            raise InputError(f"{name}: defect column {c} is outside the {w} columns of the frames")
        mask[:, c] = True
    for y, x in spec.get("pixels", []):
        if not (0 <= y < h and 0 <= x < w):
            raise InputError(f"{name}: defect pixel ({y}, {x}) is outside the {h} x {w} frames")
        mask[y, x] = True
    return mask
