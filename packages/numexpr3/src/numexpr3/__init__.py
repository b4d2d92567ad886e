"""numexpr3: fast evaluation of NumPy array expressions.

>>> import numexpr3 as ne
>>> ne.evaluate("2*a + sin(b)**2")
>>> ne.evaluate("t = a*b; where(t > 0, t, -t)", out=result)

A drop-in for numexpr 2 (``import numexpr3 as ne``): strings are parsed into a whitelisted
syntax tree, typed with NumPy's rules and run by a threaded, cache-blocked virtual machine.
"""

from __future__ import annotations

from . import _core
from ._api import NumExpr, disassemble, evaluate, re_evaluate, validate
from ._core import __version__, release_recycled_outputs
from ._info import print_versions
from ._parser import ExpressionError
from ._threads import (
    MAX_THREADS,
    detect_number_of_cores,
    get_num_threads,
    get_vml_num_threads,
    get_vml_version,
    ncores,
    nthreads,
    set_num_threads,
    set_vml_accuracy_mode,
    set_vml_num_threads,
    use_vml,
)
from ._threads import _init_num_threads as _init_num_threads  # numexpr 2's name, not in __all__

#: Elements per VM block (numexpr 2's name).
__BLOCK_SIZE1__: int = _core.block_size()

__all__ = [
    "MAX_THREADS",
    "ExpressionError",
    "NumExpr",
    "__version__",
    "detect_number_of_cores",
    "disassemble",
    "evaluate",
    "get_num_threads",
    "get_vml_num_threads",
    "get_vml_version",
    "ncores",
    "nthreads",
    "print_versions",
    "re_evaluate",
    "release_recycled_outputs",
    "set_num_threads",
    "set_vml_accuracy_mode",
    "set_vml_num_threads",
    "use_vml",
    "validate",
]
