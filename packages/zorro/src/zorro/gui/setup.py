"""What the "start a session" form holds, checked, and turned into the ``zorro watch`` command.

No Qt here: the form is a view of :class:`WatchSettings`, so what the window starts is exactly
what ``zorro watch`` with :meth:`WatchSettings.argv` would start, and the check is testable alone.
"""

from __future__ import annotations

import os
import shlex
import socket
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from urllib.parse import urlsplit

from .._orient import ORIENTATIONS
from ..outputs import SUM_FORMATS
from ..session.scan import PRESETS, glob_regex, incompleteness

WHERE = ("local", "scheduler", "cluster")
#: The store setting that keeps the command a window started, so reopening the folder refills the form.
ARGV_SETTING = "watch_argv"


@dataclass
class WatchSettings:
    """One session's start settings; numbers at 0 mean "from the movie's header"."""

    input_dir: str = ""
    preset: str = "flat"
    patterns: list[str] = field(default_factory=list)
    out_dir: str = ""
    gain: str = ""
    gain_orientation: str = "auto"
    pixel_size: float = 0.0
    voltage: float = 0.0
    dose_per_frame: float = 0.0
    format: str = "mrcz"
    report: bool = True
    max_shift: int = 0  # 0: zorro's default
    settle: float = 20.0
    poll: float = 2.0
    where: str = "local"
    workers: int = 1
    scheduler: str = ""
    cluster: str = ""

    def problems(self, *, connect_timeout: float = 2.0) -> dict[str, str]:
        """Why each field is not usable (field name -> reason); empty when the session can start."""
        found = self._path_problems()
        found |= self._choice_problems()
        found |= self._number_problems()
        found |= self._where_problems(connect_timeout)
        return found

    def _path_problems(self) -> dict[str, str]:
        reasons = {
            "input_dir": _readable_folder(self.input_dir),
            "out_dir": _writable_folder(self.out_dir),
            "gain": _gain_problem(self.gain),
            "patterns": _patterns_problem(self.patterns),
        }
        return {name: reason for name, reason in reasons.items() if reason}

    def _choice_problems(self) -> dict[str, str]:
        found = {}
        if self.preset not in PRESETS:
            found["preset"] = f"unknown layout {self.preset!r}; choose {', '.join(PRESETS)}"
        if self.gain_orientation not in ("auto", *ORIENTATIONS):
            found["gain_orientation"] = f"unknown orientation {self.gain_orientation!r}"
        if self.format not in SUM_FORMATS:
            found["format"] = f"unknown format {self.format!r}"
        return found

    def _number_problems(self) -> dict[str, str]:
        found = {}
        for name in ("pixel_size", "voltage", "dose_per_frame", "max_shift"):
            if getattr(self, name) < 0:
                found[name] = "must be positive (0: from the movie's header, or the default)"
        if self.settle < 0 or self.poll <= 0:
            found["settle"] = "settle must be 0 or more and poll more than 0 seconds"
        return found

    def _where_problems(self, connect_timeout: float) -> dict[str, str]:
        """What keeps the work from running where it is asked to, under the field at fault."""
        if self.where not in WHERE:
            return {"where": f"choose one of {', '.join(WHERE)}"}
        if self.where == "local":
            name, reason = "workers", None if self.workers >= 1 else "at least 1 worker"
        elif self.where == "scheduler":
            name, reason = "scheduler", _scheduler_problem(self.scheduler, connect_timeout)
        else:
            name, reason = "cluster", _cluster_problem(self.cluster)
        return {name: reason} if reason else {}

    def argv(self) -> list[str]:
        """The ``zorro`` arguments of this session (``zorro watch IN_DIR --out-dir OUT ...``)."""
        args = ["watch", self.input_dir, "--out-dir", self.out_dir, "--preset", self.preset]
        for pattern in self.patterns:
            args += ["--pattern", pattern]
        args += ["--settle", _num(self.settle), "--poll", _num(self.poll), "--format", self.format]
        if not self.report:
            args.append("--no-report")
        if self.gain:
            args += ["--gain", self.gain, "--gain-orientation", self.gain_orientation]
        for option, value in (
            ("--pixel-size", self.pixel_size),
            ("--voltage", self.voltage),
            ("--dose-per-frame", self.dose_per_frame),
            ("--max-shift", self.max_shift),
        ):
            if value:
                args += [option, _num(value)]
        if self.where == "scheduler":
            args += ["--scheduler", self.scheduler]
        elif self.where == "cluster":
            args += ["--cluster", self.cluster]
        else:
            args += ["--workers", str(self.workers)]
        return args

    def command(self) -> str:
        """The shell command line of :meth:`argv`."""
        return shlex.join(["zorro", *self.argv()])

    @classmethod
    def from_argv(cls, argv: list[str]) -> WatchSettings:
        """The settings of a ``zorro watch`` argument list this class wrote (the store keeps it)."""
        from ..cli import build_parser

        a = build_parser().parse_args(argv)
        where = "scheduler" if a.scheduler else "cluster" if a.cluster else "local"
        return cls(
            input_dir=str(a.input_dir),
            preset=a.preset,
            patterns=list(a.pattern),
            out_dir=str(a.out_dir),
            gain=str(a.gain or ""),
            gain_orientation=a.gain_orientation,
            pixel_size=a.pixel_size or 0.0,
            voltage=a.voltage or 0.0,
            dose_per_frame=a.dose_per_frame or 0.0,
            format=a.format,
            report=not a.no_report,
            max_shift=a.max_shift if "--max-shift" in argv else 0,
            settle=a.settle,
            poll=a.poll,
            where=where,
            workers=a.workers,
            scheduler=a.scheduler or "",
            cluster=str(a.cluster or ""),
        )

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]


