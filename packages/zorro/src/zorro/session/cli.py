"""The session commands of ``zorro``: ``watch``, ``batch`` (a one-shot session) and
``session status | reprocess | exclude | pause | resume | stop | export``."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias, TypedDict, Unpack

from .export import Filters, export
from .gains import register_gain
from .scan import PRESETS, Scanner
from .session import Progress, Session
from .store import JSON, STATES, SessionStore

if TYPE_CHECKING:
    from .executors import Executor
    from .work import AlignParams, SessionParams

Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


class AddAlignOptions(Protocol):
    """``zorro align``'s options, added to a parser (:func:`zorro.cli._add_align_options`)."""

    def __call__(self, parser: argparse.ArgumentParser, orientation_default: str = ...) -> None: ...


#: The :class:`zorro.Parameters` fields from the ``align`` options and a thread count (:func:`zorro.cli._params`).
AlignParamsOf: TypeAlias = Callable[[argparse.Namespace, "int | None"], "AlignParams"]


class _SessionOptions(TypedDict, total=False):
    """What ``watch`` and ``batch`` set of a :class:`Session` beyond the common options."""

    scanner: Scanner
    files: list[str]
    companion: str | None
    settle: float
    poll: float
    newest_first: bool
    exit_when_idle: float | None


class _Status(TypedDict):
    """What ``zorro session status`` shows (``--json``: as it prints it)."""

    counts: dict[str, int]
    movies_per_hour: float
    parameters: JSON
    control: JSON
    last_errors: list[dict[str, str]]
    warnings: list[str]


#: What :func:`signal.signal` takes and gives back.
_Handler: TypeAlias = "Callable[[int, FrameType | None], Any] | int | signal.Handlers | None"


