"""Type a parsed program with NumPy's rules and compile it into VM programs.

Typing follows NumPy 2 (NEP 50): every operation is typed by its ufunc's
``resolve_dtypes``, with Python scalars (literals and Python-number variables) weak, so
``f32 * 2.0`` stays float32. float16 never appears: where NumPy would pick it, float32 is
used. Casts are explicit ``"cast"`` instructions.

The typed expression is a hash-consed DAG per stage (common subexpressions are shared),
with constant folding, ``x**n`` strength reduction and temporaries allocated by liveness.
Each reduction, and each operation on byte strings, becomes its own stage whose result
feeds the stages after it; the last stage writes the outputs. Running the stages is
`_runtime`'s.
"""

from __future__ import annotations

import math
import operator
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal, NamedTuple, TypeAlias, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._parser import REDUCTIONS, Constant, Parsed, Scalar
from ._runtime import Compiled, ResultKind, Stage, StringOperation, VirtualMachine

if TYPE_CHECKING:
    from ._core import Instruction, Register, RegisterKind

__all__ = ["compile_program", "kernel_table", "native_typecode"]

#: NumPy's casting rules, for storing results into `out=` and assigned arrays.
Casting: TypeAlias = Literal["no", "equiv", "safe", "same_kind", "unsafe"]
#: A compiled argument: (type code, ndim, needs conversion) of an array, or the Python type
#: of a weakly typed scalar.
ArgumentSpec: TypeAlias = tuple[str, int, bool] | type[Scalar]
#: (type code, ndim) of an array the program writes into.
ArraySpec: TypeAlias = tuple[str, int]
#: The VM's kernels: op -> {input type codes: output type code}.
Kernels: TypeAlias = dict[str, dict[tuple[str, ...], str]]
#: What an operation is typed by: a type code, or the Python type of a weak scalar.
LoopSpec: TypeAlias = str | type[Constant]
#: A program's instructions as text, one ``(op, dest, *sources)`` per instruction.
Listing: TypeAlias = tuple[tuple[str, ...], ...]

