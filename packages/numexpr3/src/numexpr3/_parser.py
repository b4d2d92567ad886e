"""Parse an expression string into a small, whitelisted expression graph.

The string goes through `ast.parse` only; nothing of it is ever compiled to code or
executed. Every AST node type that is not explicitly allowed is rejected with an
`ExpressionError` whose message points at the offending token.

The result is a `Parsed` program: a hash-consed graph of untyped nodes (identical
subexpressions share one node) plus the statements that refer to it. Node shapes:

- ``("name", name)``: a variable looked up at call time;
- ``("const", value)``: a Python bool/int/float/complex literal (weakly typed) or a byte
  string (``b'...'``, or an ASCII ``'...'`` as in numexpr 2);
- ``("op", op, args)``: an element-wise operation (NumPy ufunc name or one of
  `SPECIAL_FUNCTIONS`) of the nodes ``args``;
- ``("reduce", op, arg, axis)``: a reduction (`REDUCTIONS`) over ``axis`` (None or int);
- ``("bound", target, value)``: a use of the name ``target`` assigned earlier in the program.
"""

from __future__ import annotations

import ast
import difflib
from dataclasses import dataclass
from typing import Literal, TypeAlias

__all__ = ["ELEMENTWISE_FUNCTIONS", "REDUCTIONS", "ExpressionError", "Parsed", "parse"]

#: A Python scalar the VM computes with.
Scalar: TypeAlias = bool | int | float | complex
#: A literal of an expression: a number or a byte string.
Constant: TypeAlias = Scalar | bytes
#: The nodes of `Parsed.nodes` (see the module's docstring).
Node: TypeAlias = (
    tuple[Literal["name"], str]
    | tuple[Literal["const"], Constant]
    | tuple[Literal["op"], str, tuple[int, ...]]
    | tuple[Literal["reduce"], str, int, int | None]
    | tuple[Literal["bound"], str, int]
)

_UNARY_UFUNCS = [
    "sqrt",
    "cbrt",
    "sin",
    "cos",
    "tan",
    "arcsin",
    "arccos",
    "arctan",
    "sinh",
    "cosh",
    "tanh",
    "arcsinh",
    "arccosh",
    "arctanh",
    "exp",
    "expm1",
    "exp2",
    "log",
    "log1p",
    "log10",
    "log2",
    "absolute",
    "floor",
    "ceil",
    "trunc",
    "rint",
    "sign",
    "conjugate",
    "isnan",
    "isinf",
    "isfinite",
    "signbit",
    "square",
    "reciprocal",
    "logical_not",
    "negative",
    "positive",
    "invert",
]
_BINARY_UFUNCS = [
    "arctan2",
    "fmod",
    "hypot",
    "copysign",
    "nextafter",
    "minimum",
    "maximum",
    "fmin",
    "fmax",
    "logical_and",
    "logical_or",
    "logical_xor",
    "power",
    "add",
    "subtract",
    "multiply",
    "true_divide",
    "floor_divide",
    "remainder",
    "bitwise_and",
    "bitwise_or",
    "bitwise_xor",
    "left_shift",
    "right_shift",
    "less",
    "less_equal",
    "equal",
    "not_equal",
    "greater",
    "greater_equal",
]
#: Element-wise functions that are not NumPy ufuncs, with their number of arguments.
SPECIAL_FUNCTIONS = {
    "where": 3,
    "complex": 2,
    "real": 1,
    "imag": 1,
    "erf": 1,
    "erfc": 1,
    "copy": 1,
    "ones_like": 1,
    "contains": 2,
    "round": 1,
}
#: Every callable element-wise function: canonical op name -> number of arguments.
ELEMENTWISE_FUNCTIONS = {
    **dict.fromkeys(_UNARY_UFUNCS, 1),
    **dict.fromkeys(_BINARY_UFUNCS, 2),
    **SPECIAL_FUNCTIONS,
}
#: Spellings accepted for the same operation (numexpr 2's and NumPy 2's short names).
_ALIASES = {
    "abs": "absolute",
    "conj": "conjugate",
    "asin": "arcsin",
    "acos": "arccos",
    "atan": "arctan",
    "asinh": "arcsinh",
    "acosh": "arccosh",
    "atanh": "arctanh",
    "atan2": "arctan2",
    "pow": "power",
    "mod": "remainder",
    "divide": "true_divide",
}
#: Reductions: name -> VM reduction op (mean is a sum divided by the count afterwards).
REDUCTIONS = {"sum": "sum", "prod": "prod", "min": "min", "max": "max", "any": "any", "all": "all", "mean": "sum"}

