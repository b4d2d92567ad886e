"""The 1024-byte MRC2014 main header: layout, parsing and building.

Byte offsets follow the MRC2014 specification; bytes 132-151 hold python-mrcz's
private words (voltage, Cs, gain, total compressed size), and bytes 152-159 IMOD's
stamp and flags (bit 0 of the flags says mode-0 bytes are signed).
"""

from __future__ import annotations

import datetime
import math
from dataclasses import dataclass, field
from typing import Literal, NamedTuple, cast

import numpy as np

from ._errors import MRCZFormatError, UnsupportedModeError

HEADER_SIZE = 1024
IMOD_STAMP = 1146047817
IMOD_FLAG_SIGNED_BYTES = 1
# SerialEM's older 4-bit frames: mode 0 with this flag (or the label below) holds two
# values per byte, the first in the low nibble, and NX counts bytes, half the pixels.
IMOD_FLAG_4BIT_BYTES = 16
SERIALEM_4BIT_LABEL = b"4 bits packed"
NVERSION = 20141

ByteOrder = Literal["<", ">"]

HEADER_DTYPE = np.dtype(
    [
        ("nx", "i4"), ("ny", "i4"), ("nz", "i4"), ("mode", "i4"),
        ("nxstart", "i4"), ("nystart", "i4"), ("nzstart", "i4"),
        ("mx", "i4"), ("my", "i4"), ("mz", "i4"),
        ("cella", "f4", 3), ("cellb", "f4", 3),
        ("mapc", "i4"), ("mapr", "i4"), ("maps", "i4"),
        ("dmin", "f4"), ("dmax", "f4"), ("dmean", "f4"),
        ("ispg", "i4"), ("nsymbt", "i4"),
        ("extra1", "V8"), ("exttyp", "S4"), ("nversion", "i4"), ("extra2", "V20"),
        ("voltage", "f4"), ("cs", "f4"), ("gain", "f4"), ("packed_bytes", "i8"),
        ("imod_stamp", "i4"), ("imod_flags", "i4"), ("extra3", "V36"),
        ("origin", "f4", 3), ("map", "S4"), ("machst", "u1", 4),
        ("rms", "f4"), ("nlabl", "i4"), ("label", "S80", 10),
    ]
)  # fmt: skip
assert HEADER_DTYPE.itemsize == HEADER_SIZE

# MRC mode -> numpy dtype (native byte order). Mode 0 is int8 unless IMOD flags say
# unsigned; 7 and 8 are python-mrcz's int32/uint32, read for compatibility only.
MODE_DTYPES: dict[int, np.dtype] = {
    0: np.dtype("i1"),
    1: np.dtype("i2"),
    2: np.dtype("f4"),
    3: np.dtype([("real", "i2"), ("imag", "i2")]),
    4: np.dtype("c8"),
    6: np.dtype("u2"),
    7: np.dtype("i4"),
    8: np.dtype("u4"),
    12: np.dtype("f2"),
    101: np.dtype("u1"),
}
WRITABLE_MODES = (0, 1, 2, 3, 4, 6, 12, 101)

# MRCZ compressor ids (MODE // 1000) as python-mrcz 0.6.0 numbers them; 7-15 are
# blosc2 plugins, which the chunk itself names.
CODEC_IDS = {
    "blosclz": 1, "lz4": 2, "lz4hc": 3, "snappy": 4, "zlib": 5, "zstd": 6,
    "ndlz": 7, "zfp_acc": 8, "zfp_prec": 9, "zfp_rate": 10, "openhtj2k": 11,
    "grok": 12, "openzl": 13, "j2k": 14, "htj2k": 15,
}  # fmt: skip
CODEC_NAMES = {v: k for k, v in CODEC_IDS.items()}


class VoxelSize(NamedTuple):
    """Voxel (pixel) size in Ångström along x, y and z."""

    x: float
    y: float
    z: float


NO_VOXEL_SIZE = VoxelSize(0.0, 0.0, 0.0)


