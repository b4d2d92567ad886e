import numpy as np
import numpy.typing as npt

__version__: str

def find_peaks(
    maps: npt.ArrayLike,
    radius: float,
    sigmas: npt.ArrayLike,
    exclude_origin: bool = False,
    threads: int = 0,
) -> tuple[
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
]: ...
def phase_shift(spectrum: npt.NDArray[np.complex64], nx: int, dy: float, dx: float, threads: int = 0) -> None: ...
def shift_accumulate(
    spectrum: npt.NDArray[np.complex64],
    nx: int,
    dy: float,
    dx: float,
    plain: npt.NDArray[np.complex64],
    weighted: npt.NDArray[np.complex64],
    weight: npt.ArrayLike,
    threads: int = 0,
) -> None: ...
def repair_pixels(
    image: npt.NDArray[np.float32], bad: npt.ArrayLike, max_radius: int = 16, threads: int = 0
) -> int: ...
