"""The "start a session" form: a view of :class:`zorro.gui.setup.WatchSettings`, with the reason
a field is refused shown next to it."""

from __future__ import annotations

import re
from pathlib import Path

from PySide6.QtCore import QProcess, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from .._orient import ORIENTATIONS
from ..outputs import SUM_FORMATS
from ..session.scan import PRESETS, Scanner
from .setup import WHERE, WatchSettings


def _spin(maximum: float, decimals: int, suffix: str, special: str = "from header") -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(0, maximum)
    box.setDecimals(decimals)
    box.setSuffix(suffix)
    box.setSpecialValueText(special)  # 0 shows as this
    return box


class SetupForm(QWidget):
    """Fields of a session; ``start_requested`` when the user presses Start and nothing is refused."""

    start_requested = Signal(object)  # WatchSettings

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._make_fields()
        self._lay_out()
        self.start.clicked.connect(self.try_start)
        self.find_orientation.clicked.connect(self.find_gain_orientation)
        self._orienting: QProcess | None = None

    def _make_fields(self) -> None:
        self.input_dir, self.out_dir, self.gain, self.cluster = QLineEdit(), QLineEdit(), QLineEdit(), QLineEdit()
        self.preset = QComboBox()
        self.preset.addItems(sorted(PRESETS))
        self.preset.setCurrentText(WatchSettings.preset)
        self.patterns = QLineEdit()
        self.patterns.setPlaceholderText("the preset's; or globs separated by ';', e.g. *.tif;**/*.mrc")
        self.gain_orientation = QComboBox()
        self.gain_orientation.addItems(["auto", *ORIENTATIONS])
        self.find_orientation = QPushButton("find orientation")
        self.pixel_size = _spin(100, 4, " Å")
        self.voltage = _spin(1000, 0, " kV")
        self.dose_per_frame = _spin(1000, 3, " e⁻/px")
        self.format = QComboBox()
        self.format.addItems(SUM_FORMATS)
        self.report = QCheckBox("PNG report per movie")
        self.report.setChecked(True)
        self.max_shift = QSpinBox()
        self.max_shift.setRange(0, 4096)
        self.max_shift.setSpecialValueText("default")
        self.max_shift.setSuffix(" px")
        self.settle = _spin(3600, 1, " s", special="0 s")
        self.settle.setValue(20)
        self.poll = _spin(600, 1, " s", special="")
        self.poll.setMinimum(0.1)
        self.poll.setValue(2)
        self.where = QComboBox()
        self.where.addItems(WHERE)
        self.workers = QSpinBox()
        self.workers.setRange(1, 256)
        self.scheduler = QLineEdit()
        self.scheduler.setPlaceholderText("tcp://HOST:8786")
        self.start = QPushButton("Start session")

    def _lay_out(self) -> None:
        """One row per field, its refusal reason beside it; the command line and Start below."""
        self.reasons: dict[str, QLabel] = {}
        form = QFormLayout()
        for name, label, widget in (
            ("input_dir", "input folder", self._with_browse(self.input_dir, folder=True)),
            ("preset", "layout", self.preset),
            ("patterns", "patterns", self.patterns),
            ("out_dir", "output folder", self._with_browse(self.out_dir, folder=True)),
            ("gain", "gain reference", self._with_browse(self.gain, folder=False)),
            ("gain_orientation", "gain orientation", self._pair(self.gain_orientation, self.find_orientation)),
            ("pixel_size", "pixel size", self.pixel_size),
            ("voltage", "voltage", self.voltage),
            ("dose_per_frame", "dose per frame", self.dose_per_frame),
            ("format", "sum format", self._pair(self.format, self.report)),
            ("max_shift", "largest shift", self.max_shift),
            ("settle", "settle / poll", self._pair(self.settle, self.poll)),
            ("where", "run on", self.where),
            ("workers", "local workers", self.workers),
            ("scheduler", "Dask scheduler", self.scheduler),
            ("cluster", "cluster config", self._with_browse(self.cluster, folder=False)),
        ):
            reason = QLabel()
            reason.setStyleSheet("color: #b00000")
            reason.setWordWrap(True)
            self.reasons[name] = reason
            form.addRow(label, self._pair(widget, reason))
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        self.command = QLabel()
        self.command.setWordWrap(True)
        self.command.setStyleSheet("color: #555; font-family: monospace")
        layout.addWidget(self.command)
        layout.addWidget(self.start)
        layout.addStretch(1)

    @staticmethod
    def _pair(*widgets: QWidget) -> QWidget:
        box = QWidget()
        row = QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        for w in widgets:
            row.addWidget(w, 1)
        return box

    def _with_browse(self, edit: QLineEdit, *, folder: bool) -> QWidget:
        button = QPushButton("…")
        button.setMaximumWidth(30)

        def browse() -> None:
            chosen = (
                QFileDialog.getExistingDirectory(self, "choose a folder", edit.text())
                if folder
                else QFileDialog.getOpenFileName(self, "choose a file", edit.text())[0]
            )
            if chosen:
                edit.setText(chosen)

        button.clicked.connect(browse)
        return self._pair(edit, button)

    # -- settings <-> fields ----------------------------------------------------------

    def settings(self) -> WatchSettings:
        return WatchSettings(
            input_dir=self.input_dir.text().strip(),
            preset=self.preset.currentText(),
            patterns=[p.strip() for p in self.patterns.text().split(";") if p.strip()],
            out_dir=self.out_dir.text().strip(),
            gain=self.gain.text().strip(),
            gain_orientation=self.gain_orientation.currentText(),
            pixel_size=self.pixel_size.value(),
            voltage=self.voltage.value(),
            dose_per_frame=self.dose_per_frame.value(),
            format=self.format.currentText(),
            report=self.report.isChecked(),
            max_shift=self.max_shift.value(),
            settle=self.settle.value(),
            poll=self.poll.value(),
            where=self.where.currentText(),
            workers=self.workers.value(),
            scheduler=self.scheduler.text().strip(),
            cluster=self.cluster.text().strip(),
        )

    def set_settings(self, s: WatchSettings) -> None:
        for name in ("input_dir", "out_dir", "gain", "scheduler", "cluster"):
            getattr(self, name).setText(getattr(s, name))
        self.patterns.setText(";".join(s.patterns))
        for name in ("preset", "gain_orientation", "format", "where"):
            getattr(self, name).setCurrentText(getattr(s, name))
        for name in ("pixel_size", "voltage", "dose_per_frame", "max_shift", "settle", "poll", "workers"):
            getattr(self, name).setValue(getattr(s, name))
        self.report.setChecked(s.report)

    def check(self) -> dict[str, str]:
        """Validate; show each refused field's reason next to it. Returns the problems."""
        s = self.settings()
        problems = s.problems()
        for name, label in self.reasons.items():
            label.setText(problems.get(name, ""))
        self.command.setText("" if problems else s.command())
        return problems

    def try_start(self) -> bool:
        if self.check():
            return False
        self.start_requested.emit(self.settings())
        return True

    # -- zorro gain-orient --------------------------------------------------------------

    def find_gain_orientation(self) -> None:
        """Run ``zorro gain-orient GAIN MOVIE...`` on the first movies of the input folder, in
        the background; its answer goes into the orientation field."""
        import sys

        s = self.settings()
        problems = s.problems()
        for field in ("gain", "input_dir"):
            if field in problems or not getattr(s, field):
                self.reasons["gain_orientation"].setText(f"first choose a readable {field.replace('_', ' ')}")
                return
        scanner = Scanner(Path(s.input_dir), PRESETS[s.preset], patterns=tuple(s.patterns))
        movies = sorted(path for path, _, _ in scanner.scan())[:3]
        if not movies:
            self.reasons["gain_orientation"].setText("no movies in the input folder yet")
            return
        self.reasons["gain_orientation"].setText("finding the orientation…")
        process = QProcess(self)
        process.setProcessChannelMode(QProcess.ProcessChannelMode.MergedChannels)
        process.finished.connect(lambda *_: self._orientation_found(process))
        process.start(sys.executable, ["-m", "zorro", "gain-orient", s.gain, *movies])
        self._orienting = process

    def _orientation_found(self, process: QProcess) -> None:
        text = bytes(process.readAll().data()).decode(errors="replace")
        found = re.search(r"--gain-orientation (\S+)", text)
        if found and found.group(1) in ORIENTATIONS:
            self.gain_orientation.setCurrentText(found.group(1))
            self.reasons["gain_orientation"].setText("")
        else:
            self.reasons["gain_orientation"].setText(text.strip().splitlines()[-1] if text.strip() else "failed")
        self._orienting = None
