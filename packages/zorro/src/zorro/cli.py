"""The ``zorro`` command line: align, simulate, gain-orient, and the session commands
(watch, batch, session; in :mod:`zorro.session.cli`)."""

from __future__ import annotations

import argparse
import glob
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

import numpy as np

from . import __version__
from ._errors import ZorroError
from ._orient import ORIENTATIONS
from .engine import Parameters
from .outputs import SUM_FORMATS
from .simulate import DRIFT_MODELS

if TYPE_CHECKING:
    from .session.work import AlignParams

_DEFAULTS = Parameters()
# The numeric alignment settings offered as options --band, --corr-size, ...: (field, help).
_TUNING = (
    ("band", "correlate frame pairs up to this many frames apart; 0 = all pairs"),
    ("corr_size", "largest side of the Fourier-cropped correlation grid..."),
    ("max_binning", "...unless that bins by more than this"),
    ("max_shift", "largest shift searched between paired frames, in pixels"),
    ("min_significance", "peak significance below which a pair's weight fades out"),
    ("outlier_threshold", "reject pairs whose residual exceeds this many robust SDs"),
)


def _add_align_options(parser: argparse.ArgumentParser, orientation_default: str = "rot0") -> None:
    out = parser.add_argument_group("outputs")
    out.add_argument("--out-dir", "-o", required=True, type=Path, help="directory for the outputs (created if needed)")
    out.add_argument(
        "--format", choices=SUM_FORMATS, default="mrcz", help="file format of the sums (default: %(default)s)"
    )
    out.add_argument(
        "--save-movie", action="store_true", help="also write the aligned frames as <stem>_aligned.mrcz/.mrcs"
    )
    out.add_argument("--no-report", action="store_true", help="skip the PNG report")

    cal = parser.add_argument_group("calibration (default: from the file's header or metadata)")
    cal.add_argument(
        "--pixel-size",
        type=float,
        help="pixel size of the movie in Å (default: the header); only dose weighting needs it: without one "
        "the dose-weighted sum is skipped",
    )
    cal.add_argument("--voltage", type=float, help="accelerating voltage in kV (default: header, else 300)")
    cal.add_argument(
        "--dose-per-frame", type=float, help="electrons per pixel per frame (default: metadata, else the mean count)"
    )
    cal.add_argument("--pre-exposure", type=float, default=0.0, help="e⁻/Å² before the first frame (default: 0)")

    det = parser.add_argument_group("detector")
    det.add_argument("--gain", type=Path, help="gain reference (MRC/TIFF), multiplied into every frame")
    auto = orientation_default == "auto"
    det.add_argument(
        "--gain-orientation",
        choices=("auto", *ORIENTATIONS) if auto else ORIENTATIONS,
        default=orientation_default,
        help="turns the gain reference into the frames' orientation (find it with `zorro gain-orient`"
        + ("; auto: the session's registry, else found once on the first movies)" if auto else ")"),
    )
    det.add_argument(
        "--defects",
        type=Path,
        help="defect map: an image (non-zero = bad) or a text file of 'row Y' / 'column X' / 'pixel Y X' lines",
    )
    det.add_argument("--no-hot-pixels", action="store_true", help="do not look for hot/dead pixels and lines")
    det.add_argument(
        "--hot-threshold",
        type=float,
        default=_DEFAULTS.hot_threshold,
        help="standard deviations that make a pixel or line an outlier (default: %(default)s)",
    )

    eng = parser.add_argument_group("alignment")
    for field, text in _TUNING:
        default = getattr(_DEFAULTS, field)
        eng.add_argument(
            f"--{field.replace('_', '-')}", type=type(default), default=default, help=f"{text} (default: %(default)s)"
        )
    eng.add_argument(
        "--exclude-origin",
        action="store_true",
        help="leave the zero-shift pixel out of peak searches (against fixed-pattern noise)",
    )


