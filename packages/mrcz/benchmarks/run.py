"""Benchmark of this repository's mrcz against its peers, interleaved, medians and ratios printed.

Data (synthetic, seeded):
  counting  electron-counting movie, Poisson mean 1 e-/px/frame, uint8, default 40 x 4096 x 4096
  float     gain-normalised movie: counts x a normal(1, 0.05) gain image, float32, default 10 x 4096 x 4096

Cases (each: write to the page cache, the same write plus os.fsync of the file, read of the whole
file with a warm page cache, read of the middle frame where the tool can):
  mrcz (ours)          zstd 1 bitshuffle / lz4 1 bitshuffle (2 threads), uncompressed, all with
                       the defaults (version-2 chunks, durable=True); compared with them: zstd
                       appended frame by frame (MrcWriter.append), zstd and lz4 in version-5
                       chunks (chunk_format='blosc2'), zstd and uncompressed with durable=False
  python-mrcz 0.6.0    zstd 1 bitshuffle with n_threads 2 and 1, lz4 1, uncompressed; run in a
                       separate interpreter (--predecessor-python; `nox -s bench` gives it
                       only `blosc`, as commonly installed) by predecessor_worker.py,
                       which times only writeMRC / readMRC(path, slices=0)
  mrcfile              uncompressed (mrcfile.new + set_data, mrcfile.read, mrcfile.mmap for a frame)
  tifffile             zstd 1 (imagecodecs), 2 workers
  numpy                tofile / fromfile (raw disk and page-cache rate)
  python-blosc2        compress2 per frame, ZSTD 1 + BITSHUFFLE, 2 threads, chunks written to a
                       file (+ an offset table); read + decompress2 into a preallocated array;
                       once with blosc2's default block size (the reference for the ratio
                       target) and once with 1 MiB blocks, its fastest (the codec ceiling)

Every repeat runs every case once, in a freshly shuffled order, so machine noise hits all of
them alike; the tables show medians. GB/s = bytes of the in-memory array / time. "peer/ours" =
the peer's time / the time of our case with the same codec (zstd, lz4 or none): > 1 means ours
is faster. Ratio = array bytes / file size.

Usage:
    python packages/mrcz/benchmarks/run.py --predecessor-python PRED_PY [--quick] [--markdown FILE]

Exit status is 0 whatever the timings are (the TARGETS block reports PASS / MISS).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import math
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import mrcz
from mrcz._threads import default_threads  # the cores this process may use

warnings.filterwarnings("ignore")

HERE = Path(__file__).resolve().parent
GB = 1e9
THREADS = 2


def _try_import(name: str, skipped: list[str]):
    try:
        return __import__(name)
    except Exception as exc:
        skipped.append(f"{name} not importable ({type(exc).__name__}: {exc}): its cases are skipped")
        return None


SKIPPED: list[str] = []
mrcfile = _try_import("mrcfile", SKIPPED)
tifffile = _try_import("tifffile", SKIPPED)
imagecodecs = _try_import("imagecodecs", SKIPPED)
blosc2 = _try_import("blosc2", SKIPPED)


# ------------------------------------------------------------------------------------------- data


def counting_movie(frames: int, size: int, seed: int, mean: float = 1.0) -> np.ndarray:
    """Poisson counts, independent per pixel and frame, uint8 (built frame by frame)."""
    rng = np.random.default_rng(seed)
    movie = np.empty((frames, size, size), dtype=np.uint8)
    for i in range(frames):
        frame = rng.poisson(mean, size=(size, size))
        np.minimum(frame, 255, out=frame)
        movie[i] = frame
    return movie


def gain_normalised_movie(frames: int, size: int, seed: int) -> np.ndarray:
    """Poisson(1) counts x one normal(1, 0.05) gain image, float32."""
    counts = counting_movie(frames, size, seed)
    gain = np.random.default_rng(seed + 1).normal(1.0, 0.05, size=(size, size)).astype(np.float32)
    out = np.empty(counts.shape, dtype=np.float32)
    for i in range(frames):
        np.multiply(counts[i], gain, out=out[i], dtype=np.float32)
    return out


def entropy_bits(counts: np.ndarray) -> float:
    """Shannon entropy (bits/pixel) of the uint8 value histogram (counted frame by frame)."""
    hist = np.zeros(256, dtype=np.int64)
    for frame in counts:
        hist += np.bincount(frame.reshape(-1), minlength=256)
    p = hist[hist > 0] / hist.sum()
    return float(-(p * np.log2(p)).sum())


@dataclass
class Dataset:
    key: str
    title: str
    data: np.ndarray
    npy: str = ""

    @property
    def mid(self) -> int:
        return self.data.shape[0] // 2


# ------------------------------------------------------------------------------------------- files


def fsync_path(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_path(path: str) -> None:
    Path(path).unlink(missing_ok=True)


def sync_all() -> None:
    if hasattr(os, "sync"):
        os.sync()


def settle_page_cache(data: np.ndarray, tmpdir: str) -> None:
    """An untimed raw write + delete before each round, so that the first case of a round does
    not alone pay for the kernel reclaiming the previous round's pages."""
    path = str(Path(tmpdir) / "settle.raw")
    data.tofile(path)
    remove_path(path)
    sync_all()