def _num(value: float) -> str:
    return f"{value:g}"


def _readable_folder(path: str) -> str | None:
    if not path:
        return "choose the folder the microscope writes to"
    p = Path(path)
    if not p.is_dir():
        return f"no such folder: {p}"
    if not os.access(p, os.R_OK | os.X_OK):
        return f"cannot read {p}"
    return None


def _writable_folder(path: str) -> str | None:
    if not path:
        return "choose where the outputs go"
    p = Path(path)
    existing = p if p.exists() else next((q for q in p.parents if q.exists()), None)
    if existing is None or not existing.is_dir():
        return f"{existing or p} is not a folder"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"cannot write in {existing}"
    return None


def _gain_problem(path: str) -> str | None:
    if not path:
        return None
    if not Path(path).is_file():
        return f"no such file: {path}"
    try:
        return incompleteness(path)  # its header agrees with its size, its pages can be read
    except OSError as exc:
        return f"cannot read it: {exc}"


def _patterns_problem(patterns: list[str]) -> str | None:
    for pattern in patterns:
        if not pattern.strip():
            return "an empty pattern"
        try:
            glob_regex(pattern)
        except Exception as exc:
            return f"{pattern!r} is not a usable pattern: {exc}"
    return None


def _scheduler_problem(address: str, timeout: float) -> str | None:
    """A Dask scheduler answers at ``tcp://HOST:PORT`` (a TCP connection is tried)."""
    if not address:
        return "give the scheduler's address, e.g. tcp://HOST:8786"
    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    if parts.scheme not in ("tcp", "tls") or not parts.hostname:
        return f"{address!r} is not tcp://HOST:PORT"
    try:
        port = parts.port or 8786
    except ValueError:
        return f"{address!r} has no valid port"
    try:
        with socket.create_connection((parts.hostname, port), timeout=timeout):
            return None
    except OSError as exc:
        return f"no scheduler answers at {parts.hostname}:{port} ({exc.strerror or exc})"


def _cluster_problem(path: str) -> str | None:
    if not path:
        return "choose a cluster configuration (TOML)"
    try:
        with Path(path).open("rb") as f:
            config = tomllib.load(f)
    except OSError as exc:
        return f"cannot read it: {exc.strerror or exc}"
    except tomllib.TOMLDecodeError as exc:
        return f"not valid TOML: {exc}"
    kind = config.get("cluster", {}).get("kind")
    if kind not in ("local", "slurm", "pbs", "sge"):
        return f"[cluster] kind must be local, slurm, pbs or sge, not {kind!r}"
    return None
