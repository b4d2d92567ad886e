"""Sessions end to end, with real components: `zorro watch` processes, files written slowly by
another process, kill -9, a real Dask scheduler and workers on 127.0.0.1."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import starfile

import mrcz
from zorro.session import SessionStore
from zorro.session.executors import LocalExecutor
from zorro.session.export import Filters, export
from zorro.session.scan import Scanner
from zorro.session.session import Session, SessionLockedError
from zorro.session.work import read_manifest

# Small and quick: 10 frames of 192², one thread, no report.
ALIGN = ["--band", "3", "--threads", "1", "--no-report", "--format", "mrc"]
PARAMS = {
    "format": "mrc",
    "save_movie": False,
    "report": False,
    "align": {"band": 3, "workers": 1, "gain": None, "gain_orientation": "rot0"},
}


@pytest.fixture(scope="module")
def movie_files(tmp_path_factory):
    """Five complete movies (uncompressed MRC, so that a truncated one shows in its size)."""
    from zorro.simulate import simulate, write

    folder = tmp_path_factory.mktemp("movies")
    paths = []
    for seed in range(5):
        movie = simulate(10, 192, dose=2.0, drift="linear", amplitude=1.0 + 0.2 * seed, seed=seed)
        paths.append(write(movie, folder / f"movie_{seed}.mrc")["movie"])
    return paths


def _watch(in_dir: Path, out: Path, *extra: str, **popen) -> subprocess.Popen:
    command = [sys.executable, "-m", "zorro", "watch", str(in_dir), "-o", str(out), "--poll", "0.2", *ALIGN, *extra]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **popen)


def _finish(process: subprocess.Popen, timeout: float = 180) -> str:
    out, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, out
    return out


def _runs(store: SessionStore, path: str) -> int:
    return sum(e["path"] == path for e in store.events(10_000, kind="running"))


_WRITER = textwrap.dedent(
    """
    import json, sys, time
    jobs, log = json.loads(sys.argv[1]), {}
    for source, target, stop_at in jobs:
        data = open(source, "rb").read()
        end = int(len(data) * stop_at)
        with open(target, "wb") as f:
            for k in range(4):  # four pieces, each a little under the settle window apart
                f.write(data[k * end // 4 : (k + 1) * end // 4])
                f.flush()
                time.sleep(0.4)
        log[target] = time.time()
    json.dump(log, open(sys.argv[2], "w"))
    """
)


def test_watch_reads_no_movie_before_it_is_complete(tmp_path, movie_files):
    in_dir, out = tmp_path / "in", tmp_path / "out"
    in_dir.mkdir()
    corrupt = tmp_path / "nan.mrc"
    frames = mrcz.read(movie_files[0]).astype(np.float32)
    frames[3, 10:20, 10:20] = np.nan
    mrcz.write(corrupt, frames, pixel_size=1.0)
    jobs = [[str(p), str(in_dir / p.name), 1.0] for p in movie_files[:3]]
    jobs += [
        [str(movie_files[3]), str(in_dir / "truncated.mrc"), 0.6],
        [str(corrupt), str(in_dir / "corrupt.mrc"), 1.0],
    ]
    log = tmp_path / "written.json"
    writer = subprocess.Popen([sys.executable, "-c", _WRITER, json.dumps(jobs), str(log)])
    watcher = _watch(in_dir, out, "--settle", "1", "--exit-when-idle", "3", "--workers", "2")
    assert writer.wait(timeout=60) == 0
    _finish(watcher)
    written = json.loads(log.read_text())

    with SessionStore(out, create=False) as store:
        for source in movie_files[:3]:
            path = str(in_dir / source.name)
            movie = store.movie(path)
            assert (movie.state, movie.attempts, _runs(store, path)) == ("done", 1, 1)
            assert movie.started > written[path]  # never read before the writer was done
            manifest = read_manifest(path, out, movie.param_hash)
            assert manifest["movie_size"] == source.stat().st_size
        truncated = store.movie(str(in_dir / "truncated.mrc"))
        assert truncated.state == "incomplete" and "header and size disagree" in truncated.last_error
        failed = store.movie(str(in_dir / "corrupt.mrc"))
        assert failed.state == "failed" and "NaN" in failed.last_error
    # The sum is the one the complete file gives.
    from zorro.pipeline import process

    reference, _ = process(movie_files[0], tmp_path / "ref", format="mrc", report=False, band=3, workers=1)
    np.testing.assert_array_equal(mrcz.read(out / "movie_0_sum_dw.mrc"), reference.sum_dw)


def _outputs_stamp(out: Path, names: list[str]) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.name.split("_sum")[0].split(".")[0] in names}


def _star_rows(star: Path, out: Path) -> list:
    table = starfile.read(star)["micrographs"]
    table["rlnMicrographName"] = [Path(p).name for p in table["rlnMicrographName"]]
    table["rlnMicrographMetadata"] = [Path(p).name for p in table["rlnMicrographMetadata"]]
    return table.to_dict("records")


def test_kill_minus_9_loses_nothing_and_redoes_nothing(tmp_path, movie_files):
    in_dir = tmp_path / "in"
    in_dir.mkdir()
    for k, source in enumerate(movie_files[:4]):
        shutil.copy(source, in_dir / f"m{k}.mrc")
    reference, out = tmp_path / "uninterrupted", tmp_path / "out"
    _finish(_watch(in_dir, reference, "--settle", "0.2", "--exit-when-idle", "1"))

    watcher = _watch(in_dir, out, "--settle", "0.2", start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        time.sleep(0.1)
        if (out / "zorro-session.sqlite").exists():
            with SessionStore(out, create=False) as store:
                if store.counts()["done"] >= 2:
                    break
    os.killpg(watcher.pid, signal.SIGKILL)  # the watcher and its workers, mid-session
    watcher.communicate()
    with SessionStore(out, create=False) as store:
        finished = [Path(m.path).stem for m in store.movies(["done"])]
    assert len(finished) >= 2
    before = _outputs_stamp(out, finished)

    _finish(_watch(in_dir, out, "--settle", "0.2", "--exit-when-idle", "1"))
    assert _outputs_stamp(out, finished) == before  # finished movies untouched
    with SessionStore(out, create=False) as store:
        assert store.counts()["done"] == 4
        for m in store.movies():  # finished ones ran once, the interrupted one at most twice
            assert _runs(store, m.path) == 1 if Path(m.path).stem in finished else 1 <= _runs(store, m.path) <= 2
        export(store, Filters())
    with SessionStore(reference, create=False) as store:
        export(store, Filters())
    assert _star_rows(out / "corrected_micrographs.star", out) == _star_rows(
        reference / "corrected_micrographs.star", reference
    )


def test_a_second_watcher_is_refused(tmp_path, movie_files):
    in_dir = tmp_path / "in"
    in_dir.mkdir()
    first = _watch(in_dir, tmp_path / "out", "--settle", "0.2")
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "out" / "zorro-session.lock").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)
        second = _watch(in_dir, tmp_path / "out")
        out, _ = second.communicate(timeout=60)
        assert second.returncode == 2
        assert f"is in use by pid {first.pid}" in out
    finally:
        first.send_signal(signal.SIGINT)  # Ctrl-C: a clean stop
        out, _ = first.communicate(timeout=60)
    assert first.returncode == 0, out
    with pytest.raises(SessionLockedError, match="in use"):
        from zorro.session.session import SessionLock

        held = SessionLock(tmp_path / "out")
        try:
            SessionLock(tmp_path / "out")
        finally:
            held.release()


def _session(in_dir: Path, out: Path, executor, **kwargs) -> Session:
    return Session(
        out_dir=out,
        params=PARAMS,
        executor=executor,
        scanner=Scanner(in_dir, prune=(out,)),
        settle=0.2,
        poll=0.2,
        exit_when_idle=1.0,
        **kwargs,
    )


def _start(args: list[str], **env) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", *args], env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def test_dask_scheduler_and_workers_match_the_local_pool(tmp_path, movie_files):
    pytest.importorskip("distributed")
    from zorro.session.executors import DaskExecutor

    in_dir = tmp_path / "in"
    in_dir.mkdir()
    for source in movie_files[:4]:
        shutil.copy(source, in_dir / source.name)
    local = LocalExecutor(2)
    try:
        _session(in_dir, tmp_path / "local", local).run()
    finally:
        local.close()

    address_file = tmp_path / "scheduler.json"
    # No Dask-side retries: a worker lost costs the movie one of the session's attempts.
    scheduler = _start(
        ["distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
         "--scheduler-file", str(address_file)],
        DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES="0",
    )  # fmt: skip
    workers = []
    try:
        deadline = time.monotonic() + 60
        while not address_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        address = json.loads(address_file.read_text())["address"]
        workers = [
            _start(["distributed.cli.dask_worker", address, "--nthreads", "1", "--no-nanny", "--no-dashboard",
                    "--name", f"w{k}"])
            for k in range(2)
        ]  # fmt: skip
        executor = DaskExecutor(address)
        executor.client.wait_for_workers(2, timeout=60)
        assert executor.capacity() == 2
        (first,) = (a for a, w in executor.client.scheduler_info()["workers"].items() if w["name"] == "w0")
        killed: list[float] = []

        def kill_one_mid_movie(progress) -> None:
            # Killed while the scheduler has a movie on it (its first also imports zorro there):
            # that movie is lost, whatever the speed of the machine.
            if not killed and executor.client.processing(workers=[first]).get(first):
                workers[0].kill()
                killed.append(time.monotonic())

        try:
            _session(in_dir, tmp_path / "dask", executor, on_progress=kill_one_mid_movie).run()
        finally:
            executor.close()
        assert len(killed) == 1
    finally:
        for process in [*workers, scheduler]:
            process.kill()
            process.wait()

    with SessionStore(tmp_path / "local") as a, SessionStore(tmp_path / "dask") as b:
        assert a.counts()["done"] == b.counts()["done"] == 4
        attempts = [m.attempts for m in b.movies()]
        assert max(attempts) == 2 and attempts.count(2) >= 1  # the lost movie: one attempt more, no more
        assert any("worker lost" in e["detail"] for e in b.events(1000, kind="retry"))
        ours = {Path(r["path"]).name: r for r in a.results()}
        theirs = {Path(r["path"]).name: r for r in b.results()}
        for name, row in ours.items():
            for key in ("drift_total", "drift_early", "drift_late", "resolution", "dose", "frames"):
                assert theirs[name][key] == row[key], (name, key)
    for source in movie_files[:4]:
        name = f"{source.stem}_sum_dw.mrc"
        np.testing.assert_array_equal(mrcz.read(tmp_path / "local" / name), mrcz.read(tmp_path / "dask" / name))
