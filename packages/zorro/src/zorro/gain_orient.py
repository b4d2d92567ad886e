"""Finding which of the 8 orientations of a gain reference matches a set of movies."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import scipy.ndimage

from ._errors import InputError
from ._orient import ORIENTATIONS, orient
from .io import read_gain, read_movie


def find_gain_orientation(
    movies: Sequence[str | os.PathLike[str] | np.ndarray], gain: str | os.PathLike[str] | np.ndarray
) -> tuple[str, dict[str, float]]:
    """The orientation of ``gain`` that makes the summed frames of ``movies`` flattest.

    Each orientation whose shape fits the frames is applied to the sum of all frames; its
    score is the variance of the corrected sum's fine detail (the image minus its 9 x 9
    local mean) relative to its mean squared. The right orientation leaves only shot
    noise; a wrong one adds the gain pattern twice. Returns the best name and every score
    (lower is flatter). Raises InputError when no orientation fits the frame shape.
    """
    if not movies:
        raise InputError("gain orientation needs at least one movie")
    total: np.ndarray | None = None
    for movie in movies:
        frames = read_movie(movie).frames if isinstance(movie, (str, os.PathLike)) else np.asarray(movie)
        frame_sum = frames.sum(axis=0, dtype=np.float64) if frames.ndim == 3 else frames.astype(np.float64)
        if total is not None and frame_sum.shape != total.shape:
            raise InputError(f"movies of different frame shapes: {frame_sum.shape} and {total.shape}")
        total = frame_sum if total is None else total + frame_sum
    assert total is not None  # there was at least one movie
    reference = read_gain(gain) if isinstance(gain, (str, os.PathLike)) else np.asarray(gain, np.float32)
    scores: dict[str, float] = {}
    for name in ORIENTATIONS:
        oriented = orient(reference, name)
        if oriented.shape != total.shape:
            continue
        corrected = (total * oriented).astype(np.float32)
        detail = corrected - scipy.ndimage.uniform_filter(corrected, 9)
        scores[name] = float(detail.var() / max(float(corrected.mean()) ** 2, 1e-30))
    if not scores:
        raise InputError(
            f"the gain reference is {reference.shape[0]} x {reference.shape[1]}; no orientation of it fits frames "
            f"of {total.shape[0]} x {total.shape[1]}"
        )
    return min(scores, key=scores.__getitem__), scores
