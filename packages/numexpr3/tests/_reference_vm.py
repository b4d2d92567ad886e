"""A whole-array NumPy interpreter of numexpr3 VM programs, following `_core.pyi`.

It is the test oracle for the compiler: it checks every instruction's types as strictly
as the C++ VM must, and computes with NumPy's own loops. Tests install it as
``numexpr3._core`` only when ``NUMEXPR3_REFERENCE_VM=1`` (see conftest.py).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import scipy.special

TYPECODES = ("b1", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f4", "f8", "c8", "c16")
__version__ = "reference"
_threads = [1]

_SPECIAL_KERNELS = {
    "where": [(("b1", t, t), t) for t in TYPECODES],
    "real": [(("c8",), "f4"), (("c16",), "f8")],
    "imag": [(("c8",), "f4"), (("c16",), "f8")],
    "complex": [(("f4", "f4"), "c8"), (("f8", "f8"), "c16")],
    "erf": [(("f4",), "f4"), (("f8",), "f8")],
    "erfc": [(("f4",), "f4"), (("f8",), "f8")],
    "copy": [((t,), t) for t in TYPECODES],
    "cast": [((s,), t) for s in TYPECODES for t in TYPECODES],
}


def _typecode(char: str) -> str | None:
    if char not in "?bBhHiIlLqQfdFD":
        return None
    return np.dtype(char).str[1:]


def kernel_signatures() -> dict[str, list[tuple[tuple[str, ...], str]]]:
    table = dict(_SPECIAL_KERNELS)
    ufuncs = {name: getattr(np, name) for name in dir(np) if isinstance(getattr(np, name), np.ufunc)}
    for op, ufunc in ufuncs.items():
        signatures = set()
        for loop in ufunc.types:
            ins, out = loop.split("->")
            codes = [_typecode(c) for c in ins + out]
            if len(out) == 1 and None not in codes:
                signatures.add((tuple(codes[:-1]), codes[-1]))
        table[op] = sorted(signatures)
    return table


_KERNELS = {op: dict(signatures) for op, signatures in kernel_signatures().items()}


def _compute(op: str, sources: list[np.ndarray], dest: str) -> np.ndarray:
    if op == "cast":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", np.exceptions.ComplexWarning)
            return sources[0].astype(dest)
    if op == "copy":
        return sources[0].copy()
    if op == "where":
        return np.where(*sources)
    if op in ("real", "imag"):
        return getattr(np, op)(sources[0]).copy()
    if op == "complex":
        result = np.empty(sources[0].shape, dest)
        result.real, result.imag = sources
        return result
    if op in ("erf", "erfc"):
        return getattr(scipy.special, op)(sources[0]).astype(dest)
    ufunc = getattr(np, op)
    try:
        return ufunc(*sources, signature=(*[s.dtype for s in sources], np.dtype(dest)))
    except TypeError:  # mixed loops (int64 < uint64) are not selectable by signature
        return ufunc(*sources)


_REDUCERS = {
    "sum": np.add,
    "prod": np.multiply,
    "min": np.minimum,
    "max": np.maximum,
    "any": np.logical_or,
    "all": np.logical_and,
}


class Program:
    def __init__(self, registers: Sequence, instructions: Sequence, reduction: tuple | None = None) -> None:
        self.registers = [tuple(r) for r in registers]
        self.instructions = [(op, dest, tuple(sources)) for op, dest, sources in instructions]
        self.reduction = reduction
        self._check_registers()
        self._check_instructions()
        if reduction is not None:
            self._check_reduction(reduction[0])

    def _check_registers(self) -> None:
        for kind, code, value in self.registers:
            if kind not in ("in", "out", "const", "temp") or code not in TYPECODES:
                raise ValueError(f"bad register {(kind, code, value)}")
            if kind == "const":
                np.asarray(value, dtype=code)  # OverflowError when it does not fit

    def _check_instructions(self) -> None:
        """Each instruction reads registers already written, writes an out or temp, and has a kernel."""
        written = {i for i, r in enumerate(self.registers) if r[0] in ("in", "const")}
        for op, dest, sources in self.instructions:
            codes = tuple(self.registers[s][1] for s in sources)
            out = self.registers[dest][1]
            if any(s not in written for s in sources):
                raise ValueError(f"{op} reads a register before it is written")
            if self.registers[dest][0] not in ("out", "temp"):
                raise ValueError(f"{op} writes a register of kind {self.registers[dest][0]}")
            if op == "copy" and codes != (out,):
                raise TypeError(f"copy needs equal types, got {codes} -> {out}")
            if op not in ("cast", "copy") and _KERNELS.get(op, {}).get(codes) != out:
                raise TypeError(f"no kernel {op}{codes} -> {out}")
            written.add(dest)

    def _check_reduction(self, op: str) -> None:
        outputs = [r for r in self.registers if r[0] == "out"]
        last = self.registers[self.instructions[-1][1]]
        if len(outputs) != 1 or last[0] != "temp" or last[1] != outputs[0][1]:
            raise ValueError("a reduction reduces a temp of the output's type in its last instruction")
        if op not in _REDUCERS:
            raise ValueError(f"unknown reduction {op}")

    @property
    def weight(self) -> int:
        return len(self.instructions)

    def run(self, inputs: Sequence[np.ndarray], outputs: Sequence[np.ndarray], shape=None, nthreads: int = 0) -> None:
        shape = tuple(outputs[0].shape if shape is None else shape)
        values: dict[int, np.ndarray] = {}
        in_registers = [i for i, r in enumerate(self.registers) if r[0] == "in"]
        out_registers = [i for i, r in enumerate(self.registers) if r[0] == "out"]
        assert len(inputs) == len(in_registers) and len(outputs) == len(out_registers)
        for register, array in zip(in_registers, inputs):
            if array.dtype != np.dtype(self.registers[register][1]) or not array.dtype.isnative:
                raise TypeError(f"input dtype {array.dtype} != register {self.registers[register][1]}")
            values[register] = np.broadcast_to(array, shape)
        for i, (kind, code, value) in enumerate(self.registers):
            if kind == "const":
                values[i] = np.full(shape, value, dtype=code)
        for array, register in zip(outputs, out_registers):
            assert array.dtype == np.dtype(self.registers[register][1]) and array.flags.writeable
            if self.reduction is None:
                assert array.shape == shape, (array.shape, shape)
        with np.errstate(all="ignore"):
            for op, dest, sources in self.instructions:
                result = _compute(op, [values[s] for s in sources], self.registers[dest][1])
                assert result.dtype == np.dtype(self.registers[dest][1]), (op, result.dtype)
                values[dest] = np.broadcast_to(result, shape)
            if self.reduction is not None:
                op, axes = self.reduction
                last = values[self.instructions[-1][1]]
                reduced = _REDUCERS[op].reduce(last, axis=tuple(axes), keepdims=True, dtype=outputs[0].dtype)
                outputs[0][...] = reduced
                return
        for array, register in zip(outputs, out_registers):
            array[...] = values[register]

    def _output_code(self) -> str:
        return next(code for kind, code, _ in self.registers if kind == "out")

    def evaluate(
        self, inputs: Sequence[np.ndarray], shape_arrays: Sequence[np.ndarray], order: str = "K"
    ) -> np.ndarray:
        shape = np.broadcast_shapes(*(a.shape for a in shape_arrays))
        full_rank = [a for a in inputs if a.ndim == len(shape) and a.ndim > 1]
        fortran = order == "F" or (
            order in "KA"
            and bool(full_rank)
            and all(a.flags.f_contiguous and not a.flags.c_contiguous for a in full_rank)
        )
        out = np.empty(shape, self._output_code(), order="F" if fortran else "C")
        self.run(inputs, [out], shape)
        return out

    def reduce(self, inputs: Sequence[np.ndarray], shape_arrays: Sequence[np.ndarray]) -> np.ndarray:
        assert self.reduction is not None
        op, axes = self.reduction
        shape = np.broadcast_shapes(*(a.shape for a in shape_arrays))
        if op in ("min", "max") and any(shape[axis] == 0 for axis in axes):
            raise ValueError(f"zero-size array to reduction operation {op} which has no identity")
        out = np.empty([1 if axis in axes else n for axis, n in enumerate(shape)], self._output_code())
        self.run(inputs, [out], shape)
        return out.reshape([n for axis, n in enumerate(shape) if axis not in axes])


class Dispatcher:
    """Remembers nothing: every call takes the Python path (`_call`), which is what the
    reference VM is for (the compiler's programs run on `Program`)."""

    def __init__(self, names: tuple[str, ...] = ()) -> None:
        self.names = names

    def remember(self, arguments: object, program: object, inputs: object, shape_arguments: object, /) -> bool:
        return False

    def run_scope(self, local_scope: object, global_scope: object, out: object = None, /) -> None:
        return None

    def num_routes(self) -> int:
        return 0

    def __call__(self, *args: object, **kwargs: object) -> object:
        return self._call(*args, **kwargs)  # type: ignore[attr-defined]  # NumExpr, the subclass, defines it


def vector_math() -> str:
    return "scalar"


# The reference allocates with NumPy and keeps nothing for reuse.
def recycled_outputs() -> tuple[int, int, int]:
    return (0, 0, 0)


def release_recycled_outputs() -> int:
    return 0


def set_num_threads(n: int) -> int:
    old, _threads[0] = _threads[0], n
    return old


def get_num_threads() -> int:
    return _threads[0]


def max_threads() -> int:
    return 64


def block_size() -> int:
    return 1024


def compare_strings(op: str, a: np.ndarray, b: np.ndarray, nthreads: int = 0) -> np.ndarray:
    if a.dtype.kind != "S" or b.dtype.kind != "S":
        raise TypeError("string operands must be byte-string ('S') arrays")
    if a.shape != b.shape:
        raise ValueError("string operands must have the same shape (broadcast them first)")
    if op == "contains":
        return np.asarray(np.strings.find(a, b) >= 0)
    return np.asarray(getattr(np, op)(a, b))
