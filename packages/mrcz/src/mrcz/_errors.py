"""The exceptions mrcz raises for files it cannot read or write."""

from __future__ import annotations

import os

__all__ = [
    "CorruptChunkError",
    "MRCZError",
    "MRCZFormatError",
    "TruncatedFileError",
    "UnsupportedModeError",
]


class MRCZError(Exception):
    """Base class of every error about an MRC/MRCZ file; names the file and the field."""

    def __init__(self, message: str, *, path: str | os.PathLike[str] | None = None, field: str | None = None):
        self.path = os.fspath(path) if path is not None else None
        self.field = field
        where = ": ".join(part for part in (self.path, field) if part)
        super().__init__(f"{where}: {message}" if where else message)


class MRCZFormatError(MRCZError, ValueError):
    """The file is not a well-formed MRC/MRCZ file (a header value is impossible)."""


class TruncatedFileError(MRCZFormatError):
    """The file is shorter than its header says."""


class CorruptChunkError(MRCZFormatError):
    """A compressed frame of an MRCZ file is damaged."""


class UnsupportedModeError(MRCZFormatError):
    """The MODE word (or its compressor id) names a data type or codec mrcz does not know."""
