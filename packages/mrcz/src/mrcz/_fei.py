"""Thermo Fisher / FEI extended-header metadata records (EXTTYP ``FEI1``/``FEI2``).

EPU, Velox and Tomo store one fixed-size metadata record per image section in the
MRC extended header.  Layout from the Thermo Fisher "MRC2014 file format
specification" (metadata version 1: 768 bytes, version 2: 888 bytes, version 2 =
version 1 + trailing fields).  Records are packed (no alignment) and little-endian,
strings are NUL/space padded ``S`` byte fields.  Byte offsets of section starts are
given in the comments for cross-checking against the published tables.
"""

from __future__ import annotations

import numpy as np

__all__ = ["FEI1_DTYPE", "FEI2_DTYPE", "build_fei", "parse_fei"]

_I4, _U4, _I8, _F8, _BOOL = "<i4", "<u4", "<i8", "<f8", "?"
_S16 = "S16"


def _reserved(prefix: str, numbers: range) -> list[tuple[str, str]]:
    return [(f"{prefix} {n}", _I4) for n in numbers]


_V1_FIELDS: list[tuple[str, str]] = [
    # @0 record header
    ("Metadata size", _I4),
    ("Metadata version", _I4),
    ("Bitmask 1", _U4),
    ("Timestamp", _F8),
    ("Microscope type", _S16),
    ("D-Number", _S16),
    ("Application", _S16),
    ("Application version", _S16),
    # @84 gun and stage
    ("HT", _F8),
    ("Dose", _F8),
    ("Alpha tilt", _F8),
    ("Beta tilt", _F8),
    ("X-Stage", _F8),
    ("Y-Stage", _F8),
    ("Z-Stage", _F8),
    ("Tilt axis angle", _F8),
    ("Dual axis rotation", _F8),
    # @156 pixel size, then 48 unused bytes
    ("Pixel size X", _F8),
    ("Pixel size Y", _F8),
    ("Unused range", "S48"),
    # @220 optics
    ("Defocus", _F8),
    ("STEM Defocus", _F8),
    ("Applied defocus", _F8),
    ("Instrument mode", _I4),
    ("Projection mode", _I4),
    ("Objective lens mode", _S16),
    ("High magnification mode", _S16),
    ("Probe mode", _I4),
    ("EFTEM On", _BOOL),
    ("Magnification", _F8),
    ("Bitmask 2", _U4),
    ("Camera length", _F8),
    ("Spot index", _I4),
    ("Illuminated area", _F8),
    ("Intensity", _F8),
    ("Convergence angle", _F8),
    ("Illumination mode", _S16),
    ("Wide convergence angle range", _BOOL),
    # @354 energy filter
    ("Slit inserted", _BOOL),
    ("Slit width", _F8),
    ("Acceleration voltage offset", _F8),
    ("Drift tube voltage", _F8),
    ("Energy shift", _F8),
    # @387 image/beam shifts
    ("Shift offset X", _F8),
    ("Shift offset Y", _F8),
    ("Shift X", _F8),
    ("Shift Y", _F8),
    # @419 camera
    ("Integration time", _F8),
    ("Binning Width", _I4),
    ("Binning Height", _I4),
    ("Camera name", _S16),
    ("Readout area left", _I4),
    ("Readout area top", _I4),
    ("Readout area right", _I4),
    ("Readout area bottom", _I4),
    ("Ceta noise reduction", _BOOL),
    ("Ceta frames summed", _I4),
    ("Direct detector electron counting", _BOOL),
    ("Direct detector align frames", _BOOL),
    *_reserved("Camera param reserved", range(4)),
    ("Bitmask 3", _U4),
    *_reserved("Camera param reserved", range(4, 10)),
    # @518 phase plate and STEM detector
    ("Phase Plate", _BOOL),
    ("STEM Detector name", _S16),
    ("Gain", _F8),
    ("Offset", _F8),
    *_reserved("STEM param reserved", range(5)),
    ("Dwell time", _F8),
    ("Frame time", _F8),
    ("Scan size left", _I4),
    ("Scan size top", _I4),
    ("Scan size right", _I4),
    ("Scan size bottom", _I4),
    ("Full scan FOV X", _F8),
    ("Full scan FOV Y", _F8),
    # @619 EDX / energy-selected imaging
    ("Element", _S16),
    ("Energy interval lower", _F8),
    ("Energy interval higher", _F8),
    ("Method", _I4),
    # @655 dose fractions
    ("Is dose fraction", _BOOL),
    ("Fraction number", _I4),
    ("Start frame", _I4),
    ("End frame", _I4),
    ("Input stack filename", "S80"),
    # @748 tilt range
    ("Bitmask 4", _U4),
    ("Alpha tilt min", _F8),
    ("Alpha tilt max", _F8),
]

