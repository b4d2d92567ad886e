"""The sibling packages zorro needs, and the check that the installed ones fit."""

from __future__ import annotations

import re
from importlib import metadata

# Keep these equal to the ranges in pyproject.toml's dependencies.
REQUIRED = {"numexpr3": ((3, 1), (3, 2)), "mrcz": ((1, 0), (1, 1))}
PREDECESSORS = {
    "numexpr3": "the unrelated numexpr3 3.0.1a6 from PyPI?",
    "mrcz": "the predecessor python-mrcz?",
}


def _release(version: str) -> tuple[int, ...]:
    """The leading numeric release of a version string: "3.1.0rc1" -> (3, 1, 0)."""
    match = re.match(r"\d+(\.\d+)*", version)
    return tuple(int(part) for part in match.group(0).split(".")) if match else ()


def _is_prerelease(version: str) -> bool:
    return re.search(r"(a|b|rc|dev)\d*", version) is not None


def check(zorro_version: str) -> None:
    """Raise ImportError naming every sibling that is missing or outside zorro's range."""
    problems = []
    for name, (low, high) in REQUIRED.items():
        spec = f"{name}>={'.'.join(map(str, low))},<{'.'.join(map(str, high))}"
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            problems.append(f"zorro {zorro_version} needs {spec} but {name} is not installed")
            continue
        release = _release(installed)
        if not (low <= release < high) or _is_prerelease(installed):
            problems.append(
                f"zorro {zorro_version} needs {spec} but {name} {installed} is installed ({PREDECESSORS[name]})"
            )
    if problems:
        raise ImportError(
            "; ".join(problems) + ". Install this repository's siblings, e.g. "
            "`pip install --no-index --find-links wheelhouse numexpr3 mrcz`."
        )
