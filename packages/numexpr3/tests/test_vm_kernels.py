"""Every kernel of the VM against NumPy's ufunc of the same name, on every type it has.

These tests drive `numexpr3._core.Program` directly, so that a wrong kernel is found here
whatever the front end does with it.
"""

from __future__ import annotations

import warnings

import mpmath
import numpy as np
import pytest

from numexpr3 import _core

SIGNATURES = _core.kernel_signatures()


def make_complex(re: np.ndarray, im: np.ndarray) -> np.ndarray:
    out = np.empty(np.broadcast_shapes(re.shape, im.shape), dtype=np.result_type(re, np.complex64))
    out.real, out.imag = re, im
    return out


def exactly(function):
    """An element-wise reference computed with mpmath, rounded once to the input's type."""

    def reference(x: np.ndarray) -> np.ndarray:
        return np.array([float(function(mpmath.mpf(float(v)))) for v in x]).astype(x.dtype)

    return reference


REFERENCE = {
    "copy": np.copy,
    "where": np.where,
    "real": np.real,
    "imag": np.imag,
    "complex": make_complex,
    # Beyond |x| = 40 the results are exactly 0, 1 or 2 in double (mpmath overflows there).
    "erf": exactly(lambda v: mpmath.erf(v) if abs(v) < 40 else mpmath.sign(v)),
    "erfc": exactly(lambda v: mpmath.erfc(v) if abs(v) < 40 else 1 - mpmath.sign(v)),
}
# Float results may differ from the reference by a few units in the last place (libmvec
# and libm against NumPy's own SIMD loops): the bound test_accuracy.py documents.
ULPS = {"f": {4: 8, 8: 5}, "c": {8: 8, 16: 5}}


