"""Atomic writes: a failure at any point leaves the previous file intact and nothing
under the final name; streaming writes; asynchronous I/O overlapping computation."""

from __future__ import annotations

import concurrent.futures
import errno
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import mrcz
from mrcz import _atomic, _core, _threads
from mrcz.cli import main


def previous(tmp_path):
    path = tmp_path / "movie.mrcz"
    old = np.arange(2 * 8 * 8, dtype=np.int16).reshape(2, 8, 8)
    mrcz.write(path, old, compressor="lz4")
    return path, old, path.read_bytes()


def leftovers(tmp_path):
    return sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".part"))


@pytest.mark.parametrize("compressor", [None, "zstd"])
def test_failure_midway_keeps_the_previous_file(tmp_path, monkeypatch, compressor):
    path, _, before = previous(tmp_path)
    calls = []

    def failing(*args, **kwargs):
        calls.append(1)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_core, "write_compressed" if compressor else "write_data", failing)
    with pytest.raises(OSError, match="No space"):
        mrcz.write(path, np.ones((5, 8, 8), np.int16), compressor=compressor, overwrite=True)
    assert calls
    assert path.read_bytes() == before
    assert leftovers(tmp_path) == []


def test_invalid_arguments_touch_nothing(tmp_path):
    path, _, before = previous(tmp_path)
    with pytest.raises(ValueError, match="clevel"):
        mrcz.write(path, np.ones((2, 8, 8), np.int16), compressor="zstd", clevel=99, overwrite=True)
    with pytest.raises(ValueError, match="compressor"):
        mrcz.write(path, np.ones((2, 8, 8), np.int16), compressor="rar", overwrite=True)
    with pytest.raises(FileExistsError):
        mrcz.write(path, np.ones((2, 8, 8), np.int16))
    assert path.read_bytes() == before
    assert leftovers(tmp_path) == []


def test_killed_writer_leaves_the_previous_file(tmp_path):
    path, old, before = previous(tmp_path)
    script = textwrap.dedent(f"""
        import numpy as np, mrcz, sys
        frames = np.random.default_rng(0).normal(size=(8, 512, 512)).astype(np.float32)
        with mrcz.open({str(path)!r}, "w", frame_shape=(512, 512), dtype=np.float32,
                       compressor="zlib", clevel=9, overwrite=True) as w:
            for i in range(100000):
                w.append(frames[i % 8])
                if i == 2:
                    print("writing", flush=True)
    """)
    with subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True) as proc:
        assert proc.stdout.readline().strip() == "writing"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert path.read_bytes() == before
    assert np.array_equal(mrcz.read(path), old)


def test_streaming_writer_equals_a_whole_write(tmp_path):
    rng = np.random.default_rng(5)
    frames = rng.poisson(1.0, size=(7, 30, 20)).astype(np.uint8)
    with mrcz.open(tmp_path / "s.mrcz", "w", frame_shape=(30, 20), dtype=np.uint8, compressor="zstd",
                   pixel_size=0.8, meta={"camera": "K3"}) as writer:  # fmt: skip
        assert not (tmp_path / "s.mrcz").exists()  # appears only when complete
        for frame in frames[:3]:
            writer.append(frame)
        writer.append(frames[3:])
        assert writer.frames_written == 7
    whole = mrcz.write(tmp_path / "w.mrcz", frames, compressor="zstd", pixel_size=0.8)
    streamed = mrcz.read_header(tmp_path / "s.mrcz")
    assert np.array_equal(mrcz.read(tmp_path / "s.mrcz"), frames)
    for word in ("dmin", "dmax", "dmean", "rms"):
        assert getattr(streamed, word) == pytest.approx(getattr(whole, word), rel=1e-6)
    assert mrcz.validate(tmp_path / "s.mrcz") == []


