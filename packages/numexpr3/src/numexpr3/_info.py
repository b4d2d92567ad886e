"""`print_versions`: what a bug report needs."""

from __future__ import annotations

import platform
import sys

import numpy as np

from . import _core, _threads

__all__ = ["print_versions"]


def print_versions() -> None:
    """Print the versions of numexpr3, NumPy and Python, and the thread settings."""
    lines = [
        f"numexpr3:    {_core.__version__}",
        f"NumPy:       {np.__version__}",
        f"Python:      {sys.version.split()[0]} ({platform.platform()})",
        f"cores:       {_threads.ncores}",
        f"threads:     {_threads.get_num_threads()} (max {_threads.MAX_THREADS})",
        f"block size:  {_core.block_size()} elements",
    ]
    print("\n".join(lines))
