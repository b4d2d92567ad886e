"""The window's movie model and actions over a real store (no watcher, no movies aligned):
sorting and filtering against the store's own numbers, the incremental refresh against a
fresh read, the curation buttons, the stalled-microscope alarm, finding a gain's orientation."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")
pytest.importorskip("pytestqt")

from PySide6.QtCore import QItemSelectionModel, QSettings, Qt

from zorro.gui.model import COLUMNS, MovieModel
from zorro.gui.window import MainWindow
from zorro.session import SessionStore
from zorro.session.session import SessionLock
from zorro.simulate import simulate, write


def _fill(store: SessionStore, n: int, rng: np.random.Generator, start: int = 0, found: float | None = None) -> None:
    """n movies: most done with random metrics (some without a resolution), some failed, some ready."""
    found = time.time() if found is None else found
    store.observe(
        [(f"/data/GridSquare_{k % 7}/movie_{k:04d}.tif", 100, 1.0 + k) for k in range(start, start + n)], now=found
    )
    for movie in store.settled(0.0, now=found + 1):
        store.mark_ready(movie.id)
    digest = store.add_parameter_set({"p": 1})
    for movie in store.claim(n, "test", 60):
        if rng.random() < 0.15:
            store.fail(movie.id, "test", "InputError: bad", max_attempts=1)
        elif rng.random() < 0.9:
            metrics = {"drift_total": float(rng.gamma(2, 5)), "resolution": float(rng.uniform(3, 9))}
            metrics["resolution"] = None if rng.random() < 0.1 else metrics["resolution"]
            store.finish(movie.id, "test", digest, metrics, {})
    store.unclaim("test", "left ready")


def _shown(model: MovieModel, key: str) -> list:
    return [model.movie(model.movie_id(model.index(r, 0)))[key] for r in range(model.rowCount())]


def test_sort_and_filter_agree_with_the_store(qtbot, tmp_path):
    store = SessionStore(tmp_path)
    _fill(store, 300, np.random.default_rng(1))
    model = MovieModel()
    model.refresh(store)
    assert model.rowCount() == 300
    metrics = {r["path"]: r for r in store.results(states=["done"])}
    for key in ("drift_total", "resolution"):
        column = next(k for k, c in enumerate(COLUMNS) if c.key == key)
        model.sort(column, Qt.SortOrder.DescendingOrder)
        values = [metrics.get(m.path, {}).get(key) for m in store.movies()]
        expected = sorted((v for v in values if v is not None), reverse=True) + [None] * values.count(None)
        assert _shown(model, key) == expected
    model.sort(0, Qt.SortOrder.AscendingOrder)
    assert _shown(model, "name") == sorted(m.path.rsplit("/", 1)[1] for m in store.movies())
    model.set_filter("_01", {"failed"})
    expected = {m.path for m in store.movies(["failed"]) if "_01" in m.path.rsplit("/", 1)[1]}
    assert set(_shown(model, "path")) == expected and expected
    store.close()


def test_incremental_refresh_equals_a_fresh_read(tmp_path):
    rng = np.random.default_rng(2)
    store = SessionStore(tmp_path)
    live = MovieModel()
    _fill(store, 50, rng)
    live.refresh(store)
    paths = [m.path for m in store.movies()]
    steps = (
        lambda: store.exclude(rng.choice(paths, 5, replace=False).tolist()),
        lambda: store.reprocess(states=["failed"]),
        lambda: _fill(store, 10, rng, start=len(store.movies())),
        lambda: store.reprocess(paths=rng.choice(paths, 3, replace=False).tolist()),
        lambda: store.mark_outdated("another"),  # one event for many movies
    )
    for step in rng.choice(len(steps), 12):
        steps[step]()
        live.refresh(store)
        fresh = MovieModel()
        fresh.refresh(store)
        assert sorted(live.rows, key=lambda r: r["id"]) == sorted(fresh.rows, key=lambda r: r["id"])
    assert not live.refresh(store)  # nothing new
    store.close()


def test_curation_buttons_and_the_alarm(qtbot, tmp_path):
    store = SessionStore(tmp_path)
    _fill(store, 40, np.random.default_rng(3), found=time.time() - 900)
    window = MainWindow(tmp_path, settings=QSettings(str(tmp_path / "prefs.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    done = [m.path for m in store.movies(["done"])][:2]
    selection = window.table.selectionModel()
    for path in done:
        row = window.model.row_of(store.movie(path).id)
        flags = QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
        selection.select(window.model.index(row, 0), flags)
    window.buttons["exclude"].click()
    assert {store.movie(p).state for p in done} == {"excluded"}
    assert f"zorro session exclude {tmp_path}" in window.log.toPlainText()
    assert "2 excluded by hand" in window.passing_label.text()
    window.buttons["include"].click()
    assert {store.movie(p).state for p in done} == {"ready"}
    failed = len(store.movies(["failed"]))
    window.buttons["failed"].click()
    assert f"{failed} movie(s) queued again" in window.log.toPlainText() and not store.movies(["failed"])

    assert window.since_label.property("alarm") is False  # no watcher: nobody expects movies
    lock = SessionLock(tmp_path)  # a watcher holds the folder, and no movie came for 15 minutes
    try:
        window.refresh()
        assert window.since_label.property("alarm") is True
        assert math.isclose(float(window.since_label.text().split()[0]), 900, abs_tol=30)
    finally:
        lock.release()
    window.refresh()
    assert window.since_label.property("alarm") is False
    window.close()
    store.close()


def test_find_orientation_runs_zorro_gain_orient(qtbot, tmp_path):
    (tmp_path / "in").mkdir()
    for seed in (1, 2):
        movie = simulate(4, (96, 128), dose=8.0, gain=True, gain_orientation="rot90", seed=seed)
        paths = write(movie, tmp_path / "in" / f"m{seed}.mrc")
    gain = paths["gain"].rename(tmp_path / "gain.mrc")
    window = MainWindow(settings=QSettings(str(tmp_path / "prefs.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    form = window.form
    form.find_orientation.click()
    assert "first choose" in form.reasons["gain_orientation"].text()
    form.input_dir.setText(str(tmp_path / "in"))
    form.gain.setText(str(gain))
    form.find_orientation.click()
    qtbot.waitUntil(lambda: form._orienting is None, timeout=120_000)
    assert form.gain_orientation.currentText() == "rot90", form.reasons["gain_orientation"].text()
