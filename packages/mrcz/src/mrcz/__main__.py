"""``python -m mrcz``: the ``mrcz`` command line."""

from __future__ import annotations

import sys

from mrcz.cli import main

sys.exit(main())
