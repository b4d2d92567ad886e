"""numexpr 2's public functions: `evaluate`, `re_evaluate`, `validate`, `NumExpr`, `disassemble`.

A call parses the string (cached), looks the variables up, finds the program compiled for
their dtypes and ranks (cached, LRU) and runs it. Nothing is created or rebound in the
caller's namespace: an assigned name that is an existing array is written into, any other
assigned name is a temporary of the program.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import sys
import weakref
from collections.abc import Iterable, Mapping, Sequence
from types import FrameType
from typing import Any, TypeAlias

import numpy as np
from numpy.typing import DTypeLike, NDArray

from . import _core
from ._compiler import ArgumentSpec, ArraySpec, Casting, compile_program, kernel_table, native_typecode
from ._parser import Parsed, Scalar, parse
from ._runtime import Compiled, Order

__all__ = ["NumExpr", "disassemble", "evaluate", "re_evaluate", "validate"]

_CACHE_SIZE = 256
_CASTINGS = ("no", "equiv", "safe", "same_kind", "unsafe")
_ORDERS = ("C", "F", "A", "K")
_OPTIONS = {"optimization": ("none", "moderate", "aggressive"), "truediv": (False, True, "auto")}
_PYTHON_SCALARS: frozenset[type[Scalar]] = frozenset({bool, int, float, complex})

#: Variables by name, as `evaluate` takes them.
Scope: TypeAlias = Mapping[str, Any]
#: An array argument as programs are compiled for it: (dtype, ndim).
ArraySignature: TypeAlias = tuple[np.dtype[Any], int]
#: The key of a compiled program: (source, casting, out, arguments, targets), each array by its
#: `ArraySignature`, each Python-number argument by its type, each target not an array None.
CallKey: TypeAlias = tuple[
    str, Casting, ArraySignature | None, tuple[ArraySignature | type[Scalar], ...], tuple[ArraySignature | None, ...]
]
#: What `re_evaluate` needs of the last call: (parsed, out, order, casting).
LastCall: TypeAlias = tuple[Parsed, weakref.ref[NDArray[Any]] | None, Order, Casting]

_kernels = kernel_table(_core)
# The last program of this thread or task, for re_evaluate: `out` held by a weak reference (or
# None): remembering it must not keep it alive.
_last: contextvars.ContextVar[LastCall | None] = contextvars.ContextVar("numexpr3_last", default=None)


def _remember_last(parsed: Parsed, out: NDArray[Any] | None, order: Order, casting: Casting) -> None:
    _last.set((parsed, None if out is None else weakref.ref(out), order, casting))


# Parsed programs by source (a non-str raises TypeError here or in parse).
_parse = functools.lru_cache(maxsize=_CACHE_SIZE)(parse)

# The cached-call path of `evaluate`, by source: a dispatcher that runs the programs already
# compiled for the source's variables in C++, and the state `re_evaluate` then needs.
_dispatchers: dict[str, tuple[_core.Dispatcher, LastCall]] = {}


def _remember(
    dispatcher: _core.Dispatcher, compiled: Compiled, arguments: Sequence[object], positions: Sequence[int]
) -> None:
    """Let `dispatcher` run `compiled` itself for arguments like these (when it is one VM run
    and they are arrays of VM dtypes or Python numbers); `positions[i]` is the argument that
    is the program's value i."""
    route = compiled.call_route()
    if route is None:
        return
    program, inputs, shape_values = route
    dispatcher.remember(
        arguments,
        program,
        [(positions[at], code) for at, code in inputs],
        [positions[at] for at in shape_values],
    )


def _dispatcher_for(parsed: Parsed) -> _core.Dispatcher:
    """The dispatcher of `evaluate` for a source, made on first use (at most _CACHE_SIZE kept)."""
    entry = _dispatchers.get(parsed.source)
    if entry is None:
        if len(_dispatchers) >= _CACHE_SIZE:
            with contextlib.suppress(KeyError, RuntimeError, StopIteration):  # another thread got there
                del _dispatchers[next(iter(_dispatchers))]
        dispatcher = _core.Dispatcher(parsed.names)
        _dispatchers[parsed.source] = dispatcher, (parsed, None, "K", "safe")
        return dispatcher
    return entry[0]


def _run_cached(
    dispatcher: _core.Dispatcher,
    local_dict: Scope | None,
    global_dict: Scope | None,
    out: NDArray[Any] | None,
    depth: int,
) -> NDArray[Any] | None:
    """The C++ path of `evaluate` and `re_evaluate`: the result, or None when the dispatcher
    has no program for these variables (or `out`). `depth` counts frames above the caller."""
    if local_dict is None or global_dict is None:
        frame = sys._getframe(depth + 1)
        local_dict = frame.f_locals if local_dict is None else local_dict
        global_dict = frame.f_globals if global_dict is None else global_dict
    return dispatcher.run_scope(local_dict, global_dict, out)


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


