"""Benchmark of numexpr3 against numexpr 2.14 and NumPy (and blosc2), interleaved, medians and ratios printed.

Cases (the E1-E9 set of design/numexpr-notes.md section 5; inputs uniform in [0.5, 1.5), complex: plus an
imaginary part in [-0.5, 0.5)):
  E1 a + b | E2 2*a + 3*b | E3 a*b + c | E4 sin(a)**2 + cos(b)**2 | E5 exp(-a**2) * log1p(abs(b))
  E6 where(a > b, a - b, b - a) | E7 sqrt(a**2 + b**2 + c**2) | E8 a*b + c (complex128) | E9 sum(a*b)
  all float64 except E8; also E2f32 and E4f32 (float32)
  at N = 1e3, 1e4, 1e5, 1e7, and E1 at 1e8 (not with --quick).

Methods, all in this process, each case: NumPy (the plain expression, allocating its result);
numexpr 2 and numexpr3 `evaluate(expr, local_dict=...)` allocating the result and with a preallocated
`out=`, each with 1 and 2 threads (numexpr 2's `sum` takes no `out`: E9 is timed allocating only);
numexpr3 allocating recycles the output the previous call freed (a loop); from N = 1e6 also
`ne3 fresh`: allocating after `release_recycled_outputs()`, a fresh output as on a first call;
blosc2's miniexpr for E4/E5 at 1e7: `blosc2.lazyexpr(expr, <uncompressed NDArray operands>).compute()`.
Before timing, every numexpr3 method runs once and its result is compared with NumPy's (dtype, shape,
np.allclose): a mismatch prints loudly and the cell reads WRONG; an exception reads FAILED; neither is timed.

Extra sections:
  overhead   N = 10 float64 `a + b`, microseconds per call (timeit-style loops): NumPy, numexpr3 cached
             `evaluate` / `re_evaluate` / compiled `NumExpr(ex, signature)` object called `nex(a, b)`,
             the same three for numexpr 2
  bandwidth  `np.copyto(out, a)`, numexpr3 and numexpr 2 `a` -> out (2 threads) at N = 1e8 (1e7 with
             --quick), GB/s counting 16 B/element; `a + b` with out= (2 threads, from the main table)
             at 1e7 and 1e8 as a fraction of the best copy rate, counting 24 B/element
  roofline   every case at 1e7: GB/s moved (inputs read + output written) by numexpr3 and numexpr 2,
             and the floor of the ratio to numexpr 2 (those bytes at the copy bandwidth / numexpr 2's
             time): a target below the floor cannot be met by any evaluator on this machine; and
             the first touch of a fresh 80 MB output's pages (what allocating costs on top)
  memory     peak RSS growth (VmHWM, reset through /proc/self/clear_refs) of one evaluation at N = 1e7
             in a fresh subprocess per measurement (C++ buffers are invisible to tracemalloc), after a
             small warm-up evaluation; compared with the output size + 8 MB

Every repeat runs every method of a case once, in a freshly shuffled order, so machine noise hits all of
them alike; cells are medians; a sample is the mean of an inner loop sized to ~2-5 ms for small N.
"bg CPU" is the share of the machine's CPU time used by other processes while the case ran.
Ratios < 1 mean numexpr3 is faster. TARGETS compare numexpr3 with 2 threads (the default here) unless
said otherwise; "every case" means E1-E9 plus E2f32 and E4f32.

Usage:
    python packages/numexpr3/benchmarks/run.py [--quick] [--markdown FILE] [--repeats N]

`--predecessor-python PATH` is accepted and ignored (the nox `bench` session passes it to every package).
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
import re
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import numexpr3 as ne3

warnings.filterwarnings("ignore")
perf = time.perf_counter

SKIPPED: list[str] = []
FAILURES: list[str] = []  # every numexpr3 exception or wrong result, printed at the end
BG: dict[str, float] = {}  # share of the CPUs other processes used during the overhead / bandwidth sections


def _try_import(name: str):
    try:
        return __import__(name)
    except Exception as exc:
        SKIPPED.append(f"{name} not importable ({type(exc).__name__}: {exc}): its cases are skipped")
        return None


ne2 = _try_import("numexpr")
blosc2 = _try_import("blosc2")

THREADS = (1, 2)
GB = 1e9

# key, expression, dtype, NumPy version of the expression
CASES: list[tuple[str, str, str, Callable]] = [
    ("E1", "a + b", "float64", lambda a, b, c: a + b),
    ("E2", "2*a + 3*b", "float64", lambda a, b, c: 2 * a + 3 * b),
    ("E3", "a*b + c", "float64", lambda a, b, c: a * b + c),
    ("E4", "sin(a)**2 + cos(b)**2", "float64", lambda a, b, c: np.sin(a) ** 2 + np.cos(b) ** 2),
    ("E5", "exp(-a**2) * log1p(abs(b))", "float64", lambda a, b, c: np.exp(-(a**2)) * np.log1p(np.abs(b))),
    ("E6", "where(a > b, a - b, b - a)", "float64", lambda a, b, c: np.where(a > b, a - b, b - a)),
    ("E7", "sqrt(a**2 + b**2 + c**2)", "float64", lambda a, b, c: np.sqrt(a**2 + b**2 + c**2)),
    ("E8", "a*b + c", "complex128", lambda a, b, c: a * b + c),
    ("E9", "sum(a*b)", "float64", lambda a, b, c: np.sum(a * b)),
    ("E2f32", "2*a + 3*b", "float32", lambda a, b, c: 2 * a + 3 * b),
    ("E4f32", "sin(a)**2 + cos(b)**2", "float32", lambda a, b, c: np.sin(a) ** 2 + np.cos(b) ** 2),
]
CASE = {c[0]: c for c in CASES}
BLOSC2_CASES = ("E4", "E5")
# Column order of the time tables.
METHODS = [
    "np",
    *(f"ne2{o} {t}t" for o in ("", " out") for t in THREADS),
    *(f"ne3{o} {t}t" for o in ("", " fresh", " out") for t in THREADS),
    "b2nd",
]


# ------------------------------------------------------------------------------------------- helpers


def make_inputs(n: int, dtype: str, names: str = "abc", seed: int = 1234) -> dict[str, np.ndarray | None]:
    """The arrays `names` (others None); the same values for a given seed whatever `names` is."""
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)

    def one() -> np.ndarray:
        x = np.empty(n, dt)
        x.real = rng.random(n)
        x.real += 0.5  # [0.5, 1.5): log/sqrt safe
        if dt.kind == "c":
            x.imag = rng.random(n)
            x.imag -= 0.5
        return x

    arrays = {v: one() for v in "abc"[: 1 + max("abc".index(x) for x in names)]}
    return {v: arrays[v] if v in names else None for v in "abc"}


def names_of(expr: str) -> list[str]:
    return [v for v in "abc" if re.search(rf"\b{v}\b", expr)]


def _busy_seconds() -> float | None:
    """CPU seconds of the whole machine that were not idle (from /proc/stat)."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    # user nice system idle iowait irq softirq steal ...: count all but idle, iowait and steal
    busy = sum(fields[:3]) + sum(fields[5:7])
    return busy / os.sysconf("SC_CLK_TCK")


