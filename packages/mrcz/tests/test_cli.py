"""Tests for the ``mrcz`` command line (run in-process through ``mrcz.cli.main``)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import mrcz
from mrcz._fei import FEI1_DTYPE, build_fei
from mrcz.cli import main

SHAPE = (5, 64, 48)


@pytest.fixture
def stack() -> np.ndarray:
    return (np.arange(np.prod(SHAPE)).reshape(SHAPE) % 1000).astype(np.uint16)


@pytest.fixture
def mrcz_file(tmp_path: Path, stack: np.ndarray) -> Path:
    path = tmp_path / "movie.mrcz"
    meta = {"detector": "K3", "dose_per_frame": 1.25}
    mrcz.write(path, stack, compressor="zstd", pixel_size=0.83, voltage=300, cs=2.7, gain=1.5, meta=meta)
    return path


@pytest.fixture
def fei_file(tmp_path: Path, stack: np.ndarray) -> Path:
    records = np.zeros(len(stack), dtype=FEI1_DTYPE)
    records["Microscope type"] = b"Krios G4"
    records["HT"] = 300_000.0
    records["Pixel size X"] = 0.83e-10
    records["Dose"] = 42.0
    path = tmp_path / "fei.mrc"
    mrcz.write(path, stack.astype(np.float32), extended_header=build_fei(records), exttyp="FEI1", pixel_size=0.83)
    return path


def test_info_text(mrcz_file: Path, stack: np.ndarray, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", str(mrcz_file)]) == 0
    out = capsys.readouterr().out
    assert "5 x 64 x 48 (image stack)" in out
    assert "uint16 (mode 6)" in out
    assert "little-endian" in out
    assert "guessed" not in out
    assert "0.83 x 0.83 x 0.83 Å" in out
    assert f"dmax {stack.max()}" in out
    assert "dmin 0" in out
    with mrcz.open(mrcz_file) as f:
        size = f.compressed_size
    assert f"zstd: {size} bytes from {stack.nbytes}, ratio {stack.nbytes / size:.3g}" in out
    assert "300 kV, Cs 2.7 mm, gain 1.5" in out
    assert "json" in out
    assert "detector, dose_per_frame" in out
    assert "[0] MRCZ" in out


def test_info_marks_undetermined_statistics(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "c.mrc"
    mrcz.write(path, np.ones((2, 4, 4), np.complex64))  # complex data get the markers
    assert main(["info", str(path)]) == 0
    assert "(undetermined: " in capsys.readouterr().out
    mrcz.write(path, np.ones((2, 4, 4), np.float32), overwrite=True)
    assert main(["info", str(path)]) == 0
    assert "(undetermined: " not in capsys.readouterr().out


def test_info_marks_predecessor_first_frame_statistics(
    fixtures: Path, mrcz_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["info", str(fixtures / "int16_lz4_9_bitshuffle.mrcz"), str(mrcz_file)]) == 0
    theirs, ours = capsys.readouterr().out.split("\n\n")
    assert "of frame 0 only" in theirs
    assert "of frame 0 only" not in ours
    assert main(["info", "--json", str(fixtures / "int16_lz4_9_bitshuffle.mrcz")]) == 0
    assert json.loads(capsys.readouterr().out)["stats_from_first_frame"] is True


def test_info_fei_and_broken_stamp(fei_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    raw = bytearray(fei_file.read_bytes())
    raw[212:216] = bytes(4)  # an all-zero machine stamp, as SerialEM writes
    fei_file.write_bytes(raw)
    assert main(["info", str(fei_file)]) == 0
    out = capsys.readouterr().out
    assert "FEI1, 3840 bytes" in out
    assert "5 of 768 bytes; record 0: Krios G4, HT 300 kV, pixel size 0.83 Å, dose 42" in out
    assert "little-endian (guessed" in out


def test_info_json(mrcz_file: Path, fei_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "--json", str(mrcz_file), str(fei_file)]) == 0
    first, second = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert first["shape"] == list(SHAPE)
    assert first["kind"] == "image stack"
    assert first["dtype"] == "uint16"
    assert first["codec"] == "zstd"
    assert first["voxel_size"] == pytest.approx([0.83] * 3)
    assert first["compression_ratio"] == pytest.approx(first["data_bytes"] / first["compressed_size"])
    assert first["meta"] == {"detector": "K3", "dose_per_frame": 1.25}
    assert first["voltage"] == 300.0
    assert first["byteorder"] == "little"
    assert first["byteorder_from_stamp"] is True
    assert second["codec"] is None
    assert second["compression_ratio"] == 1.0
    assert second["fei"]["records"] == 5
    assert second["fei"]["record_0"]["HT"] == 300_000.0


def test_validate(mrcz_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(mrcz_file)]) == 0
    assert capsys.readouterr().out == f"{mrcz_file}: OK\n"

    damaged = tmp_path / "damaged.mrcz"
    damaged.write_bytes(mrcz_file.read_bytes()[:-100])
    assert main(["validate", str(mrcz_file), str(damaged)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{mrcz_file}: OK"
    assert len(out) > 1
    assert all(line.startswith(f"{damaged}: ") for line in out[1:])
    assert "OK" not in out[-1]


@pytest.mark.parametrize("codec", ["zstd", "lz4", "blosclz"])
def test_compress_decompress_round_trip(
    mrcz_file: Path, tmp_path: Path, stack: np.ndarray, codec: str, capsys: pytest.CaptureFixture[str]
) -> None:
    plain, packed = tmp_path / "plain.mrc", tmp_path / "again.mrcz"
    assert main(["decompress", str(mrcz_file), str(plain)]) == 0
    assert main(["compress", str(plain), str(packed), "--codec", codec, "--level", "5", "--threads", "2"]) == 0
    assert capsys.readouterr().err == ""
    for path, want_codec in ((plain, None), (packed, codec)):
        with mrcz.open(path) as f:
            assert f.header.codec == want_codec
            assert np.array_equal(f.read(), stack)
            assert f.voxel_size == pytest.approx((0.83, 0.83, 0.83))
            assert f.header.voltage == 300.0
            assert f.header.cs == pytest.approx(2.7)
            assert f.meta == {"detector": "K3", "dose_per_frame": 1.25}
    assert mrcz.validate(packed) == []


def test_compress_keeps_volume_and_extended_header(fei_file: Path, tmp_path: Path) -> None:
    volume = np.random.default_rng(0).normal(size=(6, 16, 12)).astype(np.float32)
    mrcz.write(tmp_path / "vol.mrc", volume, volume=True, pixel_size=(1.0, 2.0, 3.0))
    assert main(["compress", str(tmp_path / "vol.mrc"), str(tmp_path / "vol.mrcz"), "--shuffle", "shuffle"]) == 0
    with mrcz.open(tmp_path / "vol.mrcz") as f:
        assert f.header.kind == "volume"
        assert f.voxel_size == pytest.approx((1.0, 2.0, 3.0))
        assert np.array_equal(f.read(), volume)
    assert main(["compress", str(fei_file), str(tmp_path / "fei.mrcz"), "-q"]) == 0
    with mrcz.open(fei_file) as a, mrcz.open(tmp_path / "fei.mrcz") as b:
        assert b.header.exttyp == "FEI1"
        assert b.extended_header == a.extended_header
        assert np.array_equal(a.read(), b.read())


def test_convert_mrc_mrcz(mrcz_file: Path, tmp_path: Path, stack: np.ndarray) -> None:
    assert main(["convert", str(mrcz_file), str(tmp_path / "x.mrc")]) == 0
    assert main(["convert", str(tmp_path / "x.mrc"), str(tmp_path / "y.mrcz")]) == 0
    assert mrcz.read_header(tmp_path / "x.mrc").codec is None
    assert mrcz.read_header(tmp_path / "y.mrcz").codec == "zstd"
    assert np.array_equal(mrcz.read(tmp_path / "y.mrcz"), stack)


def test_convert_tiff_round_trip(mrcz_file: Path, tmp_path: Path, stack: np.ndarray) -> None:
    tifffile = pytest.importorskip("tifffile")
    tif, back = tmp_path / "movie.tif", tmp_path / "back.mrcz"
    assert main(["convert", str(mrcz_file), str(tif)]) == 0
    with tifffile.TiffFile(tif) as t:
        assert len(t.pages) == len(stack)
        assert np.array_equal(t.pages[1].asarray(), stack[1])
    assert main(["convert", str(tif), str(back), "--codec", "lz4"]) == 0
    with mrcz.open(back) as f:
        assert f.header.codec == "lz4"
        assert np.array_equal(f.read(), stack)
        assert f.voxel_size.x == pytest.approx(0.83)
    assert main(["convert", str(mrcz_file), str(tmp_path / "z.tiff"), "--codec", "zlib", "--overwrite"]) == 0
    assert np.array_equal(tifffile.imread(tmp_path / "z.tiff"), stack)


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "missing.mrc"
    for argv in (["info", str(missing)], ["compress", str(missing), str(tmp_path / "out.mrcz")]):
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert err.startswith("mrcz: error: ")
        assert "missing.mrc" in err
        assert "Traceback" not in err
    assert not (tmp_path / "out.mrcz").exists()


def test_same_input_and_output(mrcz_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = mrcz_file.read_bytes()
    assert main(["compress", str(mrcz_file), str(mrcz_file), "--overwrite"]) == 1
    assert "same file" in capsys.readouterr().err
    assert mrcz_file.read_bytes() == before


def test_existing_output_needs_overwrite(mrcz_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.mrc"
    out.write_bytes(b"keep")
    assert main(["decompress", str(mrcz_file), str(out)]) == 1
    assert "--overwrite" in capsys.readouterr().err
    assert out.read_bytes() == b"keep"
    assert main(["decompress", str(mrcz_file), str(out), "--overwrite"]) == 0


def test_not_an_mrc_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junk = tmp_path / "junk.mrc"
    junk.write_bytes(b"\xff" * 2000)
    assert main(["info", str(junk)]) == 1
    assert capsys.readouterr().err.startswith("mrcz: error: ")
    assert main(["validate", str(junk)]) == 1


@pytest.mark.parametrize(
    "argv",
    [
        ["compress", "a.mrc", "b.mrcz", "--codec", "nope"],
        ["compress", "a.mrc", "b.mrcz", "--level", "12"],
        ["info"],
        [],
        ["frobnicate"],
    ],
)
def test_usage_errors(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert "usage: mrcz" in capsys.readouterr().err


def test_convert_codec_needs_compressed_output(mrcz_file: Path, tmp_path: Path) -> None:
    assert main(["convert", str(mrcz_file), str(tmp_path / "x.mrc"), "--codec", "zstd"]) == 2
    assert not (tmp_path / "x.mrc").exists()


@pytest.mark.parametrize("command", ["info", "validate", "compress", "decompress", "convert"])
def test_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: mrcz {command}")
    assert len(out.split()) > 30


def test_python_m_mrcz(mrcz_file: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mrcz", "info", str(mrcz_file)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "5 x 64 x 48 (image stack)" in result.stdout


def test_failed_tiff_conversion_keeps_the_old_output(
    mrcz_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    tifffile = pytest.importorskip("tifffile")
    out = tmp_path / "movie.tif"
    out.write_bytes(b"the previous TIFF")

    def full_disk(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tifffile.TiffWriter, "write", full_disk)
    assert main(["convert", str(mrcz_file), str(out), "--overwrite"]) == 1
    assert "No space" in capsys.readouterr().err
    assert out.read_bytes() == b"the previous TIFF"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
@pytest.mark.parametrize("quiet", [False, True])
def test_progress_bar_on_a_terminal(mrcz_file: Path, tmp_path: Path, quiet: bool) -> None:
    """A progress bar goes to stderr when it is a terminal (and --quiet silences it)."""
    import fcntl
    import pty
    import struct
    import termios

    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))  # a new pty is 0 x 0
    argv = [sys.executable, "-m", "mrcz", "decompress", str(mrcz_file), str(tmp_path / "out.mrc")]
    with subprocess.Popen([*argv, *(["--quiet"] if quiet else [])], stderr=terminal) as proc:
        os.close(terminal)
        shown = b""
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # the terminal closed with the process
                break
            if not chunk:
                break
            shown += chunk
    os.close(controller)
    assert proc.returncode == 0
    assert (b"5/5" in shown) != quiet  # "out.mrc: 100%|...| 5/5 [...]" from tqdm, or the plain counter
    assert np.array_equal(mrcz.read(tmp_path / "out.mrc"), mrcz.read(mrcz_file))


def test_copies_keep_a_crystallographic_map(tmp_path: Path) -> None:
    """A MicroED-like map (space group 4, permuted axes, unit cell != grid, like EMD-3001)
    keeps its axes, space group, NSTART, cell angles, voxel size and labels through
    compress and decompress; a plain-to-plain copy also keeps MX/MY/MZ and CELLA (MRCZ
    files store the voxel size python-mrcz's way, CELLA / N)."""
    mrcfile = pytest.importorskip("mrcfile")
    source = tmp_path / "map.mrc"
    data = np.random.default_rng(8).normal(size=(5, 6, 7)).astype(np.float32)
    with mrcfile.new(str(source)) as m:
        m.set_data(data)
        h = m.header
        h.ispg, h.mapc, h.mapr, h.maps = 4, 3, 1, 2
        h.mx, h.my, h.mz = 40, 12, 72
        h.cella = (17.93, 4.71, 33.03)
        h.cellb = (90.0, 94.326, 90.0)
        h.nxstart, h.nystart, h.nzstart = 0, -21, -12
        m.update_header_stats()
        m.add_label("::::EMDATABANK.org::::EMD-3001::::")
    assert main(["compress", str(source), str(tmp_path / "map.mrcz")]) == 0
    assert main(["decompress", str(tmp_path / "map.mrcz"), str(tmp_path / "back.mrc")]) == 0
    assert main(["convert", str(source), str(tmp_path / "copy.mrc")]) == 0
    kept = ("nxstart", "nystart", "nzstart", "cellb", "mapc", "mapr", "maps", "ispg")
    with mrcfile.open(str(source)) as m:
        want = {w: m.header[w].copy() for w in (*kept, "mx", "my", "mz", "cella")}
        voxel = m.voxel_size.copy()
    for name, words in (("back.mrc", kept), ("copy.mrc", want)):
        with mrcfile.open(str(tmp_path / name)) as m:
            for w in words:
                np.testing.assert_array_equal(m.header[w], want[w], err_msg=f"{name} {w}")
            for axis in "xyz":
                assert m.voxel_size[axis] == pytest.approx(voxel[axis], rel=1e-6)
            np.testing.assert_array_equal(m.data, data)
        assert mrcfile.validate(str(tmp_path / name), print_file=io.StringIO())
    compressed = mrcz.read_header(tmp_path / "map.mrcz")
    assert (compressed.ispg, tuple(compressed.raw[["mapc", "mapr", "maps"]].item())) == (4, (3, 1, 2))
    history = mrcz.read_header(source).labels  # mrcfile's "Created by" label, then EMDB's
    labels = mrcz.read_header(tmp_path / "back.mrc").labels
    assert labels[0] == "MRCZ1.0.0" and labels[1:3] == history
    assert [text.split(":")[0] for text in labels[3:]] == ["mrcz 1.0.0"] * 2  # one stamp per copy
