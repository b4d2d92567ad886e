"""Truncated, corrupt and hostile files raise an MRCZError subclass naming the file and
the field, without crashing, hanging or allocating more than the file could hold."""

from __future__ import annotations

import struct
import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mrcz


@pytest.fixture
def good(tmp_path):
    data = np.random.default_rng(3).poisson(2.0, size=(6, 40, 30)).astype(np.int16)
    path = tmp_path / "good.mrcz"
    mrcz.write(path, data, compressor="zstd", meta={"a": 1})
    return path, data


def patched(path, offset, fmt, value):
    raw = bytearray(path.read_bytes())
    struct.pack_into(fmt, raw, offset, value)
    out = path.with_name("bad" + path.suffix)
    out.write_bytes(bytes(raw))
    return out


def expect(error, path, field=None, *, frames=None):
    with pytest.raises(error) as info:
        mrcz.read(path, frames=frames)
    assert str(path) in str(info.value)
    if field:
        assert info.value.field == field
    return info.value


@pytest.mark.parametrize("size", [0, 10, 1023])
def test_shorter_than_a_header(tmp_path, size):
    path = tmp_path / "short.mrc"
    path.write_bytes(b"\0" * size)
    expect(mrcz.TruncatedFileError, path)


def test_not_an_mrc_file(tmp_path):
    path = tmp_path / "image.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    with pytest.raises(mrcz.MRCZError):
        mrcz.read(path)


@pytest.mark.parametrize("keep", [0.0, 0.5, 0.99])
def test_truncated_compressed_file(good, tmp_path, keep):
    path, _ = good
    raw = path.read_bytes()
    cut = tmp_path / "cut.mrcz"
    header_end = 1024 + len(b'{"a": 1}')
    cut.write_bytes(raw[: header_end + int((len(raw) - header_end) * keep)])
    expect(mrcz.MRCZFormatError, cut)


def test_truncated_plain_file_names_nz(tmp_path):
    path = tmp_path / "p.mrc"
    mrcz.write(path, np.zeros((4, 8, 8), np.float32))
    path.write_bytes(path.read_bytes()[:-10])
    expect(mrcz.TruncatedFileError, path, "NZ")


@pytest.mark.parametrize(("offset", "field", "value"), [(0, "NX", 0), (4, "NY", -5), (0, "NX", 2**30 + 1)])
def test_absurd_sizes(good, offset, field, value):
    expect(mrcz.MRCZFormatError, patched(good[0], offset, "<i", value), field)


def test_huge_nz_is_refused_before_allocating(good):
    # 2**30 frames of 40 x 30 would be 2.4 TB; the file holds a few kB.
    expect(mrcz.TruncatedFileError, patched(good[0], 8, "<i", 2**30), "NZ")


@pytest.mark.parametrize(
    ("side", "error", "field"), [(2**29, mrcz.MRCZFormatError, "NX"), (20000, mrcz.CorruptChunkError, "data")]
)
def test_huge_frames_of_a_compressed_file_are_refused_before_allocating(good, side, error, field):
    # The chunks hold 40 x 30 frames; the header claims side x side (a 4.8 GB read for 20000).
    bad = patched(patched(good[0], 0, "<i", side), 4, "<i", side)
    tracemalloc.start()
    try:
        expect(error, bad, field)
        with pytest.raises(error), mrcz.open(bad) as f:
            f.data[1]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 10 << 20


def test_huge_nz_plain(tmp_path):
    path = tmp_path / "p.mrc"
    mrcz.write(path, np.zeros((2, 8, 8), np.float32))
    expect(mrcz.TruncatedFileError, patched(path, 8, "<i", 2**31 - 1), "NZ")


def test_nsymbt_past_the_end(good):
    expect(mrcz.TruncatedFileError, patched(good[0], 92, "<i", 10**9), "NSYMBT")


def test_negative_nsymbt(good):
    expect(mrcz.MRCZFormatError, patched(good[0], 92, "<i", -4), "NSYMBT")


@pytest.mark.parametrize("mode", [5, 13, 99, 1000 * 99 + 1, -1])
def test_unknown_mode_or_codec_id(good, mode):
    expect(mrcz.UnsupportedModeError, patched(good[0], 12, "<i", mode), "MODE")


