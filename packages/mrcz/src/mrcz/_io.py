"""Reading and writing MRC and MRCZ files: `read`, `write`, `open` and `MrcFile`."""

from __future__ import annotations

import concurrent.futures
import json
import os
import stat
import sys
import threading
import uuid
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from . import _core
from ._errors import CorruptChunkError, MRCZError, MRCZFormatError, TruncatedFileError
from ._header import (
    CODEC_IDS,
    HEADER_SIZE,
    Header,
    VoxelSize,
    build_header,
    header_stats_ok,
    mode_for_dtype,
    parse_header,
)

__all__ = [
    "FrameIndex",
    "MrcFile",
    "async_read",
    "async_write",
    "open",
    "read",
    "read_header",
    "write",
]

PathLike = str | os.PathLike[str]
FrameIndex = int | slice | Sequence[int] | np.ndarray | None

_VERSION: str = _core.__version__
_NATIVE = "<" if sys.byteorder == "little" else ">"
# blosc2 codec numbers of the codecs the core writes.
_BLOSC2_CODECS = {"blosclz": 0, "lz4": 1, "lz4hc": 2, "zlib": 4, "zstd": 5}
_SHUFFLES = {"none": 0, "shuffle": 1, "bitshuffle": 2}
# Written data is flushed to disk every this many bytes while more is being written (by
# the compressing core, and behind MrcWriter.append): on the benchmark VM this cut the
# commit's fsync of a 40-frame counting movie (177 MB of chunks) from ~0.2 s to ~0.02 s.
_SYNC_BYTES = 16 << 20
_MAX_JSON_BYTES = 64 << 20
_MAX_CHUNK_BYTES = 2**31 - 1 - 32  # blosc2's largest chunk (BLOSC2_MAX_BUFFERSIZE)


def _default_threads() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _as_native(dtype: np.dtype) -> np.dtype:
    return dtype.newbyteorder("=") if dtype.names is None else dtype


# ----------------------------------------------------------------------------------
# Reading
# ----------------------------------------------------------------------------------


class MrcFile:
    """An MRC/MRCZ file open for reading (``mrcz.open(path)``).

    ``.data`` is lazy: a memory map for plain files, frames decompressed on demand for
    MRCZ. Files are written with :class:`MrcWriter` (``mrcz.open(path, "w")``).
    """

    def __init__(self, path: PathLike, *, threads: int | None = None, nibble_order: str = "low"):
        self.path = os.fspath(path)
        self.threads = threads or _default_threads()
        self._high_first = _nibble_high_first(nibble_order)
        self._file: BinaryIO = Path(self.path).open("rb")
        try:
            self._size = os.fstat(self._file.fileno()).st_size
            self.header = parse_header(self._file.read(HEADER_SIZE), self.path)
            self._check_sizes()
            self._offsets: np.ndarray | None = None
            self._sizes: np.ndarray | None = None
            self._extended: bytes | None = None
        except BaseException:
            self._file.close()
            raise

    # -- context manager -----------------------------------------------------------
    def __enter__(self) -> MrcFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._file.close()

    @property
    def closed(self) -> bool:
        return self._file.closed

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
        if not h.compressed and h.mode != 101 and h.nz:
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
            if h.byteorder != _NATIVE and h.dtype.itemsize > 1:
                _core.byteswap(flat.view(_swap_view_dtype(h.dtype)), self.threads)
        return out

    def frames(self) -> Iterator[np.ndarray]:
        """Iterate over the frames (first-axis items) one at a time."""
        for i in range(self.shape[0] if len(self.shape) > 2 else 1):
            yield self.read(i) if len(self.shape) > 2 else self.read()

    # -- internals ---------------------------------------------------------------------
    def _pread(self, offset: int, size: int) -> bytes:
        data = os.pread(self._file.fileno(), size, offset) if hasattr(os, "pread") else self._seek_read(offset, size)
        if len(data) < size:
            raise TruncatedFileError(f"the file ends before byte {offset + size}", path=self.path)
        return data

    def _seek_read(self, offset: int, size: int) -> bytes:
        self._file.seek(offset)
        return self._file.read(size)

    def _check_sizes(self) -> None:
        h = self.header
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

    def _chunk_table(self) -> tuple[np.ndarray, np.ndarray]:
        if self._offsets is None:
            h = self.header
            try:
                self._offsets, self._sizes = _core.scan_chunks(
                    self._file.fileno(), h.data_offset, h.nz, self._size, h.frame_bytes
                )
            except _core.ChunkError as exc:
                raise CorruptChunkError(str(exc), path=self.path, field="data") from None
        assert self._sizes is not None
        return self._offsets, self._sizes

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
            view = memoryview(flat[run[0] : run[-1] + 1]).cast("B")
            got = os.preadv(fd, [view], h.data_offset + first * h.frame_bytes) if hasattr(os, "preadv") else None
            if got is None:
                self._file.seek(h.data_offset + first * h.frame_bytes)
                got = self._file.readinto(view)
            if got < len(view):
                raise TruncatedFileError("the file ends inside the data", path=self.path, field="NZ")

    def _memmap(self) -> np.ndarray:
        h = self.header
        return np.memmap(
            self.path, dtype=_in_byteorder(h.dtype, h.byteorder), mode="r", offset=h.data_offset, shape=h.shape
        )