def mode_for_dtype(dtype: np.dtype) -> int:
    """The MRC mode that stores `dtype` without loss; TypeError if there is none."""
    dtype = np.dtype(dtype)
    if dtype.names is not None:
        if dtype.names == ("real", "imag") and all(
            dtype[n].kind == "i" and dtype[n].itemsize == 2 for n in dtype.names
        ):
            return 3
        raise TypeError(f"structured dtype {dtype} has no MRC mode (mode 3 is fields 'real' and 'imag' of int16)")
    if dtype.kind in "iu" and dtype.itemsize == 1:
        return 0  # uint8 is marked unsigned with IMOD's flags, int8 signed
    for mode in (1, 2, 4, 6, 12):
        if MODE_DTYPES[mode] == dtype.newbyteorder("="):
            return mode
    hint = {"f8": "float32", "c16": "complex64", "i4": "float32 or int16", "u4": "float32 or uint16"}.get(
        f"{dtype.kind}{dtype.itemsize}", "a supported type"
    )
    raise TypeError(
        f"dtype {dtype} has no MRC mode; MRC stores int8/uint8 (mode 0), int16 (1), float32 (2), "
        f"complex int16 (3), complex64 (4), uint16 (6), float16 (12) and 4-bit (101): cast to {hint}"
    )


