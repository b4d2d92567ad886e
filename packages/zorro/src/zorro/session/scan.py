"""Which files of a session folder are movies, and when a movie is complete.

The folder is polled with :func:`os.scandir` (file-system events miss writes over NFS and
SMB). A movie is complete when its size and mtime have been unchanged for the settle window
(the store keeps that clock), its header agrees with its size, and, where the layout asks
for one, its companion file (EPU XML, SerialEM ``.mdoc``) exists.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import tifffile

import mrcz

from ..io import MOVIE_SUFFIXES, MRC_SUFFIXES, TIFF_SUFFIXES

#: Names that are never movies (hidden files, transfers in progress, gain references).
SKIPPED = (".*", "*downloading*", "*CountRef*", "*SuperRef*", "*_gain.*", "*.gain", "*[Gg]ain[Rr]ef*")


@dataclass(frozen=True)
class Layout:
    """Where a microscope's software puts the movies of a session."""

    patterns: tuple[str, ...]
    """Globs relative to the session folder (``**/`` spans folders, ``{a,b}`` alternatives)."""
    companion: str | None = None
    """The companion file each movie waits for (None for none). ``epu`` is the movie's name
    with ``_fractions`` and its suffix replaced by ``.xml``; ``mdoc`` is the name + ``.mdoc``."""


_SUFFIXES = "{" + ",".join(s.lstrip(".") for s in MOVIE_SUFFIXES) + "}"

PRESETS = {
    "flat": Layout((f"*.{_SUFFIXES}",)),
    "epu": Layout(("Images-Disc*/GridSquare_*/Data/*_fractions.{tiff,tif,mrc,eer}",), companion="epu"),
    "serialem": Layout((f"**/*.{_SUFFIXES}",), companion="mdoc"),
}


def companion_path(movie: Path, kind: str | None) -> Path | None:
    """The companion file a movie of this layout waits for, or None."""
    if kind is None:
        return None
    if kind == "epu":
        stem = re.sub(r"_fractions$", "", movie.name.rsplit(".", 1)[0])
        return movie.with_name(stem + ".xml")
    if kind == "mdoc":
        return movie.with_name(movie.name + ".mdoc")
    raise ValueError(f"unknown companion kind {kind!r}; choose epu or mdoc")


def glob_regex(pattern: str) -> re.Pattern[str]:
    """A glob as a regular expression on '/'-separated relative paths: ``*`` and ``?`` stay
    inside one folder, ``**/`` matches any number of folders, ``{a,b}`` either, ``[...]`` a class."""
    out, i = "", 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out, i = out + "(?:[^/]*/)*", i + 3
            continue
        if c == "*":
            out += "[^/]*"
        elif c == "?":
            out += "[^/]"
        elif c == "[" and "]" in pattern[i + 2 :]:
            end = pattern.index("]", i + 2)
            body = pattern[i + 1 : end]
            out += "[" + ("^" + body[1:] if body.startswith("!") else body).replace("\\", "\\\\") + "]"
            i = end
        elif c == "{" and "}" in pattern[i:]:
            end = pattern.index("}", i)
            out += "(?:" + "|".join(re.escape(a) for a in pattern[i + 1 : end].split(",")) + ")"
            i = end
        else:
            out += re.escape(c)
        i += 1
    return re.compile(out + r"\Z")


@dataclass
class Scanner:
    """Finds candidate movies under ``root``: files matching the layout's (or the given)
    patterns, minus :data:`SKIPPED` and the user's excludes (globs on the relative path or
    the file name). Folders named in ``prune`` (the output folder) are not entered."""

    root: Path
    layout: Layout = PRESETS["flat"]
    patterns: tuple[str, ...] = ()
    excludes: tuple[str, ...] = ()
    prune: tuple[Path, ...] = ()

    def __post_init__(self) -> None:
        self.root = Path(self.root).resolve()
        self._include = [glob_regex(p) for p in (self.patterns or self.layout.patterns)]
        self._exclude = [glob_regex(p) for p in (*SKIPPED, *self.excludes)]
        self._prune = {os.path.realpath(p) for p in self.prune}
        self._deep = any("/" in p for p in (self.patterns or self.layout.patterns))

    def wanted(self, relative: str) -> bool:
        name = relative.rsplit("/", 1)[-1]
        if any(x.match(relative) or x.match(name) for x in self._exclude):
            return False
        return any(p.match(relative) for p in self._include)

    def _pruned(self, folder: str) -> bool:
        return os.path.realpath(folder) in self._prune

    def scan(self) -> Iterator[tuple[str, int, float]]:
        """``(absolute path, size, mtime)`` of every candidate movie, one pass of os.scandir."""
        stack = [(str(self.root), "")]
        while stack:
            folder, prefix = stack.pop()
            try:
                entries = list(os.scandir(folder))
            except (FileNotFoundError, NotADirectoryError, PermissionError):
                continue  # vanished or unreadable meanwhile: the next poll tries again
            for entry in entries:
                relative = prefix + entry.name
                try:
                    if entry.is_dir():
                        if self._deep and not entry.name.startswith(".") and not self._pruned(entry.path):
                            stack.append((entry.path, relative + "/"))
                    elif entry.is_file() and self.wanted(relative):
                        st = entry.stat()
                        yield entry.path, st.st_size, st.st_mtime
                except FileNotFoundError:
                    continue


def missing_companion(path: str | os.PathLike[str], companion: str | None) -> str | None:
    """The name of the companion file a movie still waits for, or None."""
    wanted = companion_path(Path(path), companion)
    return wanted.name if wanted is not None and not wanted.exists() else None


def incompleteness(path: str | os.PathLike[str]) -> str | None:
    """Why a settled file is not a complete movie (None if it is): its header and size
    disagree, or a TIFF page lies past its end."""
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if suffix in MRC_SUFFIXES:
            with mrcz.open(path) as f:  # opening checks frames x frame bytes against the size
                f.compressed_size  # noqa: B018 (MRCZ: every chunk's header and extent are read)
        elif suffix in TIFF_SUFFIXES:
            return _tiff_incompleteness(path)
    except (mrcz.MRCZError, OSError, ValueError) as exc:
        return f"header and size disagree: {exc}"
    return None


def _tiff_incompleteness(path: Path) -> str | None:
    size = path.stat().st_size
    try:
        with tifffile.TiffFile(path) as tif:
            pages = tif.pages
            pages.useframes = False
            for k, page in enumerate(pages):
                end = max((o + n for o, n in zip(page.dataoffsets, page.databytecounts)), default=0)
                if end > size:
                    return f"page {k + 1} ends at byte {end} but the file holds {size}"
    except (tifffile.TiffFileError, ValueError, OSError, IndexError, KeyError) as exc:
        return f"its TIFF pages cannot be read: {exc}"
    return None
