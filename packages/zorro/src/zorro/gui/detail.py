"""The selected movie: its dose-weighted sum (contrast adjustable), its trajectory and its
report PNG, read from the outputs its manifest names."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from numpy.typing import NDArray
from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QHBoxLayout, QLabel, QScrollArea, QSlider, QSplitter, QTabWidget, QVBoxLayout, QWidget

import mrcz

from ..session.work import output_dir
from .model import TableRow


class DetailPane(QWidget):
    """The selected movie's sum, trajectory and report."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel("select a movie")
        self.title.setWordWrap(True)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.image = pg.ImageItem(axisOrder="row-major")
        view = pg.GraphicsLayoutWidget()
        view.setBackground("k")
        box = view.addViewBox(lockAspect=True, invertY=True)
        box.addItem(self.image)
        self.contrast = QSlider(Qt.Orientation.Horizontal)
        self.contrast.setRange(5, 80)  # display range: mean ± value/10 standard deviations
        self.contrast.setValue(30)
        self.contrast.setToolTip("contrast: the grey range spans mean ± this many standard deviations / 10")
        self.contrast.valueChanged.connect(self._levels)
        self.trajectory = pg.PlotWidget(background="w", title="trajectory (px, frame 1 at 0)")
        self.trajectory.setAspectLocked(True)
        self.report = QLabel()
        self.report.setAlignment(Qt.AlignmentFlag.AlignCenter)
        scroll = QScrollArea()
        scroll.setWidget(self.report)
        scroll.setWidgetResizable(True)

        sum_box = QWidget()
        sum_layout = QVBoxLayout(sum_box)
        sum_layout.setContentsMargins(0, 0, 0, 0)
        sum_layout.addWidget(view, 1)
        row = QHBoxLayout()
        row.addWidget(QLabel("contrast"))
        row.addWidget(self.contrast)
        sum_layout.addLayout(row)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(sum_box)
        split.addWidget(self.trajectory)
        split.setSizes([300, 200])
        self.tabs = QTabWidget()
        self.tabs.addTab(split, "sum && trajectory")
        self.tabs.addTab(scroll, "report")
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(self.tabs, 1)
        self._sum: NDArray[np.float32] | None = None
        self.shown: TableRow | None = None

    def clear(self) -> None:
        """Show no movie."""
        self._forget(None)
        self.title.setText("select a movie")

    def _forget(self, row: TableRow | None) -> None:
        self.shown = row
        self._sum = None
        self.image.clear()
        self.trajectory.clear()
        self.report.clear()

    def show_movie(self, row: TableRow, input_root: str | None, out_root: Path) -> None:
        """Show a movie row of the model, with its outputs under ``out_root``."""
        self._forget(row)
        text = f"<b>{row['name']}</b> · {row['state']}"
        if row["last_error"]:
            text += f"<br><span style='color:#a00'>{row['last_error']}</span>"
        self.title.setText(text)
        outputs = row["outputs"]
        if not outputs:
            return
        folder = output_dir(row["path"], input_root, out_root)
        self._show_sum(folder / outputs["sum_dw"]["name"])
        self._show_trajectory(folder / outputs["json"]["name"])
        if "report" in outputs:
            self.report.setPixmap(QPixmap(str(folder / outputs["report"]["name"])))

    def _show_sum(self, path: Path) -> None:
        try:
            image = np.asarray(mrcz.read(path), dtype=np.float32)
        except (OSError, mrcz.MRCZError) as exc:
            self.title.setText(self.title.text() + f"<br>cannot read {path.name}: {exc}")
            return
        self._sum = image.reshape(image.shape[-2:])
        self.image.setImage(self._sum, autoLevels=False)
        self._levels()

    def _levels(self) -> None:
        if self._sum is None:
            return
        mean, sd = float(self._sum.mean()), float(self._sum.std()) or 1.0
        spread = self.contrast.value() / 10 * sd
        self.image.setLevels((mean - spread, mean + spread))

    def _show_trajectory(self, path: Path) -> None:
        try:
            frames = json.loads(path.read_text(encoding="utf-8"))["frames"]
        except (OSError, ValueError, KeyError):
            return
        x = np.array([f["shift_x"] for f in frames])
        y = np.array([f["shift_y"] for f in frames])
        self.trajectory.plot(x, y, pen=pg.mkPen("#2a5aa0", width=2), symbol="o", symbolSize=5, symbolBrush="#2a5aa0")

    def levels(self) -> tuple[float, float] | None:
        """The grey range now shown (for tests and the status tip)."""
        if self._sum is None:
            return None
        low, high = self.image.getLevels()
        return float(low), float(high)
