"""The virtual machine of numexpr3 (C++).

A `Program` is a typed, linear list of instructions over registers. Type codes are
NumPy's native dtype strings without the byte-order character: ``b1 i1 i2 i4 i8 u1 u2
u4 u8 f4 f8 c8 c16`` (``np.dtype(x).str[1:]``).

Registers are ``(kind, typecode, value)``:

- ``"in"``: an input array, bound by position at `Program.run` (in register order);
- ``"out"``: an output array, bound by position at `Program.run` (in register order);
  an output may be read by later instructions once written;
- ``"const"``: a scalar; ``value`` is a Python bool/int/float/complex, stored exactly in
  ``typecode`` (OverflowError when it does not fit);
- ``"temp"``: a block-sized scratch register (``value`` None).

Instructions are ``(op, dest, sources)``: ``op`` names a kernel of
`kernel_signatures()`, whose input type codes must equal the sources' type codes and whose
output type code must equal the destination's. ``"cast"`` converts any type code to any
other (NumPy's unsafe casting semantics; the caller decides what casting it allows) and
``"copy"`` copies a register of the same type.

A reduction program (``reduction=(op, axes)``, ``op`` in sum prod min max any all) reduces
the destination of its last instruction, a temp of the output's type code, over ``axes``
of the iteration shape into its single output.
"""

from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypeAlias

import numpy as np
from numpy.typing import ArrayLike, NDArray

RegisterKind: TypeAlias = Literal["in", "out", "const", "temp"]
Register: TypeAlias = tuple[RegisterKind, str, bool | int | float | complex | None]
Instruction: TypeAlias = tuple[str, int, Sequence[int]]

def kernel_signatures() -> dict[str, list[tuple[tuple[str, ...], str]]]:
    """Every kernel: op name -> list of (input type codes, output type code)."""

class Program:
    def __init__(
        self,
        registers: Sequence[Register],
        instructions: Sequence[Instruction],
        reduction: tuple[str, tuple[int, ...]] | None = None,
    ) -> None:
        """Check and link a program; TypeError for a missing kernel, ValueError when malformed."""
    def run(
        self,
        inputs: Sequence[NDArray[Any]],
        outputs: Sequence[NDArray[Any]],
        shape: Sequence[int] | None = None,
        nthreads: int = 0,
    ) -> None:
        """Run the program over the iteration `shape` (default: the first output's shape).

        Inputs broadcast to `shape` (any strides, including zero and negative); their dtypes
        must equal their registers' exactly. Element-wise programs: every output has exactly
        `shape`. Reduction programs: the output has len(shape) dimensions, 1 on the reduced
        axes and `shape` elsewhere. Outputs must be writable; an input that overlaps an
        output other than element for element is copied first. `nthreads` = 0 uses the pool's
        setting; small work runs on the calling thread. Releases the GIL.
        """
    def evaluate(
        self,
        inputs: Sequence[NDArray[Any]],
        shape_arrays: Sequence[NDArray[Any]],
        order: Literal["C", "F", "A", "K"] = "K",
    ) -> NDArray[Any]:
        """Run an element-wise, single-output program into a new array.

        The result's shape is the broadcast of `shape_arrays`' shapes; its memory order is
        `order` ('C', 'F', or for 'K'/'A' Fortran when every full-rank input is).
        """
    def reduce(self, inputs: Sequence[NDArray[Any]], shape_arrays: Sequence[NDArray[Any]]) -> NDArray[Any]:
        """Run a reduction program into a new array without the reduced axes.

        The iteration shape is the broadcast of `shape_arrays`' shapes; min and max over an
        empty axis raise ValueError as NumPy does.
        """
    @property
    def weight(self) -> int:
        """Estimated cost per element (for choosing the thread count)."""

def compare_strings(op: str, a: NDArray[np.bytes_], b: NDArray[np.bytes_], nthreads: int = 0) -> NDArray[np.bool_]:
    """``a OP b`` of two byte-string ('S') arrays of the same shape (any widths and strides)
    into a new bool array, on the pool without the GIL.

    OP: equal, not_equal, less, less_equal, greater, greater_equal, or contains (b occurs
    in a). NumPy's semantics: trailing NULs are padding, embedded NULs count. TypeError for
    other dtypes, ValueError for different shapes or another OP.
    """

def vector_math() -> str:
    """The vector math in use: "libmvec-avx512", "libmvec-avx2", "libmvec-sse2" or "scalar".

    The environment variable NUMEXPR3_SIMD (scalar, sse2, avx2), read once at import, caps it.
    """

def set_num_threads(n: int) -> int:
    """Set the pool's thread count (1 <= n <= max_threads()); returns the previous one."""

def get_num_threads() -> int: ...
def max_threads() -> int:
    """The pool's capacity, fixed at import (NUMEXPR_MAX_THREADS, default 64)."""

def block_size() -> int:
    """Elements per block of the VM."""

def recycled_outputs() -> tuple[int, int, int]:
    """(count, bytes) of the freed large outputs kept for reuse, and how many allocations have reused one."""

def release_recycled_outputs() -> int:
    """Gives the freed large outputs kept for reuse back to the system; returns their bytes."""

#: (smallest output recycled in bytes, most outputs kept, most bytes kept)
RECYCLING: tuple[int, int, int]

__version__: str

class Dispatcher:
    """Runs programs remembered for signatures of arguments, without Python.

    A signature is, per argument, an array's dtype (a VM type, native byte order) and rank,
    or a Python scalar's type (bool, int, float, complex); arrays must be `numpy.ndarray`
    itself (not a subclass). `NumExpr` subclasses it: calling the object with a remembered
    signature (positional arguments, no keyword but ``out=``) runs the program in C++; any
    other call goes to the object's ``_call(*args, **kwargs)``, which is also where a call
    ends up whose ``out`` does not suit.
    """

    def __init__(self, names: tuple[str, ...] = ()) -> None:
        """`names`: the variables `run_scope` looks up, in argument order."""
    def remember(
        self,
        arguments: Sequence[object],
        program: Program,
        inputs: Sequence[tuple[int, str | None]],
        shape_arguments: Sequence[int],
        /,
    ) -> bool:
        """Calls whose arguments have the signature of `arguments` will run `program`
        (`Program.evaluate`, order 'K', or `Program.reduce`) on its inputs, each ``(position,
        type code)``: ``numpy.asarray(arguments[position], type code)``, or the argument
        itself for None; the shape is the broadcast of ``arguments[i] for i in
        shape_arguments``.

        Returns False, remembering nothing, when an argument has no signature, beyond 32
        arguments or beyond 64 signatures. ValueError for positions out of range or a Python
        scalar input without a type code.
        """
    def run_scope(
        self, local_scope: Mapping[str, object], global_scope: Mapping[str, object], out: NDArray[Any] | None = None, /
    ) -> NDArray[Any] | None:
        """The result for `names` looked up in `local_scope`, then `global_scope`, written into
        `out` when given; None when their signature is not remembered, a name is in neither, a
        scope is neither a dict nor (Python >= 3.13) a function frame's f_locals, or `out` is
        not a writable array of the result's dtype and shape."""
    def num_routes(self) -> int:
        """How many signatures are remembered."""
    def __call__(self, *args: ArrayLike, out: NDArray[Any] | None = None, **kwargs: object) -> NDArray[Any]: ...
