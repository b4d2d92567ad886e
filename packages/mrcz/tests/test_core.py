"""The compiled kernels against numpy references."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import mrcz
from mrcz import _core


def reference_pack(values: np.ndarray, high_first: bool) -> np.ndarray:
    """Straightforward numpy packer: pad rows to even length, two values a byte."""
    rows = values.reshape(-1, values.shape[-1]).astype(np.uint8)
    if rows.shape[1] % 2:
        rows = np.concatenate([rows, np.zeros((rows.shape[0], 1), np.uint8)], axis=1)
    first, second = rows[:, 0::2], rows[:, 1::2]
    packed = (first << 4 | second) if high_first else (second << 4 | first)
    return packed.reshape(*values.shape[:-1], -1).astype(np.uint8)


@given(
    values=hnp.arrays(np.uint8, hnp.array_shapes(min_dims=2, max_dims=3, max_side=17), elements=st.integers(0, 15)),
    high_first=st.booleans(),
)
def test_nibble_packing_matches_reference(values, high_first):
    packed = _core.pack_nibbles(values, high_first, 2)
    assert np.array_equal(packed, reference_pack(values, high_first))
    assert np.array_equal(_core.unpack_nibbles(packed, values.shape[-1], high_first, 2), values)


def test_nibble_values_above_15_are_refused():
    with pytest.raises(ValueError, match="above 15"):
        _core.pack_nibbles(np.array([[1, 16]], np.uint8))


@pytest.mark.parametrize("nibble_order", ["low", "high"])
@pytest.mark.parametrize("compressor", [None, "lz4"])
@pytest.mark.parametrize("nx", [8, 7])
def test_mode_101_files(tmp_path, nibble_order, compressor, nx):
    values = np.random.default_rng(nx).integers(0, 16, size=(3, 5, nx)).astype(np.uint8)
    path = tmp_path / "f.mrc"
    mrcz.write(path, values, mode=101, nibble_order=nibble_order, compressor=compressor)
    header = mrcz.read_header(path)
    assert header.mode == 101
    raw = path.read_bytes()[1024:]
    if compressor is None:
        assert len(raw) == 3 * 5 * ((nx + 1) // 2)
        assert raw == reference_pack(values, nibble_order == "high").tobytes()
    assert np.array_equal(mrcz.read(path, nibble_order=nibble_order), values)
    assert np.array_equal(mrcz.read(path, frames=[2, 0], nibble_order=nibble_order), values[[2, 0]])
    with pytest.raises(ValueError, match="above 15"):
        mrcz.write(tmp_path / "g.mrc", values + 16, mode=101)


@pytest.mark.parametrize("dtype", ["i1", "u1", "i2", "u2", "i4", "u4", "f4", "f8"])
@pytest.mark.parametrize("threads", [1, 2, 4])
def test_stats_match_numpy(dtype, threads):
    rng = np.random.default_rng(1)
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
    if info:
        data = rng.integers(info.min, info.max, size=300_001, endpoint=True).astype(dtype)
    else:
        data = (rng.normal(1000, 3, size=300_001)).astype(dtype)  # mean far from 0: needs the shift
    dmin, dmax, dmean, rms = _core.stats(data, threads)
    ref = data.astype(np.float64)
    assert (dmin, dmax) == (ref.min(), ref.max())
    assert dmean == pytest.approx(ref.mean(), rel=1e-12)
    assert rms == pytest.approx(ref.std(), rel=1e-9)


def test_stats_nan_and_empty():
    data = np.ones(10, np.float32)
    data[7] = np.nan
    assert all(np.isnan(_core.stats(data)))
    assert _core.stats(np.zeros(0, np.float32)) == (0.0, 0.0, 0.0, 0.0)
    inf = np.array([1.0, np.inf], np.float64)
    assert _core.stats(inf)[1] == np.inf


@pytest.mark.parametrize("dtype", ["i1", "u1"])
def test_byte_stats_are_exact_at_every_length_and_extreme(dtype):
    """The SIMD byte kernel: tails of 0-15 bytes, 32-bit lanes flushed every 64 KiB, extreme values."""
    info = np.iinfo(dtype)
    rng = np.random.default_rng(5)
    for n in [*range(1, 40), 65_535, 65_536, 65_537, 3 * 65_536 + 17]:
        data = rng.integers(info.min, info.max, size=n, endpoint=True).astype(dtype)
        ref = data.astype(np.float64)
        dmin, dmax, dmean, rms = _core.stats(data, 1)
        assert (dmin, dmax) == (ref.min(), ref.max()), n
        assert dmean == pytest.approx(ref.mean(), rel=1e-12, abs=1e-12), n
        assert rms == pytest.approx(ref.std(), rel=1e-9, abs=1e-9), n
    for value in (info.min, info.max):
        assert _core.stats(np.full(5 * 65_536 + 3, value, dtype), 2) == (value, value, value, 0.0)


def chunk_blocksizes(path, nframes):
    """The blosc block size of each chunk of an MRCZ file (header bytes 8-11 of a chunk)."""
    raw = path.read_bytes()
    pos = 1024 + int(np.frombuffer(raw, "<i4", 1, 92)[0])  # header + extended header
    sizes = []
    for _ in range(nframes):
        _, blocksize, cbytes = np.frombuffer(raw, "<i4", 3, pos + 4)
        sizes.append(int(blocksize))
        pos += int(cbytes)
    assert pos == len(raw)
    return sizes


@pytest.mark.parametrize(
    ("codec", "blocksize"),
    [("zstd", 1 << 20), ("lz4hc", 1 << 20), ("lz4", 1 << 18), ("zlib", 1 << 16), ("blosclz", 1 << 16)],
)
def test_block_size_per_codec(tmp_path, codec, blocksize):
    data = np.random.default_rng(3).poisson(1.0, (3, 1536, 1024)).astype(np.uint8)  # 1.5 MiB frames
    mrcz.write(tmp_path / "x.mrcz", data, compressor=codec, threads=2)
    assert chunk_blocksizes(tmp_path / "x.mrcz", 3) == [blocksize] * 3
    assert np.array_equal(mrcz.read(tmp_path / "x.mrcz"), data)


@pytest.mark.parametrize("sync_bytes", [0, 1, 5000])
def test_periodic_data_sync_writes_the_same_chunks(tmp_path, sync_bytes):
    frames = np.random.default_rng(4).poisson(1.0, (7, 64, 96)).astype(np.uint8)
    path = tmp_path / f"chunks{sync_bytes}.bin"
    with path.open("wb") as f:
        sizes, stats = _core.write_compressed(f.fileno(), 10, frames, 5, 1, 2, 2, True, sync_bytes)
    raw = path.read_bytes()
    assert len(raw) == 10 + sum(sizes)
    assert stats == pytest.approx(_core.stats(frames))
    out = np.empty_like(frames)
    with path.open("rb") as f:
        offsets = 10 + np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        _core.read_compressed(f.fileno(), offsets, np.asarray(sizes, np.int64), out, 2)
    assert np.array_equal(out, frames)


@pytest.mark.parametrize("dtype", ["i2", "u2", "f4", "c8", "f8"])
def test_byteswap_matches_numpy(dtype):
    data = np.arange(1001).astype(dtype)
    swapped = data.copy()
    view = swapped.view(f"u{swapped.itemsize // (2 if data.dtype.kind == 'c' else 1)}")
    _core.byteswap(view, 3)
    assert swapped.tobytes() == data.byteswap().tobytes() if dtype != "c8" else np.array_equal(
        swapped.view(np.float32), data.view(np.float32).byteswap())  # fmt: skip