_V2_EXTRA: list[tuple[str, str]] = [
    # @768 rotations and scan mode
    ("Scan rotation", _F8),
    ("Diffraction pattern rotation", _F8),
    ("Image rotation", _F8),
    ("Scan mode enumeration", _I4),
    ("Acquisition time stamp", _I8),
    ("Detector commercial name", _S16),
    # @820 continuous tilt, beam centre, misc
    ("Start tilt angle", _F8),
    ("End tilt angle", _F8),
    ("Tilt per image", _F8),
    ("Tilt speed", _F8),
    ("Beam center X pixel", _I4),
    ("Beam center Y pixel", _I4),
    ("CFEG flash timestamp", _I8),
    ("Phase plate position index", _I4),
    ("Objective aperture name", _S16),
]

FEI1_DTYPE: np.dtype = np.dtype(_V1_FIELDS)
FEI2_DTYPE: np.dtype = np.dtype(_V1_FIELDS + _V2_EXTRA)
assert FEI1_DTYPE.itemsize == 768 and FEI2_DTYPE.itemsize == 888

_BY_TYPE = {"FEI1": FEI1_DTYPE, "FEI2": FEI2_DTYPE}
_SIZE = "Metadata size"


def _record_dtype(base: np.dtype, size: int) -> np.dtype:
    """``base`` restricted to the fields that fit in ``size`` bytes, itemsize ``size``."""
    if size == base.itemsize:
        return base
    fields = base.fields
    assert fields is not None  # the FEI layouts are record types
    names = [n for n, (kind, offset, *_) in fields.items() if offset + kind.itemsize <= size]
    return np.dtype(
        {
            "names": names,
            "formats": [fields[n][0] for n in names],
            "offsets": [fields[n][1] for n in names],
            "itemsize": size,
        }
    )


def parse_fei(raw: bytes, exttyp: str | bytes) -> np.ndarray:
    """Decode an FEI1/FEI2 extended header into a structured array (one row per record).

    The record size comes from the first record's "Metadata size"; trailing bytes
    shorter than one record (e.g. Velox padding to 512) are ignored.  Records larger
    than the known layout expose the known fields only.
    """
    key = exttyp.decode("ascii", "replace") if isinstance(exttyp, bytes) else exttyp
    base = _BY_TYPE.get(str(key).strip())
    if base is None:
        raise ValueError(f"unsupported FEI extended header type {exttyp!r} (want 'FEI1' or 'FEI2')")
    buf = memoryview(raw).cast("B")
    minimum = FEI1_DTYPE.itemsize
    if len(buf) < minimum:
        raise ValueError(f"{key} extended header is {len(buf)} bytes, too short for one {minimum}-byte metadata record")
    size = int.from_bytes(buf[:4], "little", signed=True)
    if size < minimum:
        raise ValueError(f"{key} extended header: '{_SIZE}' is {size}, less than the minimum record size {minimum}")
    if size > len(buf):
        raise ValueError(
            f"{key} extended header: '{_SIZE}' is {size}, larger than the whole extended header ({len(buf)} bytes)"
        )
    count = len(buf) // size
    return np.frombuffer(buf, dtype=_record_dtype(base, size), count=count).copy()


def build_fei(records: np.ndarray) -> bytes:
    """Encode FEI1/FEI2 records to extended-header bytes.

    "Metadata size" is set to the record size and a zero "Metadata version" to
    1 (FEI1) or 2 (FEI2).  Records with the same field names in another byte
    order are converted.
    """
    arr = np.atleast_1d(np.asarray(records))
    target = next((dt for dt in (FEI1_DTYPE, FEI2_DTYPE) if arr.dtype.names == dt.names), None)
    if target is None or arr.ndim != 1:
        raise TypeError(f"expected a 1-D array of FEI1/FEI2 records, got {arr.dtype} {arr.shape}")
    out = arr.astype(target, copy=True)
    out[_SIZE] = target.itemsize
    version = out["Metadata version"]
    version[version == 0] = 1 if target is FEI1_DTYPE else 2
    return out.tobytes()