def add_commands(commands: Commands, add_align_options: AddAlignOptions, align_params: AlignParamsOf) -> None:
    """Add ``watch``, ``batch`` and ``session`` to the ``zorro`` parser. ``align_params(args,
    threads)`` gives the :class:`zorro.Parameters` fields from the ``align`` options."""
    watch = commands.add_parser(
        "watch",
        help="follow a microscope's output folder and align every movie once, as it completes",
        description="Poll IN_DIR for movies, wait until each is complete (unchanged for --settle s, header "
        "agreeing with size, companion file present), align it once and record everything in "
        "OUT/zorro-session.sqlite. Restarting resumes; a second watch on the same OUT refuses to start.",
    )
    watch.add_argument("input_dir", metavar="IN_DIR", type=Path, help="the folder the microscope writes to")
    _add_session_options(watch, add_align_options)
    found = watch.add_argument_group("finding movies")
    found.add_argument("--preset", choices=sorted(PRESETS), default="flat", help="folder layout (default: flat)")
    found.add_argument(
        "--pattern", action="append", default=[], metavar="GLOB", help="movies to take (replaces the preset's)"
    )
    found.add_argument("--exclude", action="append", default=[], metavar="GLOB", help="files to skip (path or name)")
    found.add_argument("--settle", type=float, default=20.0, help="seconds a movie must stay unchanged (default: 20)")
    found.add_argument("--poll", type=float, default=2.0, help="seconds between scans (default: 2)")
    found.add_argument("--order", choices=("oldest", "newest"), default="oldest", help="which ready movie goes first")
    found.add_argument("--exit-when-idle", type=float, metavar="S", help="stop after S seconds with nothing to do")
    watch.set_defaults(run=lambda args: _cmd_watch(args, align_params))

    batch = commands.add_parser(
        "batch",
        help="align every movie matching the patterns: a one-shot session",
        description="Align every movie matching the GLOB patterns (quote them; ** recurses) as a session "
        "over OUT: movies done before with the same parameters are not redone, a movie that fails is "
        "reported and the others go on; the exit status is 1 if any failed.",
    )
    batch.add_argument("patterns", nargs="+", metavar="GLOB", help="file patterns, e.g. 'session/*.mrcz'")
    _add_session_options(batch, add_align_options)
    batch.add_argument("--quiet", "-q", action="store_true", help="no progress line")
    batch.set_defaults(run=lambda args: _cmd_batch(args, align_params))

    session = commands.add_parser(
        "session", help="look at and steer a session: status, reprocess, exclude, pause, resume, stop, export"
    )
    sub = session.add_subparsers(dest="session_command", required=True, metavar="ACTION")
    status = sub.add_parser("status", help="movies per state, throughput, the last errors")
    status.add_argument("out", metavar="OUT", type=Path)
    status.add_argument("--json", action="store_true", help="as JSON")
    status.set_defaults(run=_cmd_status)
    again = sub.add_parser("reprocess", help="queue movies again (never implied by a parameter change)")
    again.add_argument("out", metavar="OUT", type=Path)
    which = again.add_mutually_exclusive_group()
    which.add_argument("--outdated", action="store_true", help="movies done with other parameters")
    which.add_argument("--failed", action="store_true", help="failed and incomplete movies")
    which.add_argument("--all", action="store_true", help="every movie not running")
    which.add_argument("movies", nargs="*", metavar="MOVIE", default=[], help="these movies")
    again.set_defaults(run=_cmd_reprocess)
    leave = sub.add_parser("exclude", help="leave movies out (until reprocessed)")
    leave.add_argument("out", metavar="OUT", type=Path)
    leave.add_argument("movies", nargs="+", metavar="MOVIE")
    leave.set_defaults(run=_cmd_exclude)
    for action, text in CONTROLS.items():
        control = sub.add_parser(action, help=text)
        control.add_argument("out", metavar="OUT", type=Path)
        control.set_defaults(run=_cmd_control, control=action)
    out = sub.add_parser(
        "export",
        help="write OUT/corrected_micrographs.star (RELION) and OUT/session.csv",
        description="List the accepted micrographs as RELION's motion correction does (data_optics, "
        "data_micrographs with the dose-weighted sums, trajectory STARs and accumulated motion), and "
        "every movie in session.csv. RELION reads MRC, not MRCZ: align with --format mrc to import.",
    )
    out.add_argument("out", metavar="OUT", type=Path)
    out.add_argument("--min-resolution", type=float, metavar="Å", help="accept FRC resolution this good or better")
    out.add_argument("--max-drift", type=float, metavar="Å", help="accept accumulated motion up to this")
    out.add_argument("--include-rejected", action="store_true", help="list rejected and excluded movies too")
    out.add_argument("--cs", type=float, default=2.7, help="spherical aberration, mm (default: 2.7)")
    out.add_argument("--amplitude-contrast", type=float, default=0.1, help="(default: 0.1)")
    out.set_defaults(run=_cmd_export)


#: What ``zorro session pause | resume | stop`` ask of the watcher of a folder (through its store).
CONTROLS = {
    "pause": "let the running movies finish and start no new ones (the watcher keeps scanning)",
    "resume": "start movies again after a pause",
    "stop": "ask the watcher to stop cleanly (movies running go back to ready)",
}


def _add_session_options(parser: argparse.ArgumentParser, add_align_options: AddAlignOptions) -> None:
    add_align_options(parser, orientation_default="auto")
    run = parser.add_argument_group("where the work runs")
    run.add_argument("--workers", "-j", type=int, default=1, help="movies at once (default: 1)")
    run.add_argument("--threads", type=int, help="threads per movie (default: cores / workers)")
    where = run.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="ADDR", help="a running Dask scheduler, e.g. tcp://HOST:8786")
    where.add_argument(
        "--cluster", type=Path, metavar="CONFIG", help="a Dask cluster from a TOML file (local, slurm...)"
    )
    where.add_argument("--dask-local", action="store_true", help="a Dask LocalCluster of --workers processes")
    run.add_argument("--max-attempts", type=int, default=3, help="tries before a movie fails (default: 3)")


def _params(
    args: argparse.Namespace, align_params: AlignParamsOf, threads: int | None, store: SessionStore
) -> SessionParams:
    """The parameter set, JSON values only; a gain is registered and named by its copy."""
    align = align_params(args, threads)
    if args.gain is not None:
        row = register_gain(store, args.gain, None if args.gain_orientation == "auto" else args.gain_orientation)
        align["gain"] = row["copy"]
        align["gain_orientation"] = row["orientation"] or "auto"
    elif align["gain_orientation"] == "auto":
        align["gain_orientation"] = "rot0"
    if align["defects"] is not None:
        align["defects"] = str(Path(align["defects"]).resolve())
    return {"format": args.format, "save_movie": args.save_movie, "report": not args.no_report, "align": align}


