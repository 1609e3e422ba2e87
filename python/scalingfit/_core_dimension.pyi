# Stubs for the dimension functions of scalingfit._core (to be merged into _core.pyi).
from typing import Optional, Sequence

import numpy as np
import numpy.typing as npt

def knn(
    x: npt.NDArray[np.float64], k: int, n_threads: int = 0
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]: ...
def twonn(
    x: npt.NDArray[np.float64], discard_fraction: float = 0.1, method: str = "linear", n_threads: int = 0
) -> dict: ...
def mle(x: npt.NDArray[np.float64], k: int = 20, unbiased: bool = False, n_threads: int = 0) -> dict: ...
def tile(
    x: npt.NDArray[np.float64],
    sizes: Optional[Sequence[int]] = None,
    n_sizes: int = 6,
    n_draws: int = 10,
    k: int = 1,
    seed: int = 0,
    n_boot: int = 1000,
    abscissa: str = "log",
    n_threads: int = 0,
) -> dict: ...
