"""python-mrcz 0.6 names (`readMRC`, `writeMRC`, ...) as thin aliases of the new API.

They take the predecessor's arguments and return its header dictionary (the keys
downstream code such as rosettasciio relies on). Differences: data always come back
as one ndarray (never a list of frames), and pixel sizes follow the file's MX/MY/MZ.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Sequence
from typing import Any

import numpy as np

from ._header import Header
from ._io import MrcFile, PathLike, _pool, write

__all__ = ["asyncReadMRC", "asyncWriteMRC", "readMRC", "readMRCHeader", "writeMRC"]

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
        first = f._pread(h.data_offset, 1)[0] if h.nz else 5
        out["bloscFormat"] = 2 if first >= 3 else 1
        out["backend"] = "blosc2" if first >= 3 else "blosc"
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
        if idx is None or isinstance(idx, int | np.integer):
            frames = idx
        else:
            frames = slice(int(idx[0]), int(idx[1]) + 1)
        if useMemmap and not f.header.compressed and f.header.mode != 101:
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
        return (float(values[0]),) * 3  # type: ignore[return-value]
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

    ``quickStats``, ``shape`` and ``backend`` are accepted and ignored (statistics are
    always exact; chunks are written by c-blosc2). Writing into an existing file at
    ``idx`` is not supported: use ``mrcz.open(path, 'w')`` and ``append``.
    """
    del quickStats, shape, backend
    if idx is not None:
        raise NotImplementedError("writeMRC(idx=...) is not supported; stream frames with mrcz.open(path, 'w')")
    if endian not in ("le", "be"):
        raise ValueError(f"endian must be 'le' or 'be', not {endian!r}")
    data = np.stack(input_image) if isinstance(input_image, list | tuple) else np.asarray(input_image)
    if dtype is not None:
        data = data.astype(dtype)
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
    )


def asyncReadMRC(*args: Any, **kwargs: Any) -> concurrent.futures.Future[tuple[np.ndarray, dict[str, Any]]]:  # noqa: N802
    """:func:`readMRC` on a background thread; returns a Future."""
    return _pool().submit(readMRC, *args, **kwargs)


def asyncWriteMRC(*args: Any, **kwargs: Any) -> concurrent.futures.Future[None]:  # noqa: N802
    """:func:`writeMRC` on a background thread; returns a Future."""
    return _pool().submit(writeMRC, *args, **kwargs)
