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
from typing import Any, NamedTuple

import numpy as np

from ._parser import REDUCTIONS, Parsed
from ._runtime import Compiled, Stage, StringOperation

__all__ = ["compile_program", "kernel_table", "native_typecode"]

#: The 13 type codes of the VM.
TYPECODES = ("b1", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f4", "f8", "c8", "c16")
#: The front end's type code of byte strings (any width): only string stages read them.
BYTES = "S"
_DEFAULT_TYPECODES = {bool: "b1", int: np.dtype(np.int_).str[1:], float: "f8", complex: "c16", bytes: BYTES}
#: Operations on byte strings (each a string stage of its own).
_STRING_OPS = frozenset({"less", "less_equal", "equal", "not_equal", "greater", "greater_equal", "contains"})
_PYTHON_TYPES = {"b": bool, "i": int, "u": int, "f": float, "c": complex}
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
_PYTHON_OPERATORS = {
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


def native_typecode(dtype: np.dtype) -> str:
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


def _dtype_name(spec: str | type) -> str:
    return f"Python {spec.__name__}" if isinstance(spec, type) else np.dtype(spec).name


def _complex(real: np.ndarray, imag: np.ndarray) -> np.ndarray:
    result = np.empty(np.broadcast_shapes(real.shape, imag.shape), _COMPLEX_OF[real.dtype.str[1:]])
    result.real, result.imag = real, imag
    return result


# How to compute ops that are not NumPy ufuncs, for constant folding.
_FOLDERS = {
    "where": np.where,
    "complex": _complex,
    "real": np.real,
    "imag": np.imag,
    "erf": np.vectorize(math.erf, otypes=["f8"]),
    "erfc": np.vectorize(math.erfc, otypes=["f8"]),
}


class Weak(NamedTuple):
    """A weakly typed Python scalar: a literal (``value``) or a Python-number variable (``name``)."""

    pytype: type
    value: Any = None
    name: str | None = None


class _Graph:
    """A hash-consed DAG of typed nodes: ("in", tc, slot), ("const", tc, value), ("op", tc, op, args)."""

    def __init__(self) -> None:
        self.nodes: list[tuple] = []
        self.index: dict[tuple, int] = {}
        self.shape_slots: dict[int, None] = {}

    def add(self, node: tuple) -> int:
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

    def constant(self, value: int | Weak) -> Any:
        return value.value if isinstance(value, Weak) else self.nodes[value][2]


def _weak_constant(value: Any, typecode: str) -> Any:
    """A Python scalar stored in `typecode` as NumPy does (OverflowError for ints out of range)."""
    with np.errstate(all="ignore"):
        if type(value) is int:
            return np.asarray(value, dtype=typecode).item()
        return np.asarray(value).astype(typecode).item()


def _convert_constant(value: Any, source: str, typecode: str) -> Any:
    """A typed constant cast to `typecode` with the VM's (unsafe) cast semantics."""
    with np.errstate(all="ignore"):
        return np.asarray(value, dtype=source).astype(typecode).item()


class _Compiler:
    """Compiles one parsed program for one signature of arguments."""

    def __init__(
        self,
        parsed: Parsed,
        specs: dict[str, tuple[str, int, bool] | type],
        target_specs: dict[str, tuple[str, int]],
        casting: str,
        kernels: dict[str, dict[tuple[str, ...], str]],
        vm: Any,
    ) -> None:
        self.parsed = parsed
        self.specs = specs
        self.target_specs = target_specs
        self.casting = casting
        self.kernels = kernels
        self.vm = vm
        self.slot_keys: list[tuple] = []
        self.slot_index: dict[tuple, int] = {}
        self.slot_ndims: list[int] = []
        self.slot_names: list[str] = []
        self.stages: list[Stage] = []
        self.reductions: dict[int, int] = {}

    # -- slots and stages -------------------------------------------------------------------

    def slot(self, key: tuple, ndim: int, name: str) -> int:
        found = self.slot_index.get(key)
        if found is None:
            found = self.slot_index[key] = len(self.slot_keys)
            self.slot_keys.append(key)
            self.slot_ndims.append(ndim)
            self.slot_names.append(name)
        return found

    def reduction_slot(self, index: int) -> tuple[int, str]:
        """The slot holding the result of reduction node `index`, compiling its stage once."""
        _, name, arg, axis = self.parsed.nodes[index]
        if index in self.reductions:
            slot = self.reductions[index]
            return slot, self.stages[self.slot_keys[slot][1]].typecodes[-1]
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
        self.reductions[index] = slot
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
            kind = node[0]
            if kind == "name":
                typed[index] = self.variable(graph, node[1])
            elif kind == "const":
                typed[index] = Weak(type(node[1]), node[1])
            elif kind == "op":
                typed[index] = self.apply(graph, node[1], [typed[arg] for arg in node[2]])
            elif kind == "bound":
                typed[index] = self.assigned(graph, node[1], typed[node[2]])
            else:
                slot, typecode = self.reduction_slot(index)
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

    def resolve(self, op: str, specs: list[str | type], vm_kernel: bool = True) -> tuple[tuple[str, ...], str]:
        """The loop (input type codes, output type code) of `op`, checked against the VM's kernels."""
        try:
            if op in _LOGICAL:
                loop = ("b1",) * (len(specs) + 1)
            elif op == "where":
                samples = [np.dtype(s) if isinstance(s, str) else s() for s in specs[1:]]
                common = np.result_type(*samples).str[1:]
                loop = ("b1", common, common, common)
            elif op in ("real", "imag"):
                loop = (specs[0], _COMPLEX_PARTS[specs[0]])  # type: ignore[index]
            else:
                ufunc = getattr(np, {"complex": "arctan2", "erf": "sin", "erfc": "sin"}.get(op, op))
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

    def string_stage(self, graph: _Graph, op: str, args: list[int | Weak]) -> int:
        """`op` of byte strings: a stage of its own whose bool result (or copy) the graph reads."""
        if op not in _STRING_OPS and op != "copy":
            raise TypeError(f"{op} is not supported for byte strings (only comparisons and contains())")
        kinds = [graph.typecode(a) for a in args]
        if any(kind != BYTES for kind in kinds):
            raise TypeError(f"{op} of {' and '.join(map(_dtype_name, kinds))} is not supported")
        operands, inputs, names = [], [], []
        for arg in args:
            if isinstance(arg, Weak):
                operands.append(arg.value)
                names.append(repr(arg.value))
            else:
                slot = graph.nodes[arg][2]
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

    def apply(self, graph: _Graph, op: str, args: list[int | Weak]) -> int | Weak:
        """The typed node of `op(*args)`: folded, simplified or a new instruction."""
        if op == "contains" or any(graph.typecode(a) == BYTES for a in args):
            return self.string_stage(graph, op, args)
        first = args[0]
        if op == "round":  # NumPy's round: integers as they are, anything else rint (half to even)
            if graph.typecode(first)[0] in "iu":
                return first
            op = "rint"
        is_complex = graph.typecode(first)[0] == "c"
        if op == "copy" or (op == "real" and not is_complex):
            return first
        if op == "conjugate" and not is_complex:  # the identity, in NumPy's loop type (bool -> int8)
            return self.materialize(graph, first, self.resolve(op, [graph.typecode(first)], vm_kernel=False)[1])
        if op == "imag" and not is_complex:
            return self.constant_like(graph, first, 0)
        if op == "positive":  # no instruction, but NumPy's type check (it rejects bool)
            self.resolve(op, [graph.typecode(first)], vm_kernel=False)
            return first
        if op == "ones_like":
            return self.constant_like(graph, first, 1)
        if op == "power" and graph.is_constant(args[1]) and not graph.is_constant(first):
            reduced = self.expand_power(graph, first, args[1])
            if reduced is not None:
                return reduced
        all_weak = all(isinstance(a, Weak) for a in args)
        if all_weak and op in _PYTHON_OPERATORS and all(a.name is None for a in args):  # type: ignore[union-attr]
            return _python_fold(op, [a.value for a in args])  # type: ignore[union-attr]
        specs = [
            a.pytype if isinstance(a, Weak) and not (all_weak or a.pytype is bool) else graph.typecode(a) for a in args
        ]
        if op in _COMPARISONS and int in specs and all(np.dtype(s).kind in "biu" for s in specs if s is not int):
            # An int variable compared with integers: in int64 (exact for any value, as NumPy
            # compares out-of-range Python ints) rather than the other operand's type.
            specs = ["i8" if s is int else s for s in specs]
        inputs, output = self.resolve(op, specs)
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

    def constant_in(self, graph: _Graph, value: int | Weak, typecode: str) -> Any:
        if isinstance(value, Weak):
            return _weak_constant(value.value, typecode)
        return _convert_constant(graph.constant(value), graph.typecode(value), typecode)

    def constant_like(self, graph: _Graph, value: int | Weak, number: int) -> int | Weak:
        if isinstance(value, Weak):
            return Weak(value.pytype, value.pytype(number))
        typecode = graph.typecode(value)
        return graph.add(("const", typecode, _weak_constant(number, typecode)))

    def compare_outside_range(self, graph: _Graph, op: str, args: list[int | Weak], loop: str) -> int | None:
        """`x OP v` for a Python int v outside x's integer range is constant (as in NumPy)."""
        if np.dtype(loop).kind not in "iu":
            return None
        for position, arg in enumerate(args):
            if isinstance(arg, Weak) and arg.pytype is int and arg.value is not None:
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
        if isinstance(value, complex) or not math.isfinite(value):
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

    def compile(self, out_spec: tuple[str, int] | None) -> Compiled:
        parsed = self.parsed
        last_target, last_value = parsed.statements[-1]
        final_values: dict[str, int] = {}
        for target, value in parsed.statements:
            if target in self.target_specs:
                final_values[target] = value
        roots = [*final_values.values(), last_value]
        result_is_target = last_target in self.target_specs
        graph = _Graph()
        typed = self.type_nodes(graph, roots)
        outputs = [self.store(graph, typed[value], self.target_specs[t][0]) for t, value in final_values.items()]
        result_value = typed[last_value]
        if graph.typecode(result_value) == BYTES and out_spec is None and not result_is_target:
            result_value = self.string_stage(graph, "copy", [result_value])  # a new array of the strings
        node = graph.nodes[result_value] if not isinstance(result_value, Weak) else None
        if out_spec is None and not final_values and node is not None and node[0] == "in" and self.is_stage(node[2]):
            result, result_typecode = "slot", node[1]
        elif out_spec is not None:
            result, result_typecode = "out", out_spec[0]
            outputs.append(self.store(graph, result_value, result_typecode))
        elif result_is_target:
            result, result_typecode = "target", self.target_specs[last_target][0]  # type: ignore[index]
        else:
            result, result_typecode = "fresh", graph.typecode(result_value)
            outputs.append(self.materialize(graph, result_value, result_typecode))
        if result != "slot":
            registers, instructions, inputs, listing = _codegen(graph, outputs, self.slot_names, reduction=False)
            program = self.vm.Program(registers, instructions)
            typecodes = tuple(graph.nodes[o][1] for o in outputs)
            stage = Stage(program, inputs, tuple(graph.shape_slots), None, typecodes, listing, _constants(registers))
            self.stages.append(stage)
        # At run time the call's arguments fill the first slots, then each stage appends its result.
        names = list(parsed.names)
        arguments = [slot for slot, key in enumerate(self.slot_keys) if key[0] == "arg"]
        results = sorted((key[1], slot) for slot, key in enumerate(self.slot_keys) if key[0] == "stage")
        renumber = {old: new for new, old in enumerate(arguments + [slot for _, slot in results])}
        bindings = []
        for slot in arguments:
            _, name, typecode = self.slot_keys[slot]
            spec = self.specs[name]
            needs_conversion = isinstance(spec, type) or spec[2]  # type: ignore[index]
            bindings.append((names.index(name), typecode if needs_conversion else None))
        stages = tuple(
            stage._replace(
                inputs=tuple(renumber[s] for s in stage.inputs),
                shape_slots=tuple(renumber[s] for s in stage.shape_slots),
            )
            for stage in self.stages
        )
        targets = tuple(parsed.targets.index(t) for t in final_values)
        result_target = parsed.targets.index(last_target) if result_is_target else -1  # type: ignore[arg-type]
        direct = bindings == [(position, None) for position in range(len(names))]
        simple = len(stages) == 1 and result in ("fresh", "out") and not targets
        return Compiled(
            parsed, tuple(bindings), stages, targets, result, result_target, result_typecode, direct, simple
        )

    def is_stage(self, slot: int) -> bool:
        return self.slot_keys[slot][0] == "stage"


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


def _python_fold(op: str, values: list) -> Weak:
    """`op` on Python literals, computed by Python, with integer sizes bounded."""
    if op in ("power", "left_shift") and all(type(v) is int for v in values):
        base, count = values
        bits = count if op == "left_shift" else count * abs(base).bit_length() * (abs(base) > 1)
        if bits > _MAX_CONSTANT_BITS:
            raise OverflowError(f"integer constant too large in {base} {'**' if op == 'power' else '<<'} {count}")
    result = _PYTHON_OPERATORS[op](*values)
    if type(result) is int and result.bit_length() > _MAX_CONSTANT_BITS:
        raise OverflowError("integer constant too large")
    return Weak(type(result), result)


def _fold(op: str, inputs: tuple[str, ...], output: str, values: list) -> Any:
    """Compute `op` on constants with NumPy, in the loop's dtypes."""
    arrays = [np.asarray(value, dtype=code) for value, code in zip(values, inputs)]
    with np.errstate(all="ignore"):
        result = (_FOLDERS.get(op) or getattr(np, op))(*arrays)
    return np.asarray(result).astype(output).item()


def _codegen(
    graph: _Graph, outputs: list[int], slot_names: list[str], reduction: bool
) -> tuple[list[tuple], list[tuple], tuple[int, ...], tuple[tuple[str, ...], ...]]:
    """Registers and instructions computing `outputs`; temporaries reused by liveness."""
    nodes = graph.nodes
    live: set[int] = set()
    stack = list(outputs)
    while stack:
        index = stack.pop()
        if index not in live:
            live.add(index)
            if nodes[index][0] == "op":
                stack.extend(nodes[index][3])
    order = sorted(live)
    registers: list[tuple] = []
    names: list[str] = []
    register_of: dict[int, int] = {}
    inputs = []

    def new_register(kind: str, typecode: str, value: Any, name: str) -> int:
        if kind == "temp":  # temporaries are numbered on their own: t0, t1, ...
            name = f"t{sum(register[0] == 'temp' for register in registers)}"
        registers.append((kind, typecode, value))
        names.append(f"{name}:{typecode}")
        return len(registers) - 1

    for index in order:
        if nodes[index][0] == "in":
            slot = nodes[index][2]
            register_of[index] = new_register("in", nodes[index][1], None, slot_names[slot])
            inputs.append(slot)
    output_registers = [new_register("out", nodes[o][1], None, f"out{k}") for k, o in enumerate(outputs)]
    for index in order:
        if nodes[index][0] == "const":
            register_of[index] = new_register("const", nodes[index][1], nodes[index][2], repr(nodes[index][2]))
    last_use: dict[int, int] = {}
    for position, index in enumerate(order):
        if nodes[index][0] == "op":
            for arg in nodes[index][3]:
                last_use[arg] = position
    # A single element-wise output is written by its own instruction; a reduction reduces a temp.
    fused = {}
    if not reduction and len(outputs) == 1 and nodes[outputs[0]][0] == "op":
        fused[outputs[0]] = output_registers[0]
    kept = set(outputs)
    free: dict[str, list[int]] = defaultdict(list)
    temps: set[int] = set()
    instructions: list[tuple] = []
    for position, index in enumerate(order):
        node = nodes[index]
        if node[0] != "op":
            continue
        dest = fused.get(index)
        if dest is None:
            dest = free[node[1]].pop() if free[node[1]] else new_register("temp", node[1], None, "")
            temps.add(dest)
        instructions.append((node[2], dest, tuple(register_of[arg] for arg in node[3])))
        register_of[index] = dest
        for arg in set(node[3]):
            if last_use[arg] == position and arg not in kept and register_of[arg] in temps:
                free[nodes[arg][1]].append(register_of[arg])
    if not reduction and not fused:
        # Outputs may alias inputs: read every input before writing any output.
        sources = []
        for index in outputs:
            source = register_of[index]
            if nodes[index][0] == "in" and len(outputs) > 1:
                copy = new_register("temp", nodes[index][1], None, "")
                instructions.append(("copy", copy, (source,)))
                source = copy
            sources.append(source)
        for source, dest in zip(sources, output_registers):
            instructions.append(("copy", dest, (source,)))
    listing = tuple((op, names[dest], *(names[s] for s in sources)) for op, dest, sources in instructions)
    return registers, instructions, tuple(inputs), listing


def _constants(registers: list[tuple]) -> tuple:
    return tuple(value for kind, _, value in registers if kind == "const")


def kernel_table(vm: Any) -> dict[str, dict[tuple[str, ...], str]]:
    """The VM's kernels as op -> {input type codes: output type code}."""
    return {op: {tuple(ins): out for ins, out in signatures} for op, signatures in vm.kernel_signatures().items()}


def compile_program(
    parsed: Parsed,
    specs: dict[str, tuple[str, int, bool] | type],
    target_specs: dict[str, tuple[str, int]],
    out_spec: tuple[str, int] | None,
    casting: str,
    kernels: dict[str, dict[tuple[str, ...], str]],
    vm: Any,
) -> Compiled:
    """Compile `parsed` for arguments described by `specs`.

    ``specs[name]`` is ``(typecode, ndim, needs_conversion)`` for an array (type code
    after `native_typecode`) or the Python type of a weakly typed scalar;
    ``target_specs[name]`` is ``(typecode, ndim)`` for each assigned name that is an
    existing array; ``out_spec`` is that of ``out=``.
    """
    compiler = _Compiler(parsed, specs, target_specs, casting, kernels, vm)  # type: ignore[arg-type]
    return compiler.compile(out_spec)
