"""The session loop: scan, settle, check, queue, run, record; and the lock that makes one
watcher per output folder.

Every decision is written to the store before it is acted on, so a watcher killed at any
point (``kill -9``) resumes where it was: movies it held go back to ready, a movie whose
manifest a worker wrote before the kill is taken as done without being redone.
"""

from __future__ import annotations

import math
import os
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .._errors import InputError, ZorroError
from .executors import Executor, Outcome
from .gains import content_hash, orient_gain
from .scan import Scanner, incompleteness, missing_companion
from .store import Outputs, SessionStore
from .work import Manifest, SessionParams, output_dir, read_manifest

LOCK_NAME = "zorro-session.lock"


class SessionLockedError(ZorroError):
    """Another watcher holds the output folder."""


class SessionLock:
    """An exclusive lock on ``OUT/zorro-session.lock`` (flock: released by the kernel when
    its holder dies, even by ``kill -9``); the file says who holds it."""

    def __init__(self, out_dir: str | os.PathLike[str]) -> None:
        self.path = Path(out_dir) / LOCK_NAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            _lock(self._fd)
        except OSError:
            holder = os.pread(self._fd, 4096, 0).decode(errors="replace").strip() or "another process"
            os.close(self._fd)
            raise SessionLockedError(f"{self.path.parent} is in use by {holder}") from None
        os.ftruncate(self._fd, 0)
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        os.pwrite(self._fd, f"pid {os.getpid()} on {socket.gethostname()} since {stamp}\n".encode(), 0)

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # closing drops the lock
            self._fd = -1


def _lock(fd: int) -> None:
    if sys.platform == "win32":
        import msvcrt

        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    else:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


class _Every:
    """Whether something done every ``period`` seconds is due (asking takes it as done)."""

    def __init__(self, period: float) -> None:
        self.period = period
        self._last = -math.inf

    def due(self, now: float) -> bool:
        if now - self._last < self.period:
            return False
        self._last = now
        return True


@dataclass
class Progress:
    """What the progress line shows."""

    counts: dict[str, int]
    per_hour: float
    in_flight: int
    message: str = ""


