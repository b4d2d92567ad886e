"""One movie's work, as a worker does it: align, write the outputs, write the manifest last.

A movie counts as done only when its manifest exists for the current parameter hash, names
the movie's size and mtime, and every output it lists is there with its recorded size.
Workers run :func:`run_movie` with paths and a parameter set, never arrays, and return
only the manifest (metrics and output names).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from .._atomic import write_text_atomic
from ..outputs import movie_stem

MANIFEST_VERSION = 1
EARLY_DOSE = 4.0  # e⁻/Å²: RELION's split of accumulated motion into early and late


def output_dir(movie: str | os.PathLike, input_root: str | os.PathLike | None, out_root: str | os.PathLike) -> Path:
    """Where a movie's outputs go: its folder relative to the session's input folder, mirrored
    under the output folder (EPU's GridSquare folders hold movies of equal names), or the
    output folder itself for movies outside the input folder (or without one: ``batch``)."""
    out = Path(out_root)
    if input_root is None:
        return out
    try:
        relative = Path(movie).absolute().parent.relative_to(Path(input_root).absolute())
    except ValueError:
        return out
    return out / relative


def manifest_path(movie: str | os.PathLike, out_dir: str | os.PathLike) -> Path:
    return Path(out_dir) / f"{movie_stem(movie)}.manifest.json"


def read_manifest(movie: str | os.PathLike, out_dir: str | os.PathLike, param_hash: str) -> dict | None:
    """The movie's manifest if its work is complete for ``param_hash`` and the movie file as
    it is now; None otherwise (missing, other parameters, changed movie, missing output)."""
    try:
        manifest = json.loads(manifest_path(movie, out_dir).read_text(encoding="utf-8"))
        st = Path(movie).stat()
    except (OSError, ValueError):
        return None
    if (
        manifest.get("version") != MANIFEST_VERSION
        or manifest.get("param_hash") != param_hash
        or manifest.get("movie_size") != st.st_size
        or manifest.get("movie_mtime") != st.st_mtime
    ):
        return None
    for entry in manifest.get("outputs", {}).values():
        try:
            if (Path(out_dir) / entry["name"]).stat().st_size != entry["size"]:
                return None
        except OSError:
            return None
    return manifest


def run_movie(movie: str, out_dir: str, params: dict, param_hash: str) -> dict:
    """Align ``movie`` with ``params`` (``format``, ``save_movie``, ``report`` and ``align``:
    the :class:`zorro.Parameters` fields), write its outputs in ``out_dir``, then its
    manifest; returns the manifest. Raises what the alignment raises."""
    from ..pipeline import process

    st = Path(movie).stat()
    start = time.perf_counter()
    result, paths = process(
        movie,
        out_dir,
        format=params["format"],
        save_movie=params["save_movie"],
        report=params["report"],
        **params["align"],
    )
    metrics = movie_metrics(result)
    metrics["seconds"] = time.perf_counter() - start
    manifest = {
        "version": MANIFEST_VERSION,
        "movie": str(movie),
        "movie_size": st.st_size,
        "movie_mtime": st.st_mtime,
        "param_hash": param_hash,
        "outputs": {kind: {"name": p.name, "size": p.stat().st_size} for kind, p in paths.items()},
        "metrics": metrics,
    }
    write_text_atomic(manifest_path(movie, out_dir), json.dumps(manifest, indent=1))
    return manifest


def movie_metrics(result) -> dict:
    """Frames, dose (e⁻/Å²), accumulated motion total/early/late in Å (RELION's definition: the
    path length of the trajectory, split where the exposure reaches 4 e⁻/Å²) and the FRC
    resolution (Å) of the even/odd aligned sums. Å values are None without a pixel size."""
    p = result.parameters
    pixel = p.get("pixel_size")
    per_frame = p.get("dose_per_area") or 0.0
    steps = np.linalg.norm(np.diff(result.shifts, axis=0), axis=1)
    exposure = p.get("pre_exposure", 0.0) + per_frame * np.arange(1, len(result.shifts))
    early = float(steps[exposure < EARLY_DOSE].sum())
    late = float(steps[exposure >= EARLY_DOSE].sum())
    angstrom = (lambda v: v * pixel) if pixel else (lambda v: None)
    return {
        "frames": result.frames,
        "dose": per_frame * result.frames,
        "drift_total": angstrom(early + late),
        "drift_early": angstrom(early),
        "drift_late": angstrom(late),
        "resolution": frc_resolution(result.frc["frequency"], result.frc["aligned"], pixel),
        "pixel_size": pixel,
        "voltage": p.get("voltage"),
    }


def frc_resolution(frequency: np.ndarray, frc: np.ndarray, pixel_size: float | None, threshold: float = 0.143):
    """Resolution (Å) where the FRC first falls below ``threshold`` (linear interpolation);
    Nyquist if it never does; None without a pixel size or if it starts below."""
    frequency, frc = np.asarray(frequency, float), np.asarray(frc, float)
    if not pixel_size or len(frc) == 0:
        return None
    below = np.flatnonzero(frc < threshold)
    if len(below) == 0:
        return float(pixel_size / frequency[-1])
    k = int(below[0])
    if k == 0:
        return None
    f0, f1, c0, c1 = frequency[k - 1], frequency[k], frc[k - 1], frc[k]
    crossing = f0 + (c0 - threshold) * (f1 - f0) / (c0 - c1)
    return float(pixel_size / crossing) if crossing > 0 else None
