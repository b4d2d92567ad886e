"""gzip and bzip2 MRC files (EMDB's ``.map.gz``), and what a file that is not MRC looks like.

Containers are recognised by their first bytes, as mrcfile does, not by the name; they are
read as streams (forward reads are cheap, going back decompresses again from the start).
"""

from __future__ import annotations

import bz2
import gzip
import io
import shutil
from pathlib import Path
from typing import BinaryIO

# Containers mrcz reads and writes: name, magic bytes, file name endings that ask for it.
CONTAINERS = {"gzip": (b"\x1f\x8b\x08", (".gz",)), "bzip2": (b"BZh", (".bz2",))}
# Other formats a wrong file often is, for the error message.
_LOOKALIKES = (
    (b"II*\x00", "a TIFF file"),
    (b"MM\x00*", "a TIFF file"),
    (b"II+\x00", "a BigTIFF file"),
    (b"MM\x00+", "a BigTIFF file"),
    (b"\x89HDF\r\n\x1a\n", "an HDF5 file"),
    (b"PK\x03\x04", "a zip archive"),
    (b"PK\x05\x06", "a zip archive"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
)
# deflate's largest expansion is about 1032:1, so a gzip file of N bytes holds at most this many times N.
GZIP_MAX_RATIO = 1100
_LEVEL = 6  # gzip's and bzip2's command-line default speed/size balance (mrcfile uses 9)


def container_of(head: bytes) -> str | None:
    """'gzip' or 'bzip2' when `head` (a file's first bytes) starts such a stream."""
    for name, (magic, _) in CONTAINERS.items():
        if head.startswith(magic):
            return name
    return None


def looks_like(head: bytes) -> str | None:
    """What a file that is not MRC appears to be, from its first bytes, or None."""
    container = container_of(head)
    if container:
        return f"a {container}-compressed file"
    for magic, what in _LOOKALIKES:
        if head.startswith(magic):
            return what
    return None


def container_for_name(path: str | Path) -> str | None:
    """The container a file name asks for (``x.mrc.gz`` -> 'gzip'), or None."""
    name = str(path).lower()
    for container, (_, endings) in CONTAINERS.items():
        if name.endswith(endings):
            return container
    return None


def open_stream(file: BinaryIO, container: str) -> io.BufferedIOBase:
    """The decompressed stream of an open container file."""
    if container == "gzip":
        return gzip.GzipFile(fileobj=file, mode="rb")
    return bz2.BZ2File(file, mode="rb")


def compress_into(source: BinaryIO, out: BinaryIO, container: str) -> None:
    """Write `source` (from its start) into `out` as one gzip or bzip2 stream."""
    source.seek(0)
    if container == "gzip":  # no name (not the temporary's) and mtime 0: the same data, the same bytes
        stream: io.BufferedIOBase = gzip.GzipFile(filename="", mode="wb", compresslevel=_LEVEL, fileobj=out, mtime=0)
    else:
        stream = bz2.BZ2File(out, mode="wb", compresslevel=_LEVEL)
    with stream:
        shutil.copyfileobj(source, stream, 1 << 20)
