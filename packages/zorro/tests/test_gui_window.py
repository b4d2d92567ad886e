"""The Automator window end to end, offscreen: real widgets (pytest-qt), a real ``zorro watch``
process with 2 workers aligning small simulated movies, the real session store."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")
pytest.importorskip("pytestqt")

import starfile
from PySide6.QtCore import QPointF, QSettings, Qt, QTimer
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication, QMessageBox

from zorro.gui import runner
from zorro.gui.window import MainWindow
from zorro.session import SessionStore
from zorro.session.export import Filters
from zorro.simulate import simulate, write

WAIT = 240_000  # ms: generous, the machine may be busy


def _movie(folder, k: int) -> None:
    write(simulate(6, 128, dose=3.0, drift="linear", amplitude=0.4 + 0.5 * k, seed=k), folder / f"movie{k}.mrcz")


def _states(window) -> dict[str, str]:
    return {r["name"]: r["state"] for r in window.model.rows}


class _Latency:
    """How late a 10 ms timer fires: the event loop's latency."""

    def __init__(self):
        self.gaps: list[float] = []
        self._last = time.perf_counter()
        self.timer = QTimer()
        self.timer.timeout.connect(self._tick)
        self.timer.start(10)

    def _tick(self) -> None:
        now = time.perf_counter()
        self.gaps.append(now - self._last - 0.010)
        self._last = now


def _answer_close(button_text: str) -> None:
    """Click a button of the close question once it is shown."""

    def click() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(50, click)
            return
        next(b for b in box.buttons() if b.text() == button_text).click()

    QTimer.singleShot(50, click)


def _click_point(plots, key: str, movie_id: int, qtbot) -> None:
    """A real mouse click on a movie's point in a scatter plot."""
    points = plots._scatters[key][0]
    x, y, ids = plots.points(key)
    k = int(np.flatnonzero(ids == movie_id)[0])
    scene = points.mapToScene(QPointF(x[k], y[k]))
    qtbot.mouseClick(plots.viewport(), Qt.MouseButton.LeftButton, pos=plots.mapFromScene(scene))


@pytest.fixture
def folders(tmp_path):
    """in/ and out/; a watcher the test leaves running is stopped (through the store) at the end."""
    in_dir, out_dir = tmp_path / "in", tmp_path / "out"
    yield in_dir, out_dir
    if runner.watcher(out_dir):
        runner.run_cli(["session", "stop", str(out_dir)])
        deadline = time.monotonic() + 60
        while runner.watcher(out_dir) and time.monotonic() < deadline:
            time.sleep(0.2)


