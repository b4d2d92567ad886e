"""The zorro Automator: a PySide6 window that starts, follows, curates and exports a live
session (``pip install 'zorro[gui]'``; ``zorro gui [OUT_DIR] [--watch IN_DIR]``).

It is a view of the session layer: it reads :class:`zorro.session.SessionStore`, starts
``zorro watch`` in a process of its own, and does everything else as ``zorro session ...``
command lines. Neither the engine nor the session layer imports it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .window import MainWindow


def add_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``gui`` to the ``zorro`` parser."""
    gui = commands.add_parser(
        "gui",
        help="the Automator window: start, follow, curate and export a session (needs zorro[gui])",
        description="Open the Automator window on the session of OUT_DIR (or none). With --watch, start "
        "watching IN_DIR into OUT_DIR at once. --screenshot renders the window after --quit-after "
        "seconds to a PNG and exits (works with QT_QPA_PLATFORM=offscreen).",
    )
    gui.add_argument("out_dir", metavar="OUT_DIR", nargs="?", type=Path, help="a session's output folder")
    gui.add_argument("--watch", metavar="IN_DIR", type=Path, help="start a session on this input folder")
    gui.add_argument("--workers", "-j", type=int, default=1, help="with --watch: movies at once (default: 1)")
    gui.add_argument("--settle", type=float, default=20.0, help="with --watch: settle window, s (default: 20)")
    gui.add_argument(
        "--screenshot", metavar="PNG", type=Path, help="save the window to PNG (and PNG_detail, PNG_plots), exit"
    )
    gui.add_argument(
        "--quit-after", metavar="S", type=float, help="exit after S seconds (default with --screenshot: 5)"
    )
    gui.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        from PySide6.QtCore import QTimer
        from PySide6.QtWidgets import QApplication
    except ImportError:
        print("zorro gui needs PySide6 and pyqtgraph: pip install 'zorro[gui]'", file=sys.stderr)
        return 2
    from .setup import WatchSettings
    from .window import MainWindow

    if args.watch is not None and args.out_dir is None:
        raise ValueError("--watch IN_DIR needs OUT_DIR, the folder the outputs go to")
    app = QApplication.instance() or QApplication(sys.argv[:1])
    window = MainWindow(args.out_dir if args.out_dir and (args.out_dir / "zorro-session.sqlite").exists() else None)
    if args.watch is not None:
        settings = WatchSettings(
            input_dir=str(args.watch.absolute()),
            out_dir=str(args.out_dir.absolute()),
            workers=args.workers,
            settle=args.settle,
            poll=min(2.0, max(args.settle / 2, 0.2)),
        )
        window.form.set_settings(settings)
        if not window.start_session(settings):
            window.form.check()
            print("zorro gui: " + window.log.toPlainText().splitlines()[-1], file=sys.stderr)
            return 2
        window.setup_dock.hide()
    window.show()
    quit_after = args.quit_after if args.quit_after is not None else (5.0 if args.screenshot else None)
    if quit_after is not None:
        window.close_choice = "keep" if args.watch is None else "stop"
        QTimer.singleShot(int(quit_after * 1000), lambda: _finish(window, args.screenshot))
    app.exec()
    return 0


def _finish(window: MainWindow, screenshot: Path | None) -> None:
    """The end of a timed run: pick a done movie to show, render the window, close it (a session
    this run started is stopped; one it only opened keeps running)."""
    window.refresh()
    done = [r["id"] for r in window.model.rows if r["state"] == "done"]
    if done and window.current_movie() is None:
        window.select_movie(done[-1])
    if screenshot is not None:
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        # the whole window, and its detail pane and plots alone (PNG_detail.png, PNG_plots.png)
        for part, widget in (("", window), ("_detail", window.detail), ("_plots", window.plots)):
            path = screenshot.with_name(f"{screenshot.stem}{part}{screenshot.suffix}")
            if not widget.grab().save(str(path)):
                print(f"zorro gui: could not write {path}", file=sys.stderr)
                break
            print(f"zorro gui: saved {path}")
    window.close()