def same(out: np.ndarray, want: np.ndarray) -> bool:
    """Equal shape and bytes (an int8 result of uint8 data counts as equal)."""
    out = np.asarray(out)
    if out.shape != want.shape or out.dtype.itemsize != want.dtype.itemsize:
        return False
    if (out.dtype.kind == "f") != (want.dtype.kind == "f"):
        return False
    if out.dtype != want.dtype:
        out = out.view(want.dtype)
    return bool(np.array_equal(out, want))


# ------------------------------------------------------------------------------------------- cases

WriteFn = Callable[[str, Dataset], tuple[float, float]]  # -> (write s, write + fsync s)
ReadFn = Callable[[str, Dataset, bool], tuple[float, "bool | None"]]  # -> (s, round trip ok)
FrameFn = Callable[[str, Dataset, bool], tuple[float, "bool | None"]]


@dataclass
class Case:
    name: str
    codec: str  # "zstd", "lz4" or "none": which of our cases it is compared with
    suffix: str
    write: WriteFn
    read: ReadFn
    read_frame: FrameFn | None = None
    ours: bool = False
    note: str = ""
    samples: dict[str, list[float]] = field(
        default_factory=lambda: {"write": [], "fsync": [], "read": [], "frame": [], "size": []}
    )
    ok: list[bool] = field(default_factory=list)
    error: str | None = None
    memory: dict[str, float] = field(default_factory=dict)

    def med(self, key: str) -> float:
        xs = self.samples[key]
        return statistics.median(xs) if xs else math.nan


def timed_write(fn: Callable[[str, np.ndarray], object], prepare=lambda a: a) -> WriteFn:
    def write(path: str, ds: Dataset) -> tuple[float, float]:
        arr = prepare(ds.data)
        gc.collect()
        t0 = time.perf_counter()
        fn(path, arr)
        t1 = time.perf_counter()
        fsync_path(path)
        t2 = time.perf_counter()
        return t1 - t0, t2 - t0

    return write


def timed_read(fn: Callable[[str, Dataset], np.ndarray]) -> ReadFn:
    def read(path: str, ds: Dataset, check: bool) -> tuple[float, bool | None]:
        gc.collect()
        t0 = time.perf_counter()
        out = fn(path, ds)
        t1 = time.perf_counter()
        ok = same(out, ds.data) if check else None
        del out
        return t1 - t0, ok

    return read


def timed_frame(fn: Callable[[str, Dataset, int], np.ndarray]) -> FrameFn:
    def read_frame(path: str, ds: Dataset, check: bool) -> tuple[float, bool | None]:
        gc.collect()
        t0 = time.perf_counter()
        out = fn(path, ds, ds.mid)
        t1 = time.perf_counter()
        ok = same(out, ds.data[ds.mid]) if check else None
        return t1 - t0, ok

    return read_frame


def int8_view(a: np.ndarray) -> np.ndarray:
    return a.view(np.int8) if a.dtype == np.uint8 else a


def ours_case(label: str, compressor: str | None, *, streamed: bool = False, **variant: object) -> Case:
    """One of our settings; with `streamed` or a `variant` of the options (chunk_format, durable)
    it is compared with our default whole-movie case of the same codec."""
    options = {"compressor": compressor, "clevel": 1, "shuffle": "bitshuffle", "threads": THREADS, "overwrite": True}
    options.update(variant)

    def write(path: str, arr: np.ndarray) -> None:
        mrcz.write(path, arr, **options)

    def append_frames(path: str, arr: np.ndarray) -> None:
        with mrcz.open(path, "w", frame_shape=arr.shape[1:], dtype=arr.dtype, **options) as out:
            for frame in arr:
                out.append(frame)

    if options.get("durable", True):
        atomic = (
            f"mrcz {mrcz.__version__} replaces the target atomically and fsyncs the file and its directory "
            "itself, so its 'write' column already includes an fsync"
        )
    else:
        atomic = "durable=False: atomic rename, no fsync by mrcz (the '+fsync' column adds the benchmark's own)"
    return Case(
        name=label,
        codec=compressor or "none",
        suffix=".mrcz" if compressor else ".mrc",
        write=timed_write(append_frames if streamed else write),
        read=timed_read(lambda path, ds: mrcz.read(path, threads=THREADS)),
        read_frame=timed_frame(lambda path, ds, i: mrcz.read(path, frames=i, threads=THREADS)),
        ours=not (streamed or variant),  # a variant of ours, compared with our default write
        # A streamed write is as atomic and durable as the whole-movie one, whose note says so.
        note="MrcWriter.append one frame at a time, as from a camera" if streamed else atomic,
    )


