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
from .store import SessionStore


def content_hash(path: str | os.PathLike) -> str:
    """SHA-256 of a file's content, 16 hex digits."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()[:16]


def register_gain(store: SessionStore, path: str | os.PathLike, orientation: str | None = None) -> dict:
    """Register the gain at ``path`` (copying it into the session once); an ``orientation``
    given replaces the stored one. Returns the registry row: hash, source, copy, orientation."""
    path = Path(path)
    digest = content_hash(path)
    known = store.gain(digest)
    copy = store.out_dir / "gains" / f"{digest}{''.join(path.suffixes)}"
    if not copy.exists():
        copy.parent.mkdir(exist_ok=True)
        write_atomic(copy, lambda tmp: shutil.copyfile(path, tmp))
    if known is None or (orientation is not None and orientation != known["orientation"]):
        store.register_gain(digest, str(path.resolve()), str(copy), orientation or (known or {}).get("orientation"))
    return store.gain(digest)


def orient_gain(store: SessionStore, digest: str, movies: list[str]) -> str:
    """Find (``zorro gain-orient``) and register the orientation of a registered gain."""
    from ..gain_orient import find_gain_orientation

    row = store.gain(digest)
    best, scores = find_gain_orientation(movies, row["copy"])
    store.register_gain(digest, row["source"], row["copy"], best)
    store.log(
        "gain",
        f"orientation {best} found on {len(movies)} movie(s): "
        + ", ".join(f"{k} {v:.4g}" for k, v in sorted(scores.items(), key=lambda kv: kv[1])[:3]),
    )
    return best
