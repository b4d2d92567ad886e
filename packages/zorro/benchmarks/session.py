"""Sustained throughput of `zorro watch` against the same movies aligned back to back.

Peers, measured in the same run and interleaved (baseline, watch, baseline, watch, ...):

  back to back   one interpreter calling `zorro.pipeline.process` on each movie in turn, the
                 least any session layer could cost (no store, no scan, no worker process)
  watch          `zorro watch IN -o OUT --workers 1` as a user runs it: scans, settles (0 s: the
                 files are complete), the SQLite store, a spawned worker, manifests

Sustained throughput counts from the first movie finished to the last (so interpreter and
worker start-up are left out; they are reported as the whole run's wall time beside it):
movies/hour = 3600 (N - 1) / (t_last - t_first), MB/s over the same movies' input bytes.
Throughput overhead = 1 - median(watch) / median(back to back); the worst is that of the
worst adjacent pair of runs. On a shared machine wall times swing with the load, so the
CPU time of each run (all its processes) is measured too: CPU overhead = median(watch CPU)
/ median(back-to-back CPU) - 1, and the watcher's own CPU (its store, scans and loop,
from its stop event) as a share of the run's.

Usage:
    python packages/zorro/benchmarks/session.py [--quick] [--repeats R] [--markdown FILE]
                                                [--predecessor-python PATH (ignored)]

--quick runs only the 20 x 1024² case. Movies are cached under build/bench/zorro/session/.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
OUT = ROOT / "build" / "bench" / "zorro" / "session"
THREADS = 2
CASES = {"20x1024": (20, 1024, 8), "40x4096": (40, 4096, 3)}  # frames, size, movies per run
ALIGN = ["--threads", str(THREADS), "--no-report", "--band", "6"]

BASELINE = """
import json, sys, time
from zorro.pipeline import process
out, threads, movies = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
done = []
for movie in movies:
    process(movie, out, report=False, band=6, workers=threads)
    done.append(time.time())