def _lookup(
    names: tuple[str, ...], local_dict: Scope | None, global_dict: Scope | None, depth: int, required: bool = True
) -> list[Any]:
    """Values of `names`: `local_dict` (else the caller's locals), then `global_dict` (else its globals).

    `depth` counts frames above the public function that called this one.
    """
    frame: FrameType | None = None
    frame_locals: Scope | None = None
    scope: Scope | None
    values = []
    for name in names:
        if local_dict is not None:
            scope = local_dict
        else:
            if frame_locals is None:
                frame = sys._getframe(depth + 1)
                frame_locals = frame.f_locals  # a snapshot built per access: take it once
            scope = frame_locals
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


def _array_spec(signature: ArraySignature, role: str) -> ArraySpec:
    """(type code, ndim) of an array the VM writes into: its dtype must be a VM type as is."""
    dtype, ndim = signature
    typecode = native_typecode(dtype)
    if typecode != dtype.str[1:] or not dtype.isnative:
        raise TypeError(f"{role} arrays of dtype {dtype} are not supported (native numeric dtypes only)")
    return typecode, ndim


def _value_spec(signature: ArraySignature | type[Scalar]) -> ArgumentSpec:
    """The compiler's description of an argument: (type code, ndim, needs conversion) or a Python type."""
    if isinstance(signature, type):
        return signature
    dtype, ndim = signature
    typecode = native_typecode(dtype)
    return typecode, ndim, typecode != dtype.str[1:] or not dtype.isnative


def _compile(key: CallKey) -> Compiled:
    """Compile for a call signature: (source, casting, out, arguments, targets), each array as (dtype, ndim)."""
    source, casting, out, arguments, targets = key
    parsed = _parse(source)
    specs = {name: _value_spec(signature) for name, signature in zip(parsed.names, arguments)}
    target_specs = {
        name: _array_spec(signature, f"assignment target {name!r}")
        for name, signature in zip(parsed.targets, targets)
        if signature is not None
    }
    out_spec = None if out is None else _array_spec(out, "out")
    return compile_program(parsed, specs, target_specs, out_spec, casting, _kernels, _core)


_compiled = functools.lru_cache(maxsize=_CACHE_SIZE)(_compile)


def _prepare(
    parsed: Parsed,
    local_dict: Scope | None,
    global_dict: Scope | None,
    out: NDArray[Any] | None,
    casting: Casting,
    depth: int,
    disable_cache: bool,
) -> tuple[Compiled, list[Any], list[NDArray[Any] | None]]:
    """Look the operands up and find (or compile) the program for them."""
    values = _lookup(parsed.names, local_dict, global_dict, depth + 1)
    targets: list[NDArray[Any] | None] = []
    if parsed.targets:
        found = _lookup(parsed.targets, local_dict, global_dict, depth + 1, required=False)
        targets = [v if isinstance(v, np.ndarray) else None for v in found]
    return _program(parsed, values, targets, out, casting, disable_cache), values, targets


def _program(
    parsed: Parsed,
    values: list[Any],
    targets: Sequence[NDArray[Any] | None],
    out: NDArray[Any] | None,
    casting: Casting,
    disable_cache: bool,
) -> Compiled:
    """The program for these values (non-arrays other than Python numbers become arrays in place)."""
    arguments: list[ArraySignature | type[Scalar]] = []
    for i, value in enumerate(values):
        kind = type(value)
        if kind in _PYTHON_SCALARS:
            arguments.append(kind)
            continue
        if kind is not np.ndarray:
            value = values[i] = np.asarray(value)
        arguments.append((value.dtype, value.ndim))
    if out is not None and not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy.ndarray, not {type(out).__name__}")
    key: CallKey = (
        parsed.source,
        casting,
        None if out is None else (out.dtype, out.ndim),
        tuple(arguments),
        tuple([None if t is None else (t.dtype, t.ndim) for t in targets]),
    )
    return _compile(key) if disable_cache else _compiled(key)


