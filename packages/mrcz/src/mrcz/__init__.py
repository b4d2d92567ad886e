"""mrcz: fast, safe reading and writing of MRC2014 and blosc-compressed MRCZ files.

>>> import mrcz
>>> mrcz.write("movie.mrcz", frames, compressor="zstd", pixel_size=0.83)
>>> data = mrcz.read("movie.mrcz", frames=slice(0, 4))
"""

from __future__ import annotations

from ._compat import asyncReadMRC, asyncWriteMRC, readMRC, readMRCHeader, writeMRC
from ._core import __version__
from ._errors import CorruptChunkError, MRCZError, MRCZFormatError, TruncatedFileError, UnsupportedModeError
from ._header import Header, VoxelSize
from ._io import LazyFrames, MrcFile, MrcWriter, async_read, async_write, open, read, read_header, write
from ._validate import validate

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
    "__version__",
    "asyncReadMRC",
    "asyncWriteMRC",
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
