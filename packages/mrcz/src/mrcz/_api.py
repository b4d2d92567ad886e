"""The entry points that choose or schedule the work: `open` (to read or to write) and
the background `async_read` / `async_write`."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Sequence
from typing import Any, Literal, overload

import numpy as np
import numpy.typing as npt

from ._atomic import PathLike
from ._header import Header
from ._reader import MrcFile, read
from ._threads import pool
from ._writer import MrcWriter, write

__all__ = ["async_read", "async_write", "open"]


# The overloads spell out the keywords of MrcFile and MrcWriter (a test keeps them equal),
# so that a misspelt or missing keyword is caught and the result is typed by the mode.
@overload
def open(
    path: PathLike, mode: Literal["r"] = "r", *, threads: int | None = None, nibble_order: str = "low"
) -> MrcFile: ...
@overload
def open(
    path: PathLike,
    mode: Literal["w"],
    *,
    frame_shape: Sequence[int],
    dtype: npt.DTypeLike,
    volume: bool = False,
    sections_per_volume: int | None = None,
    like: Header | None = None,
    **options: Any,
) -> MrcWriter: ...
def open(path: PathLike, mode: str = "r", **kwargs: Any) -> MrcFile | MrcWriter:
    """Open an MRC/MRCZ file: ``mode='r'`` to read, ``'w'`` to write frames as they come.

    Writing takes ``frame_shape`` and ``dtype`` of the frames and the options of
    :class:`~mrcz.WriteOptions`, and returns a :class:`MrcWriter`.
    """
    if mode == "r":
        return MrcFile(path, **kwargs)
    if mode == "w":
        return MrcWriter(path, **kwargs)
    raise ValueError(f"mode must be 'r' or 'w', not {mode!r}")


def async_read(path: PathLike, *args: Any, **kwargs: Any) -> concurrent.futures.Future[np.ndarray]:
    """:func:`read` on a background thread; returns a Future of the array."""
    return pool().submit(read, path, *args, **kwargs)


def async_write(path: PathLike, data: np.ndarray, **kwargs: Any) -> concurrent.futures.Future[Header]:
    """:func:`write` on a background thread; returns a Future of the header written.

    Compression and file I/O run without the GIL, so the caller keeps computing.
    """
    return pool().submit(write, path, data, **kwargs)
