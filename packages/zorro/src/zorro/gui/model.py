"""The movie table: a Qt model over the session store, sorted and filtered with NumPy.

The view asks only for the rows it shows, so thousands of movies cost one store query per
refresh and a NumPy sort, not a widget per row. Sorting and filtering live in the model itself
(a proxy model would call back into Python for every comparison).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, TypeAlias, TypedDict, cast

import numpy as np
from numpy.typing import NDArray
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor

from ..session.export import Filters
from ..session.store import STATES, MovieRow, Outputs, ResultRow, SessionStore


class Measurements(TypedDict):
    """A movie's metrics in the table (all None until it has some)."""

    frames: int | None
    dose: float | None
    drift_total: float | None
    drift_early: float | None
    drift_late: float | None
    resolution: float | None
    seconds: float | None
    pixel_size: float | None
    voltage: float | None
    outputs: Outputs | None


class TableRow(Measurements):
    """One movie of the table: as the store holds it, with its file name and metrics."""

    id: int
    path: str
    name: str
    state: str
    found: float
    started: float | None
    finished: float | None
    last_error: str  # "" for none
    param_hash: str | None


#: What a column shows: a field of :class:`TableRow`, or the verdict of the thresholds.
ColumnKey: TypeAlias = Literal[
    "name",
    "state",
    "found",
    "drift_total",
    "drift_early",
    "drift_late",
    "resolution",
    "dose",
    "seconds",
    "verdict",
    "last_error",
]
Shown: TypeAlias = str | float | None  # what a cell holds
AnyIndex: TypeAlias = QModelIndex | QPersistentModelIndex


@dataclass(frozen=True)
class Column:
    title: str
    key: ColumnKey
    digits: int | None = None  # a number shown with this many decimals
    tip: str = ""


COLUMNS = (
    Column("movie", "name", tip="the movie's file name (its path in the tooltip)"),
    Column("state", "state", tip="see `zorro session status`"),
    Column("found", "found", tip="when the watcher first saw the file"),
    Column("drift Å", "drift_total", 2, "accumulated motion over the movie"),
    Column("early Å", "drift_early", 2, "motion while the exposure is under 4 e⁻/Å²"),
    Column("late Å", "drift_late", 2, "motion after the first 4 e⁻/Å²"),
    Column("FRC Å", "resolution", 2, "where the even/odd FRC of the aligned sums crosses 0.143"),
    Column("dose e⁻/Å²", "dose", 1),
    Column("seconds", "seconds", 1, "time to align and write"),
    Column("verdict", "verdict", tip="accepted, rejected by a threshold, or excluded by you"),
    Column("error", "last_error"),
)
INCREMENTAL = 2000  # events since the last refresh up to which only the movies they name are read again
NUMERIC = {c.key for c in COLUMNS if c.digits is not None} | {"found"}
STATE_COLOURS = {
    "done": "#d9f2d9",
    "running": "#d6e6ff",
    "ready": "#fff6cc",
    "failed": "#f8d0d0",
    "incomplete": "#f8d0d0",
    "excluded": "#e0e0e0",
    "outdated": "#efe0ff",
    "stale": "#efe0ff",
}


RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter  # built once: each | makes a new flag
_COLOURS: dict[str, QColor] = {}


def _colour(name: str) -> QColor:
    if name not in _COLOURS:
        _COLOURS[name] = QColor(name)
    return _COLOURS[name]


def verdict(row: TableRow, filters: Filters) -> str:
    """accepted / rejected (why) / excluded: what an export with ``filters`` does with a movie."""
    if row["state"] == "excluded":
        return "excluded"
    if row["state"] != "done":
        return ""
    if filters.accepts(row):
        return "accepted"
    if filters.max_drift is not None and (row["drift_total"] or 0.0) > filters.max_drift:
        return "rejected: drift"
    return "rejected: resolution"