#: The 13 type codes of the VM.
TYPECODES = ("b1", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f4", "f8", "c8", "c16")
#: The front end's type code of byte strings (any width): only string stages read them.
BYTES = "S"
_DEFAULT_TYPECODES: dict[type[Constant], str] = {
    bool: "b1",
    int: np.dtype(np.int_).str[1:],
    float: "f8",
    complex: "c16",
    bytes: BYTES,
}
#: Operations on byte strings (each a string stage of its own).
_STRING_OPS = frozenset({"less", "less_equal", "equal", "not_equal", "greater", "greater_equal", "contains"})
_PYTHON_TYPES: dict[str, type[Scalar]] = {"b": bool, "i": int, "u": int, "f": float, "c": complex}
_COMPLEX_PARTS = {"c8": "f4", "c16": "f8"}
_COMPLEX_OF = {"f4": "c8", "f8": "c16"}
_LOGICAL = frozenset({"logical_and", "logical_or", "logical_xor", "logical_not"})
# op -> the op with its operands swapped (x OP v == v SWAPPED x).
_COMPARISONS = {
    "less": "greater",
    "less_equal": "greater_equal",
    "equal": "equal",
    "not_equal": "not_equal",
    "greater": "less",
    "greater_equal": "less_equal",
}
# The value of `x OP v` for every integer x when v is above (True) the dtype's range.
_ABOVE_RANGE = {
    "less": True,
    "less_equal": True,
    "not_equal": True,
    "greater": False,
    "greater_equal": False,
    "equal": False,
}
_BELOW_RANGE = {op: not value if op not in ("equal", "not_equal") else value for op, value in _ABOVE_RANGE.items()}
_MAX_EXPANDED_POWER = 16
# Operators on Python literals alone compute as in Python (as NumPy code would see them).
_PYTHON_OPERATORS: dict[str, Callable[..., Scalar]] = {
    "add": operator.add,
    "subtract": operator.sub,
    "multiply": operator.mul,
    "true_divide": operator.truediv,
    "floor_divide": operator.floordiv,
    "remainder": operator.mod,
    "power": operator.pow,
    "bitwise_and": operator.and_,
    "bitwise_or": operator.or_,
    "bitwise_xor": operator.xor,
    "left_shift": operator.lshift,
    "right_shift": operator.rshift,
    "negative": operator.neg,
    "positive": operator.pos,
    "less": operator.lt,
    "less_equal": operator.le,
    "equal": operator.eq,
    "not_equal": operator.ne,
    "greater": operator.gt,
    "greater_equal": operator.ge,
}
_MAX_CONSTANT_BITS = 1024  # bounds the work a literal like 9**9**9 can ask for


def native_typecode(dtype: np.dtype[Any]) -> str:
    """The VM type code of an array dtype, after the conversions the front end makes.

    Non-native byte order becomes native, float16 becomes float32, byte strings of any
    width are `BYTES`; anything else without a VM type (unicode strings, objects,
    datetimes, long double) raises TypeError.
    """
    if dtype.kind == "f" and dtype.itemsize == 2:
        return "f4"
    if dtype.kind == "S":
        return BYTES
    if dtype.kind == "U":
        raise TypeError(
            f"arrays of dtype {dtype} (unicode strings) are not supported: numexpr3 compares byte strings "
            "('S' arrays and b'...' literals); encode them first, e.g. numpy.char.encode(a, 'ascii')"
        )
    code = dtype.str[1:]
    if code not in TYPECODES:
        raise TypeError(f"arrays of dtype {dtype} are not supported (numeric and bool dtypes only)")
    return code


def _dtype_name(spec: LoopSpec) -> str:
    return f"Python {spec.__name__}" if isinstance(spec, type) else np.dtype(spec).name


def _complex(real: NDArray[np.floating], imag: NDArray[np.floating]) -> NDArray[np.complexfloating]:
    result = np.empty(np.broadcast_shapes(real.shape, imag.shape), _COMPLEX_OF[real.dtype.str[1:]])
    result.real, result.imag = real, imag
    return result


# How to compute ops that are not NumPy ufuncs, for constant folding.
_FOLDERS: dict[str, Callable[..., ArrayLike]] = {
    "where": np.where,
    "complex": _complex,
    "real": np.real,
    "imag": np.imag,
    "erf": np.vectorize(math.erf, otypes=["f8"]),
    "erfc": np.vectorize(math.erfc, otypes=["f8"]),
}


class Weak(NamedTuple):
    """A weakly typed Python scalar: a literal (``value``) or a Python-number variable (``name``)."""

    pytype: type[Constant]
    value: Constant | None = None
    name: str | None = None


#: The nodes of a `_Graph`: an input slot, a constant, an operation of earlier nodes.
TypedNode: TypeAlias = (
    tuple[Literal["in"], str, int]
    | tuple[Literal["const"], str, Scalar]
    | tuple[Literal["op"], str, str, tuple[int, ...]]
)
#: What a slot holds: an argument in a type code, or the result of a stage.
SlotKey: TypeAlias = tuple[Literal["arg"], str, str] | tuple[Literal["stage"], int]


class _Graph:
    """A hash-consed DAG of typed nodes: ("in", tc, slot), ("const", tc, value), ("op", tc, op, args)."""

    def __init__(self) -> None:
        self.nodes: list[TypedNode] = []
        self.index: dict[TypedNode | tuple[str, str, type[object], str], int] = {}
        self.shape_slots: dict[int, None] = {}

    def add(self, node: TypedNode) -> int:
        key = ("const", node[1], type(node[2]), repr(node[2])) if node[0] == "const" else node
        found = self.index.get(key)
        if found is None:
            found = self.index[key] = len(self.nodes)
            self.nodes.append(node)
        return found

    def typecode(self, value: int | Weak) -> str:
        return _DEFAULT_TYPECODES[value.pytype] if isinstance(value, Weak) else self.nodes[value][1]

    def is_constant(self, value: int | Weak) -> bool:
        return value.name is None if isinstance(value, Weak) else self.nodes[value][0] == "const"

    def constant(self, value: int | Weak) -> Constant | None:
        if isinstance(value, Weak):
            return value.value
        node = self.nodes[value]
        assert node[0] == "const"
        return node[2]


def _weak_constant(value: Constant | None, typecode: str) -> Scalar:
    """A Python scalar stored in `typecode` as NumPy does (OverflowError for ints out of range)."""
    stored: Scalar
    with np.errstate(all="ignore"):
        if type(value) is int:
            stored = np.asarray(value, dtype=typecode).item()
        else:
            stored = np.asarray(value).astype(typecode).item()
    return stored


def _convert_constant(value: Scalar, source: str, typecode: str) -> Scalar:
    """A typed constant cast to `typecode` with the VM's (unsafe) cast semantics."""
    with np.errstate(all="ignore"):
        converted: Scalar = np.asarray(value, dtype=source).astype(typecode).item()
    return converted


class _Compiler:
    """Compiles one parsed program for one signature of arguments."""

    def __init__(
        self,
        parsed: Parsed,
        specs: dict[str, ArgumentSpec],
        target_specs: dict[str, ArraySpec],
        casting: Casting,
        kernels: Kernels,
        vm: VirtualMachine,
    ) -> None:
        self.parsed = parsed
        self.specs = specs
        self.target_specs = target_specs
        self.casting = casting
        self.kernels = kernels
        self.vm = vm
        self.slot_keys: list[SlotKey] = []
        self.slot_index: dict[SlotKey, int] = {}
        self.slot_ndims: list[int] = []
        self.slot_names: list[str] = []
        self.stages: list[Stage] = []
        #: Reduction node -> (the slot of its result, the result's type code).
        self.reductions: dict[int, tuple[int, str]] = {}

    # -- slots and stages -------------------------------------------------------------------

    def slot(self, key: SlotKey, ndim: int, name: str) -> int:
        found = self.slot_index.get(key)
        if found is None:
            found = self.slot_index[key] = len(self.slot_keys)
            self.slot_keys.append(key)
            self.slot_ndims.append(ndim)
            self.slot_names.append(name)
        return found

    def reduction_slot(self, index: int, name: str, arg: int, axis: int | None) -> tuple[int, str]:
        """The slot holding the result of reduction node `index`, compiling its stage once."""
        if index in self.reductions:
            return self.reductions[index]
        graph = _Graph()
        value = self.type_nodes(graph, [arg])[arg]
        if graph.typecode(value) == BYTES:
            raise TypeError(f"{name}() of byte strings is not supported")
        typecode = _accumulator(name, graph.typecode(value))
        root = self.materialize(graph, value, typecode)
        if graph.nodes[root][0] != "op":
            root = graph.add(("op", typecode, "copy", (root,)))
        ndim = max((self.slot_ndims[s] for s in graph.shape_slots), default=0)
        if axis is None or (ndim == 0 and axis in (0, -1) and name != "mean"):  # as np.add.reduce on 0-d
            axes = tuple(range(ndim))
        else:
            axes = (_normalize_axis(axis, ndim),)
        vm_op = REDUCTIONS[name]
        registers, instructions, inputs, listing = _codegen(graph, [root], self.slot_names, reduction=True)
        program = self.vm.Program(registers, instructions, (vm_op, axes))
        self.stages.append(
            Stage(
                program,
                inputs,
                tuple(graph.shape_slots),
                (vm_op, axes, name == "mean"),
                (typecode,),
                ((name, f"axis={axis}"), *listing),
                _constants(registers),
            )
        )
        slot = self.slot(("stage", len(self.stages) - 1), ndim - len(axes), f"{name}#{len(self.stages) - 1}")
        self.reductions[index] = slot, typecode
        return slot, typecode

    # -- typing -----------------------------------------------------------------------------

    def type_nodes(self, graph: _Graph, roots: list[int]) -> dict[int, int | Weak]:
        """Type the untyped nodes reachable from `roots` (not inside reductions) into `graph`."""
        nodes = self.parsed.nodes
        reachable: set[int] = set()
        stack = list(roots)
        while stack:
            index = stack.pop()
            if index in reachable:
                continue
            reachable.add(index)
            node = nodes[index]
            if node[0] == "op":
                stack.extend(node[2])
            elif node[0] == "bound":
                stack.append(node[2])
        typed: dict[int, int | Weak] = {}
        for index in sorted(reachable):
            node = nodes[index]
            if node[0] == "name":
                typed[index] = self.variable(graph, node[1])
            elif node[0] == "const":
                typed[index] = Weak(type(node[1]), node[1])
            elif node[0] == "op":
                typed[index] = self.apply(graph, node[1], [typed[arg] for arg in node[2]])
            elif node[0] == "bound":
                typed[index] = self.assigned(graph, node[1], typed[node[2]])
            else:
                _, name, arg, axis = node
                slot, typecode = self.reduction_slot(index, name, arg, axis)
                graph.shape_slots[slot] = None
                typed[index] = graph.add(("in", typecode, slot))
        return typed

    def variable(self, graph: _Graph, name: str) -> int | Weak:
        spec = self.specs[name]
        if isinstance(spec, type):
            return Weak(spec, name=name)
        typecode, ndim, _ = spec
        slot = self.slot(("arg", name, typecode), ndim, name)
        graph.shape_slots[slot] = None
        return graph.add(("in", typecode, slot))

    def assigned(self, graph: _Graph, target: str, value: int | Weak) -> int | Weak:
        """A name read after its assignment: the value, as stored in the target array if any."""
        if target not in self.target_specs:
            return value
        return self.store(graph, value, self.target_specs[target][0])

    def store(self, graph: _Graph, value: int | Weak, typecode: str) -> int:
        """`value` converted for storing into an array of `typecode` under the casting rule."""
        source = graph.typecode(value)
        if source == BYTES:
            raise TypeError("byte strings cannot be stored into out= or an assigned array")
        if isinstance(value, Weak):  # NEP 50: a Python scalar takes the target's type if its kind allows
            sample = value.pytype(0) if value.value is None else value.value
            source = np.result_type(np.dtype(typecode), sample).str[1:]
        if not np.can_cast(source, typecode, self.casting):
            raise TypeError(
                f"cannot cast the result from {np.dtype(source).name} to {np.dtype(typecode).name} "
                f"with casting={self.casting!r}"
            )
        return self.materialize(graph, value, typecode)

    def materialize(self, graph: _Graph, value: int | Weak, typecode: str) -> int:
        """A node of `typecode` holding `value` (a cast, a typed constant or an input)."""
        if isinstance(value, Weak):
            if value.name is not None:
                slot = self.slot(("arg", value.name, typecode), 0, value.name)
                return graph.add(("in", typecode, slot))
            return graph.add(("const", typecode, _weak_constant(value.value, typecode)))
        node = graph.nodes[value]
        if node[1] == typecode:
            return value
        if node[0] == "const":
            return graph.add(("const", typecode, _convert_constant(node[2], node[1], typecode)))
        return graph.add(("op", typecode, "cast", (value,)))

    def resolve(self, op: str, specs: Sequence[LoopSpec], vm_kernel: bool = True) -> tuple[tuple[str, ...], str]:
        """The loop (input type codes, output type code) of `op`, checked against the VM's kernels."""
        try:
            if op in _LOGICAL:
                loop = ("b1",) * (len(specs) + 1)
            elif op == "where":
                samples = [np.dtype(s) if isinstance(s, str) else s() for s in specs[1:]]
                common = np.result_type(*samples).str[1:]
                loop = ("b1", common, common, common)
            elif op in ("real", "imag"):
                source = specs[0]
                if not isinstance(source, str):  # as for any type without a complex part
                    raise KeyError(source)
                loop = (source, _COMPLEX_PARTS[source])
            else:
                ufunc: np.ufunc = getattr(np, {"complex": "arctan2", "erf": "sin", "erfc": "sin"}.get(op, op))
                arguments = [np.dtype(s) if isinstance(s, str) else s for s in specs]
                loop = tuple(d.str[1:] for d in ufunc.resolve_dtypes((*arguments, None)))
        except (TypeError, KeyError) as error:
            raise TypeError(f"{op} is not supported for {', '.join(map(_dtype_name, specs))} inputs") from error
        loop = tuple("f4" if code == "f2" else code for code in loop)
        if op == "complex":
            loop = (*loop[:-1], _COMPLEX_OF[loop[-1]])
        inputs, output = loop[:-1], loop[-1]
        if vm_kernel and self.kernels.get(op, {}).get(inputs) != output:
            names = ", ".join(np.dtype(code).name for code in inputs)
            raise TypeError(f"{op} is not supported for {names} inputs")
        return inputs, output

    def string_stage(self, graph: _Graph, op: str, args: Sequence[int | Weak]) -> int:
        """`op` of byte strings: a stage of its own whose bool result (or copy) the graph reads."""
        if op not in _STRING_OPS and op != "copy":
            raise TypeError(f"{op} is not supported for byte strings (only comparisons and contains())")
        kinds = [graph.typecode(a) for a in args]
        if any(kind != BYTES for kind in kinds):
            raise TypeError(f"{op} of {' and '.join(map(_dtype_name, kinds))} is not supported")
        operands: list[bytes | None] = []
        inputs: list[int] = []
        names: list[str] = []
        for arg in args:
            if isinstance(arg, Weak):
                assert isinstance(arg.value, bytes)  # byte strings are literals or arrays
                operands.append(arg.value)
                names.append(repr(arg.value))
            else:
                node = graph.nodes[arg]
                assert node[0] == "in"  # an array or a string stage's result
                slot = node[2]
                operands.append(None)
                inputs.append(slot)
                names.append(f"{self.slot_names[slot]}:{BYTES}")
        program = StringOperation(self.vm, op, tuple(operands))
        typecode = BYTES if op == "copy" else "b1"
        if not inputs and op != "copy":  # constants only: the value now
            return graph.add(("const", "b1", program.evaluate([], []).item()))
        number = len(self.stages)
        listing = ((op, f"{op}#{number}:{typecode}", *names),)
        self.stages.append(Stage(program, tuple(inputs), tuple(inputs), None, (typecode,), listing))
        ndim = max((self.slot_ndims[s] for s in inputs), default=0)
        slot = self.slot(("stage", number), ndim, f"{op}#{number}")
        graph.shape_slots[slot] = None
        return graph.add(("in", typecode, slot))

    # -- operations -------------------------------------------------------------------------

    @overload
    def apply(self, graph: _Graph, op: str, args: list[int]) -> int: ...
    @overload
    def apply(self, graph: _Graph, op: str, args: list[int | Weak]) -> int | Weak: ...
    def apply(self, graph: _Graph, op: str, args: Sequence[int | Weak]) -> int | Weak:
        """The typed node of `op(*args)`: folded, simplified or a new instruction (a node, never
        a weak scalar, when no argument is one)."""
        if op == "contains" or any(graph.typecode(a) == BYTES for a in args):
            return self.string_stage(graph, op, args)
        first = args[0]
        shortcut = self._SHORTCUTS.get(op)
        if shortcut is not None:
            result = shortcut(self, graph, first)
            if result is not None:
                return result
        if op == "power" and graph.is_constant(args[1]) and not graph.is_constant(first):
            reduced = self.expand_power(graph, first, args[1])
            if reduced is not None:
                return reduced
        return self.operation(graph, op, args)

    # Unary operations that need no instruction of their own for some types: `value` itself, a
    # constant or a cast; None where the operation computes after all.

    def round_of(self, graph: _Graph, value: int | Weak) -> int | Weak | None:
        # NumPy's round: integers as they are, anything else rint (half to even).
        return value if graph.typecode(value)[0] in "iu" else self.apply(graph, "rint", [value])

    def copy_of(self, graph: _Graph, value: int | Weak) -> int | Weak | None:
        return value

    def real_of(self, graph: _Graph, value: int | Weak) -> int | Weak | None:
        return None if _is_complex(graph, value) else value

    def imag_of(self, graph: _Graph, value: int | Weak) -> int | Weak | None:
        return None if _is_complex(graph, value) else self.constant_like(graph, value, 0)

    def conjugate_of(self, graph: _Graph, value: int | Weak) -> int | Weak | None:
        if _is_complex(graph, value):
            return None
        # The identity, in NumPy's loop type (bool -> int8).
        return self.materialize(graph, value, self.resolve("conjugate", [graph.typecode(value)], vm_kernel=False)[1])

    def positive_of(self, graph: _Graph, value: int | Weak) -> int | Weak | None:
        self.resolve("positive", [graph.typecode(value)], vm_kernel=False)  # NumPy's type check (no bool)
        return value

    def ones_like_of(self, graph: _Graph, value: int | Weak) -> int | Weak | None:
        return self.constant_like(graph, value, 1)

    _SHORTCUTS: ClassVar[dict[str, Callable[[_Compiler, _Graph, int | Weak], int | Weak | None]]] = {
        "round": round_of,
        "copy": copy_of,
        "real": real_of,
        "imag": imag_of,
        "conjugate": conjugate_of,
        "positive": positive_of,
        "ones_like": ones_like_of,
    }

    def operation(self, graph: _Graph, op: str, args: Sequence[int | Weak]) -> int | Weak:
        """`op(*args)` in the loop NumPy picks: folded when every argument is constant, else an instruction."""
        weak = [a for a in args if isinstance(a, Weak)]
        all_weak = len(weak) == len(args)
        if all_weak and op in _PYTHON_OPERATORS and all(a.name is None for a in weak):
            return _python_fold(op, [a.value for a in weak])
        inputs, output = self.resolve(op, self.loop_specs(graph, op, args, all_weak))
        if op in _COMPARISONS:
            outside = self.compare_outside_range(graph, op, args, inputs[0])
            if outside is not None:
                return outside
        if all(graph.is_constant(a) for a in args):
            value = _fold(op, inputs, output, [self.constant_in(graph, a, code) for a, code in zip(args, inputs)])
            if all_weak:
                return Weak(_PYTHON_TYPES[np.dtype(output).kind], value)
            return graph.add(("const", output, value))
        operands = tuple(self.materialize(graph, a, code) for a, code in zip(args, inputs))
        return graph.add(("op", output, op, operands))

    def loop_specs(self, graph: _Graph, op: str, args: Sequence[int | Weak], all_weak: bool) -> list[LoopSpec]:
        """What types `op(*args)`: type codes, and the Python type of a weak scalar beside a
        typed operand (NEP 50), a bool as NumPy's bool."""
        specs: list[LoopSpec] = [
            a.pytype if isinstance(a, Weak) and not (all_weak or a.pytype is bool) else graph.typecode(a) for a in args
        ]
        if op in _COMPARISONS and int in specs and all(np.dtype(s).kind in "biu" for s in specs if s is not int):
            # An int variable compared with integers: in int64 (exact for any value, as NumPy
            # compares out-of-range Python ints) rather than the other operand's type.
            specs = ["i8" if s is int else s for s in specs]
        return specs

    def constant_in(self, graph: _Graph, value: int | Weak, typecode: str) -> Scalar:
        if isinstance(value, Weak):
            return _weak_constant(value.value, typecode)
        node = graph.nodes[value]
        assert node[0] == "const"
        return _convert_constant(node[2], node[1], typecode)

    def constant_like(self, graph: _Graph, value: int | Weak, number: int) -> int | Weak:
        if isinstance(value, Weak):
            return Weak(value.pytype, value.pytype(number))
        typecode = graph.typecode(value)
        return graph.add(("const", typecode, _weak_constant(number, typecode)))

    def compare_outside_range(self, graph: _Graph, op: str, args: Sequence[int | Weak], loop: str) -> int | None:
        """`x OP v` for a Python int v outside x's integer range is constant (as in NumPy)."""
        if np.dtype(loop).kind not in "iu":
            return None
        for position, arg in enumerate(args):
            if isinstance(arg, Weak) and arg.pytype is int and isinstance(arg.value, int):
                info = np.iinfo(loop)
                if info.min <= arg.value <= info.max:
                    return None
                direction = op if position == 1 else _COMPARISONS[op]  # as `x direction v`
                table = _ABOVE_RANGE if arg.value > info.max else _BELOW_RANGE
                return graph.add(("const", "b1", table[direction]))
        return None

    def expand_power(self, graph: _Graph, base: int | Weak, exponent: int | Weak) -> int | None:
        """`base ** c` for a small integer c by multiplications, `x**0.5` by sqrt; None otherwise."""
        specs = [graph.typecode(base), exponent.pytype if isinstance(exponent, Weak) else graph.typecode(exponent)]
        inputs, output = self.resolve("power", specs)
        value = graph.constant(exponent)
        kind = np.dtype(output).kind
        if not isinstance(value, (int, float)) or not math.isfinite(value):  # (complex: no)
            return None
        if value == 0.5 and kind in "fc":
            return self.apply(graph, "sqrt", [self.materialize(graph, base, inputs[0])])
        if value != int(value) or abs(value) > _MAX_EXPANDED_POWER:
            return None
        count = int(value)
        if count < 0 and kind in "iu":
            self.constant_in(graph, exponent, inputs[1])  # NumPy's OverflowError first (uint8 ** -1)
            raise ValueError("Integers to negative integer powers are not allowed.")
        one = graph.add(("const", output, _weak_constant(1, output)))
        if count == 0:
            return one
        square = self.materialize(graph, base, inputs[0])
        product = None
        remaining = abs(count)
        while True:  # binary exponentiation; CSE shares the squares
            if remaining & 1:
                product = square if product is None else self.apply(graph, "multiply", [product, square])
            remaining >>= 1
            if not remaining:
                break
            square = self.apply(graph, "multiply", [square, square])
        assert isinstance(product, int)
        return self.apply(graph, "true_divide", [one, product]) if count < 0 else product

    # -- the whole program ------------------------------------------------------------------

    def compile(self, out_spec: ArraySpec | None) -> Compiled:
        parsed = self.parsed
        last_target, last_value = parsed.statements[-1]
        final_values = {t: value for t, value in parsed.statements if t is not None and t in self.target_specs}
        last_spec = None if last_target is None else self.target_specs.get(last_target)
        graph = _Graph()
        typed = self.type_nodes(graph, [*final_values.values(), last_value])
        outputs = [self.store(graph, typed[value], self.target_specs[t][0]) for t, value in final_values.items()]
        result_value = typed[last_value]
        if graph.typecode(result_value) == BYTES and out_spec is None and last_spec is None:
            result_value = self.string_stage(graph, "copy", [result_value])  # a new array of the strings
        node = graph.nodes[result_value] if not isinstance(result_value, Weak) else None
        result: ResultKind
        if out_spec is None and not final_values and node is not None and node[0] == "in" and self.is_stage(node[2]):
            result, result_typecode = "slot", node[1]
        elif out_spec is not None:
            result, result_typecode = "out", out_spec[0]
            outputs.append(self.store(graph, result_value, result_typecode))
        elif last_spec is not None:
            result, result_typecode = "target", last_spec[0]
        else:
            result, result_typecode = "fresh", graph.typecode(result_value)
            outputs.append(self.materialize(graph, result_value, result_typecode))
        if result != "slot":
            registers, instructions, inputs, listing = _codegen(graph, outputs, self.slot_names, reduction=False)
            program = self.vm.Program(registers, instructions)
            typecodes = tuple(graph.nodes[o][1] for o in outputs)
            stage = Stage(program, inputs, tuple(graph.shape_slots), None, typecodes, listing, _constants(registers))
            self.stages.append(stage)
        bindings, stages = self.link()
        targets = tuple(parsed.targets.index(t) for t in final_values)
        result_target = parsed.targets.index(last_target) if last_spec is not None else -1
        direct = bindings == tuple((position, None) for position in range(len(parsed.names)))
        simple = len(stages) == 1 and result in ("fresh", "out") and not targets
        return Compiled(parsed, bindings, stages, targets, result, result_target, result_typecode, direct, simple)

    def link(self) -> tuple[tuple[tuple[int, str | None], ...], tuple[Stage, ...]]:
        """The bindings of the call's values to slots, and the stages renumbered for them.

        At run time the call's arguments fill the first slots, then each stage appends its result.
        """
        names = list(self.parsed.names)
        arguments = [(slot, key) for slot, key in enumerate(self.slot_keys) if key[0] == "arg"]
        results = sorted((key[1], slot) for slot, key in enumerate(self.slot_keys) if key[0] == "stage")
        renumber = {old: new for new, old in enumerate([slot for slot, _ in arguments] + [slot for _, slot in results])}
        bindings = []
        for _, (_, name, typecode) in arguments:
            spec = self.specs[name]
            needs_conversion = isinstance(spec, type) or spec[2]
            bindings.append((names.index(name), typecode if needs_conversion else None))
        stages = tuple(
            stage._replace(
                inputs=tuple(renumber[s] for s in stage.inputs),
                shape_slots=tuple(renumber[s] for s in stage.shape_slots),
            )
            for stage in self.stages
        )
        return tuple(bindings), stages

    def is_stage(self, slot: int) -> bool:
        return self.slot_keys[slot][0] == "stage"


def _is_complex(graph: _Graph, value: int | Weak) -> bool:
    return graph.typecode(value)[0] == "c"


def _accumulator(name: str, typecode: str) -> str:
    """The dtype NumPy reduces in: add/multiply.reduce widen small ints, any/all give bool."""
    if name in ("any", "all"):
        return "b1"
    kind = typecode[0]
    if name == "mean" and kind in "biu":
        return "f8"
    if name in ("sum", "prod") and kind in "bi":
        return "i8"
    if name in ("sum", "prod") and kind == "u":
        return "u8"
    return typecode


def _normalize_axis(axis: int, ndim: int) -> int:
    if not -ndim <= axis < ndim:
        raise np.exceptions.AxisError(axis, ndim)
    return axis % ndim


def _python_fold(op: str, values: list[Constant | None]) -> Weak:
    """`op` on Python literals, computed by Python, with integer sizes bounded."""
    if op in ("power", "left_shift"):
        base, count = values
        if type(base) is int and type(count) is int:
            bits = count if op == "left_shift" else count * abs(base).bit_length() * (abs(base) > 1)
            if bits > _MAX_CONSTANT_BITS:
                raise OverflowError(f"integer constant too large in {base} {'**' if op == 'power' else '<<'} {count}")
    result = _PYTHON_OPERATORS[op](*values)
    if type(result) is int and result.bit_length() > _MAX_CONSTANT_BITS:
        raise OverflowError("integer constant too large")
    return Weak(type(result), result)


def _fold(op: str, inputs: tuple[str, ...], output: str, values: list[Scalar]) -> Scalar:
    """Compute `op` on constants with NumPy, in the loop's dtypes."""
    arrays = [np.asarray(value, dtype=code) for value, code in zip(values, inputs)]
    folder: Callable[..., ArrayLike] = _FOLDERS.get(op) or getattr(np, op)
    with np.errstate(all="ignore"):
        result = folder(*arrays)
    folded: Scalar = np.asarray(result).astype(output).item()
    return folded


def _codegen(
    graph: _Graph, outputs: list[int], slot_names: list[str], reduction: bool
) -> tuple[list[Register], list[Instruction], tuple[int, ...], Listing]:
    """Registers and instructions computing `outputs`; temporaries reused by liveness."""
    order = _live_nodes(graph, outputs)
    code = _Code(graph, slot_names)
    inputs, output_registers = code.bind(order, outputs)
    # A single element-wise output is written by its own instruction; a reduction reduces a temp.
    fused = {}
    if not reduction and len(outputs) == 1 and graph.nodes[outputs[0]][0] == "op":
        fused[outputs[0]] = output_registers[0]
    code.compute(order, set(outputs), fused)
    if not reduction and not fused:
        code.copy_outputs(outputs, output_registers)
    return code.registers, code.instructions, tuple(inputs), code.listing()


def _live_nodes(graph: _Graph, outputs: list[int]) -> list[int]:
    """The nodes `outputs` depend on, in order (a node's arguments come before it)."""
    live: set[int] = set()
    stack = list(outputs)
    while stack:
        index = stack.pop()
        if index not in live:
            live.add(index)
            node = graph.nodes[index]
            if node[0] == "op":
                stack.extend(node[3])
    return sorted(live)


class _Code:
    """The registers and instructions of one program as they are generated from a graph."""

    def __init__(self, graph: _Graph, slot_names: list[str]) -> None:
        self.nodes = graph.nodes
        self.slot_names = slot_names
        self.registers: list[Register] = []
        self.names: list[str] = []  # per register, "name:typecode" for the listing
        self.temps = 0
        self.register_of: dict[int, int] = {}  # node -> the register holding its value
        self.instructions: list[Instruction] = []

    def new_register(self, kind: RegisterKind, typecode: str, value: Scalar | None = None, name: str = "") -> int:
        if kind == "temp":  # temporaries are numbered on their own: t0, t1, ...
            name = f"t{self.temps}"
            self.temps += 1
        self.registers.append((kind, typecode, value))
        self.names.append(f"{name}:{typecode}")
        return len(self.registers) - 1

    def bind(self, order: list[int], outputs: list[int]) -> tuple[list[int], list[int]]:
        """Registers for the inputs, the outputs and the constants, in that order (the VM binds
        inputs and outputs by position); returns (the inputs' slots, the output registers)."""
        inputs = []
        for index in order:
            node = self.nodes[index]
            if node[0] == "in":
                self.register_of[index] = self.new_register("in", node[1], name=self.slot_names[node[2]])
                inputs.append(node[2])
        output_registers = [self.new_register("out", self.nodes[o][1], name=f"out{k}") for k, o in enumerate(outputs)]
        for index in order:
            node = self.nodes[index]
            if node[0] == "const":
                self.register_of[index] = self.new_register("const", node[1], node[2], repr(node[2]))
        return inputs, output_registers

    def compute(self, order: list[int], kept: set[int], fused: dict[int, int]) -> None:
        """An instruction per operation node, writing its `fused` output register or a temp;
        a temp is reused once its last reader has run, unless it holds a `kept` node."""
        last_use = _last_uses(self.nodes, order)
        free: dict[str, list[int]] = defaultdict(list)
        temps: set[int] = set()
        for position, index in enumerate(order):
            node = self.nodes[index]
            if node[0] != "op":
                continue
            dest = fused.get(index)
            if dest is None:
                dest = free[node[1]].pop() if free[node[1]] else self.new_register("temp", node[1])
                temps.add(dest)
            self.instructions.append((node[2], dest, tuple(self.register_of[arg] for arg in node[3])))
            self.register_of[index] = dest
            for arg in set(node[3]):
                if last_use[arg] == position and arg not in kept and self.register_of[arg] in temps:
                    free[self.nodes[arg][1]].append(self.register_of[arg])

    def copy_outputs(self, outputs: list[int], output_registers: list[int]) -> None:
        """Copies into the output registers; outputs may alias inputs, so every input is read
        (an input output copied to a temp) before any output is written."""
        sources = []
        for index in outputs:
            source = self.register_of[index]
            if self.nodes[index][0] == "in" and len(outputs) > 1:
                copy = self.new_register("temp", self.nodes[index][1])
                self.instructions.append(("copy", copy, (source,)))
                source = copy
            sources.append(source)
        for source, dest in zip(sources, output_registers):
            self.instructions.append(("copy", dest, (source,)))

    def listing(self) -> Listing:
        names = self.names
        return tuple((op, names[dest], *(names[s] for s in sources)) for op, dest, sources in self.instructions)


def _last_uses(nodes: list[TypedNode], order: list[int]) -> dict[int, int]:
    """Node -> the position in `order` of the last operation reading it."""
    last_use: dict[int, int] = {}
    for position, index in enumerate(order):
        node = nodes[index]
        if node[0] == "op":
            for arg in node[3]:
                last_use[arg] = position
    return last_use


def _constants(registers: list[Register]) -> tuple[Scalar, ...]:
    return tuple(value for kind, _, value in registers if kind == "const" and value is not None)


def kernel_table(vm: VirtualMachine) -> Kernels:
    """The VM's kernels as op -> {input type codes: output type code}."""
    return {op: {tuple(ins): out for ins, out in signatures} for op, signatures in vm.kernel_signatures().items()}


def compile_program(
    parsed: Parsed,
    specs: dict[str, ArgumentSpec],
    target_specs: dict[str, ArraySpec],
    out_spec: ArraySpec | None,
    casting: Casting,
    kernels: Kernels,
    vm: VirtualMachine,
) -> Compiled:
    """Compile `parsed` for arguments described by `specs`.

    ``specs[name]`` is ``(typecode, ndim, needs_conversion)`` for an array (type code
    after `native_typecode`) or the Python type of a weakly typed scalar;
    ``target_specs[name]`` is ``(typecode, ndim)`` for each assigned name that is an
    existing array; ``out_spec`` is that of ``out=``.
    """
    compiler = _Compiler(parsed, specs, target_specs, casting, kernels, vm)
    return compiler.compile(out_spec)
