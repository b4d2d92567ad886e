"""Live sessions: follow a microscope's output folder and align every movie once.

A layer above :func:`zorro.pipeline.process`; the alignment engine imports nothing of it.

- :mod:`.store`: the SQLite session store, the one source of what the CLI and GUI show.
"""

from __future__ import annotations

from .store import METRICS, SCHEMA_VERSION, STATES, STORE_NAME, MovieRow, SessionStore, StoreError, parameter_hash

__all__ = [
    "METRICS",
    "SCHEMA_VERSION",
    "STATES",
    "STORE_NAME",
    "MovieRow",
    "SessionStore",
    "StoreError",
    "parameter_hash",
]