class PredecessorWorker:
    """A long-lived `PRED_PY predecessor_worker.py` subprocess speaking JSON lines."""

    def __init__(self, python: str):
        self.proc = subprocess.Popen(
            [python, str(HERE / "predecessor_worker.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
            cwd=tempfile.gettempdir(),
        )

    def request(self, **req: object) -> dict:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"python-mrcz worker exited (status {self.proc.poll()})")
        reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"python-mrcz worker: {reply['error']}")
        return reply

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.request(op="quit")
        with contextlib.suppress(Exception):
            self.proc.stdin.close()  # type: ignore[union-attr]
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def predecessor_case(worker: PredecessorWorker, label: str, compressor: str | None, n_threads: int) -> Case:
    def write(path: str, ds: Dataset) -> tuple[float, float]:
        r = worker.request(
            op="write", path=path, data_npy=ds.npy, compressor=compressor, clevel=1, n_threads=n_threads, fsync=True
        )
        return r["write_seconds"], r["seconds"]

    def read(path: str, ds: Dataset, check: bool) -> tuple[float, bool | None]:
        r = worker.request(op="read", path=path, n_threads=n_threads, frame=None, data_npy=ds.npy, verify=check)
        return r["seconds"], r.get("ok")

    def read_frame(path: str, ds: Dataset, check: bool) -> tuple[float, bool | None]:
        r = worker.request(op="read", path=path, n_threads=n_threads, frame=ds.mid, data_npy=ds.npy, verify=check)
        return r["seconds"], r.get("ok")

    return Case(
        name=label,
        codec=compressor or "none",
        suffix=".mrcz" if compressor else ".mrc",
        write=write,
        read=read,
        read_frame=None if compressor else read_frame,  # idx= works on uncompressed files only
        note="uint8 written as its int8 view (python-mrcz has no uint8 mode), same bytes",
    )


def mrcfile_case() -> Case:
    def write(path: str, arr: np.ndarray) -> None:
        with mrcfile.new(path, overwrite=True) as m:
            m.set_data(arr)

    def frame(path: str, ds: Dataset, i: int) -> np.ndarray:
        with mrcfile.mmap(path, mode="r") as m:
            return np.array(m.data[i])

    return Case(
        name=f"mrcfile {mrcfile.__version__} uncompressed",
        codec="none",
        suffix=".mrc",
        write=timed_write(write, prepare=int8_view),
        read=timed_read(lambda path, ds: mrcfile.read(path)),
        read_frame=timed_frame(frame),
        note="uint8 given as its int8 view (mode 0); as uint8 mrcfile widens it to uint16 (mode 6)",
    )


def tifffile_case() -> Case:
    def write(path: str, arr: np.ndarray) -> None:
        tifffile.imwrite(
            path,
            arr,
            compression="zstd",
            compressionargs={"level": 1},
            photometric="minisblack",
            maxworkers=THREADS,
        )

    return Case(
        name="tifffile zstd 1",
        codec="zstd",
        suffix=".tif",
        write=timed_write(write),
        read=timed_read(lambda path, ds: tifffile.imread(path, maxworkers=THREADS)),
        read_frame=timed_frame(lambda path, ds, i: tifffile.imread(path, key=i, maxworkers=THREADS)),
        note="one page per frame, imwrite(compression='zstd', compressionargs={'level': 1}), maxworkers=2",
    )


def numpy_case() -> Case:
    def frame(path: str, ds: Dataset, i: int) -> np.ndarray:
        shape = ds.data.shape[1:]
        n = math.prod(shape)
        return np.fromfile(path, dtype=ds.data.dtype, count=n, offset=i * n * ds.data.itemsize).reshape(shape)

    return Case(
        name="numpy tofile / fromfile (raw)",
        codec="none",
        suffix=".raw",
        write=timed_write(lambda path, arr: arr.tofile(path)),
        read=timed_read(lambda path, ds: np.fromfile(path, dtype=ds.data.dtype).reshape(ds.data.shape)),
        read_frame=timed_frame(frame),
    )


BLOSC2_DEFAULT = "default block size"
BLOSC2_CEILING = "codec ceiling"
CEILING_BLOCKSIZE = 1 << 20


