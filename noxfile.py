"""The one pipeline of the monorepo: `nox -l` lists the sessions.

Every package is tested from its wheel, never from its source tree: `wheels` builds
them into wheelhouse/ with real build isolation, and each `tests` session installs
one package's wheel into a fresh environment of its own.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path

import nox
from packaging.requirements import Requirement

nox.needs_version = ">=2025.2.9"
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["lint", "tests"]

ROOT = Path(__file__).parent
WHEELHOUSE = ROOT / "wheelhouse"
# Packages in dependency order.
PACKAGES = ["numexpr3", "mrcz", "zorro"]
# Extras installed for the tests: the Automator window is tested too.
TEST_EXTRAS = {"zorro": "gui"}


def pyproject(package: str) -> dict:
    with (ROOT / "packages" / package / "pyproject.toml").open("rb") as f:
        return tomllib.load(f)


def supported_pythons() -> list[str]:
    """The Python versions the pyprojects' classifiers claim (tools/check_pins.py keeps them equal)."""
    prefix = "Programming Language :: Python :: 3."
    classifiers = pyproject(PACKAGES[0])["project"]["classifiers"]
    return sorted((c.removeprefix("Programming Language :: Python :: ") for c in classifiers if c.startswith(prefix)),
                  key=lambda v: tuple(map(int, v.split("."))))  # fmt: skip


def interpreter_candidates(version: str) -> list[Path]:
    """Where a `pythonX.Y` may live: PATH first, then pyenv's and the system's folders."""
    name = f"python{version}"
    found = [Path(p) for p in [shutil.which(name)] if p]
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    found += sorted(pyenv.glob(f"{version}.*/bin/{name}"), reverse=True)
    found += [Path(d) / name for d in ("/usr/local/bin", "/usr/bin", "/opt/homebrew/bin")]
    return found


def runs_as(executable: Path, version: str) -> bool:
    """True when `executable` starts and is `version` (a pyenv shim of another version does not start)."""
    probe = "import sys; print('%d.%d' % sys.version_info[:2])"
    try:
        out = subprocess.run([executable, "-c", probe], capture_output=True, text=True, timeout=30, check=False)
    except OSError:
        return False
    return out.returncode == 0 and out.stdout.strip() == version


def find_pythons() -> list[str]:
    """The supported Pythons present on this machine, each linked as build/interpreters/pythonX.Y.

    That folder goes first on PATH, so nox (and uv) find exactly these interpreters and never a
    shim that fails or a download. A missing version is one line on stderr, not a failure.
    """
    links = ROOT / "build" / "interpreters"
    links.mkdir(parents=True, exist_ok=True)
    present = []
    for version in supported_pythons():
        executable = next((c for c in interpreter_candidates(version) if runs_as(c, version)), None)
        if executable is None:
            print(f"nox: Python {version} not found on this machine; its sessions are skipped", file=sys.stderr)
            continue
        link = links / f"python{version}"
        link.unlink(missing_ok=True)
        link.symlink_to(executable.resolve())
        present.append(version)
    os.environ["PATH"] = f"{links}{os.pathsep}{os.environ['PATH']}"
    return present


# The interpreter running nox serves the single-Python sessions (lint, demo, bench, docs).
PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
PYTHONS = find_pythons()
OWN_WHEELS = f"wheels-{PYTHON}"  # what the single-Python sessions need built first


def version(package: str) -> str:
    return pyproject(package)["project"]["version"]


def python_tag(python: str) -> str:
    """The wheel tag of a CPython version: "3.12" -> "cp312"."""
    return "cp" + python.replace(".", "")


def wheel_of(session: nox.Session, package: str) -> Path:
    """The wheel of this checkout's version of `package` for the session's Python (built by `wheels`)."""
    python = str(session.python or PYTHON)
    found = sorted(WHEELHOUSE.glob(f"{package}-{version(package)}-{python_tag(python)}-*.whl"))
    if not found:
        session.error(
            f"no {python} wheel of {package} {version(package)} in {WHEELHOUSE}: run `nox -s wheels-{python}`"
        )
    return found[-1]


