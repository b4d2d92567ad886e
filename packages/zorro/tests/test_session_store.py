"""The session store on a real SQLite file: states, leases, retries, outdated, migrations."""

from __future__ import annotations

import sqlite3

import hypothesis.strategies as st
import pytest
from hypothesis import given, settings

from zorro.session import SCHEMA_VERSION, STORE_NAME, SessionStore, StoreError, parameter_hash


def _ready(store: SessionStore, *names: str) -> None:
    store.observe([(name, 100, float(k)) for k, name in enumerate(names)], now=0.0)
    for movie in store.settled(1.0, now=5.0):
        store.mark_ready(movie.id)


def test_store_is_wal_versioned_and_survives_reopening(tmp_path):
    with SessionStore(tmp_path) as store:
        store.set_settings(input_dir="/in", settle=20.0)
        digest = store.add_parameter_set({"band": 6, "gain": None})
        _ready(store, "/in/a.mrc")
    with SessionStore(tmp_path, create=False) as store:
        assert store.schema_version() == SCHEMA_VERSION
        assert store.setting("settle") == 20.0
        assert store.parameter_set(digest) == {"band": 6, "gain": None}
        assert store.counts()["ready"] == 1
    raw = sqlite3.connect(tmp_path / STORE_NAME)
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    raw.close()


def test_newer_schema_and_missing_store_are_refused(tmp_path):
    with pytest.raises(StoreError, match="no zorro session"):
        SessionStore(tmp_path / "elsewhere", create=False)
    SessionStore(tmp_path).close()
    raw = sqlite3.connect(tmp_path / STORE_NAME)
    raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    raw.commit()
    raw.close()
    with pytest.raises(StoreError, match="upgrade zorro"):
        SessionStore(tmp_path)


def test_parameter_hash_is_content_only():
    assert parameter_hash({"a": 1, "b": [1, 2]}) == parameter_hash({"b": [1, 2], "a": 1})
    assert parameter_hash({"a": 1}) != parameter_hash({"a": 2})


def test_settling_follows_size_and_mtime(tmp_path):
    with SessionStore(tmp_path) as store:
        assert store.observe([("/m.mrc", 10, 1.0)], now=0.0) == 1
        assert [m.path for m in store.settled(5.0, now=4.0)] == []
        store.observe([("/m.mrc", 20, 2.0)], now=3.0)  # still growing: the window restarts
        assert store.movie("/m.mrc").state == "settling"
        assert [m.path for m in store.settled(5.0, now=7.0)] == []
        (movie,) = store.settled(5.0, now=8.0)
        store.mark_incomplete(movie.id, "header says 4 frames, the file holds 2")
        assert store.movie("/m.mrc").state == "incomplete"
        store.observe([("/m.mrc", 40, 3.0)], now=9.0)  # it grew after all
        assert store.movie("/m.mrc").state == "settling"


def test_leases_retries_and_cap(tmp_path):
    with SessionStore(tmp_path) as store:
        _ready(store, "/a", "/b", "/c")
        first = store.claim(2, "w1", lease=60.0)
        assert [m.path for m in first] == ["/a", "/b"]
        assert store.claim(5, "w1", lease=60.0, newest_first=True)[0].path == "/c"
        assert store.fail(first[0].id, "w1", "OSError: disk", max_attempts=2) == "ready"
        (again,) = store.claim(1, "w1", lease=60.0)
        assert (again.path, again.attempts) == ("/a", 2)
        assert store.fail(again.id, "w1", "OSError: disk", max_attempts=2) == "failed"
        assert store.movie("/a").last_error == "OSError: disk"
        # A lease someone else took over is not the old owner's to finish.
        assert store.fail(first[1].id, "intruder", "x", max_attempts=3) is None
        assert not store.finish(first[1].id, "intruder", "h", {}, {})
        store.release_leases(expired_only=False, max_attempts=3)
        assert store.counts()["running"] == 0
        assert store.movie("/b").state == "ready"


def test_expired_leases_only_are_released(tmp_path):
    with SessionStore(tmp_path) as store:
        _ready(store, "/a", "/b")
        store.claim(1, "w1", lease=-1.0)  # already expired
        store.claim(1, "w2", lease=600.0)
        released = store.release_leases(expired_only=True, max_attempts=3)
        assert [m.path for m in released] == ["/a"]
        assert store.movie("/b").state == "running"
        assert store.renew("w2", 600.0) == 1


def test_outdated_reprocess_exclude_stale(tmp_path):
    with SessionStore(tmp_path) as store:
        old = store.add_parameter_set({"band": 6})
        new = store.add_parameter_set({"band": 3})
        _ready(store, "/a", "/b")
        for movie in store.claim(2, "w", 60.0):
            assert store.finish(movie.id, "w", old, {"frames": 8, "drift_total": 1.5}, {"sum": "a_sum.mrcz"})
        assert store.mark_outdated(new) == 2
        assert store.counts()["outdated"] == 2
        assert store.mark_outdated(old) == 0  # back to the old parameters: done again
        assert store.counts()["done"] == 2
        store.mark_outdated(new)
        assert store.reprocess(states=["outdated"]) == 2
        assert store.exclude(["/a"]) == 1
        assert store.movie("/a").state == "excluded"
        with pytest.raises(StoreError, match="no movie /zzz"):
            store.exclude(["/zzz"])
        with pytest.raises(StoreError, match="unknown state"):
            store.reprocess(states=["finished"])
        (movie,) = store.claim(1, "w", 60.0)
        store.finish(movie.id, "w", new, {"frames": 8}, {})
        store.observe([("/b", 999, 9.0)])
        assert store.movie("/b").state == "stale"


def test_event_log_is_append_only(tmp_path):
    with SessionStore(tmp_path) as store:
        _ready(store, "/a")
        kinds = [e["kind"] for e in store.events()]
        assert kinds[:2] == ["ready", "seen"]
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            store._db.execute("DELETE FROM events")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            store._db.execute("UPDATE events SET kind = 'x'")


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("ocfrxp"), st.integers(0, 3)), max_size=40))
def test_any_sequence_keeps_the_invariants(tmp_path_factory, steps):
    """Whatever happens, running movies hold a lease, others none, and counts add up."""
    paths = [f"/m{k}" for k in range(4)]
    with SessionStore(tmp_path_factory.mktemp("s")) as store:
        digest = store.add_parameter_set({})
        store.observe([(p, 1, 0.0) for p in paths], now=0.0)
        for op, k in steps:
            movie = store.movie(paths[k])
            if op == "o":
                store.observe([(paths[k], movie.size + 1, movie.mtime)], now=1.0)
            elif op == "c":
                for m in store.settled(0.0, now=10.0):
                    store.mark_ready(m.id)
                store.claim(k, "w", 60.0)
            elif op == "f" and movie.state == "running":
                store.finish(movie.id, "w", digest, {"frames": 2}, {})
            elif op == "r" and movie.state == "running":
                store.fail(movie.id, "w", "boom", max_attempts=2)
            elif op == "x":
                store.exclude([paths[k]])
            elif op == "p":
                store.reprocess(paths=[paths[k]])
        rows = store.movies()
        assert sum(store.counts().values()) == len(paths)
        for m in rows:
            assert (m.lease_owner is not None) == (m.state == "running")
            assert m.attempts <= 2 or m.state != "failed"