def blosc2_case(blocksize: int = 0) -> Case:
    """The codec alone: one compress2 chunk per frame, then an int64 offset table and its length.

    blocksize 0 is blosc2's own choice; 1 MiB is its fastest on the counting movie (flat from
    128 KiB on: 1.04-1.06 GB/s in memory on the 2-core VM, against 0.83 GB/s at the default).
    """

    def cparams(itemsize: int) -> dict:
        return {
            "codec": blosc2.Codec.ZSTD,
            "clevel": 1,
            "filters": [blosc2.Filter.BITSHUFFLE],
            "filters_meta": [0],
            "typesize": itemsize,
            "nthreads": THREADS,
            "blocksize": blocksize,
        }

    def write(path: str, arr: np.ndarray) -> None:
        kw = cparams(arr.dtype.itemsize)
        offsets = [0]
        with open(path, "wb") as f:
            for frame in arr:
                chunk = blosc2.compress2(frame, **kw)
                f.write(chunk)
                offsets.append(offsets[-1] + len(chunk))
            f.write(np.array([*offsets, len(arr)], dtype="<i8").tobytes())

    def read(path: str, ds: Dataset) -> np.ndarray:
        with open(path, "rb") as f:
            buf = f.read()
        n = int.from_bytes(buf[-8:], "little")
        offs = np.frombuffer(buf, dtype="<i8", count=n + 1, offset=len(buf) - 8 * (n + 2)).tolist()
        out = np.empty(ds.data.shape, dtype=ds.data.dtype)
        mv = memoryview(buf)
        for i in range(n):
            blosc2.decompress2(mv[offs[i] : offs[i + 1]], dst=out[i], nthreads=THREADS)
        return out

    def frame(path: str, ds: Dataset, i: int) -> np.ndarray:
        with open(path, "rb") as f:
            f.seek(-8, os.SEEK_END)
            n = int.from_bytes(f.read(8), "little")
            f.seek(-8 * (n + 2), os.SEEK_END)
            offs = np.frombuffer(f.read(8 * (n + 1)), dtype="<i8")
            f.seek(int(offs[i]))
            chunk = f.read(int(offs[i + 1] - offs[i]))
        out = np.empty(ds.data.shape[1:], dtype=ds.data.dtype)
        blosc2.decompress2(chunk, dst=out, nthreads=THREADS)
        return out

    setting = BLOSC2_DEFAULT if blocksize == 0 else f"{blocksize / 2**20:g} MiB blocks, {BLOSC2_CEILING}"
    return Case(
        name=f"python-blosc2 {blosc2.__version__} alone, zstd 1 bitshuffle ({setting})",
        codec="zstd",
        suffix=".b2chunks",
        write=timed_write(write),
        read=timed_read(read),
        read_frame=timed_frame(frame),
        note="compress2 per frame (typesize = itemsize, 2 threads) appended to one file + offset table",
    )


# Our default chunks are version 2 (c-blosc 1's layout); these rows are the other format and
# the page-cache-only (scratch) write.
V5_ZSTD = "mrcz (ours) zstd 1 bitshuffle, version-5 chunks (chunk_format='blosc2')"
SCRATCH_ZSTD = "mrcz (ours) zstd 1 bitshuffle, durable=False"


def build_cases(worker: PredecessorWorker | None, pv: str = "0.6") -> list[Case]:
    cases = [
        ours_case("mrcz (ours) zstd 1 bitshuffle, 2 threads", "zstd"),
        ours_case("mrcz (ours) lz4 1 bitshuffle, 2 threads", "lz4"),
        ours_case("mrcz (ours) uncompressed", None),
        ours_case("mrcz (ours) zstd 1 bitshuffle, appended frame by frame", "zstd", streamed=True),
        ours_case(V5_ZSTD, "zstd", chunk_format="blosc2"),
        ours_case(
            "mrcz (ours) lz4 1 bitshuffle, version-5 chunks (chunk_format='blosc2')", "lz4", chunk_format="blosc2"
        ),
        ours_case(SCRATCH_ZSTD, "zstd", durable=False),
        ours_case("mrcz (ours) uncompressed, durable=False", None, durable=False),
    ]
    if worker is not None:
        cases += [
            predecessor_case(worker, f"python-mrcz {pv} zstd 1 bitshuffle, n_threads=2", "zstd", 2),
            predecessor_case(worker, f"python-mrcz {pv} zstd 1 bitshuffle, n_threads=1", "zstd", 1),
            predecessor_case(worker, f"python-mrcz {pv} lz4 1 bitshuffle, n_threads=2", "lz4", 2),
            predecessor_case(worker, f"python-mrcz {pv} uncompressed", None, 2),
        ]
    if mrcfile is not None:
        cases.append(mrcfile_case())
    if tifffile is not None and imagecodecs is not None:
        cases.append(tifffile_case())
    cases.append(numpy_case())
    if blosc2 is not None:
        cases += [blosc2_case(), blosc2_case(CEILING_BLOCKSIZE)]
    return cases


# ------------------------------------------------------------------------------------------- memory


def tracemalloc_peak(path: str) -> float:
    """Peak bytes numpy/Python allocate during mrcz.read (numpy reports its buffers to tracemalloc)."""
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        out = mrcz.read(path, threads=THREADS)
        peak = tracemalloc.get_traced_memory()[1] - base
        del out
    finally:
        tracemalloc.stop()
    return float(peak)


_RSS_PROBE = """
import json, sys
import numpy as np
import mrcz

def status(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1]) * 1024
    return -1

try:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets VmHWM to the current RSS
except OSError:
    pass
rss0 = status("VmRSS:")
a = mrcz.read(sys.argv[1], threads=int(sys.argv[2]))
print(json.dumps({"extra": status("VmHWM:") - rss0}))
"""


def rss_peak(path: str) -> float | None:
    """Peak RSS growth of mrcz.read in a fresh process (also counts allocations tracemalloc cannot see)."""
    if not Path("/proc/self/status").exists():
        return None
    try:
        res = subprocess.run(
            [sys.executable, "-c", _RSS_PROBE, path, str(THREADS)],
            capture_output=True,
            text=True,
            check=True,
            cwd=tempfile.gettempdir(),
            timeout=600,
        )
        return float(json.loads(res.stdout.strip().splitlines()[-1])["extra"])
    except Exception:
        return None


