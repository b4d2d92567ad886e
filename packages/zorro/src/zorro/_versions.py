"""The check that the installed sibling packages fit the ranges zorro was released with.

The ranges are read from zorro's own installed metadata (its pyproject's dependencies), so
they are stated once; tools/check_pins.py checks them against the siblings' versions.
"""

from __future__ import annotations

from importlib import metadata

from packaging.requirements import Requirement

SIBLINGS = {
    "numexpr3": "the unrelated numexpr3 3.0.1a6 from PyPI?",
    "mrcz": "the predecessor python-mrcz?",
}


def required() -> list[Requirement]:
    """zorro's requirements on its siblings, as installed."""
    return [req for spec in metadata.requires("zorro") or [] if (req := Requirement(spec)).name in SIBLINGS]


def _spelled(req: Requirement) -> str:
    """`mrcz>=1.0,<1.1`, lower bound first (packaging's own order is alphabetical)."""
    return req.name + ",".join(sorted(map(str, req.specifier), key=lambda s: not s.startswith(">")))


def check(zorro_version: str) -> None:
    """Raise ImportError naming every sibling that is missing or outside zorro's range."""
    problems = []
    for req in required():
        spec = _spelled(req)
        try:
            installed = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            problems.append(f"zorro {zorro_version} needs {spec} but {req.name} is not installed")
            continue
        if not req.specifier.contains(installed, prereleases=False):
            problems.append(
                f"zorro {zorro_version} needs {spec} but {req.name} {installed} is installed ({SIBLINGS[req.name]})"
            )
    if problems:
        raise ImportError(
            "; ".join(problems) + ". Install this repository's siblings, e.g. "
            "`pip install --no-index --find-links wheelhouse numexpr3 mrcz`."
        )
