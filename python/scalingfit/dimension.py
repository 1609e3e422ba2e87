"""Intrinsic dimension of data manifolds: exact kNN, the tile estimator, TwoNN and MLE.

Theory (Sharma & Kaplan 2020; Bahri et al. 2021): data on a d-dimensional manifold, tiled
around D training points, has nearest-neighbour spacing ``s ~ D**(-1/d)``; a model that
interpolates between neighbours has squared-error loss ``~ s**4 ~ D**(-4/d)``. So a measured
``d`` predicts the data-scaling exponent ``alpha ~ 4/d``.

Quick tour::

    est = sf.dimension.tile(X, seed=0)     # NN-distance scaling across subsample sizes
    est.d, est.ci(0.95), est.sizes, est.spacing, est.local_d
    est.predicted_alpha()                  # 4/d with an interval
    sf.dimension.twonn(X).d                # Facco et al. 2017
    sf.dimension.mle(X, k=20).d            # Levina-Bickel, MacKay-Ghahramani averaging
    sf.dimension.compare(est, fit)         # predicted vs fitted alpha
    dist, idx = sf.dimension.knn(X, k)     # exact neighbours (self excluded)

Input handling (all functions): ``X`` must be a 2-D ``(n_points, dim)`` array of real numbers;
integers are converted to float64, booleans/complex/object arrays raise ``TypeError``, and
NaN/inf raise ``ValueError``. Every other argument is checked up front: a value of the wrong
type is a ``TypeError`` and one out of range a ``ValueError``, each naming the argument.
``to_dict()`` of every result is strict JSON (NaN -> None, inf -> "inf").
``algorithm`` ('auto', 'brute', 'kdtree' or 'projected') picks the exact kNN
method (identical results; see :func:`knn`), and long calls stop on Ctrl-C. Exact duplicate rows make neighbour distances zero; the
estimators remove them (keeping the first copy) and emit a ``UserWarning`` with the count
(``knn`` keeps them and returns zero distances). Computations are float64 and reproducible:
results do not depend on ``n_threads`` (0 or None = all cores; ``n_jobs`` is scikit-learn's alias, -1 = all).

Deliberate differences from scikit-dimension (skdim 0.5): duplicates are removed as rows
before the neighbour search (skdim's TwoNN drops the points whose first neighbour is at
distance 0 but keeps the copies as neighbours); otherwise ``twonn`` (both methods) and ``mle``
follow the same definitions and agree to rounding.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence, Tuple

import numpy as np

from . import _core
from ._compat import RecordCompat, interval_note
from ._data import check_level, check_seed, jsonable, norm_ppf, refuse_over_memory, resolve_threads, threads_or_jobs

__all__ = [
    "knn",
    "tile",
    "twonn",
    "mle",
    "compare",
    "TileEstimate",
    "TwoNNEstimate",
    "MLEEstimate",
    "Comparison",
]


def _points(X: Any, name: str = "X") -> np.ndarray:
    arr = np.asarray(X)
    if arr.dtype == object or arr.dtype.kind not in "fiu":
        raise TypeError(
            f"{name}: expected an array of real numbers, got dtype {arr.dtype}; convert it with "
            f"np.asarray({name}, dtype=float)"
        )
    if arr.ndim != 2:
        hint = " (reshape a single feature with X.reshape(-1, 1))" if arr.ndim == 1 else ""
        raise ValueError(f"{name}: expected a 2-D array (n_points, dim), got shape {arr.shape}{hint}")
    if arr.shape[1] < 1:
        raise ValueError(f"{name}: has 0 columns; pass an (n_points, dim) array with dim >= 1")
    return np.ascontiguousarray(arr, dtype=np.float64)


def _int(v: Any, name: str, lo: int) -> int:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{name}: expected an integer >= {lo}, got {type(v).__name__} {v!r}")
    v = int(v)
    if v < lo:
        raise ValueError(f"{name}: must be at least {lo}, got {v}")
    if v >= 2**63:
        raise ValueError(f"{name}: must be below 2**63, got {v}")
    return v


def _warn_dups(n_dup: int) -> None:
    if n_dup:
        warnings.warn(
            f"removed {n_dup} duplicate rows of X before estimating the dimension "
            "(identical points have zero neighbour distance)",
            UserWarning,
            stacklevel=3,
        )


def _real(v: Any, name: str, what: str) -> float:
    """A real number (not bool) as a float, or a TypeError naming ``name``."""
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name}: expected {what}, got {type(v).__name__} {v!r}")
    try:
        return float(v)
    except OverflowError:  # a Python int beyond float64
        raise ValueError(f"{name}: an integer of {len(str(v))} digits is too large for float64; expected {what}") from None


def _factor(factor: Any) -> float:
    f = _real(factor, "factor", "a positive finite number such as 4.0")
    if not (math.isfinite(f) and f > 0):
        raise ValueError(f"factor: must be a positive finite number such as 4.0 (4/d for squared-error loss), got {factor!r}")
    return f


def _z(level: Any) -> float:
    return norm_ppf(0.5 + check_level(level) / 2.0)


def _bool(v: Any, name: str) -> bool:
    if not isinstance(v, (bool, np.bool_)):
        raise TypeError(f"{name}: expected True or False, got {type(v).__name__} {v!r}")
    return bool(v)


def _choice(v: Any, name: str, allowed: Sequence[str], hint: str) -> str:
    if not isinstance(v, str):
        raise TypeError(f"{name}: expected a str ({hint}), got {type(v).__name__} {v!r}")
    if v not in allowed:
        raise ValueError(f"{name}: unknown value {v!r}; use {hint}")
    return v


_ALGORITHMS = ("auto", "brute", "kdtree", "projected")


def _algorithm(algorithm: Any) -> str:
    if not isinstance(algorithm, str) or algorithm not in _ALGORITHMS:
        raise ValueError(f"algorithm: unknown value {algorithm!r}; use 'auto', 'brute', 'kdtree' or 'projected'")
    return algorithm


def knn(X: Any, k: int, *, algorithm: str = "auto", n_threads: int = 0, n_jobs: Optional[int] = None) -> Tuple[np.ndarray, np.ndarray]:
    """Exact k nearest neighbours of every row of ``X`` (the point itself excluded).

    Returns ``(distances, indices)``, both ``(n, k)``, sorted by (distance, index). Distances
    are computed exactly as ``sqrt(sum((x_i - x_j)**2))`` (summed in a fixed order) for the
    final candidates. Duplicate rows are kept (they give distance 0).

    ``algorithm``: ``'brute'`` (blocked GEMM brute force), ``'kdtree'`` (a k-d tree, fast in
    low dimension), ``'projected'`` (for points near a low-dimensional linear subspace of a
    high ambient dimension, as model embeddings often are: candidates from a search in the
    principal subspace plus the residual norm, whose distance is a lower bound of the true
    one, so pruning with it is exact; falls back to brute force when the data show no such
    structure) or ``'auto'`` (the k-d tree for ambient dimension <= 5, ``'projected'`` from
    dimension 96 and 2000 points, brute force otherwise). All give identical results, ties
    included. A long call stops on Ctrl-C (``KeyboardInterrupt``).

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        ``distances`` (float64) and ``indices`` (int64), each of shape ``(n, k)``.

    Examples
    --------
    >>> import numpy as np
    >>> import scalingfit as sf
    >>> X = np.random.default_rng(0).uniform(size=(2000, 2)) @ np.array([[1.0, 0.0, 1.0], [0.0, 1.0, -1.0]])  # a plane in 3-D
    >>> dist, idx = sf.dimension.knn(X, 3)
    >>> dist.shape, bool((np.diff(dist, axis=1) >= 0).all())
    ((2000, 3), True)
    """
    X = _points(X)
    k = _int(k, "k", 1)
    return _core.knn(X, k, _threads(n_threads, n_jobs), _algorithm(algorithm))


def _threads(n_threads: Any, n_jobs: Any) -> int:
    """``n_threads`` (0 or None: all cores) or its alias ``n_jobs`` (scikit-learn's; -1: all)."""
    return resolve_threads(threads_or_jobs(None if n_threads == 0 else n_threads, n_jobs))


class _Estimate(RecordCompat):
    """Shared helpers: ``ci``, ``predicted_alpha``, ``to_dict``, ``to_frame``/``to_polars`` (one
    row: the scalar fields and the 95% interval for d as ``ci95_lo``/``ci95_hi``)."""

    def _record(self) -> dict:
        out = dict(self.__dict__)
        try:
            out["ci95"] = self.ci(0.95)
        except ValueError:
            pass
        return out

    d: float
    stderr: float
    n_points: int

    def _interval(self, level: float) -> Tuple[float, float]:
        # asymptotic normal interval from ``stderr`` (the tile estimator overrides this
        # with its bootstrap interval)
        z = _z(level)
        return self.d - z * self.stderr, self.d + z * self.stderr

    def to_dict(self) -> dict:
        """The fields as strict JSON (NaN -> None, inf -> "inf", arrays -> lists)."""
        return jsonable(self.__dict__)

    def ci(self, level: float = 0.95) -> Tuple[float, float]:
        """Interval for d at confidence ``level`` (a number in (0, 1))."""
        return self._interval(check_level(level))

    def predicted_alpha(self, factor: float = 4.0, level: float = 0.95) -> "Predicted":
        """Predicted data-scaling exponent ``factor / d`` (4/d for squared-error loss),
        with the interval mapped from the interval for d."""
        factor = _factor(factor)
        level = check_level(level)
        if not (math.isfinite(self.d) and self.d > 0):
            raise ValueError(f"predicted_alpha: the dimension estimate d = {self.d} is not a positive finite number, so factor / d is undefined")
        value = factor / self.d
        if not (math.isfinite(value) and value >= 1e-300):
            raise ValueError(f"factor: factor / d = {factor:g} / {self.d:g} is outside float64's range; use a realistic factor such as 4.0")
        lo, hi = self.ci(level)
        return Predicted(
            value=value,
            lower=factor / hi if hi > 0 else float("nan"),
            upper=factor / lo if lo > 0 else float("inf"),
            level=level,
            factor=factor,
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(d={self.d:.4g}{interval_note(self)}, n_points={self.n_points})"


@dataclass(repr=False)
class Predicted(RecordCompat):
    """A predicted exponent ``factor / d`` with its interval."""

    value: float
    lower: float
    upper: float
    level: float
    factor: float

    def __repr__(self) -> str:
        return f"Predicted(alpha={self.value:.4g}, {self.level:.0%} interval [{self.lower:.4g}, {self.upper:.4g}], factor={self.factor:g})"

    def summary(self) -> str:
        """One line: the predicted exponent with its interval."""
        return f"predicted exponent {self.factor:g}/d = {self.value:.4g}  ({self.level:.0%} [{self.lower:.4g}, {self.upper:.4g}])"

    def to_dict(self) -> dict:
        """Strict JSON (NaN -> None, inf -> "inf")."""
        return jsonable(dict(value=self.value, lower=self.lower, upper=self.upper, level=self.level, factor=self.factor))


@dataclass(repr=False)
class TileEstimate(_Estimate):
    """Result of :func:`tile`.

    Attributes: ``d`` (= -1/slope), ``slope``, ``intercept``, ``sizes`` (subsample sizes D),
    ``x`` (regressor: ln(D-1) or digamma(D)), ``mean_log`` (mean over draws of the mean
    ln r_k), ``spacing`` (= exp(mean_log), the geometric-mean k-th neighbour distance s(D)),
    ``per_draw`` ((n_draws, n_sizes) mean ln r_k), ``local_d`` (-1 / local slope per size:
    rising or falling values show noise at large D or curvature/boundaries at small D),
    ``boot_d`` (bootstrap replicates over draws).
    """

    d: float
    slope: float
    intercept: float
    sizes: np.ndarray
    x: np.ndarray
    mean_log: np.ndarray
    per_draw: np.ndarray
    local_d: np.ndarray
    boot_d: np.ndarray
    k: int
    n_draws: int
    n_points: int
    n_duplicates: int
    seed: int
    abscissa: str

    @property
    def spacing(self) -> np.ndarray:
        """The estimated spacing: ``exp`` of the mean log nearest-neighbour distance."""
        return np.exp(self.mean_log)

    def _interval(self, level: float) -> Tuple[float, float]:
        level = check_level(level)
        if self.boot_d.size == 0:
            raise ValueError("ci: needs n_draws >= 2 and n_boot >= 1 (the interval is a bootstrap over subsample draws)")
        a = (1.0 - level) / 2.0
        lo, hi = np.quantile(self.boot_d, [a, 1.0 - a])
        return float(lo), float(hi)

    def to_dict(self) -> dict:
        """JSON-ready dictionary of the result."""
        out = super().to_dict()
        out["spacing"] = jsonable(self.spacing)
        return out

    def summary(self) -> str:
        """A readable report of the result, with its intervals and warnings."""
        lines = [f"tile estimator: d = {self.d:.4g}"]
        if self.boot_d.size:
            lo, hi = self.ci(0.95)
            lines[0] += f"  (95% bootstrap over {self.n_draws} draws: [{lo:.4g}, {hi:.4g}])"
        lines.append(
            f"  k = {self.k}, {self.n_points} distinct points ({self.n_duplicates} duplicates removed), "
            f"regressor {'ln(D-1)' if self.abscissa == 'log' else 'digamma(D)'}, slope {self.slope:.5g}"
        )
        lines.append(f"  {'D':>9} {'spacing':>12} {'local d':>9}")
        for D, s, ld in zip(self.sizes, self.spacing, self.local_d):
            lines.append(f"  {int(D):>9d} {s:>12.5g} {ld:>9.4g}")
        return "\n".join(lines)


def _sizes(sizes: Any) -> list:
    if isinstance(sizes, (str, bytes)) or (not hasattr(sizes, "__len__") and not np.isscalar(sizes)):
        raise TypeError(f"sizes: expected a sequence of increasing integers such as [100, 200, 400], got {type(sizes).__name__} {sizes!r}")
    try:
        arr = np.asarray(sizes)
    except (ValueError, TypeError):
        raise TypeError(f"sizes: expected a flat sequence of increasing integers such as [100, 200, 400], got {sizes!r}") from None
    if arr.ndim > 1:
        raise ValueError(f"sizes: expected a 1-D sequence of integers, got shape {arr.shape}")
    out = [_int(s, "sizes", 1) for s in arr.ravel().tolist()]
    if len(out) < 2:
        raise ValueError(f"sizes: give at least 2 subsample sizes (e.g. [100, 200, 400]) or None for the default, got {sizes!r}")
    return out


def tile(
    X: Any,
    *,
    sizes: Optional[Sequence[int]] = None,
    n_sizes: int = 6,
    n_draws: int = 10,
    k: int = 1,
    seed: Any = 0,
    n_boot: int = 1000,
    abscissa: str = "log",
    algorithm: str = "auto",
    n_threads: int = 0,
    n_jobs: Optional[int] = None,
) -> TileEstimate:
    """Tile estimator: scaling of the k-th neighbour distance with subsample size.

    For ``n_draws`` nested random subsamples (draw i uses an RNG stream hashed from
    ``(seed, i)``) of sizes ``sizes`` (default: n/2, n/4, ..., ``n_sizes`` of them, each at least
    max(8, 4(k+1))), the mean ln r_k over each subsample is averaged over draws and regressed on
    ln(D - 1) with the package's fitter; ``d = -1/slope``. ``ci()`` is a percentile bootstrap
    over draws (``n_boot`` replicates); it reflects subsampling variability, not the sampling
    of X itself. ``abscissa='digamma'`` regresses on digamma(D) instead, which is exact for a
    locally uniform density (the k-NN ball mass is Beta(k, D-k), so
    E ln r_k = (psi(k) - psi(D) - ln c)/d) and removes the O(1/D) bias of ln(D-1). Curvature and
    boundaries (all estimators run low on e.g. the 10-cube) are not corrected; see ``local_d``.
    References: Pettis et al. 1979 (IEEE TPAMI 1:25); Costa & Hero 2004 (IEEE TSP 52:2210).

    Returns
    -------
    TileEstimate
        ``d``, ``stderr``, ``ci(level)`` (bootstrap over draws), the per-size means and the
        regression, ``predicted_alpha()``, ``summary()``, ``to_frame()``.

    Examples
    --------
    >>> import numpy as np
    >>> import scalingfit as sf
    >>> X = np.random.default_rng(0).uniform(size=(2000, 2)) @ np.array([[1.0, 0.0, 1.0], [0.0, 1.0, -1.0]])  # a plane in 3-D
    >>> round(sf.dimension.tile(X, seed=0).d, 1)
    2.0
    """
    X = _points(X)
    abscissa = _choice(abscissa, "abscissa", ("log", "digamma"), "'log' (ln(D-1)) or 'digamma'")
    sizes = None if sizes is None else _sizes(sizes)
    if not isinstance(seed, (int, np.integer, np.random.Generator, np.random.SeedSequence)) or isinstance(seed, bool):
        raise TypeError(f"seed: expected an integer in [0, 2**64), a numpy Generator or a SeedSequence; got {type(seed).__name__} {seed!r}")
    seed = check_seed(seed)
    n_sizes = _int(n_sizes, "n_sizes", 3)
    n_draws = _int(n_draws, "n_draws", 1)
    k = _int(k, "k", 1)
    n_boot = _int(n_boot, "n_boot", 0)
    n_threads = _threads(n_threads, n_jobs)
    algorithm = _algorithm(algorithm)
    # what the core allocates per draw (a permutation of the points and per-size results) and
    # per bootstrap replicate; refused up front instead of an allocator abort
    m = len(sizes) if sizes is not None else min(n_sizes, 64)
    refuse_over_memory("n_draws:", n_draws * (8.0 * X.shape[0] + 32.0 * m + 64.0), "use fewer draws (10 to 100 is typical)")
    refuse_over_memory("n_boot:", n_boot * 96.0, "use fewer bootstrap replicates (1000 is typical)")
    r = _core.tile(X, sizes, n_sizes, n_draws, k, int(seed), n_boot, abscissa, n_threads, algorithm)
    _warn_dups(r.n_duplicates)
    return TileEstimate(
        d=r.d,
        slope=r.slope,
        intercept=r.intercept,
        sizes=r.sizes,
        x=r.x,
        mean_log=r.mean_log,
        per_draw=r.per_draw,
        local_d=r.local_d,
        boot_d=r.boot_d,
        k=r.k,
        n_draws=r.n_draws,
        n_points=r.n_points,
        n_duplicates=r.n_duplicates,
        seed=int(seed),
        abscissa=abscissa,
    )


@dataclass(repr=False)
class TwoNNEstimate(_Estimate):
    """Result of :func:`twonn`. ``stderr`` is the asymptotic ``d / sqrt(n_keep - 2)`` of the
    censored-exponential likelihood, treating ratios as independent (optimistic: neighbouring
    ratios are correlated). ``log_mu`` holds the sorted kept ln(r2/r1)."""

    d: float
    stderr: float
    method: str
    discard_fraction: float
    n_points: int
    n_keep: int
    n_duplicates: int
    log_mu: np.ndarray = field(repr=False)

    def summary(self) -> str:
        """A readable report of the result, with its intervals and warnings."""
        lo, hi = self.ci(0.95)
        return (
            f"TwoNN ({self.method}): d = {self.d:.4g}  (95% asymptotic [{lo:.4g}, {hi:.4g}])\n"
            f"  {self.n_keep} of {self.n_points} ratios kept (discard_fraction {self.discard_fraction:g}), "
            f"{self.n_duplicates} duplicate rows removed"
        )


def twonn(
    X: Any,
    *,
    discard_fraction: float = 0.1,
    method: str = "linear",
    algorithm: str = "auto",
    n_threads: int = 0,
    n_jobs: Optional[int] = None,
) -> TwoNNEstimate:
    """TwoNN (Facco et al. 2017). ``mu = r2/r1``; with the N ratios sorted and
    ``n_keep = floor(N (1 - discard_fraction))`` smallest kept, ``F_i = i/N``:

    - ``method='linear'``: least-squares line through the origin of -ln(1 - F_i) on ln mu_(i).
    - ``method='ml'``: unbiased censored maximum likelihood
      ``(n_keep - 1) / (sum ln mu_(i) + (N - n_keep) ln mu_(n_keep))``; with
      ``discard_fraction=0`` this is ``(N - 1) / sum ln mu`` (not ``N / sum``).

    Both match scikit-dimension's ``TwoNN(discard_fraction, method=...)``.

    Returns
    -------
    TwoNNEstimate
        ``d``, ``stderr`` (asymptotic), ``ci(level)``, ``predicted_alpha()``, ``summary()``,
        ``to_frame()``.

    Examples
    --------
    >>> import numpy as np
    >>> import scalingfit as sf
    >>> X = np.random.default_rng(0).uniform(size=(2000, 2)) @ np.array([[1.0, 0.0, 1.0], [0.0, 1.0, -1.0]])  # a plane in 3-D
    >>> round(sf.dimension.twonn(X).d, 1)
    2.0
    """
    X = _points(X)
    method = _choice(method, "method", ("linear", "ml", "mle"), "'linear' or 'ml'")
    method = "ml" if method == "mle" else method
    f = _real(discard_fraction, "discard_fraction", "a number in [0, 1) such as 0.1")
    if not 0.0 <= f < 1.0:
        raise ValueError(f"discard_fraction: must be in [0, 1) (the fraction of the largest ratios r2/r1 dropped, e.g. 0.1), got {discard_fraction!r}")
    r = _core.twonn(X, f, method, _threads(n_threads, n_jobs), _algorithm(algorithm))
    _warn_dups(r.n_duplicates)
    return TwoNNEstimate(
        d=r.d,
        stderr=r.stderr,
        method=method,
        discard_fraction=f,
        n_points=r.n_points,
        n_keep=r.n_keep,
        n_duplicates=r.n_duplicates,
        log_mu=r.log_mu,
    )


@dataclass(repr=False)
class MLEEstimate(_Estimate):
    """Result of :func:`mle`. ``pointwise`` holds the per-point estimates m_i; ``stderr`` is
    the delta-method error from the spread of 1/m_i treating points as independent
    (optimistic: neighbourhoods overlap)."""

    d: float
    stderr: float
    k: int
    unbiased: bool
    n_points: int
    n_duplicates: int
    pointwise: np.ndarray = field(repr=False)

    def summary(self) -> str:
        """A readable report of the result, with its intervals and warnings."""
        lo, hi = self.ci(0.95)
        return (
            f"MLE (Levina-Bickel, k = {self.k}{', unbiased k-2' if self.unbiased else ''}, "
            f"MacKay-Ghahramani averaging): d = {self.d:.4g}  (95% asymptotic [{lo:.4g}, {hi:.4g}])\n"
            f"  {self.n_points} distinct points, {self.n_duplicates} duplicate rows removed"
        )


def mle(X: Any, k: int = 20, *, unbiased: bool = False, algorithm: str = "auto", n_threads: int = 0,
        n_jobs: Optional[int] = None) -> MLEEstimate:
    """Levina-Bickel (2004) maximum-likelihood dimension with k neighbours:
    ``m_i = (k - 1) / sum_{j<=k} ln(T_k / T_j)`` per point (``k - 2`` with ``unbiased=True``),
    combined as ``d = 1 / mean(1 / m_i)`` (MacKay & Ghahramani 2005). Matches
    scikit-dimension's ``MLE(unbiased=...).fit(X, n_neighbors=k, comb='mle')``.

    Returns
    -------
    MLEEstimate
        The estimate ``d`` with its asymptotic ``stderr`` and ``ci(level)``; ``predicted_alpha()``.

    Examples
    --------
    A circle is one-dimensional:

    >>> import numpy as np, scalingfit as sf
    >>> t = np.random.default_rng(1).uniform(0, 2 * np.pi, 3000)
    >>> est = sf.dimension.mle(np.column_stack([np.cos(t), np.sin(t)]), k=10)
    >>> round(est.d, 1), est.n_points
    (1.0, 3000)
    """
    X = _points(X)
    unbiased = _bool(unbiased, "unbiased")
    k = _int(k, "k", 3 if unbiased else 2)
    r = _core.mle(X, k, unbiased, _threads(n_threads, n_jobs), _algorithm(algorithm))
    _warn_dups(r.n_duplicates)
    return MLEEstimate(
        d=r.d,
        stderr=r.stderr,
        k=k,
        unbiased=unbiased,
        n_points=r.n_points,
        n_duplicates=r.n_duplicates,
        pointwise=r.pointwise,
    )


@dataclass(repr=False)
class Comparison(RecordCompat):
    """Predicted (factor/d) vs fitted exponent, both with intervals at ``level``."""

    name: str
    level: float
    factor: float
    d: float
    d_interval: Tuple[float, float]
    predicted: float
    predicted_interval: Tuple[float, float]
    fitted: float
    fitted_stderr: Optional[float]
    fitted_interval: Optional[Tuple[float, float]]

    @property
    def ratio(self) -> float:
        """fitted / predicted."""
        return self.fitted / self.predicted

    @property
    def overlap(self) -> Optional[bool]:
        """Whether the two intervals overlap (None without a fitted interval)."""
        if self.fitted_interval is None:
            return None
        return self.fitted_interval[0] <= self.predicted_interval[1] and self.predicted_interval[0] <= self.fitted_interval[1]

    def _record(self) -> dict:
        return {**self.__dict__, "ratio": self.ratio, "overlap": self.overlap}

    def to_dict(self) -> dict:
        """The fields plus ``ratio`` and ``overlap`` as strict JSON (NaN -> None, inf -> "inf")."""
        return jsonable(self._record())

    def summary(self) -> str:
        """A readable report of the result, with its intervals and warnings."""
        pct = f"{self.level:.0%}"
        lo, hi = self.predicted_interval
        s = [
            f"dimension d = {self.d:.4g}  ({pct} [{self.d_interval[0]:.4g}, {self.d_interval[1]:.4g}])",
            f"predicted {self.name} = {self.factor:g}/d = {self.predicted:.4g}  ({pct} [{lo:.4g}, {hi:.4g}])",
        ]
        if self.fitted_interval is not None:
            flo, fhi = self.fitted_interval
            s.append(f"fitted    {self.name} = {self.fitted:.4g}  ({pct} [{flo:.4g}, {fhi:.4g}], stderr {self.fitted_stderr:.3g})")
            s.append(f"ratio fitted/predicted = {self.ratio:.3g}; intervals {'overlap' if self.overlap else 'do not overlap'}")
        else:
            s.append(f"fitted    {self.name} = {self.fitted:.4g}  (no standard error)")
            s.append(f"ratio fitted/predicted = {self.ratio:.3g}")
        return "\n".join(s)

    def __repr__(self) -> str:
        return (
            f"Comparison({self.name}: predicted {self.predicted:.4g} [{self.predicted_interval[0]:.4g}, "
            f"{self.predicted_interval[1]:.4g}], fitted {self.fitted:.4g})"
        )


def _fitted(fit: Any, name: str) -> Tuple[float, Optional[float]]:
    """(value, stderr or None) of the fitted exponent from any form ``compare`` takes."""
    from ._bootstrap import BootstrapResult

    what = "a FitResult, a BootstrapResult, a number or a (value, stderr) tuple"
    if isinstance(fit, (bool, np.bool_)):
        raise TypeError(f"fit: expected {what}, got bool {fit!r}")
    if isinstance(fit, (int, float, np.floating, np.integer)):
        return _real(fit, "fit", "a finite number"), None
    if isinstance(fit, tuple):
        if len(fit) != 2:
            raise ValueError(f"fit: a tuple must be (value, stderr), e.g. (0.34, 0.02), got {len(fit)} items")
        value = _real(fit[0], "fit", "a (value, stderr) tuple of numbers")
        return value, (None if fit[1] is None else _real(fit[1], "fit", "a (value, stderr) tuple of numbers (stderr may be None)"))
    if isinstance(fit, BootstrapResult):
        if name not in fit.param_names:
            raise ValueError(f"name: the bootstrap has no parameter {name!r}; its parameters are {list(fit.param_names)}")
        return float(fit.fit.params[name]), float(fit.stderr[name])
    if hasattr(fit, "params"):
        params = fit.params
        if name not in params:
            names = list(getattr(fit, "param_names", params))
            raise ValueError(f"name: the fit has no parameter {name!r}; its parameters are {names}")
        value = _real(params[name], "fit", f"a numeric parameter {name!r}")
        st = getattr(fit, "stderr", None)
        if st is None or st.get(name) is None:
            return value, None
        return value, _real(st[name], "fit", f"a numeric standard error of {name!r}")
    raise TypeError(f"fit: expected {what}, got {type(fit).__name__}")


def compare(
    est: _Estimate,
    fit: Any,
    name: str = "alpha",
    *,
    factor: float = 4.0,
    level: float = 0.95,
) -> Comparison:
    """Compare the exponent predicted by a dimension estimate (``factor / d``) with a fitted one.

    ``fit`` is a fit result (attributes ``params`` and ``stderr`` dicts; ``name`` picks the
    exponent), a :class:`~scalingfit.BootstrapResult` (its fit's value, the bootstrap standard
    deviation and its percentile interval at ``level``), a plain number, or a ``(value, stderr)``
    tuple (stderr may be None). Otherwise the fitted interval is ``value +- z stderr`` (normal
    approximation; for a Huber fit the asymptotic sandwich errors); it must be finite.

    Returns
    -------
    Comparison
        ``d`` and ``d_interval``, ``predicted`` and ``predicted_interval`` (``factor / d``),
        ``fitted`` with ``fitted_stderr``/``fitted_interval``, ``ratio``, ``overlap``,
        ``summary()``, ``to_frame()``.

    Examples
    --------
    >>> import numpy as np
    >>> import scalingfit as sf
    >>> X = np.random.default_rng(0).uniform(size=(2000, 2)) @ np.array([[1.0, 0.0, 1.0], [0.0, 1.0, -1.0]])  # a plane in 3-D
    >>> c = sf.dimension.compare(sf.dimension.twonn(X), (2.1, 0.05))  # a fitted exponent 2.1 +- 0.05
    >>> round(c.predicted, 2), c.overlap
    (2.02, True)
    """
    if not isinstance(est, _Estimate):
        raise TypeError(f"est: expected a result of tile(), twonn() or mle(), got {type(est).__name__}")
    if not isinstance(name, str):
        raise TypeError(f"name: expected the parameter name as a str (e.g. 'alpha'), got {type(name).__name__} {name!r}")
    level = check_level(level)
    factor = _factor(factor)
    z = _z(level)
    value, se = _fitted(fit, name)
    if not math.isfinite(value):
        raise ValueError(f"fit: the fitted {name} is not finite ({value})")
    if se is not None and not (math.isfinite(se) and se >= 0):
        raise ValueError(f"fit: the standard error of {name} must be finite and >= 0, got {se}")
    interval = None if se is None else (value - z * se, value + z * se)
    from ._bootstrap import BootstrapResult

    if isinstance(fit, BootstrapResult):  # its percentile interval, not a normal approximation
        lo_b, hi_b = fit.ci(level)[name]
        interval = (float(lo_b), float(hi_b))
    if interval is not None and not (math.isfinite(interval[0]) and math.isfinite(interval[1])):
        raise ValueError(
            f"fit: the interval {name} +- z*stderr = {value:g} +- {z:.3g}*{se:g} overflows float64; pass a finite (value, stderr)"
        )
    pred = est.predicted_alpha(factor=factor, level=level)
    return Comparison(
        name=name,
        level=level,
        factor=factor,
        d=est.d,
        d_interval=est.ci(level),
        predicted=pred.value,
        predicted_interval=(pred.lower, pred.upper),
        fitted=value,
        fitted_stderr=se,
        fitted_interval=interval,
    )
