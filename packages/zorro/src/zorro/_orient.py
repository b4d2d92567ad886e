"""The 8 orientations (rotations by quarter turns, optionally mirrored) of a gain reference."""

from __future__ import annotations

from typing import Literal, TypeVar, get_args

import numpy as np
from numpy.typing import NDArray

Orientation = Literal["rot0", "rot90", "rot180", "rot270", "rot0+flip", "rot90+flip", "rot180+flip", "rot270+flip"]
ORIENTATIONS: tuple[Orientation, ...] = get_args(Orientation)
"""Names of the orientations: ``rotK`` turns the image K degrees counter-clockwise (as displayed
with row 0 at the top, like :func:`numpy.rot90`); ``+flip`` then mirrors it left-right."""


def _parse(name: str) -> tuple[int, bool]:
    if name not in ORIENTATIONS:
        raise ValueError(f"unknown gain orientation {name!r}; choose one of {', '.join(ORIENTATIONS)}")
    rotation, _, flip = name.partition("+")
    return int(rotation[3:]) // 90, bool(flip)


_Scalar = TypeVar("_Scalar", bound=np.generic)


def orient(image: NDArray[_Scalar], name: str) -> NDArray[_Scalar]:
    """``image`` turned into the orientation ``name``."""
    quarter_turns, flip = _parse(name)
    out = np.rot90(image, quarter_turns)
    return np.ascontiguousarray(out[:, ::-1] if flip else out)


def unorient(image: NDArray[_Scalar], name: str) -> NDArray[_Scalar]:
    """The inverse of :func:`orient`: ``unorient(orient(g, name), name) == g``."""
    quarter_turns, flip = _parse(name)
    return np.ascontiguousarray(np.rot90(image[:, ::-1] if flip else image, -quarter_turns))
