"""The cached-call path (`_core.Dispatcher`): calls it runs in C++ must give exactly what
the Python front end gives, and calls it cannot run must reach the front end."""

from __future__ import annotations

import string
import sys
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import numexpr3 as ne
from numexpr3 import _api, _core

DTYPES = ["b1", "i1", "i4", "i8", "u2", "u8", "f4", "f8", "c8", "c16"]


def fresh_source(expression: str) -> str:
    """`expression` with a unique comment-free spelling, so that no earlier test's dispatcher serves it."""
    fresh_source.count += 1  # type: ignore[attr-defined]
    return f"({expression}) + 0*{fresh_source.count}"  # type: ignore[attr-defined]


fresh_source.count = 0  # type: ignore[attr-defined]


def routes(source: str) -> int:
    entry = _api._dispatchers.get(source)
    return 0 if entry is None else entry[0].num_routes()


@settings(max_examples=60, deadline=None)
@given(
    shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=5),
    dtype=st.sampled_from(DTYPES),
)
def test_numexpr_calls_on_the_cpp_path_equal_numpy(shapes, dtype: str) -> None:
    nex = ne.NumExpr("a * b + a", signature=[("a", dtype), ("b", dtype)])
    rng = np.random.default_rng(0)
    for _ in range(3):  # the first call compiles, the others run in C++
        a = (rng.integers(0, 4, shapes.input_shapes[0])).astype(dtype)
        b = (rng.integers(0, 4, shapes.input_shapes[1])).astype(dtype)
        with np.errstate(all="ignore"):
            expected = a * b + a
        result = nex(a, b)
        assert result.dtype == expected.dtype and result.shape == expected.shape
        np.testing.assert_array_equal(result, expected)
    assert nex.num_routes() == 1


def test_numexpr_remembers_one_route_per_rank_signature() -> None:
    nex = ne.NumExpr("a - b")
    for shape in [(3,), (4,), (2, 3), (3,), ()]:
        a, b = np.ones(shape), np.full(shape, 3.0)
        np.testing.assert_array_equal(nex(a, b), a - b)
    assert nex.num_routes() == 3  # ranks 1, 2 and 0


def test_calls_needing_conversion_stay_in_python_and_are_right() -> None:
    nex = ne.NumExpr("a * 2")  # float64 signature
    ints = np.arange(5)
    for _ in range(3):
        result = nex(ints)
        assert result.dtype == np.float64
        np.testing.assert_array_equal(result, ints * 2.0)
    assert nex.num_routes() == 0
    swapped = np.arange(5.0).astype(">f8")
    np.testing.assert_array_equal(nex(swapped), np.arange(5.0) * 2)
    np.testing.assert_array_equal(nex([1, 2]), [2.0, 4.0])
    assert nex.num_routes() == 0
    np.testing.assert_array_equal(nex(np.arange(5.0)), np.arange(5.0) * 2)
    assert nex.num_routes() == 1
    np.testing.assert_array_equal(nex(ints), ints * 2.0)  # a known rank, an unknown dtype


def test_keyword_and_out_calls_reach_python() -> None:
    nex = ne.NumExpr("a + b")
    a, b = np.arange(4.0), np.ones(4)
    nex(a, b)
    out = np.empty(4)
    assert nex(a, b, out=out) is out
    np.testing.assert_array_equal(out, a + b)
    np.testing.assert_array_equal(nex(a, b=b), a + b)
    np.testing.assert_array_equal(nex(a, b, order="C"), a + b)
    with pytest.raises(TypeError, match="missing the array for 'b'"):
        nex(a)
    with pytest.raises(TypeError, match="at most 2 arrays"):
        nex(a, b, a)


def test_errors_on_the_cpp_path_are_numpys() -> None:
    nex = ne.NumExpr("a + b")
    nex(np.ones(3), np.ones(3))
    with pytest.raises(ValueError, match="broadcast"):
        nex(np.ones(3), np.ones(4))
    source = fresh_source("x + y")
    x, y = np.ones(3), np.ones(3)  # noqa: F841 (read by evaluate)
    ne.evaluate(source)
    y = np.ones(5)  # noqa: F841
    with pytest.raises(ValueError, match="broadcast"):
        ne.evaluate(source)