def siblings(package: str) -> list[str]:
    """The packages of this repository that `package` depends on."""
    names = {Requirement(spec).name for spec in pyproject(package)["project"].get("dependencies", [])}
    return [p for p in PACKAGES if p in names]


def floors(package: str) -> list[str]:
    """`name==X` for every `name>=X` that `package` depends on outside this repository."""
    pins = []
    for spec in pyproject(package)["project"].get("dependencies", []):
        req = Requirement(spec)
        lowest = [s.version for s in req.specifier if s.operator == ">="]
        if req.name not in PACKAGES and lowest:
            pins.append(f"{req.name}=={lowest[0]}")
    return pins


def install_wheel(session: nox.Session, package: str, *pins: str, extras: str = "") -> None:
    """Install a package's wheel (with ``extras``, e.g. "gui"); its siblings come from
    wheelhouse/ only, never from PyPI."""
    own = [str(wheel_of(session, p)) for p in siblings(package)]
    if own:
        session.install("--no-index", "--no-deps", *own)
    wheel = f"{wheel_of(session, package)}{f'[{extras}]' if extras else ''}"
    session.install("--find-links", str(WHEELHOUSE), wheel, *pins)


# mrcz's core links c-blosc2 from this blosc2 wheel (its build requirement): the one pin.
BLOSC2 = next(r for r in pyproject("mrcz")["build-system"]["requires"] if Requirement(r).name == "blosc2")