def _in_byteorder(dtype: np.dtype, byteorder: str) -> np.dtype:
    if dtype.names is not None:
        return np.dtype([(name, dtype[name].newbyteorder(byteorder)) for name in dtype.names])
    return dtype.newbyteorder(byteorder)


def _swap_view_dtype(dtype: np.dtype) -> np.dtype:
    """A plain integer dtype whose items are the units to byte-swap."""
    base = dtype.base
    if base.names is not None:  # mode 3: two int16 per item
        return np.dtype("u2")
    if base.kind == "c":
        return np.dtype(f"u{base.itemsize // 2}")
    return np.dtype(f"u{base.itemsize}")


def _nibble_high_first(nibble_order: str) -> bool:
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

    def __getitem__(self, key: Any) -> np.ndarray:
        first, rest = (key[0], key[1:]) if isinstance(key, tuple) and key else (key, ())
        if self.ndim == 2:
            return self._file.read()[key]
        if first is Ellipsis:
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


def open(path: PathLike, mode: str = "r", **kwargs: Any) -> MrcFile | MrcWriter:
    """Open an MRC/MRCZ file: ``mode='r'`` to read, ``'w'`` to write frames as they come.

    Writing takes the keyword arguments of :func:`write` (except ``data``) plus
    ``frame_shape`` and ``dtype`` of the frames, and returns a :class:`MrcWriter`.
    """
    if mode == "r":
        return MrcFile(path, **kwargs)
    if mode == "w":
        return MrcWriter(path, **kwargs)
    raise ValueError(f"mode must be 'r' or 'w', not {mode!r}")


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
            if f.header.compressed or f.header.mode == 101:
                raise ValueError(f"{f.path}: only uncompressed files of whole-byte modes can be memory-mapped")
            data = f._memmap()
            return data if frames is None else data[frames]
        return f.read(frames)


# ----------------------------------------------------------------------------------
# Writing
# ----------------------------------------------------------------------------------


