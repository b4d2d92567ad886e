"""Byte strings ('S' arrays, bytes variables and literals) against NumPy's own string comparisons."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import numexpr3 as ne

COMPARISONS = {
    "==": np.equal,
    "!=": np.not_equal,
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
}

# Few distinct bytes, NULs among them, so that equal values, prefixes and padding are common.
values = st.binary(max_size=6).map(lambda b: bytes(b"a\0b\xff"[c % 4] for c in b))
widths = st.integers(1, 8)


@st.composite
def string_arrays(draw, shape: tuple[int, ...]) -> np.ndarray:
    width = draw(widths)
    items = draw(st.lists(values, min_size=int(np.prod(shape)), max_size=int(np.prod(shape))))
    return np.array([item[:width] for item in items], dtype=f"S{width}").reshape(shape)


def contains(haystack: np.ndarray, needle: np.ndarray) -> np.ndarray:
    return np.strings.find(haystack, needle) >= 0


@given(st.data(), st.sampled_from(sorted(COMPARISONS)), st.sampled_from([(5,), (3, 4)]))
def test_comparisons_of_arrays_as_numpy(data, op: str, shape: tuple[int, ...]) -> None:
    a = data.draw(string_arrays(shape))
    b = data.draw(string_arrays(data.draw(st.sampled_from([shape, shape[-1:], (1,), ()]))))
    expected = COMPARISONS[op](a, b)
    np.testing.assert_array_equal(ne.evaluate(f"a {op} b"), expected)
    np.testing.assert_array_equal(ne.evaluate(f"b {op} a"), COMPARISONS[op](b, a))


@given(string_arrays((6,)), values, st.sampled_from(sorted(COMPARISONS)))
def test_comparisons_with_literals_and_bytes_variables(a: np.ndarray, value: bytes, op: str) -> None:
    expected = COMPARISONS[op](a, value)
    np.testing.assert_array_equal(ne.evaluate(f"a {op} {value!r}"), expected)
    np.testing.assert_array_equal(ne.evaluate(f"a {op} v", local_dict={"a": a, "v": value}), expected)


@given(st.data(), st.sampled_from([(5,), (2, 3)]))
def test_contains_as_numpy_find(data, shape: tuple[int, ...]) -> None:
    haystack = data.draw(string_arrays(shape))
    needle = data.draw(string_arrays(data.draw(st.sampled_from([shape, (1,), ()]))))
    np.testing.assert_array_equal(ne.evaluate("contains(haystack, needle)"), contains(haystack, needle))
    literal = data.draw(values)
    np.testing.assert_array_equal(
        ne.evaluate(f"contains(haystack, {literal!r})"), contains(haystack, np.array(literal))
    )


@given(values, values)
def test_literals_alone_fold_as_numpy(a: bytes, b: bytes) -> None:
    assert ne.evaluate(f"{a!r} < {b!r}") == np.less(np.array(a), np.array(b))
    assert ne.evaluate(f"contains({a!r}, {b!r})") == contains(np.array(a), np.array(b))


def test_padding_and_embedded_nuls() -> None:
    assert ne.evaluate("b'foo' == b'foo\\0\\0'")  # trailing NULs are padding
    assert ne.evaluate("b'foo' < b'foo\\0bar'")  # an embedded NUL counts
    assert not ne.evaluate("contains(b'foo\\0bar', b'foobar')")
    assert ne.evaluate("contains(b'abc', b'')")
    s = b"\0\0foo\0"
    assert ne.evaluate("s").tobytes() == s  # a copy keeps every stored byte


@pytest.mark.parametrize("threads", [1, 3])
def test_large_strided_arrays_on_threads(threads: int) -> None:
    rng = np.random.default_rng(1)
    words = np.array([b"", b"ab", b"ba", b"abc", b"b\0a", b"aab"])
    a = words[rng.integers(0, len(words), (300, 400))]
    b = words[rng.integers(0, len(words), (400, 300))].T  # not contiguous
    previous = ne.set_num_threads(threads)
    try:
        np.testing.assert_array_equal(ne.evaluate("(a <= b) & contains(a, b'ab')"), (a <= b) & contains(a, b"ab"))
        np.testing.assert_array_equal(ne.evaluate("x != b'ab'", local_dict={"x": a[::-2]}), a[::-2] != b"ab")
    finally:
        ne.set_num_threads(previous)


def test_strings_in_a_program_with_numbers() -> None:
    names = np.array([b"ann", b"bob", b"cy"])
    ages = np.array([31, 25, 40])
    np.testing.assert_array_equal(
        ne.evaluate("where((names >= 'b') & (ages > 30), ages, -1)"), np.where((names >= b"b") & (ages > 30), ages, -1)
    )
    np.testing.assert_array_equal(ne.evaluate("sum(contains(names, 'n'))"), np.sum(contains(names, np.array(b"n"))))
    grid = np.array([[b"x", b"y"], [b"xx", b"x"]])
    np.testing.assert_array_equal(ne.evaluate("sum(grid == b'x', axis=1) + 1"), np.sum(grid == b"x", axis=1) + 1)
    nex = ne.NumExpr("contains(names, b'o')", [("names", "S3")])
    np.testing.assert_array_equal(nex(names), [False, True, False])


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("s + s", "add is not supported for byte strings"),
        ("s > 1", "greater of .*bytes.* and .*int.* is not supported"),
        ("contains(s, 1)", "contains of"),
        ("contains(x, x)", "contains of"),
        ("sum(s)", r"sum\(\) of byte strings is not supported"),
        ("where(x > 0, s, s)", "where is not supported for byte strings"),
        ("u == u", "unicode strings.*encode"),
    ],
)
def test_unsupported_string_operations_raise(expression: str, message: str) -> None:
    local = {"s": np.array([b"a"]), "x": np.arange(1.0), "u": np.array(["a"])}
    with pytest.raises(TypeError, match=message):
        ne.evaluate(expression, local_dict=local)


def test_string_results_do_not_go_into_arrays() -> None:
    s = np.array([b"a", b"b"])
    with pytest.raises(TypeError, match="byte strings cannot be stored"):
        ne.evaluate("s", out=np.empty(2))
    with pytest.raises(TypeError, match="byte strings cannot be stored"):
        ne.evaluate("t = s; t", local_dict={"s": s, "t": np.empty(2)})
    with pytest.raises(TypeError, match=r"dtype \|S1 are not supported"):
        ne.evaluate("s", out=np.empty(2, "S1"))