@dataclass
class Session:
    """One session over ``out_dir``: movies found by ``scanner`` under its root (``watch``)
    or the fixed ``files`` (``batch``), aligned with ``params`` on ``executor``.

    ``params`` holds ``format``, ``save_movie``, ``report`` and ``align`` (Parameters fields,
    JSON values); ``align["gain_orientation"] == "auto"`` finds the gain's orientation on the
    first ready movies once, unless the registry knows it."""

    out_dir: Path
    params: SessionParams
    executor: Executor
    scanner: Scanner | None = None
    files: list[str] | None = None
    companion: str | None = None
    settle: float = 20.0
    poll: float = 2.0
    max_attempts: int = 3
    lease: float = 300.0
    newest_first: bool = False
    exit_when_idle: float | None = None
    gain_source: str | None = None
    on_progress: Callable[[Progress], None] | None = None
    owner: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}")

    def __post_init__(self) -> None:
        if (self.scanner is None) == (self.files is None):
            raise ValueError("a session watches a folder (scanner) or takes files, not both or neither")
        self.out_dir = Path(self.out_dir)
        self._keys: dict[str, tuple[int, str]] = {}  # executor key -> (movie id, movie path)
        self._param_hash: str | None = None
        self._gain_stat: tuple[int, float] | None = None

    # -- the loop ---------------------------------------------------------------------

    def run(self, stop: threading.Event | None = None) -> dict[str, int]:
        """Run until ``stop`` is set, or idle for ``exit_when_idle`` s (``files``: until every
        one has an outcome). Returns the final counts per state."""
        stop = stop or threading.Event()
        lock = SessionLock(self.out_dir)
        try:
            with SessionStore(self.out_dir) as store:
                self._start(store)
                try:
                    self._loop(store, stop)
                finally:
                    self._stop(store)
                return store.counts()
        finally:
            lock.release()

    def _start(self, store: SessionStore) -> None:
        root = None if self.scanner is None else str(self.scanner.root)
        store.set_settings(input_dir=root, settle=self.settle, max_attempts=self.max_attempts)
        store.log("start", f"watcher {self.owner}")
        if store.setting("control") == "stop":  # a stop asked of an earlier watcher is done with
            store.set_settings(control="run")
        self._cpu = time.process_time()
        # Holding the lock, no one else can hold a lease: whatever ran before was interrupted.
        store.release_leases(expired_only=False, max_attempts=self.max_attempts)
        if self.params["align"].get("gain_orientation") != "auto":
            self._use_parameters(store)

    def _use_parameters(self, store: SessionStore) -> str:
        """Settle the parameter set (done movies of others become outdated); returns its hash."""
        self._param_hash = digest = store.add_parameter_set(self.params)
        store.set_settings(parameters=digest)
        store.mark_outdated(digest)
        for movie in store.movies(["done"]):  # done, but are its outputs still there?
            if read_manifest(movie.path, self._out(movie.path), digest) is None:
                store.requeue(movie.id, "its outputs are missing or incomplete")
        return digest

    def _loop(self, store: SessionStore, stop: threading.Event) -> None:
        scan, beat = _Every(self.poll), _Every(self.lease / 3)
        idle_since = time.monotonic()
        while not stop.is_set():
            now = time.monotonic()
            control = store.setting("control", "run")  # `zorro session pause | resume | stop`
            if control == "stop":
                return
            recorded = self._step(store, scan=scan.due(now), fill=control != "pause", beat=beat.due(now))
            busy = self._report(store)
            if busy or recorded:
                idle_since = now
            if self._finished(busy, idle=now - idle_since):
                return
            if not recorded and not self._keys:
                stop.wait(min(self.poll, 0.5))

    def _step(self, store: SessionStore, *, scan: bool, fill: bool, beat: bool) -> int:
        """One round of the loop: scan, start movies (unless paused: the running ones finish, no
        new ones start), record the outcomes, renew the leases. Returns how many were recorded."""
        if scan:
            self._scan(store)
        if fill:
            self._fill(store)
        outcomes = self.executor.results(timeout=min(self.poll, 0.5) if self._keys else 0)
        for outcome in outcomes:
            self._record(store, outcome)
        if beat:
            store.renew(self.owner, self.lease)
        return len(outcomes)

    def _report(self, store: SessionStore) -> bool:
        """Tell ``on_progress``; True while movies are in flight or wait to be."""
        counts = store.counts()
        if self.on_progress is not None:
            self.on_progress(Progress(counts, store.throughput(), len(self._keys)))
        return bool(self._keys) or any(counts[s] for s in ("seen", "settling", "ready"))

    def _finished(self, busy: bool, idle: float) -> bool:
        """``files``: done once every one has an outcome; both: after ``exit_when_idle`` s idle."""
        if self.files is not None and not busy:
            return True
        return self.exit_when_idle is not None and idle >= self.exit_when_idle

    def _stop(self, store: SessionStore) -> None:
        for key in list(self._keys):
            self.executor.cancel(key)
        self._keys.clear()
        store.unclaim(self.owner, "the watcher stopped")
        store.log("stop", f"watcher {self.owner}; its own CPU time {time.process_time() - self._cpu:.3f} s")

    # -- steps ----------------------------------------------------------------------

    def _out(self, movie: str) -> Path:
        return output_dir(movie, None if self.scanner is None else self.scanner.root, self.out_dir)

    def _outputs(self, movie: str, manifest: Manifest) -> Outputs:
        """The manifest's outputs, named relative to the session folder (as the store keeps them)."""
        folder = self._out(movie).relative_to(self.out_dir)
        return {
            kind: {**entry, "name": (folder / entry["name"]).as_posix()} for kind, entry in manifest["outputs"].items()
        }

    def _candidates(self) -> Iterable[tuple[str, int, float]]:
        """``(path, size, mtime)`` of the movies to watch: the scanner's, or the given files that exist."""
        if self.scanner is not None:
            return self.scanner.scan()
        assert self.files is not None  # __post_init__: a scanner or files
        return _existing(self.files)

    def _scan(self, store: SessionStore) -> None:
        store.observe(self._candidates())
        for movie in store.settled(self.settle):
            if missing_companion(movie.path, self.companion):
                continue  # it stays settled and is looked at again at the next scan
            reason = incompleteness(movie.path)
            if reason is None:
                store.mark_ready(movie.id)
            else:
                store.mark_incomplete(movie.id, reason)
        self._watch_gain(store)

    def _fill(self, store: SessionStore) -> None:
        """Keep about twice the executor's capacity in flight (the queue stays on our side)."""
        param_hash = self._param_hash or self._resolve_gain(store)
        if param_hash is None:
            return
        room = 2 * self.executor.capacity() - len(self._keys)
        for movie in store.claim(room, self.owner, self.lease, newest_first=self.newest_first):
            out = self._out(movie.path)
            manifest = read_manifest(movie.path, out, param_hash)
            if manifest is not None:  # a worker finished it before the watcher could record it
                store.adopt(movie.id, param_hash, manifest["metrics"], self._outputs(movie.path, manifest))
                continue
            key = f"zorro-{movie.id}-{movie.attempts}-{uuid.uuid4().hex[:8]}"
            self._keys[key] = (movie.id, movie.path)
            self.executor.submit(key, movie.path, str(out), self.params, param_hash)

    def _record(self, store: SessionStore, outcome: Outcome) -> None:
        movie_id, path = self._keys.pop(outcome.key)
        if outcome.manifest is not None:
            manifest = outcome.manifest  # written for the parameter set the movie was submitted with
            store.finish(
                movie_id, self.owner, manifest["param_hash"], manifest["metrics"], self._outputs(path, manifest)
            )
            return
        error = outcome.error
        if outcome.lost:
            reason = f"worker lost ({type(error).__name__ if error else 'cancelled'})"
        else:
            reason = f"{type(error).__name__}: {error}"
        permanent = isinstance(error, (InputError, FileNotFoundError)) and not outcome.lost
        store.fail(movie_id, self.owner, reason, max_attempts=self.max_attempts, permanent=permanent)

    # -- the gain reference -----------------------------------------------------------

    def _resolve_gain(self, store: SessionStore) -> str | None:
        """With orientation "auto": look the gain up, else orient it on the first ready movies
        (up to 3, once). Returns the parameter hash once the parameter set is settled."""
        align = self.params["align"]
        digest = content_hash(align["gain"])
        row = store.gain(digest)
        orientation = None if row is None else row["orientation"]
        if orientation is None:
            ready = [m.path for m in store.movies(["ready"])][:3]
            if not ready:
                return None
            orientation = orient_gain(store, digest, ready)
        self.params = {**self.params, "align": {**align, "gain_orientation": orientation}}
        return self._use_parameters(store)

    def _watch_gain(self, store: SessionStore) -> None:
        """Report a gain reference overwritten mid-session (the session keeps its copy)."""
        if self.gain_source is None:
            return
        try:
            st = Path(self.gain_source).stat()
        except OSError:
            return
        stat = (st.st_size, st.st_mtime)
        if self._gain_stat is not None and stat != self._gain_stat:
            digest = content_hash(self.gain_source)
            if store.gain(digest) is None:
                store.log("gain_changed", f"{self.gain_source} changed (now {digest}); this session keeps its copy")
                if self.on_progress is not None:
                    self.on_progress(Progress(store.counts(), 0.0, len(self._keys), "the gain reference changed"))
        self._gain_stat = stat


def _existing(files: list[str]) -> Iterator[tuple[str, int, float]]:
    """``(absolute path, size, mtime)`` of the files that exist."""
    for path in files:
        try:
            st = Path(path).stat()
        except FileNotFoundError:
            continue
        yield str(Path(path).absolute()), st.st_size, st.st_mtime
