"""Running compiled programs: `Compiled.run` and its stages, output checks and result order.

A `Compiled` holds the stages `_compiler` made for one signature of arguments: string
stages (`StringOperation`) and reduction stages whose small results feed the stages after
them, then the last stage, which writes the outputs. Running binds the call's values to
slots, runs each stage and returns the result array.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Protocol, TypeAlias

import numpy as np
from numpy.typing import NDArray

from ._parser import Parsed, Scalar

if TYPE_CHECKING:
    from ._core import Program

__all__ = ["Compiled", "Order", "Stage", "StringOperation", "VirtualMachine"]

#: The memory orders of a new result (NumPy's names).
Order: TypeAlias = Literal["C", "F", "A", "K"]
#: How a `Compiled` produces its result (see `Compiled.result`).
ResultKind: TypeAlias = Literal["fresh", "out", "slot", "target"]


class VirtualMachine(Protocol):
    """What the front end uses of the VM module, `_core` (tests may load a NumPy reference
    VM in its place)."""

    Program: type[Program]

    def compare_strings(
        self, op: str, a: NDArray[np.bytes_], b: NDArray[np.bytes_], nthreads: int = 0
    ) -> NDArray[np.bool_]: ...
    def kernel_signatures(self) -> dict[str, list[tuple[tuple[str, ...], str]]]: ...


class StringOperation(NamedTuple):
    """A string stage's program: `op` of two byte-string operands, each the stage's next
    input (None) or a bytes constant; or "copy" of one input."""

    vm: VirtualMachine
    op: str
    operands: tuple[bytes | None, ...]

    def evaluate(self, inputs: Sequence[NDArray[Any]], shape_arrays: Sequence[NDArray[Any]]) -> NDArray[Any]:
        arrays = iter(inputs)
        values = [np.asarray(next(arrays) if value is None else value) for value in self.operands]
        if self.op == "copy":
            return values[0].copy(order="K")
        first, second = np.broadcast_arrays(*values)
        return self.vm.compare_strings(self.op, first, second)


class Stage(NamedTuple):
    """One program run: its inputs and the slots whose shapes broadcast to its shape.

    The program is a VM program (element-wise or, with `reduction`, a reduction) or a
    `StringOperation`.
    """

    program: Program | StringOperation
    inputs: tuple[int, ...]
    shape_slots: tuple[int, ...]
    #: (VM op, axes, divide by the count (mean)) for a reduction stage.
    reduction: tuple[str, tuple[int, ...], bool] | None
    typecodes: tuple[str, ...]
    listing: tuple[tuple[str, ...], ...]
    #: The program's constants, each once (numexpr 2's `NumExpr.constants`).
    constants: tuple[Scalar, ...] = ()


@dataclass(frozen=True, slots=True)
class Compiled:
    """A program compiled for one signature of arguments; `run` executes it."""

    parsed: Parsed
    #: Per slot: (index into the call's values, type code to convert to or None).
    bindings: tuple[tuple[int, str | None], ...]
    stages: tuple[Stage, ...]
    #: Positions in `parsed.targets` of the arrays written by the last stage.
    targets: tuple[int, ...]
    #: How the result is produced: "fresh" (a new array), "out", "slot" (a reduction's
    #: result) or "target" (the last statement's assigned array, `result_target`).
    result: ResultKind
    result_target: int
    result_typecode: str
    #: The call's values are the slots as they are (no conversion, same order).
    direct: bool
    #: One element-wise stage writing a new array or `out`: the common case, on a short path.
    simple: bool

    def call_route(self) -> tuple[Program, tuple[tuple[int, str | None], ...], tuple[int, ...]] | None:
        """(program, inputs, shape values) when a call without `out` is one `evaluate` or
        `reduce` of a VM program, else None: a `_core.Dispatcher` can then run the call
        without Python. Inputs are (value position, type code to convert it to or None);
        the result's shape is the broadcast of the shape values'."""
        if len(self.stages) != 1 or self.targets:
            return None
        stage = self.stages[0]
        if isinstance(stage.program, StringOperation):
            return None
        if self.result == "fresh" or (self.result == "slot" and stage.reduction is not None and not stage.reduction[2]):
            # One stage: its slots are all the call's values (bindings).
            inputs = tuple(self.bindings[slot] for slot in stage.inputs)
            return stage.program, inputs, tuple(self.bindings[slot][0] for slot in stage.shape_slots)
        return None

    def run(
        self,
        values: list[Any],
        target_arrays: Sequence[NDArray[Any] | None],
        out: NDArray[Any] | None,
        order: Order,
    ) -> NDArray[Any]:
        """Run every stage on the call's values (arrays and Python numbers); return the result array.

        `target_arrays` holds the array of each assigned name (None for a temporary).
        """
        slots: list[NDArray[Any]]  # every value as an array (Python numbers are converted)
        if self.direct:
            slots = values
        else:
            slots = [values[at] if code is None else np.asarray(values[at], code) for at, code in self.bindings]
        stages = self.stages
        if self.simple:
            stage = stages[0]
            program = stage.program
            assert not isinstance(program, StringOperation)  # the last stage is the VM's
            inputs = [slots[i] for i in stage.inputs]
            if out is None:  # broadcast, allocate and run in one call of the VM
                return program.evaluate(inputs, [slots[i] for i in stage.shape_slots], order)
            shape = _broadcast([*[slots[i].shape for i in stage.shape_slots], out.shape])
            _check_outputs([out], shape)
            program.run(inputs, [out], shape)
            return out
        slots = list(slots)
        for stage in stages[:-1] if self.result != "slot" else stages:
            slots.append(_run_stage(stage, slots))
        if self.result == "slot":
            return slots[-1]
        return self._run_last(stages[-1], slots, target_arrays, out, order)

    def _run_last(
        self,
        stage: Stage,
        slots: list[NDArray[Any]],
        target_arrays: Sequence[NDArray[Any] | None],
        out: NDArray[Any] | None,
        order: Order,
    ) -> NDArray[Any]:
        """Run the last stage into the targets and `out` or a new array; return the result."""
        program = stage.program
        assert not isinstance(program, StringOperation)  # the last stage is the VM's
        outputs = [_output_array(target_arrays[position]) for position in self.targets]
        if self.result == "out":
            outputs.append(_output_array(out))
        shape = _broadcast([slots[i].shape for i in stage.shape_slots] + [o.shape for o in outputs])
        inputs = [slots[i] for i in stage.inputs]
        if outputs:
            _check_outputs(outputs, shape)
        if self.result == "fresh":
            fresh = np.empty(shape, self.result_typecode, order=_result_order(order, inputs, len(shape)))
            outputs.append(fresh)
        program.run(inputs, outputs, shape)
        if self.result == "target":
            return _output_array(target_arrays[self.result_target])
        return outputs[-1]


def _output_array(array: NDArray[Any] | None) -> NDArray[Any]:
    """An output the program was compiled for (an array there, never None)."""
    assert array is not None
    return array


def _broadcast(shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
    if not shapes:
        return ()
    first = shapes[0]
    for shape in shapes:
        if shape != first:
            return np.broadcast_shapes(*shapes)
    return first


def _run_stage(stage: Stage, slots: list[NDArray[Any]]) -> NDArray[Any]:
    """The result of a stage before the last: a reduction's or a string operation's."""
    program = stage.program
    if isinstance(program, StringOperation):
        return program.evaluate([slots[i] for i in stage.inputs], [])
    assert stage.reduction is not None  # the stages before the last are string or reduction stages
    op, axes, mean = stage.reduction
    if not mean:  # broadcast, allocate and run in one call of the VM
        return program.reduce([slots[i] for i in stage.inputs], [slots[i] for i in stage.shape_slots])
    shape = _broadcast([slots[i].shape for i in stage.shape_slots])
    if op in ("min", "max") and any(shape[axis] == 0 for axis in axes):
        name = "minimum" if op == "min" else "maximum"
        raise ValueError(f"zero-size array to reduction operation {name} which has no identity")
    kept = tuple(1 if axis in axes else n for axis, n in enumerate(shape))
    result = np.empty(kept, stage.typecodes[-1])
    if result.size:  # (an empty output needs no run)
        program.run([slots[i] for i in stage.inputs], [result], shape)
    if mean:
        count = math.prod(shape[axis] for axis in axes)
        with np.errstate(invalid="ignore", divide="ignore"):
            np.divide(result, count, out=result)
    return result.reshape(tuple(n for axis, n in enumerate(shape) if axis not in axes))


def _check_outputs(outputs: list[NDArray[Any]], shape: tuple[int, ...]) -> None:
    for output in outputs:
        if output.shape != shape:
            raise ValueError(f"output array has shape {output.shape}, the result has shape {shape}")
        if not output.flags.writeable:
            raise ValueError("output array is read-only")


def _result_order(order: Order, inputs: list[NDArray[Any]], ndim: int) -> Literal["C", "F"]:
    """'F' when asked, or for 'K'/'A' when every full-rank input is Fortran-ordered."""
    if order in ("C", "F"):
        return order
    full = [a for a in inputs if a.ndim == ndim]
    if ndim > 1 and full and all(a.flags.f_contiguous and not a.flags.c_contiguous for a in full):
        return "F"
    return "C"
