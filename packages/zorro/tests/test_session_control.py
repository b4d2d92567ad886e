"""What the GUI asks of the session layer, as the CLI asks it: pause / resume / stop through the
store, and one movie's results."""

from __future__ import annotations

import contextlib
import io
import json

from zorro.cli import main
from zorro.session import SessionStore


def _status(out) -> dict:
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["session", "status", str(out), "--json"]) == 0
    return json.loads(printed.getvalue())


def test_pause_resume_stop_are_kept_in_the_store(tmp_path):
    SessionStore(tmp_path).close()
    assert _status(tmp_path)["control"] == "run"
    for action, control in (("pause", "pause"), ("resume", "run"), ("stop", "stop")):
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(["session", action, str(tmp_path)]) == 0
        assert _status(tmp_path)["control"] == control
    with SessionStore(tmp_path, create=False) as store:
        kinds = [e["detail"] for e in store.events(10, kind="setting")]
    assert kinds[:3] == ['control = "stop"', 'control = "run"', 'control = "pause"']


def test_one_movies_result_is_its_row_of_results(tmp_path):
    with SessionStore(tmp_path) as store:
        store.observe([("/data/a.tif", 10, 1.0), ("/data/b.tif", 10, 2.0)], now=0.0)
        for movie in store.settled(0.0):
            store.mark_ready(movie.id)
        a, b = store.claim(2, "me", 60)
        digest = store.add_parameter_set({"x": 1})
        store.finish(a.id, "me", digest, {"drift_total": 3.5, "resolution": 4.0}, {"sum": {"name": "a", "size": 1}})
        assert store.result(b.id) is None
        assert store.result(a.id) == store.results()[0]
        assert store.result(a.id)["outputs"] == {"sum": {"name": "a", "size": 1}}
