"""How far below the plain aligner can anyone get on the grid's jittery cell?

The cell's drift is a smooth decay plus independent offsets of 0.3 px per axis in every frame.
An offset that is a frame's own can only be measured in that frame, and the plain aligner
measures each frame (against the sum of the others) about as well as the data allow. So the
best any method can do is to shrink each measurement toward the smooth path, by the Bayes
factor g = τ² / (τ² + σ²) (τ² the jitter's variance, σ² the measurement's). Two oracles
apply it to the plain aligner's shifts, both knowing τ² and σ² (σ² from the true errors):

  known smooth path  the shrinkage toward the true smooth path: a bound no method reaches
  known jitter       toward the smooth path that zorro's own smoothing (its prior shapes,
                     chosen by marginal likelihood) finds under noise σ² + τ²: what a prior
                     that knew the jitter's size exactly would give

Usage: python packages/zorro/benchmarks/jitter_limit.py [--seeds N]
"""

from __future__ import annotations

import argparse

import grid
import numpy as np
from numpy.typing import NDArray
from plain_aligner import plain_align

import zorro
from zorro._refine import smooth
from zorro.simulate import rms_error, simulate


def shrunk(measured: NDArray[np.float64], path: NDArray[np.float64], g: float) -> NDArray[np.float64]:
    """The measurements pulled toward ``path`` by 1 - g (the mean offset between them kept)."""
    residual = measured - path
    offset = residual.mean(axis=0)
    result: NDArray[np.float64] = path + offset + g * (residual - offset)
    return result


def one_movie(cell: grid.Cell, seed: int) -> dict[str, float]:
    movie = simulate(seed=seed, **cell.simulate)
    smooth_truth = simulate(seed=seed, **{**cell.simulate, "drift": "decaying"}).shifts  # the same draw, no jitter
    tau2 = cell.simulate["jitter"] ** 2
    plain = plain_align(movie.frames, workers=grid.THREADS)
    error = plain - movie.shifts
    sigma2 = float(np.mean((error - error.mean(axis=0)) ** 2))
    g = tau2 / (tau2 + sigma2)
    variances = np.full_like(plain, sigma2 + tau2)
    found_smooth, _, _ = smooth(plain, variances)
    return {
        "zorro": rms_error(zorro.align(movie.frames, pixel_size=1.0, workers=grid.THREADS).shifts, movie.shifts),
        "plain": rms_error(plain, movie.shifts),
        "known jitter": rms_error(shrunk(plain, found_smooth, g), movie.shifts),
        "known smooth path": rms_error(shrunk(plain, smooth_truth, g), movie.shifts),
        "sigma": float(np.sqrt(sigma2)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5)
    seeds = range(500, 500 + parser.parse_args().seeds)
    cell = next(c for c in grid.cells() if c.label == "jittery")
    rows = []
    for seed in seeds:
        rows.append(one_movie(cell, seed))
        print(f"  seed {seed}: " + "  ".join(f"{k} {v:.3f}" for k, v in rows[-1].items()), flush=True)
    plain = np.median([r["plain"] for r in rows])
    print(f"jittery cell ({cell.simulate['jitter']} px of jitter per axis), median RMS over {len(rows)} seeds, "
          f"per-axis measurement error of the plain aligner {np.median([r['sigma'] for r in rows]):.3f} px:")  # fmt: skip
    for name in ("zorro", "plain", "known jitter", "known smooth path"):
        median = np.median([r[name] for r in rows])
        print(f"  {name:<18} {median:.3f} px  {median / plain:.2f} x plain")


if __name__ == "__main__":
    main()