class _AtomicFile:
    """A temporary file beside `path` that replaces it only when committed.

    Data written to it is flushed to disk behind the writer (see :meth:`wrote`), so the
    commit's fsync has little left to do even when frames arrive one at a time.
    """

    def __init__(self, path: PathLike, overwrite: bool):
        given = Path(path)
        if given.exists() and not overwrite:
            raise FileExistsError(f"{given} exists; pass overwrite=True to replace it")
        # Through a symbolic link, the file it points to is replaced and the link kept.
        self.path = Path(os.path.realpath(given))
        if not self.path.parent.is_dir():
            raise FileNotFoundError(f"directory {self.path.parent} does not exist")
        try:  # a replaced file keeps its permission bits (a new one gets the umask's)
            mode: int | None = stat.S_IMODE(self.path.stat().st_mode)
        except FileNotFoundError:
            mode = None
        self._unsynced = 0
        self._sync: threading.Thread | None = None
        self._sync_error: OSError | None = None
        self.tmp = self.path.with_name(f".{self.path.name}.{uuid.uuid4().hex[:12]}.part")
        self.file: BinaryIO = self.tmp.open("xb")
        if mode is not None:
            try:
                self.tmp.chmod(mode)
            except BaseException:
                self.abort()
                raise

    def wrote(self, nbytes: int) -> None:
        """Count `nbytes` written; after each _SYNC_BYTES, flush the file on a background thread."""
        self._unsynced += nbytes
        if self._unsynced < _SYNC_BYTES or (self._sync is not None and self._sync.is_alive()):
            return
        self._join_sync()
        self._unsynced = 0
        self._sync = threading.Thread(target=self._sync_data, name="mrcz-flush", daemon=True)
        self._sync.start()

    def _sync_data(self) -> None:
        try:
            getattr(os, "fdatasync", os.fsync)(self.file.fileno())
        except OSError as exc:
            self._sync_error = exc

    def _join_sync(self) -> None:
        """Wait for the background flush; raise its error, if it had one."""
        if self._sync is not None:
            self._sync.join()
            self._sync = None
        error, self._sync_error = self._sync_error, None
        if error is not None:
            raise error

    def commit(self) -> None:
        self._join_sync()
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        os.replace(self.tmp, self.path)
        if hasattr(os, "O_DIRECTORY"):
            fd = os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def abort(self) -> None:
        if self._sync is not None:
            self._sync.join()  # the file is being discarded: a failed flush no longer matters
        self.file.close()
        self.tmp.unlink(missing_ok=True)


def _json_default(value: Any) -> Any:
    import enum

    if hasattr(value, "serialize"):
        return value.serialize()
    if hasattr(value, "__array_interface__"):
        return np.asarray(value).tolist()
    if isinstance(value, enum.Enum):
        return f"Enum.{type(value).__name__}.{value.name}"  # python-mrcz's spelling
    raise TypeError(f"metadata value {value!r} of type {type(value).__name__} is not JSON serialisable")


def _voxel_size(pixel_size: float | Sequence[float] | None) -> VoxelSize:
    if pixel_size is None:
        return VoxelSize(0.0, 0.0, 0.0)
    if np.ndim(pixel_size) == 0:
        p = float(pixel_size)  # type: ignore[arg-type]
        return VoxelSize(p, p, p)
    values = [float(v) for v in pixel_size]  # type: ignore[union-attr]
    if len(values) != 3:
        raise ValueError(f"pixel_size must be one number or (x, y, z) in Å, not {pixel_size!r}")
    return VoxelSize(*values)


def _kind_for(ndim: int, volume: bool) -> str:
    if ndim == 2:
        return "image"
    if ndim == 3:
        return "volume" if volume else "image stack"
    if ndim == 4:
        return "volume stack"
    raise ValueError(f"MRC holds 2-D to 4-D data, not {ndim}-D")


