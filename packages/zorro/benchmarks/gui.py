"""How responsive the Automator stays with a big session: a real store of 5000 movies.

Times (medians of interleaved repeats, each including a synchronous repaint of the widget):
  table: read the store into the model (load), sort by drift and by name, filter by name
  plots: redraw the four session plots (pyqtgraph), next to the same plots drawn by
         matplotlib's Qt canvas, the other choice the issue named

Usage:
    QT_QPA_PLATFORM=offscreen python packages/zorro/benchmarks/gui.py [--movies 5000] [--repeats 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def make_store(folder: Path, movies: int):
    """A session store with ``movies`` done movies over 8 hours (metrics drawn at random)."""
    from zorro.session import SessionStore

    store = SessionStore(folder)
    store._db.execute("PRAGMA synchronous=OFF")  # building the fixture only; reads are what is timed
    rng = np.random.default_rng(0)
    t0 = time.time() - 8 * 3600
    store.observe((f"/data/session/GridSquare_{k // 100}/movie_{k:05d}.tif", 1000, t0 + k) for k in range(movies))
    params = store.add_parameter_set({"bench": True})
    for movie in store.claim(movies, "bench", 3600):
        drift = float(rng.gamma(3.0, 4.0))
        metrics = {"frames": 40, "dose": 40.0, "drift_total": drift, "drift_early": drift / 3}
        metrics |= {"drift_late": 2 * drift / 3, "resolution": float(rng.uniform(3, 9)), "seconds": 5.0}
        store.finish(movie.id, "bench", params, metrics, {"sum_dw": {"name": "x.mrc", "size": 1}})
    return store


def timed_ms(fn) -> float:
    """Milliseconds ``fn`` takes (or the seconds it reports itself, if it times only a part)."""
    start = time.perf_counter()
    took = fn()
    return 1000 * (took if took is not None else time.perf_counter() - start)


def table_cases(store, model, table) -> dict:
    """The table's cases: reading the store into the model, sorting, filtering (each repainted)."""
    from PySide6.QtCore import Qt

    from zorro.gui.model import COLUMNS

    drift = next(k for k, c in enumerate(COLUMNS) if c.key == "drift_total")

    def load():
        model._last_event = None  # read everything again
        model.refresh(store)
        table.viewport().repaint()

    paths = [m.path for m in store.movies()]
    changed = iter(range(0, len(paths), 10))

    def live_refresh():
        k = next(changed)
        store.exclude(paths[k : k + 10])  # 10 movies change state (not timed)...
        start = time.perf_counter()
        model.refresh(store)  # ...and the window's poll reads them
        table.viewport().repaint()
        return time.perf_counter() - start

    def sort_drift():
        model.sort(drift, Qt.SortOrder.DescendingOrder)
        table.viewport().repaint()

    def sort_name():
        model.sort(0, Qt.SortOrder.AscendingOrder)
        table.viewport().repaint()

    def filter_name():
        model.set_filter("_012")
        table.viewport().repaint()
        model.set_filter("")

    return {
        "table: load 5000 rows from the store": load,
        "table: refresh after 10 movies changed": live_refresh,
        "table: sort by drift": sort_drift,
        "table: sort by name": sort_name,
        "table: filter by name (and clear)": filter_name,
    }


def plot_cases(model, plots, figure, canvas) -> dict:
    """The session plots drawn by pyqtgraph, and the same by matplotlib's Qt canvas."""
    from zorro.gui.plots import queue_depth

    def pyqtgraph_plots():
        plots.show_rows(model.rows)
        plots.repaint()

    def matplotlib_plots():
        rows = model.rows
        figure.clear()
        axes = figure.subplots(2, 2)
        done = [r for r in rows if r["finished"]]
        x = [r["finished"] for r in done]
        axes[0, 0].scatter(x, [r["drift_total"] for r in done], s=5)
        axes[0, 1].scatter(x, [r["resolution"] for r in done], s=5)
        hours, counts = np.unique(np.floor(np.array(x) / 3600), return_counts=True)
        axes[1, 0].bar(hours, counts)
        axes[1, 1].step(*queue_depth(rows, time.time()), where="post")
        canvas.draw()
        canvas.repaint()

    return {"plots: redraw, pyqtgraph": pyqtgraph_plots, "plots: redraw, matplotlib QtAgg": matplotlib_plots}


def interleaved(cases: dict, repeats: int) -> dict[str, list[float]]:
    """Milliseconds of each case, ``repeats`` rounds that each run every case once."""
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeats):
        for name, fn in cases.items():
            times[name].append(timed_ms(fn))
    return times


def report(times: dict[str, list[float]], movies: int, repeats: int) -> None:
    print(f"{movies} movies, {repeats} interleaved repeats, load average {os.getloadavg()[0]:.1f}")
    print("| what | median ms | worst ms |\n| --- | ---: | ---: |")
    for name, values in times.items():
        print(f"| {name.replace('5000', str(movies))} | {statistics.median(values):.1f} | {max(values):.1f} |")
    ratio = statistics.median(times["plots: redraw, matplotlib QtAgg"]) / statistics.median(
        times["plots: redraw, pyqtgraph"]
    )
    print(f"\nmatplotlib / pyqtgraph redraw time: {ratio:.1f}x")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--movies", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    import matplotlib

    matplotlib.use("QtAgg")
    from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
    from matplotlib.figure import Figure
    from PySide6.QtWidgets import QApplication, QTableView

    from zorro.gui.model import MovieModel
    from zorro.gui.plots import SessionPlots

    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory() as tmp:
        store = make_store(Path(tmp), args.movies)
        model = MovieModel()
        table = QTableView()
        table.setModel(model)
        table.resize(900, 500)
        table.show()
        plots = SessionPlots()
        plots.resize(900, 420)
        plots.show()
        figure = Figure(figsize=(9, 4.2), dpi=100)
        canvas = FigureCanvasQTAgg(figure)
        canvas.show()
        app.processEvents()
        cases = table_cases(store, model, table) | plot_cases(model, plots, figure, canvas)
        cases["table: load 5000 rows from the store"]()  # the plots draw the model's rows
        times = interleaved(cases, args.repeats)
        store.close()
    report(times, args.movies, args.repeats)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
