"""The session form's settings without Qt: the checks that refuse bad settings, the
``zorro watch`` command they become, and the wall between the GUI and the rest."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from zorro.gui.setup import WatchSettings
from zorro.simulate import simulate, write


def _good(tmp_path) -> WatchSettings:
    (tmp_path / "in").mkdir()
    return WatchSettings(input_dir=str(tmp_path / "in"), out_dir=str(tmp_path / "out"))


def test_good_settings_pass_and_round_trip_through_the_command(tmp_path):
    s = _good(tmp_path)
    s.patterns, s.pixel_size, s.workers, s.settle, s.report = ["*.tif", "**/*.mrc"], 1.25, 3, 4.5, False
    assert s.problems() == {}
    argv = s.argv()
    assert argv[:4] == ["watch", s.input_dir, "--out-dir", s.out_dir]
    assert WatchSettings.from_argv(argv) == s
    assert s.command().startswith("zorro watch ")


def test_bad_settings_are_refused_with_the_reason(tmp_path):
    s = _good(tmp_path)
    (tmp_path / "a_file").write_text("x")
    s.input_dir = str(tmp_path / "missing")
    s.out_dir = str(tmp_path / "a_file" / "out")
    s.pixel_size = -1
    s.where, s.workers = "local", 0
    problems = s.problems()
    assert "no such folder" in problems["input_dir"]
    assert "is not a folder" in problems["out_dir"]
    assert "positive" in problems["pixel_size"]
    assert "at least 1" in problems["workers"]


def test_an_unreadable_gain_is_refused(tmp_path):
    s = _good(tmp_path)
    paths = write(simulate(2, 64, gain=True, seed=1), tmp_path / "movie.mrc")
    s.gain = str(paths["gain"])
    assert s.problems() == {}
    data = paths["gain"].read_bytes()
    paths["gain"].write_bytes(data[: len(data) // 2])  # truncated: header and size disagree
    assert "disagree" in s.problems()["gain"]
    s.gain = str(tmp_path / "nothing.mrc")
    assert "no such file" in s.problems()["gain"]


def test_the_scheduler_must_answer(tmp_path):
    s = _good(tmp_path)
    s.where = "scheduler"
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        s.scheduler = f"tcp://127.0.0.1:{port}"
        assert s.problems() == {}
    assert "no scheduler answers" in s.problems()["scheduler"]  # closed now
    s.scheduler = "http://"
    assert "tcp://HOST:PORT" in s.problems()["scheduler"]


def test_a_cluster_config_must_be_valid(tmp_path):
    s = _good(tmp_path)
    s.where, s.cluster = "cluster", str(tmp_path / "cluster.toml")
    assert "cannot read" in s.problems()["cluster"]
    (tmp_path / "cluster.toml").write_text("[cluster\n")
    assert "not valid TOML" in s.problems()["cluster"]
    (tmp_path / "cluster.toml").write_text('[cluster]\nkind = "kubernetes"\n')
    assert "kind must be" in s.problems()["cluster"]
    (tmp_path / "cluster.toml").write_text('[cluster]\nkind = "local"\nworkers = 2\n')
    assert s.problems() == {}


def test_zorro_engine_and_session_layer_do_not_import_pyside6():
    code = (
        "import sys, zorro, zorro.engine, zorro.session, zorro.session.cli, zorro.session.session, zorro.cli;"
        "zorro.cli.build_parser();"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph', 'shiboken6'));"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("preset", ["flat", "epu", "serialem"])
def test_every_preset_is_accepted_by_zorro_watch(tmp_path, preset):
    s = _good(tmp_path)
    s.preset = preset
    assert s.problems() == {}
    assert WatchSettings.from_argv(s.argv()).preset == preset
