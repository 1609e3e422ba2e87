"""pandas and polars in and out, scipy-like aliases, short reprs and notebook HTML for the result classes.

The classes here are mixins: :class:`scalingfit.FitResult`, :class:`scalingfit.BootstrapResult`
and the analysis results derive from them, so this module imports no result class (pandas is
imported only when a table is asked for, polars only for ``to_polars``)."""

from __future__ import annotations

import contextlib
import html
from typing import Any

import numpy as np

from ._data import fmt, norm_ppf


def pandas() -> Any:
    """The pandas module, or an ImportError saying how to install it."""
    try:
        import pandas as pd
    except ImportError:
        raise ImportError("this needs pandas, which is not installed: pip install pandas") from None
    return pd


def polars() -> Any:
    """The polars module, or an ImportError saying how to install it."""
    try:
        import polars as pl
    except ImportError:
        raise ImportError("this needs polars, which is not installed: pip install polars") from None
    return pl


def keep_index(data: Any, values: np.ndarray, name: str | None) -> Any:
    """``values`` as a pandas Series on ``data``'s index (named ``name``) when ``data`` is a pandas
    DataFrame, as a polars Series (named ``name``) when it is a polars DataFrame, else unchanged
    (numpy in, numpy out)."""
    lib = type(data).__module__.split(".")[0]
    if lib == "polars" and hasattr(data, "get_column"):
        return polars().Series(name or "predicted", values)
    if lib != "pandas" or not hasattr(data, "index") or not hasattr(data, "columns"):
        return values
    return pandas().Series(values, index=data.index, name=name)


def interval_note(result: Any) -> str:
    """``", 95% [lo, hi]"`` from ``result.ci(0.95)`` for a repr, or "" when it has none."""
    try:
        lo, hi = result.ci(0.95)
    except ValueError:
        return ""
    return f", 95% [{fmt(float(lo))}, {fmt(float(hi))}]"


class Table:
    """A result table before it becomes a pandas or polars DataFrame: ordered columns, an
    optional named index (pandas' index; polars, which has none, gets it as the first column) and
    ``attrs`` (pandas' ``DataFrame.attrs``; polars has no such field)."""

    def __init__(self, columns: dict[str, Any], index: tuple[str, Any] | None = None, attrs: dict[str, Any] | None = None):
        self.columns, self.index, self.attrs = columns, index, attrs or {}

    def to_pandas(self) -> Any:
        pd = pandas()
        idx = None
        if self.index is not None:
            name, values = self.index
            idx = pd.RangeIndex(values.start, values.stop, name=name) if isinstance(values, range) else pd.Index(list(values), name=name)
        df = pd.DataFrame(self.columns, index=idx)
        df.attrs.update(self.attrs)
        return df

    def to_polars(self) -> Any:
        pl = polars()
        cols: dict[str, Any] = {} if self.index is None else {self.index[0]: list(self.index[1])}
        cols.update({k: (np.asarray(v) if not isinstance(v, list) else v) for k, v in self.columns.items()})
        return pl.DataFrame(cols)


def _html_table(caption: str, head: list[str], rows: list[list[Any]], notes: list[str]) -> str:
    e = html.escape
    out = [f"<div><strong>{e(caption)}</strong>", "<table><thead><tr>" + "".join(f"<th>{e(str(h))}</th>" for h in head) + "</tr></thead><tbody>"]
    for r in rows:
        out.append("<tr>" + "".join(f"<td>{e(c if isinstance(c, str) else fmt(c))}</td>" for c in r) + "</tr>")
    out.append("</tbody></table>")
    out.extend(f"<p>{e(n)}</p>" for n in notes)
    out.append("</div>")
    return "\n".join(out)


def _params_short(names: list[str], params: dict[str, float]) -> str:
    s = ", ".join(f"{n}={params[n]:.4g}" for n in names[:8])
    return s + (", ..." if len(names) > 8 else "")