def values(typecode: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """Random values of a type, with its edge cases mixed in."""
    dtype = np.dtype(typecode)
    if dtype.kind == "b":
        return rng.integers(0, 2, n).astype(bool)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        edges = np.array([0, 1, 2, 3, info.max, info.min, info.max - 1, 7, 8], dtype=dtype)
        if dtype.kind == "i":
            edges = np.concatenate([edges, np.array([-1, -2, -7, -8, info.min + 1], dtype=dtype)])
        small = rng.integers(max(info.min, -20), min(info.max, 20), n, endpoint=True).astype(dtype)
        wide = rng.integers(info.min, info.max, n, endpoint=True, dtype=dtype)
        mixed = np.where(rng.random(n) < 0.5, small, wide)
        mixed[: len(edges)] = edges
        return mixed
    real = np.dtype(f"f{dtype.itemsize // 2}") if dtype.kind == "c" else dtype
    edges = np.array([0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.5, np.inf, -np.inf, np.nan, 1e-310, 1e300, -3.0], real)
    x = (rng.standard_normal(n) * rng.choice([0.1, 1.0, 10.0, 1e3], n)).astype(real)
    x[: len(edges)] = edges
    if dtype.kind == "c":
        y = (rng.standard_normal(n) * 3).astype(real)
        y[len(edges) : 2 * len(edges)] = edges
        return (x + 1j * y).astype(dtype)
    return x


def run_kernel(op: str, inputs: tuple[str, ...], output: str, arrays: list[np.ndarray], n: int) -> np.ndarray:
    registers = [("in", t, None) for t in inputs] + [("out", output, None)]
    program = _core.Program(registers, [(op, len(inputs), tuple(range(len(inputs))))])
    out = np.empty(n, dtype=output)
    program.run(arrays, [out])
    return out


def assert_matches(got: np.ndarray, want: np.ndarray, context: str) -> None:
    assert got.dtype == want.dtype, context
    if got.dtype.kind in "fc":
        parts = [(got.real, want.real), (got.imag, want.imag)] if got.dtype.kind == "c" else [(got, want)]
        ulps = ULPS[got.dtype.kind][got.dtype.itemsize]
        for g, w in parts:
            nan = np.isnan(w)
            assert np.array_equal(np.isnan(g), nan), f"{context}: NaN positions differ"
            finite = ~nan & np.isfinite(w)
            assert np.array_equal(g[~finite & ~nan], w[~finite & ~nan]), f"{context}: infinities differ"
            spacing = np.spacing(np.abs(w[finite]).astype(w.dtype)) * ulps
            # Complex functions are compared in the norm of the whole value.
            scale = np.abs(want[finite]) if got.dtype.kind == "c" else np.abs(w[finite])
            tol = np.maximum(spacing, np.spacing(scale.astype(w.dtype)) * ulps)
            bad = np.abs(g[finite] - w[finite]) > tol
            assert not bad.any(), f"{context}: {g[finite][bad][:5]} != {w[finite][bad][:5]}"
    else:
        assert np.array_equal(got, want), f"{context}: {got[got != want][:5]} != {want[got != want][:5]}"


CASES = [(op, inputs, output) for op, sigs in sorted(SIGNATURES.items()) if op != "cast" for inputs, output in sigs]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize(("op", "inputs", "output"), CASES, ids=[f"{c[0]}-{'_'.join(c[1])}" for c in CASES])
def test_kernel_matches_numpy(op: str, inputs: tuple[str, ...], output: str) -> None:
    rng = np.random.default_rng(abs(hash((op, inputs))) % 2**32)
    n = 3000
    arrays = [values(t, n, rng) for t in inputs]
    if op in ("left_shift", "right_shift"):
        bits = np.dtype(inputs[1]).itemsize * 8
        arrays[1] = rng.integers(-3, bits + 3, n).astype(inputs[1])
    if op == "power" and np.dtype(inputs[0]).kind in "iu":
        arrays[1] = rng.integers(0, 9, n).astype(inputs[1])  # negative exponents raise (tested below)
    reference = REFERENCE.get(op) or getattr(np, op)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        want = np.asarray(reference(*arrays)).astype(output)
    got = run_kernel(op, inputs, output, arrays, n)
    assert_matches(got, want, f"{op}{inputs}")
    # The scalar-operand paths must agree with the vector path.
    for i in range(len(inputs)):
        scalars = [a if j != i else a[5:6] for j, a in enumerate(arrays)]
        broadcast = [np.broadcast_to(a, (n,)) for a in scalars]
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            want_scalar = np.asarray(reference(*broadcast)).astype(output)
        got_scalar = run_kernel(op, inputs, output, scalars, n)
        assert_matches(got_scalar, want_scalar, f"{op}{inputs} scalar operand {i}")


def test_every_numpy_ufunc_loop_of_the_supported_types_has_a_kernel() -> None:
    """The VM covers NumPy's loops for its types, so that the front end never lacks one."""
    supported = {"?", "b", "h", "i", "l", "q", "B", "H", "I", "L", "Q", "f", "d", "F", "D"}
    missing = []
    for op, sigs in SIGNATURES.items():
        ufunc = getattr(np, op, None)
        if not isinstance(ufunc, np.ufunc):
            continue
        have = {tuple(sig[0]) for sig in sigs}
        for loop in ufunc.types:
            ins, _ = loop.split("->")
            if not set(ins) <= supported:
                continue
            codes = tuple(np.dtype(c).str[1:] for c in ins)
            if codes not in have and not (op == "reciprocal" and np.dtype(ins[0]).kind in "iub"):
                missing.append((op, codes))
    assert not missing, missing


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("source", sorted({s[0][0] for s in SIGNATURES["cast"]}))
def test_cast_matches_numpy_astype(source: str) -> None:
    rng = np.random.default_rng(7)
    x = values(source, 500, rng)
    for target in sorted({s[1] for s in SIGNATURES["cast"]}):
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            want = x.astype(target)
            got = run_kernel("cast", (source,), target, [x], len(x))
        if np.dtype(source).kind in "fc" and np.dtype(target).kind in "iu":
            # Out-of-range and NaN conversions are platform-defined in NumPy; compare the rest.
            real = x.real if np.dtype(source).kind == "c" else x
            info = np.iinfo(target)
            ok = np.isfinite(real) & (real > float(info.min) - 1) & (real < float(info.max) + 1)
            got, want = got[ok], want[ok]
        assert_matches(got, want, f"cast {source}->{target}")


def test_integer_power_with_negative_exponent_raises_like_numpy() -> None:
    with pytest.raises(ValueError, match="negative integer powers"):
        run_kernel("power", ("i4", "i4"), "i4", [np.array([2, 3], "i4"), np.array([1, -1], "i4")], 2)


def test_missing_kernel_is_a_type_error() -> None:
    with pytest.raises(TypeError, match=r"bitwise_and\(f8, f8\)"):
        _core.Program([("in", "f8", None), ("out", "f8", None)], [("bitwise_and", 1, (0, 0))])


@pytest.mark.parametrize("layout", ["contiguous", "unaligned", "strided", "two outputs"])
def test_large_outputs_in_every_layout(layout: str) -> None:
    """Outputs larger than the caches, split between threads, land whole in any layout."""
    n = 1_500_001
    rng = np.random.default_rng(3)
    a, b = rng.random(n), rng.random(n)
    registers = [("in", "f8", None), ("in", "f8", None), ("out", "f8", None)]
    instructions = [("add", 2, (0, 1))]
    if layout == "unaligned":
        raw = np.empty(8 * n + 8, dtype=np.uint8)
        out = raw[4 : 4 + 8 * n].view("f8")
    elif layout == "strided":
        out = np.empty(2 * n)[::2]
    else:
        out = np.empty(n)
    outputs = [out]
    if layout == "two outputs":
        registers.append(("out", "f8", None))
        instructions.append(("multiply", 3, (0, 1)))
        outputs.append(np.empty(n))
    _core.Program(registers, instructions).run([a, b], outputs)
    np.testing.assert_array_equal(outputs[0], a + b)
    if layout == "two outputs":
        np.testing.assert_array_equal(outputs[1], a * b)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("typecode", ["c8", "c16"])
def test_complex_power_special_cases_match_numpy(typecode: str) -> None:
    """z**0 = 1 (also for 0, inf, NaN), 0**b by the sign of Re b, exact small integer powers."""
    z = np.array([0, 0, 0, 0, np.inf, np.nan, 2 + 1j, 1 + 1j, -2, 1.5 + 0.5j, 1e-3j], typecode)
    b = np.array([0, -1, 2, 1 + 1j, 0, 0, 3, -2, 0.5, 0.3 + 2j, 7], typecode)
    got = run_kernel("power", (typecode, typecode), typecode, [z, b], len(z))
    want = np.power(z, b)
    assert_matches(got, want, f"power {typecode}")


def test_empty_reduction_output_with_any_strides() -> None:
    program = _core.Program(
        [("in", "f8", None), ("out", "f8", None), ("temp", "f8", None)], [("copy", 2, (0,))], ("sum", (1,))
    )
    out = np.empty((0, 1))
    program.run([np.zeros((0, 3))], [out], (0, 3))
    assert out.shape == (0, 1)


@pytest.mark.parametrize(
    ("input_view", "output_view"),
    [
        (lambda m: m[:-1], lambda m: m[1:]),  # shifted by one element
        (lambda m: m[1:], lambda m: m[:-1]),
        (lambda m: m[::-1], lambda m: m),  # reversed onto itself
        (lambda m: m[::2], lambda m: m[: (len(m) + 1) // 2]),  # strided onto its own start
        (lambda m: m, lambda m: m),  # the same elements: in place, no copy needed
    ],
)
@pytest.mark.parametrize("size", [101, 20_001])  # one block on the caller's thread; the general path
def test_inputs_overlapping_the_output_are_read_before_written(input_view, output_view, size: int) -> None:
    memory = np.arange(size, dtype="f8")
    a = input_view(memory)
    out = output_view(memory)
    n = min(len(a), len(out))
    a, out = a[:n], out[:n]
    want = a * 2 + 1  # computed before anything is overwritten
    program = _core.Program(
        [("in", "f8", None), ("out", "f8", None), ("const", "f8", 2.0), ("const", "f8", 1.0), ("temp", "f8", None)],
        [("multiply", 4, (0, 2)), ("add", 1, (4, 3))],
    )
    program.run([a], [out])
    np.testing.assert_array_equal(out, want)
