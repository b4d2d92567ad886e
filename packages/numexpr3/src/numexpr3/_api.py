"""numexpr 2's public functions: `evaluate`, `re_evaluate`, `validate`, `NumExpr`, `disassemble`.

A call parses the string (cached), looks the variables up, finds the program compiled for
their dtypes and ranks (cached, LRU) and runs it. Nothing is created or rebound in the
caller's namespace: an assigned name that is an existing array is written into, any other
assigned name is a temporary of the program.
"""

from __future__ import annotations

import contextlib
import contextvars
import sys
from collections import OrderedDict
from typing import Any

import numpy as np

from . import _core
from ._compiler import Compiled, compile_program, kernel_table, native_typecode
from ._parser import Parsed, parse

__all__ = ["NumExpr", "disassemble", "evaluate", "re_evaluate", "validate"]

_CACHE_SIZE = 256
_CASTINGS = ("no", "equiv", "safe", "same_kind", "unsafe")
_ORDERS = ("C", "F", "A", "K")
_OPTIONS = {"optimization": ("none", "moderate", "aggressive"), "truediv": (False, True, "auto")}
_PYTHON_SCALARS = (bool, int, float, complex)

_parsed_cache: OrderedDict[str, Parsed] = OrderedDict()
_compiled_cache: OrderedDict[tuple, Compiled] = OrderedDict()
_kernels: dict[str, dict[tuple[str, ...], str]] = {}
# The last program of this thread or task, for re_evaluate: (parsed, out, order, casting).
_last: contextvars.ContextVar[tuple | None] = contextvars.ContextVar("numexpr3_last", default=None)


def _remember(cache: OrderedDict, key: Any, value: Any) -> None:
    cache[key] = value
    while len(cache) > _CACHE_SIZE:
        try:
            cache.popitem(last=False)
        except KeyError:  # emptied by another thread
            break


def _recall(cache: OrderedDict, key: Any) -> Any:
    value = cache.get(key)
    if value is not None:
        with contextlib.suppress(KeyError):  # evicted by another thread meanwhile
            cache.move_to_end(key)
    return value


def _parse(ex: str, disable_cache: bool = False) -> Parsed:
    parsed = None if disable_cache else _recall(_parsed_cache, ex)
    if parsed is None:
        parsed = parse(ex)
        if not disable_cache:
            _remember(_parsed_cache, ex, parsed)
    return parsed


def _check_options(options: dict[str, Any], casting: str, order: str) -> None:
    for name, value in options.items():
        allowed = _OPTIONS.get(name)
        if allowed is None:
            raise ValueError(f"unknown keyword argument {name!r}")
        if value not in allowed:
            raise ValueError(f"{name} must be one of {allowed}, not {value!r}")
    if casting not in _CASTINGS:
        raise ValueError(f"casting must be one of {_CASTINGS}, not {casting!r}")
    if order not in _ORDERS:
        raise ValueError(f"order must be one of {_ORDERS}, not {order!r}")


def _as_value(value: Any) -> Any:
    """An ndarray, or a Python scalar kept as is (weakly typed, as in NumPy)."""
    if type(value) is np.ndarray or type(value) in _PYTHON_SCALARS:
        return value
    return np.asarray(value)


def _lookup(names: tuple[str, ...], local_dict: Any, global_dict: Any, depth: int, required: bool = True) -> list[Any]:
    """Values of `names`: `local_dict` (else the caller's locals), then `global_dict` (else its globals).

    `depth` counts frames above the public function that called this one.
    """
    frame = None
    values = []
    for name in names:
        scope = local_dict
        if scope is None:
            frame = frame or sys._getframe(depth + 1)
            scope = frame.f_locals
        if name in scope:
            values.append(scope[name])
            continue
        scope = global_dict
        if scope is None:
            frame = frame or sys._getframe(depth + 1)
            scope = frame.f_globals
        if name in scope:
            values.append(scope[name])
        elif required:
            raise KeyError(f"variable {name!r} of the expression is not defined")
        else:
            values.append(None)
    return values


def _array_spec(array: np.ndarray, role: str) -> tuple[str, int]:
    """(type code, ndim) of an array the VM writes into: its dtype must be a VM type as is."""
    typecode = native_typecode(array.dtype)
    if typecode != array.dtype.str[1:] or not array.dtype.isnative:
        raise TypeError(f"{role} arrays of dtype {array.dtype} are not supported (native numeric dtypes only)")
    return typecode, array.ndim


