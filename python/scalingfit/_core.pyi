# Type stubs for the compiled extension scalingfit._core (Rust, PyO3).
from typing import Optional, Sequence, final

import numpy as np
import numpy.typing as npt
from typing_extensions import Self

__all__ = [
    "__version__",
    "MAX_THREADS",
    "simd_level",
    "Formula",
    "Problem",
    "Termination",
    "FitOutput",
    "fit",
    "forms",
    "Bootstrapper",
    "BootstrapChunk",
    "TwoNNOutput",
    "MleOutput",
    "TileOutput",
    "knn",
    "twonn",
    "mle",
    "tile",
]

__version__: str
MAX_THREADS: int

@final
class Formula:
    """A compiled formula: identifiers in `variables` are data columns, all others parameters."""

    def __new__(cls, source: str, variables: Sequence[str]) -> Self: ...
    @property
    def source(self) -> str: ...
    @property
    def param_names(self) -> list[str]: ...
    @property
    def variables(self) -> list[str]: ...
    def linear_params(self) -> list[int]: ...
    def log_vars(self) -> list[int]: ...
    def used_vars(self) -> list[int]: ...
    def eval(
        self, params: npt.NDArray[np.float64], columns: npt.NDArray[np.float64], jacobian: bool = False
    ) -> tuple[npt.NDArray[np.float64], Optional[npt.NDArray[np.float64]]]: ...

@final
class Problem:
    """A fitting problem checked once: formula, loss, target, log-space parameters, bounds and
    the solver's limits (keyword-only)."""

    def __new__(
        cls,
        formula: Formula,
        *,
        loss: str,
        delta: float,
        target: str,
        positive: Sequence[bool],
        lower: Sequence[float],
        upper: Sequence[float],
        max_iter: int,
        ftol: float,
        xtol: float,
        gtol: float,
    ) -> Self: ...
    @property
    def n_params(self) -> int: ...
    @property
    def param_names(self) -> list[str]: ...

@final
class Termination:
    """Why a Levenberg-Marquardt run stopped; ``int(t)`` is its status code."""

    Ftol: Termination
    Xtol: Termination
    Gtol: Termination
    Stalled: Termination
    MaxIter: Termination
    Failed: Termination
    Diverged: Termination
    @property
    def converged(self) -> bool: ...
    @property
    def message(self) -> str: ...
    def __int__(self) -> int: ...

@final
class FitOutput:
    @property
    def params(self) -> npt.NDArray[np.float64]: ...
    @property
    def objective(self) -> float: ...
    @property
    def termination(self) -> Termination: ...
    @property
    def n_iter(self) -> int: ...
    @property
    def n_eval(self) -> int: ...
    @property
    def best_index(self) -> int: ...
    @property
    def objectives(self) -> npt.NDArray[np.float64]: ...
    @property
    def n_converged(self) -> int: ...
    @property
    def cov(self) -> Optional[npt.NDArray[np.float64]]: ...
    @property
    def residuals(self) -> npt.NDArray[np.float64]: ...
    @property
    def starts(self) -> npt.NDArray[np.float64]: ...
    @property
    def auto_starts(self) -> bool: ...
    @property
    def sensitivity(self) -> npt.NDArray[np.float64]: ...
    @property
    def model_max(self) -> float: ...
    @property
    def diverging(self) -> list[str]: ...

def fit(
    problem: Problem,
    columns: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    *,
    weights: Optional[npt.NDArray[np.float64]] = None,
    starts: Optional[npt.NDArray[np.float64]] = None,
    form_grid: Optional[str] = None,
    n_auto: int = 64,
    n_threads: int = 0,
) -> FitOutput: ...
def forms() -> list[tuple[str, str, list[str], list[str], str]]: ...

@final
class BootstrapChunk:
    @property
    def samples(self) -> npt.NDArray[np.float64]: ...
    @property
    def status(self) -> npt.NDArray[np.uint8]: ...
    @property
    def objective(self) -> npt.NDArray[np.float64]: ...
    @property
    def n_iter(self) -> npt.NDArray[np.uint32]: ...

@final
class Bootstrapper:
    def __new__(
        cls,
        problem: Problem,
        columns: npt.NDArray[np.float64],
        y: npt.NDArray[np.float64],
        *,
        weights: Optional[npt.NDArray[np.float64]],
        scheme: str,
        groups: Optional[npt.NDArray[np.int64]],
        seed: int,
        theta_hat: Sequence[float],
        extra_starts: Optional[npt.NDArray[np.float64]],
        warm: bool,
    ) -> Self: ...
    def run(self, start: int, count: int, n_threads: int = 0) -> BootstrapChunk: ...
    def jackknife(self, n_threads: int = 0) -> npt.NDArray[np.float64]: ...
    def counts(self, i: int) -> npt.NDArray[np.uint32]: ...
    def sigma(self) -> float: ...

# --- manifold dimension -------------------------------------------------------------------
@final
class TwoNNOutput:
    @property
    def d(self) -> float: ...
    @property
    def stderr(self) -> float: ...
    @property
    def n_points(self) -> int: ...
    @property
    def n_keep(self) -> int: ...
    @property
    def n_duplicates(self) -> int: ...
    @property
    def log_mu(self) -> npt.NDArray[np.float64]: ...

@final
class MleOutput:
    @property
    def d(self) -> float: ...
    @property
    def stderr(self) -> float: ...
    @property
    def n_points(self) -> int: ...
    @property
    def n_duplicates(self) -> int: ...
    @property
    def pointwise(self) -> npt.NDArray[np.float64]: ...

@final
class TileOutput:
    @property
    def d(self) -> float: ...
    @property
    def slope(self) -> float: ...
    @property
    def intercept(self) -> float: ...
    @property
    def sizes(self) -> npt.NDArray[np.int64]: ...
    @property
    def x(self) -> npt.NDArray[np.float64]: ...
    @property
    def mean_log(self) -> npt.NDArray[np.float64]: ...
    @property
    def per_draw(self) -> npt.NDArray[np.float64]: ...
    @property
    def local_d(self) -> npt.NDArray[np.float64]: ...
    @property
    def boot_d(self) -> npt.NDArray[np.float64]: ...
    @property
    def n_draws(self) -> int: ...
    @property
    def k(self) -> int: ...
    @property
    def n_points(self) -> int: ...
    @property
    def n_duplicates(self) -> int: ...

def knn(
    x: npt.NDArray[np.float64], k: int, n_threads: int = 0, algorithm: str = "auto"
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]: ...
def twonn(
    x: npt.NDArray[np.float64],
    discard_fraction: float = 0.1,
    method: str = "linear",
    n_threads: int = 0,
    algorithm: str = "auto",
) -> TwoNNOutput: ...
def mle(
    x: npt.NDArray[np.float64], k: int = 20, unbiased: bool = False, n_threads: int = 0, algorithm: str = "auto"
) -> MleOutput: ...
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
    algorithm: str = "auto",
) -> TileOutput: ...
def simd_level() -> str: ...
