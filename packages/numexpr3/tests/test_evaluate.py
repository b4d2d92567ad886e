"""evaluate() and the rest of numexpr 2's API: layouts, out=, programs, reductions, caches."""

# Locals that look unused are read by evaluate() from the caller's frame.
# ruff: noqa: F841

from __future__ import annotations

import pickle

import numpy as np
import pytest

import numexpr3 as ne

rng = np.random.default_rng(42)


# -- numexpr 2 behaviours (its test suite, numexpr-notes §1.7) ---------------------------


@pytest.mark.parametrize("dtype", ["i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8"])
def test_integer_floor_division_and_remainder_like_numpy(dtype: str) -> None:
    info = np.iinfo(dtype)
    values = [int(info.min), int(info.min) + 1, -7, -3, -1, 0, 1, 3, 7, int(info.max)]
    x = np.array([v for v in values if info.min <= v <= info.max], dtype=dtype)
    grid_x, grid_y = np.meshgrid(x, x)
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(ne.evaluate("grid_x // grid_y"), grid_x // grid_y)
        np.testing.assert_array_equal(ne.evaluate("grid_x % grid_y"), grid_x % grid_y)
    zero = np.zeros_like(x)
    np.testing.assert_array_equal(ne.evaluate("x // zero"), np.zeros_like(x))
    np.testing.assert_array_equal(ne.evaluate("x % zero"), np.zeros_like(x))


def test_float_floor_division_and_remainder_like_numpy() -> None:
    x = np.array([-7.5, -1.0, -0.0, 0.0, 2.5, 7.0, np.inf, np.nan])
    y = np.array([2.0, -3.0, 0.0, -0.0, np.inf, 0.0, 2.0, 1.0])
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(ne.evaluate("x // y"), x // y)
        np.testing.assert_array_equal(ne.evaluate("x % y"), x % y)


def test_uint64_does_not_wrap() -> None:
    big = np.array([2**64 - 1, 2**63, 5], dtype=np.uint64)
    result = ne.evaluate("big + 0")
    assert result.dtype == np.uint64
    np.testing.assert_array_equal(result, big)
    np.testing.assert_array_equal(ne.evaluate("big > 2**63 - 1"), [True, True, False])
    assert ne.evaluate("sum(big)").dtype == np.uint64


@pytest.mark.parametrize("dtype", ["i1", "i4", "i8", "u1", "u8"])
def test_shifts_with_out_of_range_counts_like_numpy(dtype: str) -> None:
    x = np.array([1, -1 if dtype[0] == "i" else 3, 5, 100], dtype=dtype)
    counts = (
        np.array([0, 1, 7, 8, 31, 63, 64, 65, 200]).astype(dtype)
        if dtype != "i1"
        else np.array([0, 1, 7, 8, 31, 63, 64, 65, 100], dtype)
    )
    grid_x, grid_c = np.meshgrid(x, counts)
    np.testing.assert_array_equal(ne.evaluate("grid_x << grid_c"), grid_x << grid_c)
    np.testing.assert_array_equal(ne.evaluate("grid_x >> grid_c"), grid_x >> grid_c)


def test_nan_propagating_minimum_maximum_and_fmin_fmax() -> None:
    x = np.array([1.0, np.nan, 3.0, np.nan])
    y = np.array([np.nan, 2.0, 1.0, np.nan])
    np.testing.assert_array_equal(ne.evaluate("minimum(x, y)"), np.minimum(x, y))
    np.testing.assert_array_equal(ne.evaluate("maximum(x, y)"), np.maximum(x, y))
    np.testing.assert_array_equal(ne.evaluate("fmin(x, y)"), np.fmin(x, y))
    np.testing.assert_array_equal(ne.evaluate("fmax(x, y)"), np.fmax(x, y))
    assert np.isnan(ne.evaluate("max(x)"))
    assert np.isnan(ne.evaluate("min(x)"))


def test_where_with_scalar_condition_and_operands() -> None:
    x = np.arange(5.0)
    np.testing.assert_array_equal(ne.evaluate("where(True, x, -x)"), x)
    np.testing.assert_array_equal(ne.evaluate("where(False, x, 2)"), np.full(5, 2.0))
    np.testing.assert_array_equal(ne.evaluate("where(x > 2, 1, 0)"), np.where(x > 2, 1, 0))
    f = np.arange(5, dtype=np.float32)
    assert ne.evaluate("where(f > 2, f, 0.5)").dtype == np.float32


def test_true_division_of_integers() -> None:
    a = np.arange(-5, 5, dtype=np.int32)
    b = np.full(10, 4, dtype=np.int32)
    result = ne.evaluate("a / b")
    assert result.dtype == np.float64
    np.testing.assert_array_equal(result, a / b)
    for options in ({"truediv": True}, {"truediv": False}, {"truediv": "auto"}):
        np.testing.assert_array_equal(ne.evaluate("a / b", **options), a / b)


def test_bool_arithmetic_like_numpy() -> None:
    p = np.array([True, True, False, False])
    q = np.array([True, False, True, False])
    np.testing.assert_array_equal(ne.evaluate("p + q"), p + q)
    np.testing.assert_array_equal(ne.evaluate("p * q"), p * q)
    np.testing.assert_array_equal(ne.evaluate("p & q | ~p ^ q"), p & q | ~p ^ q)
    assert ne.evaluate("sum(p)") == 2
    assert ne.evaluate("sum(p)").dtype == np.int64


def test_abs_of_complex_is_real_like_numpy() -> None:
    z = np.array([3 + 4j, -1j], dtype=np.complex64)
    result = ne.evaluate("abs(z)")
    assert result.dtype == np.float32
    np.testing.assert_allclose(result, [5.0, 1.0])


def test_round_is_numpys() -> None:
    x = np.array([0.5, 1.5, 2.5, -0.5, -1.5])
    np.testing.assert_array_equal(ne.evaluate("round(x)"), np.round(x))  # half to even, as rint
    for dtype in ("i1", "u4", "i8", "f4", "c8"):
        r = np.arange(-3, 4).astype(dtype)
        result = ne.evaluate("round(r)")
        assert result.dtype == np.round(r).dtype
        np.testing.assert_array_equal(result, np.round(r))


def test_run_and_constants_of_numexpr_objects() -> None:
    nex = ne.NumExpr("(a + 1) * (a - 1) + 2.5", [("a", np.float64)])
    a = np.arange(4.0)
    np.testing.assert_array_equal(nex.run(a), (a + 1) * (a - 1) + 2.5)
    assert nex.constants == (1.0, 2.5)  # each once


def test_re_evaluate_does_not_keep_out_alive() -> None:
    import gc
    import weakref

    a = np.arange(5.0)
    out = np.zeros(5)
    # (local_dict: a frame's f_locals snapshot of Python < 3.13 would hold `out` itself)
    assert ne.evaluate("a + 1", local_dict={"a": a}, out=out) is out
    assert ne.re_evaluate(local_dict={"a": a * 2}) is out  # while it lives, it is the result
    np.testing.assert_array_equal(out, a * 2 + 1)
    gone = weakref.ref(out)
    del out
    gc.collect()
    assert gone() is None
    np.testing.assert_array_equal(ne.re_evaluate(local_dict={"a": a}), a + 1)  # a new array then


def test_complex_functions() -> None:
    z = np.array([1 + 2j, -3 - 0.5j, 0j])
    np.testing.assert_allclose(ne.evaluate("conj(z) * z"), np.conj(z) * z)
    np.testing.assert_allclose(ne.evaluate("complex(real(z), -imag(z))"), np.conj(z))
    np.testing.assert_allclose(ne.evaluate("z.real * 2 + z.imag"), z.real * 2 + z.imag)


# -- shapes, strides, broadcasting, scalars ---------------------------------------------


def layouts(shape: tuple[int, ...]) -> list[np.ndarray]:
    """The same values in C, Fortran, strided, reversed and transposed layouts."""
    base = rng.normal(size=shape)
    big = np.zeros(tuple(2 * n for n in shape))
    strided = big[tuple(slice(None, None, 2) for _ in shape)]
    strided[...] = base
    reversed_ = np.ascontiguousarray(base[tuple(slice(None, None, -1) for _ in shape)])[
        tuple(slice(None, None, -1) for _ in shape)
    ]
    return [base, np.asfortranarray(base), strided, reversed_, np.ascontiguousarray(base.T).T]


@pytest.mark.parametrize("shape", [(7,), (3, 4), (2, 3, 5), (1, 6), (4, 1, 3)])
def test_every_input_layout(shape: tuple[int, ...]) -> None:
    for x in layouts(shape):
        for y in layouts(shape):
            np.testing.assert_allclose(
                ne.evaluate("x * 2 + sin(y)"), x * 2 + np.sin(y), rtol=1e-14
            )  # vector sin: a few ulp


@pytest.mark.parametrize(
    ("shape_x", "shape_y"),
    [((3, 4), (4,)), ((3, 1), (1, 4)), ((2, 1, 4), (3, 1)), ((), (5,)), ((0,), (1,)), ((2, 0), (2, 1)), ((5,), ())],
)
def test_broadcasting(shape_x: tuple[int, ...], shape_y: tuple[int, ...]) -> None:
    x = rng.normal(size=shape_x)
    y = rng.normal(size=shape_y)
    result = ne.evaluate("x - y * 3")
    assert result.shape == np.broadcast_shapes(shape_x, shape_y)
    np.testing.assert_allclose(result, x - y * 3)


def test_broadcast_and_zero_strides() -> None:
    x = np.broadcast_to(np.arange(4.0), (3, 4))
    y = np.arange(3.0)[:, None]
    np.testing.assert_array_equal(ne.evaluate("x + y"), x + y)


def test_incompatible_shapes_raise() -> None:
    x = np.zeros(3)
    y = np.zeros(4)
    with pytest.raises(ValueError, match="broadcast"):
        ne.evaluate("x + y")


def test_zero_dimensional_and_python_scalars() -> None:
    x = np.array(2.5)
    result = ne.evaluate("x * 2")
    assert isinstance(result, np.ndarray)
    assert result.shape == ()
    assert result == 5.0
    assert ne.evaluate("3 + 4").shape == ()
    assert ne.evaluate("n * 2", local_dict={"n": 21}) == 42
    assert ne.evaluate("x * n", local_dict={"x": np.float32(2), "n": 1.5}).dtype == np.float32


def test_empty_arrays() -> None:
    x = np.zeros((0, 3))
    assert ne.evaluate("x + 1").shape == (0, 3)
    assert ne.evaluate("sum(x)") == 0
    assert ne.evaluate("prod(x)") == 1
    np.testing.assert_array_equal(ne.evaluate("sum(x, axis=0)"), np.zeros(3))
    np.testing.assert_array_equal(ne.evaluate("max(x, axis=1)"), np.zeros(0))
    with pytest.raises(ValueError, match="zero-size array"):
        ne.evaluate("max(x)")
    with pytest.raises(ValueError, match="zero-size array"):
        ne.evaluate("min(x, axis=0)")


def test_list_inputs_are_converted() -> None:
    np.testing.assert_array_equal(ne.evaluate("x * 2", local_dict={"x": [1, 2, 3]}), [2, 4, 6])


def test_order_of_a_new_result() -> None:
    f = np.asfortranarray(rng.normal(size=(3, 4)))
    assert ne.evaluate("f + 1").flags.f_contiguous
    assert ne.evaluate("f + 1", order="C").flags.c_contiguous
    c = np.ascontiguousarray(f)
    assert ne.evaluate("c + 1", order="F").flags.f_contiguous
    assert ne.evaluate("c + 1").flags.c_contiguous
    with pytest.raises(ValueError, match="order"):
        ne.evaluate("c + 1", order="X")


# -- out= -------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", range(5))
def test_out_in_every_layout(layout: int) -> None:
    x = rng.normal(size=(3, 4))
    out = layouts((3, 4))[layout]
    assert ne.evaluate("x * 2 + 1", out=out) is out
    np.testing.assert_allclose(out, x * 2 + 1)


def test_out_errors() -> None:
    x = np.arange(6.0)
    with pytest.raises(ValueError, match="shape"):
        ne.evaluate("x + 1", out=np.empty(5))
    with pytest.raises(ValueError, match="shape"):
        ne.evaluate("x + 1", out=np.empty((2, 3)))
    read_only = np.empty(6)
    read_only.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        ne.evaluate("x + 1", out=read_only)
    with pytest.raises(TypeError, match="float64 to int64"):
        ne.evaluate("x + 1", out=np.empty(6, np.int64))
    with pytest.raises(TypeError):
        ne.evaluate("x + 1", out=[0.0] * 6)


def test_out_broadcasts_the_result() -> None:
    x = np.arange(4.0)
    out = np.empty((3, 4))
    ne.evaluate("x * 2", out=out)
    np.testing.assert_array_equal(out, np.broadcast_to(x * 2, (3, 4)))


def test_in_place_and_overlapping_out() -> None:
    x = np.arange(10.0)
    ne.evaluate("x * 2 + 1", out=x)
    np.testing.assert_array_equal(x, np.arange(10.0) * 2 + 1)
    y = np.arange(10.0)
    expected = y[::-1] + y
    ne.evaluate("a + b", local_dict={"a": y[::-1], "b": y}, out=y)
    np.testing.assert_array_equal(y, expected)
    z = np.arange(11.0)
    expected = z[1:] * 2
    ne.evaluate("w * 2", local_dict={"w": z[1:]}, out=z[:-1])
    np.testing.assert_array_equal(z[:-1], expected)


def test_reduction_into_out() -> None:
    m = rng.normal(size=(3, 4))
    out = np.empty(4)
    ne.evaluate("sum(m, axis=0)", out=out)
    np.testing.assert_allclose(out, m.sum(axis=0))
    scalar_out = np.empty(())
    ne.evaluate("sum(m)", out=scalar_out)
    np.testing.assert_allclose(scalar_out, m.sum())


# -- reductions ------------------------------------------------------------------------


REDUCTIONS = {
    "sum": np.sum,
    "prod": np.prod,
    "min": np.min,
    "max": np.max,
    "any": np.any,
    "all": np.all,
    "mean": np.mean,
}


@pytest.mark.parametrize("name", list(REDUCTIONS))
@pytest.mark.parametrize("dtype", ["?", "i1", "u1", "i4", "u8", "f4", "f8", "c16"])
@pytest.mark.parametrize("axis", [None, 0, 1, -1, -3])
def test_reductions_like_numpy(name: str, dtype: str, axis: int | None) -> None:
    x = (rng.normal(size=(2, 3, 4)) * 3).astype(dtype) if dtype != "c16" else rng.normal(size=(2, 3, 4)) * (1 + 1j)
    function = REDUCTIONS[name]
    try:
        with np.errstate(all="ignore"):
            expected = np.asarray(function(x, axis=axis))
    except TypeError:
        with pytest.raises(TypeError):
            ne.evaluate(f"{name}(x, axis={axis})")
        return
    result = ne.evaluate(f"{name}(x, axis={axis})")
    assert result.dtype == expected.dtype, (name, dtype, axis)
    assert result.shape == expected.shape
    if expected.dtype.kind in "fc":
        np.testing.assert_allclose(result, expected, rtol=1e-5 if dtype == "f4" else 1e-12)
    else:
        np.testing.assert_array_equal(result, expected)


def test_axis_out_of_range() -> None:
    x = np.zeros((2, 3))
    with pytest.raises(np.exceptions.AxisError):
        ne.evaluate("sum(x, axis=2)")
    with pytest.raises(np.exceptions.AxisError):
        ne.evaluate("sum(x, axis=-3)")


@pytest.mark.parametrize(
    ("expression", "reference"),
    [
        ("a / sum(a)", lambda a, b: a / a.sum()),
        ("sum(a * b)", lambda a, b: (a * b).sum()),
        ("a - sum(a) / 12", lambda a, b: a - a.sum() / 12),
        ("2 * sum(a) + 1", lambda a, b: 2 * a.sum() + 1),
        ("a - mean(a, axis=0)", lambda a, b: a - a.mean(axis=0)),
        ("sum(a - mean(a)) + max(b)", lambda a, b: (a - a.mean()).sum() + b.max()),
        ("sum(a, axis=1) * max(b, axis=-1)", lambda a, b: a.sum(axis=1) * b.max(axis=-1)),
        ("sum(a) / sum(a) + sum(a)", lambda a, b: 1 + a.sum()),
        ("sqrt(sum(a**2, axis=1))", lambda a, b: np.sqrt((a**2).sum(axis=1))),
        ("t = a * b; t / max(abs(t))", lambda a, b: (a * b) / np.abs(a * b).max()),
        ("any(a > 1) & all(b < 10)", lambda a, b: (a > 1).any() & (b < 10).all()),
    ],
)
def test_reductions_inside_expressions(expression: str, reference) -> None:
    a = rng.normal(size=(3, 4))
    b = rng.normal(size=(3, 4))
    np.testing.assert_allclose(ne.evaluate(expression), reference(a, b), rtol=1e-12)


def test_reduction_result_broadcasts_like_numpy() -> None:
    a = np.ones((3, 4))
    with pytest.raises(ValueError, match="broadcast"):
        ne.evaluate("a - sum(a, axis=1)")  # (3, 4) with (3,), as NumPy


# -- programs with assignments -----------------------------------------------------------


def test_named_temporaries_are_not_created_in_the_caller() -> None:
    a = np.arange(-3.0, 3.0)
    b = np.ones(6)
    result = ne.evaluate("t = a*b; out_value = where(t > 0, t, -t)")
    np.testing.assert_array_equal(result, np.abs(a))
    assert "t" not in locals()
    assert "out_value" not in locals()
    assert "t" not in globals()


def test_assignment_writes_into_an_existing_array() -> None:
    a = np.arange(5.0)
    target = np.zeros(5)
    result = ne.evaluate("target = a * 2")
    assert result is target
    np.testing.assert_array_equal(target, a * 2)
    ne.evaluate("target = target + 1; target = target * 10")
    np.testing.assert_array_equal(target, (a * 2 + 1) * 10)


def test_assignment_casts_into_the_target_under_the_casting_rule() -> None:
    a = np.arange(5.0)
    integers = np.zeros(5, dtype=np.int64)
    with pytest.raises(TypeError, match="float64 to int64"):
        ne.evaluate("integers = a * 2")
    ne.evaluate("integers = a * 2.7", casting="unsafe")
    np.testing.assert_array_equal(integers, (a * 2.7).astype(np.int64))
    # Later uses of the name see the stored (cast) values.
    result = ne.evaluate("integers = a * 2.7; integers * 1.0", casting="unsafe")
    np.testing.assert_array_equal(result, (a * 2.7).astype(np.int64).astype(float))


def test_swap_through_assignments() -> None:
    x = np.arange(4.0)
    y = np.arange(4.0) + 10
    ne.evaluate("t = x; x = y; y = t")
    np.testing.assert_array_equal(x, np.arange(4.0) + 10)
    np.testing.assert_array_equal(y, np.arange(4.0))


def test_assignment_target_shape_and_writability() -> None:
    a = np.arange(4.0)
    wide = np.zeros((2, 4))
    ne.evaluate("wide = a + 1")
    np.testing.assert_array_equal(wide, np.broadcast_to(a + 1, (2, 4)))
    small = np.zeros(3)
    with pytest.raises(ValueError, match="shape"):
        ne.evaluate("small = a + 1")
    frozen = np.zeros(4)
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        ne.evaluate("frozen = a + 1")


def test_assignment_to_a_python_scalar_name_is_a_temporary() -> None:
    a = np.arange(3.0)
    k = 5.0
    result = ne.evaluate("k = a + 1; k * 2")
    np.testing.assert_array_equal(result, (a + 1) * 2)
    assert k == 5.0


# -- lookup, caches, re_evaluate, validate ------------------------------------------------

GLOBAL_ARRAY = np.arange(3.0)


def test_variable_lookup_order() -> None:
    GLOBAL_ARRAY = np.arange(3.0) + 100  # noqa: N806 - a local shadowing the global
    np.testing.assert_array_equal(ne.evaluate("GLOBAL_ARRAY * 1"), GLOBAL_ARRAY)
    np.testing.assert_array_equal(ne.evaluate("GLOBAL_ARRAY * 1", local_dict={}), np.arange(3.0))
    np.testing.assert_array_equal(
        ne.evaluate("GLOBAL_ARRAY * 1", local_dict={}, global_dict={"GLOBAL_ARRAY": np.ones(2)}), np.ones(2)
    )


def test_frame_depth_reaches_the_callers_caller() -> None:
    def helper(expression: str) -> np.ndarray:
        return ne.evaluate(expression, _frame_depth=4)

    secret = np.arange(3.0)
    np.testing.assert_array_equal(helper("secret * 2"), secret * 2)


def test_results_follow_changed_dtypes_with_the_cache() -> None:
    x = np.arange(4, dtype=np.int32)
    assert ne.evaluate("x + 1").dtype == np.int32
    x = np.arange(4, dtype=np.float32)
    assert ne.evaluate("x + 1").dtype == np.float32
    x = np.arange(4.0).reshape(2, 2)
    assert ne.evaluate("sum(x, axis=-1)").shape == (2,)
    x = np.arange(8.0).reshape(2, 2, 2)
    assert ne.evaluate("sum(x, axis=-1)").shape == (2, 2)


def test_re_evaluate_uses_fresh_values() -> None:
    a = np.arange(4.0)
    ne.evaluate("a * 3")
    a = np.arange(4.0) + 1
    np.testing.assert_array_equal(ne.re_evaluate(), a * 3)
    np.testing.assert_array_equal(ne.re_evaluate(local_dict={"a": np.ones(2)}), np.full(2, 3.0))


def test_validate_returns_the_exception_or_none() -> None:
    a = np.arange(4.0)
    assert ne.validate("a + 1") is None
    np.testing.assert_array_equal(ne.re_evaluate(), a + 1)
    assert isinstance(ne.validate("a +"), SyntaxError)
    assert isinstance(ne.validate("missing + 1"), KeyError)
    assert isinstance(ne.validate("a + 1", out=np.empty(4, np.int8)), TypeError)
    assert isinstance(ne.validate("a", bogus=1), ValueError)


def test_keyword_arguments_are_validated() -> None:
    a = np.arange(3.0)
    for level in ("none", "moderate", "aggressive"):
        np.testing.assert_array_equal(ne.evaluate("a**2", optimization=level), a**2)
    with pytest.raises(ValueError, match="optimization"):
        ne.evaluate("a", optimization="max")
    with pytest.raises(ValueError, match="unknown keyword argument 'bogus'"):
        ne.evaluate("a", bogus=True)
    with pytest.raises(ValueError, match="casting"):
        ne.evaluate("a", casting="wild")
    np.testing.assert_array_equal(ne.evaluate("a", sanitize=False), a)


def test_disable_cache_gives_the_same_result() -> None:
    a = np.arange(5.0)
    np.testing.assert_array_equal(ne.evaluate("a * a - 1", disable_cache=True), a * a - 1)


def test_the_cache_is_bounded() -> None:
    from numexpr3 import _api

    a = np.arange(3.0)
    for i in range(_api._CACHE_SIZE + 50):
        ne.evaluate(f"a + {i}")
    assert _api._compiled.cache_info().currsize == _api._CACHE_SIZE
    assert _api._parse.cache_info().currsize == _api._CACHE_SIZE


# -- NumExpr objects -----------------------------------------------------------------------


def test_numexpr_object_positional_and_keyword_calls() -> None:
    nex = ne.NumExpr("a * b + c")
    assert nex.input_names == ("a", "b", "c")
    a, b, c = np.arange(3.0), np.arange(3.0) + 1, np.ones(3)
    np.testing.assert_array_equal(nex(a, b, c), a * b + c)
    np.testing.assert_array_equal(nex(a=a, b=b, c=c), a * b + c)
    out = np.empty(3)
    assert nex(a, b, c=c, out=out) is out
    np.testing.assert_array_equal(out, a * b + c)
    np.testing.assert_array_equal(nex(a, b, c, ex_uses_vml=False), a * b + c)
    with pytest.raises(TypeError, match="missing"):
        nex(a, b)


def test_numexpr_signature_casts_arguments() -> None:
    nex = ne.NumExpr("x * 2", signature=[("x", np.float32)])
    result = nex(np.arange(3, dtype=np.int8))
    assert result.dtype == np.float32
    with pytest.raises(TypeError, match="cannot cast"):
        nex(np.arange(3.0))
    with pytest.raises(ValueError, match="lacks"):
        ne.NumExpr("x * y", signature=[("x", np.float64)])


def test_numexpr_pickles_and_disassembles() -> None:
    nex = ne.NumExpr("sqrt(a**2 + b**2)", signature=[("b", np.float32), ("a", np.float32)])
    clone = pickle.loads(pickle.dumps(nex))
    assert clone.signature == nex.signature
    a, b = np.arange(3, dtype=np.float32), np.ones(3, dtype=np.float32)
    np.testing.assert_array_equal(clone(b, a), np.sqrt(a**2 + b**2))
    listing = ne.disassemble(nex)
    ops = [line[0] for line in listing]
    assert "power" not in ops
    assert ops.count("multiply") == 2
    assert ops[-1] == "sqrt"
    assert all(isinstance(part, str) for line in listing for part in line)


def test_disassemble_shows_reduction_stages() -> None:
    listing = ne.disassemble(ne.NumExpr("a / sum(a)"))
    assert listing[0] == ("sum", "axis=None")
    assert listing[-1][0] == "true_divide"


# -- compiler output ---------------------------------------------------------------------


def program_of(expression: str, **signature: str) -> list[tuple[str, ...]]:
    return ne.disassemble(ne.NumExpr(expression, signature=list(signature.items())))


def test_common_subexpressions_are_computed_once() -> None:
    ops = [line[0] for line in program_of("sin(a*b) + cos(a*b) + (a*b)", a="f8", b="f8")]
    assert ops.count("multiply") == 1


def test_constants_are_folded() -> None:
    listing = program_of("a * (2 + 3) * sin(0.5) + 10 // 3", a="f8")
    assert [line[0] for line in listing] == ["multiply", "multiply", "add"]


def test_powers_are_strength_reduced() -> None:
    assert [line[0] for line in program_of("a**2", a="f8")] == ["multiply"]
    assert [line[0] for line in program_of("a**0.5", a="f8")] == ["sqrt"]
    assert [line[0] for line in program_of("a**-1", a="f8")] == ["true_divide"]
    assert [line[0] for line in program_of("a**8", a="f8")].count("multiply") == 3
    assert [line[0] for line in program_of("a**2.5", a="f8")] == ["power"]


def test_temporaries_are_reused() -> None:
    terms = " + ".join(f"sin(a * {i})" for i in range(1, 40))
    nex = ne.NumExpr(terms, signature=[("a", np.float64)])
    program = nex._compiled.stages[-1].program
    assert program is not None
    listing = ne.disassemble(nex)
    temps = {part for line in listing for part in line[1:] if part.startswith("t")}
    assert len(temps) <= 4


def test_thread_settings() -> None:
    old = ne.set_num_threads(2)
    try:
        assert ne.get_num_threads() == 2
        assert ne.set_num_threads(ne.MAX_THREADS + 100) == 2
        assert ne.get_num_threads() == ne.MAX_THREADS
        with pytest.raises(ValueError):
            ne.set_num_threads(0)
    finally:
        ne.set_num_threads(old)
    assert 1 <= ne.detect_number_of_cores() == ne.ncores
    assert 1 <= ne.nthreads <= ne.MAX_THREADS
    assert ne.__BLOCK_SIZE1__ > 0
    assert ne.use_vml is False
    assert ne.set_vml_accuracy_mode("fast") is None
    assert ne.set_vml_num_threads(2) is None
    assert ne.get_vml_version() is None
    with pytest.raises(ValueError):
        ne.set_vml_accuracy_mode("bogus")


def test_print_versions(capsys: pytest.CaptureFixture[str]) -> None:
    ne.print_versions()
    printed = capsys.readouterr().out
    assert "numexpr3" in printed
    assert np.__version__ in printed
    assert isinstance(ne.__version__, str)


def test_numexpr_object_writes_assignment_targets_passed_by_keyword() -> None:
    nex = ne.NumExpr("total = a + b; total * 2")
    a, b = np.arange(3.0), np.ones(3)
    total = np.zeros(3)
    np.testing.assert_array_equal(nex(a, b, total=total), (a + b) * 2)
    np.testing.assert_array_equal(total, a + b)
    np.testing.assert_array_equal(nex(a, b), (a + b) * 2)  # without it, a temporary


def test_reduction_cast_into_out() -> None:
    x = np.arange(12, dtype=np.int8).reshape(3, 4)
    out = np.empty(4, np.float64)
    ne.evaluate("sum(x, axis=0)", out=out)
    np.testing.assert_array_equal(out, x.sum(axis=0))
    with pytest.raises(TypeError, match="int64 to int8"):
        ne.evaluate("sum(x, axis=0)", out=np.empty(4, np.int8))


ENVIRONMENT_CHECK = """
import numexpr3 as ne
print(ne.MAX_THREADS, ne.nthreads, ne.get_num_threads())
"""


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        ({"NUMEXPR_MAX_THREADS": "4", "NUMEXPR_NUM_THREADS": "3"}, "4 3 3"),
        ({"NUMEXPR_MAX_THREADS": "2", "NUMEXPR_NUM_THREADS": "8"}, "2 2 2"),
        ({"NUMEXPR_MAX_THREADS": "8", "NUMEXPR_NUM_THREADS": "", "OMP_NUM_THREADS": "5"}, "8 5 5"),
        ({"NUMEXPR_MAX_THREADS": "8", "NUMEXPR_NUM_THREADS": "", "OMP_NUM_THREADS": ""}, None),
        ({"NUMEXPR_MAX_THREADS": "", "OMP_NUM_THREADS": ""}, None),
    ],
)
def test_thread_environment_variables(environment: dict[str, str], expected: str | None) -> None:
    import os
    import subprocess
    import sys

    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("NUMEXPR_MAX_THREADS", "NUMEXPR_NUM_THREADS", "OMP_NUM_THREADS")
    }
    env.update(environment)
    done = subprocess.run(
        [sys.executable, "-c", ENVIRONMENT_CHECK], env=env, capture_output=True, text=True, check=True
    )
    assert done.stderr == ""  # no log lines
    if expected is None:  # unset: the usable cores, capped
        maximum, initial, current = map(int, done.stdout.split())
        assert initial == current == min(ne.detect_number_of_cores(), maximum)
    else:
        assert done.stdout.strip() == expected


