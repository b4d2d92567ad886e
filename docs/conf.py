"""Sphinx configuration of the documentation site of numexpr3, mrcz and zorro.

Built by `nox -s docs` (sphinx-build -n -W --keep-going) against the installed wheels, so
autodoc documents exactly what ships. No network access at build time: references to
types of other projects (numpy, the standard library) are listed in nitpick_ignore_regex.
"""

from __future__ import annotations

import dataclasses
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


def _factory_defaults(app, what, name, obj, options, signature, return_annotation):
    """Show a dataclass field's ``default_factory`` as a call (``dict()``), not ``<factory>``.

    ``<factory>`` is not Python, so Sphinx could not parse such a signature and split its
    types at their commas (``dict[str``), which nitpicky mode reports as unknown classes.
    """
    if what != "class" or not signature or "<factory>" not in signature or not dataclasses.is_dataclass(obj):
        return None
    for f in dataclasses.fields(obj):
        if f.init and f.default_factory is not dataclasses.MISSING:
            call = f"{getattr(f.default_factory, '__qualname__', '')}()".replace("<lambda>()", "...")
            signature = signature.replace("<factory>", call, 1)
    return signature, return_annotation


def setup(app):
    app.connect("autodoc-process-signature", _factory_defaults)