def test_streaming_writer_rejects_bad_frames_and_discards_on_error(tmp_path):
    path = tmp_path / "s.mrc"
    with pytest.raises(RuntimeError, match="camera"):
        with mrcz.open(path, "w", frame_shape=(4, 4), dtype=np.int16) as writer:
            writer.append(np.zeros((4, 4), np.int16))
            with pytest.raises(ValueError, match="shape"):
                writer.append(np.zeros((4, 5), np.int16))
            with pytest.raises(ValueError, match="cannot represent"):
                writer.append(np.full((4, 4), 70000, np.int32))
            with pytest.raises(TypeError, match="cannot be stored"):
                writer.append(np.zeros((4, 4), np.float32))
            raise RuntimeError("camera stopped")
    assert not path.exists()
    assert leftovers(tmp_path) == []


def progress_during(slow_call, start):
    """How many turns of a Python loop the calling thread makes while `slow_call` (a C
    function, wrapped so that we see it start and end) runs inside `start()`.

    With a 5 s switch interval the worker thread is never asked to hand over the GIL
    during its short run, so the loop can turn only while the C function has released
    it. The loop yields the GIL each turn (sleep(0)) so the worker gets it back at once
    when the C function ends."""
    entered, left = threading.Event(), threading.Event()

    def traced(*args):
        entered.set()
        try:
            return slow_call(*args)
        finally:
            left.set()

    interval = sys.getswitchinterval()
    sys.setswitchinterval(5.0)
    try:
        future = start(traced)
        assert entered.wait(30)
        progressed = 0
        while not left.is_set():
            progressed += 1
            time.sleep(0)
        return progressed, future.result()
    finally:
        sys.setswitchinterval(interval)


def test_the_overlap_check_sees_a_call_that_keeps_the_gil():
    blob = b"a" * (200 << 20)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        progressed, found = progress_during(blob.count, lambda call: pool.submit(call, b"b"))
    assert found == 0
    assert progressed == 0


@pytest.mark.parametrize("core_call", ["write_compressed", "read_compressed"])
def test_async_io_overlaps_with_computation(tmp_path, monkeypatch, core_call):
    """The calling thread runs Python while the core compresses or decompresses."""
    data = np.random.default_rng(1).poisson(1.0, size=(16, 1024, 1024)).astype(np.uint8)
    path = tmp_path / "a.mrcz"
    if core_call == "read_compressed":
        mrcz.write(path, data, compressor="zstd")

    def start(traced):
        monkeypatch.setattr(_core, core_call, traced)
        if core_call == "write_compressed":
            return mrcz.async_write(path, data, compressor="zstd", clevel=5, threads=1)
        return mrcz.async_read(path, threads=1)

    progressed, result = progress_during(getattr(_core, core_call), start)
    assert progressed > 0
    if core_call == "read_compressed":
        assert np.array_equal(result, data)
    else:
        assert result.nz == 16 and np.array_equal(mrcz.read(path), data)


def test_concurrent_writers_and_readers(tmp_path):
    rng = np.random.default_rng(2)
    arrays = [rng.integers(0, 9, size=(5, 64, 64)).astype(np.int16) for _ in range(6)]
    futures = [
        mrcz.async_write(tmp_path / f"c{i}.mrcz", a, compressor=("zstd", "lz4")[i % 2], threads=1 + i % 2)
        for i, a in enumerate(arrays)
    ]
    for f in futures:
        f.result()
    errors = []

    def reader(i):
        try:
            for _ in range(5):
                assert np.array_equal(mrcz.read(tmp_path / f"c{i}.mrcz", frames=slice(1, 4)), arrays[i][1:4])
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_async_calls_do_not_queue_behind_one_worker(tmp_path):
    # python-mrcz ran every async call on one shared worker; ours run side by side.
    gate = threading.Event()
    blocked = _threads.pool().submit(gate.wait, 30)
    data = np.ones((2, 8, 8), np.float32)
    assert mrcz.async_write(tmp_path / "x.mrc", data).result(timeout=30).nz == 2
    gate.set()
    assert blocked.result() is True


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux) to fill a disk")
@pytest.mark.parametrize("writer", ["write_compressed", "write_data"])
def test_full_disk_in_the_core(tmp_path, monkeypatch, writer):
    path, _, before = previous(tmp_path)
    real = getattr(_core, writer)
    full = os.open("/dev/full", os.O_WRONLY)  # every write fails with ENOSPC

    def onto_a_full_disk(fd, *args):
        return real(full, *args)

    monkeypatch.setattr(_core, writer, onto_a_full_disk)
    compressor = "zstd" if writer == "write_compressed" else None
    try:
        with pytest.raises(OSError, match="No space") as info:
            mrcz.write(path, np.ones((6, 64, 64), np.int16), compressor=compressor, threads=2, overwrite=True)
    finally:
        os.close(full)
    assert info.value.errno == errno.ENOSPC
    assert path.read_bytes() == before
    assert leftovers(tmp_path) == []


