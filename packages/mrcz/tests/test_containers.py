"""gzip and bzip2 MRC files (EMDB's .map.gz), against mrcfile; files that are not MRC at all."""

from __future__ import annotations

import bz2
import gzip
import zipfile

import mrcfile
import numpy as np
import pytest
import tifffile

import mrcz
from mrcz.cli import main

COMPRESSIONS = [("gzip", ".map.gz", gzip.open), ("bzip2", ".mrc.bz2", bz2.open)]


@pytest.fixture
def volume():
    rng = np.random.default_rng(21)
    return rng.normal(0, 1, (12, 20, 24)).astype(np.float32)


@pytest.mark.parametrize(("compression", "suffix", "opener"), COMPRESSIONS)
def test_mrcfile_compressed_maps_read_as_mrcfile_reads_them(tmp_path, volume, compression, suffix, opener):
    path = tmp_path / f"emd{suffix}"
    with mrcfile.new(path, compression=compression) as m:
        m.set_data(volume)
        m.voxel_size = (1.5, 1.25, 1.0)
    with mrcfile.open(path) as m:
        expected, voxel = m.data.copy(), m.voxel_size
    data = mrcz.read(path)
    assert data.dtype == expected.dtype and data.tobytes() == expected.tobytes()
    with mrcz.open(path) as f:
        assert f.container == compression
        assert tuple(f.voxel_size) == pytest.approx((float(voxel.x), float(voxel.y), float(voxel.z)))
        assert f.data[3:5].tobytes() == expected[3:5].tobytes()  # no memory map: frames read from the stream
        assert f.read([7, 2]).tobytes() == expected[[7, 2]].tobytes()  # backwards: decompressed again
    assert mrcz.read_header(path).shape == volume.shape
    assert mrcz.validate(path) == []
    with pytest.raises(ValueError, match="memory-mapped"):
        mrcz.read(path, mmap=True)
    assert mrcz.readMRC(path, useMemmap=True)[0].tobytes() == expected.tobytes()  # read instead


@pytest.mark.parametrize(("compression", "suffix", "opener"), COMPRESSIONS)
def test_written_when_the_name_asks(tmp_path, volume, compression, suffix, opener):
    path = tmp_path / f"out{suffix}"
    mrcz.write(path, volume, volume=True, pixel_size=2.0)
    with opener(path, "rb") as f:
        assert f.read(1024)[208:212] == b"MAP "  # a real container holding a plain MRC file
    with mrcfile.open(path) as m:
        assert m.data.tobytes() == volume.tobytes()
        assert m.voxel_size.x == pytest.approx(2.0)
    with (tmp_path / "report.txt").open("w") as report:
        assert mrcfile.validate(str(path), print_file=report) is True
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([path.name, "report.txt"])  # no temporaries left
    with pytest.raises(ValueError, match="holds plain MRC"):
        mrcz.write(tmp_path / f"x{suffix}", volume, compressor="zstd")


def test_cli_on_compressed_maps(tmp_path, volume, capsys):
    src = tmp_path / "emd.map.gz"
    with mrcfile.new(src, compression="gzip") as m:
        m.set_data(volume)
    assert main(["info", str(src)]) == 0
    assert "gzip (plain MRC inside" in capsys.readouterr().out
    assert main(["validate", str(src)]) == 0
    assert main(["compress", str(src), str(tmp_path / "emd.mrcz")]) == 0
    assert main(["decompress", str(tmp_path / "emd.mrcz"), str(tmp_path / "back.mrc.bz2")]) == 0
    with mrcfile.open(tmp_path / "back.mrc.bz2") as m:
        assert m.data.tobytes() == volume.tobytes()


def test_damaged_streams_raise_mrcz_errors(tmp_path, volume):
    path = tmp_path / "emd.map.gz"
    mrcz.write(path, volume)
    raw = path.read_bytes()
    cut = tmp_path / "cut.map.gz"
    cut.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(mrcz.TruncatedFileError, match="gzip stream ends early"):
        mrcz.read(cut)
    assert any("ends early" in p for p in mrcz.validate(cut))
    damaged = bytearray(raw)
    damaged[len(raw) // 2 : len(raw) // 2 + 64] = bytes(64)
    bad = tmp_path / "bad.map.gz"
    bad.write_bytes(bytes(damaged))
    with pytest.raises(mrcz.MRCZError, match="gzip"):
        mrcz.read(bad)
    # A header claiming more data than any gzip stream of this size can hold.
    huge = bytearray(gzip.decompress(raw)[:1024])
    huge[8:12] = np.int32(2**30).tobytes()  # NZ
    claims = tmp_path / "claims.map.gz"
    claims.write_bytes(gzip.compress(bytes(huge)))
    with pytest.raises(mrcz.TruncatedFileError, match="more than a gzip stream"):
        mrcz.read(claims)


def test_compressed_mrcz_inside_gzip_is_refused(tmp_path, volume):
    inner = tmp_path / "v.mrcz"
    mrcz.write(inner, volume, compressor="zstd")
    outer = tmp_path / "v.mrcz.gz"
    outer.write_bytes(gzip.compress(inner.read_bytes()))
    with pytest.raises(mrcz.MRCZFormatError, match="decompress it first"):
        mrcz.read(outer)


def _tiff(path, volume):
    tifffile.imwrite(path, volume)


def _hdf5(path, volume):
    # The HDF5 superblock signature, then bytes: what h5py's files start with.
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(2040))


def _zip(path, volume):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("data.npy", volume.tobytes())


@pytest.mark.parametrize(("make", "what"), [(_tiff, "a TIFF file"), (_hdf5, "an HDF5 file"), (_zip, "a zip archive")])
def test_other_formats_are_named(tmp_path, volume, make, what):
    path = tmp_path / "not.mrc"
    make(path, volume)
    with pytest.raises(mrcz.MRCZFormatError, match=f"not an MRC file: it looks like {what}"):
        mrcz.read(path)
    zipped = tmp_path / "not.mrc.gz"
    zipped.write_bytes(gzip.compress(path.read_bytes()))
    with pytest.raises(mrcz.MRCZFormatError, match=f"looks like a gzip stream holding {what}"):
        mrcz.read_header(zipped)
    assert any(what in p for p in mrcz.validate(zipped))
    assert main(["info", str(zipped)]) == 1