def test_reductions_run_on_the_cpp_path() -> None:
    rng = np.random.default_rng(1)
    nex = ne.NumExpr("sum(a * b, axis=1)")
    for _ in range(3):
        a, b = rng.random((4, 6)), rng.random((4, 6))
        np.testing.assert_allclose(nex(a, b), (a * b).sum(axis=1), rtol=1e-13)
    assert nex.num_routes() == 1
    total = ne.NumExpr("max(a)")
    for _ in range(2):
        result = total(np.array([3.0, -1.0, 7.5]))
        assert result.shape == () and result == 7.5
    with pytest.raises(ValueError, match="zero-size array to reduction operation maximum"):
        total(np.empty(0))


def test_evaluate_sees_rebound_variables() -> None:
    source = fresh_source("2 * p + q")
    for n in (3, 3, 7, 1):
        p, q = np.arange(float(n)), np.ones(n)
        np.testing.assert_array_equal(ne.evaluate(source), 2 * p + q)
    assert routes(source) == 1
    q = 4.0  # a Python number: a different program, through Python
    np.testing.assert_array_equal(ne.evaluate(source), 2 * p + q)
    q = np.float32(4.0)  # a NumPy scalar: not an ndarray, so through Python every time
    for _ in range(2):
        np.testing.assert_array_equal(ne.evaluate(source), 2 * p + q)


def test_evaluate_with_dicts_and_mappings() -> None:
    source = fresh_source("u * v")
    u, v = np.arange(4.0), np.arange(4.0)
    scope = {"u": u, "v": v}
    ne.evaluate(source, local_dict=scope)
    np.testing.assert_array_equal(ne.evaluate(source, local_dict=scope), u * v)
    np.testing.assert_array_equal(ne.evaluate(source, local_dict={"u": u}, global_dict={"v": v + 1}), u * (v + 1))

    class Scope(dict):
        pass

    np.testing.assert_array_equal(ne.evaluate(source, local_dict=Scope(u=u, v=v)), u * v)
    with pytest.raises(KeyError, match="'v'"):
        ne.evaluate(source, local_dict={"u": u}, global_dict={})


def test_evaluate_in_a_function_reads_its_locals() -> None:
    def inner(values: np.ndarray) -> np.ndarray:
        factor = np.full(3, 2.0)  # noqa: F841 (read by evaluate)
        return ne.evaluate("values * factor")

    factor = np.full(3, 2.0)

    for start in range(3):
        values = np.arange(start, start + 3.0)
        np.testing.assert_array_equal(inner(values), values * factor)


def test_fortran_order_kept_on_the_cpp_path() -> None:
    nex = ne.NumExpr("a * 2")
    for _ in range(2):
        result = nex(np.asfortranarray(np.ones((3, 4))))
        assert result.flags.f_contiguous and not result.flags.c_contiguous
    assert nex(np.ones((3, 4))).flags.c_contiguous


def test_subclasses_go_through_python() -> None:
    class Tagged(np.ndarray):
        pass

    nex = ne.NumExpr("a + 1")
    tagged = np.arange(3.0).view(Tagged)
    for _ in range(2):
        np.testing.assert_array_equal(nex(tagged), np.arange(3.0) + 1)
    assert nex.num_routes() == 0


def test_re_evaluate_after_a_cpp_path_evaluate() -> None:
    source = fresh_source("m - 1")
    m = np.arange(3.0)
    ne.evaluate(source)
    ne.evaluate("m + 100")
    ne.evaluate(source)  # on the C++ path: still the last expression
    np.testing.assert_array_equal(ne.re_evaluate(), m - 1)


def test_many_arguments_beyond_the_cpp_bound() -> None:
    names = [f"{letter}{digit}" for letter in string.ascii_lowercase[:5] for digit in range(7)]  # 35 arguments
    nex = ne.NumExpr(" + ".join(names))
    arrays = [np.full(2, float(i)) for i in range(len(names))]
    for _ in range(2):
        np.testing.assert_array_equal(nex(*arrays), np.full(2, float(sum(range(len(names))))))
    assert nex.num_routes() == 0


def test_no_reference_leaks_on_the_cpp_path() -> None:
    nex = ne.NumExpr("a * b")
    a, b = np.arange(5.0), np.arange(5.0)
    source = fresh_source("a * b")
    nex(a, b)
    ne.evaluate(source)
    before = sys.getrefcount(a), sys.getrefcount(b), sys.getrefcount(nex)
    for _ in range(1000):
        ne.evaluate(source)
    for _ in range(1000):
        result = nex(a, b)
    after = sys.getrefcount(a), sys.getrefcount(b), sys.getrefcount(nex)
    # (Not asserted directly: pytest's assert rewriting would hold one more. And on Python
    # < 3.13 evaluate's f_locals snapshot holds one to every local, hence the order above.)
    result_references = sys.getrefcount(result)
    assert after == before
    assert result_references == 2  # the variable and getrefcount's argument


