"""Reading MRC and MRCZ files (also gzip/bzip2-compressed MRC): `MrcFile`, `read`, `read_header`."""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, SupportsIndex, overload

import numpy as np

from . import _core
from ._atomic import PathLike
from ._containers import GZIP_MAX_RATIO, container_of, looks_like, open_stream
from ._errors import CorruptChunkError, MRCZError, MRCZFormatError, TruncatedFileError
from ._header import HEADER_SIZE, ByteOrder, Header, VoxelSize, parse_header
from ._threads import default_threads

__all__ = ["FrameIndex", "LazyFrames", "MrcFile", "read", "read_header"]

FrameIndex = int | slice | Sequence[int] | np.ndarray | None

NATIVE: ByteOrder = "<" if sys.byteorder == "little" else ">"
_MAX_JSON_BYTES = 64 << 20
_MAX_CHUNK_BYTES = 2**31 - 1 - 32  # blosc2's largest chunk (BLOSC2_MAX_BUFFERSIZE)


class MrcFile:
    """An MRC/MRCZ file open for reading (``mrcz.open(path)``).

    ``.data`` is lazy: a memory map for plain files, frames decompressed on demand for
    MRCZ. Files are written with :class:`MrcWriter` (``mrcz.open(path, "w")``).
    """

    def __init__(self, path: PathLike, *, threads: int | None = None, nibble_order: str = "low"):
        self.path = os.fspath(path)
        self.threads = threads or default_threads()
        self._high_first = nibble_high_first(nibble_order)
        self._raw: io.BufferedReader = Path(self.path).open("rb")
        self._file: io.BufferedIOBase = self._raw  # or the decompressed stream of a container
        try:
            self._size: int | None = os.fstat(self._raw.fileno()).st_size
            head = self._raw.read(HEADER_SIZE)
            #: 'gzip' or 'bzip2' for a compressed MRC file (read as a stream), else None.
            self.container = container_of(head)
            if self.container:
                self._packed_size = self._size
                self._size = None  # known once the stream has been read to its end
                self._raw.seek(0)
                self._file = open_stream(self._raw, self.container)
                with _stream_errors(self):
                    head = self._file.read(HEADER_SIZE)
            self.header = self._parse(head)
            self._check_sizes()
            self._offsets: np.ndarray | None = None
            self._sizes: np.ndarray | None = None
            self._extended: bytes | None = None
        except BaseException:
            self.close()
            raise

    def _parse(self, head: bytes) -> Header:
        try:
            return parse_header(head, self.path)
        except MRCZError as exc:
            what = looks_like(head)
            if what is None:
                raise
            inside = f"a {self.container} stream holding " if self.container else ""
            raise MRCZFormatError(f"not an MRC file: it looks like {inside}{what}", path=self.path) from exc

    # -- context manager -----------------------------------------------------------
    def __enter__(self) -> MrcFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._file.close()
        self._raw.close()

    @property
    def closed(self) -> bool:
        return self._raw.closed

    def __repr__(self) -> str:
        h = self.header
        codec = f", {h.codec}" if h.compressed else ""
        return f"<mrcz.MrcFile {self.path!r} {h.kind} {h.shape} {h.dtype}{codec}>"

    # -- header-derived --------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self.header.shape

    @property
    def dtype(self) -> np.dtype:
        return self.header.dtype

    @property
    def voxel_size(self) -> VoxelSize:
        return self.header.voxel_size

    @property
    def extended_header(self) -> bytes:
        """The extended header's bytes, exactly as in the file."""
        if self._extended is None:
            self._extended = self._pread(HEADER_SIZE, self.header.nsymbt)
        return self._extended

    @property
    def indexed_extended_header(self) -> np.ndarray | None:
        """FEI1/FEI2 extended headers as a structured array, one record per section (EPU
        files have room for 1024; those past NZ are not returned, as in mrcfile); else None."""
        if self.header.exttyp not in ("FEI1", "FEI2") or not self.header.nsymbt:
            return None
        from ._fei import parse_fei

        try:
            return parse_fei(self.extended_header, self.header.exttyp)[: self.header.nz]
        except ValueError as exc:
            raise MRCZFormatError(str(exc), path=self.path, field="extended header") from exc

    @property
    def meta(self) -> dict[str, Any]:
        """JSON metadata of MRCZ files (EXTTYP 'json'); an empty dict otherwise."""
        if self.header.exttyp != "json" or not self.header.nsymbt:
            return {}
        if self.header.nsymbt > _MAX_JSON_BYTES:
            raise MRCZFormatError(
                f"{self.header.nsymbt} bytes of JSON is more than mrcz reads", path=self.path, field="NSYMBT"
            )
        text = self.extended_header.rstrip(b"\0 \t\r\n")
        try:
            meta = json.loads(text.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise MRCZFormatError(f"invalid JSON metadata: {exc}", path=self.path, field="extended header") from exc
        if not isinstance(meta, dict):
            raise MRCZFormatError("JSON metadata is not an object", path=self.path, field="extended header")
        return meta

    # -- data --------------------------------------------------------------------------
    @property
    def data(self) -> np.ndarray | LazyFrames:
        """The data, read lazily.

        A read-only memory map for plain files; for MRCZ and 4-bit files a
        :class:`LazyFrames` whose frames are decompressed (or decoded) when indexed."""
        h = self.header
        if not h.compressed and h.mode != 101 and h.nz and not self.container:
            return self._memmap()
        return LazyFrames(self)

    def read(self, frames: FrameIndex = None) -> np.ndarray:
        """Read all data, or the frames (first-axis items) `frames` selects, into memory."""
        h = self.header
        sections, out_shape = self._select(frames)
        if h.compressed and len(sections):
            self._chunk_table()  # every chunk must hold one frame of NX x NY before memory is taken
        out = np.empty(out_shape, dtype=h.dtype)
        if len(sections) == 0:
            return out
        flat = out.reshape(-1, h.ny, h.nx)
        if h.mode == 101:
            packed = np.empty((len(sections), h.ny, (h.nx + 1) // 2), dtype=np.uint8)
            self._read_sections(sections, packed)
            flat[...] = _core.unpack_nibbles(packed, h.nx, self._high_first, self.threads)
        else:
            self._read_sections(sections, flat)
            if h.byteorder != NATIVE and h.dtype.itemsize > 1:
                _core.byteswap(flat.view(swap_view_dtype(h.dtype)), self.threads)
        if self.container and sections[-1] == h.nz - 1:
            _ = self.file_size  # reading on to the stream's end checks its CRC
        return out

    def frames(self) -> Iterator[np.ndarray]:
        """Iterate over the frames (first-axis items) one at a time."""
        for i in range(self.shape[0] if len(self.shape) > 2 else 1):
            yield self.read(i) if len(self.shape) > 2 else self.read()

    # -- internals ---------------------------------------------------------------------
    def _pread(self, offset: int, size: int) -> bytes:
        if self.container or not hasattr(os, "pread"):
            with _stream_errors(self):
                self._file.seek(offset)
                data = self._file.read(size)
        else:
            data = os.pread(self._file.fileno(), size, offset)
        if len(data) < size:
            raise TruncatedFileError(f"the file ends before byte {offset + size}", path=self.path)
        return data

    @property
    def file_size(self) -> int:
        """Bytes in the file; of a gzip or bzip2 file, the decompressed bytes (read to find out)."""
        if self._size is None:
            with _stream_errors(self):
                total = self._file.tell()
                while piece := self._file.read(1 << 20):
                    total += len(piece)
            self._size = total
        return self._size

    def _check_sizes(self) -> None:
        h = self.header
        if self.container:
            self._check_container(h)
            return
        assert self._size is not None
        if h.data_offset > self._size:
            raise TruncatedFileError(
                f"the extended header of {h.nsymbt} bytes runs past the end of the {self._size}-byte file",
                path=self.path,
                field="NSYMBT",
            )
        available = self._size - h.data_offset
        if h.compressed:
            if h.frame_bytes > _MAX_CHUNK_BYTES:
                raise MRCZFormatError(
                    f"a frame of NX x NY = {h.nx} x {h.ny} values ({h.frame_bytes} bytes) is larger "
                    "than one blosc chunk can hold",
                    path=self.path,
                    field="NX",
                )
            # Every chunk has a header of at least 16 bytes.
            if h.nz * 16 > available:
                raise TruncatedFileError(
                    f"{h.nz} compressed frames cannot fit in the {available} bytes after the headers",
                    path=self.path,
                    field="NZ",
                )
        elif h.nz * h.frame_bytes > available:
            raise TruncatedFileError(
                f"NX x NY x NZ = {h.nx} x {h.ny} x {h.nz} needs {h.nz * h.frame_bytes} bytes of data "
                f"but the file holds {available}",
                path=self.path,
                field="NZ",
            )

    def _check_container(self, h: Header) -> None:
        """What can be checked before a gzip/bzip2 stream is read (the rest is checked while reading)."""
        if h.compressed:
            raise MRCZFormatError(
                f"a {self.container}-compressed MRCZ file is not supported: decompress it first", path=self.path
            )
        claimed = h.data_offset + h.nz * h.frame_bytes
        if self.container == "gzip" and claimed > GZIP_MAX_RATIO * self._packed_size:
            raise TruncatedFileError(
                f"NX x NY x NZ = {h.nx} x {h.ny} x {h.nz} needs {claimed} bytes, more than a gzip stream "
                f"of {self._packed_size} bytes can hold",
                path=self.path,
                field="NZ",
            )

    def _chunk_table(self) -> tuple[np.ndarray, np.ndarray]:
        if self._offsets is None:
            h = self.header
            try:
                self._offsets, self._sizes = _core.scan_chunks(
                    self._file.fileno(), h.data_offset, h.nz, self.file_size, h.frame_bytes
                )
            except _core.ChunkError as exc:
                raise CorruptChunkError(str(exc), path=self.path, field="data") from None
        assert self._sizes is not None
        return self._offsets, self._sizes

    @property
    def chunk_format(self) -> str | None:
        """Which chunk format an MRCZ file has (read from its first chunk), else None.

        'blosc' means c-blosc 1's version-2 chunks, which every MRCZ reader opens, and 'blosc2'
        c-blosc2's versions 3 to 5."""
        h = self.header
        if not h.compressed or not h.nz:
            return None
        return "blosc" if self._pread(h.data_offset, 1)[0] == 2 else "blosc2"

    @property
    def compressed_size(self) -> int:
        """Bytes of data in the file (the sum of the chunk sizes for MRCZ)."""
        if not self.header.compressed:
            return self.header.nz * self.header.frame_bytes
        return int(self._chunk_table()[1].sum())

    def _select(self, frames: FrameIndex) -> tuple[np.ndarray, tuple[int, ...]]:
        """Section indices for `frames` and the shape of the result."""
        h = self.header
        shape = h.shape
        if frames is None:
            return np.arange(h.nz), shape
        if len(shape) == 2:
            raise IndexError(f"{self.path} holds a single image; it has no frames to select")
        items = np.arange(shape[0])
        if not isinstance(frames, int | np.integer | slice | list | tuple | range | np.ndarray):
            raise TypeError(f"frames must be an int, slice or sequence of ints, not {frames!r}")
        try:
            chosen = items[frames]
        except IndexError as exc:
            raise IndexError(f"{self.path}: frames {frames!r}: {exc}") from None
        except (TypeError, ValueError) as exc:
            raise TypeError(f"frames must be an int, slice or sequence of ints, not {frames!r}") from exc
        scalar = np.ndim(chosen) == 0
        chosen = np.atleast_1d(chosen)
        per = h.sections_per_volume
        sections = (chosen[:, None] * per + np.arange(per)[None, :]).ravel()
        out_shape = shape[1:] if scalar else (len(chosen), *shape[1:])
        return sections, tuple(out_shape)

    def _read_sections(self, sections: np.ndarray, out: np.ndarray) -> None:
        h = self.header
        fd = self._file.fileno()
        if h.compressed:
            offsets, sizes = self._chunk_table()
            try:
                _core.read_compressed(fd, offsets[sections].tolist(), sizes[sections].tolist(), out, self.threads)
            except _core.ChunkError as exc:
                raise CorruptChunkError(str(exc), path=self.path, field="data") from None
            return
        flat = out.reshape(len(sections), -1).view(np.uint8)
        runs = np.flatnonzero(np.diff(sections) != 1) + 1
        for run in np.split(np.arange(len(sections)), runs):
            first = int(sections[run[0]])
            view = flat[run[0] : run[-1] + 1].data.cast("B")
            if self._read_into(view, h.data_offset + first * h.frame_bytes) < len(view):
                raise TruncatedFileError("the file ends inside the data", path=self.path, field="NZ")

    def _read_into(self, view: memoryview, offset: int) -> int:
        if not self.container and hasattr(os, "preadv"):
            return os.preadv(self._file.fileno(), [view], offset)
        done = 0
        with _stream_errors(self):
            self._file.seek(offset)
            while done < len(view) and (got := self._file.readinto(view[done:])):  # streams return pieces
                done += got
        return done

    def _memmap(self) -> np.ndarray:
        h = self.header
        return np.memmap(
            self.path, dtype=_in_byteorder(h.dtype, h.byteorder), mode="r", offset=h.data_offset, shape=h.shape
        )


@contextlib.contextmanager
def _stream_errors(f: MrcFile) -> Iterator[None]:
    """A damaged or cut gzip/bzip2 stream as an MRCZError naming the file (plain files pass)."""
    try:
        yield
    except EOFError:
        raise TruncatedFileError(f"the {f.container} stream ends early (the file is cut short)", path=f.path) from None
    except (zlib.error, OSError) as exc:
        if not f.container or (isinstance(exc, OSError) and exc.errno is not None):
            raise
        raise MRCZFormatError(f"damaged {f.container} stream: {exc}", path=f.path) from None


def _in_byteorder(dtype: np.dtype, byteorder: ByteOrder) -> np.dtype:
    if dtype.names is not None:
        return np.dtype([(name, dtype[name].newbyteorder(byteorder)) for name in dtype.names])
    return dtype.newbyteorder(byteorder)


def swap_view_dtype(dtype: np.dtype) -> np.dtype:
    """A plain integer dtype whose items are the units to byte-swap."""
    base = dtype.base
    if base.names is not None:  # mode 3: two int16 per item
        return np.dtype("u2")
    if base.kind == "c":
        return np.dtype(f"u{base.itemsize // 2}")
    return np.dtype(f"u{base.itemsize}")


def nibble_high_first(nibble_order: str) -> bool:
    if nibble_order not in ("low", "high"):
        raise ValueError(f"nibble_order must be 'low' (IMOD, SerialEM) or 'high', not {nibble_order!r}")
    return nibble_order == "high"


class LazyFrames:
    """The data of an MRCZ file, decompressed frame by frame when indexed.

    Indexing the first axis reads only the frames asked for; ``np.asarray`` reads all.
    """

    def __init__(self, file: MrcFile):
        self._file = file
        self.shape = file.header.shape
        self.dtype = file.header.dtype
        self.ndim = len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    # As ndarray's own indexing: integers alone may pick one voxel (a scalar), anything else an array.
    @overload
    def __getitem__(self, key: SupportsIndex | tuple[SupportsIndex, ...]) -> Any: ...
    @overload
    def __getitem__(self, key: Any) -> np.ndarray: ...
    def __getitem__(self, key: Any) -> Any:
        first, rest = (key[0], key[1:]) if isinstance(key, tuple) and key else (key, ())
        if self.ndim == 2 or first is Ellipsis:
            return self._file.read()[key]
        data = self._file.read(first)
        if not rest:
            return data
        lead = () if np.ndim(np.arange(self.shape[0])[first]) == 0 else (slice(None),)
        return data[(*lead, *rest)]

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        data = self._file.read()
        return data if dtype is None else data.astype(dtype)

    def __repr__(self) -> str:
        return f"<mrcz.LazyFrames {self.shape} {self.dtype} of {self._file.path!r}>"


def read_header(path: PathLike) -> Header:
    """The parsed main header of an MRC/MRCZ file (sizes checked against the file)."""
    with MrcFile(path) as f:
        return f.header


def read(
    path: PathLike,
    frames: FrameIndex = None,
    *,
    mmap: bool = False,
    threads: int | None = None,
    nibble_order: str = "low",
) -> np.ndarray:
    """Read the data of an MRC/MRCZ file as a numpy array in native byte order.

    ``frames`` selects items of the first axis (an int, slice or list) and reads only
    those, also from compressed files. ``mmap=True`` returns a read-only memory map
    (plain files only).
    """
    with MrcFile(path, threads=threads, nibble_order=nibble_order) as f:
        if mmap:
            if f.header.compressed or f.header.mode == 101 or f.container:
                raise ValueError(
                    f"{f.path}: only uncompressed files of whole-byte modes can be memory-mapped (not MRCZ, "
                    "4-bit or gzip/bzip2 files)"
                )
            data = f._memmap()
            return data if frames is None else data[frames]
        return f.read(frames)
