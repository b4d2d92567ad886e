"""The session store: one SQLite file per output folder, ``OUT/zorro-session.sqlite``.

It is the memory of a session and the one source of what the CLI and the GUI show: the
settings, every parameter set (by content hash), every movie with its state, attempts,
last error, lease and metrics, and an append-only event log.

Concurrency: SQLite in WAL mode, so readers (``zorro session status``, the GUI) never block
the watcher and see only committed transactions. Each :class:`SessionStore` holds one
connection and writes in short ``BEGIN IMMEDIATE`` transactions, one writer at a time (others
wait up to ``busy_timeout``). Use a store from the thread that opened it.

States of a movie (see :data:`STATES`)::

    seen -> settling -> ready -> running -> done | failed
      ^________|  (size or mtime changed)     \\-> ready (retry, attempts < cap)
    settled but header and size disagree -> incomplete (back to settling if it changes)
    done, then the file changes -> stale;  done with other parameters -> outdated
    excluded: by the user, never processed until reprocessed
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence, Sized
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeAlias, TypedDict, cast

from .._errors import ZorroError

#: The file name of the store in the output folder.
STORE_NAME = "zorro-session.sqlite"

#: Every state a movie can be in, with what it means.
STATES = {
    "seen": "found; size and mtime not yet watched for a settle window",
    "settling": "still changing, or not yet unchanged for the settle window",
    "ready": "complete and waiting for a worker",
    "running": "held by a worker under a lease",
    "done": "aligned; its manifest exists for the parameter set it was done with",
    "failed": "gave up: the last error says why (reprocess to try again)",
    "incomplete": "stopped changing, but its header and size disagree (truncated, or unreadable pages)",
    "excluded": "left out by the user",
    "stale": "the file changed after it was done",
    "outdated": "done with another parameter set than the current one",
}

#: The states in which a movie waits for its file to settle.
WATCHED = ("seen", "settling", "incomplete")

#: The metrics stored per movie (Å unless said otherwise).
METRICS = (
    "frames",
    "dose",  # e⁻/Å² over the whole movie
    "drift_total",
    "drift_early",
    "drift_late",
    "resolution",  # FRC (even vs odd frames) crossing of 0.143, Å
    "seconds",  # time taken to align and write
    "pixel_size",  # Å per input pixel, as used
    "voltage",  # kV, as used
)

# Migration k brings the schema from version k to k + 1; never edit a released one, append.
_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE parameter_sets (hash TEXT PRIMARY KEY, params TEXT NOT NULL, created REAL NOT NULL);
    CREATE TABLE movies (
        id INTEGER PRIMARY KEY,
        path TEXT NOT NULL UNIQUE,
        size INTEGER NOT NULL,
        mtime REAL NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        found REAL NOT NULL,
        stable_since REAL NOT NULL,
        changed REAL NOT NULL,
        started REAL,
        finished REAL,
        param_hash TEXT REFERENCES parameter_sets(hash),
        lease_owner TEXT,
        lease_expires REAL
    );
    CREATE INDEX movies_state ON movies(state);
    CREATE TABLE metrics (
        movie_id INTEGER PRIMARY KEY REFERENCES movies(id),
        param_hash TEXT NOT NULL,
        frames INTEGER, dose REAL, drift_total REAL, drift_early REAL, drift_late REAL,
        resolution REAL, seconds REAL, pixel_size REAL, voltage REAL,
        outputs TEXT NOT NULL
    );
    CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        time REAL NOT NULL,
        movie_id INTEGER REFERENCES movies(id),
        kind TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT ''
    );
    CREATE TRIGGER events_no_update BEFORE UPDATE ON events
        BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
    CREATE TRIGGER events_no_delete BEFORE DELETE ON events
        BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
    CREATE TABLE gains (
        hash TEXT PRIMARY KEY,
        source TEXT NOT NULL,
        copy TEXT NOT NULL,
        orientation TEXT,
        registered REAL NOT NULL
    );
    """,
)
#: The schema version this zorro writes (stores of older versions are migrated on opening).
SCHEMA_VERSION = len(_MIGRATIONS)


