"""python-mrcz 0.6 names (`readMRC`, `writeMRC`, ...) as thin aliases of the new API.

They take the predecessor's arguments and return its header dictionary (the keys
downstream code such as rosettasciio relies on). Differences: data always come back
as one ndarray (never a list of frames), and pixel sizes follow the file's MX/MY/MZ.
"""

from __future__ import annotations

import concurrent.futures
import functools
import inspect
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import numpy as np

from ._atomic import PathLike
from ._header import Header
from ._reader import FrameIndex, MrcFile
from ._threads import pool
from ._writer import MrcWriter, write

__all__ = ["asyncReadMRC", "asyncWriteMRC", "readMRC", "readMRCHeader", "writeMRC"]

P = ParamSpec("P")
R = TypeVar("R")

# Length units python-mrcz accepts, in Ångström.
_UNITS = {"\\AA": 1.0, "A": 1.0, "Å": 1.0, "nm": 10.0, "\\mum": 1.0e4, "um": 1.0e4, "µm": 1.0e4, "pm": 0.01}


def _unit(pixelunits: str) -> float:
    try:
        return _UNITS[pixelunits]
    except KeyError:
        raise ValueError(f"pixelunits must be one of {sorted(_UNITS)}, not {pixelunits!r}") from None


def _header_dict(f: MrcFile, pixelunits: str) -> dict[str, Any]:
    h: Header = f.header
    scale = _unit(pixelunits)
    v = h.voxel_size
    out: dict[str, Any] = {
        "dimensions": np.array([h.nz, h.ny, h.nx]),
        "MRCtype": h.mode,
        "compressor": h.codec,
        "dtype": h.dtype.newbyteorder(h.byteorder).str if h.dtype.names is None else h.dtype.descr,
        "pixelsize": [v.z / scale, v.y / scale, v.x / scale],
        "pixelunits": pixelunits,
        "minImage": h.dmin,
        "maxImage": h.dmax,
        "meanImage": h.dmean,
        "extendedBytes": h.nsymbt,
        "voltage": h.voltage or 0.0,
        "C3": h.cs or 0.0,
        "gain": h.gain if h.gain is not None else 1.0,
        "packedBytes": h.packed_bytes,
    }
    if h.nsymbt:
        out["metaId"] = h.exttyp
    if h.compressed:
        # python-mrcz's names for the chunk format: 1 = c-blosc 1 chunks, 2 = c-blosc2 chunks.
        backend = f.chunk_format or "blosc"
        out["bloscFormat"] = 2 if backend == "blosc2" else 1
        out["backend"] = backend
    for key, value in f.meta.items():
        out.setdefault(key, value)
    return out


