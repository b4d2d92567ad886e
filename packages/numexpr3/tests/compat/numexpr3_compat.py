"""pytest plugin of the compat session: marks the items of numexpr 2's test module that
numexpr3 fails on purpose (differences.toml) as strict xfails, and rejects a list that
names an item the module does not have."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

LIST = Path(__file__).with_name("differences.toml")


def differences() -> dict[str, str]:
    """Test id (``Class::test`` or ``test[params]``, without the file) -> why it differs."""
    with LIST.open("rb") as f:
        entries = tomllib.load(f)["difference"]
    reasons: dict[str, str] = {}
    for entry in entries:
        for test in entry["tests"]:
            if test in reasons:
                raise pytest.UsageError(f"{LIST.name}: {test} is listed twice")
            reasons[test] = entry["reason"]
    return reasons


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reasons = differences()
    unmatched = set(reasons)
    for item in items:
        test = item.nodeid.split("::", 1)[1]
        if test in reasons:
            unmatched.discard(test)
            item.add_marker(pytest.mark.xfail(reason=reasons[test], strict=True))
    if unmatched:
        raise pytest.UsageError(f"{LIST.name} lists tests that numexpr 2's module lacks: {sorted(unmatched)}")
