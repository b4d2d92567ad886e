"""`validate`: check a file against the MRC2014 standard (and MRCZ's layout)."""

from __future__ import annotations

import math

import numpy as np

from ._atomic import PathLike
from ._errors import MRCZError
from ._header import HEADER_SIZE, WRITABLE_MODES
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
    h = f.header
    raw = h.raw
    problems = []
    if bytes(raw["map"]) != b"MAP ":
        problems.append(f"MAP: map id is {bytes(raw['map'])!r}, not 'MAP '")
    if not h.byteorder_from_stamp:
        problems.append(f"MACHST: machine stamp {bytes(raw['machst']).hex(' ')} is not a valid stamp")
    if h.mode not in WRITABLE_MODES:
        problems.append(f"MODE: mode {h.mode} is not an MRC2014 mode")
    if h.nversion not in (20140, 20141):
        problems.append(f"NVERSION: {h.nversion} is not 20140 or 20141")
    # In MRCZ files MZ is python-mrcz's frames per item (0 for one array), not a sampling.
    for name in ("mx", "my") if h.compressed else ("mx", "my", "mz"):
        if int(raw[name]) <= 0:
            problems.append(f"{name.upper()}: sampling {int(raw[name])} leaves the voxel size undefined")
    if sorted(int(raw[k]) for k in ("mapc", "mapr", "maps")) != [1, 2, 3]:
        problems.append("MAPC/MAPR/MAPS: not a permutation of 1, 2, 3")
    nlabl = int(raw["nlabl"])
    if not 0 <= nlabl <= 10:
        problems.append(f"NLABL: {nlabl} labels is not between 0 and 10")
    elif any(bytes(label).strip(b"\0 ") for label in raw["label"][nlabl:]):
        problems.append(f"LABEL: text after the {nlabl} labels NLABL counts")
    if h.nsymbt and h.exttyp not in KNOWN_EXTTYPS:
        problems.append(f"EXTTYP: {h.exttyp!r} is not a known extended header type")
    try:
        size = f.file_size  # of a gzip/bzip2 file, the stream is read to its end
    except MRCZError as exc:
        return [*problems, str(exc)]
    if h.compressed:
        try:
            offsets, sizes = f._chunk_table()
        except MRCZError as exc:
            return [*problems, str(exc)]
        end = int(offsets[-1] + sizes[-1]) if len(sizes) else h.data_offset
        if end != size:
            problems.append(f"data: {size - end} bytes follow the last chunk")
        if h.packed_bytes and h.packed_bytes != int(sizes.sum()):
            problems.append(f"packedBytes: header says {h.packed_bytes}, chunks hold {int(sizes.sum())}")
    elif size > HEADER_SIZE + h.nsymbt + h.nz * h.frame_bytes:
        problems.append(f"data: the file is {size - h.data_offset - h.nz * h.frame_bytes} bytes longer than its data")
    if not check_data and not h.compressed:
        return problems
    try:
        stats = _data_stats(f)
    except MRCZError as exc:
        return [*problems, str(exc)]
    claimed = (h.dmin, h.dmax, h.dmean, h.rms)
    determined = h.dmax >= h.dmin and h.dmean >= min(h.dmin, h.dmax) and h.rms >= 0
    if check_data and determined and stats is not None:
        for name, want, got in zip(("DMIN", "DMAX", "DMEAN", "RMS"), stats, claimed):
            if not math.isclose(want, got, rel_tol=1e-3, abs_tol=1e-3 * max(1.0, abs(stats[1] - stats[0]))):
                problems.append(f"{name}: header says {got:g}, the data give {want:g}")
    return problems


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
