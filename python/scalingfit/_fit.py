"""`scalingfit.fit`: argument normalisation around the Rust fitter, and the result object."""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import _core
from ._compat import FitCompat, keep_index, sigma_covariance, sigma_named, sigma_weights
from ._data import (
    NAN_HINT,
    align_to,
    as_columns,
    as_float_array,
    check_finite,
    close_names,
    column_names,
    fmt,
    get_column,
    jsonable,
    nan_rows,
    refuse_over_memory,
    require_columns,
    resolve_threads,
    table_columns,
    threads_or_jobs,
)
from ._diagnostics import ScalingFitWarning, emit, fit_warnings, termination_message

_FORMS = {name: (formula, vars_, pos, desc) for name, formula, vars_, pos, desc in _core.forms()}
_LOSSES = ("huber", "l2")
# lookup table: status code -> converged?
# the solver's terminations (scalingfit._core.Termination), by code
TERMINATIONS = [getattr(_core.Termination, n) for n in ("Ftol", "Xtol", "Gtol", "Stalled", "MaxIter", "Failed", "Diverged")]
_CONVERGED = np.zeros(256, dtype=bool)
for _t in TERMINATIONS:
    _CONVERGED[int(_t)] = _t.converged
_TARGETS = ("log", "linear")


def forms() -> list[dict[str, Any]]:
    """The built-in named forms: name, formula, variables, parameters fitted in log space, description.

    Returns
    -------
    list of dict
        One per form, with keys ``name``, ``formula``, ``variables``, ``params``, ``positive``
        (the parameters fitted in log space) and ``description``.

    Examples
    --------
    >>> [f["formula"] for f in sf.forms() if f["name"] == "chinchilla"]
    ['E + A * N^-alpha + B * D^-beta']
    """
    out = []
    for name, (formula, vars_, pos, desc) in _FORMS.items():
        params = _compile(formula, tuple(vars_)).param_names
        out.append(
            {"name": name, "formula": formula, "variables": list(vars_), "params": params, "positive": list(pos), "description": desc}
        )
    return out


@functools.lru_cache(maxsize=256)
def _core_problem(
    formula: Any, loss: str, delta: float, target: str, positive: tuple, lower: tuple, upper: tuple,
    max_iter: int, ftol: float, xtol: float, gtol: float,
) -> Any:
    """One ``_core.Problem`` per formula object and settings (errors are raised, never cached)."""
    return _core.Problem(
        formula, loss=loss, delta=delta, target=target, positive=list(positive), lower=list(lower),
        upper=list(upper), max_iter=max_iter, ftol=ftol, xtol=xtol, gtol=gtol,
    )