def test_uncompressed_data_written_in_pieces(tmp_path):
    # 50.4 MB: three whole 16 MiB pieces and part of a fourth, after the 1024-byte header.
    frames = np.random.default_rng(6).integers(-128, 128, size=(3, 4099, 4099), dtype=np.int8)
    mrcz.write(tmp_path / "p.mrc", frames)
    assert np.array_equal(np.fromfile(tmp_path / "p.mrc", dtype=np.int8, offset=1024), frames.reshape(-1))


@pytest.mark.parametrize("compressor", [None, "lz4"])
def test_streamed_frames_are_flushed_behind_the_writer(tmp_path, monkeypatch, compressor):
    """A camera appending one frame at a time gets its data flushed to disk on a
    background thread every SYNC_BYTES, not all at once when the file is closed."""
    monkeypatch.setattr(_atomic, "SYNC_BYTES", 64 << 10)
    flushed_behind = threading.Event()
    real = getattr(os, "fdatasync", os.fsync)

    def recording(fd):
        if threading.current_thread().name == "mrcz-flush":
            flushed_behind.set()
        real(fd)

    monkeypatch.setattr(os, "fdatasync" if hasattr(os, "fdatasync") else "fsync", recording)
    frames = np.random.default_rng(7).normal(size=(12, 128, 128)).astype(np.float32)  # 64 KiB each
    with mrcz.open(tmp_path / "s.mrcz", "w", frame_shape=(128, 128), dtype=np.float32, compressor=compressor) as w:
        for frame in frames:
            w.append(frame)
        assert flushed_behind.wait(30)  # before close
    assert np.array_equal(mrcz.read(tmp_path / "s.mrcz"), frames)


def test_failed_background_flush_fails_the_write(tmp_path, monkeypatch):
    path, _, before = previous(tmp_path)
    monkeypatch.setattr(_atomic, "SYNC_BYTES", 1)

    def failing(fd):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "fdatasync" if hasattr(os, "fdatasync") else "fsync", failing)
    with pytest.raises(OSError, match="Input/output"):
        with mrcz.open(path, "w", frame_shape=(8, 8), dtype=np.int16, overwrite=True) as w:
            for _ in range(4):
                w.append(np.ones((8, 8), np.int16))
    assert path.read_bytes() == before
    assert leftovers(tmp_path) == []


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permission bits and symbolic links")
def test_replacing_keeps_permissions_and_symbolic_links(tmp_path):
    target = tmp_path / "data" / "movie.mrcz"
    target.parent.mkdir()
    mrcz.write(target, np.zeros((2, 8, 8), np.int16), compressor="lz4")
    target.chmod(0o640)
    link = tmp_path / "movie.mrcz"
    link.symlink_to(target)
    new = np.arange(3 * 8 * 8, dtype=np.int16).reshape(3, 8, 8)
    mrcz.write(link, new, compressor="lz4", overwrite=True)
    assert link.is_symlink() and link.resolve() == target
    assert np.array_equal(mrcz.read(target), new)
    assert target.stat().st_mode & 0o777 == 0o640
    assert leftovers(tmp_path) == leftovers(target.parent) == []


