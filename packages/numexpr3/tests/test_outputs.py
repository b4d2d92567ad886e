"""Outputs the VM allocates: correct for every type and shape, large ones recycled.

A large output (from `_core.RECYCLING[0]` bytes) is allocated through numexpr3's NumPy
memory handler, which keeps the last few freed ones and hands one back to the next
allocation of the same size. The recycled memory holds an earlier result: every element
must be written again, no live result may share memory with another, and the handler
must only be in place while numexpr3 allocates.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import numpy as np
import pytest
from numpy._core.multiarray import get_handler_name

import numexpr3 as ne
from numexpr3 import _core

pytestmark = pytest.mark.skipif(
    os.environ.get("NUMEXPR3_REFERENCE_VM") == "1", reason="the reference VM allocates with NumPy alone"
)

DTYPES = ["b1", "i1", "i4", "i8", "u2", "u8", "f4", "f8", "c8", "c16"]
MIN_BYTES, MAX_KEPT, MAX_BYTES = _core.RECYCLING if hasattr(_core, "RECYCLING") else (0, 0, 0)
OURS = "numexpr3_recycling"


def large(dtype: str, extra: int = 13) -> int:
    """A number of elements of `dtype` that is recycled (an odd count, so not a whole block)."""
    return -(-MIN_BYTES // np.dtype(dtype).itemsize) + extra


def operands(shape: tuple[int, ...], dtype: str, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    size = int(np.prod(shape))
    a = (rng.integers(0, 50, size) % (2 if dtype == "b1" else 50)).astype(dtype).reshape(shape)
    b = (rng.integers(0, 50, size) % (2 if dtype == "b1" else 50)).astype(dtype).reshape(shape)
    return a, b


@pytest.fixture(autouse=True)
def empty_cache() -> Iterator[None]:
    _core.release_recycled_outputs()
    yield
    _core.release_recycled_outputs()


def address(array: np.ndarray) -> int:
    return int(array.__array_interface__["data"][0])


def check(got: np.ndarray, want: np.ndarray) -> None:
    assert got.dtype == want.dtype
    assert got.shape == want.shape
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(), (0,), (3, 0), (7,), (5, 7), "large", "large 2-d"])
def test_allocated_output_is_numpys_result(dtype: str, shape: tuple[int, ...] | str) -> None:
    if shape == "large":
        shape = (large(dtype),)
    elif shape == "large 2-d":
        shape = (3, large(dtype) // 3)
    a, b = operands(shape, dtype)  # type: ignore[arg-type]
    got = ne.evaluate("a*b + a", local_dict={"a": a, "b": b})
    check(got, a * b + a)
    assert got.flags.owndata and got.flags.c_contiguous and got.base is None


@pytest.mark.parametrize("dtype", ["b1", "i1", "f8", "c16"])
@pytest.mark.parametrize("layout", ["strided", "fortran", "reversed", "broadcast"])
def test_allocated_output_from_non_contiguous_inputs(dtype: str, layout: str) -> None:
    n = large(dtype)
    a, b = operands((2 * n,), dtype)
    if layout == "strided":
        a, b = a[::2], b[1::2]
    elif layout == "fortran":
        a, b = np.asfortranarray(a.reshape(2, n)), np.asfortranarray(b.reshape(2, n))
    elif layout == "reversed":
        a, b = a[::-1], b[::-1]
    else:
        a, b = a.reshape(2, n), b[:n]
    for _ in range(2):  # the second result is written over the recycled first one
        got = ne.evaluate("a*b + a", local_dict={"a": a, "b": b})
        check(got, a * b + a)
        if layout == "fortran":
            assert got.flags.f_contiguous
        del got


@pytest.mark.parametrize("dtype", ["i1", "u8", "f4", "f8", "c8"])
def test_a_recycled_output_is_written_whole(dtype: str) -> None:
    a, b = operands((large(dtype),), dtype)
    first = ne.evaluate("a*b + a", local_dict={"a": a, "b": b})
    assert get_handler_name(first) == OURS
    where = address(first)
    first[...] = 1  # what an earlier result left there must not show through
    del first
    assert _core.recycled_outputs()[:2] == (1, a.nbytes)
    reused = _core.recycled_outputs()[2]
    second = ne.evaluate("a - b", local_dict={"a": a, "b": b})
    assert address(second) == where
    assert _core.recycled_outputs() == (0, 0, reused + 1)
    check(second, a - b)


def test_live_results_never_share_memory() -> None:
    a, b = operands((large("f8"),), "f8")
    first, second = ne.evaluate("a + b", local_dict={"a": a, "b": b}), ne.evaluate("a * b", local_dict={"a": a, "b": b})
    assert not np.shares_memory(first, second)
    del first
    third = ne.evaluate("a - b", local_dict={"a": a, "b": b})
    assert not np.shares_memory(second, third)
    check(second, a * b)
    check(third, a - b)


def test_the_cache_is_bounded_and_can_be_emptied() -> None:
    a, b = operands((large("f8"),), "f8")
    ab = {"a": a, "b": b}
    results = [ne.evaluate("a + b", local_dict=ab) for _ in range(MAX_KEPT + 2)]
    del results
    count, nbytes, _ = _core.recycled_outputs()
    assert count == MAX_KEPT
    assert nbytes == MAX_KEPT * a.nbytes <= MAX_BYTES
    assert ne.release_recycled_outputs() == nbytes  # the public name
    assert _core.recycled_outputs()[:2] == (0, 0)
    fresh = ne.evaluate("a + b", local_dict={"a": a, "b": b})  # nothing to reuse: a new allocation
    check(fresh, a + b)


def test_small_outputs_and_other_allocations_are_numpys() -> None:
    a, b = operands((large("f8", extra=0) - 1,), "f8")  # one element short of recycled
    small = ne.evaluate("a + b", local_dict={"a": a, "b": b})
    assert a.nbytes < MIN_BYTES
    assert get_handler_name(small) == "default_allocator"
    del small
    assert _core.recycled_outputs()[:2] == (0, 0)
    big = np.concatenate([a, a])
    ours = ne.evaluate("big + 1", local_dict={"big": big})
    assert get_handler_name(ours) == OURS
    # The handler is in place only while numexpr3 allocates.
    assert get_handler_name() == "default_allocator"
    assert get_handler_name(np.empty_like(ours)) == "default_allocator"


def test_a_recycled_output_can_be_resized() -> None:
    a, b = operands((large("f8"),), "f8")
    result = ne.evaluate("a + b", local_dict={"a": a, "b": b})
    result.resize(2 * a.size, refcheck=False)  # NumPy reallocates through the handler
    check(result[: a.size], a + b)
    result[a.size :] = 3
    del result
    again = ne.evaluate("a * b", local_dict={"a": a, "b": b})
    check(again, a * b)


def test_an_impossible_output_raises_memory_error() -> None:
    x = np.broadcast_to(1.0, (2**25, 1))  # with y: 2**50 elements, 8 PiB
    y = np.broadcast_to(1.0, (1, 2**25))
    with pytest.raises(MemoryError, match="Unable to allocate"):
        ne.evaluate("x + y", local_dict={"x": x, "y": y})
    with pytest.raises(MemoryError, match="Unable to allocate"):
        ne.evaluate("x * y + 1.5", local_dict={"x": x, "y": y})
    assert get_handler_name() == "default_allocator"
    a, b = operands((large("f8"),), "f8")
    check(ne.evaluate("a + b", local_dict={"a": a, "b": b}), a + b)


def test_threads_allocating_at_once() -> None:
    a, b = operands((large("f8"),), "f8")
    want = a * b + a
    failures: list[str] = []
    ab = {"a": a, "b": b}

    def work() -> None:
        for _ in range(8):
            got = ne.evaluate("a*b + a", local_dict=ab)
            if not np.array_equal(got, want):
                failures.append("wrong result")

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert _core.recycled_outputs()[0] <= MAX_KEPT
