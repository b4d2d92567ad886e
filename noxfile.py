"""The one pipeline of the monorepo: `nox -l` lists the sessions.

Every package is tested from its wheel, never from its source tree: `wheels` builds
them into wheelhouse/ with real build isolation, and each `tests` session installs
one package's wheel into a fresh environment of its own.
"""

from __future__ import annotations

import shutil
import sys
import tarfile
from pathlib import Path

import nox
from packaging.requirements import Requirement

nox.needs_version = ">=2025.2.9"
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["lint", "tests"]

ROOT = Path(__file__).parent
WHEELHOUSE = ROOT / "wheelhouse"
# Packages in dependency order; a package joins when its first real code lands.
PACKAGES = ["numexpr3", "mrcz", "zorro"]
TEST_EXTRAS = {"zorro": "gui"}  # the Automator window is tested too
PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def pyproject(package: str) -> dict:
    with (ROOT / "packages" / package / "pyproject.toml").open("rb") as f:
        return tomllib.load(f)


def version(package: str) -> str:
    return pyproject(package)["project"]["version"]


def wheel_of(session: nox.Session, package: str) -> Path:
    """The wheel of this checkout's version of `package` (built by `wheels`)."""
    found = sorted(WHEELHOUSE.glob(f"{package}-{version(package)}-*.whl"))
    if not found:
        session.error(f"no wheel of {package} {version(package)} in {WHEELHOUSE}: run `nox -s wheels` first")
    return found[-1]


def siblings(package: str) -> list[str]:
    """The packages of this repository that `package` depends on."""
    names = {Requirement(spec).name for spec in pyproject(package)["project"].get("dependencies", [])}
    return [p for p in PACKAGES if p in names]


def install_wheel(session: nox.Session, package: str, *, extras: str = "") -> None:
    """Install a package's wheel (with ``extras``, e.g. "gui"); its siblings come from
    wheelhouse/ only, never from PyPI."""
    own = [str(wheel_of(session, p)) for p in siblings(package)]
    if own:
        session.install("--no-index", "--no-deps", *own)
    session.install("--find-links", str(WHEELHOUSE), f"{wheel_of(session, package)}{f'[{extras}]' if extras else ''}")


def install_group(session: nox.Session, package: str, group: str) -> None:
    if group not in pyproject(package).get("dependency-groups", {}):
        return
    deps = nox.project.dependency_groups(pyproject(package), group)
    if deps:
        session.install(*deps)


@nox.session(python=PYTHON, tags=["build"])
def wheels(session: nox.Session) -> None:
    """Build every package's wheel into wheelhouse/ (isolated builds, warnings as errors)."""
    session.install("build[uv]")
    WHEELHOUSE.mkdir(exist_ok=True)
    for package in session.posargs or PACKAGES:
        for old in WHEELHOUSE.glob(f"{package}-*.whl"):
            old.unlink()
        session.run(
            "python", "-m", "build", "--installer=uv", "--wheel", "--outdir", str(WHEELHOUSE),
            f"-Ccmake.define.{package.upper()}_WERROR=ON", str(ROOT / "packages" / package),
        )  # fmt: skip


@nox.session(python=PYTHON, requires=["wheels"], tags=["test"])
@nox.parametrize("package", PACKAGES)
def tests(session: nox.Session, package: str) -> None:
    """Test one package against its wheel, in an environment of its own."""
    install_wheel(session, package, extras=TEST_EXTRAS.get(package, ""))
    for group in ("test", "test-gui"):
        install_group(session, package, group)
    session.chdir(ROOT / "packages" / package)
    session.run("python", "-m", "pytest", *session.posargs, env={"HYPOTHESIS_PROFILE": "ci"})