class Foreign:
    """Share of the machine's CPU time used by *other* processes inside the `with` block."""

    share = 0.0

    def __enter__(self) -> Foreign:
        self.b0, self.o0, self.t0 = _busy_seconds(), sum(os.times()[:2]), perf()
        return self

    def __exit__(self, *exc: object) -> None:
        b1, o1, t1 = _busy_seconds(), sum(os.times()[:2]), perf()
        if self.b0 is not None and b1 is not None:
            foreign = (b1 - self.b0) - (o1 - self.o0)
            self.share = max(0.0, foreign / max(1e-9, (t1 - self.t0) * (os.cpu_count() or 1)))


def wait_quiet(max_wait: float, threshold: float = 0.1) -> None:
    """Sleep until other processes use < `threshold` of the CPUs for one second (at most `max_wait` s)."""
    t0 = perf()
    while perf() - t0 < max_wait:
        with Foreign() as fg:
            time.sleep(1.0)
        if fg.share < threshold:
            return


_threads_now: dict[str, int] = {}


def set_threads(lib: str, n: int) -> None:
    """Set a library's thread count only when it changes (a pool resize is not free)."""
    if _threads_now.get(lib) != n:
        (ne3 if lib == "ne3" else ne2).set_num_threads(n)
        _threads_now[lib] = n


def sample(fn: Callable[[], object], k: int) -> float:
    t0 = perf()
    for _ in range(k):
        fn()
    return (perf() - t0) / k


def inner_loops(fn: Callable[[], object], target: float, kmax: int) -> int:
    """Calls per sample so that a sample lasts about `target` seconds."""
    one = min(sample(fn, 1) for _ in range(3))
    return max(1, min(kmax, round(target / max(one, 1e-9))))


def tolerance(dtype: str) -> float:
    return 1e-5 if dtype in ("float32", "complex64") else 1e-9


def mismatch(got: object, want: object, dtype: str) -> str | None:
    """Why `got` differs from NumPy's `want` (None when it agrees)."""
    got, want = np.asarray(got), np.asarray(want)
    if got.dtype != want.dtype:
        return f"dtype {got.dtype}, NumPy gives {want.dtype}"
    if got.shape != want.shape:
        return f"shape {got.shape}, NumPy gives {want.shape}"
    rtol = tolerance(dtype)
    if np.allclose(got, want, rtol=rtol, atol=rtol * 1e-3, equal_nan=True):
        return None
    bad = ~np.isclose(got, want, rtol=rtol, atol=rtol * 1e-3, equal_nan=True)
    i = int(np.flatnonzero(bad)[0]) if got.ndim else 0
    g, w = got.reshape(-1)[i], want.reshape(-1)[i]
    return f"{int(bad.sum())} of {bad.size} elements differ (rtol {rtol:g}); first at [{i}]: {g!r} vs {w!r}"


def fmt(x: float | None, spec: str = ".3g") -> str:
    return "-" if x is None or not math.isfinite(x) else format(x, spec)


def ratio(x: float | None, y: float | None) -> float | None:
    if x is None or y is None or not (math.isfinite(x) and math.isfinite(y)) or y <= 0:
        return None
    return x / y


def size_label(n: int) -> str:
    return f"1e{round(math.log10(n))}" if n >= 10 and 10 ** round(math.log10(n)) == n else str(n)


# ------------------------------------------------------------------------------------------- cases


@dataclass
class Method:
    name: str
    call: Callable[[], object]
    setup: Callable[[], None] = lambda: None
    out: np.ndarray | None = None  # the out= array whose content must be checked
    ours: bool = False
    k: int = 1
    samples: list[float] = field(default_factory=list)
    status: str = ""  # "", "WRONG", "FAILED", "(!)" (a peer that disagrees with NumPy: still timed)


@dataclass
class Result:
    n: int
    key: str
    times: dict[str, float] = field(default_factory=dict)  # method -> median seconds
    status: dict[str, str] = field(default_factory=dict)  # method -> WRONG / FAILED / (!)
    bg: float = 0.0


def fresh_evaluate(expr: str, local: dict[str, np.ndarray]) -> np.ndarray:
    """numexpr3 allocating a fresh output, as in a program's first call: the freed outputs it
    keeps for reuse are given back first (the unmapping every numexpr 2 call pays as well)."""
    ne3.release_recycled_outputs()
    return ne3.evaluate(expr, local_dict=local)


def build_methods(key: str, n: int, ops: dict[str, np.ndarray], threads: tuple[int, ...]) -> list[Method]:
    _, expr, _, numpy_fn = CASE[key]
    a, b, c = ops["a"], ops["b"], ops["c"]
    local = {v: ops[v] for v in names_of(expr)}
    reduction = expr.startswith("sum(")
    methods = [Method("np", lambda: numpy_fn(a, b, c))]
    libs = [("ne3", ne3)] + ([("ne2", ne2)] if ne2 is not None else [])
    for lib, mod in libs:
        out = None if reduction else np.empty_like(a)
        if out is not None:
            out.fill(0)  # fault the pages in now, not in the first timed call
        for t in threads:

            def setup(lib: str = lib, t: int = t) -> None:
                set_threads(lib, t)

            methods.append(
                Method(f"{lib} {t}t", lambda mod=mod: mod.evaluate(expr, local_dict=local), setup, ours=lib == "ne3")
            )
            if lib == "ne3" and not reduction and n >= 10**6:
                methods.append(Method(f"ne3 fresh {t}t", lambda: fresh_evaluate(expr, local), setup, ours=True))
            if out is not None:
                methods.append(
                    Method(
                        f"{lib} out {t}t",
                        lambda mod=mod, out=out: mod.evaluate(expr, local_dict=local, out=out),
                        setup,
                        out=out,
                        ours=lib == "ne3",
                    )
                )
    if blosc2 is not None and key in BLOSC2_CASES and n >= 10**7:
        cp0 = blosc2.CParams(clevel=0)
        nd = {v: blosc2.asarray(x, cparams=cp0) for v, x in local.items()}

        def setup_b2() -> None:
            blosc2.set_nthreads(2)
            if ne2 is not None:
                set_threads("ne2", 2)  # blosc2 may hand work to numexpr 2

        methods.append(Method("b2nd", lambda: blosc2.lazyexpr(expr, operands=nd).compute(cparams=cp0), setup_b2))
    return methods