_BINARY_OPERATORS = {
    ast.Add: "add",
    ast.Sub: "subtract",
    ast.Mult: "multiply",
    ast.Div: "true_divide",
    ast.FloorDiv: "floor_divide",
    ast.Mod: "remainder",
    ast.Pow: "power",
    ast.BitAnd: "bitwise_and",
    ast.BitOr: "bitwise_or",
    ast.BitXor: "bitwise_xor",
    ast.LShift: "left_shift",
    ast.RShift: "right_shift",
}
_UNARY_OPERATORS = {ast.USub: "negative", ast.UAdd: "positive", ast.Invert: "invert", ast.Not: "logical_not"}
_COMPARISONS = {
    ast.Lt: "less",
    ast.LtE: "less_equal",
    ast.Eq: "equal",
    ast.NotEq: "not_equal",
    ast.Gt: "greater",
    ast.GtE: "greater_equal",
}
_BOOL_OPERATORS = {ast.And: "logical_and", ast.Or: "logical_or"}
# What to call a rejected node in an error message.
_DESCRIPTIONS = {
    ast.Subscript: "subscripts",
    ast.Lambda: "lambda",
    ast.ListComp: "comprehensions",
    ast.SetComp: "comprehensions",
    ast.DictComp: "comprehensions",
    ast.GeneratorExp: "generator expressions",
    ast.Starred: "starred arguments",
    ast.JoinedStr: "f-strings",
    ast.NamedExpr: "the walrus operator ':='",
    ast.IfExp: "conditional expressions (use where(cond, a, b))",
    ast.List: "lists",
    ast.Tuple: "tuples",
    ast.Dict: "dicts",
    ast.Set: "sets",
    ast.Await: "await",
    ast.Slice: "slices",
    ast.Import: "imports",
    ast.ImportFrom: "imports",
}


class ExpressionError(SyntaxError, ValueError):
    """A malformed or disallowed expression; the message points at the offending token."""

    def __str__(self) -> str:
        # The source line and a caret under the token (tracebacks draw them from text/offset).
        if self.text is None or self.offset is None:
            return str(self.msg)
        return f"{self.msg}\n    {self.text}\n    {' ' * (self.offset - 1)}^"


@dataclass(frozen=True)
class Parsed:
    """A parsed program: the expression graph and the statements using it."""

    source: str
    #: Hash-consed untyped nodes; a node's arguments always have smaller indices.
    nodes: tuple[Node, ...]
    #: ``(target or None, node index)`` per statement, in order.
    statements: tuple[tuple[str | None, int], ...]
    #: Variables read before any assignment to them, in order of first use.
    names: tuple[str, ...]
    #: Assigned names, in order of first assignment.
    targets: tuple[str, ...]


def _location(source: str, lineno: int, col_offset: int) -> tuple[int, str]:
    """(character column, line text) of a position as `ast` gives it (a UTF-8 byte offset)."""
    lines = source.splitlines() or [""]
    line = lines[min(lineno, len(lines)) - 1]
    return len(line.encode()[:col_offset].decode(errors="ignore")), line


_CONTEXT = 40  # characters of the line shown either side of the caret


def _node_error(source: str, node: ast.AST, message: str) -> ExpressionError:
    """An error pointing at the start of an AST node (the module's start if it has none)."""
    return _error(source, getattr(node, "lineno", 1), getattr(node, "col_offset", 0), message)


def _error(source: str, lineno: int, col_offset: int, message: str) -> ExpressionError:
    """An error pointing at line `lineno` (1-based), UTF-8 byte `col_offset` (0-based)."""
    column, line = _location(source, lineno, col_offset)
    start = max(column - _CONTEXT, 0)
    shown = (
        ("..." if start else "") + line[start : column + _CONTEXT] + ("..." if column + _CONTEXT < len(line) else "")
    )
    caret = column - start + (3 if start else 0)
    return ExpressionError(
        f"{message} (line {lineno}, column {column + 1})", ("<expression>", lineno, caret + 1, shown)
    )


def _check_name(source: str, node: ast.AST, name: str) -> None:
    if name.startswith("__"):
        raise _node_error(source, node, f"name {name!r} is not allowed (dunder names are rejected)")