class MrcWriter:
    """Writes an MRC/MRCZ file frame by frame (see :func:`mrcz.open` with mode 'w').

    Frames are compressed and written as they are appended; the header (frame count,
    statistics, compressed size) is completed on :meth:`close`, and only then does the
    file appear under its name. An exception inside a ``with`` block discards it.
    ``like``, the header of a file being copied, lends its crystallographic words:
    NXSTART-NZSTART, CELLB, MAPC/MAPR/MAPS, a volume's space group and, in a plain file
    of the same size, MX/MY/MZ with CELLA (so a map keeps its axes and unit cell).
    """

    def __init__(
        self,
        path: PathLike,
        *,
        frame_shape: tuple[int, int],
        dtype: Any,
        compressor: str | None = None,
        clevel: int = 1,
        shuffle: str = "bitshuffle",
        threads: int | None = None,
        pixel_size: float | Sequence[float] | None = None,
        voltage: float | None = None,
        cs: float | None = None,
        gain: float | None = None,
        meta: Mapping[str, Any] | None = None,
        overwrite: bool = False,
        byteorder: str = "<",
        volume: bool = False,
        mode: int | None = None,
        nibble_order: str = "low",
        extended_header: bytes | None = None,
        exttyp: str | None = None,
        labels: Sequence[str] = (),
        origin: Sequence[float] = (0.0, 0.0, 0.0),
        sections_per_volume: int | None = None,
        like: Header | None = None,
    ):
        self.path = os.fspath(path)
        dtype = np.dtype(dtype)
        self._dtype = dtype
        self._mode = mode_for_dtype(dtype) if mode is None else mode
        if self._mode == 101:
            if dtype != np.uint8:
                raise TypeError(f"mode 101 stores 4-bit values given as uint8, not {dtype}")
        elif mode == 6 and dtype == np.uint8:
            self._dtype = np.dtype("u2")  # widened for readers that ignore IMOD's unsigned flag
        elif mode is not None and mode != mode_for_dtype(dtype):
            raise TypeError(f"dtype {dtype} is stored as mode {mode_for_dtype(dtype)}, not mode {mode}")
        if len(frame_shape) != 2 or min(frame_shape) < 1:
            raise ValueError(f"frame_shape must be (ny, nx) with positive sizes, not {frame_shape!r}")
        if compressor is not None and compressor not in _BLOSC2_CODECS:
            raise ValueError(f"compressor must be None or one of {sorted(_BLOSC2_CODECS)}, not {compressor!r}")
        if not (isinstance(clevel, int | np.integer) and 0 <= clevel <= 9):
            raise ValueError(f"clevel must be an integer from 0 to 9, not {clevel!r}")
        if shuffle not in _SHUFFLES:
            raise ValueError(f"shuffle must be one of {sorted(_SHUFFLES)}, not {shuffle!r}")
        if byteorder not in ("<", ">"):
            raise ValueError(f"byteorder must be '<' or '>', not {byteorder!r}")
        if meta is not None and not isinstance(meta, Mapping):
            raise TypeError(f"meta must be a dict, not {type(meta).__name__}")
        if meta is not None and extended_header is not None:
            raise ValueError("give either meta (stored as JSON) or extended_header, not both")
        self._frame_shape = tuple(int(v) for v in frame_shape)
        self._compressor = compressor
        self._clevel = int(clevel)
        self._filter = _SHUFFLES[shuffle]
        self._threads = threads or _default_threads()
        self._byteorder = byteorder
        self._high_first = _nibble_high_first(nibble_order)
        self._volume = volume
        self._sections_per_volume = sections_per_volume
        if meta is not None:
            text = json.dumps(dict(meta), default=_json_default)
            self._extended = text.encode("utf-8")
            self._exttyp = "json"
        else:
            self._extended = bytes(extended_header or b"")
            self._exttyp = exttyp or ""
        self._header_args = {
            "voxel_size": _voxel_size(pixel_size),
            "voltage": float(voltage or 0.0),
            "cs": float(cs or 0.0),
            "gain": float(gain) if gain else 1.0,
            "origin": tuple(float(v) for v in origin),
            "labels": tuple(labels),
            "like": like,
        }
        self._nz = 0
        self._chunk_bytes = 0
        self._stats: list[tuple[float, float, float, float, int]] = []
        self._atomic = _AtomicFile(path, overwrite)
        self._pos = HEADER_SIZE + len(self._extended)
        try:
            self._atomic.file.write(b"\0" * HEADER_SIZE + self._extended)
            self._atomic.file.flush()
        except BaseException:
            self._atomic.abort()
            raise

    def __enter__(self) -> MrcWriter:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    @property
    def frames_written(self) -> int:
        return self._nz

    def append(self, frames: np.ndarray) -> None:
        """Add one frame (ny, nx) or a stack of frames (n, ny, nx) to the end of the file."""
        frames = np.asarray(frames)
        if frames.ndim == 2:
            frames = frames[None]
        if frames.ndim != 3 or frames.shape[1:] != self._frame_shape:
            raise ValueError(
                f"frames must have shape (n, {self._frame_shape[0]}, {self._frame_shape[1]}) "
                f"or ({self._frame_shape[0]}, {self._frame_shape[1]}), not {frames.shape}"
            )
        if frames.dtype != self._dtype:
            if not np.can_cast(frames.dtype, self._dtype, casting="same_kind") or (
                frames.dtype.kind == "f" and self._dtype.kind in "iu"
            ):
                raise TypeError(f"frames of dtype {frames.dtype} cannot be stored in this {self._dtype} file")
            cast = frames.astype(self._dtype)
            if not np.array_equal(cast, frames, equal_nan=frames.dtype.kind in "fc"):
                raise ValueError(f"frames of dtype {frames.dtype} hold values {self._dtype} cannot represent")
            frames = cast
        frames = np.ascontiguousarray(frames.astype(self._dtype.newbyteorder("="), copy=False))
        if len(frames) == 0:
            return
        # Compressed native-order frames get their statistics inside the compression
        # pass (one read of the data); everything else is measured here first.
        stats_in_core = (
            self._compressor is not None
            and self._mode != 101
            and frames.dtype.kind in "iuf"
            and frames.dtype != np.float16
            and self._byteorder == _NATIVE
        )
        if not stats_in_core:
            self._record_stats(frames)
        if self._mode == 101:
            frames = _core.pack_nibbles(frames, self._high_first, self._threads)
        if self._byteorder != _NATIVE and frames.dtype.itemsize > 1:
            frames = frames.copy()
            _core.byteswap(frames.view(_swap_view_dtype(frames.dtype)), self._threads)
        fd = self._atomic.file.fileno()
        try:
            if self._compressor:
                codec = _BLOSC2_CODECS[self._compressor]
                sizes, stats = _core.write_compressed(
                    fd, self._pos, frames, codec, self._clevel, self._filter, self._threads, stats_in_core, _SYNC_BYTES
                )
                if stats_in_core:
                    self._stats.append((*stats, frames.size))
                written = int(sum(sizes))
                self._chunk_bytes += written
            else:
                _core.write_data(fd, self._pos, frames)
                written = frames.nbytes
        except _core.ChunkError as exc:
            raise MRCZError(str(exc), path=self.path) from None
        self._atomic.wrote(written)
        self._pos += written
        self._nz += len(frames)

    def _record_stats(self, frames: np.ndarray) -> None:
        if frames.dtype.names:  # mode 3: statistics of the magnitude
            values = np.hypot(frames["real"].astype(np.float32), frames["imag"].astype(np.float32))
        elif frames.dtype.kind == "c":
            values = np.abs(frames)
        elif frames.dtype == np.float16:
            values = frames.astype(np.float32)
        else:
            values = frames
        dmin, dmax, dmean, rms = _core.stats(np.ascontiguousarray(values), self._threads)
        self._stats.append((dmin, dmax, dmean, rms, values.size))

    def _combined_stats(self) -> tuple[float, float, float, float] | None:
        if not self._stats:
            return None
        parts = np.array(self._stats, dtype=np.float64)
        n = parts[:, 4]
        total = n.sum()
        mean = float((parts[:, 2] * n).sum() / total)
        var = float(((parts[:, 3] ** 2 + (parts[:, 2] - mean) ** 2) * n).sum() / total)
        stats = (float(parts[:, 0].min()), float(parts[:, 1].max()), mean, float(np.sqrt(max(var, 0.0))))
        return stats if header_stats_ok(stats) else None

    def _kind_and_shape(self) -> tuple[str, tuple[int, ...]]:
        ny, nx = self._frame_shape
        if self._sections_per_volume:
            per = self._sections_per_volume
            if self._nz % per:
                raise ValueError(f"{self._nz} sections do not make whole volumes of {per}")
            return "volume stack", (self._nz // per, per, ny, nx)
        if self._volume:
            return "volume", (self._nz, ny, nx)
        if self._nz == 1:
            return "image", (ny, nx)
        return "image stack", (self._nz, ny, nx)

    def close(self) -> None:
        """Complete the header and put the file in place (atomically)."""
        if self._atomic.file.closed:
            return
        try:
            kind, shape = self._kind_and_shape()
            header = build_header(
                shape=shape,
                mode=self._mode,
                kind=kind,
                codec_id=CODEC_IDS[self._compressor] if self._compressor else 0,
                stats=self._combined_stats(),
                nsymbt=len(self._extended),
                exttyp=self._exttyp,
                packed_bytes=self._chunk_bytes,
                unsigned_bytes=self._dtype == np.uint8 and self._mode == 0,
                byteorder=self._byteorder,
                version=_VERSION,
                **self._header_args,  # type: ignore[arg-type]
            )
            _core.write_data(self._atomic.file.fileno(), 0, np.frombuffer(header.to_bytes(), np.uint8))
            self._atomic.commit()
        except BaseException:
            self._atomic.abort()
            raise

    def abort(self) -> None:
        """Discard the file being written; an existing file of that name stays as it was."""
        if not self._atomic.file.closed:
            self._atomic.abort()


def write(
    path: PathLike,
    data: np.ndarray,
    *,
    compressor: str | None = None,
    clevel: int = 1,
    shuffle: str = "bitshuffle",
    threads: int | None = None,
    pixel_size: float | Sequence[float] | None = None,
    voltage: float | None = None,
    cs: float | None = None,
    gain: float | None = None,
    meta: Mapping[str, Any] | None = None,
    overwrite: bool = False,
    byteorder: str = "<",
    volume: bool = False,
    mode: int | None = None,
    nibble_order: str = "low",
    extended_header: bytes | None = None,
    exttyp: str | None = None,
    labels: Sequence[str] = (),
    origin: Sequence[float] = (0.0, 0.0, 0.0),
) -> Header:
    """Write `data` to an MRC file, or a compressed MRCZ file when `compressor` is given.

    2-D data is an image, 3-D an image stack (a volume with ``volume=True``), 4-D a
    volume stack. ``pixel_size`` is in Å, one number or (x, y, z). uint8 is stored as
    mode 0 with IMOD's "unsigned" flag; ``mode=101`` packs uint8 values 0-15 two per
    byte; ``mode=6`` widens uint8 to uint16 for readers that ignore IMOD's flag (mrcfile
    reads mode 0 as int8). float64 and complex128 are stored as float32/complex64 with
    a warning.
    The file is written under a temporary name, synced and renamed into place: a
    failure leaves any previous file untouched. Returns the header written.
    """
    array = np.asarray(data)
    if array.dtype == np.float64 or array.dtype == np.complex128:
        narrow = np.float32 if array.dtype == np.float64 else np.complex64
        warnings.warn(f"{array.dtype} data stored as {np.dtype(narrow)} (MRC has no 64-bit modes)", stacklevel=2)
        array = array.astype(narrow)
    kind = _kind_for(array.ndim, volume)
    per_volume = array.shape[1] if kind == "volume stack" else None
    frames = array.reshape(-1, *array.shape[-2:])
    with MrcWriter(
        path,
        frame_shape=array.shape[-2:],
        dtype=array.dtype,
        compressor=compressor,
        clevel=clevel,
        shuffle=shuffle,
        threads=threads,
        pixel_size=pixel_size,
        voltage=voltage,
        cs=cs,
        gain=gain,
        meta=meta,
        overwrite=overwrite,
        byteorder=byteorder,
        volume=kind == "volume",
        mode=mode,
        nibble_order=nibble_order,
        extended_header=extended_header,
        exttyp=exttyp,
        labels=labels,
        origin=origin,
        sections_per_volume=per_volume,
    ) as writer:
        writer.append(frames)
    return read_header(path)


# ----------------------------------------------------------------------------------
# Asynchronous I/O
# ----------------------------------------------------------------------------------

_executor: concurrent.futures.ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def _pool() -> concurrent.futures.ThreadPoolExecutor:
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="mrcz-io")
        return _executor


def async_read(path: PathLike, *args: Any, **kwargs: Any) -> concurrent.futures.Future[np.ndarray]:
    """:func:`read` on a background thread; returns a Future of the array."""
    return _pool().submit(read, path, *args, **kwargs)


def async_write(path: PathLike, data: np.ndarray, **kwargs: Any) -> concurrent.futures.Future[Header]:
    """:func:`write` on a background thread; returns a Future of the header written.

    Compression and file I/O run without the GIL, so the caller keeps computing.
    """
    return _pool().submit(write, path, data, **kwargs)
