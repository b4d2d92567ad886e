"""Tests for the FEI1/FEI2 extended-header record layout, parser and builder."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from mrcz._fei import FEI1_DTYPE, FEI2_DTYPE, build_fei, parse_fei


def _records(dtype: np.dtype, n: int = 3) -> np.ndarray:
    """``n`` records with distinctive values in a handful of fields."""
    rec = np.zeros(n, dtype=dtype)
    rec["Microscope type"] = b"Krios G4"
    rec["HT"] = 300_000.0
    rec["Dose"] = np.arange(n) * 1.5 + 40.0
    rec["Alpha tilt"] = np.linspace(-60.0, 60.0, n)
    rec["Pixel size X"] = rec["Pixel size Y"] = 0.83e-10
    rec["Bitmask 1"] = 0x8000_0001
    rec["Spot index"] = 7
    rec["Camera name"] = b"BM-Falcon"
    rec["Phase Plate"] = True
    rec["Fraction number"] = np.arange(n)
    rec["Alpha tilt max"] = 60.0
    if "Objective aperture name" in dtype.names:
        rec["Scan rotation"] = 12.5
        rec["Acquisition time stamp"] = 1_700_000_000_000 + np.arange(n)
        rec["Objective aperture name"] = b"OBJ 100"
    return rec


def test_itemsizes() -> None:
    assert FEI1_DTYPE.itemsize == 768
    assert FEI2_DTYPE.itemsize == 888
    assert FEI2_DTYPE.names[: len(FEI1_DTYPE.names)] == FEI1_DTYPE.names
    assert not FEI1_DTYPE.isalignedstruct


@pytest.mark.parametrize(
    ("name", "offset", "code"),
    [
        ("Metadata size", 0, "<i4"),
        ("Bitmask 1", 8, "<u4"),
        ("Timestamp", 12, "<f8"),
        ("Microscope type", 20, "S16"),
        ("HT", 84, "<f8"),
        ("Dose", 92, "<f8"),
        ("Alpha tilt", 100, "<f8"),
        ("Pixel size X", 156, "<f8"),
        ("Pixel size Y", 164, "<f8"),
        ("Defocus", 220, "<f8"),
        ("Magnification", 289, "<f8"),
        ("Spot index", 309, "<i4"),
        ("Camera name", 435, "S16"),
        ("Phase Plate", 518, "|b1"),
        ("Dwell time", 571, "<f8"),
        ("Is dose fraction", 655, "|b1"),
        ("Alpha tilt max", 760, "<f8"),
        ("Scan rotation", 768, "<f8"),
        ("Acquisition time stamp", 796, "<i8"),
        ("Objective aperture name", 872, "S16"),
    ],
)
def test_published_offsets(name: str, offset: int, code: str) -> None:
    field, at = FEI2_DTYPE.fields[name][:2]
    assert at == offset
    assert field == np.dtype(code)
    if offset < 768:
        assert FEI1_DTYPE.fields[name][1] == offset


@pytest.mark.parametrize(("dtype", "exttyp", "version"), [(FEI1_DTYPE, "FEI1", 1), (FEI2_DTYPE, "FEI2", 2)])
def test_round_trip(dtype: np.dtype, exttyp: str, version: int) -> None:
    rec = _records(dtype)
    raw = build_fei(rec)
    assert isinstance(raw, bytes) and len(raw) == 3 * dtype.itemsize
    assert struct.unpack_from("<ii", raw) == (dtype.itemsize, version)
    back = parse_fei(raw, exttyp)
    assert back.dtype == dtype and back.shape == (3,)
    assert back.flags.writeable
    assert (back["Metadata size"] == dtype.itemsize).all()
    assert (back["Metadata version"] == version).all()
    for name in dtype.names:
        if name not in ("Metadata size", "Metadata version"):
            np.testing.assert_array_equal(back[name], rec[name], err_msg=name)
    assert rec["Metadata size"].sum() == 0  # the builder does not modify its input


def test_build_keeps_nonzero_version_and_accepts_big_endian() -> None:
    rec = _records(FEI2_DTYPE, 1)
    rec["Metadata version"] = 5
    swapped = rec.astype(FEI2_DTYPE.newbyteorder(">"))
    raw = build_fei(swapped)
    assert raw == build_fei(rec)
    assert parse_fei(raw, "FEI2")["Metadata version"][0] == 5


def test_build_rejects_other_dtypes() -> None:
    with pytest.raises(TypeError):
        build_fei(np.zeros(2, dtype=np.float64))
    with pytest.raises(TypeError):
        build_fei(np.zeros((2, 2), dtype=FEI1_DTYPE))


@pytest.mark.parametrize(("dtype", "exttyp"), [(FEI1_DTYPE, "FEI1"), (FEI2_DTYPE, "FEI2")])
def test_velox_padding_to_512(dtype: np.dtype, exttyp: str) -> None:
    raw = build_fei(_records(dtype, 5))
    padded = raw + b"\0" * (-len(raw) % 512)
    assert len(padded) % 512 == 0 and len(padded) != len(raw)
    back = parse_fei(padded, exttyp)
    assert back.shape == (5,)
    np.testing.assert_array_equal(back["Fraction number"], np.arange(5))
    # bytearray / memoryview / uint8 arrays are accepted too
    assert parse_fei(np.frombuffer(padded, np.uint8), exttyp).shape == (5,)


def test_larger_record_size_from_header() -> None:
    """A future version with longer records: known fields at their usual offsets."""
    size = 1024
    rec = _records(FEI2_DTYPE, 2)
    rows = [bytes(r) + b"\xab" * (size - 888) for r in np.frombuffer(build_fei(rec), FEI2_DTYPE)]
    raw = bytearray(b"".join(rows))
    for i in range(2):
        struct.pack_into("<i", raw, i * size, size)
    back = parse_fei(bytes(raw) + b"\0" * 100, "FEI2")
    assert back.shape == (2,) and back.dtype.itemsize == size
    assert back.dtype.names == FEI2_DTYPE.names
    assert (back["Metadata size"] == size).all()
    np.testing.assert_array_equal(back["Dose"], rec["Dose"])
    np.testing.assert_array_equal(back["Objective aperture name"], rec["Objective aperture name"])


def test_fei2_label_with_fei1_sized_records() -> None:
    """EXTTYP says FEI2 but records are 768 bytes: only the version-1 fields are exposed."""
    raw = build_fei(_records(FEI1_DTYPE, 2))
    back = parse_fei(raw, "FEI2")
    assert back.shape == (2,) and back.dtype.itemsize == 768
    assert back.dtype.names == FEI1_DTYPE.names
    assert back["HT"][1] == 300_000.0


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        (b"", "too short"),
        (b"\x00" * 100, "too short"),
        (struct.pack("<i", 888) + b"\x00" * 700, "too short"),
        (b"\x00" * 888, "Metadata size"),
        (struct.pack("<i", -5) + b"\x00" * 1000, "Metadata size"),
        (struct.pack("<i", 512) + b"\x00" * 1020, "Metadata size"),
        (struct.pack("<i", 10_000) + b"\x00" * 1000, "Metadata size"),
        (struct.pack(">i", 888) + b"\x00" * 884, "Metadata size"),  # wrong byte order
        (b"garbage!" * 200, "Metadata size"),
    ],
)
def test_bad_input_errors(raw: bytes, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        parse_fei(raw, "FEI2")


@pytest.mark.parametrize("exttyp", ["FEI3", "", "AGAR", "fei1"])
def test_bad_exttyp(exttyp: str) -> None:
    with pytest.raises(ValueError, match="FEI"):
        parse_fei(build_fei(_records(FEI1_DTYPE)), exttyp)


def test_matches_mrcfile(tmp_path: Path) -> None:
    mrcfile = pytest.importorskip("mrcfile")
    rec = _records(FEI2_DTYPE, 3)
    raw = build_fei(rec)
    path = tmp_path / "fei2.mrc"
    with mrcfile.new(str(path), overwrite=True) as mrc:
        mrc.set_data(np.zeros((3, 4, 5), dtype=np.float32))
        mrc.set_extended_header(np.frombuffer(raw, dtype="V1"))
        mrc.header.exttyp = b"FEI2"
    with mrcfile.open(str(path), permissive=False) as mrc:
        theirs = mrc.indexed_extended_header
        ext = mrc.extended_header.tobytes()
    assert ext == raw
    ours = parse_fei(ext, "FEI2")
    assert theirs is not None and theirs.shape == ours.shape
    common = [n for n in ours.dtype.names if n in theirs.dtype.names]
    assert len(common) == len(FEI2_DTYPE.names)
    for name in common:
        assert theirs.dtype.fields[name][1] == ours.dtype.fields[name][1], name
        np.testing.assert_array_equal(theirs[name], ours[name], err_msg=name)