# ------------------------------------------------------------------------------------------- running


def run_case_once(case: Case, ds: Dataset, tmpdir: str, check: bool, last: bool) -> None:
    path = str(Path(tmpdir) / ("bench" + case.suffix))
    remove_path(path)
    gc.collect()
    sync_all()  # no dirty pages of the previous case left to flush
    try:
        w, f = case.write(path, ds)
        size = Path(path).stat().st_size
        r, ok_read = case.read(path, ds, check)
        fr, ok_frame = case.read_frame(path, ds, check) if case.read_frame else (None, None)
        if case.ours and last:
            case.memory["tracemalloc"] = tracemalloc_peak(path)
            rss = rss_peak(path)
            if rss is not None:
                case.memory["rss"] = rss
    except Exception as exc:
        case.error = f"{type(exc).__name__}: {exc}"
        return
    finally:
        remove_path(path)
    s = case.samples
    s["write"].append(w)
    s["fsync"].append(f)
    s["read"].append(r)
    if fr is not None:
        s["frame"].append(fr)
    s["size"].append(size)
    case.ok += [ok for ok in (ok_read, ok_frame) if ok is not None]


def run_dataset(ds: Dataset, cases: list[Case], repeats: int, tmpdir: str, worker: PredecessorWorker | None) -> None:
    if worker is not None:
        ds.npy = str(Path(tmpdir) / f"data_{ds.key}.npy")
        np.save(ds.npy, ds.data)
    try:
        for r in range(repeats):
            settle_page_cache(ds.data, tmpdir)
            order = list(cases)
            random.Random(1000 * r + len(ds.key)).shuffle(order)
            t0 = time.perf_counter()
            for case in order:
                if case.error is None:
                    run_case_once(case, ds, tmpdir, check=(r == 0), last=(r == repeats - 1))
            print(f"...   repeat {r + 1}/{repeats} done in {time.perf_counter() - t0:.1f} s", flush=True)
    finally:
        if worker is not None:
            with contextlib.suppress(Exception):
                worker.request(op="drop")
            remove_path(ds.npy)


# ------------------------------------------------------------------------------------------- report


def fmt(x: float | None, spec: str = ".3f") -> str:
    return "-" if x is None or not math.isfinite(x) else format(x, spec)


def versus(peer: float, ours: float) -> str:
    return "-" if not (math.isfinite(peer) and math.isfinite(ours) and ours > 0) else f"{peer / ours:.2f}x"


def table(ds: Dataset, cases: list[Case]) -> list[str]:
    nb = ds.data.nbytes
    ours = {c.codec: c for c in cases if c.ours and c.error is None}
    lines = [
        (
            "| case | write s | GB/s | peer/ours | +fsync s | GB/s | peer/ours | read s | GB/s | peer/ours "
            "| frame ms | frame/full | peer/ours | ratio | ok |"
        ),
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:-:|",
    ]
    for c in cases:
        if c.error is not None or not c.samples["write"]:
            lines.append(f"| {c.name} | failed: {c.error} |" + " |" * 14)
            continue
        w, f, r, fr, size = (c.med(k) for k in ("write", "fsync", "read", "frame", "size"))
        ref = None if c.ours else ours.get(c.codec)

        def vs(key: str, value: float, ref: Case | None = ref) -> str:
            return "-" if ref is None else versus(value, ref.med(key))

        ok = "-" if not c.ok else ("yes" if all(c.ok) else "NO")
        lines.append(
            f"| {c.name} | {fmt(w)} | {fmt(nb / w / GB, '.2f')} | {vs('write', w)} "
            f"| {fmt(f)} | {fmt(nb / f / GB, '.2f')} | {vs('fsync', f)} "
            f"| {fmt(r)} | {fmt(nb / r / GB, '.2f')} | {vs('read', r)} "
            f"| {fmt(fr * 1e3, '.1f')} | {fmt(fr / r, '.3f')} | {vs('frame', fr)} "
            f"| {fmt(nb / size, '.2f')} | {ok} |"
        )
    return lines


def verdict(ok: bool | None) -> str:
    return "n/a " if ok is None else ("PASS" if ok else "MISS")


def setting(case: Case) -> str:
    return case.name.rsplit(", ", 1)[-1]


def mark(ok: bool | None, text: str) -> str:
    return f"  [{verdict(ok)}] {text}"


@dataclass
class Peers:
    """Our zstd case and the rows its targets compare with (None or empty where they did not run)."""

    ours: Case
    page_cache_write: float  # our page-cache write: durable=False where it ran (no fsync, like the peers' 'write')
    pred: list[Case]  # python-mrcz's zstd settings
    raw: Case | None  # numpy tofile / fromfile
    reference: Case | None  # python-blosc2 alone, its default block size
    ceiling: Case | None  # python-blosc2 alone, its fastest block size
    nbytes: int  # bytes of the array

    def fastest_pred(self, key: str) -> Case:
        return min(self.pred, key=lambda c: c.med(key))