class MovieModel(QAbstractTableModel):
    """The session's movies, one row each; ``refresh(store)`` reads what changed."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.rows: list[TableRow] = []  # every movie, in the store's order (oldest file first)
        self._index_of: dict[int, int] = {}  # movie id -> position in rows
        self._order: NDArray[np.intp] = np.zeros(0, dtype=np.intp)  # rows shown, in the shown order
        self._sort: tuple[int, Qt.SortOrder] = (-1, Qt.SortOrder.AscendingOrder)
        self._text = ""
        self._states: set[str] = set()
        self.filters = Filters()
        self._last_event: int | None = None

    # -- reading the store ----------------------------------------------------------

    def refresh(self, store: SessionStore) -> bool:
        """Read what changed since the last refresh (the movies the event log names since then;
        everything on the first call, or after a change of many movies at once). True if any."""
        latest = store.events(1)
        event = latest[0]["id"] if latest else 0
        if event == self._last_event:
            return False
        since = None if self._last_event is None else event - self._last_event
        self._last_event = event
        news = store.events(since) if since is not None and since <= INCREMENTAL else None
        if news is None or any(e["kind"] == "outdated" for e in news):  # mark_outdated: one event, many movies
            metrics = {r["id"]: r for r in store.results(states=STATES)}
            self.rows = [_row(movie, metrics.get(movie.id)) for movie in store.movies()]
            self._index_of = {row["id"]: k for k, row in enumerate(self.rows)}
        else:
            for path in {e["path"] for e in news if e["path"]}:
                movie = store.movie(path)
                if movie is None:  # the store never deletes a movie
                    continue
                row = _row(movie, store.result(movie.id))
                if movie.id in self._index_of:
                    self.rows[self._index_of[movie.id]] = row
                else:
                    self._index_of[movie.id] = len(self.rows)
                    self.rows.append(row)
        self._relayout()
        return True

    # -- sorting and filtering --------------------------------------------------------

    def set_filter(self, text: str = "", states: set[str] | None = None) -> None:
        """Show the movies whose name holds ``text`` (any case) and, if given, in ``states``."""
        self._text, self._states = text.lower(), set(states or ())
        self._relayout()

    def set_thresholds(self, filters: Filters) -> None:
        self.filters = filters
        self._relayout()

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        self._sort = (column, order)
        self._relayout()

    def _shown(self) -> NDArray[np.intp]:
        keep = np.ones(len(self.rows), dtype=bool)
        if self._text:
            keep &= np.fromiter((self._text in r["name"].lower() for r in self.rows), bool, len(self.rows))
        if self._states:
            keep &= np.fromiter((r["state"] in self._states for r in self.rows), bool, len(self.rows))
        order = np.flatnonzero(keep)
        column, direction = self._sort
        if column >= 0 and len(order):
            key = COLUMNS[column].key
            values = [self._value(self.rows[k], key) for k in order]
            if key in NUMERIC:  # missing values last either way
                numbers = np.array([math.inf if v is None else v for v in values], dtype=float)
                if direction == Qt.SortOrder.DescendingOrder:
                    numbers = np.where(np.isinf(numbers), math.inf, -numbers)
                order = order[np.argsort(numbers, kind="stable")]
            else:
                texts = np.array(values, dtype=str)
                positions = np.argsort(texts, kind="stable")
                order = order[positions[::-1] if direction == Qt.SortOrder.DescendingOrder else positions]
        return order

    def _relayout(self) -> None:
        """Apply sort and filter, keeping the selection and current row on the same movies."""
        self.layoutAboutToBeChanged.emit()
        before = self.persistentIndexList()
        ids = [self.movie_id(index) for index in before]
        self._order = self._shown()
        shown_at = np.full(len(self.rows), -1)
        shown_at[self._order] = np.arange(len(self._order))
        after: list[QModelIndex] = []
        for movie_id, index in zip(ids, before):
            row = -1 if movie_id is None else int(shown_at[self._index_of[movie_id]])
            after.append(self.index(row, index.column()) if row >= 0 else QModelIndex())
        self.changePersistentIndexList(before, after)
        self.layoutChanged.emit()
        if len(self._order):
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._order) - 1, len(COLUMNS) - 1))

    # -- what the view asks -----------------------------------------------------------

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008, N802 (Qt's names and signatures)
        return 0 if parent.isValid() else len(self._order)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(  # noqa: N802
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> str | None:
        if orientation != Qt.Orientation.Horizontal:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section].title
        if role == Qt.ItemDataRole.ToolTipRole:
            return COLUMNS[section].tip or None
        return None

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> str | QColor | Qt.AlignmentFlag | None:
        if not index.isValid():
            return None
        row = self.rows[self._order[index.row()]]
        column = COLUMNS[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return _text(self._value(row, column.key), column)
        if role == Qt.ItemDataRole.ToolTipRole:
            return row["path"] if column.key == "name" else (row["last_error"] or None)
        if role == Qt.ItemDataRole.BackgroundRole and column.key in ("state", "verdict"):
            colour = STATE_COLOURS.get(row["state"]) if column.key == "state" else _verdict_colour(row, self)
            return _colour(colour) if colour else None
        if role == Qt.ItemDataRole.TextAlignmentRole and column.key in NUMERIC:
            return RIGHT
        return None

    def _value(self, row: TableRow, key: ColumnKey) -> Shown:
        return verdict(row, self.filters) if key == "verdict" else row[key]

    # -- helpers for the window --------------------------------------------------------

    def movie_id(self, index: AnyIndex) -> int | None:
        if not index.isValid() or index.row() >= len(self._order):
            return None
        return int(self.rows[self._order[index.row()]]["id"])

    def row_of(self, movie_id: int) -> int | None:
        """The shown row of a movie, None if filtered out or unknown."""
        k = self._index_of.get(movie_id)
        if k is None:
            return None
        hits = np.flatnonzero(self._order == k)
        return int(hits[0]) if len(hits) else None

    def movie(self, movie_id: int) -> TableRow | None:
        k = self._index_of.get(movie_id)
        return None if k is None else self.rows[k]

    def passing(self) -> tuple[int, int]:
        """(done movies the thresholds accept, done movies)."""
        done = [r for r in self.rows if r["state"] == "done"]
        return sum(self.filters.accepts(r) for r in done), len(done)


def _row(movie: MovieRow, result: ResultRow | None) -> TableRow:
    """A table row: the movie as the store holds it, with its metrics (None until it has some)."""
    return {
        **_measurements(result),
        "id": movie.id,
        "path": movie.path,
        "name": os.path.basename(movie.path),  # noqa: PTH119 (Path() costs 60 µs a movie)
        "state": movie.state,
        "found": movie.found,
        "started": movie.started,
        "finished": movie.finished,
        "last_error": movie.last_error or "",
        "param_hash": movie.param_hash,
    }


def _measurements(result: ResultRow | None) -> Measurements:
    if result is None:
        return _UNMEASURED
    values: Mapping[str, object] = result
    return cast(Measurements, {key: values[key] for key in _MEASURED})  # every measurement is a ResultRow field


_MEASURED = tuple(Measurements.__annotations__)
_UNMEASURED = cast(Measurements, dict.fromkeys(_MEASURED))


def _text(value: Shown, column: Column) -> str:
    """What a cell shows."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        return value
    if column.key == "found":
        return time.strftime("%H:%M:%S", time.localtime(value))
    if column.digits is not None:
        return f"{value:.{column.digits}f}"
    return str(value)


def _verdict_colour(row: TableRow, model: MovieModel) -> str | None:
    v = verdict(row, model.filters)
    return {"accepted": "#d9f2d9", "excluded": "#e0e0e0"}.get(v, "#fde2c8" if v else None)