def test_threads_share_a_dispatcher() -> None:
    nex = ne.NumExpr("a * b + 1", signature=[("a", "f8"), ("b", "f8")])
    errors: list[BaseException] = []

    def work(seed: int) -> None:
        rng = np.random.default_rng(seed)
        try:
            for i in range(300):
                shape = (5,) * (1 + (i + seed) % 3)
                a, b = rng.random(shape), rng.random(shape)
                np.testing.assert_array_equal(nex(a, b), a * b + 1)
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert nex.num_routes() == 3


def test_dispatcher_checks_what_it_is_told() -> None:
    program = _core.Program([("in", "f8", None), ("out", "f8", None)], [("copy", 1, (0,))])
    dispatcher = _core.Dispatcher(("a",))
    a = np.arange(3.0)
    assert not dispatcher.remember(["3.0"], program, [(0, None)], [0])  # no signature
    assert not dispatcher.remember([a.astype(np.float16)], program, [(0, None)], [0])
    assert not dispatcher.remember([a] * 33, program, [(0, None)], [0])  # too many arguments
    with pytest.raises(TypeError, match="Program"):
        dispatcher.remember([a], "copy", [(0, None)], [0])
    with pytest.raises(ValueError, match="position 1 is not one of the 1 arguments"):
        dispatcher.remember([a], program, [(1, None)], [0])
    with pytest.raises(TypeError, match="an input is"):
        dispatcher.remember([a], program, [0], [0])
    with pytest.raises(ValueError, match="unknown type code"):
        dispatcher.remember([a], program, [(0, "f9")], [0])
    with pytest.raises(ValueError, match="needs a type code"):
        dispatcher.remember([2.0], program, [(0, None)], [0])
    with pytest.raises(TypeError, match="names must be strings"):
        _core.Dispatcher((1,))
    assert dispatcher.run_scope({"a": a}, {}) is None  # nothing remembered yet
    assert dispatcher.remember([a], program, [(0, None)], [0])
    assert dispatcher.remember([a], program, [(0, None)], [0])  # known already
    assert dispatcher.num_routes() == 1
    np.testing.assert_array_equal(dispatcher.run_scope({"a": a + 1}, {}), a + 1)
    assert dispatcher.run_scope({}, {}) is None  # missing name
    assert dispatcher.run_scope({"a": a}, ()) is None  # not a dict
    np.testing.assert_array_equal(dispatcher(a), a)  # a remembered call
    assert dispatcher.remember([7], program, [(0, "f8")], [0])  # a Python int, converted to float64
    result = dispatcher(5)
    assert result.dtype == np.float64 and result.shape == () and result == 5.0
    with pytest.raises(AttributeError, match="_call"):
        dispatcher(np.ones((2, 2)))  # a bare dispatcher has no Python path to fall back on


@settings(max_examples=60, deadline=None)
@given(
    scalar=st.one_of(
        st.booleans(),
        st.integers(-(2**70), 2**70),
        st.floats(allow_nan=True, allow_infinity=True),
        st.complex_numbers(max_magnitude=1e6),
    ),
    dtype=st.sampled_from(["i1", "u1", "i8", "u8", "f4", "f8", "c8", "b1"]),
)
def test_python_numbers_on_the_cpp_path_equal_pythons(scalar, dtype: str) -> None:
    """A Python number variable is converted as the Python path converts it (NEP 50), or the
    same exception is raised."""
    source = fresh_source("a * k + a")
    a = np.arange(1, 4).astype(dtype)  # noqa: F841 (read by evaluate)
    outcomes = []
    for _ in range(3):  # Python path, then the C++ path (when the first call succeeded)
        k = scalar  # noqa: F841 (read by evaluate)
        try:
            with np.errstate(all="ignore"):
                result = ne.evaluate(source)
            outcomes.append((result.dtype, result.tobytes()))
        except Exception as error:  # compared below
            outcomes.append((type(error), str(error)))
    assert outcomes[0] == outcomes[1] == outcomes[2]
    if isinstance(outcomes[0][0], np.dtype):  # it ran: the later calls took the C++ path
        assert routes(source) == 1