def find_peers(cases: list[Case], nbytes: int) -> Peers | None:
    by = {c.name: c for c in cases if c.error is None and c.samples["write"]}
    ours = next((c for c in by.values() if c.ours and c.codec == "zstd"), None)
    if ours is None:
        return None
    scratch = by.get(SCRATCH_ZSTD)

    def blosc2_alone(which: str) -> Case | None:
        return next((c for c in by.values() if c.name.startswith("python-blosc2") and which in c.name), None)

    return Peers(
        ours=ours,
        page_cache_write=scratch.med("write") if scratch is not None else ours.med("write"),
        pred=[c for c in by.values() if c.name.startswith("python-mrcz") and c.codec == "zstd"],
        raw=next((c for c in by.values() if c.name.startswith("numpy")), None),
        reference=blosc2_alone(BLOSC2_DEFAULT),
        ceiling=blosc2_alone(BLOSC2_CEILING),
        nbytes=nbytes,
    )


def predecessor_write_target(p: Peers) -> str:
    if not p.pred:
        return mark(None, "compressed write >= 1.5x python-mrcz 0.6: no predecessor (--predecessor-python)")
    w, f = p.page_cache_write, p.ours.med("fsync")
    best_w, best_f = p.fastest_pred("write"), p.fastest_pred("fsync")
    sw, sf = best_w.med("write") / w, best_f.med("fsync") / f
    return mark(
        sw >= 1.5,
        f"compressed write >= 1.5x python-mrcz 0.6: {sw:.2f}x ({w:.3f} s vs {best_w.med('write'):.3f} s, "
        f"its fastest zstd 1 setting, {setting(best_w)}); both with fsync: {sf:.2f}x "
        f"({f:.3f} s vs {best_f.med('fsync'):.3f} s, {setting(best_f)})",
    )


def tofile_target(p: Peers) -> str:
    if p.raw is None:
        return mark(None, "compressed write faster than numpy tofile: numpy case missing")
    w, f, nb = p.page_cache_write, p.ours.med("fsync"), p.nbytes
    t, tf = p.raw.med("write"), p.raw.med("fsync")
    return mark(
        w < t,
        f"compressed write faster than numpy tofile (page cache): {w:.3f} s vs {t:.3f} s "
        f"({nb / w / GB:.2f} vs {nb / t / GB:.2f} GB/s, {t / w:.2f}x); both with fsync: "
        f"{f:.3f} s vs {tf:.3f} s ({tf / f:.2f}x)",
    )


def ceiling_lines(p: Peers, ceiling: Case) -> list[str]:
    """Why a missed page-cache write target is out of reach: the speeds it needs against the codec's own."""
    w, nb, tc = p.page_cache_write, p.nbytes, ceiling.med("write")
    why = [
        (
            f"codec ceiling: python-blosc2 alone (zstd 1 bitshuffle, {THREADS} threads, its fastest block size, "
            f"{CEILING_BLOCKSIZE / 2**20:g} MiB) compresses the movie and writes it to the page cache, no fsync, "
            f"in {tc:.3f} s = {nb / tc / GB:.2f} GB/s"
        ),
    ]
    if p.pred:
        need = p.fastest_pred("write").med("write") / 1.5
        why.append(
            f"1.5x python-mrcz's page-cache time needs {need:.3f} s = {nb / need / GB:.2f} GB/s, "
            f"{tc / need:.2f}x the ceiling's speed"
        )
    if p.raw is not None:
        t = p.raw.med("write")
        why.append(
            f"faster than numpy tofile to the page cache needs < {t:.3f} s = {nb / t / GB:.2f} GB/s, "
            f"{tc / t:.2f}x the ceiling's speed"
        )
    why.append(f"ours, durable=False: {w:.3f} s = {nb / w / GB:.2f} GB/s = {tc / w:.2f}x the ceiling's speed")
    return [f"         {text}" for text in why]


def predecessor_read_target(p: Peers) -> str:
    if not p.pred:
        return mark(None, "read >= 1.5x python-mrcz 0.6: no predecessor (--predecessor-python)")
    r, best_r = p.ours.med("read"), p.fastest_pred("read")
    sr = best_r.med("read") / r
    return mark(
        sr >= 1.5,
        f"read >= 1.5x python-mrcz 0.6: {sr:.2f}x ({r:.3f} s vs {best_r.med('read'):.3f} s, "
        f"its fastest zstd 1 setting, {setting(best_r)})",
    )


def ratio_target(p: Peers) -> str:
    if p.reference is None:
        return mark(None, "compression ratio within 10 % of python-blosc2 alone: blosc2 not importable")
    ro, rc = p.nbytes / p.ours.med("size"), p.nbytes / p.reference.med("size")
    return mark(
        ro >= 0.9 * rc,
        f"compression ratio within 10 % of python-blosc2 alone (its default block size): {ro:.3f} vs {rc:.3f} ({100 * (ro / rc - 1):+.1f} %)",
    )