def _executor(args: argparse.Namespace) -> Executor:
    from .executors import DaskExecutor, LocalExecutor, cluster_from_config, local_cluster

    if args.scheduler:
        return DaskExecutor(args.scheduler)
    if args.cluster:
        return DaskExecutor(cluster=cluster_from_config(args.cluster))
    if args.dask_local:
        return DaskExecutor(cluster=local_cluster(args.workers))
    return LocalExecutor(args.workers)


def _threads(args: argparse.Namespace) -> int | None:
    from numexpr3 import detect_number_of_cores

    threads: int | None = args.threads
    workers: int = args.workers
    if threads:
        return threads
    if args.scheduler or args.cluster:
        return None  # each worker's own cores
    return max(1, detect_number_of_cores() // max(1, workers))


def _run(
    args: argparse.Namespace, align_params: AlignParamsOf, quiet: bool, **session: Unpack[_SessionOptions]
) -> dict[str, int]:
    with SessionStore(args.out_dir) as store:
        params = _params(args, align_params, _threads(args), store)
    executor = _executor(args)
    stop = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: _interrupt(stop, previous))
    line = _ProgressLine()
    try:
        return Session(
            out_dir=args.out_dir,
            params=params,
            executor=executor,
            max_attempts=args.max_attempts,
            gain_source=str(args.gain) if args.gain else None,
            on_progress=None if quiet else line,
            **session,
        ).run(stop)
    finally:
        line.end()
        signal.signal(signal.SIGINT, previous)
        if stop.is_set():
            print("\nzorro: stopping; waiting for the movies being aligned", file=sys.stderr)
        executor.close()


def _interrupt(stop: threading.Event, previous: _Handler) -> None:
    """First Ctrl-C: stop cleanly; the second one interrupts at once."""
    signal.signal(signal.SIGINT, previous)
    stop.set()


class _ProgressLine:
    """found / ready / running / done / failed and movies per hour, on one line of stderr."""

    def __init__(self) -> None:
        self._last = ""
        self._shown = 0.0

    def end(self) -> None:
        """End the line (on a terminal it is rewritten in place)."""
        if self._last and sys.stderr.isatty():
            print(file=sys.stderr)

    def __call__(self, p: Progress) -> None:
        c = p.counts
        line = (
            f"found {sum(c.values())} | ready {c['ready']} | running {c['running']} | done {c['done']} | "
            f"failed {c['failed'] + c['incomplete']} | {p.per_hour:.0f} movies/h"
        )
        if p.message:
            print(f"\nzorro: {p.message}", file=sys.stderr)
        tty = sys.stderr.isatty()
        if line != self._last and (tty or time.monotonic() - self._shown > 10):
            print(("\r" if tty else "") + line, end="" if tty else "\n", file=sys.stderr, flush=True)
            self._last, self._shown = line, time.monotonic()


def _cmd_watch(args: argparse.Namespace, align_params: AlignParamsOf) -> int:
    if not args.input_dir.is_dir():
        raise FileNotFoundError(f"no such folder: {args.input_dir}")
    preset = PRESETS[args.preset]
    scanner = Scanner(
        args.input_dir, preset, patterns=tuple(args.pattern), excludes=tuple(args.exclude), prune=(args.out_dir,)
    )
    counts = _run(
        args,
        align_params,
        False,
        scanner=scanner,
        companion=preset.companion,
        settle=args.settle,
        poll=args.poll,
        newest_first=args.order == "newest",
        exit_when_idle=args.exit_when_idle,
    )
    print(f"zorro watch: {_summary(counts)}; outputs in {args.out_dir}")
    return 0