class StoreError(ZorroError):
    """The session store cannot be used: newer schema, not a session folder, bad request."""


@dataclass(frozen=True)
class MovieRow:
    """One movie as the store holds it."""

    id: int
    path: str
    size: int
    mtime: float
    state: str
    attempts: int
    last_error: str | None
    found: float
    stable_since: float
    changed: float
    started: float | None
    finished: float | None
    param_hash: str | None
    lease_owner: str | None
    lease_expires: float | None


#: A value as JSON holds it (settings and parameter sets are stored as JSON).
JSON: TypeAlias = "Mapping[str, JSON] | Sequence[JSON] | str | int | float | bool | None"


class Metrics(TypedDict, total=False):
    """What a worker measured on a movie (see :data:`METRICS`); a metric left out is stored as NULL."""

    frames: int
    dose: float
    drift_total: float | None
    drift_early: float | None
    drift_late: float | None
    resolution: float | None
    seconds: float
    pixel_size: float | None
    voltage: float | None


class OutputEntry(TypedDict):
    """One output file of a movie: its name and its size in bytes."""

    name: str
    size: int


#: Each kind of output (``sum``, ``sum_dw``, ``star``, ``json``, ``report``...) and its file.
Outputs: TypeAlias = dict[str, OutputEntry]


class ResultRow(TypedDict):
    """A movie with its metrics, as :meth:`SessionStore.results` gives it (output names are
    relative to the session folder)."""

    id: int
    path: str
    state: str
    finished: float | None
    param_hash: str | None
    frames: int | None
    dose: float | None
    drift_total: float | None
    drift_early: float | None
    drift_late: float | None
    resolution: float | None
    seconds: float | None
    pixel_size: float | None
    voltage: float | None
    outputs: Outputs


class EventRow(TypedDict):
    """One entry of the event log, with the path of the movie it names (None if none)."""

    id: int
    time: float
    movie_id: int | None
    kind: str
    detail: str
    path: str | None


class GainRow(TypedDict):
    """A registered gain reference: content hash, where it came from, the session's copy and
    the orientation found for it (None until known)."""

    hash: str
    source: str
    copy: str
    orientation: str | None
    registered: float