print(json.dumps({"done": done}))
"""


def movies(case: str) -> list[Path]:
    from zorro.simulate import simulate, write

    frames, size, count = CASES[case]
    folder = OUT / "movies" / case
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for seed in range(count):
        path = folder / f"m{seed}.mrc"
        if not path.exists():
            write(simulate(frames, size, dose=1.0, drift="decaying", seed=seed), path)
        paths.append(path)
    return paths


def rates(done: list[float], size_bytes: int, count: int) -> tuple[float, float]:
    span = max(done) - min(done)
    return 3600 * (count - 1) / span, (count - 1) * size_bytes / span / 1e6


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def baseline(paths: list[Path], out: Path) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    start, cpu = time.time(), children_cpu()
    command = [sys.executable, "-c", BASELINE, str(out), str(THREADS), *map(str, paths)]
    run = subprocess.run(command, capture_output=True, text=True, check=False)
    if run.returncode:
        raise RuntimeError(run.stderr)
    return {"done": json.loads(run.stdout)["done"], "wall": time.time() - start, "cpu": children_cpu() - cpu}


def watch(paths: list[Path], out: Path) -> dict:
    from zorro.session import SessionStore

    shutil.rmtree(out, ignore_errors=True)
    folder = paths[0].parent
    start, cpu = time.time(), children_cpu()
    command = [sys.executable, "-m", "zorro", "watch", str(folder), "-o", str(out), "--settle", "0", "--poll", "1"]
    run = subprocess.run(
        [*command, "--exit-when-idle", "0.5", "--format", "mrcz", *ALIGN], capture_output=True, text=True, check=False
    )
    if run.returncode:
        raise RuntimeError(run.stdout + run.stderr)
    cpu = children_cpu() - cpu
    with SessionStore(out, create=False) as store:
        done = [m.finished for m in store.movies(["done"])]
        own = float(store.events(1, kind="stop")[0]["detail"].rsplit(" ", 2)[-2])
    if len(done) != len(paths):
        raise RuntimeError(f"watch finished {len(done)} of {len(paths)} movies")
    return {"done": done, "wall": max(done) - start, "cpu": cpu, "watcher_cpu": own}


def measure(case: str, repeats: int) -> dict:
    paths = movies(case)
    size = statistics.mean(p.stat().st_size for p in paths)
    runs: dict[str, list] = {"back to back": [], "watch": []}
    for _ in range(repeats):
        for name, run in (("back to back", baseline), ("watch", watch)):
            result = run(paths, OUT / "work" / name.replace(" ", "-"))
            per_hour, mb_s = rates(result["done"], size, len(paths))
            runs[name].append({"per_hour": per_hour, "mb_s": mb_s, **result, "done": None})
            print(
                f"  {case} {name:<13} {per_hour:8.0f} movies/h {mb_s:7.1f} MB/s  (run {result['wall']:.1f} s, "
                f"CPU {result['cpu']:.1f} s)",
                flush=True,
            )
    base, ours = runs["back to back"], runs["watch"]
    median = {name: {k: statistics.median(r[k] for r in rs) for k in rs[0] if k != "done"} for name, rs in runs.items()}
    # Adjacent pairs of the interleaved sequence b0 w0 b1 w1 ...: each watch run with the baseline before and after it.
    pairs = [(b, w) for k, w in enumerate(ours) for b in base[k : k + 2]]
    return {
        "case": case,
        "movies": len(paths),
        "mb_per_movie": size / 1e6,
        "runs": runs,
        "median": median,
        "overhead_median": 1 - median["watch"]["per_hour"] / median["back to back"]["per_hour"],
        "overhead_worst": max(1 - w["per_hour"] / b["per_hour"] for b, w in pairs),
        "cpu_overhead": median["watch"]["cpu"] / median["back to back"]["cpu"] - 1,
        "watcher_cpu_share": statistics.median(w["watcher_cpu"] / w["cpu"] for w in ours),
    }


def markdown(rows: list[dict], header: str) -> str:
    columns = (
        "movies | peer | movies/h | MB/s | whole run, s | CPU, s | overhead: throughput (median / worst pair), CPU"
    )
    lines = [header, "", f"| {columns}, watcher's own CPU |", "|---|---|---|---|---|---|---|"]
    for row in rows:
        for name, med in row["median"].items():
            overhead = (
                f"{row['overhead_median']:+.1%} / {row['overhead_worst']:+.1%}, {row['cpu_overhead']:+.1%}, "
                f"{row['watcher_cpu_share']:.2%}"
                if name == "watch"
                else ""
            )
            lines.append(
                f"| {row['movies']} x {row['case'].replace('x', ' x ')}² | {name} | {med['per_hour']:.0f} | "
                f"{med['mb_s']:.1f} | {med['wall']:.1f} | {med['cpu']:.1f} | {overhead} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="only the 20 x 1024² movies")
    ap.add_argument("--cases", nargs="+", choices=sorted(CASES), default=list(CASES), help="movie shapes to run")
    ap.add_argument("--repeats", type=int, default=3, help="interleaved repeats per peer (default: 3)")
    ap.add_argument("--markdown", type=Path, help="also write the table (markdown) to this file")
    ap.add_argument("--predecessor-python", help="ignored (the nox bench session passes it to every package)")
    args = ap.parse_args(argv)
    import zorro

    load = os.getloadavg()[0]
    header = (
        f"{time.strftime('%Y-%m-%d')}, {platform.machine()}, {os.cpu_count()} CPUs, {THREADS} threads, load average "
        f"{load:.2f} at the start, zorro {zorro.__version__}, python {platform.python_version()}"
    )
    print(f"zorro session benchmark: {header}", flush=True)
    rows = [measure(case, args.repeats) for case in (["20x1024"] if args.quick else args.cases)]
    (OUT / "results.json").write_text(json.dumps(rows, indent=1))
    table = markdown(rows, header)
    print("\n" + table)
    for row in rows:
        verdict = "PASS" if row["overhead_median"] <= 0.05 else "MISS"
        print(
            f"TARGET session overhead <= 5 % ({row['case']}): throughput {row['overhead_median']:+.1%} {verdict}, "
            f"CPU {row['cpu_overhead']:+.1%}, the watcher's own CPU {row['watcher_cpu_share']:.2%} of the run's"
        )
    if args.markdown:
        args.markdown.write_text(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