def _compile(parsed: Parsed, values: list, targets: list, out: Any, casting: str, ndims: int | None = None) -> Compiled:
    specs: dict[str, Any] = {}
    for name, value in zip(parsed.names, values):
        if type(value) in _PYTHON_SCALARS:
            specs[name] = type(value)
        else:
            typecode = native_typecode(value.dtype)
            convert = typecode != value.dtype.str[1:] or not value.dtype.isnative
            specs[name] = (typecode, value.ndim if ndims is None else ndims, convert)
    target_specs = {
        name: _array_spec(array, f"assignment target {name!r}")
        for name, array in zip(parsed.targets, targets)
        if array is not None
    }
    out_spec = None if out is None else _array_spec(out, "out")
    if not _kernels:
        _kernels.update(kernel_table(_core))
    return compile_program(parsed, specs, target_specs, out_spec, casting, _kernels, _core)


def _prepare(
    parsed: Parsed, local_dict: Any, global_dict: Any, out: Any, casting: str, depth: int, disable_cache: bool
) -> tuple[Compiled, list, list]:
    """Look the operands up and find (or compile) the program for them."""
    values = [_as_value(v) for v in _lookup(parsed.names, local_dict, global_dict, depth + 1)]
    targets = []
    if parsed.targets:
        found = _lookup(parsed.targets, local_dict, global_dict, depth + 1, required=False)
        targets = [v if isinstance(v, np.ndarray) else None for v in found]
    if out is not None and not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy.ndarray, not {type(out).__name__}")
    key = (
        parsed.source,
        casting,
        None if out is None else (out.dtype, out.ndim),
        *[(v.dtype, v.ndim) if type(v) is np.ndarray else type(v) for v in values],
        *[None if t is None else (t.dtype, t.ndim) for t in targets],
    )
    compiled = None if disable_cache else _recall(_compiled_cache, key)
    if compiled is None:
        compiled = _compile(parsed, values, targets, out, casting)
        if not disable_cache:
            _remember(_compiled_cache, key, compiled)
    return compiled, values, targets


def evaluate(
    ex: str,
    local_dict: dict[str, Any] | None = None,
    global_dict: dict[str, Any] | None = None,
    out: np.ndarray | None = None,
    order: str = "K",
    casting: str = "safe",
    sanitize: bool | None = None,
    _frame_depth: int = 3,
    disable_cache: bool = False,
    **kwargs: Any,
) -> np.ndarray:
    """Evaluate an array expression or a program of statements.

    Args:
        ex: an expression (``"2*a + sin(b)**2"``) or statements separated by ``;`` or
            newlines (``"t = a*b; where(t > 0, t, -t)"``). An assigned name that is an
            existing array is written into; any other assigned name is a temporary.
        local_dict: variables, searched first; default the caller's local variables.
        global_dict: variables searched next; default the caller's global variables.
        out: array receiving the value of the last statement (any layout; its shape must
            be the result's shape).
        order: memory order of a newly allocated result: 'K'/'A' (Fortran if every
            full-rank input is), 'C' or 'F'.
        casting: rule for storing results into `out` and assignment targets
            ('no', 'equiv', 'safe', 'same_kind', 'unsafe').
        sanitize: accepted for numexpr 2 compatibility; strings are always parsed
            into a whitelisted syntax tree and never executed.
        disable_cache: compile afresh and do not cache.
        kwargs: numexpr 2's ``optimization`` and ``truediv``, validated and ignored.

    Returns:
        The value of the last statement: a new array, `out`, or the assigned array.
    """
    if kwargs or casting != "safe" or order != "K":
        _check_options(kwargs, casting, order)
    parsed = _parse(ex, disable_cache)
    compiled, values, targets = _prepare(parsed, local_dict, global_dict, out, casting, _frame_depth - 2, disable_cache)
    _last.set((parsed, out, order, casting))
    return compiled.run(values, targets, out, order)


def re_evaluate(
    local_dict: dict[str, Any] | None = None, global_dict: dict[str, Any] | None = None, _frame_depth: int = 2
) -> np.ndarray:
    """Evaluate the last expression of this thread (or task) again with fresh variable values.

    `out`, `order` and `casting` are those of the last `evaluate` or `validate` call.
    """
    last = _last.get()
    if last is None:
        raise RuntimeError("re_evaluate() needs a previous evaluate() or validate() in this thread")
    parsed, out, order, casting = last
    compiled, values, targets = _prepare(parsed, local_dict, global_dict, out, casting, _frame_depth - 1, False)
    return compiled.run(values, targets, out, order)