def describe(m: Method, key: str, n: int) -> str:
    _, expr, dtype, _ = CASE[key]
    lib = "numexpr3" if m.name.startswith("ne3") else m.name
    form = f"evaluate({expr!r}, out=o)" if " out " in m.name else f"evaluate({expr!r})"
    return f"{lib} {form}, {dtype}, N={size_label(n)}, {m.name.split()[-1].replace('t', ' thread(s)')}"


def check_methods(methods: list[Method], key: str, n: int, ops: dict[str, np.ndarray]) -> None:
    """Run each method once (warm-up, caches) and compare its result with NumPy's."""
    _, _, dtype, numpy_fn = CASE[key]
    want = numpy_fn(ops["a"], ops["b"], ops["c"])
    for m in methods[1:]:
        try:
            m.setup()
            if m.out is not None:
                m.out.fill(np.nan)  # a call that writes nothing must not pass on an earlier call's values
            got = m.call()
            if m.name == "b2nd":
                got = got[()] if got.shape == () else got[:]
            if m.out is not None:
                got = m.out
        except Exception as exc:
            m.status = "FAILED"
            if m.ours:
                FAILURES.append(f"FAILED  {describe(m, key, n)}: {type(exc).__name__}: {exc}")
                print(f"!!! FAILED  {FAILURES[-1][8:]}", flush=True)
            else:
                SKIPPED.append(f"{m.name} failed on {key} at N={size_label(n)}: {type(exc).__name__}: {exc}")
            continue
        why = mismatch(got, want, dtype)
        if why is not None:
            if m.ours:
                m.status = "WRONG"
                FAILURES.append(f"WRONG   {describe(m, key, n)}: {why}")
                print(f"!!! WRONG RESULT  {FAILURES[-1][8:]}", flush=True)
            else:  # a peer's wrong answer is noted but still timed (blosc2 evaluates -a**2 as (-a)**2)
                m.status = "(!)"
                SKIPPED.append(f"{m.name} disagrees with NumPy on {key} at N={size_label(n)}: {why}")
        del got
    del want


def run_case(key: str, n: int, repeats: int, threads: tuple[int, ...] = THREADS) -> Result:
    _, expr, dtype, _ = CASE[key]
    ops = make_inputs(n, dtype, "".join(names_of(expr)))
    methods = build_methods(key, n, ops, threads)
    check_methods(methods, key, n, ops)
    live = [m for m in methods if m.status in ("", "(!)")]
    target, kmax = (0.002, 100_000) if n <= 10**4 else (0.005, 1000)
    for m in live:
        m.setup()
        m.k = 1 if n >= 10**6 else inner_loops(m.call, target, kmax)
    gc.collect()
    gc.disable()  # no collector pauses inside a sample
    try:
        with Foreign() as fg:
            for r in range(repeats):
                order = list(live)
                random.Random(97 * r + n + len(key)).shuffle(order)
                for m in order:
                    m.setup()
                    m.samples.append(sample(m.call, m.k))
    finally:
        gc.enable()
    res = Result(n, key, bg=fg.share)
    for m in methods:
        if m.samples:
            res.times[m.name] = statistics.median(m.samples)
        if m.status:
            res.status[m.name] = m.status
    del methods, ops, live
    gc.collect()
    return res


# ------------------------------------------------------------------------------------------- overhead


Call = tuple[Callable[[], object], Callable[[], None]]  # the call, and its setup (threads) before a sample


def overhead_calls(a: np.ndarray, b: np.ndarray) -> dict[str, Call]:
    """NumPy's `a + b`, and each library's cached evaluate, re_evaluate and compiled object."""
    d = {"a": a, "b": b}
    sig = [("a", np.float64), ("b", np.float64)]
    calls: dict[str, Call] = {"numpy a + b": (lambda: a + b, lambda: None)}
    for lib, mod in (("ne3", ne3), ("ne2", ne2)):
        if mod is None:
            continue
        label = "numexpr3" if lib == "ne3" else "numexpr 2"

        def prime(lib: str = lib, mod=mod) -> None:
            set_threads(lib, 2)
            mod.evaluate("a + b", local_dict=d)  # re_evaluate repeats the last evaluate

        calls[f"{label} evaluate('a + b', local_dict=d)"] = (lambda mod=mod: mod.evaluate("a + b", local_dict=d), prime)
        calls[f"{label} re_evaluate(local_dict=d)"] = (lambda mod=mod: mod.re_evaluate(local_dict=d), prime)
        try:
            nex = mod.NumExpr("a + b", sig)
        except Exception as exc:
            if lib == "ne3":
                FAILURES.append(f"FAILED  numexpr3 NumExpr('a + b', {sig}): {type(exc).__name__}: {exc}")
            continue
        calls[f"{label} NumExpr object nex(a, b)"] = (lambda nex=nex: nex(a, b), prime)
    return calls


def checked_overhead_calls(calls: dict[str, Call], want: np.ndarray) -> dict[str, tuple[Call, int]]:
    """The calls that give NumPy's result, each with its inner-loop count; numexpr3's misses are FAILURES."""
    live = {}
    for name, (fn, setup) in calls.items():
        try:
            setup()
            why = mismatch(fn(), want, "float64")
        except Exception as exc:
            why = f"{type(exc).__name__}: {exc}"
            if name.startswith("numexpr3"):
                FAILURES.append(f"FAILED  {name} (N=10 float64, 2 threads): {why}")
            continue
        if why is not None and name.startswith("numexpr3"):
            FAILURES.append(f"WRONG   {name} (N=10 float64, 2 threads): {why}")
            continue
        setup()
        live[name] = ((fn, setup), inner_loops(fn, 0.01, 1_000_000))
    return live