def test_damaged_chunk_header(good):
    path, _ = good
    start = 1024 + len(b'{"a": 1}')
    expect(mrcz.CorruptChunkError, patched(path, start, "<B", 77), "data")  # format version byte
    expect(mrcz.CorruptChunkError, patched(path, start + 4, "<I", 12345), "data")  # nbytes
    expect(mrcz.CorruptChunkError, patched(path, start + 12, "<I", 2**31), "data")  # cbytes past end


@pytest.mark.parametrize("chunk_format", ["blosc", "blosc2"])
def test_damaged_chunk_payload(tmp_path, chunk_format):
    data = np.random.default_rng(3).poisson(2.0, size=(6, 40, 30)).astype(np.int16)
    path = tmp_path / "good.mrcz"
    mrcz.write(path, data, compressor="zstd", meta={"a": 1}, chunk_format=chunk_format)
    raw = bytearray(path.read_bytes())
    start = 1024 + len(b'{"a": 1}')
    # From the codec's first bytes in a version-2 chunk (16-byte header, one block offset,
    # the stream's size) into the header's end of a version-5 one.
    for i in range(start + 24, start + 400):
        raw[i] ^= 0x5A
    bad = path.with_name("payload.mrcz")
    bad.write_bytes(bytes(raw))
    error = expect(mrcz.CorruptChunkError, bad, "data", frames=0)
    assert "frame 0" in str(error)


def test_broken_json_metadata(good):
    path, _ = good
    bad = patched(path, 1024, "<8s", b"{not js}")
    with mrcz.open(bad) as f, pytest.raises(mrcz.MRCZFormatError, match="JSON"):
        _ = f.meta


def test_bad_machine_stamp_is_recovered_from_plausibility(tmp_path):
    data = np.arange(60, dtype=np.float32).reshape(3, 4, 5)
    for byteorder in "<>":
        path = tmp_path / f"x{byteorder == '<'}.mrc"
        mrcz.write(path, data, byteorder=byteorder)
        # IMOD exports wrote 44 20 20 20; some writers leave the stamp zero.
        bad = patched(path, 212, "<I", 0x20202044 if byteorder == "<" else 0)
        header = mrcz.read_header(bad)
        assert not header.byteorder_from_stamp
        assert header.byteorder == byteorder
        assert np.array_equal(mrcz.read(bad), data)
        assert any("MACHST" in p for p in mrcz.validate(bad))


def test_frame_index_out_of_range(good):
    with pytest.raises(IndexError, match="frames"):
        mrcz.read(good[0], frames=6)
    with pytest.raises(TypeError, match="frames"):
        mrcz.read(good[0], frames="all")


def test_validate_reports_instead_of_raising(good, tmp_path):
    path, _ = good
    assert mrcz.validate(path) == []
    short = tmp_path / "s.mrcz"
    short.write_bytes(path.read_bytes()[:2000])
    problems = mrcz.validate(short)
    assert problems
    assert str(short) in problems[0]


def damaged(path, tail=b"", **words):
    """A copy of the little-endian file at `path` with header words replaced and `tail` appended."""
    from mrcz._header import HEADER_DTYPE

    raw = bytearray(path.read_bytes())
    header = np.frombuffer(raw, HEADER_DTYPE.newbyteorder("<"), count=1).copy()
    for name, value in words.items():
        header[name] = value
    raw[: header.nbytes] = header.tobytes()
    out = path.with_name("damaged" + path.suffix)
    out.write_bytes(bytes(raw) + tail)
    return out


