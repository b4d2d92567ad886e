"""A stand-in `numexpr` for numexpr 2.14's own test module: numexpr3's names under numexpr 2's.

Everything comes from numexpr3 as a user doing ``import numexpr3 as numexpr`` gets it; the
only additions are numexpr 2's expression-builder objects (`E`, `expressions.ConstantNode`),
which numexpr3 does not have: they spell themselves as expression strings.
"""

from __future__ import annotations

from numexpr3 import *
from numexpr3 import NumExpr as _NumExpr
from numexpr3 import __version__, _init_num_threads  # noqa: F401

from . import utils  # noqa: F401
from .expressions import E  # noqa: F401


class NumExpr(_NumExpr):
    """numexpr3's NumExpr, also given an `E` expression (as its string)."""

    def __init__(self, ex, signature=(), sanitize=True, **kwargs):
        super().__init__(str(ex), signature, sanitize, **kwargs)
