"""Writing MRC and MRCZ files (and gzip/bzip2 MRC when the name asks): `MrcWriter`, `write`."""

from __future__ import annotations

import enum
import json
import os
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt

from . import _core
from ._atomic import AtomicFile, PathLike
from ._containers import compress_into, container_for_name
from ._errors import MRCZError
from ._header import CODEC_IDS, HEADER_SIZE, ByteOrder, Header, VoxelSize, build_header, header_stats_ok, mode_for_dtype
from ._reader import NATIVE, nibble_high_first, read_header, swap_view_dtype
from ._threads import default_threads

__all__ = ["MrcWriter", "WriteOptions", "write"]

_VERSION: str = _core.__version__
# blosc codec numbers of the codecs the core writes (the same in c-blosc 1 and c-blosc2).
_CODECS = {"blosclz": 0, "lz4": 1, "lz4hc": 2, "zlib": 4, "zstd": 5}
_SHUFFLES = {"none": 0, "shuffle": 1, "bitshuffle": 2}
# chunk_format -> the blosc chunk format version written: c-blosc 1's layout, which every
# MRCZ reader opens (python-mrcz with only `blosc`, any c-blosc 1 reader), or c-blosc2's.
CHUNK_FORMATS = {"blosc": 2, "blosc2": 5}


@dataclass(frozen=True, kw_only=True)
class WriteOptions:
    """The options of :func:`write`, :class:`MrcWriter` and ``mrcz.open(path, "w")``, checked once.

    ``compressor`` (None: plain MRC; "zstd", "lz4", "lz4hc", "blosclz", "zlib": MRCZ) with
    ``clevel`` 0-9 and ``shuffle`` ("bitshuffle", "shuffle", "none"); ``chunk_format``
    "blosc" (version-2 chunks, readable by every MRCZ reader, also python-mrcz with only
    the ``blosc`` package) or "blosc2" (version-5 chunks, for c-blosc2 readers);
    ``threads`` (default: all usable cores); ``pixel_size`` in Å, one number or (x, y, z);
    ``voltage`` (kV), ``cs`` (mm), ``gain``; ``meta``, a dict stored as JSON in the extended
    header, or ``extended_header`` bytes with their ``exttyp``; ``labels``; ``origin``;
    ``byteorder`` "<" or ">"; ``mode`` (101: uint8 values 0-15 packed two per byte, 6:
    uint8 widened to uint16); ``nibble_order`` of mode 101; ``overwrite`` an existing file;
    ``durable``: sync the file to disk before it replaces the name (``False`` for scratch
    files: still atomic, but a power cut may lose it).
    """

    compressor: str | None = None
    clevel: int = 1
    shuffle: str = "bitshuffle"
    chunk_format: str = "blosc"
    threads: int | None = None
    pixel_size: float | Sequence[float] | None = None
    voltage: float | None = None
    cs: float | None = None
    gain: float | None = None
    meta: Mapping[str, Any] | None = None
    extended_header: bytes | None = None
    exttyp: str | None = None
    labels: Sequence[str] = ()
    origin: Sequence[float] = (0.0, 0.0, 0.0)
    byteorder: ByteOrder = "<"
    mode: int | None = None
    nibble_order: str = "low"
    overwrite: bool = False
    durable: bool = True
    voxel_size: VoxelSize = field(init=False)

    def __post_init__(self) -> None:
        if self.compressor is not None and self.compressor not in _CODECS:
            raise ValueError(f"compressor must be None or one of {sorted(_CODECS)}, not {self.compressor!r}")
        if not _is_level(self.clevel):
            raise ValueError(f"clevel must be an integer from 0 to 9, not {self.clevel!r}")
        if self.shuffle not in _SHUFFLES:
            raise ValueError(f"shuffle must be one of {sorted(_SHUFFLES)}, not {self.shuffle!r}")
        if self.chunk_format not in CHUNK_FORMATS:
            raise ValueError(f"chunk_format must be one of {sorted(CHUNK_FORMATS)}, not {self.chunk_format!r}")
        if self.byteorder not in ("<", ">"):
            raise ValueError(f"byteorder must be '<' or '>', not {self.byteorder!r}")
        if self.meta is not None and not isinstance(self.meta, Mapping):
            raise TypeError(f"meta must be a dict, not {type(self.meta).__name__}")
        if self.meta is not None and self.extended_header is not None:
            raise ValueError("give either meta (stored as JSON) or extended_header, not both")
        if len(tuple(self.origin)) != 3:
            raise ValueError(f"origin must be (x, y, z) in Å, not {self.origin!r}")
        nibble_high_first(self.nibble_order)
        object.__setattr__(self, "voxel_size", _voxel_size(self.pixel_size))

    def extended(self) -> tuple[bytes, str]:
        """The extended header's bytes and EXTTYP."""
        if self.meta is not None:
            return json.dumps(dict(self.meta), default=_json_default).encode("utf-8"), "json"
        return bytes(self.extended_header or b""), self.exttyp or ""