def test_configure_run_follow_curate_export_close_reopen(qtbot, tmp_path, folders):
    in_dir, out_dir = folders
    in_dir.mkdir()
    for k in range(3):
        _movie(in_dir, k)
    prefs = QSettings(str(tmp_path / "prefs.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings=prefs, poll_ms=200)
    qtbot.addWidget(window)
    window.show()

    _refuses_bad_settings(window, tmp_path / "nowhere", out_dir)
    _starts_and_aligns(window, qtbot, in_dir, out_dir)
    _pauses_and_resumes(window, qtbot, in_dir, out_dir)
    _shows_a_clicked_movie(window, qtbot)
    results = _sorts_like_the_store(window, out_dir)
    expected, excluded = _curates(window, results)
    _exports(window, out_dir, expected, excluded)
    _closes_and_reopens(window, qtbot, prefs, out_dir, excluded)


def _refuses_bad_settings(window, nowhere, out_dir) -> None:
    """Bad settings are refused, with the reason next to the field."""
    form = window.form
    form.input_dir.setText(str(nowhere))
    form.out_dir.setText(str(out_dir))
    assert not form.try_start()
    assert "no such folder" in form.reasons["input_dir"].text()
    assert not out_dir.exists()


def _starts_and_aligns(window, qtbot, in_dir, out_dir) -> None:
    """Configure and start 2 local workers; the window follows them without stalling its event loop."""
    form = window.form
    form.input_dir.setText(str(in_dir))
    form.pixel_size.setValue(1.0)
    form.settle.setValue(0.5)
    form.poll.setValue(0.3)
    form.workers.setValue(2)
    latency = _Latency()
    assert form.try_start()
    assert form.reasons["input_dir"].text() == ""
    qtbot.waitUntil(lambda: runner.watcher(out_dir) is not None, timeout=WAIT)
    qtbot.waitUntil(lambda: len(window.model.rows) == 3, timeout=WAIT)
    qtbot.waitUntil(lambda: set(_states(window).values()) == {"done"}, timeout=WAIT)
    latency.timer.stop()
    assert np.percentile(latency.gaps, 95) < 0.100, f"event loop late by up to {max(latency.gaps):.3f} s"
    assert "done 3" in window.counts_label.text()


def _pauses_and_resumes(window, qtbot, in_dir, out_dir) -> None:
    """Pause: a new movie waits ready; resume: it is aligned."""
    window.session_actions["pause"].trigger()
    with SessionStore(out_dir, create=False) as store:
        assert store.setting("control") == "pause"
    _movie(in_dir, 3)
    qtbot.waitUntil(lambda: _states(window).get("movie3.mrcz") == "ready", timeout=WAIT)
    qtbot.wait(1500)
    assert _states(window)["movie3.mrcz"] == "ready"
    assert "(paused)" in window.watcher_label.text()
    window.session_actions["resume"].trigger()
    qtbot.waitUntil(lambda: _states(window).get("movie3.mrcz") == "done", timeout=WAIT)


def _shows_a_clicked_movie(window, qtbot) -> None:
    """Select a movie by clicking its point: the detail pane shows its sum, trajectory, report."""
    target = next(r for r in window.model.rows if r["name"] == "movie2.mrcz")
    _click_point(window.plots, "drift_total", target["id"], qtbot)
    assert window.current_movie() == target["id"]
    assert window.detail.shown["path"] == target["path"]
    assert not window.detail.report.pixmap().isNull()
    low, high = window.detail.levels()
    window.detail.contrast.setValue(window.detail.contrast.value() * 2)
    wider = window.detail.levels()
    assert wider[1] - wider[0] == pytest.approx(2 * (high - low), rel=1e-3)


def _sorts_like_the_store(window, out_dir) -> list[dict]:
    """The table sorts by drift like the store's numbers do; returns the store's results."""
    window.table.sortByColumn(3, Qt.SortOrder.DescendingOrder)
    with SessionStore(out_dir, create=False) as store:
        results = store.results()
    by_drift = [r["path"] for r in sorted(results, key=lambda r: -r["drift_total"])]
    shown = [window.model.movie(window.model.movie_id(window.model.index(k, 0)))["path"] for k in range(4)]
    assert shown == by_drift
    return results


def _curates(window, results) -> tuple[int, dict]:
    """A threshold: live counts of what passes; a manual exclusion is kept apart. Returns how
    many the threshold accepts and the row excluded by hand."""
    drifts = sorted(r["drift_total"] for r in results)
    limit = (drifts[1] + drifts[2]) / 2
    window.use_drift.setChecked(True)
    window.max_drift.setValue(limit)
    expected = sum(Filters(max_drift=window.max_drift.value()).accepts(r) for r in results)
    assert window.passing_label.text().startswith(f"{expected} of 4 done movies pass")
    excluded = next(r for r in window.model.rows if r["drift_total"] <= limit)
    window.select_movie(excluded["id"])
    window.exclude_selected()
    verdicts = {r["name"]: window.model._value(r, "verdict") for r in window.model.rows}
    assert verdicts[excluded["name"]] == "excluded"
    assert sorted(verdicts.values()).count("rejected: drift") == 4 - expected
    return expected, excluded


def _exports(window, out_dir, expected, excluded) -> None:
    """Export through the session layer, as `zorro session export` does."""
    done = window.export()
    assert done.status == 0 and done.command.startswith(f"zorro session export {out_dir} --max-drift")
    star = starfile.read(out_dir / "corrected_micrographs.star")["micrographs"]
    assert len(star) == expected - 1
    assert not any(excluded["name"].removesuffix(".mrcz") in name for name in star["rlnMicrographName"])


def _closes_and_reopens(window, qtbot, prefs, out_dir, excluded) -> None:
    """Close, keeping the session running headless; reopen and find everything there; close
    again, stopping it this time."""
    _answer_close("Keep running headless")
    window.close()
    assert runner.watcher(out_dir) is not None
    again = MainWindow(out_dir, settings=prefs, poll_ms=200)
    qtbot.addWidget(again)
    assert str(out_dir.absolute()) == again.recent()[0]
    assert _states(again) == {**{f"movie{k}.mrcz": "done" for k in range(4)}, excluded["name"]: "excluded"}
    assert again.use_drift.isChecked() and again.max_drift.value() == pytest.approx(window.max_drift.value())
    assert again.form.settings() == window.form.settings()

    _answer_close("Stop the session")
    again.close()
    qtbot.waitUntil(lambda: runner.watcher(out_dir) is None, timeout=WAIT)


def test_screenshot_of_a_session_folder(tmp_path):
    out = tmp_path / "out"
    with SessionStore(out) as store:
        store.observe([(str(tmp_path / f"m{k}.tif"), 100, 1.0 + k) for k in range(5)])
    png = tmp_path / "shot.png"
    done = subprocess.run(
        [sys.executable, "-m", "zorro", "gui", str(out), "--screenshot", str(png), "--quit-after", "0.5"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    image = QImage(str(png))
    assert image.width() >= 800 and image.height() >= 600
    for part in ("shot_detail.png", "shot_plots.png"):
        assert not QImage(str(tmp_path / part)).isNull()
