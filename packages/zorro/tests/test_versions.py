"""zorro refuses siblings outside its ranges, saying which and why."""

from __future__ import annotations

from importlib import metadata

import pytest

from zorro import _versions


def fake_versions(monkeypatch, **versions):
    real = metadata.version

    def version(name):
        if name in versions:
            if versions[name] is None:
                raise metadata.PackageNotFoundError(name)
            return versions[name]
        return real(name)

    monkeypatch.setattr(_versions.metadata, "version", version)


def test_installed_siblings_are_accepted():
    _versions.check("1.0.0")


def test_the_predecessor_mrcz_is_refused(monkeypatch):
    fake_versions(monkeypatch, mrcz="0.6.0")
    with pytest.raises(
        ImportError,
        match=r"zorro 1.0.0 needs mrcz>=1.0,<1.1 but mrcz 0.6.0 is installed "
        r"\(the predecessor python-mrcz\?\)",
    ):
        _versions.check("1.0.0")


def test_the_foreign_numexpr3_prerelease_and_missing_packages_are_refused(monkeypatch):
    fake_versions(monkeypatch, numexpr3="3.0.1a6", mrcz=None)
    with pytest.raises(ImportError) as info:
        _versions.check("1.0.0")
    message = str(info.value)
    assert "needs numexpr3>=3.1,<3.2 but numexpr3 3.0.1a6 is installed" in message
    assert "mrcz is not installed" in message


@pytest.mark.parametrize(("version", "ok"), [("3.1.0", True), ("3.1.7", True), ("3.2.0", False), ("3.1.0rc1", False)])
def test_version_bounds(monkeypatch, version, ok):
    fake_versions(monkeypatch, numexpr3=version)
    if ok:
        _versions.check("1.0.0")
    else:
        with pytest.raises(ImportError, match="numexpr3"):
            _versions.check("1.0.0")


def test_the_ranges_checked_are_the_pyprojects():
    import tomllib
    from pathlib import Path

    from packaging.requirements import Requirement

    with (Path(__file__).parent.parent / "pyproject.toml").open("rb") as f:
        declared = [Requirement(d) for d in tomllib.load(f)["project"]["dependencies"]]
    siblings = {(r.name, r.specifier) for r in declared if r.name in _versions.SIBLINGS}
    assert {(r.name, r.specifier) for r in _versions.required()} == siblings
    assert len(siblings) == 2