def _writer_process(path, *, then):
    """A real writer in another process that has written two frames; `then` is its next line."""
    script = textwrap.dedent(f"""
        import sys, numpy as np, mrcz
        with mrcz.open({str(path)!r}, "w", frame_shape=(64, 64), dtype=np.float32, overwrite=True) as w:
            w.append(np.ones((2, 64, 64), np.float32))
            print("writing", flush=True)
            {then}
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    return proc


def test_killed_writers_temporaries_are_removed_by_the_next_write(tmp_path, capsys):
    path, _, _ = previous(tmp_path)
    killed = _writer_process(path, then="sys.stdin.readline()")
    killed.send_signal(signal.SIGKILL)
    killed.communicate()  # and closes its pipes
    live = _writer_process(path, then="sys.stdin.readline()")  # holds its temporary while blocked
    other = tmp_path / ".other.mrc.0123456789ab.part"  # another name's: not this write's business
    other.write_bytes(b"x")
    try:
        (dead_temp,) = [t for t in _atomic.unfinished_temporaries(tmp_path, path.name) if not t.in_use]
        hours_ago = time.time() - 2 * 3600
        for temp in _atomic.unfinished_temporaries(tmp_path):
            os.utime(temp.path, (hours_ago, hours_ago))
        assert main(["info", str(tmp_path)]) == 0
        out = capsys.readouterr().out
        assert "3 unfinished temporary files" in out
        assert f"{dead_temp.path.name}  {dead_temp.size} bytes, 120 min old, left by a killed writer" in out
        assert "being written" in out
        mrcz.write(path, np.zeros((2, 8, 8), np.int16), overwrite=True)
        remaining = _atomic.unfinished_temporaries(tmp_path)
        assert [t.path.name for t in remaining if t.in_use] == [
            t.path.name for t in remaining if t.path.name.startswith(f".{path.name}.")
        ]
        assert not dead_temp.path.exists() and other.exists()
    finally:
        live.communicate("go\n", timeout=60)
    assert live.returncode == 0
    assert np.array_equal(mrcz.read(path), np.ones((2, 64, 64), np.float32))  # the live writer finished
    assert leftovers(tmp_path) == [other.name]


def test_without_locks_only_old_temporaries_count_as_stale(tmp_path, monkeypatch):
    monkeypatch.setattr(_atomic, "fcntl", None)  # as on Windows
    path = tmp_path / "m.mrc"
    young, old = (tmp_path / f".m.mrc.{h * 12}.part" for h in "ab")
    for p in (young, old):
        p.write_bytes(b"partial")
    two_hours_ago = time.time() - 7200
    os.utime(old, (two_hours_ago, two_hours_ago))
    mrcz.write(path, np.ones((4, 4), np.float32))
    assert leftovers(tmp_path) == [young.name]


@pytest.mark.parametrize("durable", [True, False])
def test_durable_syncs_and_scratch_files_do_not(tmp_path, monkeypatch, durable):
    path, _, before = previous(tmp_path)
    synced = []
    for name in ("fsync", "fdatasync"):
        if hasattr(os, name):
            real = getattr(os, name)
            monkeypatch.setattr(os, name, lambda fd, real=real, name=name: (synced.append(name), real(fd))[1])
    monkeypatch.setattr(_atomic, "SYNC_BYTES", 1 << 10)  # flush behind the writer after every frame
    frames = np.random.default_rng(8).normal(size=(6, 32, 32)).astype(np.float32)
    with mrcz.open(path, "w", frame_shape=(32, 32), dtype=np.float32, overwrite=True, durable=durable) as w:
        for frame in frames:
            w.append(frame)
        assert path.read_bytes() == before  # atomic either way: the old file until close
    assert np.array_equal(mrcz.read(path), frames)
    assert ("fsync" in synced) is durable
    assert bool(synced) is durable
    assert leftovers(tmp_path) == []
