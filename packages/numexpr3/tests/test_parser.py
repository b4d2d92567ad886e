"""Parsing: the allowed syntax, and clear errors (never execution) for everything else."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import numexpr3 as ne
from numexpr3._parser import parse

a = np.arange(-3.0, 4.0)
b = np.arange(1.0, 8.0) / 3
SENTINEL = []


def poke() -> None:
    """A function that must never be called by an expression."""
    SENTINEL.append("called")


HOSTILE = [
    "__import__('os').system('touch {path}')",
    "open('{path}', 'w').write('x')",
    "().__class__.__bases__[0].__subclasses__()",
    "a.__class__",
    "poke()",
    "[poke() for x in a]",
    "(lambda: poke())()",
    'exec(\'open("{path}", "w")\')',
    "eval('poke()')",
    "globals()['poke']()",
    "a if poke() else b",
    "f'{poke()}'",
    "(x := poke())",
    "import os",
    "del a",
    "a[0]",
    "a.sum()",
    "*a",
    "sin(*a)",
    "sum(a, key=poke)",
    "a; poke()",
    "__builtins__",
    "t = 1; t.__class__",
    "sin.__call__(a)",
    "a.real.__class__",
    "for x in a: pass",
    "async def f(): pass",
    "a += 1",
    "a, b = b, a",
    "a = b = 1",
    "a.b = 1",
    "None",
    "...",
    "{1: 2}",
    "{a}",
    "[a]",
    "(a, b)",
    "a[::2]",
    "a is b",
    "a not in b",
    "a @ b",
]


@pytest.mark.parametrize("template", HOSTILE)
def test_hostile_strings_are_rejected_without_executing(template: str, tmp_path) -> None:
    path = tmp_path / "pwned"
    expression = template.replace("{path}", str(path))
    before = dict(globals())
    with pytest.raises((SyntaxError, ValueError, TypeError, KeyError)):
        ne.evaluate(expression)
    assert not path.exists()
    assert SENTINEL == []
    assert globals().keys() == before.keys()
    assert isinstance(ne.validate(expression), (SyntaxError, ValueError, TypeError, KeyError))


@pytest.mark.parametrize(
    ("expression", "token", "column"),
    [
        ("a + sine(b)", "unknown function 'sine'; did you mean 'sin'", 5),
        ("a + b.__class__", "'.__class__'", 7),
        ("2 * a[0]", "subscripts", 5),
        ("a +* b", "invalid syntax", 4),
        ("sum(a, axis=b)", "axis", 13),
        ("sin(a, b)", "sin() takes 1 argument, got 2", 1),
        ("a + 'é'", "str constants must be ASCII", 5),
        ("a + None", "constants of type NoneType", 5),
        ("where(a > 0, a)", "where() takes 3 arguments", 1),
    ],
)
def test_errors_point_at_the_offending_token(expression: str, token: str, column: int) -> None:
    with pytest.raises(ne.ExpressionError) as info:
        ne.evaluate(expression)
    message = str(info.value)
    assert token in message
    assert f"column {column}" in message
    source_line, caret_line = message.splitlines()[-2:]
    assert source_line.strip() == expression
    assert caret_line.index("^") - source_line.index(expression[0]) == column - 1
    assert isinstance(info.value, SyntaxError)
    assert isinstance(info.value, ValueError)


def test_dunder_names_are_rejected() -> None:
    with pytest.raises(ne.ExpressionError, match="dunder"):
        ne.evaluate("__x__ + 1", local_dict={"__x__": a})
    with pytest.raises(ne.ExpressionError, match="dunder"):
        ne.evaluate("__t = a; __t")


def test_unknown_variable_is_a_key_error() -> None:
    with pytest.raises(KeyError, match="undefined_name"):
        ne.evaluate("a + undefined_name")


def test_long_and_deep_expressions_work_or_fail_cleanly() -> None:
    x = np.arange(5.0)
    long_sum = " + ".join(["x"] * 1000)
    np.testing.assert_allclose(ne.evaluate(long_sum), 1000 * x)
    nested = "-" * 1000 + "x"
    np.testing.assert_array_equal(ne.evaluate(nested), x)
    for expression in ["+".join(["x"] * 50_000), "(" * 1000 + "x" + ")" * 1000, "sin(" * 500 + "x" + ")" * 500]:
        with pytest.raises(ValueError, match=r"nested|too long"):
            ne.evaluate(expression)
    huge = "x" + " + 1" * 25_000  # 10^5 characters
    with pytest.raises(ValueError):
        ne.evaluate(huge)


def test_error_messages_of_long_lines_are_short() -> None:
    expression = "a + " * 2000 + "sine(a)"
    with pytest.raises(ne.ExpressionError) as info:
        ne.evaluate(expression)
    assert len(str(info.value)) < 300


def test_recursion_limit_is_untouched() -> None:
    limit = sys.getrecursionlimit()
    with pytest.raises(ValueError):
        ne.evaluate("+".join(["a"] * 50_000))
    assert sys.getrecursionlimit() == limit


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("a < b < 2", (a < b) & (b < 2)),
        ("a > 0 and b > 1", (a > 0) & (b > 1)),
        ("a > 0 or not b > 1", (a > 0) | ~(b > 1)),
        ("not a", ~a.astype(bool)),
        ("-a**2", -(a**2)),
        ("(-a)**2", (-a) ** 2),
        ("2**-1 * a", 0.5 * a),
        ("a - b - 1", a - b - 1),
        ("a / b / 2", a / b / 2),
        ("a % 3 * 2", a % 3 * 2),
        ("~(a > 0) | (b > 1)", ~(a > 0) | (b > 1)),
        ("a if True else b" if False else "abs(a) + conj(b)", np.abs(a) + b),
        ("sum(a, axis=0)", a.sum()),
        ("sum(a, 0) + max(b, axis=-1) + min(a, axis=None)", a.sum() + b.max() + a.min()),
        ("a.real + b.imag", a),
        ("(a * 1j).imag", a),
        ("\n  a + 1\n", a + 1),
        ("t = a + 1\nt * 2", (a + 1) * 2),
        ("x = 2; y = x * a; y + x", 2 * a + 2),
        ("True + a", a + 1),
        ("a * 1_000", a * 1000),
        ("1e3 * a + 0x10", 1e3 * a + 16),
    ],
)
def test_allowed_syntax(expression: str, expected: np.ndarray) -> None:
    with np.errstate(all="ignore"):
        np.testing.assert_allclose(ne.evaluate(expression), expected)


def test_parsed_program_shares_common_subexpressions() -> None:
    parsed = parse("sin(a*b) + sin(a*b) * (a*b)")
    assert sum(1 for node in parsed.nodes if node[:2] == ("op", "multiply")) == 2  # a*b once, one product
    assert parsed.names == ("a", "b")


def test_empty_and_non_string_expressions() -> None:
    with pytest.raises(ne.ExpressionError):
        ne.evaluate("   ")
    with pytest.raises(TypeError):
        ne.evaluate(b"a + 1")  # type: ignore[arg-type]


@pytest.mark.parametrize("expression", ["9**9**9**9 + a", "(1 << 10**9) * a", "t = 2**1000; t = t*t; t = t*t; t*a"])
def test_huge_literal_arithmetic_is_refused_quickly(expression: str) -> None:
    with pytest.raises(OverflowError):
        ne.evaluate(expression)
