"""Readers and the clear errors for bad input."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from hypothesis import given
from hypothesis import strategies as st

import mrcz
import zorro
from zorro import ORIENTATIONS, InputError
from zorro._orient import orient, unorient
from zorro.io import defect_mask, read_defects, read_movie
from zorro.simulate import write


@pytest.mark.parametrize("suffix", [".mrcz", ".mrc", ".mrcs", ".tif"])
def test_movie_round_trip_with_calibration(tmp_path, small_movie, suffix):
    paths = write(small_movie, tmp_path / f"movie{suffix}")
    movie = read_movie(paths["movie"])
    np.testing.assert_array_equal(movie.frames, small_movie.frames)
    assert movie.pixel_size == pytest.approx(small_movie.pixel_size)
    assert movie.voltage == pytest.approx(small_movie.voltage)
    assert movie.dose_per_frame == pytest.approx(small_movie.dose_per_frame)


@pytest.mark.parametrize("compression", ["lzw", "zlib", "zstd"])
def test_compressed_tiff_movies_are_read(tmp_path, small_movie, compression):
    path = tmp_path / f"movie_{compression}.tiff"
    tifffile.imwrite(path, small_movie.frames, compression=compression)
    movie = read_movie(path)
    np.testing.assert_array_equal(movie.frames, small_movie.frames)
    assert movie.pixel_size is None  # a plain TIFF carries none: align() then needs it as an option


def test_calibration_priority_options_over_file(small_movie_file):
    result = zorro.align(small_movie_file["movie"], pixel_size=0.5, band=2)
    assert result.parameters["pixel_size"] == 0.5
    assert result.parameters["calibration_sources"]["pixel_size"] == "parameter"
    assert result.parameters["calibration_sources"]["dose_per_frame"] == "file"
    assert result.parameters["dose_per_area"] == pytest.approx(2.0 / 0.25)


def test_dose_is_estimated_from_counts_when_unknown(small_movie):
    result = zorro.align(small_movie.frames, pixel_size=1.0, band=2)
    assert result.parameters["calibration_sources"]["dose_per_frame"] == "mean count"
    assert result.parameters["dose_per_frame"] == pytest.approx(2.0, rel=0.05)


def test_a_single_image_is_not_a_movie(tmp_path):
    path = tmp_path / "image.mrc"
    mrcz.write(path, np.ones((64, 64), np.float32), pixel_size=1.0)
    with pytest.raises(InputError, match="single 64 x 64 image, not a movie"):
        zorro.align(path)
    with pytest.raises(InputError, match="not a movie"):
        zorro.align(np.ones((64, 64)), pixel_size=1.0)


def test_nan_frames_are_named(small_movie):
    frames = small_movie.frames.astype(np.float32)
    frames[3, 10, 10] = np.nan
    frames[5, 0, 0] = np.inf
    with pytest.raises(InputError, match=r"frame\(s\) 4, 6 \(1-based\)"):
        zorro.align(frames, pixel_size=1.0)


def test_truncated_file_gets_a_clear_error(tmp_path, small_movie_file):
    data = small_movie_file["movie"].read_bytes()
    broken = tmp_path / "broken.mrcz"
    broken.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"broken\.mrcz"):
        zorro.align(broken)
    plain = tmp_path / "broken.mrc"
    mrcz.write(plain, np.ones((4, 64, 64), np.uint8), pixel_size=1.0)
    plain.write_bytes(plain.read_bytes()[:-100])
    with pytest.raises(InputError, match=r"broken\.mrc"):
        zorro.read_movie(plain)


def test_missing_and_unknown_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        zorro.read_movie(tmp_path / "nothing.mrc")
    odd = tmp_path / "movie.xyz"
    odd.write_bytes(b"0" * 100)
    with pytest.raises(InputError, match="unknown file type"):
        zorro.read_movie(odd)


def test_zero_dose_and_other_bad_parameters(small_movie):
    with pytest.raises(InputError, match="dose_per_frame must be positive"):
        zorro.align(small_movie.frames, pixel_size=1.0, dose_per_frame=0)
    with pytest.raises(InputError, match="cannot be estimated"):
        zorro.align(np.zeros((4, 64, 64), np.uint8), pixel_size=1.0)
    with pytest.raises(InputError, match="band"):
        zorro.align(small_movie.frames, pixel_size=1.0, band=-1)
    with pytest.raises(TypeError, match="unknown parameter"):
        zorro.align(small_movie.frames, pixel_size=1.0, bands=3)


def test_gain_of_the_wrong_size(small_movie):
    with pytest.raises(InputError, match=r"gain reference is 200 x 256 .* frames are 256 x 256"):
        zorro.align(small_movie.frames, pixel_size=1.0, gain=np.ones((200, 256), np.float32))
    with pytest.raises(InputError, match="unknown gain orientation"):
        zorro.align(small_movie.frames, pixel_size=1.0, gain=np.ones((256, 256)), gain_orientation="sideways")


def test_defect_text_file(tmp_path):
    path = tmp_path / "defects.txt"
    path.write_text("# camera defects\nrow 3\ncolumn 7  # hot\npixel 10 12\n\n")
    mask = read_defects(path, (16, 20))
    expected = defect_mask({"rows": [3], "columns": [7], "pixels": [[10, 12]]}, (16, 20))
    np.testing.assert_array_equal(mask, expected)
    assert mask[3].all() and mask[:, 7].all() and mask[10, 12] and mask.sum() == 20 + 16 - 1 + 1
    path.write_text("row 3\nline 4\n")
    with pytest.raises(InputError, match=r"defects.txt:2: expected"):
        read_defects(path, (16, 20))
    path.write_text("row 30\n")
    with pytest.raises(InputError, match="outside"):
        read_defects(path, (16, 20))


def test_defect_image_file(tmp_path):
    mask = np.zeros((16, 20), np.uint8)
    mask[4, 5] = 1
    mrcz.write(tmp_path / "defects.mrc", mask)
    np.testing.assert_array_equal(read_defects(tmp_path / "defects.mrc", (16, 20)), mask.astype(bool))
    with pytest.raises(InputError, match="defect map"):
        read_defects(tmp_path / "defects.mrc", (20, 16))


@given(st.sampled_from(ORIENTATIONS), st.integers(2, 9), st.integers(2, 9))
def test_orient_and_unorient_are_inverse(name, h, w):
    image = np.arange(h * w).reshape(h, w)
    np.testing.assert_array_equal(unorient(orient(image, name), name), image)


def test_the_eight_orientations_are_distinct():
    image = np.arange(12).reshape(3, 4)
    results = {orient(image, name).tobytes() + bytes(orient(image, name).shape) for name in ORIENTATIONS}
    assert len(results) == 8
    np.testing.assert_array_equal(orient(image, "rot90"), np.rot90(image))
    np.testing.assert_array_equal(orient(image, "rot0+flip"), image[:, ::-1])
