"""The parts of a session: completeness, atomic writes, metrics, export, gains, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import starfile
import tifffile
from hypothesis import given
from hypothesis import strategies as st

import mrcz
from zorro._atomic import write_atomic, write_text_atomic
from zorro.cli import main
from zorro.session import SessionStore
from zorro.session.executors import cluster_from_config
from zorro.session.gains import content_hash, register_gain
from zorro.session.scan import PRESETS, Scanner, glob_regex, incompleteness
from zorro.session.work import frc_resolution, movie_metrics, output_dir


def test_glob_regex_matches_like_pathlib_within_folders():
    epu = glob_regex(PRESETS["epu"].patterns[0])
    assert epu.match("Images-Disc1/GridSquare_7/Data/FoilHole_1_Data_2_3_4_fractions.tiff")
    assert not epu.match("Images-Disc1/GridSquare_7/Data/FoilHole_1_Data_2_3_4.jpg")
    assert not epu.match("Images-Disc1/GridSquare_7/FoilHoles/FoilHole_1_fractions.tiff")
    deep = glob_regex("**/*.tif")
    assert deep.match("a.tif") and deep.match("x/y/a.tif") and not deep.match("x/a.tiff")
    assert glob_regex("m[!0-4].mrc").match("m7.mrc") and not glob_regex("m[!0-4].mrc").match("m3.mrc")


@given(st.from_regex(r"[a-z]{1,6}(/[a-z]{1,6}){0,3}\.mrc", fullmatch=True))
def test_star_stays_in_its_folder(relative):
    assert (glob_regex("*.mrc").match(relative) is not None) == ("/" not in relative)
    assert (glob_regex("*/*.mrc").match(relative) is not None) == (relative.count("/") == 1)
    assert glob_regex("**/*.mrc").match(relative)


def test_scanner_skips_what_is_not_a_movie(tmp_path):
    for name in ("a.mrc", "b.tiff", ".hidden.mrc", "c.mrc.downloading", "CountRef_x.mrc", "x_gain.mrc", "test_1.mrc"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "d.mrc").write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "e.mrc").write_bytes(b"x")
    flat = Scanner(tmp_path, excludes=("test_*",))
    assert sorted(Path(p).name for p, _, _ in flat.scan()) == ["a.mrc", "b.tiff"]
    deep = Scanner(tmp_path, PRESETS["serialem"], prune=(tmp_path / "out",))
    assert sorted(Path(p).name for p, _, _ in deep.scan()) == ["a.mrc", "b.tiff", "e.mrc", "test_1.mrc"]


def test_incompleteness_sees_truncation_in_every_format(tmp_path, small_movie):
    frames = small_movie.frames
    for name, write in (
        ("m.mrc", lambda p: mrcz.write(p, frames, pixel_size=1.0)),
        ("m.mrcz", lambda p: mrcz.write(p, frames, compressor="zstd", pixel_size=1.0)),
        ("m.tiff", lambda p: tifffile.imwrite(p, frames, compression="zlib")),
    ):
        path = tmp_path / name
        write(path)
        assert incompleteness(path) is None, name
        data = path.read_bytes()
        path.write_bytes(data[: int(len(data) * 0.7)])
        assert incompleteness(path) is not None, name
    movie = tmp_path / "Data" / "FoilHole_1_Data_2_fractions.mrc"
    movie.parent.mkdir()
    mrcz.write(movie, frames, pixel_size=1.0)
    assert "FoilHole_1_Data_2.xml" in incompleteness(movie, "epu")
    (movie.parent / "FoilHole_1_Data_2.xml").write_text("<xml/>")
    assert incompleteness(movie, "epu") is None
    assert "m.mrc.mdoc" in incompleteness(tmp_path / "m.mrc", "mdoc")


def test_atomic_write_leaves_the_old_file_on_failure(tmp_path):
    path = tmp_path / "f.txt"
    write_text_atomic(path, "first")

    def broken(tmp: Path) -> None:
        tmp.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomic(path, broken)
    assert path.read_text() == "first"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_metrics_against_an_independent_computation(small_movie_file):
    from zorro.pipeline import process

    result, _ = process(small_movie_file["movie"], small_movie_file["movie"].parent / "o", report=False, band=3)
    m = movie_metrics(result)
    p = result.parameters
    path = [np.hypot(*(result.shifts[k] - result.shifts[k - 1])) for k in range(1, result.frames)]
    assert m["drift_total"] == pytest.approx(sum(path) * p["pixel_size"])
    assert m["drift_early"] + m["drift_late"] == pytest.approx(m["drift_total"])
    exposures = [p["dose_per_area"] * k for k in range(1, result.frames)]
    assert m["drift_early"] == pytest.approx(p["pixel_size"] * sum(d for d, e in zip(path, exposures) if e < 4))
    assert m["dose"] == pytest.approx(p["dose_per_area"] * result.frames)


def test_frc_resolution_interpolates_the_crossing():
    f = np.array([0.0, 0.1, 0.2, 0.3, 0.4, 0.5])
    assert frc_resolution(f, np.array([1, 0.9, 0.5, 0.1, 0, 0]), 2.0) == pytest.approx(2.0 / (0.2 + 0.1 * 0.357 / 0.4))
    assert frc_resolution(f, np.ones(6), 1.5) == pytest.approx(3.0)  # Nyquist
    assert frc_resolution(f, np.zeros(6), 1.5) is None
    assert frc_resolution(f, np.ones(6), None) is None


def test_outputs_mirror_the_input_folders(tmp_path):
    assert output_dir(tmp_path / "in" / "G1" / "Data" / "m.tiff", tmp_path / "in", tmp_path / "out") == (
        tmp_path / "out" / "G1" / "Data"
    )
    assert output_dir(tmp_path / "elsewhere" / "m.tiff", tmp_path / "in", tmp_path / "out") == tmp_path / "out"
    assert output_dir(tmp_path / "m.tiff", None, tmp_path / "out") == tmp_path / "out"


def test_gain_registry_copies_by_content(tmp_path):
    gain = tmp_path / "gain.mrc"
    mrcz.write(gain, np.full((64, 64), 1.5, np.float32), pixel_size=1.0)
    with SessionStore(tmp_path / "out") as store:
        row = register_gain(store, gain, "rot90")
        assert row["hash"] == content_hash(gain) and row["orientation"] == "rot90"
        assert Path(row["copy"]).read_bytes() == gain.read_bytes()
        assert register_gain(store, gain)["orientation"] == "rot90"  # known: kept
        mrcz.write(gain, np.full((64, 64), 2.0, np.float32), pixel_size=1.0, overwrite=True)
        assert register_gain(store, gain)["hash"] != row["hash"]


def test_cluster_config_is_data(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('[cluster]\nkind = "nope"\n')
    with pytest.raises(ValueError, match="kind must be one of"):
        cluster_from_config(config)
    pytest.importorskip("dask_jobqueue")
    config.write_text(
        '[cluster]\nkind = "slurm"\ncores = 8\nmemory = "32GB"\nwalltime = "02:00:00"\nqueue = "gpu"\n'
        'job_extra_directives = ["--gres=gpu:1"]\n'
    )
    cluster = cluster_from_config(config)
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    assert "#SBATCH -p gpu" in script and "#SBATCH --gres=gpu:1" in script and "02:00:00" in script


def _done_session(tmp_path, small_movie_file) -> tuple[Path, Path]:
    """A batch session over three copies of the small movie, one of them corrupt."""
    data = small_movie_file["movie"].read_bytes()
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ("a", "b"):
        (inputs / f"{name}.mrcz").write_bytes(data)
    (inputs / "c.mrcz").write_bytes(data[: len(data) // 2])
    out = tmp_path / "out"
    assert main(["batch", str(inputs / "*.mrcz"), "-o", str(out), "--band", "2", "--no-report", "-q"]) == 1
    return inputs, out


def test_session_commands(tmp_path, small_movie_file, capsys):
    inputs, out = _done_session(tmp_path, small_movie_file)
    capsys.readouterr()
    assert main(["session", "status", str(out), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["counts"]["done"] == 2 and status["counts"]["incomplete"] == 1
    assert status["last_errors"][0]["movie"].endswith("c.mrcz")

    assert main(["session", "export", str(out)]) == 0
    star = starfile.read(out / "corrected_micrographs.star")
    names = [Path(p).name for p in star["micrographs"]["rlnMicrographName"]]
    assert names == ["a_sum_dw.mrcz", "b_sum_dw.mrcz"]
    assert all(Path(p).exists() for p in star["micrographs"]["rlnMicrographMetadata"])
    assert star["optics"]["rlnMicrographOriginalPixelSize"].tolist() == [pytest.approx(1.0)]
    assert (star["micrographs"]["rlnAccumMotionTotal"] > 0).all()
    assert main(["session", "export", str(out), "--max-drift", "0.001"]) == 0
    assert "0 micrographs" in capsys.readouterr().out.splitlines()[-1]
    assert main(["session", "exclude", str(out), str(inputs / "a.mrcz")]) == 0
    assert main(["session", "export", str(out), "--include-rejected"]) == 0
    rows = (out / "session.csv").read_text().splitlines()
    assert len(rows) == 4 and "excluded" in rows[1] and "incomplete" in rows[3]

    # A second batch with the same parameters does nothing; with others, done movies are outdated.
    stamp = (out / "b_sum_dw.mrcz").stat().st_mtime_ns
    main(["batch", str(inputs / "b.mrcz"), "-o", str(out), "--band", "2", "--no-report", "-q"])
    assert (out / "b_sum_dw.mrcz").stat().st_mtime_ns == stamp
    capsys.readouterr()
    assert main(["session", "reprocess", str(out), "--outdated"]) == 0
    assert capsys.readouterr().out.startswith("0 movie(s)")
    # Outputs lost: the movie is redone at the next start.
    (out / "b.star").unlink()
    main(["batch", str(inputs / "b.mrcz"), "-o", str(out), "--band", "2", "--no-report", "-q"])
    assert (out / "b.star").exists() and (out / "b_sum_dw.mrcz").stat().st_mtime_ns != stamp
    # Other parameters: b becomes outdated, and is redone only when asked.
    stamp = (out / "b_sum_dw.mrcz").stat().st_mtime_ns
    assert main(["batch", str(inputs / "b.mrcz"), "-o", str(out), "--band", "3", "--no-report", "-q"]) == 1
    assert "1 movie(s) outdated, not redone" in capsys.readouterr().out
    assert (out / "b_sum_dw.mrcz").stat().st_mtime_ns == stamp
    assert main(["session", "reprocess", str(out), "--outdated"]) == 0
    assert capsys.readouterr().out.startswith("1 movie(s)")
    assert main(["session", "reprocess", str(out), str(inputs / "zzz.mrcz")]) == 2
    assert "no movie" in capsys.readouterr().err
    assert main(["session", "status", str(tmp_path / "nowhere")]) == 2


def test_gain_orientation_is_found_once_and_registered(tmp_path):
    from zorro.session.executors import LocalExecutor
    from zorro.session.session import Session
    from zorro.simulate import simulate, write

    inputs = tmp_path / "in"
    inputs.mkdir()
    movie = simulate(6, (96, 128), dose=8.0, gain=True, gain_orientation="rot270+flip", seed=4)
    paths = write(movie, inputs / "g.mrcz")
    out = tmp_path / "out"
    with SessionStore(out) as store:
        row = register_gain(store, paths["gain"])
    assert row["orientation"] is None
    params = {"format": "mrcz", "save_movie": False, "report": False}
    params["align"] = {"band": 2, "workers": 1, "gain": row["copy"], "gain_orientation": "auto"}
    original = paths["gain"].read_bytes()

    def overwrite_the_gain(progress) -> None:  # the microscope's gain file changes mid-session
        if progress.counts["running"] and paths["gain"].read_bytes() == original:
            mrcz.write(paths["gain"], np.ones((96, 128), np.float32), pixel_size=1.0, overwrite=True)

    executor = LocalExecutor(1)
    try:
        counts = Session(
            out, params, executor, files=[str(paths["movie"])], settle=0.0, poll=0.2,
            gain_source=str(paths["gain"]), on_progress=overwrite_the_gain,
        ).run()  # fmt: skip
    finally:
        executor.close()
    assert counts["done"] == 1
    with SessionStore(out) as store:
        assert store.gain(row["hash"])["orientation"] == "rot270+flip"
        used = store.parameter_set(store.setting("parameters"))
        (changed,) = store.events(kind="gain_changed")
    assert used["align"]["gain_orientation"] == "rot270+flip"
    assert used["align"]["gain"] == row["copy"] and Path(row["copy"]).read_bytes() == original
    assert "this session keeps its copy" in changed["detail"]


def test_the_engine_imports_nothing_of_the_session_layer():
    import subprocess
    import sys

    code = (
        "import sys, zorro, zorro.pipeline, zorro.cli; import zorro.session; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'distributed', 'dask', 'PySide6'}))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"  # Dask only when asked for; no Qt
    code = "import sys, zorro, zorro.pipeline; print([m for m in sys.modules if m.startswith('zorro.session')])"
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"
    )
