"""How many threads mrcz uses when not told, and the pool behind the async functions."""

from __future__ import annotations

import concurrent.futures
import os
import threading

_executor: concurrent.futures.ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def default_threads() -> int:
    """The cores this process may run on (its CPU affinity where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def pool() -> concurrent.futures.ThreadPoolExecutor:
    """The shared background pool (created on first use) of async_read, async_write and the aliases."""
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="mrcz-io")
        return _executor