def _cmd_batch(args: argparse.Namespace, align_params: AlignParamsOf) -> int:
    from ..cli import expand_patterns

    movies = [str(Path(m).absolute()) for m in expand_patterns(args.patterns)]
    if not movies:
        print(f"zorro: no movies match {' '.join(args.patterns)}", file=sys.stderr)
        return 2
    _run(args, align_params, args.quiet, files=movies, settle=0.0, poll=0.5)
    with SessionStore(args.out_dir) as store:
        rows = {m.path: m for m in store.movies()}
    chosen = [rows[m] for m in movies if m in rows]
    bad = [m for m in chosen if m.state in ("failed", "incomplete")]
    done = sum(m.state == "done" for m in chosen)
    for m in bad:
        print(f"zorro: FAILED {m.path}: {m.last_error}", file=sys.stderr)
    print(f"zorro batch: {done} of {len(movies)} movies aligned, {len(bad)} failed; outputs in {args.out_dir}")
    for m in bad:
        print(f"  failed: {m.path}: {m.last_error}")
    others = [m for m in chosen if m.state in ("outdated", "stale", "excluded")]
    if others:
        states = ", ".join(sorted({m.state for m in others}))
        print(
            f"  {len(others)} movie(s) {states}, not redone: `zorro session reprocess {args.out_dir} ...` asks for it"
        )
    return 1 if bad or done < len(movies) else 0


def _summary(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {state}" for state, n in counts.items() if n) or "no movies"


def _cmd_status(args: argparse.Namespace) -> int:
    with SessionStore(args.out, create=False) as store:
        report: _Status = {
            "counts": store.counts(),
            "movies_per_hour": round(store.throughput(), 1),
            "parameters": store.setting("parameters"),
            "control": store.setting("control", "run"),
            "last_errors": [{"movie": p, "error": e} for p, e in store.last_errors()],
            "warnings": [e["detail"] for e in store.events(5, kind="gain_changed")],
        }
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    width = max(map(len, STATES))
    for state, n in report["counts"].items():
        print(f"{state:<{width}} {n:>6}   {STATES[state]}")
    print(f"\nthroughput: {report['movies_per_hour']} movies/h over the last hour; parameters {report['parameters']}")
    if report["control"] != "run":
        print(f"asked to {report['control']}")
    for e in report["last_errors"]:
        print(f"  {e['movie']}: {e['error']}")
    for w in report["warnings"]:
        print(f"warning: {w}")
    return 0


def _cmd_reprocess(args: argparse.Namespace) -> int:
    states = ["outdated"] if args.outdated else ["failed", "incomplete"] if args.failed else []
    if args.all:
        states = [s for s in STATES if s != "running"]
    if not states and not args.movies:
        raise ValueError("say what to reprocess: --outdated, --failed, --all or MOVIE...")
    with SessionStore(args.out, create=False) as store:
        n = store.reprocess(states=states, paths=[_known(store, m) for m in args.movies])
    print(f"{n} movie(s) queued again; a running `zorro watch` on {args.out} picks them up")
    return 0


def _cmd_exclude(args: argparse.Namespace) -> int:
    with SessionStore(args.out, create=False) as store:
        n = store.exclude([_known(store, m) for m in args.movies])
    print(f"{n} movie(s) excluded")
    return 0


def _known(store: SessionStore, movie: str) -> str:
    """The store's name of a movie given on the command line (absolute, or with links resolved)."""
    for candidate in (str(Path(movie).absolute()), str(Path(movie).resolve())):
        if store.movie(candidate) is not None:
            return candidate
    return movie  # the store names it in its error


def _cmd_control(args: argparse.Namespace) -> int:
    with SessionStore(args.out, create=False) as store:
        store.set_settings(control="run" if args.control == "resume" else args.control)
    print(f"asked the watcher of {args.out} to {args.control}")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    filters = Filters(args.min_resolution, args.max_drift, args.include_rejected)
    with SessionStore(args.out, create=False) as store:
        done = export(store, filters, cs=args.cs, amplitude_contrast=args.amplitude_contrast)
        # kept, so whoever looks at the session next (the GUI) sees which thresholds made the export
        store.set_settings(export_min_resolution=args.min_resolution, export_max_drift=args.max_drift)
    print(f"{done['star']}: {done['micrographs']} micrographs ({done['accepted']} accepted); {done['csv']}")
    return 0
