"""``clihelp``: put the ``--help`` text of an installed command line into the docs.

MyST usage::

    ```{cli-help} mrcz.cli:main info
    ```

runs ``main()`` of module ``mrcz.cli`` with ``sys.argv = ["mrcz", "info", "--help"]`` in a
fresh interpreter (the one running Sphinx, so the installed wheel) and shows what it prints
as a literal block. The page can never drift from the shipped command line; if the command
cannot be run, the build warns (and ``-W`` makes that an error).
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import ClassVar

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

_RUNNER = """
import sys
module, _, func = sys.argv[1].partition(":")
prog = sys.argv[2]
sys.argv = [prog, *sys.argv[3:], "--help"]
main = getattr(__import__(module, fromlist=[func]), func)
sys.exit(main())
"""


class CliHelp(SphinxDirective):
    required_arguments = 1  # module:function
    optional_arguments = 8  # sub-command words
    has_content = False
    option_spec: ClassVar[dict[str, object]] = {"prog": str}

    def run(self) -> list[nodes.Node]:
        target, *words = self.arguments
        prog = self.options.get("prog") or target.split(".", 1)[0]
        env = {**os.environ, "COLUMNS": "88", "NO_COLOR": "1", "PYTHONIOENCODING": "utf-8"}
        env.pop("FORCE_COLOR", None)
        try:
            done = subprocess.run(
                [sys.executable, "-c", _RUNNER, target, prog, *words],
                capture_output=True,
                text=True,
                encoding="utf-8",
                env=env,
                timeout=60,
                check=False,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            return [self.state.document.reporter.warning(f"cli-help: cannot run {target}: {exc}", line=self.lineno)]
        if done.returncode != 0 or not done.stdout.strip():
            command = " ".join([prog, *words, "--help"])
            detail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            return [
                self.state.document.reporter.warning(
                    f"cli-help: `{command}` exited with {done.returncode}: {detail[0]}", line=self.lineno
                )
            ]
        text = done.stdout.rstrip()
        block = nodes.literal_block(text, text)
        block["language"] = "text"
        self.set_source_info(block)
        return [block]


def setup(app: Sphinx) -> dict[str, object]:
    app.add_directive("cli-help", CliHelp)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