class _Builder:
    """Converts a module AST into a `Parsed` graph, without recursion."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.nodes: list[Node] = []
        self.index: dict[Node | tuple[str, type[object], str], int] = {}
        self.names: dict[str, None] = {}
        self.bound: dict[str, int] = {}

    def intern(self, node: Node) -> int:
        # -0.0 == 0.0 and 1 == True == 1.0, so constants are keyed by type and repr.
        key = ("const", type(node[1]), repr(node[1])) if node[0] == "const" else node
        found = self.index.get(key)
        if found is None:
            found = self.index[key] = len(self.nodes)
            self.nodes.append(node)
        return found

    def error(self, node: ast.AST, message: str) -> ExpressionError:
        return _node_error(self.source, node, message)

    # -- checking: the operands of an allowed node --------------------------------------------

    def children(self, node: ast.AST) -> list[ast.AST]:
        """The operand nodes of an allowed node; raises for anything not allowed."""
        if isinstance(node, (ast.Name, ast.Constant)):
            return []
        if isinstance(node, ast.BinOp):
            if type(node.op) not in _BINARY_OPERATORS:
                raise self.error(node, "the matrix product '@' is not supported")
            return [node.left, node.right]
        if isinstance(node, ast.UnaryOp):
            return [node.operand]
        if isinstance(node, ast.Compare):
            self.check_comparisons(node)
            return [node.left, *node.comparators]
        if isinstance(node, ast.BoolOp):
            return list(node.values)
        if isinstance(node, ast.Attribute):
            self.check_attribute(node)
            return [node.value]
        if isinstance(node, ast.Call):
            return self.call_operands(node)
        what = _DESCRIPTIONS.get(type(node), type(node).__name__)
        raise self.error(node, f"{what} not allowed in an expression")

    def check_comparisons(self, node: ast.Compare) -> None:
        for op in node.ops:
            if type(op) not in _COMPARISONS:
                word = {ast.Is: "is", ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in"}[type(op)]
                raise self.error(node, f"'{word}' is not supported (compare values with == or !=)")

    def check_attribute(self, node: ast.Attribute) -> None:
        if node.attr not in ("real", "imag"):
            # Point at the attribute name (it ends the node), not at the expression before it.
            raise _error(
                self.source,
                node.end_lineno or node.lineno,
                (node.end_col_offset or 0) - len(node.attr.encode()),
                f"attribute access '.{node.attr}' is not allowed (only .real and .imag)",
            )

    def call_operands(self, node: ast.Call) -> list[ast.AST]:
        if not isinstance(node.func, ast.Name):
            raise self.error(node, "only calls of functions by name are allowed")
        name = node.func.id
        if name in REDUCTIONS:
            self.reduction_axis(node, name)  # validates the arguments
            return [node.args[0]]
        op = _ALIASES.get(name, name)
        arity = ELEMENTWISE_FUNCTIONS.get(op)
        if arity is None:
            known = [*ELEMENTWISE_FUNCTIONS, *_ALIASES, *REDUCTIONS]
            close = difflib.get_close_matches(name, known, n=3)
            hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            raise self.error(node, f"unknown function {name!r}{hint}")
        if node.keywords:
            raise self.error(node.keywords[0], f"{name}() takes no keyword arguments")
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                raise self.error(arg, "starred arguments not allowed in an expression")
        if len(node.args) != arity:
            raise self.error(node, f"{name}() takes {arity} argument{'s' * (arity > 1)}, got {len(node.args)}")
        return list(node.args)

    def reduction_axis(self, node: ast.Call, name: str) -> int | None:
        """The axis of a reduction call `name(...)`: `sum(x)`, `sum(x, 1)` or `sum(x, axis=-1)`."""
        axes = list(node.args[1:])
        for keyword in node.keywords:
            if keyword.arg != "axis":
                raise self.error(keyword, f"{name}() got an unexpected keyword argument {keyword.arg!r}")
            axes.append(keyword.value)
        if not node.args or len(axes) > 1 or isinstance(node.args[0], ast.Starred):
            raise self.error(node, f"{name}() takes one expression and an optional axis")
        if not axes:
            return None
        axis = axes[0]
        if isinstance(axis, ast.Constant) and axis.value is None:
            return None
        sign = 1
        if isinstance(axis, ast.UnaryOp) and isinstance(axis.op, ast.USub):
            sign, axis = -1, axis.operand
        if not (isinstance(axis, ast.Constant) and type(axis.value) is int):
            raise self.error(axis, f"the axis of {name}() must be an integer literal or None")
        return sign * axis.value

    # -- building: the graph node of a checked node ------------------------------------------

    def combine(self, node: ast.AST, args: list[int]) -> int:
        """The graph node of an allowed AST node whose operands are already converted."""
        if isinstance(node, ast.Name):
            return self.variable(node)
        if isinstance(node, ast.Constant):
            return self.intern(("const", self.constant(node)))
        if isinstance(node, ast.BinOp):
            return self.intern(("op", _BINARY_OPERATORS[type(node.op)], tuple(args)))
        if isinstance(node, ast.UnaryOp):
            return self.intern(("op", _UNARY_OPERATORS[type(node.op)], tuple(args)))
        if isinstance(node, ast.Compare):
            return self.comparisons(node, args)
        if isinstance(node, ast.BoolOp):
            return self.chain(_BOOL_OPERATORS[type(node.op)], args)
        if isinstance(node, ast.Attribute):
            return self.intern(("op", node.attr, tuple(args)))
        assert isinstance(node, ast.Call)  # children() allows nothing else
        return self.call(node, args)

    def variable(self, node: ast.Name) -> int:
        """A name: the value assigned to it earlier in the program, or a variable."""
        _check_name(self.source, node, node.id)
        if node.id in self.bound:
            return self.intern(("bound", node.id, self.bound[node.id]))
        self.names.setdefault(node.id)
        return self.intern(("name", node.id))

    def constant(self, node: ast.Constant) -> Constant:
        value = node.value
        if type(value) is str:  # a byte string, as in numexpr 2
            if not value.isascii():
                raise self.error(node, "str constants must be ASCII (they are byte strings; or write b'...')")
            value = value.encode("ascii")
        # (`ast` makes constants of these exact types, never of subclasses.)
        if not isinstance(value, (int, float, complex, bytes)):
            raise self.error(node, f"constants of type {type(value).__name__} are not supported")
        return value

    def comparisons(self, node: ast.Compare, args: list[int]) -> int:
        """A chain of comparisons, `a < b <= c`: the logical and of each pair."""
        pairs = [
            self.intern(("op", _COMPARISONS[type(op)], (left, right)))
            for op, left, right in zip(node.ops, args, args[1:])
        ]
        return self.chain("logical_and", pairs)

    def call(self, node: ast.Call, args: list[int]) -> int:
        assert isinstance(node.func, ast.Name)  # call_operands() checked it
        name = node.func.id
        if name in REDUCTIONS:
            return self.intern(("reduce", name, args[0], self.reduction_axis(node, name)))
        return self.intern(("op", _ALIASES.get(name, name), tuple(args)))

    def chain(self, op: str, args: list[int]) -> int:
        result = args[0]
        for arg in args[1:]:
            result = self.intern(("op", op, (result, arg)))
        return result

    def convert(self, root: ast.AST) -> int:
        """Post-order conversion with an explicit stack (deep expressions do not recurse)."""
        done: dict[int, int] = {}
        stack: list[tuple[ast.AST, list[ast.AST] | None]] = [(root, None)]
        while stack:
            node, children = stack.pop()
            if children is None:
                children = self.children(node)
                stack.append((node, children))
                stack.extend((child, None) for child in reversed(children))
            else:
                done[id(node)] = self.combine(node, [done[id(child)] for child in children])
        return done[id(root)]


def parse(source: str) -> Parsed:
    """Parse an expression or a program of `;`/newline-separated statements.

    Raises `ExpressionError` (a `SyntaxError` and a `ValueError`) for malformed or
    disallowed input, and `ValueError` when the expression is too long or too deeply nested
    for Python's parser.
    """
    if not isinstance(source, str):
        raise TypeError(f"the expression must be a str, not {type(source).__name__}")
    text = source.strip()
    try:
        module = ast.parse(text, mode="exec")
    except SyntaxError as error:
        column = max((error.offset or 1) - 1, 0)
        raise _error(text, error.lineno or 1, column, f"invalid syntax: {error.msg}") from None
    except (RecursionError, MemoryError):
        raise ValueError("expression too long or too deeply nested") from None
    if not module.body:
        raise ExpressionError("empty expression")
    builder = _Builder(text)
    statements: list[tuple[str | None, int]] = []
    targets: dict[str, None] = {}
    for statement in module.body:
        if isinstance(statement, ast.Expr):
            statements.append((None, builder.convert(statement.value)))
        elif (
            isinstance(statement, ast.Assign)
            and len(statement.targets) == 1
            and isinstance(statement.targets[0], ast.Name)
        ):
            target = statement.targets[0].id
            _check_name(text, statement.targets[0], target)
            value = builder.convert(statement.value)
            builder.bound[target] = value
            targets.setdefault(target)
            statements.append((target, value))
        else:
            what = _DESCRIPTIONS.get(type(statement), type(statement).__name__)
            raise builder.error(statement, f"{what} not allowed: only expressions and 'name = expression' statements")
    return Parsed(text, tuple(builder.nodes), tuple(statements), tuple(builder.names), tuple(targets))