def sigma_weights(sigma: Any, weights: Any, absolute_sigma: Any, loss: str | None) -> Any:
    """Weights 1/sigma^2 from ``sigma`` (scipy's ``curve_fit``), None for one scalar sigma (the
    fit does not depend on it; the covariance does, see :func:`sigma_covariance`)."""
    if not isinstance(absolute_sigma, (bool, np.bool_)):
        raise TypeError(f"absolute_sigma must be True or False, got {absolute_sigma!r}")
    if sigma is None:
        if absolute_sigma:
            raise ValueError("absolute_sigma=True needs sigma= (the standard deviations of the target)")
        return weights
    if weights is not None:
        raise TypeError("give sigma or weights, not both (sigma means weights = 1/sigma^2)")
    if loss != "l2":
        raise ValueError("sigma= has scipy curve_fit's meaning only for loss='l2' (least squares); with the Huber loss give weights=")
    try:
        s = np.asarray(sigma, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"sigma must be a positive number or a 1-D array of them, got {type(sigma).__name__}") from None
    if s.ndim > 1:
        raise ValueError(f"sigma must be a number or 1-D (one standard deviation per point); got shape {s.shape} (a covariance matrix is not supported)")
    if s.size == 0 or not np.all(np.isfinite(s)) or np.any(s <= 0):
        raise ValueError("sigma must be finite and positive")
    return None if s.ndim == 0 else 1.0 / (s * s)


@contextlib.contextmanager
def sigma_named(sigma: Any) -> Any:
    """Errors about the weights made from ``sigma`` name ``sigma`` (its length, its NaN rows)."""
    try:
        yield
    except ValueError as e:
        if sigma is None or not str(e).startswith("weights"):
            raise
        raise ValueError("sigma" + str(e)[len("weights"):]) from None


def sigma_covariance(res: Any, w: np.ndarray, absolute_sigma: bool) -> None:
    """curve_fit's covariance for weights w = 1/sigma^2: ``(J' W J)^-1``, times the reduced
    chi-square ``sum w r^2 / (n - p)`` unless ``absolute_sigma``; sets ``cov`` and ``stderr``."""
    J = res.jac
    n, p = J.shape
    r = np.asarray(res.residuals)
    A = J.T @ (J * w[:, None])
    try:
        inv = np.linalg.inv(A) if np.linalg.cond(A) < 1e15 else None
    except np.linalg.LinAlgError:
        inv = None
    if inv is None or (not absolute_sigma and n <= p):
        res.cov, res.stderr = None, None
        return
    res.cov = inv if absolute_sigma else inv * float(np.sum(w * r * r)) / (n - p)
    d = np.diag(res.cov)
    res.stderr = {k: float(np.sqrt(v)) if v >= 0 else float("nan") for k, v in zip(res.param_names, d)}