def parameter_hash(params: Mapping[str, object]) -> str:
    """Content hash of a parameter set: SHA-256 of its canonical JSON (sorted keys), 16 hex digits."""
    text = json.dumps(params, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class SessionStore:
    """The SQLite store of one session folder; creates or migrates it on opening.

    >>> with SessionStore("OUT") as store:
    ...     store.counts()
    """

    def __init__(self, out_dir: str | Path, *, create: bool = True, busy_timeout: float = 30.0) -> None:
        self.out_dir = Path(out_dir)
        self.path = self.out_dir / STORE_NAME
        if not create and not self.path.is_file():
            raise StoreError(f"{self.out_dir} holds no zorro session ({STORE_NAME} not found)")
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=busy_timeout, isolation_level=None)
        try:
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")  # a committed state survives a power cut
            self._db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except BaseException:
            self._db.close()  # a store that cannot be opened leaves no connection behind
            raise

    # -- plumbing -----------------------------------------------------------------

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> SessionStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; taken at once (IMMEDIATE) so it never fails half-way on a lock."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _migrate(self) -> None:
        with self._write() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path} has schema version {version}; this zorro knows up to {SCHEMA_VERSION}: upgrade zorro"
                )
            for k in range(version, SCHEMA_VERSION):
                for statement in _statements(_MIGRATIONS[k]):
                    db.execute(statement)
            if version < SCHEMA_VERSION:
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                _log(db, "schema", None, f"migrated from version {version} to {SCHEMA_VERSION}")

    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    # -- settings, parameter sets, events -------------------------------------------

    def setting(self, key: str, default: JSON = None) -> JSON:
        """A session setting (any JSON value), ``default`` if unset."""
        row = self._db.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        value: JSON = default if row is None else json.loads(row[0])
        return value

    def set_settings(self, **values: JSON) -> None:
        """Store settings (JSON values); each change is logged as an event."""
        with self._write() as db:
            for key, value in values.items():
                text = json.dumps(value, sort_keys=True)
                old = db.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
                if old is None or old[0] != text:
                    db.execute("INSERT OR REPLACE INTO settings VALUES (?, ?)", (key, text))
                    _log(db, "setting", None, f"{key} = {text}")

    def add_parameter_set(self, params: Mapping[str, object]) -> str:
        """Store a parameter set (JSON-able dict) under its content hash; returns the hash."""
        digest = parameter_hash(params)
        with self._write() as db:
            db.execute(
                "INSERT OR IGNORE INTO parameter_sets VALUES (?, ?, ?)",
                (digest, json.dumps(params, sort_keys=True), time.time()),
            )
        return digest

    def parameter_set(self, digest: str) -> dict[str, JSON]:
        row = self._db.execute("SELECT params FROM parameter_sets WHERE hash = ?", (digest,)).fetchone()
        if row is None:
            raise StoreError(f"no parameter set {digest} in {self.path}")
        params: dict[str, JSON] = json.loads(row[0])
        return params

    def log(self, kind: str, detail: str = "", movie_id: int | None = None) -> None:
        """Append an event."""
        with self._write() as db:
            _log(db, kind, movie_id, detail)

    def events(self, limit: int = 50, kind: str | None = None) -> list[EventRow]:
        """The latest events, newest first."""
        where, args = ("WHERE kind = ?", (kind,)) if kind else ("", ())
        rows = self._db.execute(
            "SELECT e.*, m.path FROM events e LEFT JOIN movies m ON m.id = e.movie_id "
            f"{where} ORDER BY e.id DESC LIMIT ?",
            (*args, limit),
        )
        return [cast(EventRow, dict(row)) for row in rows]  # the query's columns are EventRow's fields

    # -- the file system's view -----------------------------------------------------

    def observe(self, files: Iterable[tuple[str, int, float]], now: float | None = None) -> int:
        """Record a scan: ``(path, size, mtime)`` of every candidate file; returns how many are new.

        A new file is ``seen``; one whose size or mtime differs from the last scan goes back to
        ``settling`` (or to ``stale`` if it was done); files unchanged keep their state.
        """
        now = time.time() if now is None else now
        new = 0
        files = list(files)  # scan first (a slow file system must not hold the write lock)
        with self._write() as db:
            # One query for all: a session holds tens of thousands of movies, scanned every few seconds.
            known = {row["path"]: row for row in db.execute("SELECT id, path, size, mtime, state, changed FROM movies")}
            for path, size, mtime in files:
                row = known.get(path)
                if row is None:
                    cursor = db.execute(
                        "INSERT INTO movies (path, size, mtime, state, found, stable_since, changed) "
                        "VALUES (?, ?, ?, 'seen', ?, ?, ?)",
                        (path, size, mtime, now, now, now),
                    )
                    _log(db, "seen", cursor.lastrowid, f"{size} bytes")
                    known[path] = {
                        "id": cursor.lastrowid,
                        "size": size,
                        "mtime": mtime,
                        "state": "seen",
                        "changed": now,
                    }
                    new += 1
                elif (row["size"], row["mtime"]) != (size, mtime):
                    state = _changed_state(row["state"])
                    db.execute(
                        "UPDATE movies SET size = ?, mtime = ?, stable_since = ?, state = ?, changed = ? WHERE id = ?",
                        (size, mtime, now, state, now if state != row["state"] else row["changed"], row["id"]),
                    )
                    if state != row["state"]:
                        _log(db, state, row["id"], f"file changed: {row['size']} -> {size} bytes")
        return new

    def settled(self, settle: float, now: float | None = None) -> list[MovieRow]:
        """Movies watched (seen, settling) whose size and mtime have not changed for ``settle`` s."""
        now = time.time() if now is None else now
        rows = self._db.execute(
            "SELECT * FROM movies WHERE state IN ('seen', 'settling') AND stable_since <= ? ORDER BY mtime, id",
            (now - settle,),
        )
        return [MovieRow(**row) for row in rows]

    def mark_ready(self, movie_id: int) -> None:
        self._set_state(movie_id, "ready", from_states=WATCHED, error=None)

    def mark_incomplete(self, movie_id: int, reason: str) -> None:
        """Settled but not complete; the movie waits for the file to change again."""
        self._set_state(movie_id, "incomplete", from_states=WATCHED, error=reason)

    # -- work -------------------------------------------------------------------------

    def claim(self, count: int, owner: str, lease: float, *, newest_first: bool = False) -> list[MovieRow]:
        """Take up to ``count`` ready movies: running, held by ``owner`` for ``lease`` seconds,
        one more attempt counted. Oldest files (mtime) first unless ``newest_first``."""
        if count <= 0:
            return []
        now = time.time()
        order = "DESC" if newest_first else "ASC"
        with self._write() as db:
            ids = [
                row[0]
                for row in db.execute(
                    f"SELECT id FROM movies WHERE state = 'ready' ORDER BY mtime {order}, id {order} LIMIT ?", (count,)
                )
            ]
            for movie_id in ids:
                db.execute(
                    "UPDATE movies SET state = 'running', attempts = attempts + 1, started = ?, changed = ?, "
                    "lease_owner = ?, lease_expires = ? WHERE id = ?",
                    (now, now, owner, now + lease, movie_id),
                )
                _log(db, "running", movie_id, f"lease to {owner}")
            rows = db.execute(f"SELECT * FROM movies WHERE id IN ({','.join('?' * len(ids))})", ids).fetchall()
        return sorted((MovieRow(**row) for row in rows), key=lambda m: ids.index(m.id))

    def renew(self, owner: str, lease: float) -> int:
        """Extend every lease ``owner`` holds (its heartbeat); returns how many."""
        with self._write() as db:
            return db.execute(
                "UPDATE movies SET lease_expires = ? WHERE state = 'running' AND lease_owner = ?",
                (time.time() + lease, owner),
            ).rowcount

    def finish(self, movie_id: int, owner: str, param_hash: str, metrics: Metrics, outputs: Outputs) -> bool:
        """Record a movie done with ``param_hash``; False (nothing written) if ``owner`` no longer
        holds its lease (it was excluded, reprocessed or recovered meanwhile)."""
        now = time.time()
        with self._write() as db:
            held = db.execute(
                "UPDATE movies SET state = 'done', finished = ?, changed = ?, param_hash = ?, last_error = NULL, "
                "lease_owner = NULL, lease_expires = NULL WHERE id = ? AND state = 'running' AND lease_owner = ?",
                (now, now, param_hash, movie_id, owner),
            ).rowcount
            if held:
                _put_metrics(db, movie_id, param_hash, metrics, outputs)
                _log(db, "done", movie_id, f"{metrics.get('seconds', 0):.1f} s, parameters {param_hash}")
        return bool(held)

    def fail(self, movie_id: int, owner: str, reason: str, *, max_attempts: int, permanent: bool = False) -> str | None:
        """An attempt failed: back to ready while attempts < ``max_attempts`` (and not
        ``permanent``), else failed with ``reason``. Returns the new state, or None if
        ``owner`` no longer held the lease."""
        now = time.time()
        with self._write() as db:
            row = db.execute(
                "SELECT attempts FROM movies WHERE id = ? AND state = 'running' AND lease_owner = ?", (movie_id, owner)
            ).fetchone()
            if row is None:
                return None
            state = "failed" if permanent or row[0] >= max_attempts else "ready"
            db.execute(
                "UPDATE movies SET state = ?, last_error = ?, changed = ?, finished = ?, "
                "lease_owner = NULL, lease_expires = NULL WHERE id = ?",
                (state, reason, now, now if state == "failed" else None, movie_id),
            )
            _log(db, "failed" if state == "failed" else "retry", movie_id, f"attempt {row[0]}: {reason}")
        return state

    def release_leases(self, *, expired_only: bool, max_attempts: int) -> list[MovieRow]:
        """Running movies whose lease expired (or every running movie, when ``expired_only`` is
        False: at a restart that holds the session lock, no one else can hold a lease) go
        back to ready, or to failed once they used ``max_attempts``. Returns them."""
        now = time.time()
        condition = "state = 'running'" + (" AND lease_expires < ?" if expired_only else "")
        with self._write() as db:
            rows = db.execute(f"SELECT * FROM movies WHERE {condition}", (now,) if expired_only else ()).fetchall()
            for row in rows:
                state = "failed" if row["attempts"] >= max_attempts else "ready"
                reason = f"lease of {row['lease_owner']} lost after attempt {row['attempts']}"
                db.execute(
                    "UPDATE movies SET state = ?, last_error = ?, changed = ?, lease_owner = NULL, "
                    "lease_expires = NULL WHERE id = ?",
                    (state, reason, now, row["id"]),
                )
                _log(db, "failed" if state == "failed" else "recovered", row["id"], reason)
        return [MovieRow(**row) for row in rows]

    def unclaim(self, owner: str, reason: str) -> int:
        """A clean stop: movies ``owner`` holds go back to ready, their attempt not counted."""
        now = time.time()
        with self._write() as db:
            ids = [
                r[0] for r in db.execute("SELECT id FROM movies WHERE state = 'running' AND lease_owner = ?", (owner,))
            ]
            for movie_id in ids:
                db.execute(
                    "UPDATE movies SET state = 'ready', attempts = MAX(attempts - 1, 0), changed = ?, "
                    "lease_owner = NULL, lease_expires = NULL WHERE id = ?",
                    (now, movie_id),
                )
                _log(db, "ready", movie_id, reason)
        return len(ids)

    def adopt(self, movie_id: int, param_hash: str, metrics: Metrics, outputs: Outputs) -> None:
        """Record as done a movie whose complete outputs were found on disk (a manifest for
        ``param_hash`` written by a worker whose result the store never got)."""
        now = time.time()
        with self._write() as db:
            db.execute(
                "UPDATE movies SET state = 'done', finished = ?, changed = ?, param_hash = ?, last_error = NULL, "
                "lease_owner = NULL, lease_expires = NULL WHERE id = ?",
                (now, now, param_hash, movie_id),
            )
            _put_metrics(db, movie_id, param_hash, metrics, outputs)
            _log(db, "done", movie_id, f"outputs found on disk for parameters {param_hash}")

    def requeue(self, movie_id: int, reason: str) -> None:
        """A done movie whose outputs are missing or damaged: back to ready, attempts reset."""
        self._set_state(movie_id, "ready", from_states=("done", "outdated", "stale"), error=reason, attempts=0)

    def mark_outdated(self, current: str) -> int:
        """Done movies of other parameter sets become outdated; outdated ones done with
        ``current`` are done again. Returns how many became outdated."""
        with self._write() as db:
            now = time.time()
            count = db.execute(
                "UPDATE movies SET state = 'outdated', changed = ? WHERE state = 'done' AND param_hash != ?",
                (now, current),
            ).rowcount
            db.execute(
                "UPDATE movies SET state = 'done', changed = ? WHERE state = 'outdated' AND param_hash = ?",
                (now, current),
            )
            if count:
                _log(db, "outdated", None, f"{count} movies done with other parameters than {current}")
        return count

    # -- what the user asks --------------------------------------------------------

    def reprocess(self, *, states: Iterable[str] = (), paths: Iterable[str] = ()) -> int:
        """Queue again the movies in ``states`` and the movies named in ``paths`` (attempts
        reset). Running movies are left alone. Returns how many were queued."""
        return self._user_change("ready", states, paths, "reprocess")

    def exclude(self, paths: Iterable[str]) -> int:
        """Leave the named movies out (until reprocessed). Returns how many."""
        return self._user_change("excluded", (), paths, "exclude")

    def _user_change(self, state: str, states: Iterable[str], paths: Iterable[str], kind: str) -> int:
        states, paths = list(states), list(paths)
        unknown = set(states) - set(STATES)
        if unknown:
            raise StoreError(f"unknown state(s): {', '.join(sorted(unknown))}")
        now, count = time.time(), 0
        with self._write() as db:
            ids = [r[0] for r in db.execute(f"SELECT id FROM movies WHERE state IN ({_marks(states)})", states)]
            for path in paths:
                row = db.execute("SELECT id FROM movies WHERE path = ?", (path,)).fetchone()
                if row is None:
                    raise StoreError(f"no movie {path} in this session")
                ids.append(row[0])
            for movie_id in dict.fromkeys(ids):
                changed = db.execute(
                    "UPDATE movies SET state = ?, attempts = 0, last_error = NULL, changed = ? "
                    "WHERE id = ? AND state != 'running' AND state != ?",
                    (state, now, movie_id, state),
                ).rowcount
                if changed:
                    _log(db, kind, movie_id, "asked by the user")
                count += changed
        return count

    def _set_state(
        self, movie_id: int, state: str, *, from_states: tuple[str, ...], error: str | None, attempts: int | None = None
    ) -> None:
        now = time.time()
        with self._write() as db:
            changed = db.execute(
                f"UPDATE movies SET state = ?, last_error = ?, changed = ?, attempts = COALESCE(?, attempts) "
                f"WHERE id = ? AND state IN ({_marks(from_states)})",
                (state, error, now, attempts, movie_id, *from_states),
            ).rowcount
            if changed:
                _log(db, state, movie_id, error or "")

    # -- reading ------------------------------------------------------------------------

    def movie(self, path: str) -> MovieRow | None:
        row = self._db.execute("SELECT * FROM movies WHERE path = ?", (path,)).fetchone()
        return None if row is None else MovieRow(**row)

    def movies(self, states: Iterable[str] | None = None) -> list[MovieRow]:
        """Movies (all, or those in ``states``), oldest file first."""
        if states is None:
            rows = self._db.execute("SELECT * FROM movies ORDER BY mtime, id")
        else:
            states = list(states)
            rows = self._db.execute(
                f"SELECT * FROM movies WHERE state IN ({_marks(states)}) ORDER BY mtime, id", states
            )
        return [MovieRow(**row) for row in rows]

    def counts(self) -> dict[str, int]:
        """Movies per state, every state listed (zero included)."""
        counts = dict.fromkeys(STATES, 0)
        for state, n in self._db.execute("SELECT state, COUNT(*) FROM movies GROUP BY state"):
            counts[state] = n
        return counts

    def results(self, *, states: Iterable[str] = ("done",)) -> list[ResultRow]:
        """Movies with their metrics, oldest file first. ``outputs`` maps each kind of output
        (``sum``, ``sum_dw``, ``star``, ``json``, ``report``...) to its ``name`` (a path relative
        to the session folder) and ``size`` in bytes."""
        states = list(states)
        rows = self._db.execute(
            f"{_RESULTS} WHERE m.state IN ({_marks(states)}) ORDER BY m.mtime, m.id",
            states,
        )
        return [_result(row) for row in rows]

    def result(self, movie_id: int) -> ResultRow | None:
        """One movie as :meth:`results` gives it (any state), None if it has no metrics."""
        row = self._db.execute(f"{_RESULTS} WHERE m.id = ?", (movie_id,)).fetchone()
        return None if row is None else _result(row)

    def throughput(self, window: float = 3600.0) -> float:
        """Movies done per hour over the last ``window`` seconds (or since the first, if later)."""
        now = time.time()
        done = self._db.execute(
            "SELECT COUNT(*) FROM movies WHERE state = 'done' AND finished >= ?", (now - window,)
        ).fetchone()[0]
        first = self._db.execute("SELECT MIN(started) FROM movies WHERE started >= ?", (now - window,)).fetchone()[0]
        if not done or first is None:
            return 0.0
        return float(done * 3600.0 / max(now - first, 1.0))

    def last_errors(self, limit: int = 5) -> list[tuple[str, str]]:
        """(path, error) of the movies that failed or are incomplete, latest first."""
        rows = self._db.execute(
            "SELECT path, last_error FROM movies WHERE last_error IS NOT NULL ORDER BY changed DESC LIMIT ?", (limit,)
        )
        return [(row[0], row[1]) for row in rows]

    # -- gain references --------------------------------------------------------------

    def gain(self, digest: str) -> GainRow | None:
        row = self._db.execute("SELECT * FROM gains WHERE hash = ?", (digest,)).fetchone()
        return None if row is None else cast(GainRow, dict(row))  # the table's columns are GainRow's fields

    def register_gain(self, digest: str, source: str, copy: str, orientation: str | None) -> GainRow:
        """Register (or register again) a gain reference; returns its row as stored."""
        gain = GainRow(hash=digest, source=source, copy=copy, orientation=orientation, registered=time.time())
        with self._write() as db:
            db.execute("INSERT OR REPLACE INTO gains VALUES (:hash, :source, :copy, :orientation, :registered)", gain)
            _log(db, "gain", None, f"{source} registered as {digest}, orientation {orientation}")
        return gain