def frame_target(p: Peers, frames: int) -> str:
    fr, r = p.ours.med("frame"), p.ours.med("read")
    frac = fr / r
    text = f"one-frame read <= 1/20 of a full read: {frac:.4f} (= 1/{1 / frac:.1f}; {fr * 1e3:.1f} ms vs {r:.3f} s)"
    if frames < 20:
        return mark(None, text + f" -- only {frames} frames, the target needs >= 20 (it is set for 40)")
    return mark(frac <= 1 / 20, text + ("" if frames == 40 else f" -- {frames} frames, the target is set for 40"))


def memory_target(p: Peers) -> str:
    peak, nb = p.ours.memory.get("tracemalloc"), p.nbytes
    if peak is None:
        return mark(None, "peak memory of a full read: not measured")
    rss = p.ours.memory.get("rss")
    extra = "" if rss is None else f"; RSS growth in a fresh process: {rss / nb:.3f}x"
    return mark(
        peak <= 1.1 * nb,
        f"peak memory of a full read <= 1.1x the array: {peak / nb:.3f}x "
        f"(tracemalloc, {peak / 1e6:.1f} MB for {nb / 1e6:.1f} MB{extra})",
    )


def targets(ds: Dataset, cases: list[Case], frames: int) -> list[str]:
    out = [f"TARGETS ({ds.title}; ours = mrcz zstd 1 bitshuffle, 2 threads; medians)"]
    p = find_peers(cases, ds.data.nbytes)
    if p is None:
        return [*out, mark(None, "our zstd case did not run: no targets")]
    writes = [predecessor_write_target(p), tofile_target(p)]
    out += writes
    if p.ceiling is not None and any(text.startswith("  [MISS]") for text in writes):
        out += ceiling_lines(p, p.ceiling)
    return [*out, predecessor_read_target(p), ratio_target(p), frame_target(p, frames), memory_target(p)]


def cpu_model() -> str:
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def machine_lines(worker_info: dict | None, args: argparse.Namespace, tmpdir: str) -> list[str]:
    affinity = default_threads()
    mem = ""
    with contextlib.suppress(OSError, ValueError, IndexError), open("/proc/meminfo") as f:
        mem = f", {int(f.readline().split()[1]) / 2**20:.1f} GiB RAM"
    vers = [f"python {platform.python_version()}", f"numpy {np.__version__}", f"mrcz (ours) {mrcz.__version__}"]
    for mod in (blosc2, mrcfile, tifffile, imagecodecs):
        if mod is not None:
            vers.append(f"{mod.__name__} {getattr(mod, '__version__', '?')}")
    lines = [
        (
            f"machine: {platform.system()} {platform.machine()}, nproc {os.cpu_count()} (usable {affinity}), "
            f"CPU {cpu_model()}{mem}"
        ),
        "versions: " + ", ".join(vers),
    ]
    if worker_info:
        lines.append(
            f"python-mrcz (worker): mrcz {worker_info.get('mrcz')}, blosc {worker_info.get('blosc')}, "
            f"blosc2 {worker_info.get('blosc2')}, numpy {worker_info.get('numpy')}, python {worker_info.get('python')}"
        )
    else:
        lines.append("python-mrcz (worker): not run")
    lines.append(
        f"run: {args.frames} x {args.size}^2 uint8 counts, {args.float_frames} x {args.size}^2 float32, "
        f"{args.repeats} repeats (median shown), {THREADS} threads where a tool takes a thread count, "
        f"temp dir {tmpdir}"
    )
    return lines


# ------------------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--predecessor-python",
        default=None,
        type=os.path.abspath,  # the worker runs in another directory; abspath keeps a venv's symlink
        help="python of a venv holding mrcz==0.6.0",
    )
    ap.add_argument("--frames", type=int, default=None, help="frames of the counting movie (default 40)")
    ap.add_argument("--size", type=int, default=None, help="frame edge in pixels (default 4096)")
    ap.add_argument("--float-frames", type=int, default=None, help="frames of the float32 movie (default 10; 0 = skip)")
    ap.add_argument("--repeats", type=int, default=None, help="interleaved repeats, median shown (default 3)")
    ap.add_argument("--quick", action="store_true", help="8 x 1024^2 and 4 x 1024^2, 3 repeats (~1 min)")
    ap.add_argument("--markdown", default=None, help="also write the report to this markdown file")
    ap.add_argument("--tmpdir", default=None, help="where the files go (default: packages/mrcz/build/bench)")
    args = ap.parse_args(argv)
    defaults = (8, 1024, 4, 3) if args.quick else (40, 4096, 10, 3)
    for name, default in zip(("frames", "size", "float_frames", "repeats"), defaults):
        if getattr(args, name) is None:
            setattr(args, name, default)
    if args.frames < 1 or args.size < 1 or args.repeats < 1 or args.float_frames < 0:
        ap.error("--frames, --size and --repeats must be >= 1, --float-frames >= 0")
    return args


def start_predecessor(python: str | None) -> tuple[PredecessorWorker | None, dict | None]:
    """The python-mrcz worker and what it reports of itself; (None, None) where it is not run."""
    if not python:
        SKIPPED.append("no --predecessor-python: python-mrcz 0.6 cases are skipped")
        return None, None
    worker = None
    try:
        worker = PredecessorWorker(python)
        info = worker.request(op="info")
    except Exception as exc:
        SKIPPED.append(f"python-mrcz worker did not start ({exc}): its cases are skipped")
        if worker is not None:
            worker.close()
        return None, None
    if not str(info.get("mrcz")).startswith("0.6"):
        SKIPPED.append(f"warning: --predecessor-python imports mrcz {info.get('mrcz')}, not python-mrcz 0.6.x")
    return worker, info


