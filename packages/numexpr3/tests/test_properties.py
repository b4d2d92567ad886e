"""Generated expressions over random dtypes, shapes, strides and broadcasting, against NumPy.

Integer and bool results must equal NumPy's exactly; float results agree within a small
relative bound (the VM may round intermediate results differently, e.g. with FMA). When
NumPy raises (bool subtraction, a Python int out of range), numexpr3 raises the same type.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import numexpr3 as ne

DTYPES = ["?", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f4", "f8", "c8", "c16"]
BINARY = {
    "+": np.add,
    "-": np.subtract,
    "*": np.multiply,
    "//": np.floor_divide,
    "%": np.remainder,
    "&": np.bitwise_and,
    "|": np.bitwise_or,
    "^": np.bitwise_xor,
    "<": np.less,
    "==": np.equal,
    ">=": np.greater_equal,
}
FUNCTIONS_2 = {"minimum": np.minimum, "maximum": np.maximum}
FUNCTIONS_1 = {"abs": np.absolute, "neg": np.negative}
# float tolerance by result precision
RTOL = {4: 1e-5, 8: 1e-12}


@st.composite
def trees(draw: st.DrawFn, depth: int = 3) -> tuple:
    """An expression tree; every operation has at least one non-constant operand."""
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        return ("var", draw(st.sampled_from("abcabcnx")))  # n, x: Python int and float variables
    kind = draw(st.sampled_from(["binary", "binary", "function", "unary", "where"]))
    left = draw(trees(depth - 1))
    if kind == "unary":
        return (draw(st.sampled_from(sorted(FUNCTIONS_1))), left)
    constants = st.one_of(st.integers(-3, 9), st.sampled_from([0.5, -1.5, 2.0]))
    right = draw(st.one_of(trees(depth - 1), constants.map(lambda v: ("const", v))))
    if kind == "binary":
        return (draw(st.sampled_from(sorted(BINARY))), left, right)
    if kind == "function":
        return (draw(st.sampled_from(sorted(FUNCTIONS_2))), left, right)
    # np.where wraps Python ints that do not fit the other branch's type; numexpr3 raises.
    left = ("var", "a") if left == ("var", "n") else left
    right = ("const", 2) if right[0] == "const" or right == ("var", "n") else right
    return ("where", ("<", left, ("const", 2)), left, right)


def to_string(tree: tuple) -> str:
    kind = tree[0]
    if kind == "var":
        return tree[1]
    if kind == "const":
        return f"({tree[1]})"
    if kind in BINARY:
        return f"({to_string(tree[1])} {kind} {to_string(tree[2])})"
    if kind == "neg":
        return f"(-{to_string(tree[1])})"
    return f"{kind}({', '.join(to_string(t) for t in tree[1:])})"


def evaluate_with_numpy(tree: tuple, env: dict[str, np.ndarray]):
    kind = tree[0]
    if kind == "var":
        return env[tree[1]]
    if kind == "const":
        return tree[1]  # a Python int: weak, as in NumPy code
    args = [evaluate_with_numpy(t, env) for t in tree[1:]]
    if kind == "where":
        return np.where(*args)
    function = BINARY.get(kind) or FUNCTIONS_2.get(kind) or FUNCTIONS_1[kind]
    return function(*args)


@st.composite
def arrays(draw: st.DrawFn, shape: tuple[int, ...], dtype: str) -> np.ndarray:
    """An array of `dtype` broadcastable to `shape`, in a random memory layout."""
    ndim = draw(st.integers(0, len(shape)))
    own = tuple(1 if draw(st.booleans()) else n for n in shape[len(shape) - ndim :])
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    dt = np.dtype(dtype)
    if dt.kind == "b":
        values = np.asarray(rng.integers(0, 2, own)).astype(bool)
    elif dt.kind in "iu":
        info = np.iinfo(dt)
        small = draw(st.booleans())
        low, high = (max(info.min, -10), min(info.max, 10)) if small else (info.min, info.max)
        values = np.asarray(rng.integers(low, high, own, endpoint=True, dtype=dt))
    elif dt.kind == "f":
        values = np.asarray(rng.normal(0, 4, own)).astype(dt)
    else:
        values = np.asarray(rng.normal(0, 4, own) + 1j * rng.normal(0, 4, own)).astype(dt)
    layout = draw(st.sampled_from(["C", "F", "reversed", "stepped", "transposed"]))
    if not own:
        return values
    if layout == "F":
        return np.asfortranarray(values)
    if layout == "reversed":
        flipped = np.ascontiguousarray(values[tuple(slice(None, None, -1) for _ in own)])
        return flipped[tuple(slice(None, None, -1) for _ in own)]
    if layout == "stepped":
        big = np.zeros(tuple(2 * n for n in own), dt)
        view = big[tuple(slice(None, None, 2) for _ in own)]
        view[...] = values
        return view
    if layout == "transposed":
        return np.ascontiguousarray(values.T).T
    return values


@st.composite
def cases(draw: st.DrawFn) -> tuple[tuple, dict[str, np.ndarray]]:
    shape = tuple(draw(st.lists(st.integers(0, 4), max_size=3)))
    env = {name: draw(arrays(shape, draw(st.sampled_from(DTYPES)))) for name in "abc"}
    env["n"] = draw(st.integers(-5, 20))
    env["x"] = draw(st.floats(-4, 4))
    return draw(trees()), env


def compare(actual: np.ndarray, expected: np.ndarray, expression: str, env: dict) -> None:
    expected = np.asarray(expected)
    assert actual.dtype == expected.dtype, expression
    assert actual.shape == expected.shape, expression
    if expected.dtype.kind in "fc":
        # The least precise float among the inputs bounds intermediate rounding too.
        floats = [np.asarray(v).dtype for v in env.values()] + [expected.dtype]
        precision = min(d.itemsize // (2 if d.kind == "c" else 1) for d in floats if d.kind in "fc")
        scale = float(np.abs(expected[np.isfinite(expected)]).max(initial=1.0))
        np.testing.assert_allclose(
            actual, expected, rtol=RTOL[precision], atol=RTOL[precision] * scale, err_msg=expression
        )
    else:
        np.testing.assert_array_equal(actual, expected, err_msg=expression)


@given(cases())
def test_generated_expressions_match_numpy(case: tuple[tuple, dict[str, np.ndarray]]) -> None:
    tree, env = case
    expression = to_string(tree)
    try:
        with np.errstate(all="ignore"):
            expected = evaluate_with_numpy(tree, env)
    except (TypeError, OverflowError, ValueError):
        # An error too, not necessarily the same: numexpr3 types the whole expression before
        # it converts the values of Python-number variables.
        with pytest.raises((TypeError, OverflowError, ValueError)):
            ne.evaluate(expression, local_dict=env)
        return
    actual = ne.evaluate(expression, local_dict=env)
    compare(actual, expected, expression, env)
    again = ne.evaluate(expression, local_dict=env)  # on the C++ path where the signature allows
    assert again.dtype == actual.dtype
    np.testing.assert_array_equal(again, actual, err_msg=expression)


@given(cases(), st.sampled_from(["C", "F", "reversed", "stepped", "transposed"]))
def test_generated_expressions_into_out(case: tuple[tuple, dict[str, np.ndarray]], layout: str) -> None:
    tree, env = case
    expression = to_string(tree)
    try:
        with np.errstate(all="ignore"):
            expected = np.asarray(evaluate_with_numpy(tree, env))
    except (TypeError, OverflowError, ValueError):
        return
    out = np.zeros_like(expected, order="F" if layout == "F" else "C")
    if layout == "reversed" and out.ndim:
        out = out[::-1]
    elif layout == "stepped" and out.ndim:
        out = np.zeros((2 * out.shape[0], *out.shape[1:]), out.dtype)[::2]
    elif layout == "transposed":
        out = np.zeros(out.shape[::-1], out.dtype).T
    assert ne.evaluate(expression, local_dict=env, out=out) is out
    compare(out, expected, expression, env)
    first = out.copy()
    out[...] = 0
    assert ne.evaluate(expression, local_dict=env, out=out) is out  # on the C++ path where it can
    np.testing.assert_array_equal(out, first, err_msg=expression)


@given(cases(), st.sampled_from(["sum", "prod", "min", "max", "any", "all"]), st.integers(-4, 3))
def test_generated_reductions_match_numpy(case: tuple[tuple, dict[str, np.ndarray]], reduction: str, axis: int) -> None:
    tree, env = case
    expression = to_string(tree)
    function = {"sum": np.sum, "prod": np.prod, "min": np.min, "max": np.max, "any": np.any, "all": np.all}[reduction]
    axis_ = None if axis == 3 else axis
    try:
        with np.errstate(all="ignore"):
            value = np.asarray(evaluate_with_numpy(tree, env))
            expected = np.asarray(function(value, axis=axis_))
    except (TypeError, OverflowError, ValueError):  # (AxisError is a ValueError)
        with pytest.raises((TypeError, OverflowError, ValueError)):
            ne.evaluate(f"{reduction}({expression}, axis={axis_})", local_dict=env)
        return
    actual = ne.evaluate(f"{reduction}({expression}, axis={axis_})", local_dict=env)
    again = ne.evaluate(f"{reduction}({expression}, axis={axis_})", local_dict=env)  # the C++ path
    np.testing.assert_array_equal(again, actual, err_msg=expression)
    if reduction in ("sum", "prod") and expected.dtype.kind in "fc":
        # Summation order differs (blocked/pairwise vs NumPy's pairwise).
        scale = float(np.abs(value[np.isfinite(value)]).max(initial=1.0)) ** (1 if reduction == "sum" else value.size)
        assert actual.dtype == expected.dtype
        np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-4 * scale * max(value.size, 1))
    else:
        compare(actual, expected, f"{reduction}({expression}, axis={axis_})", env)


UNARY_FLOAT = ["sin", "cos", "tan", "exp", "expm1", "log", "log1p", "sqrt", "arctan", "tanh", "floor", "absolute"]


@given(
    st.lists(st.integers(0, 4), max_size=3).flatmap(
        lambda shape: arrays(tuple(shape), "f8") | arrays(tuple(shape), "f4") | arrays(tuple(shape), "c16")
    ),
    st.sampled_from(UNARY_FLOAT),
)
def test_functions_on_any_layout(x: np.ndarray, function: str) -> None:
    try:
        with np.errstate(all="ignore"):
            expected = getattr(np, function)(x)
    except TypeError:  # floor of complex
        with pytest.raises(TypeError, match="not supported"):
            ne.evaluate(f"{function}(x)")
        return
    actual = ne.evaluate(f"{function}(x)")
    assert actual.dtype == expected.dtype
    assert actual.shape == expected.shape
    eps = np.finfo(expected.dtype).eps
    np.testing.assert_allclose(actual, expected, rtol=4 * eps, atol=4 * eps)