def _params(args: argparse.Namespace, threads: int | None) -> AlignParams:
    return {
        "pixel_size": args.pixel_size,
        "voltage": args.voltage,
        "dose_per_frame": args.dose_per_frame,
        "pre_exposure": args.pre_exposure,
        "gain": args.gain,
        "gain_orientation": args.gain_orientation,
        "defects": args.defects,
        "hot_pixels": not args.no_hot_pixels,
        "hot_threshold": args.hot_threshold,
        "exclude_origin": args.exclude_origin,
        **{field: getattr(args, field) for field, _ in _TUNING},
        "workers": threads,
    }


class _Done(TypedDict):
    """What aligning one movie made: its outputs, the time it took, its largest shift (px)."""

    paths: dict[str, str]
    seconds: float
    max_shift: float


def _process_one(movie: str, args: argparse.Namespace, threads: int | None) -> tuple[str, _Done]:
    from .pipeline import process

    result, paths = process(
        movie,
        args.out_dir,
        format=args.format,
        save_movie=args.save_movie,
        report=not args.no_report,
        **_params(args, threads),
    )
    return movie, {
        "paths": {k: str(v) for k, v in paths.items()},
        "seconds": result.timings["total"],
        "max_shift": float(np.abs(result.shifts).max()),
    }


def _cmd_align(args: argparse.Namespace) -> int:
    failed = 0
    for movie in args.movies:
        try:
            _, info = _process_one(movie, args, args.threads)
        except (ZorroError, OSError, ValueError) as exc:
            print(f"zorro: {movie}: {exc}", file=sys.stderr)
            failed += 1
            continue
        print(f"{movie}: aligned in {info['seconds']:.1f} s; outputs in {args.out_dir}")
    return 1 if failed else 0


def expand_patterns(patterns: list[str]) -> list[str]:
    """The files shell-style patterns (``**`` included) match, in order, each once."""
    movies: list[str] = []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern, recursive=True))  # noqa: PTH207 (shell-style patterns, ** included)
        movies += matches if matches else ([pattern] if Path(pattern).exists() else [])
    return list(dict.fromkeys(movies))


def _cmd_simulate(args: argparse.Namespace) -> int:
    from .simulate import simulate, write

    shape = tuple(args.size) if len(args.size) == 2 else (args.size[0], args.size[0])
    movie = simulate(
        args.frames,
        shape,
        dose=args.dose,
        pixel_size=args.pixel_size,
        voltage=args.voltage,
        drift=args.drift,
        amplitude=args.amplitude,
        tau=args.tau,
        jitter=args.jitter,
        gain=args.gain,
        gain_orientation=args.gain_orientation,
        hot_pixels=args.hot_pixels,
        defect_rows=args.defect_rows,
        defect_columns=args.defect_columns,
        seed=args.seed,
    )
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    paths = write(movie, args.output)
    for kind, path in paths.items():
        print(f"{kind}: {path}")
    return 0