def evaluate(
    ex: str,
    local_dict: dict[str, Any] | None = None,
    global_dict: dict[str, Any] | None = None,
    out: NDArray[Any] | None = None,
    order: Order = "K",
    casting: Casting = "safe",
    sanitize: bool | None = None,
    _frame_depth: int = 3,
    disable_cache: bool = False,
    **kwargs: Any,
) -> NDArray[Any]:
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
        The value of the last statement (a new array, `out`, or the assigned array).
    """
    plain = not kwargs and casting == "safe" and order == "K" and not disable_cache
    if plain and type(ex) is str and (out is None or type(out) is np.ndarray):
        entry = _dispatchers.get(ex)
        if entry is not None:  # the C++ path: variables of signatures seen before
            result = _run_cached(entry[0], local_dict, global_dict, out, _frame_depth - 2)
            if result is not None:
                if out is None:
                    _last.set(entry[1])
                else:
                    _remember_last(entry[1][0], out, order, casting)
                return result
    if kwargs or casting != "safe" or order != "K":
        _check_options(kwargs, casting, order)
    parsed = parse(ex) if disable_cache else _parse(ex)
    compiled, values, targets = _prepare(parsed, local_dict, global_dict, out, casting, _frame_depth - 2, disable_cache)
    _remember_last(parsed, out, order, casting)
    if plain and not parsed.targets:
        # The program without `out`: the C++ path writes its result into `out` itself.
        without_out = compiled if out is None else _program(parsed, values, targets, None, casting, False)
        _remember(_dispatcher_for(parsed), without_out, values, range(len(values)))
    return compiled.run(values, targets, out, order)


def re_evaluate(
    local_dict: dict[str, Any] | None = None, global_dict: dict[str, Any] | None = None, _frame_depth: int = 2
) -> NDArray[Any]:
    """Evaluate the last expression of this thread (or task) again with fresh variable values.

    `out`, `order` and `casting` are those of the last `evaluate` or `validate` call (a new
    array when that `out` no longer exists: it is not kept alive for this).
    """
    last = _last.get()
    if last is None:
        raise RuntimeError("re_evaluate() needs a previous evaluate() or validate() in this thread")
    parsed, out_ref, order, casting = last
    out = None if out_ref is None else out_ref()  # gone: a new result, as numexpr 2
    entry = _dispatchers.get(parsed.source)
    if entry is not None and (out is None or type(out) is np.ndarray) and order == "K" and casting == "safe":
        result = _run_cached(entry[0], local_dict, global_dict, out, _frame_depth - 1)  # the C++ path
        if result is not None:
            return result
    compiled, values, targets = _prepare(parsed, local_dict, global_dict, out, casting, _frame_depth - 1, False)
    return compiled.run(values, targets, out, order)


def validate(
    ex: str,
    local_dict: dict[str, Any] | None = None,
    global_dict: dict[str, Any] | None = None,
    out: NDArray[Any] | None = None,
    order: Order = "K",
    casting: Casting = "safe",
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
    _remember_last(parsed, out, order, casting)
    return None


class NumExpr(_core.Dispatcher):
    """A compiled expression, called with arrays: ``NumExpr("a*b + c")(x, y, z)``.

    `signature` lists ``(name, dtype)`` pairs: the order of positional arguments and the
    dtype each argument is converted to (under the call's `casting`). Without it, inputs
    are the expression's variables in alphabetical order, typed float64. Objects are
    immutable, picklable and may be called from several threads at once.

    A call with arrays (and optionally ``out=``) of types and ranks seen before runs in C++
    (`_core.Dispatcher`); any other call goes through `_call`.
    """

    def __init__(
        self, ex: str, signature: Iterable[tuple[str, DTypeLike]] = (), sanitize: bool | None = True, **kwargs: Any
    ) -> None:
        _check_options(kwargs, "safe", "K")
        self.ex = ex
        self._parsed = parsed = _parse(ex)
        self.signature: tuple[tuple[str, np.dtype[Any]], ...]
        if signature:
            self.signature = tuple((str(name), np.dtype(dtype)) for name, dtype in signature)
        else:
            self.signature = tuple((name, np.dtype(np.float64)) for name in sorted(parsed.names))
        self.input_names = tuple(name for name, _ in self.signature)
        missing = set(parsed.names) - set(self.input_names)
        if missing:
            raise ValueError(f"the signature lacks the variables {sorted(missing)}")
        self._dtypes = dict(self.signature)
        self._name_dtypes = [self._dtypes[name] for name in parsed.names]
        self._positions = [self.input_names.index(name) for name in parsed.names]
        # Type-check now; ranks are unknown until called, so any axis up to 32 dimensions passes.
        arguments = tuple((self._dtypes[name], 32) for name in parsed.names)
        self._compiled = _compile((parsed.source, "safe", None, arguments, (None,) * len(parsed.targets)))
        self._by_rank: dict[tuple[tuple[int, ...], Casting, tuple[object, object] | None], Compiled] = {}

    def _call(
        self,
        *args: Any,
        out: NDArray[Any] | None = None,
        order: Order = "K",
        casting: Casting = "safe",
        **arrays: Any,
    ) -> NDArray[Any]:
        """Run with arrays by position (`input_names` order) and/or keyword; assignment
        targets may be passed by keyword too. (What calling the object does when its C++
        path does not know the call.)"""
        if casting != "safe" or order != "K":
            _check_options({}, casting, order)
        if arrays or len(args) != len(self.input_names):
            values, targets = self._by_name(args, arrays)
        else:  # all inputs by position, the common case
            values = [args[position] for position in self._positions]
            targets = [None] * len(self._parsed.targets)
        converted = self._converted(values, casting)
        compiled = self._program_for(converted, targets, out, casting)
        if (
            order == "K"
            and not arrays
            and not self._parsed.targets
            and all(value is original for value, original in zip(converted, values))
        ):
            # The program without `out`: the C++ path writes its result into `out` itself.
            without_out = compiled if out is None else _program(self._parsed, converted, targets, None, casting, False)
            _remember(self, without_out, args, self._positions)
        return compiled.run(converted, targets, out, order)

    def _by_name(self, args: tuple[Any, ...], arrays: dict[str, Any]) -> tuple[list[Any], list[NDArray[Any] | None]]:
        """The values and targets of a call with arrays by keyword (added to `arrays`) or too few by position."""
        arrays.pop("ex_uses_vml", None)  # numexpr 2 compatibility
        if len(args) > len(self.input_names):
            raise TypeError(f"expected at most {len(self.input_names)} arrays, got {len(args)}")
        arrays.update(zip(self.input_names, args))
        missing = [name for name in self._parsed.names if name not in arrays]
        if missing:
            raise TypeError(f"missing the array for {missing[0]!r}")
        values = [arrays[name] for name in self._parsed.names]
        found = [arrays.get(t) for t in self._parsed.targets]
        return values, [t if isinstance(t, np.ndarray) else None for t in found]

    def _converted(self, values: list[Any], casting: Casting) -> list[Any]:
        """The values as arrays of the signature's dtypes (those that already are, themselves)."""
        converted = values.copy()
        names = self._parsed.names
        for i, dtype in enumerate(self._name_dtypes):
            value = values[i]
            if type(value) is not np.ndarray or (value.dtype is not dtype and value.dtype != dtype):
                value = np.asarray(value)
                if not np.can_cast(value.dtype, dtype, casting):
                    raise TypeError(f"cannot cast {names[i]!r} from {value.dtype} to {dtype} with casting={casting!r}")
                converted[i] = value.astype(dtype, copy=False)
        return converted

    def _program_for(
        self, values: list[NDArray[Any]], targets: list[NDArray[Any] | None], out: NDArray[Any] | None, casting: Casting
    ) -> Compiled:
        """The program for inputs of the signature's dtypes: their ranks (and the call's casting
        and out) pick it, and a small per-object table spares the global cache's key."""
        out_spec = None if out is None else (getattr(out, "dtype", None), getattr(out, "ndim", None))
        key = (tuple([value.ndim for value in values]), casting, out_spec)
        has_targets = any(t is not None for t in targets)
        compiled = None if has_targets else self._by_rank.get(key)
        if compiled is None:
            compiled = _program(self._parsed, values, targets, out, casting, False)
            if not has_targets and len(self._by_rank) < 64:
                self._by_rank[key] = compiled
        return compiled

    @property
    def constants(self) -> tuple[Scalar, ...]:
        """The constants of the compiled program, each once, in the VM's types."""
        return tuple(value for stage in self._compiled.stages for value in stage.constants)

    def run(self, *args: Any, **kwargs: Any) -> NDArray[Any]:
        """Call the expression (numexpr 2's name for it)."""
        return self(*args, **kwargs)

    def __reduce__(self) -> tuple[type[NumExpr], tuple[str, tuple[tuple[str, np.dtype[Any]], ...]]]:
        return NumExpr, (self.ex, self.signature)

    def __repr__(self) -> str:
        return f"NumExpr({self.ex!r}, signature={[(n, d.name) for n, d in self.signature]})"


def disassemble(nex: NumExpr) -> list[tuple[str, ...]]:
    """The VM instructions of a compiled expression, one ``(op, dest, *sources)`` tuple each.

    Registers read ``name:typecode``; a reduction stage starts with a ``("sum(axis=...)",
    *axes)`` line.
    """
    return [line for stage in nex._compiled.stages for line in stage.listing]