def load_average(when: str) -> str:
    return f"- load average at {when}: {' '.join(f'{x:.2f}' for x in os.getloadavg())}"


# key -> (title, the movie of (frames, size)); seeds fixed so every run times the same data.
DATASETS: dict[str, tuple[str, Callable[[int, int], np.ndarray]]] = {
    "u8": ("electron-counting movie, Poisson mean 1, uint8", lambda n, size: counting_movie(n, size, seed=7)),
    "f32": (
        "gain-normalised movie, counts x normal(1, 0.05) gain, float32",
        lambda n, size: gain_normalised_movie(n, size, seed=11),
    ),
}

LEGEND = (
    "GB/s = array bytes / time; peer/ours = the row's time / our case's time with the same codec "
    "(zstd, lz4, none), > 1 = ours faster; frame = the middle frame, warm cache, - where the tool "
    "cannot read one frame (python-mrcz: compressed files); ratio = array bytes / file size; "
    "ok = round trip (whole file and frame) bit-exact on the first repeat."
)


def make_dataset(key: str, frames: int, size: int) -> Dataset:
    t0 = time.perf_counter()
    title, movie = DATASETS[key]
    data = movie(frames, size)
    print(
        f"... dataset {key}: {data.shape} {data.dtype}, {data.nbytes / 1e6:.1f} MB, made in "
        f"{time.perf_counter() - t0:.1f} s",
        flush=True,
    )
    return Dataset(key, title, data)


def dataset_section(ds: Dataset, cases: list[Case]) -> list[str]:
    """The dataset's table, its legend and notes: the entropy bound and our read's peak memory."""
    data = ds.data
    section = ["", f"## {ds.title}: {data.shape}, {data.nbytes / 1e6:.1f} MB", "", *table(ds, cases), "", LEGEND]
    notes = {c.note for c in cases if c.note and (ds.key == "u8" or "uint8" not in c.note)}
    section += [f"- {n}" for n in sorted(notes)]
    if ds.key == "u8":
        h = entropy_bits(data)
        section.append(
            f"- Shannon entropy of the uint8 count histogram: {h:.3f} bit/px -> ideal ratio 8/H = {8 / h:.2f}"
        )
    for c in cases:
        if c.ours and c.memory.get("tracemalloc") is not None:
            rss = c.memory.get("rss")
            section.append(
                f"- peak extra memory of a full read, {c.name}: {c.memory['tracemalloc'] / data.nbytes:.3f}x "
                "the array (tracemalloc)"
                + ("" if rss is None else f", {rss / data.nbytes:.3f}x (RSS growth, fresh process)")
            )
    return section


def bench_dataset(
    key: str, frames: int, args: argparse.Namespace, worker: PredecessorWorker | None, pv: str, tmpdir: str
) -> tuple[list[str], list[str]]:
    """Runs every case on one dataset and prints its section; returns the section and (for the
    counting movie) the target lines."""
    ds = make_dataset(key, frames, args.size)
    cases = build_cases(worker, pv)
    run_dataset(ds, cases, args.repeats, tmpdir, worker)
    section = dataset_section(ds, cases)
    print("\n".join(section), flush=True)
    return section, targets(ds, cases, frames) if key == "u8" else []


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    base = Path(args.tmpdir) if args.tmpdir else HERE.parent / "build" / "bench"
    base.mkdir(parents=True, exist_ok=True)
    tmpdir = tempfile.mkdtemp(prefix="mrcz_bench_", dir=base)
    worker, worker_info = start_predecessor(args.predecessor_python)
    pv = str(worker_info.get("mrcz", "?")) if worker_info else "?"

    report = ["# mrcz benchmark", ""]
    report += [f"- {line}" for line in machine_lines(worker_info, args, tmpdir)]
    report.append(load_average("start"))
    report += [f"- skipped: {s}" for s in SKIPPED]
    print("\n".join(report), flush=True)

    target_lines: list[str] = []
    specs = [("u8", args.frames)] + ([("f32", args.float_frames)] if args.float_frames else [])
    try:
        for key, frames in specs:
            section, found = bench_dataset(key, frames, args, worker, pv, tmpdir)
            report += section
            target_lines += found
            gc.collect()  # the dataset's movie is freed before the next is made
    finally:
        if worker is not None:
            worker.close()
        shutil.rmtree(tmpdir, ignore_errors=True)
        with contextlib.suppress(OSError):
            base.rmdir()  # only if empty

    tail = ["", load_average("end"), ""]
    if target_lines:
        tail += ["```", *target_lines, "```"]
    print("\n".join(tail), flush=True)
    report += tail
    if args.markdown:
        Path(args.markdown).write_text("\n".join(report) + "\n")
        print(f"... markdown written to {args.markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
