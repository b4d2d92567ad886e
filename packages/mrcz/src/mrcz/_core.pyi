"""Types of mrcz's compiled core (cpp/module.cpp). Every function releases the GIL."""

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__version__: str
BLOSC2_VERSION: str

class ChunkError(ValueError):
    """A damaged or impossible compressed frame."""

def stats(array: npt.NDArray[np.generic], threads: int = 0) -> tuple[float, float, float, float]: ...
def write_compressed(
    fd: int,
    offset: int,
    frames: npt.NDArray[np.generic],
    codec: int,
    clevel: int,
    filter: int,
    threads: int = 0,
    with_stats: bool = False,
    sync_bytes: int = 0,
    chunk_format: int = 2,
) -> tuple[list[int], tuple[float, float, float, float] | None]: ...
def write_data(fd: int, offset: int, data: npt.NDArray[np.generic]) -> None: ...
def scan_chunks(
    fd: int, start: int, nframes: int, file_size: int, frame_bytes: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]: ...
def read_compressed(
    fd: int, offsets: Sequence[int], sizes: Sequence[int], out: npt.NDArray[np.generic], threads: int = 0
) -> None: ...
def pack_nibbles(values: npt.ArrayLike, high_first: bool = False, threads: int = 0) -> npt.NDArray[np.uint8]: ...
def unpack_nibbles(
    packed: npt.ArrayLike, nx: int, high_first: bool = False, threads: int = 0
) -> npt.NDArray[np.uint8]: ...
def byteswap(array: npt.NDArray[np.generic], threads: int = 0) -> None: ...
