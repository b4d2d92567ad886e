"""How the window acts on a session: every action is a ``zorro`` command line.

The watcher is ``zorro watch`` in a process of its own (so it outlives the window when asked
to); the other actions (pause, export, exclude, ...) run the ``zorro`` command's own code in
this process, with its output captured for the window's log. No Qt here.
"""

from __future__ import annotations

import contextlib
import io
import os
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from ..session.session import LOCK_NAME

LOG_NAME = "zorro-watch.log"


@dataclass(frozen=True)
class Done:
    """What a command did: its command line, exit status and what it printed."""

    command: str
    status: int
    output: str


def run_cli(argv: list[str]) -> Done:
    """Run ``zorro ARGV`` here (as the shell would), capturing what it prints."""
    from ..cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            status = main(argv)
        except SystemExit as exc:  # argparse refused the arguments
            status = exc.code if isinstance(exc.code, int) else 2
    return Done(shlex.join(["zorro", *argv]), status, out.getvalue().strip())


def launch(argv: list[str], out_dir: str | os.PathLike[str]) -> None:
    """Start ``zorro ARGV`` (the watcher) detached from this process: it keeps running when the
    window closes. A short-lived middle process starts it, so it is never this one's child."""
    log = Path(out_dir) / LOG_NAME
    with log.open("ab") as out:
        middle = subprocess.Popen(
            [sys.executable, "-c", _DETACH, sys.executable, "-m", "zorro", *argv],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
        )
        middle.wait()
    if middle.returncode:
        raise OSError(f"the watcher could not be started (see {log})")


_DETACH = "import subprocess, sys; subprocess.Popen(sys.argv[1:], start_new_session=True, close_fds=True)"


def watcher(out_dir: str | os.PathLike[str]) -> str | None:
    """Who holds the session's lock (``pid N on HOST since ...``), or None if no watcher runs."""
    path = Path(out_dir) / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        import fcntl

        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return os.pread(fd, 4096, 0).decode(errors="replace").strip() or "another process"
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def log_tail(out_dir: str | os.PathLike[str], lines: int = 5) -> str:
    """The last lines the watcher this window started wrote (``OUT/zorro-watch.log``)."""
    try:
        text = (Path(out_dir) / LOG_NAME).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.replace("\r", "\n").strip().splitlines()[-lines:])
