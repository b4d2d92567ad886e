"""Sphinx configuration of the documentation site of numexpr3, mrcz and zorro.

Built by `nox -s docs` (sphinx-build -n -W --keep-going) against the installed wheels, so
autodoc documents exactly what ships. No network access at build time: intersphinx is
enabled for future local inventories but no remote mapping is configured, and references
to types of other projects (numpy, the standard library) are listed in nitpick_ignore_regex.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "_ext"))

project = "numexpr3 · mrcz · zorro"
author = "The numexpr3, mrcz and zorro developers"
copyright = "the numexpr3, mrcz and zorro developers"

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.intersphinx",
    "clihelp",
]

source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_ext", "Thumbs.db", ".DS_Store"]

# -- MyST -----------------------------------------------------------------------------
myst_enable_extensions = ["colon_fence", "deflist", "fieldlist"]
myst_heading_anchors = 3

# -- autodoc / napoleon ---------------------------------------------------------------
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
autodoc_default_options = {"members": True, "show-inheritance": True}
# Keep the public names short in signatures (mrcz.read, not mrcz._io.read).
autodoc_type_aliases = {"PathLike": "PathLike", "FrameIndex": "FrameIndex"}
python_use_unqualified_type_names = True
napoleon_google_docstring = True
napoleon_numpy_docstring = True

# -- intersphinx: no remote inventories (the build runs offline) -----------------------
intersphinx_mapping: dict[str, tuple[str, str | None]] = {}
intersphinx_disabled_reftypes = ["*"]

# -- nitpicky mode (-n): types that belong to other projects ---------------------------
nitpick_ignore_regex = [
    ("py:.*", r"(numpy|np|numpy\.typing)(\..*)?"),
    ("py:.*", r"(os|io|re|threading|sqlite3|concurrent\.futures|collections\.abc|typing|enum|pathlib|json)\..*"),
    ("py:.*", r"(Any|BinaryIO|Iterator|Mapping|Sequence|Future|PathLike|FrameIndex|NoneType)"),
    ("py:class", r"(int|float|str|bytes|bool|dict|list|tuple|object|Exception|ValueError)"),
]

# -- HTML (alabaster, Sphinx's default theme: no extra dependency) ----------------------
html_theme = "alabaster"
html_title = "numexpr3 · mrcz · zorro"
html_theme_options = {
    "description": "Array expressions, MRC/MRCZ files and cryo-EM drift correction",
    "fixed_sidebar": True,
    "show_relbars": True,
}
html_sidebars = {"**": ["about.html", "navigation.html", "relations.html", "searchbox.html"]}
html_static_path: list[str] = []