def predecessor(session: nox.Session, backend: str) -> str:
    """An environment of python-mrcz 0.6.0 (also called `mrcz`, so apart from ours) with one
    blosc library: 'blosc' (c-blosc 1, its `compression` extra: how it is commonly installed)
    or 'blosc2' (its `blosc2` extra, at our pin). Returns the environment's python."""
    venv = Path(session.create_tmp()) / f"python-mrcz-0.6-{backend}"
    if not venv.exists():
        session.run("uv", "venv", "-q", "--python", PYTHON, str(venv), external=True)
    python = str(venv / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python"))
    packages = ["mrcz[compression]==0.6.0"] if backend == "blosc" else ["mrcz[blosc2]==0.6.0", BLOSC2]
    session.run("uv", "pip", "install", "-q", "--python", python, *packages, external=True)
    return python


def install_group(session: nox.Session, package: str, group: str, *pins: str) -> None:
    if group not in pyproject(package).get("dependency-groups", {}):
        return
    deps = nox.project.dependency_groups(pyproject(package), group)
    if deps:
        session.install(*deps, *pins)


def run_tests(session: nox.Session, package: str, *pins: str) -> None:
    install_wheel(session, package, *pins, extras=TEST_EXTRAS.get(package, ""))
    for group in ("test", "test-gui"):
        install_group(session, package, group, *pins)
    session.chdir(ROOT / "packages" / package)
    session.run("python", "-m", "pytest", *session.posargs, env={"HYPOTHESIS_PROFILE": "ci"})


@nox.session(python=PYTHONS, tags=["build"])
def wheels(session: nox.Session) -> None:
    """Build every package's wheel for one Python into wheelhouse/ (isolated builds, warnings as errors)."""
    session.install("build[uv]")
    WHEELHOUSE.mkdir(exist_ok=True)
    for package in session.posargs or PACKAGES:
        for old in WHEELHOUSE.glob(f"{package}-*-{python_tag(str(session.python))}-*.whl"):
            old.unlink()
        session.run(
            "python", "-m", "build", "--installer=uv", "--wheel", "--outdir", str(WHEELHOUSE),
            f"-Ccmake.define.{package.upper()}_WERROR=ON", str(ROOT / "packages" / package),
        )  # fmt: skip
        check_published_files(package, str(session.python))


def check_published_files(package: str, python: str) -> None:
    """Each wheel ships its licence (PEP 639's dist-info/licenses/) and its py.typed marker."""
    (wheel,) = WHEELHOUSE.glob(f"{package}-*-{python_tag(python)}-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    for wanted in (r"[^/]+\.dist-info/licenses/LICENSE", rf"{package}/py\.typed"):
        if not any(re.fullmatch(wanted, name) for name in names):
            raise RuntimeError(f"{wheel.name} lacks {wanted}")


@nox.session(python=PYTHONS, requires=["wheels-{python}"], tags=["test"])
@nox.parametrize("package", PACKAGES)
def tests(session: nox.Session, package: str) -> None:
    """Test one package against its wheel, in an environment of its own, on every Python present."""
    run_tests(session, package)
    if package == "numexpr3" and session.python == PYTHON:  # the compiler alone, on tests/_reference_vm.py
        session.run(
            "python", "-m", "pytest", *session.posargs, env={"HYPOTHESIS_PROFILE": "ci", "NUMEXPR3_REFERENCE_VM": "1"}
        )


@nox.session(python=PYTHONS[:1], requires=["wheels-{python}"], tags=["test"])
@nox.parametrize("package", PACKAGES)
def floor(session: nox.Session, package: str) -> None:
    """The same tests with every dependency at the lowest version the package claims, on the oldest Python."""
    run_tests(session, package, *floors(package))


@nox.session(python=PYTHON, requires=[OWN_WHEELS], tags=["test"])
def interop(session: nox.Session) -> None:
    """mrcz against its predecessor python-mrcz 0.6.0 from PyPI, both directions."""
    session.install(str(wheel_of(session, "mrcz")))
    scripts = ROOT / "packages" / "mrcz" / "tests" / "interop"
    work = Path(session.create_tmp())
    ours, theirs = work / "written-by-mrcz", work / "written-by-python-mrcz"
    shutil.rmtree(ours, ignore_errors=True)
    shutil.rmtree(theirs, ignore_errors=True)
    # Our defaults (version-2 chunks) for both environments; version-5 chunks (chunk_format
    # 'blosc2') for the one with blosc2.
    for chunk_format in ("blosc", "blosc2"):
        session.run("python", str(scripts / "ours.py"), "write", str(ours / chunk_format), chunk_format)
    for backend in ("blosc", "blosc2"):
        pred_python = predecessor(session, backend)
        for chunk_format in ("blosc", "blosc2") if backend == "blosc2" else ("blosc",):
            session.run(pred_python, str(scripts / "predecessor.py"), "check", str(ours / chunk_format), external=True)
        session.run(pred_python, str(scripts / "predecessor.py"), "write", str(theirs / backend), external=True)
        session.run("python", str(scripts / "ours.py"), "check", str(theirs / backend))

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


@nox.session(python=PYTHON, requires=[OWN_WHEELS], tags=["test"])
def compat(session: nox.Session) -> None:
    """numexpr 2's own tests against numexpr3's wheel (packages/numexpr3/tests/compat)."""
    install_wheel(session, "numexpr3")
    install_group(session, "numexpr3", "test")
    # numexpr 2 at the version the benchmarks compare with; its sdist holds the tests.
    numexpr2 = next(
        r for r in nox.project.dependency_groups(pyproject("numexpr3"), "bench") if r.startswith("numexpr=")
    )
    work = Path(session.create_tmp()).resolve() / "numexpr2"
    sdist = work / "sdist"
    if not any(sdist.glob("numexpr-*.tar.gz")):  # kept between runs
        session.install("pip")
        session.run("python", "-m", "pip", "download", "-q", "--no-deps", "--no-binary", "numexpr", "-d", str(sdist),
                    numexpr2)  # fmt: skip
    tests = work / "tests"
    shutil.rmtree(tests, ignore_errors=True)
    with tarfile.open(next(sdist.glob("numexpr-*.tar.gz"))) as tar:
        members = [
            m
            for m in tar.getmembers()
            if m.name.endswith(("/numexpr/tests/test_numexpr.py", "/numexpr/tests/conftest.py"))
        ]
        for member in members:
            member.name = Path(member.name).name
        tar.extractall(tests, members=members, filter="data")
    compat_dir = ROOT / "packages" / "numexpr3" / "tests" / "compat"
    session.chdir(tests)
    session.run(
        "python", "-m", "pytest", "-q", "-p", "numexpr3_compat", "-p", "no:cacheprovider", "--rootdir", str(tests),
        *session.posargs, env={"PYTHONPATH": str(compat_dir)},
    )  # fmt: skip


@nox.session(python=PYTHON, tags=["lint"])
def lint(session: nox.Session) -> None:
    """The pinned hooks of .pre-commit-config.yaml on every file (ruff, clang-format, yamllint, pins), then typecheck."""
    session.install("pre-commit==4.7.0")
    session.run("pre-commit", "run", "--all-files", "--show-diff-on-failure")
    session.notify("typecheck")


def third_party_dependencies() -> list[str]:
    """Every package's run-time dependencies and extras from outside this repository."""
    specs = []
    for package in PACKAGES:
        project = pyproject(package)["project"]
        specs += project.get("dependencies", [])
        specs += [spec for extra in project.get("optional-dependencies", {}).values() for spec in extra]
    return sorted({spec for spec in specs if Requirement(spec).name not in PACKAGES})


@nox.session(python=PYTHON, tags=["lint"])
def typecheck(session: nox.Session) -> None:
    """mypy --strict on each package's src/ (its [tool.mypy]), the siblings read from their sources."""
    # types-tqdm: tqdm ships no types (mrcz.cli reads it when installed).
    session.install("mypy==2.4.1", "scipy-stubs==1.17.1.5", "types-tqdm==4.70.0.20261106", *third_party_dependencies())
    sources = os.pathsep.join(str(ROOT / "packages" / p / "src") for p in PACKAGES)
    for package in PACKAGES:
        config = str(ROOT / "packages" / package / "pyproject.toml")
        session.run("mypy", "--config-file", config, "-p", package, env={"MYPYPATH": sources})


@nox.session(python=PYTHON, requires=[OWN_WHEELS], default=False)
def demo(session: nox.Session) -> None:
    """The main job: simulate a drifting movie, store it as MRCZ, align it with zorro, report."""
    install_wheel(session, "zorro")
    session.run("python", "-m", "zorro.demo", str(ROOT / "build" / "demo"))


@nox.session(python=PYTHON, requires=[OWN_WHEELS], default=False)
def bench(session: nox.Session) -> None:
    """Benchmarks of every package against its peers, interleaved medians, ratios printed."""
    for package in PACKAGES:
        install_wheel(session, package)
        install_group(session, package, "bench")
    pred_python = predecessor(session, "blosc")  # python-mrcz 0.6 as commonly installed
    for package in PACKAGES:
        session.run(
            "python", str(ROOT / "packages" / package / "benchmarks" / "run.py"),
            "--predecessor-python", pred_python, *session.posargs,
        )  # fmt: skip
    # What any aligner could reach on the grid's jittery cell (oracle shrinkage of the plain aligner).
    session.run("python", str(ROOT / "packages" / "zorro" / "benchmarks" / "jitter_limit.py"))
    # zorro's session layer against back-to-back alignment (watch's throughput and overhead).
    quick = [arg for arg in session.posargs if arg == "--quick"]
    session.run("python", str(ROOT / "packages" / "zorro" / "benchmarks" / "session.py"), *quick)


@nox.session(python=PYTHON, requires=[OWN_WHEELS], default=False)
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
    session.run(python, "-m", "pip", "install", "-q", "scikit-build-core>=0.11", "pybind11>=3.0", BLOSC2)
    for package in PACKAGES:
        session.run(
            python, "-m", "pip", "install", "--no-build-isolation", "-e", f"packages/{package}",
            f"-Cbuild-dir=build/dev/{package}", "-Ccmake.define.CMAKE_EXPORT_COMPILE_COMMANDS=1",
        )  # fmt: skip
        deps = nox.project.dependency_groups(pyproject(package), "test")
        session.run(python, "-m", "pip", "install", "-q", *deps)
