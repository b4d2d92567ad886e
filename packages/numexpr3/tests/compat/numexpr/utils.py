"""numexpr 2's `numexpr.utils` names, from numexpr3."""

from __future__ import annotations

from numexpr3 import (  # noqa: F401
    detect_number_of_cores,
    get_num_threads,
    get_vml_num_threads,
    get_vml_version,
    set_num_threads,
    set_vml_accuracy_mode,
    set_vml_num_threads,
)
