"""Live sessions: follow a microscope's output folder and align every movie once.

A layer above :func:`zorro.pipeline.process`; the alignment engine imports nothing of it,
and nothing here needs Qt (the Automator GUI builds on it).

- :mod:`.store`: the SQLite session store, the one source of what the CLI and GUI show.
- :mod:`.scan`: which files are movies (presets, skips) and when one is complete.
- :mod:`.work`: one movie's work in a worker: outputs, then the manifest.
- :mod:`.executors`: the local process pool and Dask distributed, behind one interface.
- :mod:`.session`: the loop that ties them together, and the one-watcher lock.
- :mod:`.export`: RELION ``corrected_micrographs.star`` and ``session.csv``.
- :mod:`.gains`: gain references by content hash, with their orientation.
"""

from __future__ import annotations

from .executors import DaskExecutor, Executor, LocalExecutor, Outcome
from .export import Filters, export
from .scan import PRESETS, Layout, Scanner, incompleteness
from .session import Progress, Session, SessionLock, SessionLockedError
from .store import METRICS, SCHEMA_VERSION, STATES, STORE_NAME, MovieRow, SessionStore, StoreError, parameter_hash

__all__ = [
    "METRICS",
    "PRESETS",
    "SCHEMA_VERSION",
    "STATES",
    "STORE_NAME",
    "DaskExecutor",
    "Executor",
    "Filters",
    "Layout",
    "LocalExecutor",
    "MovieRow",
    "Outcome",
    "Progress",
    "Scanner",
    "Session",
    "SessionLock",
    "SessionLockedError",
    "SessionStore",
    "StoreError",
    "export",
    "incompleteness",
    "parameter_hash",
]