@nox.session(python=PYTHON, requires=["wheels"], tags=["test"])
def interop(session: nox.Session) -> None:
    """mrcz against its predecessor python-mrcz 0.6.0 from PyPI, both directions."""
    session.install(str(wheel_of(session, "mrcz")))
    scripts = ROOT / "packages" / "mrcz" / "tests" / "interop"
    work = Path(session.create_tmp())
    # The predecessor is also called `mrcz`, so it lives in an environment of its own.
    predecessor = work / "python-mrcz-0.6"
    session.run("uv", "venv", "-q", "--python", PYTHON, str(predecessor), external=True)
    pred_python = str(predecessor / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python"))
    session.run("uv", "pip", "install", "-q", "--python", pred_python, "mrcz==0.6.0", "blosc", "blosc2", external=True)
    ours_dir, theirs_dir = work / "written-by-mrcz", work / "written-by-python-mrcz"
    for d in (ours_dir, theirs_dir):
        shutil.rmtree(d, ignore_errors=True)
    session.run("python", str(scripts / "ours.py"), "write", str(ours_dir))
    session.run(pred_python, str(scripts / "predecessor.py"), "check", str(ours_dir), external=True)
    session.run(pred_python, str(scripts / "predecessor.py"), "write", str(theirs_dir), external=True)
    session.run("python", str(scripts / "ours.py"), "check", str(theirs_dir))

    # Real files of other writers (EMDB, EPU) from mrcfile's source distribution, read by
    # both libraries; its wheel leaves them out.
    session.install("pip", "mrcfile==1.5.4")
    sdist = work / "mrcfile-sdist"
    shutil.rmtree(sdist, ignore_errors=True)
    session.run("python", "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:", "-d", str(sdist),
                "mrcfile==1.5.4")  # fmt: skip
    real = work / "real-files"
    shutil.rmtree(real, ignore_errors=True)
    with tarfile.open(next(sdist.glob("mrcfile-1.5.4.tar*"))) as tar:
        members = [m for m in tar.getmembers() if "/tests/test_data/" in m.name and m.isfile()]
        for member in members:
            member.name = Path(member.name).name
        tar.extractall(real, members=members, filter="data")
    session.run("python", str(scripts / "real_files.py"), str(real))


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff (check and format), clang-format, YAML of the workflows, and the version pins."""
    session.install("ruff", "clang-format", "yamllint", "packaging")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    sources = [str(p) for p in sorted(ROOT.glob("packages/*/cpp/*.[ch]pp"))]
    session.run("clang-format", "--dry-run", "-Werror", *sources)
    session.run("yamllint", "-d", "{extends: relaxed, rules: {line-length: {max: 120}}}", ".github/workflows")
    session.run("python", "tools/check_pins.py")


@nox.session(python=PYTHON, requires=["wheels"], default=False)
def demo(session: nox.Session) -> None:
    """The main job: simulate a drifting movie, store it as MRCZ, align it with zorro, report."""
    install_wheel(session, "zorro")
    session.run("python", "-m", "zorro.demo", str(ROOT / "build" / "demo"))


@nox.session(python=PYTHON, requires=["wheels"], default=False)
def bench(session: nox.Session) -> None:
    """Benchmarks of every package against its peers, interleaved medians, ratios printed."""
    for package in PACKAGES:
        install_wheel(session, package)
        install_group(session, package, "bench")
    work = Path(session.create_tmp())
    predecessor = work / "python-mrcz-0.6"
    if not predecessor.exists():
        session.run("uv", "venv", "-q", "--python", PYTHON, str(predecessor), external=True)
    pred_python = str(predecessor / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python"))
    session.run("uv", "pip", "install", "-q", "--python", pred_python, "mrcz==0.6.0", "blosc", "blosc2", external=True)
    for package in PACKAGES:
        session.run(
            "python", str(ROOT / "packages" / package / "benchmarks" / "run.py"),
            "--predecessor-python", pred_python, *session.posargs,
        )  # fmt: skip
    # zorro's session layer against back-to-back alignment (watch's throughput and overhead).
    quick = [arg for arg in session.posargs if arg == "--quick"]
    session.run("python", str(ROOT / "packages" / "zorro" / "benchmarks" / "session.py"), *quick)


@nox.session(python=PYTHON, requires=["wheels"], default=False)
def docs(session: nox.Session) -> None:
    """The documentation site (Sphinx), warnings as errors, into docs/_build/html."""
    for package in PACKAGES:
        install_wheel(session, package)
    install_group(session, PACKAGES[0], "docs")
    session.run("sphinx-build", "-n", "-W", "--keep-going", "-b", "html", "docs", "docs/_build/html")


@nox.session(venv_backend="none", default=False)
def dev(session: nox.Session) -> None:
    """Editable installs in dependency order into .venv, with a persistent build dir."""
    venv = ROOT / ".venv"
    if not venv.exists():
        session.run(sys.executable, "-m", "venv", str(venv))
    python = str(venv / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python"))
    session.run(python, "-m", "pip", "install", "-q", "scikit-build-core>=0.11", "pybind11>=3.0", "blosc2==4.14.1")
    for package in PACKAGES:
        session.run(
            python, "-m", "pip", "install", "--no-build-isolation", "-e", f"packages/{package}",
            f"-Cbuild-dir=build/dev/{package}", "-Ccmake.define.CMAKE_EXPORT_COMPILE_COMMANDS=1",
        )  # fmt: skip
        deps = nox.project.dependency_groups(pyproject(package), "test")
        session.run(python, "-m", "pip", "install", "-q", *deps)
