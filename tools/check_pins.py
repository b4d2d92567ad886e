"""Fail when a package's version and the ranges its siblings pin it with drift apart.

Also fail when a range could resolve to the foreign PyPI releases that share our
distribution names (numexpr3 3.0.1a6, mrcz 0.6.0 and older, zorro 0.1.4), and when the
Pythons a package claims disagree: its `Programming Language :: Python :: 3.X`
classifiers (the list nox tests), `requires-python` and cibuildwheel's `build`.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
FOREIGN = {
    "numexpr3": ["3.0.1a6", "3.0.0"],
    "mrcz": ["0.6.0", "0.5.10", "0.5.7", "0.4.1"],
    "zorro": ["0.1.4"],
}


def python_claims(name: str, pyproject: dict) -> tuple[list[str], list[str]]:
    """(the Python versions `name` claims by classifier, its disagreements with the other claims)."""
    prefix = "Programming Language :: Python :: 3."
    versions = [c.rsplit(" ", 1)[-1] for c in pyproject["project"]["classifiers"] if c.startswith(prefix)]
    if not versions:
        return versions, [f"{name} has no Python version classifiers"]
    problems = []
    lowest = min(versions, key=Version)
    if pyproject["project"].get("requires-python") != f">={lowest}":
        problems.append(f"{name}: requires-python should be '>={lowest}', the lowest classifier")
    wheels = " ".join(f"cp{v.replace('.', '')}-*" for v in sorted(versions, key=Version))
    if pyproject.get("tool", {}).get("cibuildwheel", {}).get("build") != wheels:
        problems.append(f"{name}: [tool.cibuildwheel] build should be {wheels!r}, as the classifiers say")
    return versions, problems


def sibling_ranges(name: str, project: dict, projects: dict) -> list[str]:
    """What is wrong with the ranges `name` requires its siblings in `projects` with."""
    problems = []
    for spec in project.get("dependencies", []):
        req = Requirement(spec)
        if req.name not in projects:
            continue
        ours = Version(projects[req.name]["version"])
        if not req.specifier.contains(ours, prereleases=True):
            problems.append(f"{name} requires {req} but this checkout's {req.name} is {ours}")
        for foreign in FOREIGN.get(req.name, []):
            if req.specifier.contains(Version(foreign), prereleases=True):
                problems.append(f"{name} requires {req}, which admits the foreign PyPI release {foreign}")
        if not str(req.specifier):
            problems.append(f"{name} requires {req.name} without a version range")
    return problems


def main() -> int:
    projects, pythons = {}, {}
    problems = []
    for path in sorted(ROOT.glob("packages/*/pyproject.toml")):
        with path.open("rb") as f:
            pyproject = tomllib.load(f)
        name = pyproject["project"]["name"]
        projects[name] = pyproject["project"]
        pythons[name], disagreements = python_claims(name, pyproject)
        problems += disagreements
    if len({tuple(v) for v in pythons.values()}) > 1:
        problems.append(f"the packages claim different Pythons: {pythons}")
    for name, project in projects.items():
        problems += sibling_ranges(name, project, projects)
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"checked {len(projects)} packages: {', '.join(sorted(projects))}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
