"""Gain references registered by content hash, with the orientation found for them.

A registered gain is copied into ``OUT/gains/<hash><suffix>`` and the parameter set names
the copy, so a gain file overwritten mid-session changes nothing that is running (it is
reported instead), and the parameter hash changes exactly when the gain's content does.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from .._atomic import write_atomic
from .store import GainRow, SessionStore, StoreError


def content_hash(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file's content, 16 hex digits."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()[:16]


def register_gain(store: SessionStore, path: str | os.PathLike[str], orientation: str | None = None) -> GainRow:
    """Register the gain at ``path`` (copying it into the session once); an ``orientation``
    given replaces the stored one. Returns the registry row: hash, source, copy, orientation."""
    source = Path(path)
    digest = content_hash(source)
    known = store.gain(digest)
    copy = store.out_dir / "gains" / f"{digest}{''.join(source.suffixes)}"
    if not copy.exists():
        copy.parent.mkdir(exist_ok=True)

        def copy_to(tmp: Path) -> None:
            shutil.copyfile(source, tmp)

        write_atomic(copy, copy_to)
    if known is None:
        return store.register_gain(digest, str(source.resolve()), str(copy), orientation)
    if orientation is not None and orientation != known["orientation"]:
        return store.register_gain(digest, str(source.resolve()), str(copy), orientation)
    return known


def orient_gain(store: SessionStore, digest: str, movies: list[str]) -> str:
    """Find (``zorro gain-orient``) and register the orientation of a registered gain."""
    from ..gain_orient import find_gain_orientation

    row = store.gain(digest)
    if row is None:
        raise StoreError(f"no gain reference {digest} is registered in {store.out_dir}")
    best, scores = find_gain_orientation(movies, row["copy"])
    store.register_gain(digest, row["source"], row["copy"], best)
    store.log(
        "gain",
        f"orientation {best} found on {len(movies)} movie(s): "
        + ", ".join(f"{k} {v:.4g}" for k, v in sorted(scores.items(), key=lambda kv: kv[1])[:3]),
    )
    return best