def _is_level(clevel: object) -> bool:
    """An integer compression level 0-9 (the options come from callers unchecked)."""
    return isinstance(clevel, int | np.integer) and 0 <= int(clevel) <= 9


def _json_default(value: Any) -> Any:
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
        p = float(pixel_size)  # type: ignore[arg-type]  # ndim 0: a number (or 0-d array), never a sequence
        return VoxelSize(p, p, p)
    values = [float(v) for v in pixel_size]  # type: ignore[union-attr]  # ndim > 0: a sequence or array
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
    The options are those of :class:`WriteOptions`. A name ending in ``.gz`` or ``.bz2``
    gets a plain MRC file in that container (written to an unnamed temporary first).
    ``like``, the header of a file being copied, lends its crystallographic words:
    NXSTART-NZSTART, CELLB, MAPC/MAPR/MAPS, a volume's space group and, in a plain file
    of the same size, MX/MY/MZ with CELLA (so a map keeps its axes and unit cell).
    """

    def __init__(
        self,
        path: PathLike,
        *,
        frame_shape: Sequence[int],
        dtype: npt.DTypeLike,
        volume: bool = False,
        sections_per_volume: int | None = None,
        like: Header | None = None,
        **options: Any,
    ):
        self.path = os.fspath(path)
        self.options = o = WriteOptions(**options)
        dtype = np.dtype(dtype)
        self._dtype = dtype
        self._mode = mode_for_dtype(dtype) if o.mode is None else o.mode
        if self._mode == 101:
            if dtype != np.uint8:
                raise TypeError(f"mode 101 stores 4-bit values given as uint8, not {dtype}")
        elif o.mode == 6 and dtype == np.uint8:
            self._dtype = np.dtype("u2")  # widened for readers that ignore IMOD's unsigned flag
        elif o.mode is not None and o.mode != mode_for_dtype(dtype):
            raise TypeError(f"dtype {dtype} is stored as mode {mode_for_dtype(dtype)}, not mode {o.mode}")
        if len(frame_shape) != 2 or min(frame_shape) < 1:
            raise ValueError(f"frame_shape must be (ny, nx) with positive sizes, not {frame_shape!r}")
        self._container = container_for_name(self.path)
        if self._container and o.compressor:
            raise ValueError(f"{self.path}: a {self._container} file holds plain MRC; give no compressor")
        self._frame_shape = tuple(int(v) for v in frame_shape)
        self._threads = o.threads or default_threads()
        self._high_first = nibble_high_first(o.nibble_order)
        self._volume = volume
        self._sections_per_volume = sections_per_volume
        self._like = like
        self._extended, self._exttyp = o.extended()
        self._nz = 0
        self._chunk_bytes = 0
        self._stats: list[tuple[float, float, float, float, int]] = []
        self._atomic = AtomicFile(path, o.overwrite, durable=o.durable)
        # The MRC data go to the target's temporary, or for a container to an unnamed one first.
        self._out: BinaryIO = self._atomic.file
        self._pos = HEADER_SIZE + len(self._extended)
        try:
            if self._container:
                self._out = tempfile.TemporaryFile(dir=self._atomic.path.parent)
            self._out.write(b"\0" * HEADER_SIZE + self._extended)
            self._out.flush()
        except BaseException:
            self.abort()
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
        frames = self._checked(frames)
        if len(frames) == 0:
            return
        o = self.options
        # Compressed native-order frames get their statistics inside the compression
        # pass (one read of the data); everything else is measured here first.
        stats_in_core = (
            o.compressor is not None
            and self._mode != 101
            and frames.dtype.kind in "iuf"
            and frames.dtype != np.float16
            and o.byteorder == NATIVE
        )
        if not stats_in_core:
            self._record_stats(frames)
        if self._mode == 101:
            frames = _core.pack_nibbles(frames, self._high_first, self._threads)
        if o.byteorder != NATIVE and frames.dtype.itemsize > 1:
            frames = frames.copy()
            _core.byteswap(frames.view(swap_view_dtype(frames.dtype)), self._threads)
        direct = self._out is self._atomic.file  # else an unnamed temporary, never synced
        fd = self._out.fileno()
        try:
            if o.compressor:
                sizes, stats = _core.write_compressed(
                    fd, self._pos, frames, _CODECS[o.compressor], o.clevel, _SHUFFLES[o.shuffle], self._threads,
                    stats_in_core, self._atomic.sync_bytes, CHUNK_FORMATS[o.chunk_format],
                )  # fmt: skip
                if stats is not None:
                    self._stats.append((*stats, frames.size))
                written = int(sum(sizes))
                self._chunk_bytes += written
            else:
                _core.write_data(fd, self._pos, frames)
                written = frames.nbytes
        except _core.ChunkError as exc:
            raise MRCZError(str(exc), path=self.path) from None
        if direct:
            self._atomic.wrote(written)
        self._pos += written
        self._nz += len(frames)

    def _checked(self, frames: np.ndarray) -> np.ndarray:
        """`frames` as a C-contiguous native-order (n, ny, nx) stack of this file's dtype."""
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
        return np.ascontiguousarray(frames.astype(self._dtype.newbyteorder("="), copy=False))

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
        with np.errstate(invalid="ignore", over="ignore"):  # infinite data: undetermined, below
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
        o = self.options
        try:
            kind, shape = self._kind_and_shape()
            ox, oy, oz = o.origin
            header = build_header(
                shape=shape,
                mode=self._mode,
                kind=kind,
                codec_id=CODEC_IDS[o.compressor] if o.compressor else 0,
                stats=self._combined_stats(),
                nsymbt=len(self._extended),
                exttyp=self._exttyp,
                packed_bytes=self._chunk_bytes,
                unsigned_bytes=self._dtype == np.uint8 and self._mode == 0,
                byteorder=o.byteorder,
                version=_VERSION,
                voxel_size=o.voxel_size,
                voltage=float(o.voltage or 0.0),
                cs=float(o.cs or 0.0),
                gain=float(o.gain) if o.gain else 1.0,
                origin=(float(ox), float(oy), float(oz)),
                labels=tuple(o.labels),
                like=self._like,
            )
            _core.write_data(self._out.fileno(), 0, np.frombuffer(header.to_bytes(), np.uint8))
            if self._container:
                compress_into(self._out, self._atomic.file, self._container)
                self._out.close()
            self._atomic.commit()
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        """Discard the file being written; an existing file of that name stays as it was."""
        if self._out is not self._atomic.file:
            self._out.close()
        if not self._atomic.file.closed:
            self._atomic.abort()


def write(path: PathLike, data: np.ndarray, *, volume: bool = False, **options: Any) -> Header:
    """Write `data` to an MRC file, or a compressed MRCZ file when `compressor` is given.

    2-D data is an image, 3-D an image stack (a volume with ``volume=True``), 4-D a
    volume stack. The options are those of :class:`WriteOptions`: ``pixel_size`` is in
    Å, one number or (x, y, z). uint8 is stored as mode 0 with IMOD's "unsigned" flag;
    ``mode=101`` packs uint8 values 0-15 two per byte; ``mode=6`` widens uint8 to uint16
    for readers that ignore IMOD's flag (mrcfile reads mode 0 as int8). float64 and
    complex128 are stored as float32/complex64 with a warning. A name ending in ``.gz``
    or ``.bz2`` gets a gzip- or bzip2-compressed plain MRC file.
    The file is written under a temporary name, synced (unless ``durable=False``) and
    renamed into place: a failure leaves any previous file untouched. Returns the header
    written.
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
        volume=kind == "volume",
        sections_per_volume=per_volume,
        **options,
    ) as writer:
        writer.append(frames)
    return read_header(path)
