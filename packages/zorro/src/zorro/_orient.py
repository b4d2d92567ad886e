"""The 8 orientations (rotations by quarter turns, optionally mirrored) of a gain reference."""

from __future__ import annotations

import numpy as np

ORIENTATIONS = ("rot0", "rot90", "rot180", "rot270", "rot0+flip", "rot90+flip", "rot180+flip", "rot270+flip")
"""Names of the orientations: ``rotK`` turns the image K degrees counter-clockwise (as displayed
with row 0 at the top, like :func:`numpy.rot90`); ``+flip`` then mirrors it left-right."""


def _parse(name: str) -> tuple[int, bool]:
    if name not in ORIENTATIONS:
        raise ValueError(f"unknown gain orientation {name!r}; choose one of {', '.join(ORIENTATIONS)}")
    rotation, _, flip = name.partition("+")
    return int(rotation[3:]) // 90, bool(flip)


def orient(image: np.ndarray, name: str) -> np.ndarray:
    """``image`` turned into the orientation ``name``."""
    quarter_turns, flip = _parse(name)
    out = np.rot90(image, quarter_turns)
    return np.ascontiguousarray(out[:, ::-1] if flip else out)


def unorient(image: np.ndarray, name: str) -> np.ndarray:
    """The inverse of :func:`orient`: ``unorient(orient(g, name), name) == g``."""
    quarter_turns, flip = _parse(name)
    return np.ascontiguousarray(np.rot90(image[:, ::-1] if flip else image, -quarter_turns))
