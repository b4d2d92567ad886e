"""MRCZ chunk formats: version 2 (c-blosc 1's, the default) and version 5 (c-blosc2's).

The reference for version-2 chunks is c-blosc 1 itself (python-blosc), the library
python-mrcz 0.6 reads with when only `blosc` is installed.
"""

from __future__ import annotations

import blosc
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import mrcz
from mrcz.cli import main

CODECS = ["zstd", "lz4", "lz4hc", "blosclz", "zlib"]
DTYPES = ["int8", "uint8", "int16", "uint16", "float32", "complex64"]


def chunks(path):
    """The raw chunks of an MRCZ file, in frame order."""
    with mrcz.open(path) as f:
        offsets, sizes = f._chunk_table()
    raw = path.read_bytes()
    return [raw[o : o + s] for o, s in zip(offsets.tolist(), sizes.tolist(), strict=True)]


def frames_by_c_blosc_1(path, dtype, frame_shape):
    return np.stack([np.frombuffer(blosc.decompress(c), dtype).reshape(frame_shape) for c in chunks(path)])


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("shuffle", ["bitshuffle", "shuffle", "none"])
def test_default_chunks_are_version_2_and_c_blosc_1_reads_them(tmp_path, codec, shuffle):
    rng = np.random.default_rng(11)
    data = (rng.poisson(2.0, (3, 96, 1100)) * rng.normal(1, 0.05, (96, 1100))).astype(np.float32)
    path = tmp_path / "v2.mrcz"
    mrcz.write(path, data, compressor=codec, shuffle=shuffle, threads=2)
    assert {c[0] for c in chunks(path)} == {2}
    assert np.array_equal(frames_by_c_blosc_1(path, data.dtype, data.shape[1:]), data)
    assert np.array_equal(mrcz.read(path), data)
    with mrcz.open(path) as f:
        assert f.chunk_format == "blosc"


def test_blosc2_chunks_only_when_asked(tmp_path):
    data = np.random.default_rng(12).poisson(1.0, (4, 64, 80)).astype(np.uint8)
    path = tmp_path / "v5.mrcz"
    mrcz.write(path, data, compressor="zstd", chunk_format="blosc2")
    assert {c[0] for c in chunks(path)} == {5}
    with pytest.raises(blosc.blosc_extension.error, match="not a Blosc buffer"):  # c-blosc 1 cannot read them
        blosc.decompress(chunks(path)[0])
    assert np.array_equal(mrcz.read(path), data)
    with mrcz.open(path) as f:
        assert f.chunk_format == "blosc2"
    with pytest.raises(ValueError, match="chunk_format must be one of"):
        mrcz.write(tmp_path / "x.mrcz", data, compressor="zstd", chunk_format="blosc3")


def test_python_mrcz_backend_keyword_chooses_the_format(tmp_path):
    data = np.random.default_rng(13).integers(-50, 50, (2, 32, 32)).astype(np.int16)
    for backend, version in [(None, 2), ("blosc", 2), ("blosc2", 5)]:
        path = tmp_path / f"{backend}.mrcz"
        mrcz.writeMRC(data, path, compressor="lz4", backend=backend)
        assert chunks(path)[0][0] == version
        assert mrcz.readMRCHeader(path)[0]["backend"] == ("blosc2" if version == 5 else "blosc")


def test_incompressible_and_constant_frames(tmp_path):
    """Noise ends up as copied chunks, all-zero frames as tiny ones; both read back by both libraries."""
    rng = np.random.default_rng(14)
    data = np.stack([rng.integers(0, 256, (300, 301)), np.zeros((300, 301))]).astype(np.uint8)
    path = tmp_path / "mixed.mrcz"
    mrcz.write(path, data, compressor="lz4")
    noise, zeros = chunks(path)
    assert noise[2] & 0x02 and len(noise) == 16 + data[0].nbytes  # c-blosc's "memcpyed" flag
    assert len(zeros) < 1000
    assert np.array_equal(frames_by_c_blosc_1(path, np.uint8, data.shape[1:]), data)
    assert np.array_equal(mrcz.read(path), data)


@given(
    data=st.sampled_from(DTYPES).flatmap(
        lambda dt: hnp.arrays(
            dt,
            st.tuples(st.integers(1, 3), st.integers(1, 40), st.integers(1, 300)),
            elements={"allow_nan": False} if dt.startswith(("float", "complex")) else None,
        )
    ),
    codec=st.sampled_from(CODECS),
    shuffle=st.sampled_from(["bitshuffle", "shuffle", "none"]),
    clevel=st.integers(0, 9),
)
def test_any_frames_round_trip_through_c_blosc_1(tmp_path_factory, data, codec, shuffle, clevel):
    path = tmp_path_factory.mktemp("h") / "h.mrcz"
    mrcz.write(path, data, compressor=codec, shuffle=shuffle, clevel=clevel, threads=2)
    by_blosc1 = frames_by_c_blosc_1(path, data.dtype, data.shape[1:]).reshape(data.shape)
    assert by_blosc1.tobytes() == data.tobytes()
    assert mrcz.read(path).tobytes() == data.tobytes()


def test_cli_chunk_format_and_info(tmp_path, capsys):
    data = np.random.default_rng(15).poisson(1.0, (3, 40, 50)).astype(np.uint8)
    src = tmp_path / "in.mrc"
    mrcz.write(src, data)
    for fmt, version, says in [("blosc", 2, "version 2"), ("blosc2", 5, "version 5")]:
        out = tmp_path / f"{fmt}.mrcz"
        assert main(["compress", str(src), str(out), "--chunk-format", fmt, "--no-sync"]) == 0
        assert chunks(out)[0][0] == version
        capsys.readouterr()
        assert main(["info", str(out)]) == 0
        assert f"chunks       {fmt} ({says}" in capsys.readouterr().out
        assert np.array_equal(mrcz.read(out), data)


@pytest.mark.parametrize("codec", ["zstd", "lz4"])
def test_one_large_image_is_coded_on_all_threads_to_the_same_bytes(tmp_path, codec):
    """A single frame's blocks are shared among the threads; the chunk does not depend on how many."""
    rng = np.random.default_rng(16)
    image = (rng.poisson(2.0, (1500, 1100)) * rng.normal(1, 0.05, (1500, 1100))).astype(np.float32)
    written = {}
    for threads in (1, 2, 3):
        path = tmp_path / f"t{threads}.mrcz"
        mrcz.write(path, image, compressor=codec, threads=threads)
        (written[threads],) = chunks(path)
    assert written[1] == written[2] == written[3]
    assert np.frombuffer(blosc.decompress(written[2]), np.float32).reshape(image.shape).tobytes() == image.tobytes()
