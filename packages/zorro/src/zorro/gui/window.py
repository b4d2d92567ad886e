"""The Automator's main window: set up, run, follow, curate and export one session.

Everything it shows is read from the session store (polled once a second); everything it
does is a ``zorro`` command line (shown in its log), so the window holds nothing the store
does not and closing it loses nothing.
"""

from __future__ import annotations

import functools
import itertools
import statistics
import time
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDockWidget,
    QDoubleSpinBox,
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ..session.export import Filters
from ..session.store import STATES, SessionStore, StoreError
from . import runner
from .detail import DetailPane
from .form import SetupForm
from .model import MovieModel
from .plots import SessionPlots
from .setup import ARGV_SETTING, WatchSettings

RECENT = "recent_sessions"
ALARM_AFTER = 120.0  # s without a new movie before the status bar turns red (or 5 x the usual gap)


class MainWindow(QMainWindow):
    def __init__(
        self, out_dir: str | Path | None = None, *, settings: QSettings | None = None, poll_ms: int = 1000
    ) -> None:
        super().__init__()
        self.setWindowTitle("zorro Automator")
        self.resize(1500, 950)
        self.settings = settings or QSettings("zorro", "automator")
        self.out: Path | None = None
        self.close_choice: str | None = None  # keep / stop without asking (timed runs)
        self.store: SessionStore | None = None
        self.model = MovieModel(self)
        self._build()
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.refresh)
        self.timer.start(poll_ms)
        if out_dir is not None:
            self.open_folder(out_dir)

    # -- layout -----------------------------------------------------------------------

    def _build(self) -> None:
        table_box = self._table_box()
        self.plots = SessionPlots()
        self.plots.movie_clicked.connect(self.select_movie)
        self.detail = DetailPane()
        left = _splitter(Qt.Orientation.Vertical, (table_box, 480), (self.plots, 420))
        right = _splitter(Qt.Orientation.Vertical, (self.detail, 650), (self._curation(), 250))
        self.setCentralWidget(_splitter(Qt.Orientation.Horizontal, (left, 900), (right, 600)))
        self._docks()
        self._toolbar()
        self._status_bar()

    def _table_box(self) -> QWidget:
        """The movie table, under its name and state filters."""
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(-1, Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setDefaultSectionSize(20)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.horizontalHeader().setDefaultSectionSize(64)
        self.table.setColumnWidth(0, 210)
        self.table.setColumnWidth(1, 70)
        self.table.setColumnWidth(9, 110)
        self.table.selectionModel().currentRowChanged.connect(lambda *_: self._show_current())
        self.search = QLineEdit()
        self.search.setPlaceholderText("filter by name")
        self.state_filter = QComboBox()
        self.state_filter.addItems(["all states", *STATES])
        self.search.textChanged.connect(self._filter)
        self.state_filter.currentTextChanged.connect(self._filter)
        filters = QHBoxLayout()
        filters.addWidget(self.search, 1)
        filters.addWidget(self.state_filter)
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(filters)
        layout.addWidget(self.table)
        return box

    def _docks(self) -> None:
        """The setup form (left) and the log of the commands run (bottom)."""
        self.form = SetupForm()
        self.form.start_requested.connect(self.start_session)
        scroll = QScrollArea()
        scroll.setWidget(self.form)
        scroll.setWidgetResizable(True)
        self.setup_dock = QDockWidget("Session setup", self)
        self.setup_dock.setWidget(scroll)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.setup_dock)
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(2000)
        log_dock = QDockWidget("Commands (what the window ran: the same works in a shell)", self)
        log_dock.setWidget(self.log)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, log_dock)
        self.resizeDocks([log_dock], [90], Qt.Orientation.Vertical)

    def _status_bar(self) -> None:
        self.counts_label, self.rate_label, self.since_label, self.watcher_label = (QLabel() for _ in range(4))
        for label in (self.counts_label, self.rate_label, self.since_label):
            label.setContentsMargins(6, 0, 12, 0)
            self.statusBar().addWidget(label)
        self.statusBar().addPermanentWidget(self.watcher_label)

    def _toolbar(self) -> None:
        bar = self.addToolBar("session")
        bar.setObjectName("session")
        self.session_actions: dict[str, QAction] = {}  # (QWidget.actions() is Qt's)
        for name, text, slot, key in (
            ("new", "New session…", self.new_session, QKeySequence.StandardKey.New),
            ("open", "Open output folder…", self.choose_folder, QKeySequence.StandardKey.Open),
            ("start", "Start", self.start_or_resume, None),
            ("pause", "Pause", lambda: self.control("pause"), None),
            ("resume", "Resume", lambda: self.control("resume"), None),
            ("stop", "Stop", lambda: self.control("stop"), None),
        ):
            action = QAction(text, self)
            if key is not None:
                action.setShortcut(key)
            action.triggered.connect(slot)
            bar.addAction(action)
            self.session_actions[name] = action
        self.recent_menu = self.menuBar().addMenu("Recent sessions")
        self._fill_recent()

    def _curation(self) -> QWidget:
        box = QGroupBox("Curate and export")
        grid = QGridLayout(box)
        self.use_drift, self.use_resolution = QCheckBox("drift at most"), QCheckBox("FRC resolution at least")
        self.max_drift, self.min_resolution = QDoubleSpinBox(), QDoubleSpinBox()
        for spin, default in ((self.max_drift, 30.0), (self.min_resolution, 6.0)):
            spin.setRange(0, 10000)
            spin.setDecimals(2)
            spin.setSuffix(" Å")
            spin.setValue(default)
            spin.valueChanged.connect(self._thresholds_changed)
        for check in (self.use_drift, self.use_resolution):
            check.toggled.connect(self._thresholds_changed)
        self.passing_label = QLabel()
        grid.addWidget(self.use_drift, 0, 0)
        grid.addWidget(self.max_drift, 0, 1)
        grid.addWidget(self.use_resolution, 1, 0)
        grid.addWidget(self.min_resolution, 1, 1)
        grid.addWidget(self.passing_label, 2, 0, 1, 3)
        self.buttons: dict[str, QPushButton] = {}
        for k, (name, text, slot) in enumerate(
            (
                ("exclude", "Exclude selected", self.exclude_selected),
                ("include", "Include selected", self.include_selected),
                ("reprocess", "Reprocess selected", self.reprocess_selected),
                ("outdated", "Reprocess outdated", lambda: self._session(["reprocess", "--outdated"])),
                ("failed", "Reprocess failed", lambda: self._session(["reprocess", "--failed"])),
                ("export", "Export corrected_micrographs.star", self.export),
            )
        ):
            button = QPushButton(text)
            button.clicked.connect(slot)
            grid.addWidget(button, 3 + k // 3, k % 3)
            self.buttons[name] = button
        return box

    # -- opening and starting ---------------------------------------------------------

    def new_session(self) -> None:
        self.setup_dock.show()
        self.form.input_dir.setFocus()

    def choose_folder(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self, "open a session's output folder")
        if chosen:
            self.open_folder(chosen)

    def open_folder(self, out_dir: str | Path) -> bool:
        """Follow the session of an output folder (to resume it, or just to look)."""
        try:
            store = SessionStore(out_dir, create=False)
        except StoreError as exc:
            self.say(str(exc))
            return False
        if self.store is not None:
            self.store.close()
        self.out, self.store = Path(out_dir).absolute(), store
        self.model = MovieModel(self)
        self.table.setModel(self.model)
        self.table.selectionModel().currentRowChanged.connect(lambda *_: self._show_current())
        argv = _watch_argv(store)
        if argv:
            self.form.set_settings(WatchSettings.from_argv(argv))
        self._load_thresholds(store)
        self._remember(self.out)
        self.setWindowTitle(f"zorro Automator: {self.out}")
        self.detail.clear()
        self.refresh()
        return True

    def start_session(self, settings: WatchSettings) -> bool:
        """Start ``zorro watch`` with these settings in a process of its own, then follow it."""
        problems = settings.problems()
        if problems:
            self.say("refused: " + "; ".join(f"{k}: {v}" for k, v in problems.items()))
            return False
        out = Path(settings.out_dir)
        holder = runner.watcher(out)
        if holder:
            self.say(f"{out} is already being watched ({holder})")
            self.open_folder(out)
            return False
        with SessionStore(out) as store:
            store.set_settings(**{ARGV_SETTING: settings.argv()})
        self._launch(settings.argv(), out)
        return self.open_folder(out)

    def _launch(self, argv: list[str], out: Path) -> None:
        command = WatchSettings.from_argv(argv).command()
        try:
            runner.launch(argv, out)
        except OSError as exc:
            self.say(f"$ {command}\ncould not start it: {exc}")
        else:
            self.say(f"$ {command}\nstarted; its output goes to {out / runner.LOG_NAME}")

    def start_or_resume(self) -> None:
        """Resume a paused session; start the folder's watcher again if none runs."""
        if self.store is not None and self.store.setting("control") == "pause":
            self.control("resume")
        if self.store is not None and self.out is not None and runner.watcher(self.out):
            return
        argv = _watch_argv(self.store) if self.store is not None else None
        if argv and self.setup_dock.isHidden():
            self.start_session(WatchSettings.from_argv(argv))
        else:
            self.form.try_start()

    # -- actions (each one a zorro command line) ----------------------------------------

    def _session(self, args: list[str]) -> runner.Done | None:
        if self.out is None:
            self.say("open a session first")
            return None
        action, rest = args[0], args[1:]
        done = runner.run_cli(["session", action, str(self.out), *rest])
        self.say(f"$ {done.command}\n{done.output}")
        self.refresh()
        return done

    def control(self, action: str) -> None:
        self._session([action])

    def selected_paths(self) -> list[str]:
        ids = (self.model.movie_id(index) for index in self.table.selectionModel().selectedRows())
        rows = (self.model.movie(movie_id) for movie_id in ids if movie_id is not None)
        return [row["path"] for row in rows if row is not None]

    def exclude_selected(self) -> None:
        if paths := self.selected_paths():
            self._session(["exclude", *paths])

    def include_selected(self) -> None:
        """Undo an exclusion: queued again; a watcher takes the outputs already there as done."""
        store = self.store
        if store is None:
            return
        paths = [p for p in self.selected_paths() if (m := store.movie(p)) is not None and m.state == "excluded"]
        if paths:
            self._session(["reprocess", *paths])

    def reprocess_selected(self) -> None:
        if paths := self.selected_paths():
            self._session(["reprocess", *paths])

    def filters(self) -> Filters:
        return Filters(
            min_resolution=self.min_resolution.value() if self.use_resolution.isChecked() else None,
            max_drift=self.max_drift.value() if self.use_drift.isChecked() else None,
        )

    def export(self) -> runner.Done | None:
        f, args = self.filters(), ["export"]
        if f.max_drift is not None:
            args += ["--max-drift", f"{f.max_drift:g}"]
        if f.min_resolution is not None:
            args += ["--min-resolution", f"{f.min_resolution:g}"]
        return self._session(args)

    def _thresholds_changed(self) -> None:
        self.model.set_thresholds(self.filters())
        self._show_passing()

    def _load_thresholds(self, store: SessionStore) -> None:
        """The thresholds of the folder's last export (the export command keeps them in the store)."""
        for key, check, spin in (
            ("export_max_drift", self.use_drift, self.max_drift),
            ("export_min_resolution", self.use_resolution, self.min_resolution),
        ):
            value = store.setting(key)
            check.setChecked(value is not None)
            if isinstance(value, (int, float)):
                spin.setValue(value)
        self._thresholds_changed()

    def _show_passing(self) -> None:
        passing, done = self.model.passing()
        excluded = sum(r["state"] == "excluded" for r in self.model.rows)
        self.passing_label.setText(f"{passing} of {done} done movies pass the thresholds; {excluded} excluded by hand")

    # -- following ----------------------------------------------------------------------

    def refresh(self) -> None:
        if self.store is None or self.out is None:
            return
        if self.model.refresh(self.store):
            self.plots.show_rows(self.model.rows)
            self._show_passing()
            self._show_current(only_if_changed=True)
        self._status(self.store, self.out)

    def _status(self, store: SessionStore, out: Path) -> None:
        counts = store.counts()
        failed = counts["failed"] + counts["incomplete"]
        self.counts_label.setText(
            f"found {sum(counts.values())} · ready {counts['ready']} · running {counts['running']} · "
            f"done {counts['done']} · failed {failed}"
        )
        self.rate_label.setText(f"{store.throughput():.0f} movies/h")
        holder = runner.watcher(out)
        control = store.setting("control", "run")
        self.watcher_label.setText(
            f"watcher: {holder}" + (" (paused)" if control == "pause" else "")
            if holder
            else "no watcher: Start resumes the session"
        )
        found = sorted(r["found"] for r in self.model.rows)
        if not found:
            self.since_label.setText("no movies yet")
            return
        since = time.time() - found[-1]
        gaps = [b - a for a, b in itertools.pairwise(found)]
        alarm = bool(holder) and since > max(ALARM_AFTER, 5 * statistics.median(gaps) if gaps else 0)
        self.since_label.setText(f"{since:.0f} s since the last new movie")
        self.since_label.setStyleSheet("background: #d00000; color: white; padding: 0 4px" if alarm else "")
        self.since_label.setProperty("alarm", alarm)

    def _filter(self) -> None:
        state = self.state_filter.currentText()
        self.model.set_filter(self.search.text(), None if state == "all states" else {state})

    def current_movie(self) -> int | None:
        return self.model.movie_id(self.table.selectionModel().currentIndex())

    def _show_current(self, only_if_changed: bool = False) -> None:
        movie_id = self.current_movie()
        row = None if movie_id is None else self.model.movie(movie_id)
        if only_if_changed and row == self.detail.shown:
            return
        if row is None or self.store is None or self.out is None:
            self.detail.clear()
        else:
            input_dir = self.store.setting("input_dir")
            self.detail.show_movie(row, input_dir if isinstance(input_dir, str) else None, self.out)
        self.plots.select(movie_id)

    def select_movie(self, movie_id: int) -> None:
        """Make a movie the current row (clearing a filter that hides it)."""
        row = self.model.row_of(movie_id)
        if row is None:
            self.search.clear()
            self.state_filter.setCurrentIndex(0)
            row = self.model.row_of(movie_id)
        if row is not None:
            self.table.selectRow(row)
            self.table.scrollTo(self.model.index(row, 0))

    # -- recent sessions, messages, closing ----------------------------------------------

    def recent(self) -> list[str]:
        return [str(p) for p in (self.settings.value(RECENT) or [])]

    def _remember(self, out: Path) -> None:
        recent = [str(out), *(p for p in self.recent() if p != str(out))][:10]
        self.settings.setValue(RECENT, recent)
        self._fill_recent()

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        for path in self.recent():
            self.recent_menu.addAction(path, functools.partial(self.open_folder, path))

    def say(self, text: str) -> None:
        self.log.appendPlainText(f"[{time.strftime('%H:%M:%S')}] {text}")
        self.statusBar().showMessage(text.splitlines()[-1] if text else "", 8000)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt's name)
        if self.out is not None and runner.watcher(self.out):
            choice = self.close_choice or self.ask_keep_running()
            if choice == "cancel":
                event.ignore()
                return
            if choice == "stop":
                self.control("stop")
        self.timer.stop()
        if self.store is not None:
            self.store.close()
            self.store = None
        event.accept()

    def ask_keep_running(self) -> str:
        """keep / stop / cancel: what to do with a running session when the window closes."""
        box = QMessageBox(self)
        box.setWindowTitle("The session is running")
        box.setText(
            f"Keep the session of {self.out} running without the window (as `zorro watch`), or stop it?\n"
            "Reopen the folder later to follow it again."
        )
        keep = box.addButton("Keep running headless", QMessageBox.ButtonRole.AcceptRole)
        stop = box.addButton("Stop the session", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setObjectName("close_question")
        box.exec()
        return "keep" if box.clickedButton() is keep else "stop" if box.clickedButton() is stop else "cancel"


def _watch_argv(store: SessionStore) -> list[str] | None:
    """The ``zorro watch`` arguments a window started the folder's session with (None if none did)."""
    argv = store.setting(ARGV_SETTING)
    return [str(a) for a in argv] if isinstance(argv, list) and argv else None


def _splitter(orientation: Qt.Orientation, *parts: tuple[QWidget, int]) -> QSplitter:
    """A splitter of these widgets, each with its starting size (px)."""
    splitter = QSplitter(orientation)
    for widget, _ in parts:
        splitter.addWidget(widget)
    splitter.setSizes([size for _, size in parts])
    return splitter
