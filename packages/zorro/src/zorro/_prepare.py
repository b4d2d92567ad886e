"""Per-frame preparation: gain correction and repair of defective and hot pixels."""

from __future__ import annotations

import numpy as np
import scipy.ndimage
from numpy.typing import NDArray

from . import _core


def find_hot_pixels(total: NDArray[np.number], threshold: float = 8.0) -> dict[str, NDArray[np.bool_]]:
    """Statistical outliers of the sum of all frames (after gain correction).

    A pixel is hot when it exceeds its neighbourhood's mean by ``threshold`` Poisson
    standard deviations, dead when it falls as far below (only detectable where the
    neighbourhood holds more than ``threshold``² counts). A row or column is defective when
    its mean is ``threshold`` robust standard deviations away from the median row or
    column mean. Returns boolean ``pixels`` (h, w), ``rows`` (h) and ``columns`` (w).
    """
    total = total.astype(np.float32)
    rows, columns = _line_outliers(total.mean(axis=1), threshold), _line_outliers(total.mean(axis=0), threshold)
    good = ~(rows[:, None] | columns[None, :])
    # Neighbourhood mean without the pixel itself, over good lines only.
    box = 5
    if good.all():  # the usual case: one filter pass
        local = (scipy.ndimage.uniform_filter(total, box) * (box * box) - total) / (box * box - 1)
    else:
        weight = scipy.ndimage.uniform_filter(good.astype(np.float32), box) * box * box - good
        local = (scipy.ndimage.uniform_filter(total * good, box) * box * box - total * good) / np.maximum(weight, 1)
    sigma = np.sqrt(np.maximum(local, 1.0))
    pixels = good & ((total > local + threshold * sigma + 1) | (total < local - threshold * sigma))
    return {"pixels": pixels, "rows": rows, "columns": columns}


def _line_outliers(means: NDArray[np.floating], threshold: float) -> NDArray[np.bool_]:
    median = float(np.median(means))
    spread = 1.4826 * float(np.median(np.abs(means - median)))
    spread = max(spread, 1e-6 * max(abs(median), 1.0))
    return np.asarray(np.abs(means - median) > threshold * spread)


class FramePreparer:
    """Turns raw frames into float32 frames: gain applied, flagged pixels repaired.

    The frame is made in one buffer that every call reuses (a fresh 4k x 4k frame would cost
    a page-faulting allocation each time): use it before the next call.
    """

    def __init__(
        self, shape: tuple[int, int], gain: NDArray[np.float32] | None, bad: NDArray[np.bool_] | None, threads: int
    ) -> None:
        self.frame = np.empty(shape, np.float32)
        self.gain = gain
        self.bad = bad.astype(np.uint8) if bad is not None and bad.any() else None
        self.threads = threads

    def __call__(self, raw: NDArray[np.number]) -> NDArray[np.float32]:
        np.copyto(self.frame, raw, casting="unsafe")
        if self.gain is not None:
            self.frame *= self.gain
        if self.bad is not None:
            _core.repair_pixels(self.frame, self.bad, threads=self.threads)
        return self.frame
