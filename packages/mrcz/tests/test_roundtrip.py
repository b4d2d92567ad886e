"""Round trips over dtypes, shapes, codecs, byte orders and metadata, checked against
numpy (the data and its statistics) and mrcfile (validation and reading)."""

from __future__ import annotations

import io
import warnings

import mrcfile
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import mrcz

CODECS = [None, "zstd", "lz4", "lz4hc", "blosclz", "zlib"]
DTYPES = ["i1", "u1", "i2", "u2", "f4", "f2", "c8"]


UNDETERMINED = (0.0, -1.0, -2.0, -1.0)  # MRC2014's "not well determined" statistics


def stats_reference(data: np.ndarray) -> tuple[float, float, float, float]:
    """The statistics a header should hold: exact, or undetermined where readers disagree
    (complex data; uint8 above 127, which mrcfile and python-mrcz read as int8)."""
    if data.dtype.kind == "c" or (data.dtype == np.uint8 and data.max() > 127):
        return UNDETERMINED
    values = data.astype(np.float64)
    return float(values.min()), float(values.max()), float(values.mean()), float(values.std())


def frames_shapes(draw_ndim):
    return hnp.array_shapes(min_dims=draw_ndim, max_dims=draw_ndim, min_side=1, max_side=12)


@st.composite
def arrays(draw):
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    ndim = draw(st.sampled_from([2, 3, 4]))
    shape = draw(frames_shapes(ndim))
    if ndim == 3 and shape[0] == 1:
        shape = (2, *shape[1:])  # a one-frame stack is an image
    if dtype.kind == "f":
        elements = st.floats(-1e4, 1e4, width=dtype.itemsize * 8, allow_nan=False)
    elif dtype.kind == "c":
        elements = st.complex_numbers(max_magnitude=1e4, allow_nan=False, allow_infinity=False, width=64)
    else:
        elements = None
    return draw(hnp.arrays(dtype, shape, elements=elements))


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    data=arrays(),
    codec=st.sampled_from(CODECS),
    shuffle=st.sampled_from(["bitshuffle", "shuffle", "none"]),
    byteorder=st.sampled_from(["<", ">"]),
    clevel=st.integers(0, 9),
    threads=st.sampled_from([1, 2, 3]),
    volume=st.booleans(),
    meta=st.none() | st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=8), max_size=3),
)
def test_write_read_round_trip(tmp_path, data, codec, shuffle, byteorder, clevel, threads, volume, meta):
    path = tmp_path / "x.mrcz"
    header = mrcz.write(
        path, data, compressor=codec, clevel=clevel, shuffle=shuffle, threads=threads, byteorder=byteorder,
        volume=volume, meta=meta, pixel_size=(1.5, 2.0, 2.5), overwrite=True,
    )  # fmt: skip
    back = mrcz.read(path, threads=threads)
    assert back.dtype == data.dtype
    assert back.shape == data.shape
    assert back.tobytes() == data.tobytes()
    assert header.byteorder == byteorder
    assert header.voxel_size == pytest.approx((1.5, 2.0, 2.5))
    want = stats_reference(data)
    got = (header.dmin, header.dmax, header.dmean, header.rms)
    assert got == pytest.approx(want, rel=1e-5, abs=1e-3)
    with mrcz.open(path) as f:
        assert f.meta == (meta or {})
        assert mrcz.validate(path) == []
        if data.ndim >= 3:
            assert np.array_equal(f.read(slice(None, None, -1)), data[::-1])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ndim", [2, 3, 4])
def test_plain_files_validate_and_read_identically_in_mrcfile(tmp_path, dtype, ndim):
    rng = np.random.default_rng(ndim)
    shape = (3, 4, 10, 7)[-ndim:]
    # mrcfile computes float16 statistics in float16, so keep their sums small.
    values = rng.normal(0, 1 if dtype == "f2" else 30, size=shape)
    values = np.abs(values) if dtype[0] == "u" else values
    data = values.astype(dtype) if dtype[0] != "c" else (
        rng.normal(size=shape) + 1j * rng.normal(size=shape)).astype(dtype)  # fmt: skip
    if dtype == "u1":
        data = rng.integers(0, 256, size=shape, dtype=np.uint8)  # values above 127 too
    path = tmp_path / "x.mrc"
    mrcz.write(path, data, pixel_size=1.25, volume=ndim == 3 and dtype == "f4")
    log = io.StringIO()
    assert mrcfile.validate(str(path), print_file=log), log.getvalue()
    with mrcfile.open(path) as m:
        theirs = m.data
        assert theirs.shape == data.shape
        # mrcfile reads mode 0 as int8, whatever IMOD's flags say.
        assert np.array_equal(theirs, data.view(np.int8) if dtype == "u1" else data)
        assert m.voxel_size.x == pytest.approx(1.25)
        assert m.voxel_size.z == pytest.approx(1.25)