@pytest.mark.parametrize(
    ("compressor", "change", "problems"),
    [
        (None, {"map": b"MAX "}, ["MAP: map id is b'MAX ', not 'MAP '"]),
        (None, {"machst": (0, 0, 0, 0)}, ["MACHST: machine stamp 00 00 00 00 is not a valid stamp"]),
        (None, {"nversion": 20130}, ["NVERSION: 20130 is not 20140 or 20141"]),
        (
            None,
            {"mx": 0, "mz": -1},
            ["MX: sampling 0 leaves the voxel size undefined", "MZ: sampling -1 leaves the voxel size undefined"],
        ),
        ("zstd", {"mz": 0}, []),  # MRCZ's MZ counts frames per item
        (None, {"maps": 1}, ["MAPC/MAPR/MAPS: not a permutation of 1, 2, 3"]),
        (None, {"nlabl": 11}, ["NLABL: 11 labels is not between 0 and 10"]),
        (None, {"nlabl": 0}, ["LABEL: text after the 0 labels NLABL counts"]),
        (None, {"exttyp": b"ABCD"}, ["EXTTYP: 'ABCD' is not a known extended header type"]),
        (None, {"tail": b"1234567"}, ["data: the file is 7 bytes longer than its data"]),
        ("zstd", {"tail": b"1234567"}, ["data: 7 bytes follow the last chunk"]),
        ("zstd", {"packed_bytes": 5}, ["packedBytes: header says 5, chunks hold {stored}"]),
        (None, {"dmax": 100.0}, ["DMAX: header says 100, the data give 59"]),
        (None, {"dmax": -5.0}, []),  # statistics marked undetermined are not compared
        (
            "zstd",
            {"map": b"MAX ", "nversion": 1, "packed_bytes": 5, "dmean": 1.0},
            [
                "MAP: map id is b'MAX ', not 'MAP '",
                "NVERSION: 1 is not 20140 or 20141",
                "packedBytes: header says 5, chunks hold {stored}",
                "DMEAN: header says 1, the data give 29.5",
            ],
        ),
    ],
)
def test_validate_names_each_damaged_word(tmp_path, compressor, change, problems):
    data = np.arange(60, dtype=np.float32).reshape(3, 4, 5)
    path = tmp_path / ("v.mrcz" if compressor else "v.mrc")
    mrcz.write(path, data, compressor=compressor, meta={"a": 1})
    stored = mrcz.read_header(path).packed_bytes
    bad = damaged(path, **change)
    want = [p.format(stored=stored) for p in problems]
    assert mrcz.validate(bad) == want
    assert mrcz.validate(bad, check_data=False) == [p for p in want if not p.startswith("DM")]  # no statistics


def test_validate_decompresses_every_chunk_even_without_check_data(good):
    path, _ = good
    raw = bytearray(path.read_bytes())
    start = 1024 + len(b'{"a": 1}')
    for i in range(start + 24, start + 400):  # the first chunk's compressed stream
        raw[i] ^= 0x5A
    bad = path.with_name("payload.mrcz")
    bad.write_bytes(bytes(raw))
    for check_data in (True, False):
        problems = mrcz.validate(bad, check_data=check_data)
        assert len(problems) == 1 and "frame 0" in problems[0] and str(bad) in problems[0]


def _samples(folder):
    """Small valid files of each layout: compressed with JSON metadata, plain with an FEI
    extended header, 4-bit, big-endian."""
    from mrcz._fei import FEI1_DTYPE, build_fei

    rng = np.random.default_rng(11)
    counts = rng.poisson(2.0, size=(3, 12, 10)).astype(np.int16)
    samples = {
        "zstd.mrcz": (counts, {"compressor": "zstd", "meta": {"dose": 1.5, "camera": "K3"}}),
        "lz4_be.mrcz": (counts.astype(np.float32), {"compressor": "lz4", "byteorder": ">"}),
        "fei.mrc": (counts, {"extended_header": build_fei(np.zeros(3, FEI1_DTYPE)), "exttyp": "FEI1"}),
        "nibbles.mrc": (rng.integers(0, 16, size=(2, 6, 7)).astype(np.uint8), {"mode": 101}),
    }
    for name, (data, options) in samples.items():
        mrcz.write(folder / name, data, **options)
    return {name: (folder / name).read_bytes() for name in samples}


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    return _samples(tmp_path_factory.mktemp("samples"))


def last_frame(path):
    with mrcz.open(path) as f:
        return np.array(f.data[-1])


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    name=st.sampled_from(["zstd.mrcz", "lz4_be.mrcz", "fei.mrc", "nibbles.mrc"]),
    edits=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=6),
    keep=st.one_of(st.none(), st.floats(0.0, 1.0)),
)
def test_damaged_files_raise_mrcz_errors_only(samples, tmp_path, name, edits, keep):
    """Any damage to a valid file reads, or raises an MRCZError subclass, without a crash,
    another exception or a large allocation."""
    raw = bytearray(samples[name])
    for offset, value in edits:
        raw[offset % len(raw)] = value
    if keep is not None:
        raw = raw[: int(len(raw) * keep)]
    path = tmp_path / name
    path.write_bytes(bytes(raw))
    tracemalloc.start()
    try:
        for attempt in (mrcz.read, mrcz.read_header, last_frame, mrcz.validate):
            try:
                attempt(path)
            except mrcz.MRCZError:
                pass
            except IndexError:
                pass  # a damaged NZ of 0 leaves no frame -1 to index
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 32 << 20