class Tabular:
    """``to_pandas`` (pandas' name for :meth:`to_frame`) and notebook HTML from ``summary()``
    for every result class."""

    def to_frame(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError  # pragma: no cover - each result's

    def summary(self, *args: Any, **kwargs: Any) -> str:
        raise NotImplementedError  # pragma: no cover - each result's

    def to_pandas(self, *args: Any, **kwargs: Any) -> Any:
        """The same pandas DataFrame as :meth:`to_frame` (pandas' and polars' name for it)."""
        return self.to_frame(*args, **kwargs)

    def _repr_html_(self) -> str:
        return f"<pre>{html.escape(self.summary())}</pre>"


class RecordCompat(Tabular):
    """A one-row table of a result's scalar fields (a pair of numbers, such as an interval, as
    ``name_lo``/``name_hi``) for the dataclass results of :mod:`scalingfit.dimension`; others
    override ``_table``."""

    def _record(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def _table(self) -> Table:
        row: dict[str, Any] = {}
        num = (bool, int, float, np.integer, np.floating, np.bool_)
        for k, v in self._record().items():
            if isinstance(v, (tuple, list)) and len(v) == 2 and all(isinstance(x, num) for x in v):
                row[k + "_lo"], row[k + "_hi"] = float(v[0]), float(v[1])
            elif isinstance(v, num + (str,)) or v is None:
                row[k] = v.item() if isinstance(v, np.generic) else v
        return Table({k: [v] for k, v in row.items()})

    def to_frame(self) -> Any:
        """The result's scalar fields as a one-row pandas DataFrame (intervals as ``_lo``/``_hi``
        columns)."""
        return self._table().to_pandas()

    def to_polars(self) -> Any:
        """:meth:`to_frame` as a polars DataFrame."""
        return self._table().to_polars()


class FitCompat(Tabular):
    """scipy-style aliases (``success``, ``fun``, ``cost``, ``nfev``, ``nit``, ``jac``), a table
    (``to_frame``), a short repr and notebook HTML for :class:`FitResult`."""

    # provided by FitResult
    form: str
    variables: list[str]
    param_names: list[str]
    params: dict[str, float]
    x: np.ndarray
    objective: float
    converged: bool
    message: str
    n_iter: int
    n_eval: int
    stderr: dict[str, float] | None
    residuals: np.ndarray
    n_points: int
    positive: list[str]
    target: str
    warnings: list[str]
    problem: Any

    @property
    def success(self) -> bool:
        """scipy's name for ``converged``."""
        return bool(self.converged)

    @property
    def fun(self) -> np.ndarray:
        """The residual vector at the optimum on the fit's target scale (``residuals``; as
        ``scipy.optimize.least_squares``'s ``fun``, unweighted)."""
        return self.residuals

    @property
    def cost(self) -> float:
        """The objective at the optimum (``objective``): for ``loss="l2"`` it is
        ``0.5 * sum(w * fun**2)``, scipy's ``cost``; for Huber it is ``sum(w * rho(fun))``."""
        return float(self.objective)

    @property
    def nfev(self) -> int:
        """scipy's name for ``n_eval`` (model evaluations of the best start)."""
        return int(self.n_eval)

    @property
    def nit(self) -> int:
        """scipy's name for ``n_iter`` (iterations of the best start)."""
        return int(self.n_iter)

    @property
    def jac(self) -> np.ndarray:
        """Jacobian of ``fun`` with respect to the natural parameters at the optimum, shape
        (n_points, n_params), from the core's analytic derivatives (with ``target="log"``, the
        model's Jacobian divided by the model)."""
        if self.problem is None:
            raise ValueError("jac needs the fit's problem and data, which this result does not carry (it was loaded from a dict)")
        prob = self.problem
        values, jac = prob.formula.eval(np.asarray(self.x, dtype=np.float64), prob.columns, True)
        jac = np.asarray(jac, dtype=np.float64)
        return jac / np.asarray(values)[:, None] if self.target == "log" else jac

    def extrapolated(self, data: Any = None, **columns: Any) -> Any:
        """Boolean mask of the points that lie beyond the fitted data's range in some variable (a
        Series on the index of a pandas DataFrame, a polars Series for a polars one)."""
        from ._data import as_columns

        if data is None:
            data = columns
        prob = self._data_problem("extrapolated")  # type: ignore[attr-defined]
        cols = as_columns(data, self.variables, prob.column_map, arg="data")
        mat = np.vstack([np.atleast_1d(cols[v]) for v in self.variables])
        return keep_index(data, self._beyond(mat)[0], "extrapolated")

    def _beyond(self, mat: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(mask of the columns of ``mat``, variables x points, outside the fitted data's range in
        some variable; the data's per-variable minima; maxima), for ``extrapolated`` and
        ``predict``'s warning."""
        prob = self._data_problem("extrapolated")  # type: ignore[attr-defined]
        lo, hi = prob.columns.min(axis=1), prob.columns.max(axis=1)
        return np.any((mat < lo[:, None]) | (mat > hi[:, None]), axis=0), lo, hi

    def to_frame(self, level: float | None = None) -> Any:
        """A pandas DataFrame with one row per parameter (index ``parameter``): ``estimate``,
        ``stderr`` (NaN when the covariance is singular) and ``fitted_as`` ("log"/"linear");
        with ``level`` (e.g. 0.95) also asymptotic Wald bounds ``ci_lo``/``ci_hi`` = estimate
        -/+ z * stderr (prefer :func:`scalingfit.bootstrap` and its ``to_frame`` for intervals)."""
        return self._table(level).to_pandas()

    def to_polars(self, level: float | None = None) -> Any:
        """:meth:`to_frame` as a polars DataFrame (``parameter`` is its first column)."""
        return self._table(level).to_polars()

    def _table(self, level: float | None) -> Table:
        names = list(self.param_names)
        se = [np.nan if self.stderr is None else self.stderr[n] for n in names]
        d: dict[str, Any] = {"estimate": [self.params[n] for n in names], "stderr": se}
        if level is not None:
            from ._data import check_level

            z = norm_ppf(0.5 + check_level(level) / 2)
            d["ci_lo"] = [self.params[n] - z * s for n, s in zip(names, se)]
            d["ci_hi"] = [self.params[n] + z * s for n, s in zip(names, se)]
        d["fitted_as"] = ["log" if n in self.positive else "linear" for n in names]
        return Table(d, ("parameter", names), {} if level is None else {"level": float(level)})

    def __repr__(self) -> str:
        w = f", {len(self.warnings)} warning{'s' if len(self.warnings) != 1 else ''}" if self.warnings else ""
        return (f"FitResult({self.form!r}, {_params_short(self.param_names, self.params)}; "
                f"{'converged' if self.converged else 'NOT converged'}, n={self.n_points}{w})")

    def _repr_html_(self) -> str:
        rows = [[n, self.params[n], "-" if self.stderr is None else self.stderr[n]] for n in self.param_names]
        notes = [f"{self.message}; {self.n_points} points, objective {fmt(self.objective)}"] + [f"warning: {w}" for w in self.warnings]
        return _html_table(f"scalingfit fit: {self.form}", ["parameter", "estimate", "stderr"], rows, notes)


class BootstrapCompat(Tabular):
    """Tables (``to_frame``, ``samples_frame``), a short repr and notebook HTML for
    :class:`BootstrapResult`."""

    fit: Any
    param_names: list[str]
    samples: np.ndarray | None
    n_resamples: int
    seed: int
    start: int
    scheme: str
    warnings: list[str]
    status: np.ndarray

    @property
    def n_converged(self) -> int:
        """Number of resamples whose fit converged."""
        raise NotImplementedError  # pragma: no cover - BootstrapResult's

    @property
    def converged(self) -> np.ndarray:
        raise NotImplementedError  # pragma: no cover - BootstrapResult's

    def ci(self, level: float = 0.95, method: str = "percentile") -> dict[str, tuple[float, float]]:
        raise NotImplementedError  # pragma: no cover - BootstrapResult's

    stderr: Any
    mean: Any

    def to_frame(self, level: float = 0.95, method: str = "percentile", samples: bool = False) -> Any:
        """Per-parameter summary as a pandas DataFrame (index ``parameter``): the full-data
        ``estimate``, bootstrap ``mean`` and ``stderr``, and the ``ci_lo``/``ci_hi`` interval at
        ``level`` by ``method`` (NaN with fewer than 2 converged resamples); ``attrs`` records
        level, method and the resample counts. ``samples=True`` returns :meth:`samples_frame`."""
        return self.samples_frame() if samples else self._table(level, method).to_pandas()

    def to_polars(self, level: float = 0.95, method: str = "percentile", samples: bool = False) -> Any:
        """:meth:`to_frame` (or with ``samples=True`` :meth:`samples_frame`) as a polars DataFrame,
        the index (``parameter``, ``resample``) as its first column."""
        return (self._samples_table() if samples else self._table(level, method)).to_polars()

    def _table(self, level: float, method: str) -> Table:
        names = list(self.param_names)
        try:
            ci = self.ci(level, method)
            se, mean = self.stderr, self.mean
        except ValueError as exc:
            if "converged" not in str(exc):
                raise
            ci = {n: (np.nan, np.nan) for n in names}
            se = mean = {n: np.nan for n in names}
        return Table(
            {"estimate": [self.fit.params[n] for n in names], "mean": [float(mean[n]) for n in names],
             "stderr": [float(se[n]) for n in names], "ci_lo": [ci[n][0] for n in names], "ci_hi": [ci[n][1] for n in names]},
            ("parameter", names),
            {"level": float(level), "method": method, "n_resamples": int(self.n_resamples), "n_converged": int(self.n_converged)},
        )

    def samples_frame(self) -> Any:
        """The resamples as a pandas DataFrame: one row per resample (index ``resample``, from
        ``start``), one column per parameter (NaN for failed resamples), plus ``converged``."""
        return self._samples_table().to_pandas()

    def _samples_table(self) -> Table:
        if self.samples is None:
            raise ValueError("this bootstrap was run with keep='summary': per-resample samples were not stored")
        a = np.asarray(self.samples)
        cols: dict[str, Any] = {n: a[:, j] for j, n in enumerate(self.param_names)}
        cols["converged"] = np.asarray(self.converged, dtype=bool)
        return Table(cols, ("resample", range(self.start, self.start + len(a))))

    def __repr__(self) -> str:
        w = f", {len(self.warnings)} warning{'s' if len(self.warnings) != 1 else ''}" if self.warnings else ""
        return (f"BootstrapResult({self.fit.form!r}, {_params_short(self.param_names, self.fit.params)}; "
                f"{self.n_converged}/{self.n_resamples} resamples converged, scheme={self.scheme!r}, seed={self.seed}{w})")

    def _repr_html_(self, level: float = 0.95) -> str:
        df = self.to_frame(level)
        rows = [[n, *(float(v) for v in df.loc[n, ["estimate", "stderr", "ci_lo", "ci_hi"]])] for n in df.index]
        notes = [f"{self.n_converged} of {self.n_resamples} resamples converged; scheme={self.scheme}, seed={self.seed}"]
        notes += [f"warning: {w}" for w in self.warnings]
        return _html_table(f"scalingfit bootstrap: {self.fit.form}", ["parameter", "estimate", "boot sd", f"{level:.0%} lo", f"{level:.0%} hi"],
                           rows, notes)


class DistributionCompat(Tabular):
    """A one-row table (``to_frame``) for :class:`scalingfit.Distribution`."""

    name: str
    estimate: float
    n_used: int
    stderr: Any
    mean: Any

    def ci(self, level: float = 0.95, method: str = "percentile") -> tuple[float, float]:
        raise NotImplementedError  # pragma: no cover - Distribution's

    def to_frame(self, level: float = 0.95, method: str = "percentile") -> Any:
        """One row (index: the quantity's ``name``): ``estimate``, bootstrap ``mean`` and
        ``stderr``, ``ci_lo``/``ci_hi`` at ``level`` by ``method``, and ``n_used``."""
        return self._table(level, method).to_pandas()

    def to_polars(self, level: float = 0.95, method: str = "percentile") -> Any:
        """:meth:`to_frame` as a polars DataFrame (``quantity`` is its first column)."""
        return self._table(level, method).to_polars()

    def __repr__(self) -> str:
        return f"Distribution({self.name!r}, estimate={fmt(float(self.estimate))}{interval_note(self)}, n_used={self.n_used})"

    def _table(self, level: float, method: str) -> Table:
        lo, hi = self.ci(level, method)
        return Table({"estimate": [self.estimate], "mean": [self.mean], "stderr": [self.stderr], "ci_lo": [lo], "ci_hi": [hi],
                      "n_used": [self.n_used]}, ("quantity", [self.name]))


class ResultCompat(Tabular):
    """A tidy table (``to_frame``) for the analysis results (:class:`scalingfit._results._Result`)."""

    values: dict[str, Any]
    samples: dict[str, np.ndarray] | None
    level: float

    def interval(self, name: str, level: float | None = None) -> tuple[Any, Any]:
        raise NotImplementedError  # pragma: no cover - _Result's

    stderr: Any

    def to_frame(self) -> Any:
        """The ``values`` as a tidy pandas DataFrame: one row per quantity and element, columns
        ``quantity``, ``index`` (the element's position in an array value; 0 for scalars) and
        ``value``; when built from a bootstrap also ``stderr``, ``ci_lo`` and ``ci_hi`` (at
        ``level``, in ``attrs``) for the sampled quantities (NaN for the others); for answers
        that can lie beyond the fitted data, ``extrapolated`` (per answer; None for the
        quantities that are not one per answer)."""
        return self._table().to_pandas()

    def to_polars(self) -> Any:
        """:meth:`to_frame` as a polars DataFrame."""
        return self._table().to_polars()

    def _table(self) -> Table:
        se = self.stderr if self.samples is not None else None
        # the answers beyond the fitted data (compute_optimal, required, ...): a flag per row of
        # every per-answer quantity, None for the others
        beyond = getattr(self, "meta", {}).get("beyond_data")
        beyond = None if beyond is None else np.atleast_1d(np.asarray(beyond, dtype=bool))
        rows: list[dict[str, Any]] = []
        for k, v in self.values.items():
            a = np.asarray(v)
            if a.dtype.kind not in "biufc":
                continue  # labels and other non-numeric values are not table rows
            lo = hi = s = None
            if self.samples is not None and k in self.samples:
                lo, hi = (np.broadcast_to(np.asarray(t, dtype=float), a.shape) for t in self.interval(k))
                assert se is not None
                s = np.broadcast_to(np.asarray(se[k], dtype=float), a.shape)
            for pos, idx in enumerate(np.ndindex(a.shape)):
                row: dict[str, Any] = {"quantity": k, "index": pos, "value": a[idx].item()}
                if beyond is not None:
                    row["extrapolated"] = bool(beyond[idx[0]]) if a.ndim >= 1 and a.shape[0] == len(beyond) else None
                if self.samples is not None:
                    row["stderr"] = np.nan if s is None else float(s[idx])
                    row["ci_lo"] = np.nan if lo is None else float(lo[idx])
                    row["ci_hi"] = np.nan if hi is None else float(hi[idx])
                rows.append(row)
        cols = ["quantity", "index", "value"] + (["stderr", "ci_lo", "ci_hi"] if self.samples is not None else [])
        cols += ["extrapolated"] if beyond is not None else []
        return Table({c: [r[c] for r in rows] for c in cols}, None, {} if self.samples is None else {"level": float(self.level)})