def test_python_numbers_take_the_cpp_path() -> None:
    source = fresh_source("x * k")
    x = np.arange(4.0)
    for k in (2, 3, -1):
        np.testing.assert_array_equal(ne.evaluate(source), x * k)
    assert routes(source) == 1  # one signature: (float64 rank 1, int)
    for k in (2.5, True, 1j):
        np.testing.assert_array_equal(ne.evaluate(source), x * k)
    assert routes(source) == 4
    nex = ne.NumExpr("x * 2")
    np.testing.assert_array_equal(nex(np.arange(3)), np.arange(3) * 2.0)  # an int array for a float64 signature


def test_re_evaluate_on_the_cpp_path_sees_new_values() -> None:
    source = fresh_source("r * 3")
    r = np.arange(3.0)
    ne.evaluate(source)
    ne.evaluate(source)
    for n in (3, 5):
        r = np.arange(float(n))
        np.testing.assert_array_equal(ne.re_evaluate(), r * 3)
    r = [1.0, 2.0]  # a list: through Python
    np.testing.assert_array_equal(ne.re_evaluate(), np.array(r) * 3)
    out = np.empty(2)
    ne.evaluate(source, out=out)  # not plain: re_evaluate writes into `out` again
    r = np.array([5.0, 6.0])
    assert ne.re_evaluate() is out
    np.testing.assert_array_equal(out, r * 3)


def test_out_calls_on_the_cpp_path() -> None:
    nex = ne.NumExpr("a * b + 1")
    a, b = np.arange(4.0), np.full(4, 2.0)
    out = np.empty(4)
    for _ in range(3):  # the first call compiles and remembers, the others run in C++
        assert nex(a, b, out=out) is out
        np.testing.assert_array_equal(out, a * b + 1)
    assert nex.num_routes() == 1
    wide = np.empty((3, 4))  # inputs broadcast to out's shape, as in NumPy
    assert nex(a, b, out=wide) is wide
    np.testing.assert_array_equal(wide, np.broadcast_to(a * b + 1, (3, 4)))
    assert nex(a, b, out=a) is a  # in place
    np.testing.assert_array_equal(a, np.arange(4.0) * 2 + 1)


def test_out_that_does_not_suit_gets_pythons_errors() -> None:
    nex = ne.NumExpr("a + b")
    a, b = np.arange(4.0), np.ones(4)
    nex(a, b, out=np.empty(4))
    with pytest.raises(ValueError, match="shape"):
        nex(a, b, out=np.empty(5))
    frozen = np.empty(4)
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        nex(a, b, out=frozen)
    with pytest.raises(TypeError):
        nex(a, b, out=np.empty(4, np.float32))  # float64 into float32 is not a safe cast
    complex_out = np.empty(4, complex)  # a safe cast: Python's path does it
    assert nex(a, b, out=complex_out) is complex_out
    np.testing.assert_array_equal(complex_out, a + b)
    with pytest.raises(TypeError, match=r"out must be a numpy\.ndarray"):
        nex(a, b, out=[0.0] * 4)


def test_evaluate_with_out_on_the_cpp_path() -> None:
    source = fresh_source("2 * s")
    out = np.empty(3)
    for n in (1.0, 2.0, 3.0):
        s = np.full(3, n)
        assert ne.evaluate(source, out=out) is out
        np.testing.assert_array_equal(out, 2 * s)
    assert routes(source) == 1
    np.testing.assert_array_equal(ne.re_evaluate(), 2 * s)
    assert out[0] == 6.0
    with pytest.raises(ValueError, match="shape"):
        ne.evaluate(source, out=np.empty(2))
    s = np.arange(3, dtype=np.int64)  # another signature: Python, then remembered
    int_out = np.empty(3, np.int64)
    for _ in range(2):
        assert ne.evaluate(source, out=int_out) is int_out
        np.testing.assert_array_equal(int_out, 2 * s)
    assert routes(source) == 2


def test_a_cached_call_compiles_nothing() -> None:
    scope = {"a": np.arange(3.0)}
    ne.evaluate("a * 3 - 1", local_dict=scope)
    before = _api._compiled.cache_info()
    for _ in range(5):
        ne.evaluate("a * 3 - 1", local_dict=scope)
    after = _api._compiled.cache_info()
    # Not even a cache lookup: the source's dispatcher runs the program in C++.
    assert (after.hits, after.misses) == (before.hits, before.misses)
    assert _api._dispatchers["a * 3 - 1"][0].num_routes() == 1
