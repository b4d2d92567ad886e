"""Files written by python-mrcz 0.6.0 read bit-exactly, with every header value."""

from __future__ import annotations

import numpy as np
import pytest

import mrcz

META = {
    "detector": "Enum.Detector.K3",
    "dose_per_frame": 1.25,
    "exposure_s": 2.0,
    "frame_dose": [0, 1, 2],
    "operator": "Zoë",
    "nested": {"gainref": None, "flip": [True, False]},
}

# name, (x, y, z) voxel size in Å, voltage, Cs, gain, packedBytes, codec
CASES = [
    ("counts_int8_zstd1_bitshuffle_json.mrcz", (0.83, 0.83, 1.0), 300.0, 2.7, 1.0, 104_087, "zstd"),
    ("gain_normalised_float32_uncompressed.mrc", (1.25, 1.5, 2.0), 200.0, 1.4, 1.0, 0, None),
    ("int16_lz4_9_bitshuffle.mrcz", (5.0, 5.0, 5.0), 300.0, 2.7, 2.5, 132_891, "lz4"),
    ("counts_int8_zstd1_blosc2backend.mrcz", (0.83, 0.83, 1.0), 300.0, 2.7, 1.0, None, "zstd"),
]


def reference(fixtures, name):
    stem = name.rsplit(".", 1)[0].replace("_blosc2backend", "_bitshuffle_json")  # the same array
    with np.load(fixtures / "arrays.npz") as arrays:
        return arrays[stem]


@pytest.mark.parametrize(("name", "voxel", "voltage", "cs", "gain", "packed", "codec"), CASES)
def test_predecessor_files_read_bit_exactly(fixtures, name, voxel, voltage, cs, gain, packed, codec):
    expected = reference(fixtures, name)
    data = mrcz.read(fixtures / name)
    assert data.dtype == expected.dtype
    assert data.shape == expected.shape
    assert data.tobytes() == expected.tobytes()
    with mrcz.open(fixtures / name) as f:
        h = f.header
        assert h.codec == codec
        assert f.voxel_size == pytest.approx(voxel, rel=1e-6)
        assert (h.voltage, h.cs, h.gain) == pytest.approx((voltage, cs, gain), rel=1e-6)
        if packed is not None:
            assert h.packed_bytes == packed
        if codec:
            assert f.compressed_size == h.packed_bytes
        assert h.labels[0] == "MRCZ0.6.0"
        assert h.kind == "image stack"


def test_json_metadata_round_trips(fixtures):
    with mrcz.open(fixtures / "counts_int8_zstd1_bitshuffle_json.mrcz") as f:
        assert f.meta == META
        assert f.header.exttyp == "json"
        assert f.header.nsymbt == 176
        assert f.extended_header.decode("utf-8").startswith('{"detector": "Enum.Detector.K3"')


@pytest.mark.parametrize("name", [c[0] for c in CASES])
@pytest.mark.parametrize("frames", [0, -1, slice(1, 4), slice(None, None, 2), [2, 0, 1], np.array([1, 1])])
def test_frame_selection_equals_slicing_a_full_read(fixtures, name, frames):
    full = reference(fixtures, name)
    assert np.array_equal(mrcz.read(fixtures / name, frames=frames), full[frames])


@pytest.mark.parametrize("name", [c[0] for c in CASES])
def test_lazy_data_decodes_only_what_is_indexed(fixtures, name):
    full = reference(fixtures, name)
    with mrcz.open(fixtures / name) as f:
        data = f.data
        assert data.shape == full.shape
        assert np.array_equal(data[1], full[1])
        assert np.array_equal(data[1:3, 5:9, ::2], full[1:3, 5:9, ::2])
        assert np.array_equal(np.asarray(data), full)


def test_predecessor_quirks_are_reported_by_validate(fixtures):
    problems = mrcz.validate(fixtures / "gain_normalised_float32_uncompressed.mrc")
    text = "\n".join(problems)
    assert "NVERSION" in text
    assert "MX" in text
    assert "DMEAN" in text  # (min + max) / 2 of frame 0 is not the mean


def test_compatibility_aliases_read_like_the_predecessor(fixtures):
    path = fixtures / "int16_lz4_9_bitshuffle.mrcz"
    data, header = mrcz.readMRC(path, pixelunits="nm")
    assert np.array_equal(data, reference(fixtures, path.name))
    for key in ("compressor", "MRCtype", "C3", "dimensions", "dtype", "extendedBytes", "gain", "maxImage",
                "minImage", "meanImage", "packedBytes", "pixelsize", "pixelunits", "voltage"):  # fmt: skip
        assert key in header
    assert header["pixelsize"] == pytest.approx([0.5, 0.5, 0.5])
    assert header["compressor"] == "lz4"
    assert header["gain"] == pytest.approx(2.5)
    assert list(header["dimensions"]) == [5, 160, 120]
    some, _ = mrcz.readMRC(path, idx=(1, 3))
    assert np.array_equal(some, data[1:4])
    one, _ = mrcz.readMRC(path, idx=2)
    assert np.array_equal(one, data[2])
    json_header, _ = mrcz.readMRCHeader(fixtures / "counts_int8_zstd1_bitshuffle_json.mrcz")
    assert json_header["operator"] == "Zoë"
    assert json_header["metaId"] == "json"


@pytest.mark.parametrize("name", [c[0] for c in CASES])
def test_first_frame_statistics_are_flagged(fixtures, name):
    """python-mrcz 0.6 stored min/max of frame 0 and their midpoint as DMEAN (fixtures README)."""
    expected = reference(fixtures, name)
    h = mrcz.read_header(fixtures / name)
    assert h.written_by_predecessor
    assert h.stats_from_first_frame
    assert (h.dmin, h.dmax) == (expected[0].min(), expected[0].max())
    assert h.dmax != expected.max() or h.dmean != pytest.approx(expected.mean(), rel=1e-3)


def test_our_files_are_not_flagged(tmp_path):
    header = mrcz.write(tmp_path / "s.mrcz", np.arange(24, dtype=np.int16).reshape(2, 3, 4), compressor="zstd")
    assert not header.written_by_predecessor
    assert not header.stats_from_first_frame
    assert header.written_by_python_mrcz  # the MRCZ label, so voltage/Cs/gain are read
