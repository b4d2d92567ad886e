"""mrcz: fast, safe reading and writing of MRC2014 and blosc-compressed MRCZ files.

>>> import mrcz
>>> mrcz.write("movie.mrcz", frames, compressor="zstd", pixel_size=0.83)
>>> data = mrcz.read("movie.mrcz", frames=slice(0, 4))
"""

from __future__ import annotations

from ._api import async_read, async_write, open
from ._atomic import atomic_output
from ._compat import asyncReadMRC, asyncWriteMRC, readMRC, readMRCHeader, writeMRC
from ._core import __version__
from ._errors import CorruptChunkError, MRCZError, MRCZFormatError, TruncatedFileError, UnsupportedModeError
from ._header import Header, VoxelSize
from ._reader import LazyFrames, MrcFile, read, read_header
from ._validate import validate
from ._writer import MrcWriter, WriteOptions, write

__all__ = [
    "CorruptChunkError",
    "Header",
    "LazyFrames",
    "MRCZError",
    "MRCZFormatError",
    "MrcFile",
    "MrcWriter",
    "TruncatedFileError",
    "UnsupportedModeError",
    "VoxelSize",
    "WriteOptions",
    "__version__",
    "asyncReadMRC",
    "asyncWriteMRC",
    "atomic_output",
    "async_read",
    "async_write",
    "open",
    "read",
    "readMRC",
    "readMRCHeader",
    "read_header",
    "validate",
    "write",
    "writeMRC",
]
