"""`validate`: check a file against the MRC2014 standard (and MRCZ's layout)."""

from __future__ import annotations

import math

import numpy as np

from ._atomic import PathLike
from ._errors import MRCZError
from ._header import WRITABLE_MODES, Header
from ._reader import MrcFile

KNOWN_EXTTYPS = ("CCP4", "MRCO", "SERI", "AGAR", "FEI1", "FEI2", "HDF5", "json")


def validate(path: PathLike, *, check_data: bool = True) -> list[str]:
    """Problems found in the file at `path`; an empty list means it is valid.

    Checks the words MRC2014 defines (map id, machine stamp, mode, version, sampling,
    labels, extended header type), that the data fit the file, that every MRCZ chunk
    decompresses, and (with `check_data`) that the header statistics match the data.
    """
    try:
        f = MrcFile(path)
    except (MRCZError, OSError) as exc:
        return [str(exc)]
    with f:
        return _problems(f, check_data)


def _problems(f: MrcFile, check_data: bool) -> list[str]:
    problems = _word_problems(f.header)
    try:
        problems += _layout_problems(f)
        if check_data or f.header.compressed:  # reading an MRCZ file's data checks every chunk
            problems += _statistics_problems(f, check_data)
    except MRCZError as exc:  # what cannot be read ends the checks
        problems.append(str(exc))
    return problems


def _word_problems(h: Header) -> list[str]:
    """The header words MRC2014 defines."""
    raw = h.raw
    nlabl = int(raw["nlabl"])
    labels_counted = 0 <= nlabl <= 10
    # In MRCZ files MZ is python-mrcz's frames per item (0 for one array), not a sampling.
    samplings = ("mx", "my") if h.compressed else ("mx", "my", "mz")
    checks = [
        (bytes(raw["map"]) != b"MAP ", f"MAP: map id is {bytes(raw['map'])!r}, not 'MAP '"),
        (not h.byteorder_from_stamp, f"MACHST: machine stamp {bytes(raw['machst']).hex(' ')} is not a valid stamp"),
        (h.mode not in WRITABLE_MODES, f"MODE: mode {h.mode} is not an MRC2014 mode"),
        (h.nversion not in (20140, 20141), f"NVERSION: {h.nversion} is not 20140 or 20141"),
        *(
            (int(raw[name]) <= 0, f"{name.upper()}: sampling {int(raw[name])} leaves the voxel size undefined")
            for name in samplings
        ),
        (
            sorted(int(raw[k]) for k in ("mapc", "mapr", "maps")) != [1, 2, 3],
            "MAPC/MAPR/MAPS: not a permutation of 1, 2, 3",
        ),
        (not labels_counted, f"NLABL: {nlabl} labels is not between 0 and 10"),
        (
            labels_counted and any(bytes(label).strip(b"\0 ") for label in raw["label"][nlabl:]),
            f"LABEL: text after the {nlabl} labels NLABL counts",
        ),
        (bool(h.nsymbt) and h.exttyp not in KNOWN_EXTTYPS, f"EXTTYP: {h.exttyp!r} is not a known extended header type"),
    ]
    return [message for failed, message in checks if failed]


def _layout_problems(f: MrcFile) -> list[str]:
    """The data fill the file: MRCZ chunks end where it ends, plain data leave nothing after them."""
    h = f.header
    size = f.file_size  # of a gzip/bzip2 file, the stream is read to its end
    if not h.compressed:
        extra = size - h.data_offset - h.nz * h.frame_bytes
        return [f"data: the file is {extra} bytes longer than its data"] if extra > 0 else []
    offsets, sizes = f._chunk_table()
    end = int(offsets[-1] + sizes[-1]) if len(sizes) else h.data_offset
    stored = int(sizes.sum())
    checks = [
        (end != size, f"data: {size - end} bytes follow the last chunk"),
        (
            bool(h.packed_bytes) and h.packed_bytes != stored,
            f"packedBytes: header says {h.packed_bytes}, chunks hold {stored}",
        ),
    ]
    return [message for failed, message in checks if failed]


def _statistics_problems(f: MrcFile, check_data: bool) -> list[str]:
    """The data decompress; with `check_data`, they match the header's statistics where these are determined."""
    stats = _data_stats(f)
    h = f.header
    determined = h.dmax >= h.dmin and h.dmean >= min(h.dmin, h.dmax) and h.rms >= 0
    if not (check_data and determined and stats is not None):
        return []
    claimed = (h.dmin, h.dmax, h.dmean, h.rms)
    tolerance = 1e-3 * max(1.0, abs(stats[1] - stats[0]))
    return [
        f"{name}: header says {got:g}, the data give {want:g}"
        for name, want, got in zip(("DMIN", "DMAX", "DMEAN", "RMS"), stats, claimed)
        if not math.isclose(want, got, rel_tol=1e-3, abs_tol=tolerance)
    ]


def _data_stats(f: MrcFile) -> tuple[float, float, float, float] | None:
    """min, max, mean, rms of the data, item by item (memory stays one frame or volume)."""
    h = f.header
    if h.nz == 0:
        return None
    n = 0
    total = total_sq = 0.0
    lo, hi = math.inf, -math.inf
    items = [None] if h.kind == "image" else range(h.shape[0])
    for i in items:
        values = f.read(i)
        if values.dtype.names:
            values = np.hypot(values["real"].astype(np.float64), values["imag"].astype(np.float64))
        values = (np.abs(values) if values.dtype.kind == "c" else values).astype(np.float64)
        lo, hi = min(lo, float(values.min())), max(hi, float(values.max()))
        total += float(values.sum())
        total_sq += float(np.square(values).sum())
        n += values.size
    mean = total / n
    return lo, hi, mean, math.sqrt(max(total_sq / n - mean * mean, 0.0))