@dataclass(frozen=True)
class Problem:
    """A prepared fitting problem (what a bootstrap needs to refit). Immutable: derive a changed
    one with ``dataclasses.replace``."""

    form: str
    formula: Any  # _core.Formula
    columns: np.ndarray  # (n_vars, n)
    y: np.ndarray
    weights: np.ndarray | None
    loss: str
    delta: float
    target: str
    positive: list[bool]
    lower: list[float]
    upper: list[float]
    max_iter: int
    ftol: float
    xtol: float
    gtol: float
    column_map: dict[str, str]
    groups: np.ndarray | None = None
    kept: np.ndarray | None = None  # with nan_policy='omit' dropping rows: the kept rows of the data

    @property
    def param_names(self) -> list[str]:
        """Names of the fitted parameters, in order."""
        return list(_names(self.formula)[0])

    @property
    def variables(self) -> list[str]:
        """Names of the formula's variables, in order."""
        return list(_names(self.formula)[1])

    @property
    def n(self) -> int:
        """Number of data points used."""
        return int(self.y.shape[0])

    @property
    def n_omitted(self) -> int:
        """Number of rows left out (``nan_policy='omit'``)."""
        return 0 if self.kept is None else int(len(self.kept) - self.kept.sum())

    @classmethod
    def _new(cls, core: Any, **fields: Any) -> Problem:
        """What ``Problem(**fields)`` builds, with its core problem attached, without the frozen
        dataclass ``__init__`` (one ``object.__setattr__`` per field: a few microseconds per fit)."""
        obj = object.__new__(cls)
        obj.__dict__.update({"groups": None, **fields, "core": core})
        return obj

    def __getstate__(self) -> dict[str, Any]:
        # the core problem is Rust state built from the fields: rebuilt on first use
        return {k: v for k, v in self.__dict__.items() if k != "core"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    @functools.cached_property
    def core(self) -> Any:
        """The problem as the Rust core holds it (``_core.Problem``; the options are checked
        there). It depends on the formula and options only, not on the data, so one is shared by
        every fit with the same settings (it is immutable)."""
        return _core_problem(
            self.formula, self.loss, float(self.delta), self.target, tuple(self.positive), tuple(self.lower),
            tuple(self.upper), int(self.max_iter), float(self.ftol), float(self.xtol), float(self.gtol),
        )


@dataclass(repr=False)
class FitResult(FitCompat):
    """Result of :func:`fit` (in the spirit of ``scipy.optimize.OptimizeResult``).

    Attributes
    ----------
    params : dict of best-fit parameter values (natural scale).
    x : the same values as an array, in ``param_names`` order.
    objective : value of the objective ``sum_i w_i rho(r_i)`` at the optimum.
    converged, status, message : how the best start's Levenberg-Marquardt run ended.
    n_iter, n_eval : iterations and model evaluations of the best start.
    cov, stderr : covariance of the parameters and standard errors (None when singular). For
        ``loss="l2"`` the classical ``s^2 (J'J)^-1``; for Huber the asymptotic M-estimator
        sandwich ``A^-1 B A^-1 n/(n-p)``, meat ``J' psi(r)^2 J`` and bread ``J' psi'(r) J`` with
        psi' (the indicator of ``|r| <= delta``) smoothed by a Gaussian kernel of Silverman's
        bandwidth ``0.9 min(sd, IQR/1.349) n^(-1/5)`` of the residuals: with the default small
        delta the fit behaves like least absolute deviations and the bread estimates the residual
        density at 0 (Wald intervals on an IsoFLOP design cover the truth ~93-97% of the time at
        95%). Asymptotic: prefer :func:`scalingfit.bootstrap` for intervals with few points.
    residuals : residuals on the target scale (``ln f - ln y`` for ``target="log"``).
    n_starts, start_objectives : multi-start diagnostics.
    warnings : diagnostics that keep the result from being misread (also in ``summary()``, and
        raised once as a :class:`scalingfit.ScalingFitWarning`): a parameter with no effect at
        any data point (its term negligible everywhere), at a bound, an exponent of a built-in
        form that is not positive, a singular or nearly singular covariance, a model that
        underflowed to 0 everywhere (then ``converged`` is False).
    y_name : the name of the data column fitted as ``y`` (pandas Series name), else None.
    starts : the starts that were run (natural scale; automatic ones when ``auto_starts``).
    problem : the prepared problem (formula, data, settings) that :func:`scalingfit.bootstrap`
        and ``jac`` use; None for a result rebuilt from ``to_dict()``.

    scipy-compatible aliases (as ``scipy.optimize.least_squares``): ``success`` (= converged),
    ``fun`` (the residual vector at the optimum on the target scale), ``cost`` (= objective:
    ``0.5 sum w fun^2`` for l2), ``nfev`` (= n_eval), ``nit`` (= n_iter), ``jac`` (Jacobian of
    ``fun`` in the natural parameters at the optimum, from the core) and ``message``.
    ``to_frame()`` / ``to_polars()`` give the parameters as a pandas / polars DataFrame;
    ``predict`` on a pandas DataFrame returns a Series on its index, on a polars one a polars Series.
    """

    form: str
    formula: str
    param_names: list[str]
    params: dict[str, float]
    x: np.ndarray
    objective: float
    converged: bool
    status: int
    message: str
    n_iter: int
    n_eval: int
    cov: np.ndarray | None
    stderr: dict[str, float] | None
    residuals: np.ndarray
    n_points: int
    loss: str
    delta: float | None
    target: str
    positive: list[str]
    variables: list[str]
    n_starts: int
    auto_starts: bool
    best_start: int
    start_objectives: np.ndarray = field(repr=False)
    n_starts_converged: int = 0
    problem: Problem | None = field(default=None, repr=False)
    starts: np.ndarray | None = field(default=None, repr=False)
    warnings: list[str] = field(default_factory=list)
    y_name: str | None = None

    def predict(self, data: Any = None, **columns: Any) -> Any:
        """Model values at new points: ``fit.predict({"N": 7e10, "D": 1.4e12})`` or ``fit.predict(N=..., D=...)``.
        Points beyond the fitted data's range of any variable are extrapolations: a
        ScalingFitWarning says how many (``extrapolated(data)`` gives the mask). A pandas
        DataFrame gives a pandas Series on its index, named ``y_name``; numpy in, numpy out.

        Examples
        --------
        >>> fit = sf.fit("chinchilla", sf.datasets.hoffmann_example(seed=0), "loss")
        >>> fit.predict(N=[1e8, 1e9], D=[2e10, 2e10]).round(2).tolist()
        [3.0, 2.59]
        """
        if data is None:
            data = columns
        elif columns:
            raise TypeError("predict: give either a data mapping or keyword columns, not both")
        return keep_index(data, self._predict(data, warn=True), self.y_name)

    def _predict(self, data: Any, warn: bool) -> np.ndarray:
        prob = self._data_problem("predict")
        cols = as_columns(data, self.variables, prob.column_map, arg="data")
        if not cols:
            raise ValueError("predict needs at least one data column")
        mat = np.ascontiguousarray(np.vstack([cols[v] for v in self.variables]))
        if warn:
            beyond, lo, hi = self._beyond(mat)
            if beyond.any():
                rng = ", ".join(f"{v} in [{lo[j]:.4g}, {hi[j]:.4g}]" for j, v in enumerate(self.variables))
                warnings.warn(f"predict: {int(beyond.sum())} of {len(beyond)} points lie beyond the fitted data ({rng}); "
                              "the law is extrapolated there", ScalingFitWarning, stacklevel=3)
        values, _ = prob.formula.eval(np.asarray(self.x, dtype=np.float64), mat, False)
        bad = ~np.isfinite(values)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            at = ", ".join(f"{v}={mat[j, i]:g}" for j, v in enumerate(self.variables))
            raise ValueError(
                f"predict: the fitted law is {values[i]} at row {i} ({at}), which is outside its domain or float64's "
                f"range ({int(bad.sum())} of {len(values)} rows); pass values where the law is defined"
                + (" (positive resources)" if self.form in _FORMS else "")
            )
        return values

    def _data_problem(self, what: str) -> Problem:
        """The prepared problem (data, column map, settings), or a clear error without one."""
        if self.problem is None:
            raise ValueError(f"{what} needs the fit's problem and data, which this result does not carry (it was loaded from a dict)")
        return self.problem

    def __call__(self, data: Any = None, **columns: Any) -> Any:
        return self.predict(data, **columns)

    def save(self, path: Any) -> Any:
        """Write to a portable, versioned .npz file (JSON metadata plus arrays, no pickle), at
        ``path`` exactly as given; read it back with :func:`scalingfit.load`."""
        from ._codec import save

        return save(self, path)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary of the result (strict JSON: NaN is None, infinities "inf"/"-inf")."""
        return jsonable({
            "form": self.form,
            "formula": self.formula,
            "params": dict(self.params),
            "stderr": None if self.stderr is None else dict(self.stderr),
            "cov": None if self.cov is None else self.cov.tolist(),
            "objective": self.objective,
            "converged": self.converged,
            "status": self.status,
            "message": self.message,
            "n_iter": self.n_iter,
            "n_eval": self.n_eval,
            "n_points": self.n_points,
            "loss": self.loss,
            "delta": self.delta,
            "target": self.target,
            "positive": list(self.positive),
            "variables": list(self.variables),
            "n_starts": self.n_starts,
            "n_starts_converged": self.n_starts_converged,
            "auto_starts": self.auto_starts,
            "best_start": self.best_start,
            "warnings": list(self.warnings),
        })

    def summary(self) -> str:
        """A readable table of the fit."""
        loss = f"huber(delta={self.delta:g})" if self.loss == "huber" else "squared (l2)"
        tgt = "log y" if self.target == "log" else "y"
        starts = f"{self.n_starts} ({'automatic' if self.auto_starts else 'given/grid'}), {self.n_starts_converged} converged"
        lines = [
            f"scalingfit fit: {self.form}",
            f"  formula    L = {self.formula}",
            f"  loss       {loss} on {tgt}, summed over {self.n_points} points",
            f"  starts     {starts}; best = start {self.best_start}",
            f"  objective  {self.objective:.10g}",
            f"  status     {self.message} ({self.n_iter} iterations)",
            "",
            f"  {'parameter':<12}{'value':>14}{'stderr':>14}{'fitted as':>12}",
        ]
        for name in self.param_names:
            se = "-" if self.stderr is None else fmt(self.stderr[name])
            how = "log" if name in self.positive else "linear"
            lines.append(f"  {name:<12}{fmt(self.params[name]):>14}{se:>14}{how:>12}")
        for w in self.warnings:
            lines.append(f"  warning: {w}")
        if self.stderr is None:
            pass  # the singular covariance is one of the warnings above
        else:
            kind = "Huber M-estimator sandwich with a kernel-smoothed psi'" if self.loss == "huber" else "s^2 (J'J)^-1"
            lines.append(f"  stderr: asymptotic ({kind}); for intervals use scalingfit.bootstrap")
            p = len(self.param_names)
            if self.n_points < 10 * p:
                lines.append(f"  (only {self.n_points} points for {p} parameters: the asymptotic errors are unreliable here; "
                             "use scalingfit.bootstrap)")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def _resolve_form(form: Any) -> tuple[str, str, list[str] | None, list[str]]:
    """(name, formula, fixed variables or None, default positive)."""
    if not isinstance(form, str):
        raise TypeError(f"form must be a built-in form name or a formula string, got {type(form).__name__}")
    if form in _FORMS:
        formula, vars_, pos, _ = _FORMS[form]
        return form, formula, list(vars_), list(pos)
    if form.isidentifier():
        raise ValueError(f"unknown form '{form}'; built-in forms are {', '.join(_FORMS)}, or pass a formula such as 'E + A * C^-alpha'")
    return "formula", form, None, []


def prepare(
    form: str,
    data: Any,
    y: Any,
    *,
    columns: Mapping[str, str] | None = None,
    loss: str | None = None,
    delta: float | None = None,
    target: str | None = None,
    positive: Sequence[str] | None = None,
    bounds: Mapping[str, tuple[float, float]] | None = None,
    weights: Any = None,
    max_iter: int = 500,
    ftol: float = 1e-14,
    xtol: float = 1e-12,
    gtol: float = 1e-12,
    check_values: bool = True,
    check_names: bool = True,
    nan_policy: str = "raise",
) -> Problem:
    """Normalise arguments into a :class:`Problem` (shared by fit, bootstrap and backtests).
    `check_values=False` leaves the finiteness and positivity checks of data and y to Rust."""
    if data is None:
        raise ValueError("data is required: a dict of arrays or a DataFrame with the formula's variables")
    if columns is not None and not isinstance(columns, Mapping):
        raise TypeError(f"columns must be a dict mapping formula variables to data column names, e.g. {{'N': 'params'}}; got {type(columns).__name__}")
    if positive is not None and (isinstance(positive, (str, bytes)) or not isinstance(positive, (Sequence, set, frozenset, np.ndarray))):
        raise TypeError(f"positive must be a list of parameter names, e.g. ['A', 'B']; got {type(positive).__name__} {positive!r:.60}")
    if not isinstance(check_names, (bool, np.bool_)):
        raise TypeError(f"check_names must be True or False, got {type(check_names).__name__} {check_names!r:.40}")
    if bounds is not None and not isinstance(bounds, Mapping):
        raise TypeError(f"bounds must be a dict mapping parameter names to (lower, upper) pairs; got {type(bounds).__name__}")
    names = column_names(data)
    y, columns = table_columns(data, names, y, columns)
    y_name = y if isinstance(y, str) else None
    if y_name is not None and y_name not in names:
        raise ValueError(f"y: data has no column '{y}'; available columns: {', '.join(names)}")
    # everything that depends on the arguments but not on the data values is cached, keyed on
    # hashable forms of the arguments (unhashable ones, e.g. lists in bounds, skip the cache)
    try:
        key = (
            form, tuple(names), y_name,
            None if columns is None else tuple(columns.items()),
            loss, delta, target,
            None if positive is None else tuple(positive),
            None if bounds is None else tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in bounds.items()),
            max_iter, ftol, xtol, gtol,
            # numbers that compare equal but differ in type (True == 1) must not share an entry
            type(delta), type(max_iter), type(ftol), type(xtol), type(gtol), bool(check_names),
        )
        hash(key)
    except Exception:
        key = None
    if key is not None:
        spec = _spec_cached(key)
    else:
        spec = _spec(form, tuple(names), y_name, columns, loss, delta, target, positive, bounds, max_iter, ftol, xtol, gtol, bool(check_names))
    name, f, fixed_vars, column_map, spec_args, core = spec
    column_map = dict(column_map)
    if check_names and name == "formula" and isinstance(data, Mapping):
        # a dict is built for this fit (tables, which often carry extra columns, are not checked)
        used = {column_map.get(v, v) for v in fixed_vars} | {y_name}
        unused = [c for c in names if c not in used]
        if unused:
            raise ValueError(
                f"data: column(s) {', '.join(repr(c) for c in unused)} are not used by the formula (a variable whose name differs "
                f"from its column is fitted as a parameter); use them, map them with columns=, drop them, or pass check_names=False"
            )
    if y_name is not None:
        y = get_column(data, y_name)
    if y is None:
        raise ValueError("y is required: the observed losses, as an array or the name of a data column")
    cols = as_columns(data, fixed_vars, column_map, available=names, check=False)
    if y_name is None:
        y = align_to(data, y, "y")
    if weights is not None:
        weights = align_to(data, weights, "weights")
    yarr = as_float_array(y, "y")
    n = len(cols[fixed_vars[0]])
    if len(yarr) != n:
        raise ValueError(f"y has length {len(yarr)} but the data columns have length {n}")
    mat = np.empty((len(fixed_vars), n))
    for i, v in enumerate(fixed_vars):
        mat[i] = cols[v]
    w = None
    if weights is not None:
        w = as_float_array(weights, "weights")
        labels = getattr(data, "index", None) if hasattr(data, "columns") and nan_policy != "omit" else None
        check_finite(w[~np.isnan(w)] if nan_policy == "omit" else w, "weights", labels)  # omit: NaN rows dropped below
        if len(w) != n:
            raise ValueError(f"weights has length {len(w)} but the data has {n} rows")
        if (w < 0).any():
            raise ValueError("weights must be non-negative")
    loss, delta, target, pos_flags, lower, upper, max_iter, ftol, xtol, gtol = spec_args
    mat, yarr, w, kept = nan_rows(data, mat, yarr, w, [column_map.get(v, v) for v in fixed_vars], y_name, nan_policy)
    prob = Problem._new(
        core,
        form=name,
        formula=f,
        columns=mat,
        y=yarr,
        weights=w,
        loss=loss,
        delta=delta,
        target=target,
        positive=list(pos_flags),
        lower=list(lower),
        upper=list(upper),
        max_iter=max_iter,
        ftol=ftol,
        xtol=xtol,
        gtol=gtol,
        column_map=column_map,
        kept=kept,
    )
    if check_values:
        _check_values(prob)
    return prob


def _spec(form, names, y_name, columns, loss, delta, target, positive, bounds, max_iter, ftol, xtol, gtol, check_names=True):
    """The argument checks and resolution of :func:`prepare` that do not look at data values:
    (form name, compiled formula, variables, column map, (loss, delta, target, positive flags,
    lower, upper, max_iter, ftol, xtol, gtol)). Raises the argument errors."""
    name, formula_src, fixed_vars, default_pos = _resolve_form(form)
    column_map = dict(columns or {})
    for k, v in column_map.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise TypeError("columns must map formula variable names (str) to data column names (str)")
    if fixed_vars is None:
        # formula: identifiers that are (mapped) data columns are variables
        reverse = {v: k for k, v in column_map.items()}
        ids = _identifiers(formula_src)
        cand = set(n for n in names if n != y_name) | set(column_map)
        fixed_vars = [i for i in ids if i in cand or i in reverse]
        if not fixed_vars:
            raise ValueError(
                f"none of the formula's names ({', '.join(ids)}) is a data column ({', '.join(names)}); "
                f"name the variables after the columns or pass columns={{'x': '<column>'}}"
            )
    else:
        # single-variable forms: map the only data column automatically
        if len(fixed_vars) == 1 and fixed_vars[0] not in column_map and fixed_vars[0] not in names:
            others = [n for n in names if n != y_name]
            if len(others) == 1:
                column_map[fixed_vars[0]] = others[0]
    unknown_map = set(column_map) - set(fixed_vars)
    if unknown_map:
        raise ValueError(f"columns: {sorted(unknown_map)} are not variables of the formula (variables: {fixed_vars})")
    require_columns(fixed_vars, column_map, names)
    f = _compile(formula_src, tuple(fixed_vars))
    params = list(_names(f)[0])
    if check_names and name == "formula":
        used = {column_map.get(v, v) for v in fixed_vars} | {y_name}
        for p_ in params:
            for c in names:
                if c not in used and close_names(p_, c):
                    raise ValueError(
                        f"form: '{p_}' is fitted as a parameter, but data has a column '{c}' that the formula does not use; "
                        f"a typo? Write '{c}' in the formula, map it with columns={{'{p_}': '{c}'}}, or pass "
                        f"check_names=False if '{p_}' is meant to be a parameter"
                    )
    loss = "huber" if loss is None else loss
    if loss not in _LOSSES:
        raise ValueError(f"loss must be one of {_LOSSES}, got {loss!r}")
    if delta is None:
        delta = 1e-3
    if isinstance(delta, bool) or not isinstance(delta, (int, float, np.floating)) or not math.isfinite(delta) or delta <= 0:
        raise ValueError(f"delta must be a positive finite number, got {delta!r}")
    target = "log" if target is None else target
    if target not in _TARGETS:
        raise ValueError(f"target must be one of {_TARGETS}, got {target!r}")
    pos = list(default_pos if positive is None else positive)
    for p_ in pos:
        if not isinstance(p_, str):
            raise TypeError(f"positive must be a list of parameter names (str), got an element {p_!r:.60}")
        if p_ not in params:
            raise ValueError(f"positive: '{p_}' is not a parameter of the formula (parameters: {', '.join(params)})")
    lower = [-math.inf] * len(params)
    upper = [math.inf] * len(params)
    for k, b in (dict(bounds) if bounds is not None else {}).items():
        if k not in params:
            raise ValueError(f"bounds: '{k}' is not a parameter (parameters: {', '.join(params)})")
        try:
            lo, hi = (float(b[0]) if b[0] is not None else -math.inf), (float(b[1]) if b[1] is not None else math.inf)
        except (TypeError, IndexError, KeyError, ValueError):
            raise TypeError(f"bounds['{k}'] must be a (lower, upper) pair of numbers or None") from None
        if not lo < hi:
            raise ValueError(f"bounds['{k}']: lower bound {lo} must be below upper bound {hi}")
        lower[params.index(k)], upper[params.index(k)] = lo, hi
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or not 1 <= max_iter < 2**63:
        raise ValueError(f"max_iter must be a positive integer, got {max_iter!r}")
    for nm, v in (("ftol", ftol), ("xtol", xtol), ("gtol", gtol)):
        if isinstance(v, bool) or not (isinstance(v, (int, float)) and v >= 0 and math.isfinite(v)):
            raise ValueError(f"{nm} must be a non-negative finite number, got {v!r}")
    flags = tuple(p_ in pos for p_ in params)
    settings = (loss, float(delta), target, flags, tuple(lower), tuple(upper), int(max_iter), float(ftol), float(xtol), float(gtol))
    return name, f, tuple(fixed_vars), tuple(column_map.items()), settings, _core_problem(f, *settings)


@functools.lru_cache(maxsize=256)
def _spec_cached(key: tuple) -> tuple:
    form, names, y_name, columns, loss, delta, target, positive, bounds, max_iter, ftol, xtol, gtol = key[:13]
    return _spec(
        form, list(names), y_name, None if columns is None else dict(columns), loss, delta, target,
        None if positive is None else list(positive), None if bounds is None else dict(bounds), max_iter, ftol, xtol, gtol,
        key[-1],
    )


def _check_values(prob: Problem) -> None:
    """Value checks of the data and y, with messages naming the user's columns. Rust makes the
    same checks, so `fit` skips these and runs them only to explain an error Rust raised."""
    mat = prob.columns
    if not np.isfinite(mat).all():
        for i, v in enumerate(_names(prob.formula)[1]):  # name the offending column
            check_finite(mat[i], f"data['{prob.column_map.get(v, v)}']", hint=NAN_HINT)
    # one pass for the common case (finite, and positive for a log target); diagnose on failure
    yarr = prob.y
    if not (np.isfinite(yarr).all() and (prob.target != "log" or yarr.min() > 0)):
        check_finite(yarr, "y", hint=NAN_HINT)
        i = int(np.flatnonzero(yarr <= 0)[0])
        raise ValueError(f"y must be positive with target='log' (got {yarr[i]} at index {i}); use target='linear' for signed responses")


@functools.lru_cache(maxsize=256)
def _compile(src: str, variables: tuple[str, ...]) -> Any:
    """Compiled formulas are immutable, so repeated fits share one."""
    return _core.Formula(src, list(variables))


@functools.lru_cache(maxsize=256)
def _names(formula: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(parameter names, variables) of a compiled formula (immutable, so cached)."""
    return tuple(formula.param_names), tuple(formula.variables)


def _identifiers(src: str) -> list[str]:
    # compile with no variables: every identifier becomes a parameter, in order of appearance
    return list(_compile(src, ()).param_names)


def starts_array(problem: Problem, starts: Any = None, grid: Mapping[str, Sequence[float]] | None = None) -> np.ndarray | None:
    """Normalise `starts` (dict, list of dicts or (s, p) array) and/or `grid` (dict of value lists)."""
    params = _names(problem.formula)[0]
    rows: list[Any] = []  # 1-D arrays or lists of floats, stacked once at the end
    if starts is not None:
        if type(starts) is dict or isinstance(starts, Mapping):
            starts = [starts]
        if isinstance(starts, (str, bytes)) or not isinstance(starts, (Sequence, np.ndarray)):
            raise TypeError(
                f"starts must be a dict of parameter values, a list of such dicts or an (n_starts, n_params) array; "
                f"got {type(starts).__name__}"
            )
        if isinstance(starts, np.ndarray) and starts.dtype != object:
            arr = as_float_array(starts, "starts", ndim=2) if starts.ndim == 2 else as_float_array(starts, "starts").reshape(1, -1)
            if arr.shape[1] != len(params):
                raise ValueError(f"starts must have {len(params)} columns ({', '.join(params)}), got {arr.shape[1]}")
            rows.extend(arr)
        else:
            for i, st in enumerate(starts):
                if not (type(st) is dict or isinstance(st, Mapping)):
                    raise TypeError(f"starts[{i}] must be a dict of parameter values")
                missing = [p_ for p_ in params if p_ not in st]
                extra = [k for k in st if k not in params]
                if missing or extra:
                    raise ValueError(f"starts[{i}]: missing {missing} / unknown {extra}; parameters are {', '.join(params)}")
                try:
                    rows.append([float(st[p_]) for p_ in params])
                except (TypeError, ValueError) as e:
                    raise type(e)(f"starts[{i}]: every value must be a number ({e})") from None
    if grid is not None:
        if not isinstance(grid, Mapping):
            raise TypeError("grid must be a dict mapping each parameter to a list of values")
        missing = [p_ for p_ in params if p_ not in grid]
        extra = [k for k in grid if k not in params]
        if missing or extra:
            raise ValueError(f"grid: missing {missing} / unknown {extra}; parameters are {', '.join(params)}")
        axes = [as_float_array(grid[p_], f"grid['{p_}']") for p_ in params]
        n_grid = math.prod(len(a) for a in axes)
        refuse_over_memory(  # the mesh, its copies and the starts' results
            f"grid: {' x '.join(str(len(a)) for a in axes)} = {n_grid} starts",
            n_grid * (64 * len(params) + 256),
            "use fewer values per parameter",
        )
        mesh = np.meshgrid(*axes, indexing="ij")
        rows.extend(np.stack([m.ravel() for m in mesh], axis=1))
    if not rows:
        return None
    return np.array(rows, dtype=np.float64)  # finiteness: checked in Rust, naming start and parameter


def fit(
    form: str,
    data: Any = None,
    y: Any = None,
    *,
    columns: Mapping[str, str] | None = None,
    loss: str | None = None,
    delta: float | None = None,
    target: str | None = None,
    positive: Sequence[str] | None = None,
    bounds: Mapping[str, tuple[float, float]] | None = None,
    weights: Any = None,
    starts: Any = None,
    grid: Mapping[str, Sequence[float]] | None = None,
    n_starts: int = 64,
    max_iter: int = 500,
    ftol: float = 1e-14,
    xtol: float = 1e-12,
    gtol: float = 1e-12,
    n_threads: int | None = None,
    check_names: bool = True,
    nan_policy: str = "raise",
    n_jobs: int | None = None,
    sigma: Any = None,
    absolute_sigma: bool = False,
) -> FitResult:
    """Fit a scaling law.

    Parameters
    ----------
    form : a built-in form name (see :func:`forms`) or a formula such as ``"E + A * C^-alpha"``.
        Identifiers that are data columns are variables; all others are parameters.
    data : dict of arrays, pandas/polars DataFrame or structured array with the variables.
    y : observed losses (array) or the name of a column of ``data``.
    columns : map formula variables to differently named data columns, e.g. ``{"x": "C"}``.
    loss : ``"huber"`` (default) or ``"l2"``; ``delta`` is Huber's threshold (default 1e-3).
    target : ``"log"`` (default; residuals ``ln f - ln y``) or ``"linear"``.
    positive : parameters fitted in log space (default: the form's, none for formulas).
    bounds : ``{name: (lower, upper)}`` box bounds on natural parameters (None for open).
    weights : per-point non-negative weights. ``sigma`` (with ``loss="l2"``): per-point (or one)
        standard deviations of the target on the fit's scale, as scipy's ``curve_fit``: weights
        1/sigma^2 and, with ``absolute_sigma``, the covariance ``(J' W J)^-1`` unscaled.
    starts, grid : explicit starts (dict / list of dicts / array) or a grid ``{name: values}``.
        Default: the form's grid (Chinchilla: the 4500-start grid of Besiroglu et al. 2024) or
        automatic starts by variable projection, keeping ``n_starts`` of them for LM (half the best,
        half the best spread over the grid).
    max_iter, ftol, xtol, gtol : Levenberg-Marquardt limits per start. A run that reaches
        ``max_iter`` (20 or more) on a law with linear parameters (``loss="l2"``, ``target="linear"``)
        is continued by variable projection and polished, up to ``max_iter`` each (``n_iter`` counts all).
    n_threads : threads for the parallel starts (default: all cores); ``n_jobs`` is an alias
        (scikit-learn's name; -1: all cores).
    check_names : with a formula, a parameter whose name is close to a data column the formula
        does not use (``Np`` and column ``N``: differing case, a prefix within 2 characters or
        one edit) is taken for a typo and raises a ValueError, as does a column of a data dict that
        a formula does not use (DataFrames may carry extra columns); False allows both. pandas ``y`` and ``weights`` Series are
        aligned on the DataFrame's index (a ValueError when their labels differ).
    nan_policy : ``"raise"`` (default: a ValueError naming the column and, for a DataFrame, the
        index label of the first NaN) or ``"omit"`` (drop the rows with NaN in a used column, y or
        weights; ``warnings`` says how many).

    Returns
    -------
    FitResult : parameters, standard errors, status, ``predict()``, ``summary()``.

    Examples
    --------
    >>> import scalingfit as sf
    >>> from scalingfit.datasets import hoffmann_example
    >>> fit = sf.fit("chinchilla", hoffmann_example(seed=0), "loss")  # N, D, C, loss columns
    >>> fit.converged, round(fit.params["alpha"], 2), round(fit.params["beta"], 2)
    (True, 0.33, 0.27)
    """
    weights = sigma_weights(sigma, weights, absolute_sigma, loss)
    with sigma_named(sigma):
        prob = prepare(
            form, data, y, columns=columns, loss=loss, delta=delta, target=target, positive=positive,
            bounds=bounds, weights=weights, max_iter=max_iter, ftol=ftol, xtol=xtol, gtol=gtol, check_values=False,
            check_names=check_names, nan_policy=nan_policy,
        )
    if not isinstance(n_starts, (int, np.integer)) or isinstance(n_starts, bool) or not 1 <= n_starts < 2**63:
        raise ValueError(f"n_starts must be a positive integer, got {n_starts!r}")
    st = starts_array(prob, starts, grid)
    res = _run_fit(prob, st, int(n_starts), resolve_threads(threads_or_jobs(n_threads, n_jobs)))
    if sigma is not None:
        sigma_covariance(res, np.full(prob.n, float(sigma) ** -2) if prob.weights is None else prob.weights, absolute_sigma)
    yn = getattr(y, "name", y)  # a column name, a Series' name or an integer column label
    res.y_name = str(yn) if isinstance(yn, (str, int, np.integer)) and not isinstance(yn, bool) else None
    if prob.n_omitted:
        res.warnings.append(f"nan_policy='omit' dropped {prob.n_omitted} of {prob.n_omitted + prob.n} rows with NaN in the data, y or weights")
    emit(f"fit {res.form!r}", res.warnings)
    return res


def _run_fit(prob: Problem, st: np.ndarray | None, n_auto: int, n_threads: int) -> FitResult:
    form_grid = prob.form if (st is None and prob.form in _FORMS) else None
    try:
        r = _core.fit(
            prob.core, prob.columns, prob.y, weights=prob.weights, starts=st, form_grid=form_grid, n_auto=n_auto,
            n_threads=n_threads,
        )
    except ValueError:
        _check_values(prob)  # raises a message naming the user's column, if that was the cause
        raise
    return _result(prob, r)


def _result(prob: Problem, r: Any) -> FitResult:
    name_tuple, variables = _names(prob.formula)
    names = list(name_tuple)
    x = r.params
    cov = r.cov
    stderr = None
    if cov is not None:
        d = cov.diagonal().tolist()
        if min(d) >= 0:
            stderr = {n: math.sqrt(v) for n, v in zip(names, d)}
        else:
            cov = None
    found, converged = fit_warnings(prob, x, cov, stderr, r.termination.converged, r.sensitivity, r.model_max)
    message = termination_message(r, found)
    if converged != r.termination.converged:
        message = "not converged: the model is 0 at every data point (zero gradient from underflow)"
    # the values from Rust are already Python floats, ints, bools and strings
    return FitResult(
        form=prob.form,
        formula=prob.formula.source,
        param_names=names,
        params=dict(zip(names, x.tolist())),
        x=x,
        objective=r.objective,
        converged=converged,
        status=int(r.termination),
        message=message,
        n_iter=r.n_iter,
        n_eval=r.n_eval,
        cov=cov,
        stderr=stderr,
        residuals=r.residuals,
        n_points=prob.n,
        loss=prob.loss,
        delta=prob.delta if prob.loss == "huber" else None,
        target=prob.target,
        positive=[n for n, p_ in zip(names, prob.positive) if p_],
        variables=list(variables),
        n_starts=len(r.objectives),
        auto_starts=r.auto_starts,
        best_start=r.best_index,
        start_objectives=r.objectives,
        n_starts_converged=r.n_converged,
        problem=prob,
        starts=r.starts,
        warnings=found,
    )
