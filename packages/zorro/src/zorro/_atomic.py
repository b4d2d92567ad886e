"""Writing files so that neither a failure nor a crash or power cut leaves a damaged file
under the final name: write a temporary file beside it, fsync it, rename it into place,
fsync the directory (so the rename itself is on disk). mrcz does the same for the MRC and
MRCZ files it writes; it has no public helper for other files, hence this one."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path


def _fsync(path: Path, *, directory: bool = False) -> None:
    if directory and not hasattr(os, "O_DIRECTORY"):
        return  # Windows cannot open a directory; its renames are journalled by NTFS
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: str | os.PathLike[str], write: Callable[[Path], object]) -> None:
    """Call ``write(tmp)`` on a unique temporary name in ``path``'s directory (same suffix),
    then make it durable and rename it to ``path``; the temporary file goes on failure."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.part{path.suffix}")
    try:
        write(tmp)
        _fsync(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync(path.parent, directory=True)


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically and durably."""
    write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
