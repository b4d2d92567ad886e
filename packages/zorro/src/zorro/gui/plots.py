"""Session plots (pyqtgraph): drift and resolution per movie over time, throughput per hour,
queue depth. Clicking a point asks the window to select its movie."""

from __future__ import annotations

import time
from typing import Literal, TypeAlias

import numpy as np
import pyqtgraph as pg
from numpy.typing import NDArray
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QWidget

from .model import TableRow

HOUR = 3600.0
POINT = pg.mkBrush(40, 90, 160, 170)
SELECTED = pg.mkBrush("#e0a000")
#: The metrics drawn per movie.
Scattered: TypeAlias = Literal["drift_total", "resolution"]
Series: TypeAlias = tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int_]]  # x, y, movie ids


class SessionPlots(pg.GraphicsLayoutWidget):  # type: ignore[misc]  # pyqtgraph ships no types
    """Four plots over the movie rows of :class:`zorro.gui.model.MovieModel`."""

    movie_clicked = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setBackground("w")
        self._scatters: dict[Scattered, tuple[pg.ScatterPlotItem, pg.ScatterPlotItem]] = {
            "drift_total": self._scatter_plot("drift per movie (Å)", 0, 0),
            "resolution": self._scatter_plot("FRC resolution per movie (Å)", 0, 1),
        }
        plot = self._time_plot("done per hour", 1, 0)
        self._throughput = pg.BarGraphItem(x=[], height=[], width=HOUR * 0.9, brush="#4a7fc1")
        plot.addItem(self._throughput)
        plot = self._time_plot("queue depth (found, not started)", 1, 1)
        self._queue = plot.plot([], [], pen=pg.mkPen("#c1664a", width=2), stepMode="right")
        self._rows: list[TableRow] = []
        self._selected: int | None = None

    def _time_plot(self, title: str, row: int, col: int) -> pg.PlotItem:
        return self.addPlot(row, col, title=title, axisItems={"bottom": pg.DateAxisItem(orientation="bottom")})

    def _scatter_plot(self, title: str, row: int, col: int) -> tuple[pg.ScatterPlotItem, pg.ScatterPlotItem]:
        plot = self._time_plot(title, row, col)
        points = pg.ScatterPlotItem(size=7, pen=None, brush=POINT)
        points.sigClicked.connect(self._clicked)
        chosen = pg.ScatterPlotItem(size=12, pen=pg.mkPen("k"), brush=SELECTED)  # the selected movie
        plot.addItem(points)
        plot.addItem(chosen)
        return points, chosen

    def _clicked(self, _item: pg.ScatterPlotItem, points: list[pg.SpotItem], _event: object = None) -> None:
        if len(points):
            self.movie_clicked.emit(int(points[0].data()))

    def show_rows(self, rows: list[TableRow], now: float | None = None) -> None:
        """Redraw from the model's rows (every movie of the session)."""
        self._rows = rows
        now = time.time() if now is None else now
        for key, (points, _) in self._scatters.items():
            x, y, ids = _series(rows, key)
            points.setData(x=x, y=y, data=ids)
        finished = np.array([r["finished"] for r in rows if r["state"] == "done" and r["finished"]], float)
        bins, counts = np.unique(np.floor(finished / HOUR), return_counts=True)
        self._throughput.setOpts(x=(bins + 0.5) * HOUR, height=counts)
        self._queue.setData(*queue_depth(rows, now))
        self._mark()

    def select(self, movie_id: int | None) -> None:
        self._selected = movie_id
        self._mark()

    def _mark(self) -> None:
        chosen = [r for r in self._rows if r["id"] == self._selected]
        for key, (_, mark) in self._scatters.items():
            x, y, _ = _series(chosen, key)
            mark.setData(x=x, y=y)

    def points(self, key: Scattered = "drift_total") -> Series:
        """(x, y, movie ids) a scatter plot shows now."""
        x, y = self._scatters[key][0].getData()
        return x, y, np.array(self._scatters[key][0].data["data"])


def _series(rows: list[TableRow], key: Scattered) -> Series:
    points = [(r["finished"], r[key], r["id"]) for r in rows if r["finished"] and r[key] is not None]
    if not points:
        return np.zeros(0), np.zeros(0), np.zeros(0, int)
    x, y, ids = zip(*points)
    return np.array(x, float), np.array(y, float), np.array(ids, int)


def queue_depth(rows: list[TableRow], now: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Movies found and not yet started at each moment something changed: (times, depth).
    A movie waits from when it was found until it last started (or until ``now``)."""
    found = np.sort(np.array([r["found"] for r in rows], float))
    started = np.sort(np.array([r["started"] for r in rows if r["started"]], float))
    if not len(found):
        return np.zeros(0), np.zeros(0)
    times = np.unique(np.concatenate([found, started, [now]]))
    depth = np.searchsorted(found, times, side="right") - np.searchsorted(started, times, side="right")
    return times, depth.astype(float)
