"""Timing worker for the predecessor library, python-mrcz 0.6.0.

python-mrcz 0.6.0 and this repository's mrcz are both imported as ``mrcz``, so they cannot share a
process. ``run.py`` starts this script once with the Python of a separate environment that holds
``mrcz==0.6.0`` (plus ``blosc`` and ``blosc2``) and talks to it over stdin/stdout, one JSON object
per line each way.

Requests (one per line on stdin):

    {"op": "info"}
        -> {"python": ..., "numpy": ..., "mrcz": ..., "blosc": ..., "blosc2": ...}
    {"op": "write", "path": P, "data_npy": NPY, "compressor": "zstd" | "lz4" | null,
     "clevel": 1, "n_threads": 2, "fsync": true}
        -> {"seconds": S, "write_seconds": W}
    {"op": "read", "path": P, "n_threads": 2, "frame": null | int,
     "data_npy": NPY, "verify": false}
        -> {"seconds": S, "shape": [...], "ok": true | false | null}
    {"op": "drop"}   forget the cached array          -> {}
    {"op": "quit"}   exit                              -> {}

``data_npy`` is a ``.npy`` file holding the array; it is loaded fully into memory
(``mmap_mode=None``) the first time it is named and cached until another file is named or
``drop`` arrives. uint8 arrays are written as their int8 view (same bytes): python-mrcz has no
uint8 mode.

Only the library call is timed: ``writeMRC`` (plus ``os.fsync`` of the finished file when
``fsync`` is true; ``write_seconds`` is the part before the fsync) and ``readMRC(path,
slices=0)`` (with ``idx=frame`` for a one-frame read, which python-mrcz supports for
uncompressed files only). Any failure is answered with ``{"error": "..."}`` and the worker
carries on.
"""

from __future__ import annotations

import gc
import json
import os
import platform
import sys
import time
import traceback
import warnings

import numpy as np

warnings.filterwarnings("ignore")

_cache: dict[str, np.ndarray] = {}


def _data(npy: str) -> np.ndarray:
    if npy not in _cache:
        _cache.clear()
        gc.collect()
        arr = np.load(npy, mmap_mode=None)
        _cache[npy] = arr.view(np.int8) if arr.dtype == np.uint8 else arr
    return _cache[npy]


def _fsync(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _version(name: str) -> str | None:
    try:
        return getattr(__import__(name), "__version__", "?")
    except Exception:
        return None


def handle(req: dict, mrcz) -> dict:
    op = req.get("op")
    if op == "info":
        return {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "mrcz": getattr(mrcz, "__version__", "?"),
            "blosc": _version("blosc"),
            "blosc2": _version("blosc2"),
        }
    if op == "drop":
        _cache.clear()
        gc.collect()
        return {}
    if op == "write":
        arr = _data(req["data_npy"])
        path = req["path"]
        gc.collect()
        t0 = time.perf_counter()
        mrcz.writeMRC(
            arr,
            path,
            compressor=req.get("compressor"),
            clevel=int(req.get("clevel", 1)),
            n_threads=req.get("n_threads"),
        )
        t1 = time.perf_counter()
        if req.get("fsync"):
            _fsync(path)
        t2 = time.perf_counter()
        return {"seconds": t2 - t0, "write_seconds": t1 - t0}
    if op == "read":
        path = req["path"]
        frame = req.get("frame")
        kwargs = {"slices": 0, "n_threads": req.get("n_threads")}
        if frame is not None:
            kwargs["idx"] = int(frame)
        gc.collect()
        t0 = time.perf_counter()
        image = mrcz.readMRC(path, **kwargs)[0]
        t1 = time.perf_counter()
        ok = None
        if req.get("verify") and req.get("data_npy"):
            want = _data(req["data_npy"])
            if frame is not None:
                want = want[int(frame)]
                image = image.reshape(want.shape) if image.size == want.size else image
            ok = bool(image.shape == want.shape and image.dtype == want.dtype and np.array_equal(image, want))
        shape = list(image.shape)
        del image
        return {"seconds": t1 - t0, "shape": shape, "ok": ok}
    if op == "quit":
        return {}
    raise ValueError(f"unknown op {op!r}")


def main() -> int:
    # Replies go to the real stdout; anything the library prints goes to stderr.
    out = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    sys.stdout = sys.stderr
    import mrcz  # python-mrcz 0.6.0 in this interpreter's environment

    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            req = json.loads(line)
            reply = handle(req, mrcz)
        except Exception as exc:
            req = {}
            reply = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc(limit=3)}
        out.write(json.dumps(reply) + "\n")
        out.flush()
        if req.get("op") == "quit":
            break
    return 0


if __name__ == "__main__":
    sys.exit(main())