def measure_overhead(repeats: int) -> dict[str, float | None]:
    """Microseconds per call at N = 10 float64 `a + b`, 2 threads, cached expressions."""
    ops = make_inputs(10, "float64", "ab")
    a, b = ops["a"], ops["b"]
    calls = overhead_calls(a, b)
    live = checked_overhead_calls(calls, a + b)
    samples: dict[str, list[float]] = {name: [] for name in live}
    gc.collect()
    gc.disable()
    try:
        with Foreign() as fg:
            for r in range(repeats):
                order = list(live)
                random.Random(r).shuffle(order)
                for name in order:
                    (fn, setup), k = live[name]
                    setup()
                    samples[name].append(sample(fn, k))
    finally:
        gc.enable()
    BG["overhead"] = fg.share
    return {name: (statistics.median(samples[name]) * 1e6 if name in samples else None) for name in calls}


# ------------------------------------------------------------------------------------------- bandwidth


def measure_bandwidth(n: int, repeats: int) -> dict[str, float]:
    """Median seconds of copies of N float64 (the memory-bandwidth reference)."""
    ops = make_inputs(n, "float64", "a")
    a = ops["a"]
    d = {"a": a}
    del ops
    out = np.empty_like(a)
    out.fill(0)
    calls: dict[str, tuple[Callable[[], object], Callable[[], None]]] = {
        "numpy copyto(out, a) [1 thread]": (lambda: np.copyto(out, a), lambda: None),
        "numexpr3 'a' -> out [2 threads]": (
            lambda: ne3.evaluate("a", local_dict=d, out=out),
            lambda: set_threads("ne3", 2),
        ),
    }
    if ne2 is not None:
        calls["numexpr 2 'a' -> out [2 threads]"] = (
            lambda: ne2.evaluate("a", local_dict=d, out=out),
            lambda: set_threads("ne2", 2),
        )
    live = {}
    for name, (fn, setup) in calls.items():
        try:
            setup()
            fn()
            if not np.array_equal(out, a):
                raise AssertionError("out differs from a")
        except Exception as exc:
            if name.startswith("numexpr3"):
                FAILURES.append(f"FAILED  {name}, float64, N={size_label(n)}: {type(exc).__name__}: {exc}")
            continue
        finally:
            out.fill(0)
        live[name] = (fn, setup)
    samples: dict[str, list[float]] = {name: [] for name in live}
    with Foreign() as fg:
        for r in range(repeats):
            order = list(live)
            random.Random(r).shuffle(order)
            for name in order:
                fn, setup = live[name]
                setup()
                samples[name].append(sample(fn, 1))
    BG["bandwidth"] = fg.share
    return {name: statistics.median(v) for name, v in samples.items()}


def measure_first_touch(nbytes: int, repeats: int) -> float:
    """Median seconds to allocate `nbytes` with NumPy and write one byte per 4 KiB page: the
    kernel's page faults and zeroing, which every freshly allocated output pays."""

    def touch() -> None:
        fresh = np.empty(nbytes, np.uint8)
        fresh[::4096] = 1

    touch()
    return statistics.median(sample(touch, 1) for _ in range(repeats))


# ------------------------------------------------------------------------------------------- memory

_RSS_PROBE = """
import json, re, sys
import numpy as np

lib, expr, dtype, n, with_out = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5] == "1"
mod = __import__(lib)
mod.set_num_threads(2)

def status(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1]) * 1024
    return -1

def inputs(n):
    rng = np.random.default_rng(1234)
    def one():
        x = rng.random(n) + 0.5
        if np.dtype(dtype).kind == "c":
            x = x + 1j * (rng.random(n) - 0.5)
        return x.astype(dtype)
    return {v: one() for v in "abc" if re.search(rf"\\b{v}\\b", expr)}

small = inputs(1000)
kind = np.asarray(mod.evaluate(expr, local_dict=small)).dtype  # warm-up: imports, caches, thread pool
out = None
if with_out:
    mod.evaluate(expr, local_dict=small, out=np.empty(1000, kind))
    out = np.empty(n, kind)
    out.fill(0)  # touched before the baseline, like any preallocated output
ops = inputs(n)
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # resets VmHWM to the current RSS
rss0 = status("VmRSS:")
r = mod.evaluate(expr, local_dict=ops, out=out)
extra = status("VmHWM:") - rss0
print(json.dumps({"extra": extra, "out_bytes": int(np.asarray(r).nbytes)}))
"""


def rss_peak(lib: str, key: str, n: int, with_out: bool) -> dict | str:
    """Peak RSS growth of one evaluation in a fresh process: a dict, or the error text."""
    _, expr, dtype, _ = CASE[key]
    try:
        res = subprocess.run(
            [sys.executable, "-c", _RSS_PROBE, lib, expr, dtype, str(n), "1" if with_out else "0"],
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
            cwd="/",
        )
    except subprocess.TimeoutExpired:
        return "timed out after 300 s"
    if res.returncode != 0:
        tail = (res.stderr.strip().splitlines() or [f"exit status {res.returncode}"])[-1]
        return f"exit status {res.returncode}: {tail}"
    return json.loads(res.stdout.strip().splitlines()[-1])


def measure_memory(keys: list[str], n: int) -> list[tuple[str, str, bool, dict | str]]:
    rows = []
    if not Path("/proc/self/clear_refs").exists():
        SKIPPED.append("no /proc/self/clear_refs: peak memory not measured")
        return rows
    for key in keys:
        for lib, with_out in (("numexpr3", False), ("numexpr3", True), ("numexpr", False)):
            if lib == "numexpr" and ne2 is None:
                continue
            if with_out and key == "E9":
                continue
            r = rss_peak(lib, key, n, with_out)
            if isinstance(r, str) and lib == "numexpr3":
                form = "out=o" if with_out else "allocating"
                FAILURES.append(f"FAILED  numexpr3 {CASE[key][1]!r} ({form}), {CASE[key][2]}, N={size_label(n)}: {r}")
            rows.append((key, lib, with_out, r))
    return rows


# ------------------------------------------------------------------------------------------- report


