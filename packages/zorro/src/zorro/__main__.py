"""``python -m zorro``: the ``zorro`` command line."""

from __future__ import annotations

import sys

from zorro.cli import main

sys.exit(main())
