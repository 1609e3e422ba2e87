"""Extrapolation with intervals and backtests of a law on held-out larger runs."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._bootstrap import BootstrapResult, _check_level, bootstrap
from ._compat import RecordCompat, Table
from ._data import align_to, as_columns, as_float_array, check_seed, fmt
from ._fit import FitResult
from ._fit import fit as _fit
from ._results import _beyond, _jsonable, _positive_scalar, _Result, _Source

__all__ = ["extrapolate", "backtest", "Extrapolation", "Backtest"]


# extrapolation and backtests


class Extrapolation(_Result):
    """Predicted loss ``y`` at new points, with bootstrap intervals (``interval="prediction"``
    adds resampled residual noise to each bootstrap law; ``"confidence"`` is the law alone).

    ``beyond_data`` marks the points beyond the fitted data's range in some variable.
    ``to_frame()`` / ``to_polars()``: one row per point (on the pandas index of the points when
    they came as a DataFrame, else ``point`` 0, 1, ...): the variables, ``y``, ``extrapolated``
    and, with a bootstrap, ``stderr``, ``ci_lo`` and ``ci_hi`` at ``level``."""

    y: np.ndarray
    points: dict[str, np.ndarray]
    form: str
    interval_kind: str
    beyond_data: np.ndarray
    data_range: str
    row_labels: list[Any] | None

    def _table(self) -> Table:
        cols: dict[str, Any] = {n: np.asarray(v) for n, v in self.points.items()}
        cols["y"] = np.asarray(self.y)
        cols["extrapolated"] = np.asarray(self.beyond_data, dtype=bool)
        if self.samples is not None:
            lo, hi = self.interval("y")
            cols.update(stderr=np.asarray(self.stderr["y"]), ci_lo=np.asarray(lo), ci_hi=np.asarray(hi))  # type: ignore[index]
        index = ("point", self.row_labels if self.row_labels is not None else range(len(cols["y"])))
        return Table(cols, index, {} if self.samples is None else {"level": float(self.level)})

    def summary(self) -> str:
        """A readable report of the result, with its intervals and warnings."""
        lines = [f"extrapolation of {self.form} ({self.interval_kind} intervals" + (f", {self.level:.0%}, {self.n_samples} bootstrap fits)" if self.samples is not None else "; none without a bootstrap)")]
        for i, v in enumerate(self.y):
            pt = ", ".join(f"{n}={fmt(float(c[i]))}" for n, c in self.points.items())
            lines.append(f"  {pt}: {fmt(float(v))} {self._iv('y', i)}")
        return "\n".join(lines)


def extrapolate(
    fit_or_bs: FitResult | BootstrapResult,
    data: Any = None,
    *,
    level: float = 0.95,
    interval: str = "prediction",
    seed: int = 0,
    n_resamples: int = 0,
    scheme: str = "pairs",
    groups: Any = None,
    **columns: Any,
) -> Extrapolation:
    """Predict the loss at new points (``data`` dict/DataFrame or keyword columns).

    With a BootstrapResult: ``interval="prediction"`` (default) gives intervals for a new
    observation: each bootstrap law's value times a residual drawn from the fit's residuals (on
    the fit's target scale); ``"confidence"`` gives the interval of the law itself. With a
    FitResult and ``n_resamples > 0`` the fit is bootstrapped first with ``scheme``/``groups``
    (see :func:`scalingfit.bootstrap`; use ``scheme="groups"`` for correlated rows such as the
    checkpoints of one run).

    Returns
    -------
    Extrapolation
        ``y`` (predictions) and, with a BootstrapResult or ``n_resamples``, intervals; ``summary()``.

    Examples
    --------
    >>> import scalingfit as sf
    >>> from scalingfit.datasets import hoffmann_example
    >>> fit = sf.fit("chinchilla", hoffmann_example(seed=0), "loss")
    >>> ex = sf.extrapolate(fit, N=[1e9], D=[2e10])
    >>> ex.y.round(2).tolist()
    [2.59]
    """
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, (int, np.integer)) or n_resamples < 0:
        raise ValueError(f"n_resamples must be a non-negative integer, got {n_resamples!r}")
    if n_resamples and isinstance(fit_or_bs, BootstrapResult):
        raise ValueError("n_resamples: give it with a FitResult; a BootstrapResult already has its resamples (and scheme)")
    if n_resamples and isinstance(fit_or_bs, FitResult):
        fit_or_bs = bootstrap(fit_or_bs, n_resamples=int(n_resamples), seed=seed, scheme=scheme, groups=groups)
    elif scheme != "pairs" or groups is not None:
        raise ValueError("scheme/groups: they choose how a FitResult is bootstrapped; give n_resamples > 0 too")
    src = _Source(fit_or_bs, "extrapolate")
    level = _check_level(level)
    seed = check_seed(seed)
    if interval not in ("prediction", "confidence"):
        raise ValueError(f"interval must be 'prediction' or 'confidence', got {interval!r}")
    if data is None:
        data = columns
    elif columns:
        raise TypeError("extrapolate: give either a data mapping or keyword columns, not both")
    fit = src.fit
    cols = as_columns(data, fit.variables, fit._data_problem("extrapolate").column_map, arg="data")
    X = {v: cols[v] for v in fit.variables}
    est = src.law(src.point(), X)
    if not np.all(np.isfinite(est)):
        i = int(np.flatnonzero(~np.isfinite(est))[0])
        at = ", ".join(f"{v} = {X[v][i]:g}" for v in fit.variables)
        raise ValueError(f"data: the fitted law is not finite at row {i} ({at}); extrapolate to points closer to the data")
    samples = None
    sampled = src.sampled(1)
    if sampled is not None:
        ys = src.law(sampled, {v: a[None, :] for v, a in X.items()})
        if interval == "prediction":
            rng = np.random.default_rng(seed)
            r = rng.choice(fit.residuals, size=ys.shape)
            ys = ys * np.exp(-r) if fit.target == "log" else ys - r
        samples = {"y": np.where(np.isfinite(ys), ys, np.nan)}
    labels = list(data.index) if type(data).__module__.split(".")[0] == "pandas" and hasattr(data, "index") else None
    meta = {"points": X, "form": fit.form, "interval_kind": interval, **_beyond(src, X), "row_labels": labels}
    return Extrapolation({"y": est}, samples, level, meta)


@dataclass(repr=False)
class Backtest(RecordCompat):
    """Result of :func:`backtest`: a law fitted on the smaller runs, checked on the held-out largest.

    ``to_frame()`` / ``to_polars()``: one row per held-out run (index ``row``, its position in
    the data): the variables, ``observed``, ``predicted``, ``rel_error`` and, with intervals,
    ``lower``, ``upper`` and ``covered``."""

    form: str
    holdout: str
    frac: float | None
    n_train: int
    n_test: int
    test_index: np.ndarray
    points: dict[str, np.ndarray]
    y_true: np.ndarray
    y_pred: np.ndarray
    lower: np.ndarray | None
    upper: np.ndarray | None
    level: float
    interval: str
    fit: FitResult = field(repr=False)
    bootstrap: BootstrapResult | None = field(default=None, repr=False)

    @property
    def rel_error(self) -> np.ndarray:
        """(predicted - observed) / observed for each held-out point."""
        return (self.y_pred - self.y_true) / self.y_true

    @property
    def mape(self) -> float:
        """Mean absolute relative error of the predictions of the held-out runs."""
        return float(np.mean(np.abs(self.rel_error)))

    @property
    def max_abs_rel_error(self) -> float:
        """Largest absolute relative error of the predictions of the held-out runs."""
        return float(np.max(np.abs(self.rel_error)))

    @property
    def rmse_log(self) -> float:
        """Root mean square of the log errors on the held-out runs."""
        return float(np.sqrt(np.mean(np.log(self.y_pred / self.y_true) ** 2)))

    @property
    def covered(self) -> np.ndarray | None:
        """Boolean mask of the held-out runs inside their interval (None without intervals)."""
        if self.lower is None:
            return None
        return (self.lower <= self.y_true) & (self.y_true <= self.upper)

    @property
    def coverage(self) -> float | None:
        """Fraction of held-out points inside their interval (None without a bootstrap)."""
        c = self.covered
        return None if c is None else float(c.mean())

    def summary(self) -> str:
        """A readable report of the result, with its intervals and warnings."""
        lines = [
            f"backtest: {self.form}, hold out {self.holdout}" + (f" (frac={self.frac:g})" if self.frac is not None else "")
            + f": fit {self.n_train} runs, predict {self.n_test}",
            f"  mean |rel error| {self.mape:.3%}, max {self.max_abs_rel_error:.3%}, rmse(log) {self.rmse_log:.4g}",
        ]
        lower, upper = self.lower, self.upper
        if lower is not None and upper is not None and self.bootstrap is not None:
            lines.append(f"  {self.level:.0%} {self.interval} intervals ({self.bootstrap.n_converged} bootstrap fits) cover {self.coverage:.1%} of held-out points")
        hdr = "  " + "".join(f"{n:>12}" for n in self.points) + f"{'observed':>11}{'predicted':>11}{'rel err':>9}"
        if self.lower is not None:
            hdr += f"{'interval':>22}{'covered':>9}"
        lines.append(hdr)
        covered = self.covered
        for i in range(self.n_test):
            row = "  " + "".join(f"{self.points[n][i]:>12.4g}" for n in self.points)
            row += f"{self.y_true[i]:>11.4f}{self.y_pred[i]:>11.4f}{self.rel_error[i]:>9.2%}"
            if lower is not None and upper is not None and covered is not None:
                row += f"{f'[{lower[i]:.4f}, {upper[i]:.4f}]':>22}{'yes' if covered[i] else 'no':>9}"
            lines.append(row)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        cov = "" if self.coverage is None else f", coverage={self.coverage:.0%}"
        return (f"Backtest({self.form!r}, hold out {self.holdout}: fit {self.n_train}, predict {self.n_test}; "
                f"mean |rel error| {self.mape:.2%}{cov})")

    def _table(self) -> Table:
        cols: dict[str, Any] = {n: np.asarray(v) for n, v in self.points.items()}
        cols.update(observed=self.y_true, predicted=self.y_pred, rel_error=self.rel_error)
        if self.lower is not None and self.upper is not None:
            cols.update(lower=self.lower, upper=self.upper, covered=self.covered)
        return Table(cols, ("row", [int(i) for i in self.test_index]), {"level": self.level, "interval": self.interval})

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary of the result."""
        return _jsonable({
            "form": self.form, "holdout": self.holdout, "frac": self.frac, "n_train": self.n_train, "n_test": self.n_test,
            "test_index": self.test_index, "points": self.points, "y_true": self.y_true, "y_pred": self.y_pred,
            "rel_error": self.rel_error, "mape": self.mape, "max_abs_rel_error": self.max_abs_rel_error, "rmse_log": self.rmse_log,
            "lower": self.lower, "upper": self.upper, "level": self.level, "interval": self.interval, "coverage": self.coverage,
            "fit": self.fit.to_dict(),
        })


_PREPARE_KW = ("loss", "delta", "target", "positive", "bounds")


def backtest(
    form: str,
    data: Any,
    y: Any,
    *,
    holdout: Any = "top_compute",
    frac: float = 0.1,
    columns: Mapping[str, str] | None = None,
    k: float = 6.0,
    n_resamples: int = 200,
    level: float = 0.95,
    interval: str = "prediction",
    seed: int = 0,
    progress: bool = False,
    n_threads: int | None = None,
    scheme: str = "pairs",
    groups: Any = None,
    **fit_kwargs: Any,
) -> Backtest:
    """Fit on the smaller runs, predict the held-out largest ones, and score the prediction.

    Parameters
    ----------
    form, data, y, columns, fit_kwargs : as for :func:`scalingfit.fit`.
    holdout : "top_compute" (largest k*N*D for two-variable laws, the variable itself for one),
        "top_<variable>" (e.g. "top_N", "top_D"), or a boolean mask / integer indices of the rows
        to hold out.
    frac : fraction of rows to hold out with the "top_*" rules, in (0, 1); ties at the threshold
        are all held out (so "top_N" holds out every run of the largest model sizes).
    n_resamples : bootstrap resamples of the training fit for the intervals (0: none).
    scheme, groups : the bootstrap scheme (see :func:`scalingfit.bootstrap`); ``groups`` labels
        every row of ``data`` (e.g. the run of each checkpoint) and is subset to the training
        rows. With correlated rows (several checkpoints per run) use ``scheme="groups"``:
        "pairs" treats them as independent and its intervals are too narrow.
    interval : "prediction" (law + residual noise; default) or "confidence" (law only).

    Returns
    -------
    Backtest
        Errors on the held-out runs (``mape``, ``max_abs_rel_error``, ``rmse_log``) and the coverage
        of their intervals (``covered``); ``summary()``.

    Examples
    --------
    >>> import scalingfit as sf
    >>> from scalingfit.datasets import hoffmann_example
    >>> bt = sf.backtest("chinchilla", hoffmann_example(seed=0), "loss", n_resamples=20)
    >>> bool(bt.mape < 0.05)
    True
    """
    level = _check_level(level)
    k = _positive_scalar(k, "k")
    if interval not in ("prediction", "confidence"):
        raise ValueError(f"interval must be 'prediction' or 'confidence', got {interval!r}")
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, (int, np.integer)) or n_resamples < 0:
        raise ValueError(f"n_resamples must be a non-negative integer, got {n_resamples!r}")
    from ._fit import prepare

    prob = prepare(form, data, y, columns=columns, **{kw: fit_kwargs[kw] for kw in _PREPARE_KW if kw in fit_kwargs})
    vars_ = prob.variables
    X = {v: prob.columns[i] for i, v in enumerate(vars_)}
    n = prob.n
    if isinstance(holdout, str):
        if holdout == "top_compute":
            key = k * X[vars_[0]] * X[vars_[1]] if len(vars_) == 2 else X[vars_[0]]
        elif holdout.startswith("top_") and holdout[4:] in X:
            key = X[holdout[4:]]
        else:
            opts = ", ".join(["'top_compute'"] + [f"'top_{v}'" for v in vars_])
            raise ValueError(f"holdout must be one of {opts}, or a boolean mask / indices of rows; got {holdout!r}")
        if isinstance(frac, bool) or not isinstance(frac, (int, float, np.floating)) or not (0 < frac < 1):
            raise ValueError(f"frac must be in (0, 1), the fraction of runs to hold out; got {frac!r}")
        frac_used: float | None = float(frac)
        m = max(1, math.ceil(frac * n))
        thr = np.sort(key)[::-1][m - 1]
        test = key >= thr
        label = holdout
    else:
        h = np.asarray(holdout)
        if h.dtype == bool:
            if h.shape != (n,):
                raise ValueError(f"holdout mask must have one entry per row ({n}), got shape {h.shape}")
            test = h.copy()
        elif h.dtype.kind in "iu":
            if h.size == 0 or h.min() < -n or h.max() >= n:
                raise ValueError(f"holdout indices must be valid row indices in [0, {n})")
            test = np.zeros(n, bool)
            test[h] = True
        else:
            raise TypeError(f"holdout must be 'top_compute', 'top_<variable>', a boolean mask or integer indices; got {holdout!r}")
        label = "given rows"
        frac_used = None
    n_test = int(test.sum())
    n_p = len(prob.param_names)
    if n_test == 0:
        raise ValueError("holdout selects no rows")
    if n - n_test < n_p + 1:
        raise ValueError(f"holdout leaves {n - n_test} training rows; need at least {n_p + 1} to fit {n_p} parameters")
    train = ~test
    kw = dict(fit_kwargs)
    if kw.get("weights") is not None:
        w = as_float_array(kw["weights"], "weights")
        kw["weights"] = w[train]
    fr = _fit(form, {v: X[v][train] for v in vars_}, prob.y[train], n_threads=n_threads, **kw)
    pts = {v: X[v][test] for v in vars_}
    try:
        y_point = fr._predict(pts, warn=False)  # a backtest extrapolates by design
    except ValueError as e:
        raise ValueError(f"holdout: the law fitted on the {n - n_test} training rows cannot predict the held-out rows ({e})") from None
    bs = None
    lower = upper = None
    if n_resamples > 0:
        g = None
        if groups is not None:
            g = np.asarray(align_to(data, groups, "groups"))
            if g.ndim != 1 or len(g) != n:
                raise ValueError(f"groups must have one label per row of data ({n}), got shape {g.shape}")
            g = g[train]
        bs = bootstrap(fr, n_resamples=int(n_resamples), seed=seed, progress=progress, n_threads=n_threads, scheme=scheme, groups=g)
        ex = extrapolate(bs, pts, level=level, interval=interval, seed=seed)
        lower, upper = ex.interval("y")
        y_pred = ex.y
    else:
        y_pred = y_point
    return Backtest(
        form=fr.form, holdout=label, frac=frac_used, n_train=int(train.sum()), n_test=n_test, test_index=np.flatnonzero(test),
        points=pts, y_true=prob.y[test], y_pred=np.asarray(y_pred), lower=lower, upper=upper, level=level, interval=interval,
        fit=fr, bootstrap=bs,
    )
