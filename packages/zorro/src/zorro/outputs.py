"""Everything ``zorro align`` writes for a movie: sums, STAR and JSON trajectories, PNG report.

Every file is written under a temporary name and renamed into place (MRC/MRCZ by mrcz,
which does the same), so a failure never leaves a damaged output.
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

import numpy as np
import scipy

import mrcz

from ._atomic import write_atomic, write_text_atomic
from .engine import Result

SUM_FORMATS = ("mrcz", "mrc")


def movie_stem(path: str | os.PathLike[str]) -> str:
    """The name outputs are called after: the movie's file name without its suffix(es)."""
    name = Path(path).name
    for suffix in (".mrcz", ".mrczs", ".mrcs", ".mrc", ".tiff", ".tif", ".st"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return Path(name).stem


def star_text(result: Result) -> str:
    """A RELION-style micrograph metadata STAR: ``data_general`` and ``data_global_shift``.

    Shifts are (x, y) in unbinned input pixels, the translation applied to each frame to align
    it with frame 1 (frame 1 = (0, 0)), as RELION's own motion correction stores them. An
    unknown pixel size is written as 1 Å/px (RELION's convention for "not calibrated") and
    the dose rate as 0 (no dose weighting).
    """
    p = result.parameters
    h, w = p["shape"]
    movie = Path(p["movie"]).name if p["movie"] else "movie"
    general = [
        ("_rlnImageSizeX", str(w)),
        ("_rlnImageSizeY", str(h)),
        ("_rlnImageSizeZ", str(result.frames)),
        ("_rlnMicrographMovieName", movie),
        ("_rlnMicrographBinning", f"{1.0:.6f}"),
        ("_rlnMicrographOriginalPixelSize", f"{p['pixel_size'] or 1.0:.6f}"),
        ("_rlnMicrographDoseRate", f"{p['dose_per_area'] or 0.0:.6f}"),
        ("_rlnMicrographPreExposure", f"{p['pre_exposure']:.6f}"),
        ("_rlnVoltage", f"{p['voltage']:.6f}"),
        ("_rlnMicrographStartFrame", "1"),
        ("_rlnMotionModelVersion", "0"),
    ]
    lines = ["", "# version 30001 (written by zorro)", "", "data_general", ""]
    lines += [f"{name:<40} {value}" for name, value in general]
    lines += ["", "", "# version 30001", "", "data_global_shift", "", "loop_"]
    lines += ["_rlnMicrographFrameNumber #1", "_rlnMicrographShiftX #2", "_rlnMicrographShiftY #3"]
    lines += [f"{k + 1:>6} {sx:12.6f} {sy:12.6f}" for k, (sy, sx) in enumerate(result.shifts)]
    return "\n".join(lines) + "\n\n"


def summary(result: Result) -> dict[str, object]:
    """The JSON record: trajectory, errors, pairs, every parameter, timings and versions."""
    import zorro

    pairs = {key: np.asarray(value).tolist() for key, value in result.pairs.items()}
    return {
        "zorro": zorro.__version__,
        "shift_convention": "translation (x, y) in input pixels applied to frame k to align it with frame 1; "
        "a feature at p in frame 1 is at p - shift in frame k",
        "frames": [
            {
                "frame": k + 1,
                "shift_x": float(s[1]),
                "shift_y": float(s[0]),
                "error_x": float(e[1]),
                "error_y": float(e[0]),
            }
            for k, (s, e) in enumerate(zip(result.shifts, result.errors))
        ],
        "motion_found": result.motion_found,
        "notes": result.notes,
        "parameters": result.parameters,
        "repaired": result.repaired,
        "pairs": pairs,
        "frc": {key: np.asarray(value).tolist() for key, value in result.frc.items()},
        "timings_s": result.timings,
        "versions": {
            "zorro": zorro.__version__,
            "mrcz": mrcz.__version__,
            "numexpr3": _version("numexpr3"),
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "python": platform.python_version(),
        },
    }


def _version(name: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def write_report(result: Result, path: Path, title: str = "") -> None:
    """PNG: drift trajectory with error bars, power spectrum of the sum, FRC of even/odd sums."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(15, 5), layout="constrained")
    ax_drift, ax_power, ax_frc = fig.subplots(1, 3)
    x, y = result.shifts[:, 1], result.shifts[:, 0]
    ax_drift.errorbar(x, y, xerr=result.errors[:, 1], yerr=result.errors[:, 0], fmt="o-", ms=3, capsize=2)
    ax_drift.plot(x[:1], y[:1], "s", color="C3", label="frame 1")
    ax_drift.set(xlabel="shift x (px)", ylabel="shift y (px)", title="Trajectory (translation applied)")
    ax_drift.set_aspect("equal", adjustable="datalim")
    ax_drift.invert_yaxis()
    ax_drift.legend()

    image = result.sum - result.sum.mean()
    size = min(image.shape)
    spectrum = np.abs(np.fft.fftshift(np.fft.fft2(image[:size, :size])))
    step = max(1, size // 512)
    shown = np.log1p(spectrum[: size - size % step, : size - size % step])
    shown = shown.reshape(size // step, step, size // step, step).mean(axis=(1, 3))
    low, high = np.percentile(shown, [1, 99.8])
    ax_power.imshow(shown, cmap="gray", vmin=low, vmax=high, extent=(-0.5, 0.5, 0.5, -0.5))
    ax_power.set(title="Power spectrum of the aligned sum", xlabel="cycles/px", ylabel="cycles/px")

    f = result.frc["frequency"]
    ax_frc.plot(f, result.frc["aligned"], label="aligned")
    ax_frc.plot(f, result.frc["unaligned"], label="unaligned", alpha=0.7)
    ax_frc.axhline(0.143, color="gray", lw=0.8, ls="--")
    ax_frc.set(xlabel="spatial frequency (cycles/px)", ylabel="FRC", title="FRC of even vs odd frame sums")
    ax_frc.set_ylim(-0.1, 1.0)
    ax_frc.legend()
    if title or result.notes:
        fig.suptitle("\n".join([title, *result.notes]).strip(), fontsize="medium")
    write_atomic(path, lambda tmp: fig.savefig(tmp, dpi=90, format="png"))


def write_outputs(
    result: Result, out_dir: str | Path, stem: str, *, format: str = "mrcz", report: bool = True
) -> dict[str, Path]:
    """Write ``<stem>_sum``, ``<stem>_sum_dw`` (.mrcz or .mrc; not without a pixel size),
    ``<stem>.star``, ``<stem>.json`` and ``<stem>_report.png`` in ``out_dir`` (created if
    needed); returns the paths by kind."""
    if format not in SUM_FORMATS:
        raise ValueError(f"unknown sum format {format!r}; choose one of {', '.join(SUM_FORMATS)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    p = result.parameters
    compressor = "zstd" if format == "mrcz" else None
    paths = {"sum": out / f"{stem}_sum.{format}"}
    if result.sum_dw is not None:
        paths["sum_dw"] = out / f"{stem}_sum_dw.{format}"
    paths.update(star=out / f"{stem}.star", json=out / f"{stem}.json")
    for kind in ("sum", "sum_dw")[: 1 + (result.sum_dw is not None)]:
        mrcz.write(
            paths[kind],
            getattr(result, kind),
            compressor=compressor,
            pixel_size=p["pixel_size"],
            voltage=p["voltage"],
            meta={"zorro": kind, "frames": result.frames},
            overwrite=True,
        )
    write_text_atomic(paths["star"], star_text(result))
    write_text_atomic(paths["json"], json.dumps(summary(result), indent=1))
    if report:
        paths["report"] = out / f"{stem}_report.png"
        write_report(result, paths["report"], title=stem)
    return paths