def _cmd_gain_orient(args: argparse.Namespace) -> int:
    from .gain_orient import find_gain_orientation

    best, scores = find_gain_orientation(args.movies, args.gain)
    ranked = sorted(scores, key=scores.__getitem__)
    print("orientation    roughness (lower = flatter)")
    for name in ranked:
        print(f"{name:<14} {scores[name]:.6g}{'   <- best' if name == best else ''}")
    if len(ranked) > 1 and scores[ranked[1]] < 1.01 * scores[best]:
        print("warning: the two best orientations are within 1 %; use more or longer movies", file=sys.stderr)
    print(f"\nuse: --gain-orientation {best}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``zorro`` command (also used to document it)."""
    parser = argparse.ArgumentParser(
        prog="zorro",
        description="Drift correction of cryo-EM movies: finds each frame's shift from a band of pairwise "
        "masked normalised cross-correlations and a robust weighted solve, then sums the frames with exact "
        "Fourier shifts (plain and dose-weighted).",
        epilog="Run `zorro COMMAND --help` for the options of each command.",
    )
    parser.add_argument("--version", action="version", version=f"zorro {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    align = commands.add_parser(
        "align",
        help="align movies and write sums, STAR/JSON trajectories and a PNG report",
        description="Align each MOVIE (MRC, MRCS, MRCZ or TIFF) and write, in --out-dir: <stem>_sum and "
        "<stem>_sum_dw (dose-weighted) as MRCZ or MRC, <stem>.star (RELION-style trajectory), <stem>.json "
        "(trajectory, errors, parameters, timings, versions) and <stem>_report.png.",
    )
    align.add_argument("movies", nargs="+", metavar="MOVIE", help="movie file(s)")
    _add_align_options(align)
    align.add_argument("--threads", type=int, help="threads for FFTs and kernels (default: all usable cores)")
    align.set_defaults(run=_cmd_align)

    from .session.cli import add_commands

    add_commands(commands, _add_align_options, _params)
    from .gui import add_command as add_gui

    add_gui(commands)

    sim = commands.add_parser(
        "simulate",
        help="write a synthetic movie with known drift (and its truth as JSON)",
        description="Write a synthetic movie: particles and carbon-like texture, Poisson noise at the given "
        "dose, drifting along a known trajectory, optionally with a gain reference, hot pixels and defect "
        "lines. The format follows OUTPUT's extension (.mrcz, .mrc, .mrcs, .tif, .tiff); the true shifts "
        "go to <stem>_truth.json and a gain reference to <stem>_gain.mrc.",
    )
    sim.add_argument("output", metavar="OUTPUT", help="movie file to write")
    sim.add_argument("--frames", "-n", type=int, default=20, help="number of frames (default: %(default)s)")
    sim.add_argument(
        "--size",
        type=int,
        nargs="+",
        default=[1024],
        metavar=("H", "W"),
        help="frame size in pixels, H [W] (default: 1024)",
    )
    sim.add_argument("--dose", type=float, default=1.0, help="e⁻ per pixel per frame (default: %(default)s)")
    sim.add_argument("--pixel-size", type=float, default=1.0, help="Å per pixel (default: %(default)s)")
    sim.add_argument("--voltage", type=float, default=300.0, help="kV (default: %(default)s)")
    sim.add_argument("--drift", choices=DRIFT_MODELS, default="linear", help="drift model (default: %(default)s)")
    sim.add_argument(
        "--amplitude",
        type=float,
        help="px/frame for linear and random-walk, total px for decaying and jittery (default: 1, 1, 20)",
    )
    sim.add_argument("--tau", type=float, default=3.0, help="decay in frames of 'decaying' (default: %(default)s)")
    sim.add_argument("--jitter", type=float, default=0.3, help="random-walk step SD in px (default: %(default)s)")
    sim.add_argument("--gain", action="store_true", help="simulate a detector gain and write its reference")
    sim.add_argument(
        "--gain-orientation",
        choices=ORIENTATIONS,
        default="rot90+flip",
        help="orientation the gain reference must be turned by (default: %(default)s)",
    )
    sim.add_argument("--hot-pixels", type=int, default=0, help="number of hot pixels (default: 0)")
    sim.add_argument("--defect-rows", type=int, default=0, help="number of dead rows (default: 0)")
    sim.add_argument("--defect-columns", type=int, default=0, help="number of hot columns (default: 0)")
    sim.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    sim.set_defaults(run=_cmd_simulate)

    orient = commands.add_parser(
        "gain-orient",
        help="find which of the 8 rotations/flips of a gain reference fits the movies",
        description="Try the 8 orientations of GAIN on the summed frames of the MOVIEs and print how flat each "
        "leaves them; the flattest is the one to pass as --gain-orientation. More movies give a clearer answer.",
    )
    orient.add_argument("gain", metavar="GAIN", help="gain reference (MRC/TIFF)")
    orient.add_argument("movies", nargs="+", metavar="MOVIE", help="movies recorded with that detector")
    orient.set_defaults(run=_cmd_gain_orient)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``zorro`` command; returns the exit status."""
    args = build_parser().parse_args(argv)
    run: Callable[[argparse.Namespace], int] = args.run  # each command's set_defaults(run=...)
    try:
        return run(args)
    except (ZorroError, OSError, ValueError) as exc:
        print(f"zorro: error: {exc}", file=sys.stderr)
        return 2
