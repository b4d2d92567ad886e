"""zorro: drift correction of cryo-electron-microscopy movies.

>>> import zorro
>>> result = zorro.align("movie.mrcz", pixel_size=1.05, dose_per_frame=1.2)
>>> result.shifts  # (frames, 2) translations (y, x) that align each frame with frame 1
>>> zorro.write_outputs(result, "out/", "movie")
"""

from __future__ import annotations

from . import _versions
from ._core import __version__

_versions.check(__version__)

from ._errors import InputError, ZorroError
from ._orient import ORIENTATIONS
from .engine import Parameters, Result, align
from .gain_orient import find_gain_orientation
from .io import Movie, read_defects, read_gain, read_movie
from .outputs import write_outputs
from .simulate import SimulatedMovie, simulate

__all__ = [
    "ORIENTATIONS",
    "InputError",
    "Movie",
    "Parameters",
    "Result",
    "SimulatedMovie",
    "ZorroError",
    "__version__",
    "align",
    "find_gain_orientation",
    "read_defects",
    "read_gain",
    "read_movie",
    "simulate",
    "write_outputs",
]
