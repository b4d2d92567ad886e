"""Several Python threads at once, per-thread re_evaluate state, and no growth over many calls."""

from __future__ import annotations

import gc
import os
import threading
import tracemalloc
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import numexpr3 as ne

EXPRESSIONS = {
    "2*a + 3*b": lambda a, b: 2 * a + 3 * b,
    "sin(a)**2 + cos(b)**2": lambda a, b: np.sin(a) ** 2 + np.cos(b) ** 2,
    "where(a > b, a - b, b - a)": lambda a, b: np.where(a > b, a - b, b - a),
    "a / sum(b)": lambda a, b: a / np.sum(b),
    "sum(a * b, axis=0)": lambda a, b: np.sum(a * b, axis=0),
}


def test_eight_threads_same_and_different_expressions() -> None:
    rng = np.random.default_rng(0)
    # Large enough for the VM to use its own worker threads too.
    a = rng.normal(size=(300, 200))
    b = rng.normal(size=(300, 200))
    expected = {expression: reference(a, b) for expression, reference in EXPRESSIONS.items()}
    shared = ne.NumExpr("2*a + 3*b")
    barrier = threading.Barrier(8)

    def work(worker: int) -> list[str]:
        barrier.wait(timeout=60)
        failures = []
        expressions = list(EXPRESSIONS) if worker % 2 else ["2*a + 3*b"] * 5
        for _ in range(10):
            for expression in expressions:
                result = ne.evaluate(expression, local_dict={"a": a, "b": b})
                if not np.allclose(result, expected[expression], rtol=1e-12, atol=1e-9):
                    failures.append(expression)
            if not np.allclose(shared(a, b), expected["2*a + 3*b"]):
                failures.append("NumExpr object")
        return failures

    with ThreadPoolExecutor(8) as pool:
        failures = [f for result in pool.map(work, range(8)) for f in result]
    assert failures == []


def test_re_evaluate_state_is_per_thread() -> None:
    a = np.arange(6.0)
    barrier = threading.Barrier(4)

    def work(factor: int) -> bool:
        ne.evaluate(f"a * {factor}", local_dict={"a": a})
        barrier.wait(timeout=60)  # every thread has compiled its own expression
        return all(np.array_equal(ne.re_evaluate(local_dict={"a": a}), a * factor) for _ in range(50))

    with ThreadPoolExecutor(4) as pool:
        assert all(pool.map(work, range(1, 5)))


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_no_memory_or_thread_growth_over_many_calls() -> None:
    a = np.arange(10.0)
    b = np.arange(10.0)
    local = {"a": a, "b": b}
    out = np.empty(10)
    nex = ne.NumExpr("a * b - 1")

    def calls(count: int) -> None:
        for i in range(count):
            ne.evaluate("a + b", local_dict=local)
            ne.evaluate("sum(a * b)", local_dict=local)
            ne.evaluate("a * 2", local_dict=local, out=out)
            nex(a, b)
            if i % 1000 == 0:
                ne.validate("a - b", local_dict=local)
                ne.re_evaluate(local_dict=local)

    calls(2000)  # warm the caches and the pool
    gc.collect()
    threads = threading.active_count()
    rss = rss_bytes()
    calls(25_000)  # 10^5 calls of the four kinds
    gc.collect()
    assert threading.active_count() == threads
    assert rss_bytes() - rss < 16 * 2**20
    # tracemalloc slows every allocation down: a shorter run, with a tighter bound.
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    calls(2000)
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    growth = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    assert growth < 64 * 1024, growth


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
# Python >= 3.12 warns about forking a process that has threads; forking is the point here.
@pytest.mark.filterwarnings("ignore:This process.*multi-threaded:DeprecationWarning")
def test_threaded_work_after_fork() -> None:
    """A forked child has none of the parent's pool threads: the VM must start its own."""
    import multiprocessing

    a = np.random.default_rng(1).random(400_000)
    ne.set_num_threads(2)
    want = float(ne.evaluate("sum(a * 2)"))  # the parent's pool is running before the fork
    with multiprocessing.get_context("fork").Pool(2) as pool:
        results = pool.map(_child_sum, [a] * 4, chunksize=1)
    np.testing.assert_allclose(results, want, rtol=1e-12)


def _child_sum(a: np.ndarray) -> float:
    return float(ne.evaluate("sum(a * 2)"))
