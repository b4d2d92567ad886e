"""Fail when a package's version and the ranges its siblings pin it with drift apart.

Also fail when a range could resolve to the foreign PyPI releases that share our
distribution names (numexpr3 3.0.1a6, mrcz 0.6.0 and older, zorro 0.1.4).
"""

from __future__ import annotations

import sys
from pathlib import Path

import tomllib
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
FOREIGN = {
    "numexpr3": ["3.0.1a6", "3.0.0"],
    "mrcz": ["0.6.0", "0.5.10", "0.5.7", "0.4.1"],
    "zorro": ["0.1.4"],
}


def main() -> int:
    projects = {}
    for path in sorted(ROOT.glob("packages/*/pyproject.toml")):
        with path.open("rb") as f:
            project = tomllib.load(f)["project"]
        projects[project["name"]] = project
    problems = []
    for name, project in projects.items():
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
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"checked {len(projects)} packages: {', '.join(sorted(projects))}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
