"""A session's accepted micrographs as RELION's motion-correction job lists them, and as CSV.

``corrected_micrographs.star`` has ``data_optics`` (one optics group per pixel size and
voltage) and ``data_micrographs``: ``rlnMicrographName`` (the dose-weighted sum),
``rlnMicrographMetadata`` (the movie's trajectory STAR), ``rlnOpticsGroup`` and
``rlnAccumMotionTotal/Early/Late`` (Å). Paths are absolute, so the file can be imported
from any RELION project.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

from .._atomic import write_text_atomic
from .store import ResultRow, SessionStore

STAR_NAME = "corrected_micrographs.star"
CSV_NAME = "session.csv"


class Measured(TypedDict):
    """What :class:`Filters` judge a movie by (a store's result row, the GUI's table row)."""

    state: str
    resolution: float | None
    drift_total: float | None


class ExportRow(ResultRow):
    """A result row as the export lists it: absolute paths of its outputs, and its verdict."""

    micrograph: str
    metadata: str
    accepted: bool


class Exported(TypedDict):
    """What :func:`export` wrote: the two files, and how many micrographs each lists."""

    star: Path
    csv: Path
    micrographs: int
    accepted: int


@dataclass(frozen=True)
class Filters:
    """Which done movies are accepted: FRC resolution at least this good (≤ Å), accumulated
    motion at most this (Å); ``include_rejected`` keeps the others and the excluded too."""

    min_resolution: float | None = None
    max_drift: float | None = None
    include_rejected: bool = False

    def accepts(self, row: Measured) -> bool:
        if row["state"] != "done":
            return False
        if self.min_resolution is not None and not (row["resolution"] or math.inf) <= self.min_resolution:
            return False
        return self.max_drift is None or (row["drift_total"] or 0.0) <= self.max_drift


def export(store: SessionStore, filters: Filters, *, cs: float = 2.7, amplitude_contrast: float = 0.1) -> Exported:
    """Write ``OUT/corrected_micrographs.star`` and ``OUT/session.csv``; returns the paths and
    how many micrographs each holds."""
    folder = store.out_dir.resolve()
    rows = [
        ExportRow(
            **row,
            micrograph=str(folder / row["outputs"]["sum_dw"]["name"]),
            metadata=str(folder / row["outputs"]["star"]["name"]),
            accepted=filters.accepts(row),
        )
        for row in store.results(states=("done", "excluded"))
    ]
    chosen = [row for row in rows if row["accepted"] or filters.include_rejected]
    star = store.out_dir / STAR_NAME
    write_text_atomic(star, star_text(chosen, cs=cs, amplitude_contrast=amplitude_contrast))
    table = store.out_dir / CSV_NAME
    write_text_atomic(table, csv_text(store, rows))
    return {"star": star, "csv": table, "micrographs": len(chosen), "accepted": sum(r["accepted"] for r in rows)}


def star_text(rows: list[ExportRow], *, cs: float, amplitude_contrast: float) -> str:
    groups: dict[tuple[float | None, float | None], int] = {}
    for row in rows:
        groups.setdefault((row["pixel_size"], row["voltage"]), len(groups) + 1)
    lines = ["", "# version 30001 (written by zorro)", "", "data_optics", "", "loop_"]
    optics = (
        "OpticsGroupName",
        "OpticsGroup",
        "MicrographOriginalPixelSize",
        "Voltage",
        "SphericalAberration",
        "AmplitudeContrast",
        "MicrographPixelSize",
    )
    lines += [f"_rln{name} #{k + 1}" for k, name in enumerate(optics)]
    for (pixel, voltage), group in groups.items():
        lines.append(
            f"opticsGroup{group} {group} {_num(pixel)} {_num(voltage)} {cs:.6f} {amplitude_contrast:.6f} {_num(pixel)}"
        )
    lines += ["", "", "# version 30001", "", "data_micrographs", "", "loop_"]
    columns = (
        "MicrographName",
        "MicrographMetadata",
        "OpticsGroup",
        "AccumMotionTotal",
        "AccumMotionEarly",
        "AccumMotionLate",
    )
    lines += [f"_rln{name} #{k + 1}" for k, name in enumerate(columns)]
    for row in rows:
        group = groups[(row["pixel_size"], row["voltage"])]
        motion = " ".join(_num(v) for v in (row["drift_total"], row["drift_early"], row["drift_late"]))
        lines.append(f"{_quoted(row['micrograph'])} {_quoted(row['metadata'])} {group} {motion}")
    return "\n".join(lines) + "\n\n"


def csv_text(store: SessionStore, results: list[ExportRow]) -> str:
    """Every movie of the session, with its state and (when done) metrics and acceptance."""
    by_path = {row["path"]: row for row in results}
    fields = ["movie", "state", "attempts", "last_error", "frames", "dose", "drift_total", "drift_early"]
    fields += ["drift_late", "resolution", "seconds", "micrograph", "accepted"]
    out = io.StringIO()
    writer = csv.DictWriter(out, fields, lineterminator="\n")
    writer.writeheader()
    for movie in store.movies():
        row = by_path.get(movie.path)
        writer.writerow(
            {
                "movie": movie.path,
                "state": movie.state,
                "attempts": movie.attempts,
                "last_error": movie.last_error or "",
                **{k: "" if row is None else row.get(k, "") for k in fields[4:]},
            }
        )
    return out.getvalue()


def _num(value: float | None) -> str:
    return "0.000000" if value is None else f"{value:.6f}"


def _quoted(path: str) -> str:
    """STAR values are whitespace-separated: quote a path that holds blanks."""
    return f'"{path}"' if any(c.isspace() for c in path) else path