def readMRC(  # noqa: N802
    MRCfilename: PathLike,  # noqa: N803
    idx: int | tuple[int, int] | None = None,
    endian: str = "le",
    pixelunits: str = "\\AA",
    fileConvention: str = "ccpem",  # noqa: N803
    useMemmap: bool = False,  # noqa: N803
    n_threads: int | None = None,
    slices: int | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """python-mrcz's reader: returns (data, header dict).

    ``idx=i`` reads frame i; ``idx=(first, last)`` frames first..last inclusive, as python-mrcz 0.6
    does; ``endian``, ``fileConvention`` and ``slices`` are accepted and ignored (the
    byte order and layout come from the file).
    """
    del endian, fileConvention, slices
    with MrcFile(MRCfilename, threads=n_threads) as f:
        frames: FrameIndex
        if idx is None or isinstance(idx, int | np.integer):
            frames = idx
        else:
            frames = slice(int(idx[0]), int(idx[1]) + 1)
        if useMemmap and not f.header.compressed and f.header.mode != 101 and not f.container:
            data = f._memmap() if frames is None else f._memmap()[frames]
        else:
            data = f.read(frames)
        return data, _header_dict(f, pixelunits)


def readMRCHeader(  # noqa: N802
    MRCfilename: PathLike,  # noqa: N803
    slices: int | None = None,
    endian: str = "le",
    fileConvention: str = "ccpem",  # noqa: N803
    pixelunits: str = "\\AA",
) -> tuple[dict[str, Any], int]:
    """python-mrcz's header reader: returns (header dict, slices)."""
    del endian, fileConvention
    with MrcFile(MRCfilename) as f:
        return _header_dict(f, pixelunits), f.header.mz if slices is None else slices


def _pixel_size_xyz(pixelsize: float | Sequence[float], pixelunits: str) -> tuple[float, float, float]:
    scale = _unit(pixelunits)
    values = np.atleast_1d(np.asarray(pixelsize, dtype=np.float64)) * scale
    if values.size == 1:
        return (float(values[0]),) * 3
    if values.size == 2:  # (y, x)
        return float(values[1]), float(values[0]), float(values[0])
    if values.size == 3:  # (z, y, x)
        return float(values[2]), float(values[1]), float(values[0])
    raise ValueError(f"pixelsize must have 1 to 3 values (z, y, x), not {values.size}")


def writeMRC(  # noqa: N802
    input_image: np.ndarray | Sequence[np.ndarray],
    MRCfilename: PathLike,  # noqa: N803
    meta: dict[str, Any] | None = None,
    endian: str = "le",
    dtype: Any = None,
    pixelsize: float | Sequence[float] = (0.1, 0.1, 0.1),
    pixelunits: str = "\\AA",
    shape: Any = None,
    voltage: float = 0.0,
    C3: float = 0.0,  # noqa: N803
    gain: float = 1.0,
    compressor: str | None = None,
    clevel: int = 1,
    n_threads: int | None = None,
    quickStats: bool = True,  # noqa: N803
    idx: Any = None,
    backend: str | None = None,
) -> None:
    """python-mrcz's writer. Overwrites like the predecessor, but atomically.

    ``dtype='uint4'`` stores values 0-15 two per byte (mode 101). ``idx`` writes the frames
    into the existing plain file from section ``idx`` on (negative counts from the end,
    ``idx`` = NZ appends), keeping its header values and labels; the file is rewritten
    atomically.
    ``backend='blosc2'`` writes c-blosc2's version-5 chunks; the default (or ``'blosc'``)
    c-blosc 1's version-2 chunks, as python-mrcz 0.6 does with ``blosc`` installed.
    ``quickStats`` and ``shape`` are accepted and ignored (statistics are always exact).
    """
    del quickStats, shape
    if endian not in ("le", "be"):
        raise ValueError(f"endian must be 'le' or 'be', not {endian!r}")
    data = np.stack(input_image) if isinstance(input_image, list | tuple) else np.asarray(input_image)
    mode = None
    if isinstance(dtype, str) and dtype == "uint4":
        data, mode = data.astype(np.uint8), 101
    elif dtype is not None:
        data = data.astype(dtype)
    if idx is not None and Path(MRCfilename).exists():
        _write_at(MRCfilename, data, int(idx), n_threads)
        return
    if idx:
        raise ValueError(f"idx={idx} needs an existing file; a new file starts at frame 0")
    write(
        MRCfilename,
        data,
        compressor=compressor,
        clevel=clevel,
        threads=n_threads,
        pixel_size=_pixel_size_xyz(pixelsize, pixelunits),
        voltage=voltage,
        cs=C3,
        gain=gain,
        meta=meta,
        overwrite=True,
        byteorder="<" if endian == "le" else ">",
        mode=mode,
        chunk_format=backend or "blosc",
    )


def _write_at(path: PathLike, data: np.ndarray, idx: int, threads: int | None) -> None:
    """Rewrite the plain file at `path` with `data` as its sections from `idx` on, keeping
    its voxel size, microscope values, metadata and byte order."""
    with MrcFile(path, threads=threads) as f:
        h = f.header
        if h.compressed:
            # As in python-mrcz 0.6: frames cannot be replaced inside a compressed file.
            raise ValueError(f"writeMRC(idx=...) needs an uncompressed file; {path} is compressed")
        if data.shape[-2:] != (h.ny, h.nx):
            raise ValueError(f"frames of shape {data.shape[-2:]} do not fit the file's ({h.ny}, {h.nx})")
        first = idx + h.nz if idx < 0 else idx
        if not 0 <= first <= h.nz:
            raise ValueError(f"idx={idx} is outside the file's {h.nz} sections")
        extra: dict[str, Any] = {"meta": f.meta} if h.exttyp == "json" else {}
        if h.nsymbt and not extra:
            extra = {"extended_header": f.extended_header, "exttyp": h.exttyp}
        # In memory (as python-mrcz held it), so that no open file blocks the replace.
        sections = f.read().reshape(-1, h.ny, h.nx)
    frames = data.reshape(-1, h.ny, h.nx)
    with MrcWriter(
        path, frame_shape=(h.ny, h.nx), dtype=h.dtype, threads=threads, pixel_size=tuple(h.voxel_size),
        voltage=h.voltage, cs=h.cs, gain=h.gain, origin=h.origin, overwrite=True, byteorder=h.byteorder,
        volume=h.kind == "volume", mode=101 if h.mode == 101 else None,
        sections_per_volume=h.mz if h.kind == "volume stack" else None, like=h,
        labels=h.labels, **extra,
    ) as writer:  # fmt: skip
        writer.append(sections[:first])
        writer.append(frames)
        writer.append(sections[first + len(frames) :])


def _in_background(function: Callable[P, R], name: str) -> Callable[P, concurrent.futures.Future[R]]:
    """`function` on a background thread, with its parameters (for IDEs, help() and type
    checkers), returning a Future of its result."""

    @functools.wraps(function)
    def submit(*args: P.args, **kwargs: P.kwargs) -> concurrent.futures.Future[R]:
        return pool().submit(function, *args, **kwargs)

    result = inspect.signature(function, eval_str=True).return_annotation
    future = concurrent.futures.Future[result]  # type: ignore[valid-type]  # a run-time type, for the signature
    # inspect reads __signature__, which functions do not declare.
    submit.__signature__ = inspect.signature(function).replace(return_annotation=future)  # type: ignore[attr-defined]
    submit.__name__ = submit.__qualname__ = name
    submit.__doc__ = f":func:`{function.__name__}` on a background thread; returns a Future."
    return submit


asyncReadMRC = _in_background(readMRC, "asyncReadMRC")  # noqa: N816
asyncWriteMRC = _in_background(writeMRC, "asyncWriteMRC")  # noqa: N816
