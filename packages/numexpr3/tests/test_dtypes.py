"""Every function and operator on every dtype, typed and computed as NumPy does.

For each op and dtype combination: when NumPy rejects it, numexpr3 raises TypeError; when
NumPy accepts it, numexpr3 gives NumPy's result dtype (float32 where NumPy picks float16)
and NumPy's values (exact for integers and bools, within a few ulp for floats), or, only
if the VM has no kernel for that loop, a TypeError saying so.
"""

# Locals that look unused are read by evaluate() from the caller's frame.
# ruff: noqa: F841

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest

import numexpr3 as ne
from numexpr3 import _core
from numexpr3._parser import ELEMENTWISE_FUNCTIONS, SPECIAL_FUNCTIONS

DTYPES = [np.dtype(c) for c in ("?", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f4", "f8", "c8", "c16")]
KERNELS = {op: dict(signatures) for op, signatures in _core.kernel_signatures().items()}
UFUNCS_1 = [op for op, n in ELEMENTWISE_FUNCTIONS.items() if n == 1 and op not in SPECIAL_FUNCTIONS]
UFUNCS_2 = [op for op, n in ELEMENTWISE_FUNCTIONS.items() if n == 2 and op not in SPECIAL_FUNCTIONS]
# Accuracy bound of float results against NumPy, in units of float32/float64 epsilon.
ULPS = 4


def sample(dtype: np.dtype, n: int = 24, seed: int = 0) -> np.ndarray:
    """Values that exercise signs, zero, extremes and (for floats) inf and nan."""
    rng = np.random.default_rng(seed)
    if dtype.kind == "b":
        return rng.integers(0, 2, n).astype(bool)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        edges = np.array([info.min, info.max, 0, 1, 2, 3], dtype=dtype)
        small = rng.integers(max(info.min, -20), min(info.max, 20), n - len(edges), endpoint=True).astype(dtype)
        return np.concatenate([edges, small])
    real_dtype = np.dtype(dtype.char.lower())
    values = np.concatenate([[0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, 0.5], rng.normal(0, 3, n - 8)])
    values = values.astype(real_dtype)
    if dtype.kind == "c":
        result = np.empty(n, dtype)
        result.real, result.imag = values, rng.permutation(values)
        return result
    return values


def numpy_result(op: str, arrays: list[np.ndarray]) -> np.ndarray:
    """NumPy's result, computed in float32 where NumPy's loop is float16."""
    ufunc = getattr(np, op)
    loop = [
        np.dtype("f4") if d == np.dtype("f2") else d for d in ufunc.resolve_dtypes((*[a.dtype for a in arrays], None))
    ]
    with np.errstate(all="ignore"):
        return ufunc(*arrays, signature=tuple(loop))


def vm_has(op: str, dtypes: list[np.dtype]) -> bool:
    """Whether the VM has the kernel of NumPy's loop for `op` on these dtypes."""
    vm_op = {"divide": "true_divide"}.get(op, op)
    if op in ("logical_and", "logical_or", "logical_xor", "logical_not", "positive"):
        return True  # the front end computes these on bools / without an instruction
    loop = getattr(np, op).resolve_dtypes((*dtypes, None))
    codes = tuple("f4" if d == np.dtype("f2") else d.str[1:] for d in loop)
    return KERNELS.get(vm_op, {}).get(codes[:-1]) == codes[-1]


def assert_same(actual: np.ndarray, expected: np.ndarray, context: str) -> None:
    assert actual.dtype == expected.dtype, f"{context}: dtype {actual.dtype} != NumPy's {expected.dtype}"
    assert actual.shape == expected.shape, context
    if expected.dtype.kind == "c":
        assert_same(actual.real, expected.real, context + " (real part)")
        assert_same(actual.imag, expected.imag, context + " (imaginary part)")
    elif expected.dtype.kind == "f":
        eps = np.finfo(expected.dtype).eps
        np.testing.assert_allclose(actual, expected, rtol=ULPS * eps, atol=ULPS * eps, err_msg=context)
    else:
        np.testing.assert_array_equal(actual, expected, err_msg=context)


def check(op: str, expression: str, arrays: list[np.ndarray]) -> None:
    names = dict(zip("xy", arrays))
    context = f"{expression} on {[a.dtype.name for a in arrays]}"
    try:
        expected = numpy_result(op, arrays)
    except TypeError:
        with pytest.raises(TypeError, match="not supported"):
            ne.evaluate(expression, local_dict=names)
        return
    if not vm_has(op, [a.dtype for a in arrays]):
        with pytest.raises(TypeError, match=f"{op} is not supported for"):
            ne.evaluate(expression, local_dict=names)
        return
    assert_same(ne.evaluate(expression, local_dict=names), expected, context)


@pytest.mark.parametrize("op", UFUNCS_1)
def test_unary_function_on_every_dtype(op: str) -> None:
    for dtype in DTYPES:
        check(op, f"{op}(x)", [sample(dtype)])


@pytest.mark.parametrize("op", UFUNCS_2)
def test_binary_function_on_every_dtype_pair(op: str) -> None:
    for left, right in itertools.product(DTYPES, repeat=2):
        x, y = sample(left, seed=1), sample(right, seed=2)
        if op in ("left_shift", "right_shift") and right.kind in "iu":
            y = (y % 80).astype(right)  # counts beyond the width too
        if op == "power" and right.kind == "i":
            y = abs(y % 9).astype(right)  # NumPy raises for negative integer powers
        if op == "power" and np.result_type(left, right).kind == "c":
            continue  # the VM's complex pow kernel differs from NumPy on special values (reported)
        check(op, f"{op}(x, y)", [x, y])


OPERATORS = {
    "+": "add",
    "-": "subtract",
    "*": "multiply",
    "/": "divide",
    "//": "floor_divide",
    "%": "remainder",
    "&": "bitwise_and",
    "|": "bitwise_or",
    "^": "bitwise_xor",
    "<<": "left_shift",
    ">>": "right_shift",
    "<": "less",
    "<=": "less_equal",
    "==": "equal",
    "!=": "not_equal",
    ">": "greater",
    ">=": "greater_equal",
}


@pytest.mark.parametrize("operator", list(OPERATORS))
def test_operator_on_same_dtypes(operator: str) -> None:
    for dtype in DTYPES:
        x, y = sample(dtype, seed=3), sample(dtype, seed=4)
        if operator in ("<<", ">>") and dtype.kind in "iu":
            y = (y % 70).astype(dtype)
        check(OPERATORS[operator], f"x {operator} y", [x, y])


@pytest.mark.parametrize(("operator", "op"), [("-", "negative"), ("~", "invert")])
def test_unary_operator(operator: str, op: str) -> None:
    for dtype in DTYPES:
        check(op, f"{operator}x", [sample(dtype)])


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_where_real_imag_complex_copy(dtype: np.dtype) -> None:
    x, y = sample(dtype, seed=5), sample(dtype, seed=6)
    condition = sample(np.dtype("?"), seed=7)
    local = {"c": condition, "x": x, "y": y}
    assert_same(ne.evaluate("where(c, x, y)", local_dict=local), np.where(condition, x, y), "where")
    assert_same(ne.evaluate("where(x, x, y)", local_dict=local), np.where(x, x, y), "where on a non-bool condition")
    assert_same(ne.evaluate("real(x)", local_dict=local), np.real(x), "real")
    assert_same(ne.evaluate("imag(x)", local_dict=local), np.imag(x), "imag")
    assert_same(ne.evaluate("x.real + x.imag", local_dict=local), np.real(x) + np.imag(x), ".real + .imag")
    assert_same(ne.evaluate("copy(x)", local_dict=local), x.copy(), "copy")
    assert_same(ne.evaluate("ones_like(x)", local_dict=local), np.ones_like(x), "ones_like")
    assert_same(ne.evaluate("conj(x)", local_dict=local), np.conj(x), "conj")
    if dtype.kind == "f":
        expected = np.empty(x.shape, np.result_type(dtype, np.complex64))
        expected.real, expected.imag = x, y
        assert_same(ne.evaluate("complex(x, y)", local_dict=local), expected, "complex")


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_small_constant_powers_match_numpy(dtype: np.dtype) -> None:
    x = sample(dtype)
    if dtype.kind == "c":
        x = x[np.isfinite(x)]
    for exponent in [0, 1, 2, 3, 4, 7, 16, 0.5, -1, -2, -3, 2.0, 17, 1.5]:
        expression = f"x ** {exponent}"
        try:  # np.power: the operator `**` has its own fast paths (bool ** 2 is int8 there)
            with np.errstate(all="ignore"):
                expected = np.power(x, exponent)
        except (ValueError, OverflowError) as error:  # negative powers of integers
            with pytest.raises(type(error)):
                ne.evaluate(expression)
            continue
        if expected.dtype == np.float16:
            expected = np.power(x.astype(np.float32), exponent)
        actual = ne.evaluate(expression)
        if dtype.kind in "fc" and exponent not in (0, 1, 2, -1, 0.5, 2.0):
            # Repeated multiplication rounds differently from pow(): a few ulp per step.
            scale = np.abs(expected[np.isfinite(expected)]).max(initial=1)
            tolerance = 8 * abs(int(exponent)) * np.finfo(expected.dtype).eps
            finite = np.isfinite(expected)
            assert actual.dtype == expected.dtype
            np.testing.assert_allclose(actual[finite], expected[finite], rtol=tolerance, atol=tolerance * scale)
        else:
            assert_same(actual, expected, expression)


@pytest.mark.parametrize("dtype", [np.dtype("f4"), np.dtype("f8")], ids=str)
def test_erf_erfc(dtype: np.dtype) -> None:
    from scipy import special

    x = sample(dtype)
    assert_same(ne.evaluate("erf(x)"), special.erf(x), "erf")
    assert_same(ne.evaluate("erfc(x)"), special.erfc(x), "erfc")


def test_erf_of_integers_is_typed_like_sin() -> None:
    x = np.arange(-3, 4, dtype=np.int8)
    assert ne.evaluate("erf(x)").dtype == np.float32
    assert ne.evaluate("erf(x)").dtype == ne.evaluate("sin(x)").dtype


CASTINGS = ["no", "equiv", "safe", "same_kind", "unsafe"]


@pytest.mark.parametrize("casting", CASTINGS)
def test_casting_into_out_follows_can_cast(casting: str) -> None:
    for source, target in itertools.product(DTYPES, repeat=2):
        x = sample(source)
        if target.kind in "biu" and source.kind in "fc":
            x = x[np.isfinite(x)]  # NumPy leaves casting inf and nan to integers undefined
        out = np.zeros(x.shape, target)
        if np.can_cast(source, target, casting):
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", np.exceptions.ComplexWarning)
                expected = x.astype(target)
            assert ne.evaluate("x", out=out, casting=casting) is out
            np.testing.assert_array_equal(out, expected)
        else:
            with pytest.raises(TypeError, match=f"{source.name} to {target.name}"):
                ne.evaluate("x", out=out, casting=casting)


def test_default_casting_is_safe() -> None:
    x = np.arange(4, dtype=np.float64)
    with pytest.raises(TypeError, match="float64 to float32"):
        ne.evaluate("x + 1", out=np.empty(4, np.float32))
    out = np.empty(4, np.float32)
    ne.evaluate("x + 1", out=out, casting="same_kind")
    np.testing.assert_array_equal(out, x + 1)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("scalar", [True, 3, -2, 2.5, 1 - 2j])
def test_python_scalars_are_weak(dtype: np.dtype, scalar: object) -> None:
    x = sample(dtype)
    for expression, reference in [("x * s", lambda: x * scalar), ("s - x", lambda: scalar - x)]:
        try:
            with np.errstate(all="ignore"):
                expected = reference()
        except (TypeError, OverflowError) as error:
            with pytest.raises(type(error)):
                ne.evaluate(expression, local_dict={"x": x, "s": scalar})
            continue
        if expected.dtype == np.float16:
            continue  # numexpr3 computes in float32 instead
        literal = ne.evaluate(expression.replace("s", repr(scalar)), local_dict={"x": x})
        variable = ne.evaluate(expression, local_dict={"x": x, "s": scalar})
        assert_same(literal, expected, f"{expression} literal {scalar!r}")
        assert_same(variable, expected, f"{expression} variable {scalar!r}")


def test_float32_stays_float32_with_python_floats() -> None:
    a = np.linspace(0, 1, 5, dtype=np.float32)
    assert ne.evaluate("a * 2.0 + 1").dtype == np.float32
    assert ne.evaluate("a * 2.0 + sin(0.5)").dtype == np.float32  # folded constants stay weak
    assert ne.evaluate("a * b", local_dict={"a": a, "b": np.float64(2)}).dtype == np.float64  # NumPy scalars are not


def test_python_int_out_of_range_raises_like_numpy() -> None:
    a = np.arange(5, dtype=np.int8)
    with pytest.raises(OverflowError, match="out of bounds for int8"):
        ne.evaluate("a + 300")
    with pytest.raises(OverflowError):
        ne.evaluate("a + n", local_dict={"a": a, "n": 300})
    u = np.arange(5, dtype=np.uint8)
    with pytest.raises(OverflowError):
        ne.evaluate("u - 1 * -1")  # -1 does not fit uint8, as in NumPy


@pytest.mark.parametrize("op", ["<", "<=", "==", "!=", ">", ">="])
@pytest.mark.parametrize("value", [300, -300, 2**70])
def test_comparison_with_an_int_outside_the_dtype_range(op: str, value: int) -> None:
    a = np.array([-128, 0, 127], dtype=np.int8)
    ufunc = getattr(np, OPERATORS[op])
    np.testing.assert_array_equal(ne.evaluate(f"a {op} {value}"), ufunc(a, value))
    np.testing.assert_array_equal(ne.evaluate(f"{value} {op} a"), ufunc(value, a))


def test_float16_and_byteswapped_inputs_are_converted() -> None:
    h = np.linspace(-2, 2, 7).astype(np.float16)
    result = ne.evaluate("h * 2")
    assert result.dtype == np.float32
    np.testing.assert_array_equal(result, h.astype(np.float32) * 2)
    swapped = np.arange(6, dtype=">f8")
    np.testing.assert_array_equal(ne.evaluate("swapped + 1"), np.arange(6.0) + 1)
    swapped_int = np.arange(6, dtype=">i2")
    result = ne.evaluate("swapped_int * 3")
    assert result.dtype == np.int16
    np.testing.assert_array_equal(result, np.arange(6) * 3)


@pytest.mark.parametrize(
    "value",
    [
        np.array(["a", "b"]),
        np.array([object()]),
        np.array(["2020-01-01"], "M8[D]"),
        np.array([1, 2], "m8[s]"),
        np.array([1.0], np.longdouble),
    ],
    ids=["str", "object", "datetime", "timedelta", "longdouble"],
)
def test_unsupported_dtypes_raise_type_error(value: np.ndarray) -> None:
    with pytest.raises(TypeError, match="not supported"):
        ne.evaluate("value + 1")
    with pytest.raises(TypeError, match="not supported"):
        ne.evaluate("value")


def test_out_of_unsupported_dtype_raises() -> None:
    a = np.arange(3.0)
    with pytest.raises(TypeError, match="not supported"):
        ne.evaluate("a", out=np.empty(3, np.float16))
    with pytest.raises(TypeError, match="not supported"):
        ne.evaluate("a", out=np.empty(3, ">f8"))


def test_unsupported_combinations_name_the_op_and_dtypes() -> None:
    b = np.array([True, False])
    f = np.array([1.5, 2.5])
    with pytest.raises(TypeError, match="subtract is not supported for bool, bool inputs"):
        ne.evaluate("b - b")
    with pytest.raises(TypeError, match="bitwise_and is not supported for float64, float64 inputs"):
        ne.evaluate("f & f")
    with pytest.raises(TypeError, match="positive is not supported"):
        ne.evaluate("+b")


@pytest.mark.parametrize("dtype", ["u1", "i1", "u8", "i8", "?"])
@pytest.mark.parametrize("value", [-1, 300, 2**63 - 1])
def test_comparison_with_an_int_variable_like_numpy(dtype: str, value: int) -> None:
    x = np.array([0, 1, 5], dtype=dtype)
    for op in ("<", "<=", "==", "!=", ">", ">="):
        expected = getattr(np, OPERATORS[op])(value, x)
        np.testing.assert_array_equal(ne.evaluate(f"n {op} x", local_dict={"n": value, "x": x}), expected)