def validate(
    ex: str,
    local_dict: dict[str, Any] | None = None,
    global_dict: dict[str, Any] | None = None,
    out: np.ndarray | None = None,
    order: str = "K",
    casting: str = "safe",
    _frame_depth: int = 2,
    sanitize: bool | None = None,
    **kwargs: Any,
) -> Exception | None:
    """Check and compile (into the cache) an expression as `evaluate` would; nothing is run.

    Returns the exception `evaluate` would raise while compiling, or None. A later
    `re_evaluate` runs it.
    """
    try:
        _check_options(kwargs, casting, order)
        parsed = _parse(ex)
        _prepare(parsed, local_dict, global_dict, out, casting, _frame_depth - 1, False)
    except Exception as error:
        return error
    _last.set((parsed, out, order, casting))
    return None


class NumExpr:
    """A compiled expression, called with arrays: ``NumExpr("a*b + c")(x, y, z)``.

    `signature` lists ``(name, dtype)`` pairs: the order of positional arguments and the
    dtype each argument is converted to (under the call's `casting`). Without it, inputs
    are the expression's variables in alphabetical order, typed float64. Objects are
    immutable, picklable and may be called from several threads at once.
    """

    def __init__(self, ex: str, signature: Any = (), sanitize: bool | None = True, **kwargs: Any) -> None:
        _check_options(kwargs, "safe", "K")
        self.ex = ex
        self._parsed = parsed = _parse(ex)
        if signature:
            self.signature = tuple((str(name), np.dtype(dtype)) for name, dtype in signature)
        else:
            self.signature = tuple((name, np.dtype(np.float64)) for name in sorted(parsed.names))
        self.input_names = tuple(name for name, _ in self.signature)
        missing = set(parsed.names) - set(self.input_names)
        if missing:
            raise ValueError(f"the signature lacks the variables {sorted(missing)}")
        self._dtypes = dict(self.signature)
        # Type-check now; ranks are unknown until called, so any axis up to 32 dimensions passes.
        values = [np.empty((), self._dtypes[name]) for name in parsed.names]
        self._compiled = _compile(parsed, values, [None] * len(parsed.targets), None, "safe", ndims=32)

    def __call__(
        self, *args: Any, out: np.ndarray | None = None, order: str = "K", casting: str = "safe", **arrays: Any
    ) -> np.ndarray:
        """Run with arrays by position (`input_names` order) and/or keyword; assignment
        targets may be passed by keyword too."""
        arrays.pop("ex_uses_vml", None)  # numexpr 2 compatibility
        if casting != "safe" or order != "K":
            _check_options({}, casting, order)
        if len(args) > len(self.input_names):
            raise TypeError(f"expected at most {len(self.input_names)} arrays, got {len(args)}")
        arrays.update(zip(self.input_names, args))
        values = []
        for name in self._parsed.names:
            if name not in arrays:
                raise TypeError(f"missing the array for {name!r}")
            value = np.asarray(arrays[name])
            dtype = self._dtypes[name]
            if value.dtype != dtype:
                if not np.can_cast(value.dtype, dtype, casting):
                    raise TypeError(f"cannot cast {name!r} from {value.dtype} to {dtype} with casting={casting!r}")
                value = value.astype(dtype)
            values.append(value)
        local_dict = dict(zip(self._parsed.names, values))
        local_dict.update((t, arrays[t]) for t in self._parsed.targets if t in arrays)
        compiled, values, targets = _prepare(self._parsed, local_dict, {}, out, casting, 0, False)
        return compiled.run(values, targets, out, order)

    def __reduce__(self) -> tuple:
        return NumExpr, (self.ex, self.signature)

    def __repr__(self) -> str:
        return f"NumExpr({self.ex!r}, signature={[(n, d.name) for n, d in self.signature]})"


def disassemble(nex: NumExpr) -> list[tuple[str, ...]]:
    """The VM instructions of a compiled expression, one ``(op, dest, *sources)`` tuple each.

    Registers read ``name:typecode``; a reduction stage starts with a ``("sum(axis=...)",
    *axes)`` line.
    """
    return [line for stage in nex._compiled.stages for line in stage.listing]
