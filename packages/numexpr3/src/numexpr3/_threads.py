"""Thread-pool settings: numexpr 2's functions and environment variables, without log lines.

- ``NUMEXPR_MAX_THREADS``: the pool's capacity (`MAX_THREADS`, default 64), read by the VM
  at import.
- ``NUMEXPR_NUM_THREADS``, else ``OMP_NUM_THREADS``: the initial thread count (capped at
  `MAX_THREADS`); unset or empty means the default, the number of usable cores capped at
  `MAX_THREADS`; anything else that is not an integer >= 1 raises ValueError naming it.

`set_num_threads` clamps counts above `MAX_THREADS` and raises ValueError below 1
(numexpr 2 printed to stderr and returned -1 instead).
"""

from __future__ import annotations

import os

from . import _core

__all__ = [
    "MAX_THREADS",
    "detect_number_of_cores",
    "get_num_threads",
    "get_vml_num_threads",
    "get_vml_version",
    "ncores",
    "nthreads",
    "set_num_threads",
    "set_vml_accuracy_mode",
    "set_vml_num_threads",
    "use_vml",
]


def detect_number_of_cores() -> int:
    """The number of cores this process may run on (its CPU affinity where the OS has one)."""
    if hasattr(os, "process_cpu_count"):  # Python >= 3.13
        count = os.process_cpu_count()
    elif hasattr(os, "sched_getaffinity"):
        count = len(os.sched_getaffinity(0))
    else:
        count = os.cpu_count()
    return max(count or 1, 1)


def set_num_threads(n: int) -> int:
    """Set the number of VM threads; returns the previous number.

    Counts above `MAX_THREADS` are clamped to it; counts below 1 raise ValueError.
    """
    n = int(n)
    if n < 1:
        raise ValueError(f"the number of threads must be at least 1, got {n}")
    return _core.set_num_threads(min(n, MAX_THREADS))


def get_num_threads() -> int:
    """The number of threads the VM uses for large enough work."""
    return _core.get_num_threads()


def _environment_count(name: str) -> int | None:
    """The thread count in environment variable `name`, None when unset or empty."""
    text = os.environ.get(name, "").strip()
    if not text:
        return None
    try:
        count = int(text)
    except ValueError:
        count = 0
    if count < 1:
        raise ValueError(f"environment variable {name}={text!r}: expected a thread count, an integer >= 1")
    return count


def _init_num_threads() -> int:
    """Set the thread count from the environment as at import; returns it (numexpr 2's name).

    ``NUMEXPR_NUM_THREADS``, else ``OMP_NUM_THREADS``, else the usable cores; at most
    `MAX_THREADS`.
    """
    requested = _environment_count("NUMEXPR_NUM_THREADS") or _environment_count("OMP_NUM_THREADS")
    count = min(requested or detect_number_of_cores(), MAX_THREADS)
    _core.set_num_threads(count)
    return count


def set_vml_accuracy_mode(mode: str | None) -> None:
    """Compatibility no-op (numexpr 2 with Intel VML); validates `mode` and returns None."""
    if mode not in (None, "low", "high", "fast"):
        raise ValueError(f"mode must be one of None, 'low', 'high', 'fast', not {mode!r}")


def set_vml_num_threads(n: int) -> None:
    """Compatibility no-op (numexpr 2 with Intel VML)."""


def get_vml_num_threads() -> None:
    """Compatibility: there is no VML; returns None."""


def get_vml_version() -> None:
    """Compatibility: there is no VML; returns None."""


#: numexpr 2 compatibility: this VM never uses Intel VML (it has its own vector math).
use_vml = False
#: The pool's capacity, fixed at import (``NUMEXPR_MAX_THREADS``, default 64).
MAX_THREADS: int = _core.max_threads()
#: Usable cores, detected at import.
ncores: int = detect_number_of_cores()
#: The thread count set at import (not updated by `set_num_threads`; see `get_num_threads`).
nthreads: int = _init_num_threads()