def cpu_model() -> str:
    """The CPU model and its vector extensions (they decide which SIMD kernels run)."""
    model, isa = platform.processor() or platform.machine(), ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key.strip().lower() in ("model name", "hardware", "cpu model") and model == platform.machine():
                model = value.strip()
            elif key.strip() in ("flags", "Features") and not isa:
                wanted = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512dq", "avx512_fp16", "neon", "asimd", "sve")
                isa = " ".join(x for x in value.split() if x in wanted)
    return f"{model} ({isa})" if isa else model


def machine_lines(args: argparse.Namespace) -> list[str]:
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    mem = ""
    with contextlib.suppress(OSError, ValueError, IndexError), open("/proc/meminfo") as f:
        mem = f", {int(f.readline().split()[1]) / 2**20:.1f} GiB RAM"
    vers = [f"python {platform.python_version()}", f"numpy {np.__version__}", f"numexpr3 {ne3.__version__}"]
    vers += [f"{m.__name__} {m.__version__}" for m in (ne2, blosc2) if m is not None]
    return [
        f"command: {' '.join([Path(sys.executable).name, *sys.argv])}",
        f"date: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}",
        (
            f"machine: {platform.system()} {platform.machine()}, nproc {os.cpu_count()} (usable {usable}), "
            f"CPU {cpu_model()}{mem}"
        ),
        "versions: " + ", ".join(vers),
        (
            f"repeats: {args.repeats_small} (N <= 1e5), {args.repeats} (1e7), {max(3, args.repeats - 2)} (1e8), "
            "interleaved, medians"
        ),
    ]


def cell(res: Result, m: str, scale: float) -> str:
    if m in res.status and res.status[m] != "(!)":
        return res.status[m]
    if m not in res.times:
        return "-"
    return fmt(res.times[m] * scale) + (" (!)" if res.status.get(m) == "(!)" else "")


def time_tables(results: list[Result]) -> list[str]:
    lines = []
    for n in sorted({r.n for r in results}):
        rows = [r for r in results if r.n == n]
        unit, scale = ("us", 1e6) if n <= 10**5 else ("ms", 1e3)
        cols = [m for m in METHODS if any(m in r.times or m in r.status for r in rows)]
        lines += ["", f"### Times, N = {size_label(n)} ({unit}, median)", ""]
        lines.append("| case | expr | dtype | " + " | ".join(cols) + " | bg CPU |")
        lines.append("|---|---|---|" + "---:|" * len(cols) + "---:|")
        for r in rows:
            _, expr, dtype, _ = CASE[r.key]
            cells = " | ".join(cell(r, m, scale) for m in cols)
            lines.append(f"| {r.key} | `{expr}` | {dtype} | {cells} | {100 * r.bg:.0f}% |")
    return lines


RATIO_COLS = [
    ("ne3/ne2 1t", "ne3 1t", "ne2 1t"),
    ("ne3/ne2 2t", "ne3 2t", "ne2 2t"),
    ("ne3/ne2 out 1t", "ne3 out 1t", "ne2 out 1t"),
    ("ne3/ne2 out 2t", "ne3 out 2t", "ne2 out 2t"),
    ("ne3 fresh/ne2 2t", "ne3 fresh 2t", "ne2 2t"),
    ("ne3/ne3 out 2t", "ne3 2t", "ne3 out 2t"),
    ("ne3 fresh/ne3 out 2t", "ne3 fresh 2t", "ne3 out 2t"),
    ("ne3/np 1t", "ne3 1t", "np"),
    ("ne3/np 2t", "ne3 2t", "np"),
    ("ne3/b2nd", "ne3 2t", "b2nd"),
]


def rel(res: Result, x: str, y: str) -> float | None:
    return ratio(res.times.get(x), res.times.get(y))


def ratio_table(results: list[Result]) -> list[str]:
    cols = [c for c in RATIO_COLS if any(rel(r, c[1], c[2]) is not None for r in results)]
    lines = ["", "### Ratios (time numexpr3 / time of the other; < 1 = numexpr3 faster)", ""]
    lines.append("| N | case | " + " | ".join(c[0] for c in cols) + " |")
    lines.append("|---|---|" + "---:|" * len(cols))
    for r in results:
        cells = []
        for _, x, y in cols:
            v = rel(r, x, y)
            cells.append(r.status[x] if x in r.status and r.status[x] != "(!)" else fmt(v, ".2f"))
        lines.append(f"| {size_label(r.n)} | {r.key} | " + " | ".join(cells) + " |")
    return lines


def overhead_table(ov: dict[str, float | None]) -> list[str]:
    bg = f"; bg CPU {100 * BG.get('overhead', 0):.0f}%"
    lines = ["", f"### Per-call overhead, N = 10 float64 `a + b`, 2 threads (us per call, median{bg})", ""]
    lines += ["| call | us |", "|---|---:|"]
    lines += [f"| {name} | {fmt(us)} |" for name, us in ov.items()]
    return lines


def bandwidth_table(
    bw: dict[str, float], n_bw: int, results: list[Result]
) -> tuple[list[str], dict[int, float], float | None]:
    bg = f"bg CPU {100 * BG.get('bandwidth', 0):.0f}%"
    lines = ["", f"### Copy bandwidth, N = {size_label(n_bw)} float64 (16 B/element: read + write; {bg})", ""]
    lines += ["| kernel | ms | GB/s |", "|---|---:|---:|"]
    for name, t in bw.items():
        lines.append(f"| {name} | {t * 1e3:.1f} | {16 * n_bw / t / GB:.1f} |")
    ref_name, ref = None, None
    refs = {k: t for k, t in bw.items() if not k.startswith("numexpr 2")}  # the reference: NumPy's or our copy
    if refs:
        ref_name = min(refs, key=refs.get)
        ref = 16 * n_bw / bw[ref_name] / GB
    fractions = {}
    lines += ["", "| `a + b`, out=, 2 threads (24 B/element) | ms | GB/s | fraction of the best copy |"]
    lines.append("|---|---:|---:|---:|")
    for r in results:
        t = r.times.get("ne3 out 2t")
        if r.key != "E1" or r.n < 10**7 or t is None:
            continue
        gbs = 24 * r.n / t / GB
        fractions[r.n] = gbs / ref if ref_name else math.nan
        lines.append(f"| numexpr3, N = {size_label(r.n)} | {t * 1e3:.1f} | {gbs:.1f} | {fmt(fractions[r.n], '.2f')} |")
        t2 = r.times.get("ne2 out 2t")
        if t2 is not None:
            g2 = 24 * r.n / t2 / GB
            f2 = g2 / ref if ref_name else math.nan
            lines.append(f"| numexpr 2, N = {size_label(r.n)} | {t2 * 1e3:.1f} | {g2:.1f} | {fmt(f2, '.2f')} |")
    if ref_name:
        lines.append(f"\ncopy reference (best of NumPy and numexpr3): {ref_name}, {ref:.1f} GB/s")
    return lines, fractions, ref