def _text(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("latin-1").rstrip()


@dataclass(frozen=True)
class Header:
    """A parsed MRC header. `raw` holds every word as read (a numpy record)."""

    raw: np.void = field(repr=False)
    byteorder: ByteOrder
    byteorder_from_stamp: bool  # False when MACHST was unusable and the order was guessed

    # -- words ------------------------------------------------------------------
    @property
    def nx(self) -> int:
        """Values per row (for SerialEM's half-width 4-bit files, twice the NX word)."""
        return int(self.raw["nx"]) * (2 if self.four_bit_bytes else 1)

    @property
    def ny(self) -> int:
        return int(self.raw["ny"])

    @property
    def nz(self) -> int:
        return int(self.raw["nz"])

    @property
    def mx(self) -> int:
        return int(self.raw["mx"])

    @property
    def my(self) -> int:
        return int(self.raw["my"])

    @property
    def mz(self) -> int:
        return int(self.raw["mz"])

    @property
    def mode(self) -> int:
        """The MRC data mode (without the MRCZ compressor part); 101 for 4-bit data, also
        when SerialEM stored it as mode 0 bytes."""
        return 101 if self.four_bit_bytes else int(self.raw["mode"]) % 1000

    @property
    def four_bit_bytes(self) -> bool:
        """True for mode-0 bytes that each hold two 4-bit values.

        IMOD recognises them by its imodFlags bit, or by SerialEM's one label saying
        "4 bits packed"."""
        if int(self.raw["mode"]) != 0:
            return False
        if int(self.raw["imod_stamp"]) == IMOD_STAMP and int(self.raw["imod_flags"]) & IMOD_FLAG_4BIT_BYTES:
            return True
        return int(self.raw["nlabl"]) == 1 and SERIALEM_4BIT_LABEL in bytes(self.raw["label"][0])

    @property
    def codec_id(self) -> int:
        return int(self.raw["mode"]) // 1000

    @property
    def codec(self) -> str | None:
        """Compressor name for MRCZ files, None for plain MRC."""
        return CODEC_NAMES.get(self.codec_id) if self.codec_id else None

    @property
    def compressed(self) -> bool:
        return self.codec_id > 0

    @property
    def ispg(self) -> int:
        return int(self.raw["ispg"])

    @property
    def nsymbt(self) -> int:
        return int(self.raw["nsymbt"])

    @property
    def exttyp(self) -> str:
        return _text(bytes(self.raw["exttyp"]))

    @property
    def nversion(self) -> int:
        return int(self.raw["nversion"])

    @property
    def dmin(self) -> float:
        return float(self.raw["dmin"])

    @property
    def dmax(self) -> float:
        return float(self.raw["dmax"])

    @property
    def dmean(self) -> float:
        return float(self.raw["dmean"])

    @property
    def rms(self) -> float:
        return float(self.raw["rms"])

    @property
    def origin(self) -> tuple[float, float, float]:
        x, y, z = (float(v) for v in self.raw["origin"])
        return x, y, z

    @property
    def labels(self) -> list[str]:
        count = max(0, min(10, int(self.raw["nlabl"])))
        return [_text(bytes(label)) for label in self.raw["label"][:count]]

    @property
    def written_by_python_mrcz(self) -> bool:
        """True when label 0 starts with 'MRCZ', so the words at bytes 132-151 are python-mrcz's."""
        return bytes(self.raw["label"][0]).startswith(b"MRCZ")

    @property
    def written_by_predecessor(self) -> bool:
        """True for files of python-mrcz before 1.0 (label 0 'MRCZ0.x'), which follow its conventions."""
        return bytes(self.raw["label"][0]).startswith(b"MRCZ0.")

    @property
    def stats_from_first_frame(self) -> bool:
        """True for stacks python-mrcz 0.x wrote, whose statistics are not the data's.

        By default (``quickStats``) it stored the min and max of frame 0 only, DMEAN their
        midpoint and RMS 0."""
        return self.written_by_predecessor and self.nz > 1

    @property
    def voltage(self) -> float | None:
        """Accelerating voltage in kV (MRCZ files only)."""
        return float(self.raw["voltage"]) if self.written_by_python_mrcz else None

    @property
    def cs(self) -> float | None:
        """Spherical aberration in mm (MRCZ files only)."""
        return float(self.raw["cs"]) if self.written_by_python_mrcz else None

    @property
    def gain(self) -> float | None:
        """Detector gain in counts per electron (MRCZ files only)."""
        return float(self.raw["gain"]) if self.written_by_python_mrcz else None

    @property
    def packed_bytes(self) -> int:
        """Total size of the compressed chunks as the writer recorded it (0 if not)."""
        return int(self.raw["packed_bytes"]) if self.written_by_python_mrcz else 0

    # -- derived ----------------------------------------------------------------
    @property
    def dtype(self) -> np.dtype:
        """The numpy dtype of the data as mrcz returns it (native byte order)."""
        imod = int(self.raw["imod_stamp"]) == IMOD_STAMP
        if self.mode == 0 and imod and not int(self.raw["imod_flags"]) & IMOD_FLAG_SIGNED_BYTES:
            return np.dtype("u1")
        return MODE_DTYPES[self.mode]

    @property
    def kind(self) -> str:
        """'image', 'image stack', 'volume' or 'volume stack'."""
        if 401 <= self.ispg <= 630:
            return "volume stack"
        if self.ispg == 0:
            return "image" if self.nz == 1 else "image stack"
        return "volume"

    @property
    def sections_per_volume(self) -> int:
        return self.mz if self.kind == "volume stack" else 1

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the data array, (ny, nx), (nz, ny, nx) or (volumes, mz, ny, nx)."""
        if self.kind == "volume stack":
            return (self.nz // self.mz, self.mz, self.ny, self.nx)
        if self.kind == "image":
            return (self.ny, self.nx)
        return (self.nz, self.ny, self.nx)

    @property
    def frame_bytes(self) -> int:
        """Bytes of one section (one z slice) as stored in the file."""
        if self.mode == 101:
            return (self.nx + 1) // 2 * self.ny
        return self.nx * self.ny * MODE_DTYPES[self.mode].itemsize

    @property
    def data_offset(self) -> int:
        return HEADER_SIZE + self.nsymbt

    @property
    def voxel_size(self) -> VoxelSize:
        """Voxel size in Å, CELLA / (MX, MY, MZ) or, as python-mrcz reads it, CELLA / (NX, NY, NZ).

        The second applies to MRCZ (compressed) files, files python-mrcz 0.x wrote, and
        wherever a sampling is 0."""
        cella = [float(v) for v in self.raw["cella"]]
        sampling = (self.mx, self.my, self.mz)
        counts = (self.nx, self.ny, self.nz)
        by_count = self.compressed or self.written_by_predecessor
        sizes = []
        for cell, m, n in zip(cella, sampling, counts):
            divisor = n if by_count or m <= 0 else m
            sizes.append(cell / divisor if divisor > 0 else 0.0)
        return VoxelSize(*sizes)

    def to_bytes(self) -> bytes:
        return np.asarray(self.raw).astype(header_dtype(self.byteorder)).tobytes()


def header_dtype(byteorder: ByteOrder) -> np.dtype[np.void]:
    """The header's record type in byte order '<' or '>'."""
    return HEADER_DTYPE.newbyteorder(byteorder)


def _plausible(rec: np.void) -> bool:
    mode = int(rec["mode"])
    return (
        mode % 1000 in MODE_DTYPES
        and 0 <= mode // 1000 <= 15
        and all(0 < int(rec[k]) < 1 << 30 for k in ("nx", "ny"))
        and 0 <= int(rec["nz"]) < 1 << 31
        and int(rec["nsymbt"]) >= 0
    )


def parse_header(raw: bytes, path: str | None = None) -> Header:
    """Parse the 1024-byte main header, choosing the byte order from MACHST.

    A broken machine stamp (common: SerialEM, IMOD exports, all zeros) is not an
    error: the byte order whose NX/NY/NZ/MODE/NSYMBT make sense is used.
    """
    if len(raw) < HEADER_SIZE:
        from ._errors import TruncatedFileError

        raise TruncatedFileError(f"the file is {len(raw)} bytes, shorter than an MRC header (1024)", path=path)
    stamp = raw[212:214]
    from_stamp = stamp in (b"\x44\x44", b"\x44\x41", b"\x11\x11")
    # A damaged stamp's first byte is still the best first guess.
    hint: ByteOrder = ">" if stamp[0] == 0x11 else "<"
    order_try = hint
    for order_try in (hint, ">" if hint == "<" else "<"):
        rec = np.frombuffer(raw[:HEADER_SIZE], dtype=header_dtype(order_try))[0]
        if from_stamp or _plausible(rec):
            break
    else:
        order_try = hint
        rec = np.frombuffer(raw[:HEADER_SIZE], dtype=header_dtype(hint))[0]
    native = cast(np.void, np.array(rec).astype(HEADER_DTYPE)[()])
    header = Header(raw=native, byteorder=order_try, byteorder_from_stamp=from_stamp)
    _check_words(header, path)
    return header


def _check_words(h: Header, path: str | None) -> None:
    mode = int(h.raw["mode"])
    if mode < 0 or mode % 1000 not in MODE_DTYPES:
        raise UnsupportedModeError(f"unknown data mode {mode % 1000 if mode >= 0 else mode}", path=path, field="MODE")
    if h.codec_id and h.codec_id not in CODEC_NAMES:
        raise UnsupportedModeError(
            f"MODE {mode} names MRCZ compressor id {h.codec_id}, which no MRCZ writer uses", path=path, field="MODE"
        )
    for name in ("nx", "ny"):
        if not 0 < getattr(h, name) < 1 << 30:
            raise MRCZFormatError(f"{getattr(h, name)} is not a possible size", path=path, field=name.upper())
    if h.nz < 0:
        raise MRCZFormatError(f"{h.nz} is not a possible size", path=path, field="NZ")
    if h.nsymbt < 0:
        raise MRCZFormatError(f"negative extended header size {h.nsymbt}", path=path, field="NSYMBT")
    if h.kind == "volume stack" and (h.mz <= 0 or h.nz % h.mz):
        raise MRCZFormatError(
            f"a volume stack (ISPG {h.ispg}) needs NZ ({h.nz}) to be a multiple of MZ ({h.mz})", path=path, field="MZ"
        )


def _format_label(text: str) -> bytes:
    data = text.encode("ascii", "replace")[:80]
    return data.ljust(80, b"\0")


def build_header(
    *,
    shape: tuple[int, ...],
    mode: int,
    kind: str,
    codec_id: int = 0,
    voxel_size: VoxelSize = NO_VOXEL_SIZE,
    stats: tuple[float, float, float, float] | None = None,
    nsymbt: int = 0,
    exttyp: str = "",
    voltage: float = 0.0,
    cs: float = 0.0,
    gain: float = 1.0,
    packed_bytes: int = 0,
    unsigned_bytes: bool = False,
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0),
    labels: tuple[str, ...] = (),
    byteorder: ByteOrder = "<",
    version: str = "",
    like: Header | None = None,
) -> Header:
    """A standards-correct header for data of `shape` (MZ, ISPG, NVERSION, MACHST).

    Compressed (MRCZ) files follow python-mrcz 0.6 instead, so that it reads them as one
    array with the right voxel size: MZ = 0 and CELLA = voxel size x N. Volume stacks
    keep MZ = sections per volume, which it reads as a list of volumes.

    `like`, the header of a file being copied, lends its crystallographic words: NXSTART-
    NZSTART, CELLB, MAPC/MAPR/MAPS, the space group of a volume (stack) and, for a plain
    file of the same size, the sampling MX/MY/MZ with its CELLA, so that a map keeps its
    axes and unit cell.
    """
    rec = np.zeros((), dtype=HEADER_DTYPE)
    ny, nx = shape[-2:]
    if kind == "volume stack":
        nz, mz, ispg = shape[0] * shape[1], shape[1], 401
    elif kind == "volume":
        nz, mz, ispg = shape[0], shape[0], 1
    elif kind == "image stack":
        nz, mz, ispg = shape[0], 1, 0
    else:
        nz, mz, ispg = 1, 1, 0
    rec["nx"], rec["ny"], rec["nz"] = nx, ny, nz
    rec["mode"] = mode + 1000 * codec_id
    cell_z = voxel_size.z * (nz if codec_id else mz)
    if codec_id and kind != "volume stack":
        mz = 0  # python-mrcz 0.6 returns a list of frames for any MZ > 0
    rec["mx"], rec["my"], rec["mz"] = nx, ny, mz
    rec["cella"] = (voxel_size.x * nx, voxel_size.y * ny, cell_z)
    rec["cellb"] = (90.0, 90.0, 90.0)
    rec["mapc"], rec["mapr"], rec["maps"] = 1, 2, 3
    # Readers that take mode 0 as int8 (mrcfile, python-mrcz) see other statistics for
    # unsigned bytes above 127, and mrcfile checks complex statistics against complex
    # min/max/mean, which no real number matches: both get the undetermined markers.
    if mode in (3, 4) or (mode == 0 and unsigned_bytes and stats is not None and stats[1] > 127):
        stats = None
    # "Not well determined" markers of the MRC2014 spec, replaced once the data are known.
    dmin, dmax, dmean, rms = stats if stats is not None else (0.0, -1.0, -2.0, -1.0)
    rec["dmin"], rec["dmax"], rec["dmean"], rec["rms"] = dmin, dmax, dmean, rms
    rec["ispg"] = ispg
    rec["nsymbt"] = nsymbt
    rec["exttyp"] = exttyp.encode("ascii")[:4]
    rec["nversion"] = NVERSION
    rec["voltage"], rec["cs"], rec["gain"] = voltage, cs, gain
    rec["packed_bytes"] = packed_bytes
    if mode == 0:
        rec["imod_stamp"] = IMOD_STAMP
        rec["imod_flags"] = 0 if unsigned_bytes else IMOD_FLAG_SIGNED_BYTES
    rec["origin"] = origin
    if like is not None:
        _copy_geometry(rec, like.raw, kind, compressed=codec_id > 0)
    rec["map"] = b"MAP "
    rec["machst"] = (0x44, 0x44, 0, 0) if byteorder == "<" else (0x11, 0x11, 0, 0)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    # Oldest first, as MRC2014 asks: python-mrcz's version label (it looks for it in
    # label 0), the caller's labels (a copied file's history), then this write's stamp.
    # A copied file's own version label is replaced by this one.
    history = [text for text in labels if not text.startswith("MRCZ")]
    all_labels = [f"MRCZ{version}", *history[:8], f"mrcz {version}: written {stamp}"]
    rec["nlabl"] = len(all_labels)
    for i, text in enumerate(all_labels):
        rec["label"][i] = _format_label(text)
    return Header(raw=cast(np.void, rec[()]), byteorder=byteorder, byteorder_from_stamp=True)


def _copy_geometry(rec: np.ndarray, source: np.void, kind: str, compressed: bool) -> None:
    for word in ("nxstart", "nystart", "nzstart", "cellb", "mapc", "mapr", "maps"):
        rec[word] = source[word]
    space_groups = {"volume": range(1, 231), "volume stack": range(401, 631)}.get(kind, ())
    if int(source["ispg"]) in space_groups:
        rec["ispg"] = source["ispg"]
    same_size = all(int(source[n]) == int(rec[n]) for n in ("nx", "ny", "nz"))
    if not compressed and same_size and all(int(source[m]) > 0 for m in ("mx", "my", "mz")):
        for word in ("mx", "my", "mz", "cella"):
            rec[word] = source[word]


def header_stats_ok(stats: tuple[float, float, float, float]) -> bool:
    return all(math.isfinite(v) for v in stats)