def test_negative_integer_powers_raise_like_numpy() -> None:
    a = np.array([2, 3, -2])
    b = np.array([-1, 2, -2])
    with pytest.raises(ValueError, match="negative integer powers"):
        ne.evaluate("a ** b")
    with pytest.raises(ValueError, match="negative integer powers"):
        ne.evaluate("a ** -2")


def test_no_frame_inspection_when_both_dicts_are_given(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    def forbidden(*args: object) -> None:
        raise AssertionError("sys._getframe called")

    a = np.arange(3.0)
    monkeypatch.setattr(sys, "_getframe", forbidden)
    np.testing.assert_array_equal(ne.evaluate("a * w", local_dict={"a": a}, global_dict={"w": 2.0}), a * 2)
    np.testing.assert_array_equal(ne.evaluate("a + 1", local_dict={"a": a}), a + 1)


def test_re_evaluate_state_is_per_asyncio_task() -> None:
    import asyncio

    a = np.arange(4.0)

    async def task(factor: int) -> bool:
        ne.evaluate(f"a * {factor}", local_dict={"a": a})
        await asyncio.sleep(0)  # the other task evaluates meanwhile
        return np.array_equal(ne.re_evaluate(local_dict={"a": a}), a * factor)

    async def main() -> list[bool]:
        return await asyncio.gather(task(2), task(3))

    assert asyncio.run(main()) == [True, True]


def test_programs_with_targets_out_and_reductions_together() -> None:
    a = np.arange(4.0)
    x = np.zeros(4)
    y = np.zeros(4)
    out = np.zeros(4)
    assert ne.evaluate("x = a + 1; x * 2", out=out) is out
    np.testing.assert_array_equal(x, a + 1)
    np.testing.assert_array_equal(out, (a + 1) * 2)
    result = ne.evaluate("x = a; y = x * 3; s = sum(y); y / s")
    np.testing.assert_array_equal(x, a)
    np.testing.assert_array_equal(y, a * 3)
    np.testing.assert_allclose(result, a * 3 / np.sum(a * 3))


@pytest.mark.parametrize("value", ["abc", "0", "-2", "1.5"])
def test_a_bad_thread_count_variable_raises_naming_it(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", value)
    monkeypatch.delenv("NUMEXPR_NUM_THREADS", raising=False)
    with pytest.raises(ValueError, match=f"OMP_NUM_THREADS={value!r}"):
        ne._init_num_threads()


def test_init_num_threads_reads_the_environment_again(monkeypatch: pytest.MonkeyPatch) -> None:
    previous = ne.get_num_threads()
    try:
        monkeypatch.setenv("OMP_NUM_THREADS", "5")
        monkeypatch.setenv("NUMEXPR_NUM_THREADS", "3")
        assert ne._init_num_threads() == ne.get_num_threads() == min(3, ne.MAX_THREADS)  # NUMEXPR_ first
        monkeypatch.setenv("NUMEXPR_NUM_THREADS", "")
        assert ne._init_num_threads() == min(5, ne.MAX_THREADS)  # empty is unset
        monkeypatch.setenv("OMP_NUM_THREADS", " ")
        assert ne._init_num_threads() == min(ne.detect_number_of_cores(), ne.MAX_THREADS)
    finally:
        ne.set_num_threads(previous)
    assert ne.set_vml_num_threads(3) is None and ne.get_vml_num_threads() is None
