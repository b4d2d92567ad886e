"""One movie from file to outputs: what ``zorro align``, ``zorro batch`` and the demo run."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

import mrcz

from .engine import Result, align
from .outputs import SUM_FORMATS, movie_stem, write_outputs


class AlignedMovie:
    """The engine's frame sink that writes the aligned frames (float32) to ``path`` as they come,
    MRCZ (zstd) when the name ends in .mrcz; :meth:`close` finishes the file, :meth:`abort`
    removes the partial one."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._writer: mrcz.MrcWriter | None = None

    def start(self, shape: tuple[int, int], pixel_size: float | None, voltage: float) -> None:
        """Open the file for frames of ``shape`` with the movie's calibration."""
        compressor = "zstd" if self.path.suffix.lower() == ".mrcz" else None
        self._writer = mrcz.open(
            self.path, "w", frame_shape=shape, dtype="float32", compressor=compressor,
            pixel_size=pixel_size, voltage=voltage, overwrite=True,
        )  # fmt: skip

    def append(self, frame: NDArray[np.float32]) -> None:
        """Write the next aligned frame (after :meth:`start`)."""
        if self._writer is None:
            raise RuntimeError("AlignedMovie.append before start")
        self._writer.append(frame)

    def close(self) -> None:
        """Finish the file (it appears under its name only now)."""
        if self._writer is not None:
            self._writer.close()

    def abort(self) -> None:
        """Remove the partial file."""
        if self._writer is not None:
            self._writer.abort()


def process(
    movie: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    format: str = "mrcz",
    save_movie: bool = False,
    report: bool = True,
    **params: object,
) -> tuple[Result, dict[str, Path]]:
    """Align ``movie`` and write its outputs in ``out_dir``; returns the result and the paths.

    ``params`` are :class:`zorro.Parameters` fields. With ``save_movie`` the aligned frames go
    to ``<stem>_aligned.mrcz`` (``.mrcs`` with ``format="mrc"``).
    """
    if format not in SUM_FORMATS:
        raise ValueError(f"unknown output format {format!r}; choose one of {', '.join(SUM_FORMATS)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = movie_stem(Path(movie))
    sink = AlignedMovie(out / f"{stem}_aligned.{'mrcz' if format == 'mrcz' else 'mrcs'}") if save_movie else None
    try:
        result = align(movie, frame_sink=sink, **params)
    except BaseException:
        if sink is not None:
            sink.abort()
        raise
    if sink is not None:
        sink.close()
    paths = write_outputs(result, out, stem, format=format, report=report)
    if sink is not None:
        paths["aligned_movie"] = sink.path
    return result, paths
