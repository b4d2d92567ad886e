"""The simulator's promises, and the demo the pipeline runs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from zorro import demo
from zorro.simulate import DRIFT_MODELS, simulate, trajectory


def test_simulation_is_reproducible_and_counts_have_the_dose():
    a = simulate(4, 128, dose=1.5, seed=7)
    b = simulate(4, 128, dose=1.5, seed=7)
    assert np.array_equal(a.frames, b.frames) and np.array_equal(a.shifts, b.shifts)
    assert a.frames.dtype == np.uint8
    assert a.frames.mean() == pytest.approx(1.5, rel=0.03)
    assert not np.array_equal(a.frames, simulate(4, 128, dose=1.5, seed=8).frames)


def test_drift_models():
    rng = np.random.default_rng(0)
    linear = trajectory(10, "linear", 2.0, rng=rng)
    np.testing.assert_allclose(np.linalg.norm(np.diff(linear, axis=0), axis=1), 2.0)
    decaying = trajectory(30, "decaying", 20.0, tau=3.0, rng=rng)
    steps = np.linalg.norm(np.diff(decaying, axis=0), axis=1)
    assert (np.diff(steps) < 0).all() and np.linalg.norm(decaying[-1]) == pytest.approx(20.0, rel=0.01)
    walk = trajectory(10, "random-walk", 1.0, jitter=0.3, rng=rng)
    assert np.array_equal(walk[0], [0, 0])
    jittery = trajectory(30, "jittery", 20.0, tau=3.0, jitter=0.3, rng=np.random.default_rng(5))
    wobble = jittery - trajectory(30, "decaying", 20.0, tau=3.0, rng=np.random.default_rng(5))
    assert 0.2 < wobble[1:].std() < 0.4  # independent offsets of `jitter` px about the decaying path
    assert set(DRIFT_MODELS) == {"linear", "decaying", "random-walk", "jittery"}
    with pytest.raises(ValueError, match="drift model"):
        trajectory(5, "spiral")


def test_frames_follow_the_convention():
    """A feature at p in frame 1 is at p - shift in frame k (checked on the noise-free limit)."""
    movie = simulate(2, 128, dose=400.0, drift="linear", amplitude=5.0, seed=3)
    shift = np.round(movie.shifts[1]).astype(int)
    movie = simulate(2, 128, dose=400.0, drift="linear", amplitude=float(np.hypot(*shift)), seed=3)
    first, second = movie.frames.astype(float)
    sy, sx = np.round(movie.shifts[1]).astype(int)
    moved = np.roll(second, (sy, sx), axis=(0, 1))[16:-16, 16:-16]
    other = np.roll(second, (-sy, -sx), axis=(0, 1))[16:-16, 16:-16]
    inner = first[16:-16, 16:-16]
    assert np.corrcoef(moved.ravel(), inner.ravel())[0, 1] > np.corrcoef(other.ravel(), inner.ravel())[0, 1] + 0.2


def test_demo_runs_end_to_end(tmp_path):
    summary = demo.run(tmp_path, frames=8, size=256)
    assert summary["rms_error_px"] < 0.3
    for key in ("movie", "truth", "gain", "sum", "sum_dw", "star", "json", "report"):
        assert (tmp_path / summary["paths"][key].split("/")[-1]).exists()
    record = json.loads((tmp_path / "demo_movie.json").read_text())
    assert record["parameters"]["gain_orientation"] == "rot90+flip"