_RESULTS = (
    "SELECT m.id, m.path, m.state, m.finished, m.param_hash, x.frames, x.dose, x.drift_total, x.drift_early, "
    "x.drift_late, x.resolution, x.seconds, x.pixel_size, x.voltage, x.outputs "
    "FROM movies m JOIN metrics x ON x.movie_id = m.id"
)


def _result(row: sqlite3.Row) -> ResultRow:
    """A row of the ``_RESULTS`` query (whose columns are ResultRow's fields), its outputs decoded."""
    return cast(ResultRow, {**dict(row), "outputs": json.loads(row["outputs"])})


def _changed_state(state: str) -> str:
    """Where a movie goes when its file changes under it."""
    if state in ("done", "outdated", "stale"):
        return "stale"
    if state in ("seen", "settling", "incomplete", "ready"):
        return "settling"
    return state  # running, failed, excluded: the outcome (or the user's choice) stands


def _put_metrics(db: sqlite3.Connection, movie_id: int, param_hash: str, metrics: Metrics, outputs: Outputs) -> None:
    values = [metrics.get(name) for name in METRICS]
    db.execute(
        f"INSERT OR REPLACE INTO metrics (movie_id, param_hash, {', '.join(METRICS)}, outputs) "
        f"VALUES (?, ?, {_marks(METRICS)}, ?)",
        (movie_id, param_hash, *values, json.dumps(outputs, sort_keys=True)),
    )


def _log(db: sqlite3.Connection, kind: str, movie_id: int | None, detail: str) -> None:
    db.execute(
        "INSERT INTO events (time, movie_id, kind, detail) VALUES (?, ?, ?, ?)", (time.time(), movie_id, kind, detail)
    )


def _marks(values: Sized) -> str:
    return ",".join("?" * len(values))


def _statements(script: str) -> list[str]:
    """Split a migration into statements (sqlite3's executescript would commit on its own)."""
    statements, current = [], ""
    for line in script.strip().splitlines():
        current += line + "\n"
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    return statements