def bytes_per_element(key: str) -> int:
    """Bytes an evaluation must move per element: each input read once, the output written."""
    _, expression, dtype, _ = CASE[key]
    size = np.dtype(dtype).itemsize
    inputs = len(set(re.findall(r"\b[abc]\b", expression)))
    return size * (inputs + (0 if expression.startswith("sum(") else 1))


def roofline(
    results: list[Result], copy_gbs: float | None, first_touch: float | None
) -> tuple[list[str], dict[tuple[str, str], float]]:
    """At N = 1e7: the bandwidth each library reaches, and the floor of the ratio to numexpr 2:
    the time of moving the case's bytes at the copy bandwidth over numexpr 2's time. Where the
    floor is above a target, no VM can meet the target on this machine."""
    floors: dict[tuple[str, str], float] = {}
    rows = [r for r in results if r.n == 10**7]
    if not rows or not copy_gbs:
        return [], floors
    lines = [
        "",
        f"### Roofline, N = 1e7, 2 threads (copy bandwidth {copy_gbs:.1f} GB/s)",
        "",
        (
            "GB/s = bytes moved (inputs read + output written) / time; floor = that many bytes at the copy "
            "bandwidth / numexpr 2's time: the lowest ratio to numexpr 2 any evaluator could reach here."
        ),
        "",
        "| case | B/element | ne3 GB/s | ne2 GB/s | floor | ne3 out GB/s | ne2 out GB/s | floor out |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        moved = bytes_per_element(r.key) * r.n
        cells = [r.key, str(bytes_per_element(r.key))]
        for form in ("", " out"):
            t3, t2 = r.times.get(f"ne3{form} 2t"), r.times.get(f"ne2{form} 2t")
            cells += [fmt(moved / t3 / GB if t3 else None, ".1f"), fmt(moved / t2 / GB if t2 else None, ".1f")]
            if t2:
                floors[(r.key, form)] = moved / (copy_gbs * GB) / t2
            cells.append(fmt(floors.get((r.key, form)), ".2f"))
        lines.append("| " + " | ".join(cells) + " |")
    e1 = next((r.times.get("ne3 2t") for r in rows if r.key == "E1"), None)
    if first_touch and e1:
        lines.append(
            f"\nA fresh 80 MB output (N = 1e7 float64): the first touch of its pages alone takes "
            f"{first_touch * 1e3:.1f} ms on one thread, {100 * first_touch / e1:.0f} % of numexpr3's whole E1 "
            "evaluation; the allocating forms pay it on top of the bytes moved (both libraries alike)."
        )
    return lines, floors


def memory_table(rows: list[tuple[str, str, bool, dict | str]], n: int) -> list[str]:
    lines = [
        "",
        f"### Peak extra memory of one evaluation, N = {size_label(n)}, 2 threads (RSS growth, fresh process)",
        "",
    ]
    lines += [
        "| case | library | form | extra MB | allocated output MB | extra - output MB |",
        "|---|---|---|---:|---:|---:|",
    ]
    for key, lib, with_out, r in rows:
        form = "out=o" if with_out else "allocating"
        if isinstance(r, str):
            lines.append(f"| {key} | {lib} | {form} | FAILED: {r} | | |")
            continue
        out_mb = 0.0 if with_out else r["out_bytes"] / 1e6
        extra = r["extra"] / 1e6
        lines.append(f"| {key} | {lib} | {form} | {extra:.1f} | {out_mb:.1f} | {extra - out_mb:+.1f} |")
    return lines


# ------------------------------------------------------------------------------------------- targets

BROKEN = ("WRONG", "FAILED")
EVERY = [c[0] for c in CASES]
E2_E8 = ["E2", "E3", "E4", "E5", "E6", "E7", "E8", "E2f32", "E4f32"]
PAIRS_2T = [("ne3 2t", "ne2 2t"), ("ne3 out 2t", "ne2 out 2t")]


def at(results: list[Result], n: int) -> dict[str, Result]:
    return {r.key: r for r in results if r.n == n}


def worst(rows: dict[str, Result], pairs: list[tuple[str, str]], keys: list[str]) -> tuple[float | None, str, list]:
    """The largest ratio over cases and method pairs; failed/wrong numexpr3 cells count as misses."""
    vals, broken = [], []
    for r in (rows[key] for key in keys if key in rows):
        for x, y in pairs:
            if r.status.get(x) in BROKEN:
                broken.append(f"{r.key} {x} {r.status[x]}")
            elif (v := rel(r, x, y)) is not None:
                vals.append((v, f"{r.key} {x}"))
    if not vals:
        return None, "", broken
    v, where = max(vals)
    return v, where, broken


class Verdicts:
    """The TARGETS block: one PASS / MISS / n/a line per target."""

    def __init__(self) -> None:
        self.out = ["TARGETS (numexpr3 vs numexpr 2.14 / NumPy / blosc2; medians; ratio = time ne3 / time other)"]

    def line(self, ok: bool | None, text: str) -> None:
        self.out.append(f"  [{'n/a ' if ok is None else ('PASS' if ok else 'MISS')}] {text}")

    def judge(self, limit: float, rows: dict[str, Result], pairs: list[tuple[str, str]], keys: list[str], text: str):
        v, where, broken = worst(rows, pairs, keys)
        if v is None:
            self.line(None, f"{text}: not measured")
            return
        tail = f"; broken: {', '.join(broken)}" if broken else ""
        self.line(v <= limit and not broken, f"{text}: worst {v:.2f} ({where}){tail}")


def judge_overhead(v: Verdicts, ov: dict[str, float | None]) -> None:
    ev3, ev2 = ov.get("numexpr3 evaluate('a + b', local_dict=d)"), ov.get("numexpr 2 evaluate('a + b', local_dict=d)")
    text = "cached evaluate at N=10 <= 3 us and <= 0.5x numexpr 2"
    if ev3 is None:
        v.line(False, f"{text}: numexpr3 failed")
    else:
        r = ratio(ev3, ev2)
        v.line(ev3 <= 3.0 and (r is None or r <= 0.5), f"{text}: {ev3:.2f} us, {fmt(r, '.2f')}x ({fmt(ev2)} us)")
    nex3 = ov.get("numexpr3 NumExpr object nex(a, b)")
    v.line(
        None if nex3 is None else nex3 <= 1.0,
        f"compiled-object call at N=10 <= 1 us: {fmt(nex3)} us"
        + f" (numexpr 2: {fmt(ov.get('numexpr 2 NumExpr object nex(a, b)'))} us)",
    )


def numpy_misses(rows: dict[str, Result]) -> list[str]:
    """The cases of E2_E8 where numexpr3 (2 threads) is not faster than NumPy."""
    miss = []
    for r in (rows[key] for key in E2_E8 if key in rows):
        ratio_np = rel(r, "ne3 2t", "np")
        if r.status.get("ne3 2t") in BROKEN or ratio_np is None or ratio_np >= 1:
            miss.append(f"{r.key} {r.status.get('ne3 2t') or fmt(ratio_np, '.2f')}")
    return miss


def judge_numpy(v: Verdicts, results: list[Result]) -> None:
    parts, ok = [], True
    for n in sorted({r.n for r in results if r.n >= 10**4}):
        rows = at(results, n)
        if any(k in rows for k in E2_E8):
            miss = numpy_misses(rows)
            parts.append(f"N={size_label(n)}: " + (", ".join(miss) if miss else "all faster"))
            ok = ok and not miss
    text = "; ".join(parts) if parts else "not measured"
    v.line(ok if parts else None, f"beats NumPy on E2-E8 (and E2f32, E4f32) from N=1e4, ne3 2t / np; misses: {text}")


def judge_bandwidth(v: Verdicts, fractions: dict[int, float], floors: dict[tuple[str, str], float], big) -> None:
    bound = sorted(f"{key}{form} {floor:.2f}" for (key, form), floor in floors.items() if floor > 0.8 and key in big)
    if bound:
        v.out.append(
            "         memory-bound: moving their bytes at the copy bandwidth would still take more than 0.8x "
            f"numexpr 2's time (floor of the ratio): {', '.join(bound)}"
        )
    text = "`a + b` out= at >= 85 % of the copy bandwidth"
    if not fractions:
        v.line(None, f"{text}: not measured")
        return
    n = max(fractions)
    more = ", ".join(f"N={size_label(k)} {f:.2f}" for k, f in sorted(fractions.items()))
    v.line(fractions[n] >= 0.85, f"{text}: {100 * fractions[n]:.0f} % at N={size_label(n)} ({more})")


def judge_blosc2(v: Verdicts, big: dict[str, Result]) -> None:
    for key in BLOSC2_CASES:
        r = big.get(key)
        text = f"N=1e7 {key} <= 0.4x numexpr 2 and faster than blosc2 miniexpr"
        if r is None or r.status.get("ne3 2t") in BROKEN:
            v.line(False if r else None, f"{text}: {r.status.get('ne3 2t') if r else '-'}")
            continue
        v2, vb = rel(r, "ne3 2t", "ne2 2t"), rel(r, "ne3 2t", "b2nd")
        ok = v2 is not None and v2 <= 0.4 and (vb is None or vb < 1)
        note = " (blosc2 disagrees with NumPy)" if r.status.get("b2nd") == "(!)" else ""
        v.line(ok, f"{text}: {fmt(v2, '.2f')}x numexpr 2, {fmt(vb, '.2f')}x blosc2{note}")


def judge_float32(v: Verdicts, big: dict[str, Result]) -> None:
    r64, r32 = big.get("E4"), big.get("E4f32")
    sp = ratio(r64.times.get("ne3 2t"), r32.times.get("ne3 2t")) if r64 and r32 else None
    v.line(
        None if sp is None else sp >= 1.6,
        f"N=1e7: float32 E4 >= 1.6x faster than float64 E4: {fmt(sp, '.2f')}x (time E4 / time E4f32, 2 threads)",
    )


def judge_memory(v: Verdicts, mem: list[tuple[str, str, bool, dict | str]]) -> None:
    over = [
        (math.inf if isinstance(r, str) else (r["extra"] - r["out_bytes"]) / 1e6, key)
        for key, lib, with_out, r in mem
        if lib == "numexpr3" and not with_out
    ]
    if not over:
        v.line(None, "peak extra memory <= output + 8 MB: not measured")
        return
    extra, key = max(over)
    v.line(
        extra <= 8.0, f"peak extra memory <= output + 8 MB (N=1e7, allocating): worst output {extra:+.1f} MB ({key})"
    )


def judge_allocating(v: Verdicts, big: dict[str, Result]) -> None:
    """Issue 16 item 5: allocating memory-bound calls no slower than numexpr 2's, and >= 85 % of
    the out= speed (time out= / time allocating >= 0.85), in a loop (a recycled output) and fresh."""
    keys = ["E1", "E3"]
    for x, form in (("ne3 2t", "in a loop"), ("ne3 fresh 2t", "fresh output")):
        v.judge(1.0, big, [(x, "ne2 2t")], keys, f"issue 16.5: N=1e7 E1/E3 allocating ({form}) <= 1.0x numexpr 2")
        v.judge(
            1 / 0.85, big, [(x, "ne3 out 2t")], keys, f"issue 16.5: ... ({form}) >= 85 % of out= speed (<= 1.18x out=)"
        )
    # The kernel zeroes every page of a fresh output before the evaluation writes it: the
    # output's bytes are written twice, a floor on time(fresh) / time(out=) at the bandwidth.
    floors = ", ".join(f"{key} {1 + np.dtype(CASE[key][2]).itemsize / bytes_per_element(key):.2f}" for key in keys)
    v.out.append(
        f"         fresh output: the kernel's zeroing of its pages sets a floor on the ratio to out=: {floors}"
    )


def targets(
    results: list[Result],
    ov: dict[str, float | None],
    fractions: dict[int, float],
    mem: list[tuple[str, str, bool, dict | str]],
    floors: dict[tuple[str, str], float],
) -> list[str]:
    v = Verdicts()
    judge_overhead(v, ov)
    v.judge(0.5, at(results, 10**3), [("ne3 2t", "ne2 2t")], EVERY, "N=1e3: <= 0.5x numexpr 2 on every case (evaluate)")
    judge_numpy(v, results)
    big = at(results, 10**7)
    v.judge(0.8, big, PAIRS_2T, EVERY, "N=1e7, 2 threads: every case <= 0.8x numexpr 2 (allocating and out=)")
    judge_bandwidth(v, fractions, floors, big)
    judge_blosc2(v, big)
    v.judge(0.5, big, [("ne3 2t", "ne2 2t")], ["E9"], "N=1e7: sum(a*b) <= 0.5x numexpr 2")
    judge_float32(v, big)
    judge_memory(v, mem)
    v.judge(
        1.0,
        big,
        PAIRS_2T,
        EVERY,
        "issue 4: no slower than numexpr 2.14 on any case at N=1e7, 2 threads (alloc and out=)",
    )
    judge_allocating(v, big)
    busy = max((r.bg for r in results if r.n >= 10**7), default=0.0)
    v.out.append(
        f"  (other processes used up to {100 * busy:.0f} % of the CPUs during the N >= 1e7 cases"
        + ("; large-N figures are unreliable above ~10 %)" if busy > 0.1 else ")")
    )
    return v.out


# ------------------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="no N=1e8, fewer repeats and memory probes (~1 min)")
    ap.add_argument("--repeats", type=int, default=None, help="interleaved repeats at N >= 1e7 (default 7, quick 3)")
    ap.add_argument("--markdown", default=None, help="also write the report to this markdown file")
    ap.add_argument("--cases", default=None, help="comma-separated subset of E1,...,E4f32 (default all)")
    ap.add_argument(
        "--wait-idle", type=float, default=0, help="before each large case, wait up to this many s for a quiet machine"
    )
    ap.add_argument("--predecessor-python", default=None, help="ignored (passed by the nox bench session)")
    args = ap.parse_args(argv)
    if args.repeats is None:
        args.repeats = 3 if args.quick else 7
    if args.repeats < 1:
        ap.error("--repeats must be >= 1")
    args.repeats_small = 5 if args.quick else 2 * args.repeats + 1
    args.keys = list(CASE) if args.cases is None else [k.strip() for k in args.cases.split(",")]
    unknown = [k for k in args.keys if k not in CASE]
    if unknown:
        ap.error(f"unknown cases {unknown}; known: {', '.join(CASE)}")
    return args


def run_sizes(args: argparse.Namespace) -> list[Result]:
    """The time tables: every case at each N, printed as each N completes."""
    sizes = [10**3, 10**4, 10**5, 10**7] + ([] if args.quick else [10**8])
    results: list[Result] = []
    for n in sizes:
        t0 = perf()
        keys = [k for k in args.keys if n <= 10**7 or k == "E1"]  # 1e8: `a + b` only
        reps = args.repeats_small if n <= 10**5 else (args.repeats if n <= 10**7 else max(3, args.repeats - 2))
        threads = (2,) if args.quick and n >= 10**7 else THREADS  # --quick: 2 threads only at 1e7
        for key in keys:
            if n >= 10**7:
                wait_quiet(args.wait_idle)
            results.append(run_case(key, n, reps, threads))
        if keys:
            print(f"... N = {size_label(n)} done in {perf() - t0:.1f} s", flush=True)
            print("\n".join(time_tables([r for r in results if r.n == n])), flush=True)
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    t_start = perf()
    report = ["# numexpr3 benchmark", ""]
    report += [f"- {s}" for s in machine_lines(args)]
    report.append(f"- load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("\n".join(report), flush=True)

    wait_quiet(args.wait_idle)  # microsecond timings suffer most from a busy machine
    ov = measure_overhead(args.repeats_small)
    print("\n".join(overhead_table(ov)), flush=True)

    results = run_sizes(args)

    n_bw = 10**7 if args.quick else 10**8
    wait_quiet(args.wait_idle)
    bw = measure_bandwidth(n_bw, args.repeats)
    bw_lines, fractions, copy_gbs = bandwidth_table(bw, n_bw, results)
    first_touch = measure_first_touch(8 * 10**7, args.repeats) if any(r.n == 10**7 for r in results) else None
    roof_lines, floors = roofline(results, copy_gbs, first_touch)
    bw_lines += roof_lines
    print("\n".join(bw_lines), flush=True)

    mem_keys = ["E1", "E4", "E7", "E9"] if args.quick else list(CASE)
    mem = measure_memory([k for k in mem_keys if k in args.keys], 10**7)
    mem_lines = memory_table(mem, 10**7)
    print("\n".join(mem_lines), flush=True)

    ratio_lines = ratio_table(results)
    print("\n".join(ratio_lines), flush=True)

    report += overhead_table(ov)
    report += time_tables(results)
    report += ratio_lines
    report += bw_lines
    report += mem_lines
    report += [
        "",
        (
            "Columns: `np` = NumPy expression (allocating); `ne2`/`ne3` = numexpr 2 / numexpr3 "
            "`evaluate(expr, local_dict=d)` (numexpr3: reusing the output the previous call freed), "
            "`out` = with a preallocated `out=`, `fresh` = numexpr3 allocating a fresh output "
            "(`release_recycled_outputs()` first); `1t`/`2t` = threads; "
            "`b2nd` = `blosc2.lazyexpr(expr, NDArray operands).compute()`; WRONG / FAILED = numexpr3 "
            "disagreed with NumPy / raised (not timed); (!) = a peer disagreeing with NumPy (still timed)."
        ),
    ]
    tail = ["", f"- load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}"]
    tail.append(f"- total time: {perf() - t_start:.0f} s")
    tail += [f"- note: {s}" for s in SKIPPED]
    tail += ["", "### numexpr3 failures and wrong results", ""]
    tail += [f"- {f}" for f in FAILURES] or ["- none"]
    tail += ["", "```", *targets(results, ov, fractions, mem, floors), "```"]
    print("\n".join(tail), flush=True)
    report += tail
    if args.markdown:
        Path(args.markdown).write_text("\n".join(report) + "\n")
        print(f"... markdown written to {args.markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
