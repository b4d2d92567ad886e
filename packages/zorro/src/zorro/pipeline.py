"""One movie from file to outputs: what ``zorro align``, ``zorro batch`` and the demo run."""

from __future__ import annotations

import os
from pathlib import Path

from .engine import Result, align
from .outputs import SUM_FORMATS, movie_stem, write_outputs


def process(
    movie: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    format: str = "mrcz",
    save_movie: bool = False,
    report: bool = True,
    **params,
) -> tuple[Result, dict[str, Path]]:
    """Align ``movie`` and write its outputs in ``out_dir``; returns the result and the paths.

    ``params`` are :class:`zorro.Parameters` fields. With ``save_movie`` the aligned frames go
    to ``<stem>_aligned.mrcz`` (``.mrcs`` with ``format="mrc"``).
    """
    if format not in SUM_FORMATS:
        raise ValueError(f"unknown output format {format!r}; choose one of {', '.join(SUM_FORMATS)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = movie_stem(movie)
    aligned = out / f"{stem}_aligned.{'mrcz' if format == 'mrcz' else 'mrcs'}" if save_movie else None
    result = align(movie, save_movie=aligned, **params)
    paths = write_outputs(result, out, stem, format=format, report=report)
    if aligned is not None:
        paths["aligned_movie"] = aligned
    return result, paths
