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
from typing import TYPE_CHECKING, Any, TypeAlias, TypedDict

import numpy as np
from numpy.typing import ArrayLike

from .._atomic import write_text_atomic
from ..outputs import movie_stem
from .store import Metrics, Outputs

if TYPE_CHECKING:
    from ..engine import Result

MANIFEST_VERSION = 1
EARLY_DOSE = 4.0  # e⁻/Å²: RELION's split of accumulated motion into early and late

#: The :class:`zorro.Parameters` fields, as keywords of :func:`zorro.pipeline.process`
#: (JSON values only in a session: paths as strings).
AlignParams: TypeAlias = dict[str, Any]


class SessionParams(TypedDict):
    """A session's parameter set: what :func:`run_movie` passes to :func:`zorro.pipeline.process`."""

    format: str
    save_movie: bool
    report: bool
    align: AlignParams


class Manifest(TypedDict):
    """What a worker wrote when a movie's work was complete (``<stem>.manifest.json``)."""

    version: int
    movie: str
    movie_size: int
    movie_mtime: float
    param_hash: str
    outputs: Outputs  # names relative to the movie's output folder
    metrics: Metrics


def output_dir(
    movie: str | os.PathLike[str], input_root: str | os.PathLike[str] | None, out_root: str | os.PathLike[str]
) -> Path:
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


def manifest_path(movie: str | os.PathLike[str], out_dir: str | os.PathLike[str]) -> Path:
    return Path(out_dir) / f"{movie_stem(movie)}.manifest.json"


def read_manifest(movie: str | os.PathLike[str], out_dir: str | os.PathLike[str], param_hash: str) -> Manifest | None:
    """The movie's manifest if its work is complete for ``param_hash`` and the movie file as
    it is now; None otherwise (missing, other parameters, changed movie, missing output)."""
    try:
        manifest: Manifest = json.loads(manifest_path(movie, out_dir).read_text(encoding="utf-8"))
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


def run_movie(movie: str, out_dir: str, params: SessionParams, param_hash: str) -> Manifest:
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
    manifest: Manifest = {
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


def movie_metrics(result: Result) -> Metrics:
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

    def angstrom(value: float) -> float | None:
        return value * pixel if pixel else None

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


def frc_resolution(
    frequency: ArrayLike, frc: ArrayLike, pixel_size: float | None, threshold: float = 0.143
) -> float | None:
    """Resolution (Å) where the FRC first falls below ``threshold`` (linear interpolation);
    Nyquist if it never does; None without a pixel size or if it starts below."""
    f, c = np.asarray(frequency, float), np.asarray(frc, float)
    if not pixel_size or len(c) == 0:
        return None
    below = np.flatnonzero(c < threshold)
    if len(below) == 0:
        return float(pixel_size / f[-1])
    k = int(below[0])
    if k == 0:
        return None
    f0, f1, c0, c1 = f[k - 1], f[k], c[k - 1], c[k]
    crossing = f0 + (c0 - threshold) * (f1 - f0) / (c0 - c1)
    return float(pixel_size / crossing) if crossing > 0 else None