def mrcfile_write(path, data, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # mrcfile warns about its own conversions
        with mrcfile.new(path, overwrite=True) as m:
            m.set_data(data)
            for key, value in kw.items():
                setattr(m, key, value)


@pytest.mark.parametrize("dtype", ["i1", "i2", "f4", "c8", "u2", "f2", ">f4", ">i2"])
def test_files_written_by_mrcfile_read_identically(tmp_path, dtype):
    rng = np.random.default_rng(7)
    data = rng.integers(-100, 100, size=(4, 9, 11)).astype(dtype)
    path = tmp_path / "m.mrc"
    mrcfile_write(path, data, voxel_size=(1.1, 1.2, 1.3))
    back = mrcz.read(path)
    assert np.array_equal(back, data)
    assert back.dtype == data.dtype.newbyteorder("=")
    header = mrcz.read_header(path)
    assert header.voxel_size == pytest.approx((1.1, 1.2, 1.3), rel=1e-6)
    assert header.byteorder == (">" if dtype.startswith(">") else "<")


def test_mrcfile_volume_and_volume_stack(tmp_path):
    data = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    path = tmp_path / "vs.mrc"
    mrcfile_write(path, data)
    assert mrcz.read_header(path).kind == "volume stack"
    assert np.array_equal(mrcz.read(path), data)
    assert np.array_equal(mrcz.read(path, frames=1), data[1])
    volume = data[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with mrcfile.new(tmp_path / "v.mrc") as m:
            m.set_data(volume)
            m.set_volume()
    assert mrcz.read_header(tmp_path / "v.mrc").kind == "volume"
    assert np.array_equal(mrcz.read(tmp_path / "v.mrc"), volume)


def test_uint8_is_mode_0_marked_unsigned_never_wrapped(tmp_path):
    data = np.array([[0, 1, 127, 128, 255]], dtype=np.uint8).repeat(3, axis=0)
    mrcz.write(tmp_path / "u.mrc", data)
    header = mrcz.read_header(tmp_path / "u.mrc")
    assert header.mode == 0
    assert header.dtype == np.uint8
    # Read as int8 (mrcfile, python-mrcz) these bytes have other statistics: undetermined.
    assert (header.dmin, header.dmax, header.dmean, header.rms) == UNDETERMINED
    assert mrcfile.validate(str(tmp_path / "u.mrc"), print_file=io.StringIO())
    assert mrcz.validate(tmp_path / "u.mrc") == []
    assert np.array_equal(mrcz.read(tmp_path / "u.mrc"), data)
    mrcz.write(tmp_path / "s.mrc", data.view(np.int8))
    assert mrcz.read(tmp_path / "s.mrc").dtype == np.int8
    # mrcfile reads mode 0 as signed, so values above 127 need mode 6 there.
    mrcz.write(tmp_path / "w.mrc", data, mode=6)
    assert mrcfile.validate(str(tmp_path / "w.mrc"), print_file=io.StringIO())
    assert np.array_equal(mrcfile.read(tmp_path / "w.mrc"), data)
    assert mrcz.read(tmp_path / "w.mrc").dtype == np.uint16


def test_uint8_up_to_127_keeps_exact_statistics(tmp_path):
    data = np.array([[0, 3, 127]], dtype=np.uint8)
    header = mrcz.write(tmp_path / "u.mrc", data)
    assert (header.dmin, header.dmax, header.dmean) == pytest.approx((0, 127, 130 / 3))
    assert mrcfile.validate(str(tmp_path / "u.mrc"), print_file=io.StringIO())


def test_json_metadata_is_mrcfiles_only_complaint(tmp_path):
    """Plain files with meta= keep python-mrcz's EXTTYP 'json' (so `mrcz decompress` keeps
    metadata), the one thing mrcfile's validator does not accept."""
    path = tmp_path / "meta.mrc"
    mrcz.write(path, np.arange(24, dtype=np.float32).reshape(2, 3, 4), meta={"dose": 1.5}, pixel_size=1.0)
    log = io.StringIO()
    assert not mrcfile.validate(str(path), print_file=log)
    complaints = log.getvalue().splitlines()[1:]  # after "Checking if ... is a valid MRC2014 file..."
    assert complaints == ["Extended header type is undefined or unrecognised: exttyp = 'json'"]
    assert mrcz.validate(path) == []


KINDS = {
    "image": ((5, 6), False),
    "image stack": ((3, 5, 6), False),
    "volume": ((4, 5, 6), True),
    "volume stack": ((2, 3, 5, 6), False),
}


@pytest.mark.parametrize("codec", [None, "zstd"])
@pytest.mark.parametrize("kind", KINDS)
def test_mz_follows_the_standard_for_mrc_and_python_mrcz_for_mrcz(tmp_path, kind, codec):
    shape, volume = KINDS[kind]
    data = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    path = tmp_path / "k.mrcz"
    header = mrcz.write(path, data, compressor=codec, volume=volume, pixel_size=(1.5, 2.0, 2.5))
    nz = int(np.prod(shape[:-2]))
    sections = shape[1] if kind == "volume stack" else None
    if codec is None:
        # MRC2014: MZ = 1 for images and stacks, NZ for a volume, sections per volume.
        assert header.mz == sections or (nz if kind == "volume" else 1)
        assert header.raw["cella"][2] == pytest.approx(2.5 * header.mz)
        with mrcfile.open(path) as m:
            assert m.voxel_size.z == pytest.approx(2.5)
    else:
        # python-mrcz 0.6 returns one array only for MZ = 0 (a list of volumes for MZ = k)
        # and reads the voxel size as CELLA / N.
        assert header.mz == (sections or 0)
        assert header.raw["cella"][2] == pytest.approx(2.5 * nz)
    assert header.kind == kind
    assert header.voxel_size == pytest.approx((1.5, 2.0, 2.5))
    back = mrcz.read(path)
    assert back.shape == data.shape
    assert np.array_equal(back, data)
    assert mrcz.validate(path) == []


def test_float64_is_narrowed_with_a_warning(tmp_path):
    with pytest.warns(UserWarning, match="float32"):
        mrcz.write(tmp_path / "d.mrc", np.ones((4, 4)))
    assert mrcz.read(tmp_path / "d.mrc").dtype == np.float32


@pytest.mark.parametrize("dtype", ["i4", "u4", "i8", "O", "U3"])
def test_unsupported_dtypes_are_refused_clearly(tmp_path, dtype):
    with pytest.raises(TypeError, match="MRC"):
        mrcz.write(tmp_path / "bad.mrc", np.zeros((2, 2), dtype=dtype))
    assert not list(tmp_path.iterdir())


def test_nan_data_writes_undetermined_statistics(tmp_path):
    data = np.ones((3, 4), dtype=np.float32)
    data[1, 2] = np.nan
    header = mrcz.write(tmp_path / "n.mrc", data)
    assert header.dmax < header.dmin  # MRC2014's "not well determined"
    assert header.rms < 0
    assert mrcz.validate(tmp_path / "n.mrc") == []


def test_mode3_complex_int16(tmp_path):
    dtype = np.dtype([("real", "i2"), ("imag", "i2")])
    data = np.zeros((2, 3, 4), dtype=dtype)
    data["real"] = np.arange(24).reshape(2, 3, 4)
    data["imag"] = -7
    for codec in (None, "zstd"):
        mrcz.write(tmp_path / "c.mrc", data, compressor=codec, byteorder=">", overwrite=True)
        assert mrcz.read(tmp_path / "c.mrc").tobytes() == data.tobytes()


def test_writemrc_uint4_packs_like_python_mrcz(tmp_path):
    data = np.random.default_rng(4).integers(0, 16, size=(3, 5, 8), dtype=np.uint8)
    path = tmp_path / "u4.mrc"
    mrcz.writeMRC(data, path, dtype="uint4")
    header = mrcz.read_header(path)
    assert header.mode == 101
    # python-mrcz 0.6: first pixel in the low nibble, `x[..., ::2] + (x[..., 1::2] << 4)`.
    packed = data[..., ::2] + np.left_shift(data[..., 1::2], 4)
    assert path.read_bytes()[header.data_offset :] == packed.tobytes()
    assert np.array_equal(mrcz.readMRC(path)[0], data)


@pytest.mark.parametrize("marked_by", ["imod flag", "serialem label"])
def test_serialem_half_width_4bit_files(tmp_path, marked_by):
    """SerialEM's older 4-bit frames: mode 0 bytes with NX = half the pixels, two values per
    byte (first in the low nibble), marked by imodFlags 16 or its "4 bits packed" label."""
    values = np.random.default_rng(9).integers(0, 16, size=(3, 6, 10), dtype=np.uint8)
    packed = values[..., ::2] | values[..., 1::2] << 4
    path = tmp_path / "k2.mrc"
    mrcz.write(path, packed, pixel_size=0.5)
    raw = bytearray(path.read_bytes())
    if marked_by == "imod flag":
        raw[156:160] = (16).to_bytes(4, "little")  # unsigned too (bit 0 clear)
    else:
        raw[220:224] = (1).to_bytes(4, "little")  # NLABL: SerialEM's one label
        raw[224:1024] = b"SerialEMCCD: Dose frac. image, 4 bits packed  r/f 0".ljust(800, b"\0")
    path.write_bytes(bytes(raw))
    header = mrcz.read_header(path)
    assert (header.mode, header.nx, header.dtype) == (101, 10, np.uint8)
    assert header.voxel_size.x == pytest.approx(0.5)
    assert np.array_equal(mrcz.read(path), values)
    assert np.array_equal(mrcz.read(path, frames=[2, 0]), values[[2, 0]])
    assert mrcz.validate(path) == []


def test_plain_bytes_are_not_taken_for_4bit_data(tmp_path):
    data = np.arange(60, dtype=np.uint8).reshape(6, 10)
    mrcz.write(tmp_path / "b.mrc", data, labels=["4 bits packed", "a second label"])
    assert mrcz.read_header(tmp_path / "b.mrc").mode == 0
    assert np.array_equal(mrcz.read(tmp_path / "b.mrc"), data)


def test_writemrc_idx_writes_into_an_existing_file(tmp_path):
    path = tmp_path / "s.mrc"
    stack = np.arange(4 * 3 * 2, dtype=np.float32).reshape(4, 3, 2)
    new = -np.ones((3, 3, 2), dtype=np.float32)
    mrcz.writeMRC(stack, path, meta={"run": 7}, voltage=300.0, pixelsize=[2.0, 1.5, 1.5], endian="be")
    first_stamp = mrcz.read_header(path).labels[1]
    mrcz.writeMRC(new, path, idx=2)  # replaces frames 2 and 3, appends one
    labels = mrcz.read_header(path).labels
    assert len(labels) == 3 and labels[1] == first_stamp  # the history is kept, a stamp added
    expected = np.concatenate([stack[:2], new])
    data, header = mrcz.readMRC(path)
    assert np.array_equal(data, expected)
    assert header["run"] == 7
    assert header["voltage"] == 300.0
    assert header["pixelsize"] == pytest.approx([2.0, 1.5, 1.5])
    assert mrcz.read_header(path).byteorder == ">"
    mrcz.writeMRC(new[0], path, idx=-1)
    expected[-1] = new[0]
    mrcz.writeMRC(stack[:1], path, idx=len(expected))  # idx = NZ appends
    assert np.array_equal(mrcz.read(path), np.concatenate([expected, stack[:1]]))
    assert mrcz.validate(path) == []
    with pytest.raises(ValueError, match="outside"):
        mrcz.writeMRC(new, path, idx=99)
    mrcz.writeMRC(stack, tmp_path / "c.mrcz", compressor="zstd")
    with pytest.raises(ValueError, match="uncompressed"):
        mrcz.writeMRC(new, tmp_path / "c.mrcz", idx=0)
    with pytest.raises(ValueError, match="existing file"):
        mrcz.writeMRC(new, tmp_path / "missing.mrc", idx=1)


def test_async_aliases_mirror_the_synchronous_signatures(tmp_path):
    import inspect

    for sync, background in ((mrcz.readMRC, mrcz.asyncReadMRC), (mrcz.writeMRC, mrcz.asyncWriteMRC)):
        assert inspect.signature(background).parameters == inspect.signature(sync).parameters
    data = np.arange(12, dtype=np.int16).reshape(3, 4)
    mrcz.asyncWriteMRC(data, tmp_path / "a.mrcz", compressor="lz4", voltage=200.0).result()
    back, header = mrcz.asyncReadMRC(tmp_path / "a.mrcz", pixelunits="nm").result()
    assert np.array_equal(back, data)
    assert header["voltage"] == 200.0


def test_open_overloads_spell_out_the_reader_and_writer_keywords():
    import inspect
    import typing

    def keywords(function, skip):
        return list(inspect.signature(function).parameters.values())[skip:]

    reading, writing = typing.get_overloads(mrcz.open)
    assert keywords(reading, 2) == keywords(mrcz.MrcFile.__init__, 2)  # after (path, mode) and (self, path)
    assert keywords(writing, 2) == keywords(mrcz.MrcWriter.__init__, 2)
    with pytest.raises(ValueError, match="mode must be 'r' or 'w'"):
        mrcz.open("unused.mrc", "a")


def test_write_options_are_checked_before_anything_is_written(tmp_path):
    data = np.zeros((2, 4, 4), np.float32)
    for options, message in [
        ({"origin": (1.0, 2.0)}, "origin must be"),
        ({"chunk_format": "blosc3", "compressor": "zstd"}, "chunk_format must be"),
        ({"compressor": "snappy"}, "compressor must be"),
    ]:
        with pytest.raises(ValueError, match=message):
            mrcz.write(tmp_path / "x.mrcz", data, **options)
    assert list(tmp_path.iterdir()) == []
