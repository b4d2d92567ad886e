"""Work spread over threads in lanes: item k runs in lane k % lanes, and each lane owns its
buffers, so that no two running items share one. NumPy, scipy.fft and _core release the GIL,
so the lanes run truly in parallel; results do not depend on the number of lanes."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


def lanes_for(workers: int, items: int, most: int | None = None) -> tuple[int, int]:
    """How many lanes (at most ``most``) to spread ``items`` over with ``workers`` threads, and
    the threads left to each lane's FFTs and kernels."""
    lanes = max(1, min(workers, items, most or workers))
    return lanes, max(1, workers // lanes)


def run_in_lanes(task: Callable[[int], T], items: int, lanes: int, consume: Callable[[T], None] | None = None) -> None:
    """``task(k)`` for every k < ``items``, ``lanes`` at a time, each group of ``lanes`` items
    finished before the next starts (so item k has lane k % lanes to itself); ``consume``
    receives the results in the items' order."""
    if lanes == 1:
        for k in range(items):
            result = task(k)
            if consume is not None:
                consume(result)
        return
    with ThreadPoolExecutor(lanes, thread_name_prefix="zorro-lane") as pool:
        for start in range(0, items, lanes):
            for result in pool.map(task, range(start, min(items, start + lanes))):
                if consume is not None:
                    consume(result)
