"""Output files: STAR read back with starfile, JSON, sums, report; the command line."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import starfile
import tifffile

import mrcz
import zorro
from zorro.cli import main
from zorro.outputs import movie_stem


@pytest.fixture(scope="module")
def aligned(tmp_path_factory, small_movie_file):
    out = tmp_path_factory.mktemp("out")
    assert main(["align", str(small_movie_file["movie"]), "--out-dir", str(out), "--band", "3"]) == 0
    return out


def test_outputs_exist_and_nothing_temporary_is_left(aligned):
    names = sorted(p.name for p in aligned.iterdir())
    assert names == ["small.json", "small.star", "small_report.png", "small_sum.mrcz", "small_sum_dw.mrcz"]


def test_star_file_reads_back_with_starfile(aligned, small_movie):
    star = starfile.read(aligned / "small.star", always_dict=True)
    general = star["general"]
    general = general.iloc[0] if hasattr(general, "iloc") else general
    assert int(general["rlnImageSizeX"]) == 256 and int(general["rlnImageSizeY"]) == 256
    assert int(general["rlnImageSizeZ"]) == 8
    assert general["rlnMicrographMovieName"] == "small.mrcz"
    assert float(general["rlnMicrographBinning"]) == 1.0
    assert float(general["rlnMicrographOriginalPixelSize"]) == pytest.approx(1.0)
    assert float(general["rlnMicrographDoseRate"]) == pytest.approx(2.0)
    assert float(general["rlnMicrographPreExposure"]) == 0.0
    assert float(general["rlnVoltage"]) == pytest.approx(300.0)
    shifts = star["global_shift"]
    assert list(shifts["rlnMicrographFrameNumber"]) == list(range(1, 9))
    found = np.stack([shifts["rlnMicrographShiftY"], shifts["rlnMicrographShiftX"]], axis=1)
    assert np.array_equal(found[0], [0.0, 0.0])
    # The same convention as the simulator's truth (translation aligning frame k with frame 1).
    d = found - small_movie.shifts
    assert np.sqrt(((d - d.mean(axis=0)) ** 2).sum(axis=1).mean()) < 0.15


def test_json_has_trajectory_errors_parameters_timings_versions(aligned):
    record = json.loads((aligned / "small.json").read_text())
    assert [f["frame"] for f in record["frames"]] == list(range(1, 9))
    assert all(f["error_x"] >= 0 and f["error_y"] >= 0 for f in record["frames"])
    assert record["parameters"]["band"] == 3
    assert record["parameters"]["pixel_size"] == pytest.approx(1.0)
    assert record["timings_s"]["total"] > 0
    assert record["versions"]["zorro"] == zorro.__version__
    assert record["versions"]["mrcz"] == mrcz.__version__
    assert record["versions"]["numexpr3"]


def test_sums_carry_the_pixel_size(aligned):
    for name in ("small_sum.mrcz", "small_sum_dw.mrcz"):
        with mrcz.open(aligned / name) as f:
            assert f.voxel_size.x == pytest.approx(1.0)
            assert f.shape == (256, 256)
    assert (aligned / "small_report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plain_mrc_sums_and_the_aligned_movie(tmp_path, small_movie_file, small_movie):
    code = main(
        [
            "align",
            str(small_movie_file["movie"]),
            "-o",
            str(tmp_path),
            "--format",
            "mrc",
            "--save-movie",
            "--no-report",
            "--band",
            "2",
        ]
    )
    assert code == 0
    assert {p.name for p in tmp_path.iterdir()} == {
        "small_sum.mrc",
        "small_sum_dw.mrc",
        "small.star",
        "small.json",
        "small_aligned.mrcs",
    }
    header = mrcz.read_header(tmp_path / "small_sum.mrc")
    assert not header.compressed
    aligned = mrcz.read(tmp_path / "small_aligned.mrcs")
    total = mrcz.read(tmp_path / "small_sum.mrc")
    assert aligned.shape == small_movie.frames.shape
    np.testing.assert_allclose(aligned.sum(axis=0), total, rtol=1e-4, atol=1e-2)


def test_a_tiff_without_pixel_size_aligns_without_dose_weighting(tmp_path, small_movie, caplog):
    """Only dose weighting needs the pixel size: the rest is written, the STAR file says 1 Å/px
    (RELION's "uncalibrated"), and the log, the JSON and the report say what was skipped."""
    movie = tmp_path / "bare.tif"
    tifffile.imwrite(movie, small_movie.frames)  # no metadata at all
    out = tmp_path / "out"
    assert main(["align", str(movie), "--out-dir", str(out)]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["bare.json", "bare.star", "bare_report.png", "bare_sum.mrcz"]
    assert any("--pixel-size" in r.getMessage() and r.levelname == "WARNING" for r in caplog.records)
    record = json.loads((out / "bare.json").read_text())
    assert record["parameters"]["pixel_size"] is None and record["parameters"]["dose_weighting"] is None
    assert any("--pixel-size" in note for note in record["notes"])
    general = starfile.read(out / "bare.star", always_dict=True)["general"]
    general = general.iloc[0] if hasattr(general, "iloc") else general
    assert float(general["rlnMicrographOriginalPixelSize"]) == 1.0
    assert float(general["rlnMicrographDoseRate"]) == 0.0
    found = np.array([[f["shift_y"], f["shift_x"]] for f in record["frames"]])
    d = found - small_movie.shifts
    assert np.sqrt(((d - d.mean(axis=0)) ** 2).sum(axis=1).mean()) < 0.15
    assert mrcz.read(out / "bare_sum.mrcz").shape == (256, 256)


def test_movie_stem():
    assert movie_stem("/a/b/movie_001.mrcz") == "movie_001"
    assert movie_stem("x.tiff") == "x"
    assert movie_stem("y.frames.mrcs") == "y.frames"


def test_every_command_has_complete_help():
    for args in ([], ["align"], ["batch"], ["simulate"], ["gain-orient"]):
        out = subprocess.run(
            [sys.executable, "-m", "zorro", *args, "--help"], capture_output=True, text=True, check=False
        )
        assert out.returncode == 0, out.stderr
        assert "usage: zorro" in out.stdout
    top = subprocess.run([sys.executable, "-m", "zorro", "--help"], capture_output=True, text=True, check=False).stdout
    for command in ("align", "batch", "simulate", "gain-orient"):
        assert command in top


def test_simulate_and_gain_orient_commands(tmp_path, capsys):
    assert (
        main(
            [
                "simulate",
                str(tmp_path / "m.mrcz"),
                "-n",
                "4",
                "--size",
                "96",
                "128",
                "--dose",
                "8",
                "--gain",
                "--gain-orientation",
                "rot180+flip",
                "--seed",
                "2",
            ]
        )
        == 0
    )
    truth = json.loads((tmp_path / "m_truth.json").read_text())
    assert truth["shape"] == [96, 128] and truth["gain_orientation"] == "rot180+flip"
    capsys.readouterr()
    assert main(["gain-orient", str(tmp_path / "m_gain.mrc"), str(tmp_path / "m.mrcz")]) == 0
    assert "--gain-orientation rot180+flip" in capsys.readouterr().out


def test_align_command_reports_bad_input(tmp_path, capsys):
    bad = tmp_path / "bad.mrc"
    mrcz.write(bad, np.ones((64, 64), np.float32), pixel_size=1.0)
    assert main(["align", str(bad), "-o", str(tmp_path / "out")]) == 1
    assert "not a movie" in capsys.readouterr().err


def test_batch_goes_on_past_a_corrupt_movie(tmp_path, small_movie_file, capsys):
    data = small_movie_file["movie"].read_bytes()
    for name in ("a", "c"):
        (tmp_path / f"{name}.mrcz").write_bytes(data)
    (tmp_path / "b.mrcz").write_bytes(data[: len(data) // 3])  # truncated
    out = tmp_path / "out"
    code = main(["batch", str(tmp_path / "*.mrcz"), "-o", str(out), "--workers", "2", "--band", "2", "--no-report"])
    captured = capsys.readouterr()
    assert code == 1
    assert "2 of 3 movies aligned, 1 failed" in captured.out
    assert "b.mrcz" in captured.out and "FAILED" in captured.err
    assert (out / "a_sum.mrcz").exists() and (out / "c_sum.mrcz").exists()
    assert not (out / "b_sum.mrcz").exists() and not (out / "b.star").exists()


def test_batch_with_nothing_to_do(tmp_path, capsys):
    assert main(["batch", str(tmp_path / "*.mrcz"), "-o", str(tmp_path)]) == 2
    assert "no movies match" in capsys.readouterr().err
