"""Answers from a fitted law: compute-optimal allocation, inverse questions, returns to scale,
budgets, extrapolation and backtests.

Every function takes a :class:`~scalingfit.FitResult` (point estimates) or a
:class:`~scalingfit.BootstrapResult` (point estimates from its fit plus percentile intervals over
the converged resamples). All numerics are vectorised over bootstrap samples and query values:
closed forms for Chinchilla-type laws; for other two-resource laws a fixed-iteration dense-grid +
golden-section search whose every step evaluates the formula for all samples at once in Rust.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from . import _core
from ._bootstrap import BootstrapResult, _check_level, bootstrap
from ._data import as_columns, as_float_array, check_finite, fmt
from ._fit import _FORMS, FitResult, fit as _fit

__all__ = [
    "compute_optimal",
    "required",
    "returns",
    "optimize_budget",
    "extrapolate",
    "backtest",
    "ComputeOptimal",
    "Required",
    "Returns",
    "Budget",
    "Extrapolation",
    "Backtest",
]

_UNIT = "sf_unit__"
_BIG = 1e307
_LOG_MAX = math.log(1e60)  # search ranges: resources up to 1e60 units


# ---------------------------------------------------------------------------------------------
# sources: a fit or a bootstrap -> point parameters and (optional) parameter samples


class _Source:
    def __init__(self, obj: Any, fn: str):
        if isinstance(obj, BootstrapResult):
            self.fit = obj.fit
            s = obj._used()
            self.samples = s
            self.n_resamples = obj.n_resamples
        elif isinstance(obj, FitResult):
            self.fit = obj
            self.samples = None
            self.n_resamples = 0
        else:
            raise TypeError(f"{fn}: fit_or_bs must be a FitResult (sf.fit) or a BootstrapResult (sf.bootstrap), got {type(obj).__name__}")
        if self.fit.problem is None:
            raise ValueError(f"{fn}: this FitResult has no attached problem (it was loaded from a dict)")
        self.names = list(self.fit.param_names)
        self.kind = _kind(self.fit)
        self._law: Any = None

    def point(self) -> dict[str, np.float64]:
        return {n: np.float64(v) for n, v in self.fit.params.items()}

    def sampled(self, extra_dims: int = 1) -> dict[str, np.ndarray] | None:
        """Parameter samples shaped (s, 1, ..., 1) to broadcast against query arrays."""
        if self.samples is None:
            return None
        shape = (len(self.samples),) + (1,) * extra_dims
        return {n: self.samples[:, k].reshape(shape) for k, n in enumerate(self.names)}

    @property
    def law(self) -> "_Law":
        if self._law is None:
            self._law = _Law(self.fit)
        return self._law


def _kind(fit: FitResult) -> str | None:
    """Which built-in form the fitted formula is (also for formula strings equal to one)."""
    if fit.form in _FORMS:
        return fit.form
    src = fit.formula.replace(" ", "")
    for name, (formula, vars_, _, _) in _FORMS.items():
        if formula.replace(" ", "") == src and list(vars_) == list(fit.variables):
            return name
    return None


class _Law:
    """Evaluate a fitted formula for arrays of parameters and variables (broadcast), in Rust.

    The formula is recompiled with its parameters as extra data columns, so one call evaluates
    every (bootstrap sample, query point) pair.
    """

    def __init__(self, fit: FitResult):
        self.variables = list(fit.variables)
        self.params = list(fit.param_names)
        self._f = _core.Formula(f"({fit.formula}) * {_UNIT}", self.variables + self.params)
        self._one = np.ones(1)

    def __call__(self, P: Mapping[str, Any], X: Mapping[str, Any]) -> np.ndarray:
        arrs = [np.asarray(X[v], dtype=np.float64) for v in self.variables] + [np.asarray(P[p], dtype=np.float64) for p in self.params]
        shape = np.broadcast_shapes(*(a.shape for a in arrs))
        size = int(np.prod(shape))
        if size == 0:
            return np.zeros(shape)
        mat = np.empty((len(arrs), size))
        for i, a in enumerate(arrs):
            mat[i] = np.broadcast_to(a, shape).ravel()
        # guard: non-positive resources (only reachable through extreme samples) -> +inf loss
        nv = len(self.variables)
        bad = ~np.all(mat[:nv] > 0, axis=0) | ~np.all(np.isfinite(mat), axis=0)
        if bad.any():
            mat[:nv, bad] = 1.0
            mat[nv:, bad] = 1.0
        vals, _ = self._f.eval(self._one, mat, False)
        vals = np.where(bad | ~np.isfinite(vals), np.inf, vals)
        return vals.reshape(shape)


# ---------------------------------------------------------------------------------------------
# vectorised 1-d search


def _minimize(fun: Callable[[np.ndarray], np.ndarray], lo: np.ndarray, hi: np.ndarray, grid: int = 96, iters: int = 60) -> np.ndarray:
    """argmin of fun(u) on [lo, hi] for every element (broadcast arrays): dense grid, then golden section."""
    lo, hi = np.broadcast_arrays(np.asarray(lo, float), np.asarray(hi, float))
    t = np.linspace(0.0, 1.0, grid)
    u = lo[..., None] + (hi - lo)[..., None] * t
    vals = fun(u)
    vals = np.where(np.isnan(vals), np.inf, vals)
    i = np.argmin(vals, axis=-1)
    step = (hi - lo) / (grid - 1)
    a = np.maximum(lo, lo + (i - 1) * step)
    b = np.minimum(hi, lo + (i + 1) * step)
    g = (math.sqrt(5) - 1) / 2
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = fun(c), fun(d)
    for _ in range(iters):
        left = fc < fd  # minimum in [a, d]
        a, b = np.where(left, a, c), np.where(left, d, b)
        c_new, d_new = b - g * (b - a), a + g * (b - a)
        # reuse one point per iteration
        c, d = np.where(left, c_new, d), np.where(left, c, d_new)
        f_new = fun(np.where(left, c, d))
        fc, fd = np.where(left, f_new, fd), np.where(left, fc, f_new)
    return 0.5 * (a + b)


def _bisect_decreasing(fun: Callable[[np.ndarray], np.ndarray], target: np.ndarray, lo: float, hi: float, iters: int = 48) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """u with fun(u) == target for a decreasing fun, elementwise. Returns (u, below, above):
    ``below`` where target >= fun(lo) (reached already at lo), ``above`` where target < fun(hi)."""
    target = np.asarray(target, float)
    f_lo, f_hi = fun(np.full(target.shape, lo)), fun(np.full(target.shape, hi))
    a, b = np.full(target.shape, lo), np.full(target.shape, hi)
    for _ in range(iters):
        m = 0.5 * (a + b)
        fm = fun(m)
        go_right = fm > target
        a, b = np.where(go_right, m, a), np.where(go_right, b, m)
    return 0.5 * (a + b), target >= f_lo, ~(target >= f_hi)


# ---------------------------------------------------------------------------------------------
# result objects


def _pct(x: np.ndarray, level: float) -> tuple[Any, Any]:
    """Percentile interval over axis 0, ignoring NaN (invalid samples) and keeping +-inf."""
    x = np.asarray(x, float)
    y = np.clip(np.where(np.isnan(x), np.nan, x), -_BIG, _BIG)
    q = [(1 - level) / 2, 1 - (1 - level) / 2]
    with np.errstate(all="ignore"):
        lo, hi = np.nanquantile(y, q, axis=0)
    lo = np.where(lo >= _BIG / 2, np.inf, np.where(lo <= -_BIG / 2, -np.inf, lo))
    hi = np.where(hi >= _BIG / 2, np.inf, np.where(hi <= -_BIG / 2, -np.inf, hi))
    if lo.ndim == 0:
        return float(lo), float(hi)
    return lo, hi


def _jsonable(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        return [_jsonable(x) for x in v.tolist()] if v.ndim else _jsonable(v.item())
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (np.floating, float)):
        f = float(v)
        return f if math.isfinite(f) else (None if math.isnan(f) else ("inf" if f > 0 else "-inf"))
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.bool_,)):
        return bool(v)
    return v


def _short(v: Any) -> str:
    if isinstance(v, np.ndarray):
        if v.ndim == 0:
            return fmt(float(v))
        if v.size <= 4:
            return "[" + ", ".join(fmt(float(x)) for x in v.ravel()) + "]"
        return f"array(shape={v.shape})"
    if isinstance(v, float):
        return fmt(v)
    return repr(v)


class _Result:
    """Named estimates (``values``) with optional bootstrap ``samples`` of the same names.

    Estimates are attributes (``opt.N``, ``opt.a``); ``interval(name)``/``ci`` give percentile
    intervals and ``stderr`` bootstrap standard deviations when built from a BootstrapResult.
    """

    _title = "result"

    def __init__(self, values: dict[str, Any], samples: dict[str, np.ndarray] | None, level: float, meta: dict[str, Any]):
        self.values = values
        self.samples = samples
        self.level = level
        self.meta = meta
        self.n_samples = 0 if not samples else int(len(next(iter(samples.values()))))

    def __getattr__(self, name: str) -> Any:
        d = self.__dict__
        if "values" in d and name in d["values"]:
            return d["values"][name]
        if "meta" in d and name in d["meta"]:
            return d["meta"][name]
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self.values) | set(self.meta))

    def interval(self, name: str, level: float | None = None) -> tuple[Any, Any]:
        """Percentile interval of ``name`` over the bootstrap samples (NaN-free samples only)."""
        if self.samples is None:
            raise ValueError(f"{type(self).__name__}.interval: no bootstrap samples; pass a BootstrapResult (sf.bootstrap) instead of a FitResult")
        if name not in self.samples:
            raise ValueError(f"interval: unknown quantity {name!r}; have {', '.join(self.samples)}")
        return _pct(self.samples[name], _check_level(self.level if level is None else level))

    @property
    def ci(self) -> dict[str, tuple[Any, Any]] | None:
        """Intervals at ``level`` for every sampled quantity (None without a bootstrap)."""
        if self.samples is None:
            return None
        return {k: self.interval(k) for k in self.samples}

    @property
    def stderr(self) -> dict[str, Any] | None:
        if self.samples is None:
            return None
        out = {}
        for k, s in self.samples.items():
            with np.errstate(all="ignore"):
                fin = np.where(np.isfinite(s), s, np.nan)
                sd = np.nanstd(fin, axis=0, ddof=1)
            out[k] = float(sd) if np.ndim(sd) == 0 else sd
        return out

    def to_dict(self) -> dict[str, Any]:
        d = {"kind": type(self).__name__, **self.meta, "values": self.values, "level": self.level, "n_samples": self.n_samples}
        if self.samples is not None:
            d["ci"] = {k: list(v) for k, v in self.ci.items()}
            d["stderr"] = self.stderr
        return _jsonable(d)

    def _iv(self, name: str, idx: Any = None) -> str:
        if self.samples is None or name not in self.samples:
            return ""
        lo, hi = self.interval(name)
        if idx is not None:
            lo, hi = lo[idx], hi[idx]
        return f"[{fmt(float(lo))}, {fmt(float(hi))}]"

    def __repr__(self) -> str:
        vals = ", ".join(f"{k}={_short(v)}" for k, v in self.values.items())
        boot = f", bootstrap={self.n_samples} samples" if self.samples is not None else ""
        return f"{type(self).__name__}({vals}{boot})"

    def __str__(self) -> str:
        return self.summary()

    def summary(self) -> str:  # pragma: no cover - overridden
        return repr(self)


def _combine(src: _Source, func: Callable[..., dict[str, np.ndarray]], *args: Any, extra_dims: int = 1) -> tuple[dict[str, Any], dict[str, np.ndarray] | None, int]:
    """Apply func(P, *args) to the point estimate and, vectorised, to all samples."""
    with np.errstate(all="ignore"):
        est = func(src.point(), *args)
    samples = None
    n_invalid = 0
    Ps = src.sampled(extra_dims)
    if Ps is not None:
        with np.errstate(all="ignore"):
            samples = func(Ps, *args)
        s = len(src.samples)
        samples = {k: _as_samples(v, s, np.shape(est[k])) for k, v in samples.items()}
        bad = np.zeros(s, bool)
        for v in samples.values():
            bad |= np.isnan(v.reshape(s, -1)).any(axis=1)
        n_invalid = int(bad.sum())
    est = {k: (float(v) if np.ndim(v) == 0 else np.asarray(v, float)) for k, v in est.items()}
    return est, samples, n_invalid


def _as_samples(v: Any, s: int, shape: tuple) -> np.ndarray:
    v = np.asarray(v, float)
    want = (s,) + tuple(shape)
    if v.size == int(np.prod(want)):
        return v.reshape(want).copy()
    return np.broadcast_to(v.reshape((s,) + v.shape[1:]) if v.ndim and v.shape[0] == s else v, want).copy()


def _check_point(est: dict[str, Any], names: Sequence[str], fn: str, why: str) -> None:
    for k in names:
        if np.any(np.isnan(est[k])):
            raise ValueError(f"{fn}: {k} is undefined for the fitted parameters ({why})")


def _positive_array(v: Any, arg: str) -> np.ndarray:
    a = as_float_array(v, arg)
    check_finite(a, arg)
    if (a <= 0).any():
        raise ValueError(f"{arg} must be positive, got {a[a <= 0][0]!r}")
    return a


def _positive_scalar(v: Any, arg: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not math.isfinite(v) or v <= 0:
        raise ValueError(f"{arg} must be a positive finite number, got {v!r}")
    return float(v)


def _resources(src: _Source, resources: Sequence[str] | None, fn: str) -> tuple[str, str]:
    vars_ = list(src.fit.variables)
    if resources is None:
        if len(vars_) != 2:
            raise ValueError(
                f"{fn} needs a two-resource law such as chinchilla (variables N and D); this fit has variables {vars_}"
            )
        return vars_[0], vars_[1]
    if isinstance(resources, str) or len(resources) != 2:
        raise ValueError(f"resources must be a pair of variable names (parameters first, then tokens), got {resources!r}")
    for r in resources:
        if r not in vars_:
            raise ValueError(f"resources: {r!r} is not a variable of the law (variables: {vars_})")
    if resources[0] == resources[1] or len(vars_) != 2:
        raise ValueError(f"resources must name the two distinct variables of a two-resource law; variables: {vars_}")
    return resources[0], resources[1]


def _closed_ok(src: _Source, rN: str, rD: str) -> bool:
    return src.kind == "chinchilla" and (rN, rD) == tuple(src.fit.variables)


# ---------------------------------------------------------------------------------------------
# compute-optimal allocation


class ComputeOptimal(_Result):
    """Compute-optimal allocation: ``N``, ``D``, ``tokens_per_param``, ``loss`` at each ``C``;
    exponents ``a``, ``b`` (N* ~ C^a, D* ~ C^b) and, for the closed form, ``G``."""

    def summary(self) -> str:
        rN, rD = self.resources
        lines = [
            f"compute-optimal allocation ({self.method}; C = {self.k:g} {rN} {rD} FLOP)",
            f"  a (N* ~ C^a) = {fmt(self.a)} {self._iv('a')}",
            f"  b (D* ~ C^b) = {fmt(self.b)} {self._iv('b')}",
        ]
        if "G" in self.values:
            lines.append(f"  G = {fmt(self.G)} {self._iv('G')}")
        if self.samples is not None:
            lines.append(f"  intervals: {self.level:.0%} percentile over {self.n_samples} bootstrap fits" + (f" ({self.n_invalid} without an interior optimum ignored)" if self.n_invalid else ""))
        lines.append("")
        lines.append(f"  {'C (FLOP)':>11}  {rN + '* (params)':>26}  {rD + '* (tokens)':>26}  {'tokens/param':>12}  {'loss':>8}")
        for i, c in enumerate(self.C):
            nn = f"{fmt(self.N[i])} {self._iv('N', i)}"
            dd = f"{fmt(self.D[i])} {self._iv('D', i)}"
            lines.append(f"  {c:>11.3e}  {nn:>26}  {dd:>26}  {self.tokens_per_param[i]:>12.4g}  {self.loss[i]:>8.4f}")
        return "\n".join(lines)


def _closed_form(P: Mapping[str, Any], C: np.ndarray, k: float) -> dict[str, Any]:
    E, A, al, B, be = P["E"], P["A"], P["alpha"], P["B"], P["beta"]
    ok = (al > 0) & (be > 0) & (A > 0) & (B > 0)
    s = np.where(ok, al + be, np.nan)
    a, b = be / s, al / s
    G = (al * A / (be * B)) ** (1 / s)
    N = G * (C / k) ** a
    D = (C / k) / N
    L = E + A * N ** -al + B * D ** -be
    return {"a": a, "b": b, "G": G, "N": N, "D": D, "tokens_per_param": D / N, "loss": L}


def _numeric_optimum(law: _Law, rN: str, rD: str, P: Mapping[str, Any], C: np.ndarray, k: float) -> tuple[np.ndarray, np.ndarray]:
    """(ln N*, L*) for every broadcast (sample, C); N in [1, C/k] (so that D >= 1)."""
    lnCk = np.log(C / k)
    shape = np.broadcast_shapes(np.shape(lnCk), *(np.shape(v) for v in P.values()))
    lnCk_b = np.broadcast_to(lnCk, shape)

    def fun(u: np.ndarray) -> np.ndarray:
        extra = u.ndim - len(shape)
        Pe = {n: np.asarray(v).reshape(np.shape(v) + (1,) * extra) for n, v in P.items()}
        ck = lnCk_b.reshape(shape + (1,) * extra)
        return law(Pe, {rN: np.exp(u), rD: np.exp(ck - u)})

    u = _minimize(fun, np.zeros(shape), lnCk_b)
    return u, fun(u)


def compute_optimal(
    fit_or_bs: FitResult | BootstrapResult,
    C: Any = None,
    *,
    k: float = 6.0,
    level: float = 0.95,
    method: str = "auto",
    resources: Sequence[str] | None = None,
) -> ComputeOptimal:
    """Loss-minimising split of a compute budget ``C = k N D`` between parameters N and tokens D.

    Parameters
    ----------
    fit_or_bs : FitResult or BootstrapResult of a two-resource law (e.g. ``"chinchilla"``).
    C : compute budgets in FLOP (scalar or array). Default: every decade from the smallest
        compute in the data to 1000x the largest.
    k : FLOPs per parameter per token (C = k N D; 6 for dense transformer training).
    level : interval level when a bootstrap is given (percentile over converged resamples).
    method : "auto" (closed form for chinchilla, numerical otherwise), "closed_form" or "numerical".
    resources : the (parameters, tokens) variable names; default the law's two variables in order.

    Closed form (chinchilla): ``a = beta/(alpha+beta)``, ``b = alpha/(alpha+beta)``,
    ``G = (alpha A / (beta B))^(1/(alpha+beta))``, ``N* = G (C/k)^a``, ``D* = (C/k)/N*``.
    Numerical: for each budget, a 96-point grid over ln N in [0, ln(C/k)] then 60 golden-section
    steps; ``a`` is the least-squares slope of ln N* against ln C over the requested range (a
    decade either side for a single budget) and ``b = 1 - a``.
    """
    src = _Source(fit_or_bs, "compute_optimal")
    level = _check_level(level)
    k = _positive_scalar(k, "k")
    rN, rD = _resources(src, resources, "compute_optimal")
    if C is None:
        cols = src.fit.problem.columns
        vi = [src.fit.variables.index(rN), src.fit.variables.index(rD)]
        cd = k * cols[vi[0]] * cols[vi[1]]
        lo, hi = math.floor(math.log10(cd.min())), math.ceil(math.log10(cd.max() * 1000))
        C = 10.0 ** np.arange(lo, hi + 1)
    Carr = _positive_array(C, "C")
    if method not in ("auto", "closed_form", "numerical"):
        raise ValueError(f"method must be 'auto', 'closed_form' or 'numerical', got {method!r}")
    closed = _closed_ok(src, rN, rD)
    if method == "closed_form" and not closed:
        raise ValueError(f"method='closed_form' needs the chinchilla form E + A*N^-alpha + B*D^-beta; this fit is {src.fit.formula!r}")
    use_closed = closed and method != "numerical"
    if use_closed:
        est, samples, n_invalid = _combine(src, _closed_form, Carr, k)
        _check_point(est, ["a", "N"], "compute_optimal", "alpha, beta, A and B must be positive for an interior optimum")
        meth = "closed form"
    else:
        law = src.law
        lo_c, hi_c = Carr.min(), Carr.max()
        C_exp = np.geomspace(lo_c, hi_c, 9) if hi_c > lo_c * 1.0001 else np.array([lo_c / 10, lo_c, lo_c * 10])
        allC = np.concatenate([Carr, C_exp])
        m = len(Carr)
        X = np.log(C_exp) - np.log(C_exp).mean()

        def func(P: Mapping[str, Any], Cs: np.ndarray) -> dict[str, Any]:
            u, L = _numeric_optimum(law, rN, rD, P, Cs, k)
            N = np.exp(u[..., :m])
            D = (Cs[:m] / k) / N
            ue = u[..., m:]
            a = ((ue - ue.mean(axis=-1, keepdims=True)) * X).sum(axis=-1) / (X * X).sum()
            return {"a": a, "b": 1 - a, "N": N, "D": D, "tokens_per_param": D / N, "loss": L[..., :m]}

        est, samples, n_invalid = _combine(src, func, allC)
        if not np.all(np.isfinite(est["loss"])):
            raise ValueError("compute_optimal: the law has no finite loss at the optimum for some budgets")
        meth = "numerical"
    return ComputeOptimal(
        {"C": Carr, **{k_: est[k_] for k_ in ("N", "D", "tokens_per_param", "loss", "a", "b") }, **({"G": est["G"]} if use_closed else {})},
        None if samples is None else {k_: v for k_, v in samples.items()},
        level,
        {"k": k, "method": meth, "form": src.fit.form, "resources": (rN, rD), "n_invalid": n_invalid},
    )


# ---------------------------------------------------------------------------------------------
# inverse question: resources to reach a target loss


class Required(_Result):
    """Resources needed to reach target loss(es): ``C`` (FLOP) and the compute-optimal ``N``,
    ``D`` for two-resource laws, or the amount of the single variable for one-variable laws.
    ``unreachable`` is the fraction of bootstrap fits whose irreducible loss is above the target."""

    def summary(self) -> str:
        names = [n for n in self.values if n != "loss_target"]
        lines = [f"required to reach a target loss ({self.method}" + (f"; C = {self.k:g} N D" if "C" in self.values else "") + ")"]
        if self.samples is not None:
            lines.append(f"  intervals: {self.level:.0%} percentile over {self.n_samples} bootstrap fits (inf: target unreachable in some)")
        for i, t in enumerate(self.loss_target):
            parts = [f"{n} = {fmt(float(self.values[n][i]))} {self._iv(n, i)}" for n in names]
            extra = f"  (unreachable in {self.unreachable[i]:.1%} of bootstrap fits)" if self.samples is not None and self.unreachable[i] > 0 else ""
            lines.append(f"  loss {t:.4g}: " + "; ".join(parts) + extra)
        return "\n".join(lines)


def required(
    fit_or_bs: FitResult | BootstrapResult,
    loss: Any,
    *,
    k: float = 6.0,
    level: float = 0.95,
    resources: Sequence[str] | None = None,
    method: str = "auto",
) -> Required:
    """Compute (and compute-optimal N, D) needed to reach a target ``loss`` (scalar or array).

    For one-variable laws (``power_law_plus_constant``, ``bnsl``...) the amount of that variable.
    A target at or below the fitted irreducible loss raises ValueError; with a bootstrap, resamples
    for which the target is unreachable give ``inf`` (reported as ``unreachable``).
    ``method``: "auto" (closed form for chinchilla / power laws) or "numerical" (bisection on the
    compute-optimal loss, for any law).
    """
    if method not in ("auto", "numerical"):
        raise ValueError(f"method must be 'auto' or 'numerical', got {method!r}")
    src = _Source(fit_or_bs, "required")
    level = _check_level(level)
    k = _positive_scalar(k, "k")
    tgt = as_float_array(loss, "loss")
    check_finite(tgt, "loss")
    if (tgt <= 0).any():
        raise ValueError(f"loss: target losses must be positive, got {tgt[tgt <= 0][0]}")
    vars_ = src.fit.variables
    kind = src.kind
    E = src.fit.params.get("E")
    if len(vars_) == 2 or resources is not None:
        rN, rD = _resources(src, resources, "required")
        if _closed_ok(src, rN, rD) and method == "auto":
            meth = "closed form"

            def func(P: Mapping[str, Any], t: np.ndarray) -> dict[str, Any]:
                cf = _closed_form(P, np.float64(k), k)  # C/k = 1: N = G, D = 1/G
                al, be = P["alpha"], P["beta"]
                gam = al * be / (al + be)
                K = P["A"] * cf["G"] ** -al + P["B"] * cf["G"] ** be
                red = t - P["E"]
                Ck = np.where(red > 0, (np.where(red > 0, red, 1.0) / K) ** (-1 / gam), np.inf)
                N = cf["G"] * Ck ** cf["a"]
                return {"C": k * Ck, "N": N, "D": np.where(np.isinf(Ck), np.inf, Ck / N)}

        else:
            meth = "numerical"
            law = src.law

            def func(P: Mapping[str, Any], t: np.ndarray) -> dict[str, Any]:
                shape = np.broadcast_shapes(t.shape, *(np.shape(v) for v in P.values()))
                tt = np.broadcast_to(t, shape)

                def lstar(lnC: np.ndarray) -> np.ndarray:
                    return _numeric_optimum(law, rN, rD, P, np.exp(lnC), k)[1]

                lo = math.log(k) + 1e-9
                u, below, above = _bisect_decreasing(lstar, tt, lo, _LOG_MAX + math.log(k))
                u = np.where(below, lo, u)
                C = np.where(above, np.inf, np.exp(u))
                lnN, _ = _numeric_optimum(law, rN, rD, P, np.where(above, k * 10, C), k)
                N = np.where(above, np.inf, np.exp(lnN))
                return {"C": C, "N": N, "D": np.where(above, np.inf, C / k / np.where(above, 1, N))}

        names = {"C": "C", "N": rN, "D": rD}
    elif len(vars_) == 1:
        v = vars_[0]
        if kind in ("power_law", "power_law_plus_constant") and method == "auto":
            meth = "closed form"

            def func(P: Mapping[str, Any], t: np.ndarray) -> dict[str, Any]:
                red = t - (P["E"] if "E" in P else 0.0)
                x = np.where(red > 0, (P["A"] / np.where(red > 0, red, 1.0)) ** (1 / P["alpha"]), np.inf)
                return {v: x}

        else:
            meth = "numerical"
            law = src.law

            def func(P: Mapping[str, Any], t: np.ndarray) -> dict[str, Any]:
                shape = np.broadcast_shapes(t.shape, *(np.shape(p) for p in P.values()))
                tt = np.broadcast_to(t, shape)
                u, below, above = _bisect_decreasing(lambda w: law(P, {v: np.exp(w)}), tt, 0.0, _LOG_MAX)
                return {v: np.where(above, np.inf, np.exp(np.where(below, 0.0, u)))}

        names = {v: v}
    else:
        raise ValueError(f"required needs a one- or two-variable law; this fit has variables {vars_}")
    est, samples, _ = _combine(src, func, tgt)
    first = next(iter(est))
    bad = ~np.isfinite(np.atleast_1d(est[first]))
    if bad.any():
        t = float(tgt[bad][0])
        floor = f"the fitted irreducible loss E = {E:.6g}" if E is not None else "the lowest loss the fitted law reaches (below 1e60 units)"
        raise ValueError(f"loss: target {t:g} is at or below {floor}; no amount of compute reaches it")
    values: dict[str, Any] = {"loss_target": tgt}
    values.update({n: np.atleast_1d(est[n]) for n in est})
    unreach = None
    if samples is not None:
        samples = {n: s.reshape(len(s), -1) for n, s in samples.items()}
        unreach = np.isinf(samples[first]).mean(axis=0)
    return Required(values, samples, level, {"k": k, "method": meth, "form": src.fit.form, "unreachable": unreach, "names": names})


# ---------------------------------------------------------------------------------------------
# returns to scale


class Returns(_Result):
    """Exponents of the reducible loss in each resource and the multiplier of that resource needed
    to divide the reducible loss by ``factor`` (``multiplier_X = factor^(1/exponent_X)``)."""

    def summary(self) -> str:
        lines = [
            f"returns to scale: reducible loss ~ resource^-exponent; multiplier to divide it by {self.factor:g}",
            f"  {'resource':<28}{'exponent':>10}{'':>24}{'multiplier':>12}{'':>24}",
        ]
        for r, desc in self.resources.items():
            lines.append(
                f"  {desc:<28}{fmt(self.values['exponent_' + r]):>10}{self._iv('exponent_' + r):>24}"
                f"{fmt(self.values['multiplier_' + r]):>12}{self._iv('multiplier_' + r):>24}"
            )
        if self.samples is not None:
            lines.append(f"  intervals: {self.level:.0%} percentile over {self.n_samples} bootstrap fits")
        return "\n".join(lines)

    @property
    def exponents(self) -> dict[str, float]:
        return {r: self.values["exponent_" + r] for r in self.resources}

    @property
    def multipliers(self) -> dict[str, float]:
        return {r: self.values["multiplier_" + r] for r in self.resources}


def returns(fit_or_bs: FitResult | BootstrapResult, factor: float = 2.0, *, level: float = 0.95) -> Returns:
    """Returns to scale: resources grow as (reducible loss)^(-1/exponent).

    For chinchilla: N alone (D unlimited) with exponent alpha, D alone with beta, and compute at
    the optimal allocation with ``gamma = alpha beta / (alpha + beta)``. For power laws in one
    variable: alpha. ``multiplier_X = factor^(1/exponent)`` is how many times more of X divides
    the reducible loss by ``factor`` (default 2: halve it).
    """
    src = _Source(fit_or_bs, "returns")
    level = _check_level(level)
    factor = _positive_scalar(factor, "factor")
    if factor <= 1:
        raise ValueError(f"factor must be > 1 (the reducible loss is divided by it), got {factor}")
    kind = src.kind
    if kind == "chinchilla":
        n, d = src.fit.variables
        res = {n: f"{n} alone (parameters)", d: f"{d} alone (tokens)", "C": "C, compute-optimal (FLOP)"}

        def func(P: Mapping[str, Any]) -> dict[str, Any]:
            al, be = P["alpha"], P["beta"]
            ex = {n: al, d: be, "C": al * be / (al + be)}
            return {**{"exponent_" + r: e for r, e in ex.items()}, **{"multiplier_" + r: np.where(e > 0, factor ** (1 / e), np.nan) for r, e in ex.items()}}

    elif kind in ("power_law", "power_law_plus_constant"):
        v = src.fit.variables[0]
        res = {v: v}

        def func(P: Mapping[str, Any]) -> dict[str, Any]:
            al = P["alpha"]
            return {"exponent_" + v: al, "multiplier_" + v: np.where(al > 0, factor ** (1 / al), np.nan)}

    else:
        raise ValueError(
            f"returns needs a power-law form (chinchilla, power_law, power_law_plus_constant); this fit is {src.fit.form!r} ({src.fit.formula})"
        )
    est, samples, n_invalid = _combine(src, func, extra_dims=0)
    _check_point(est, [k_ for k_ in est if k_.startswith("multiplier_")], "returns", "the fitted exponent must be positive")
    return Returns(est, samples, level, {"factor": factor, "resources": res, "form": src.fit.form, "n_invalid": n_invalid})


# ---------------------------------------------------------------------------------------------
# budgets with per-unit prices


class Budget(_Result):
    """Best allocation under per-unit prices: ``N``, ``D``, ``cost``, ``loss``, ``share_N`` (fraction
    of the cost spent on N), ``tokens_per_param`` and the training FLOPs ``C = k N D``."""

    def summary(self) -> str:
        rN, rD = self.resources
        goal = f"minimise loss within budget {fmt(self.budget)}" if self.budget is not None else f"minimise cost to reach loss {self.loss_target:g}"
        lines = [f"budget optimisation ({goal}); prices {rN}: {self.prices[rN]:g}, {rD}: {self.prices[rD]:g} per unit"]
        for name in ("N", "D", "cost", "loss", "share_N", "tokens_per_param", "C"):
            lines.append(f"  {name:<18}{fmt(float(self.values[name])):>14} {self._iv(name)}")
        if self.samples is not None:
            lines.append(f"  intervals: {self.level:.0%} percentile over {self.n_samples} bootstrap fits")
        return "\n".join(lines)


def optimize_budget(
    fit_or_bs: FitResult | BootstrapResult,
    prices: Mapping[str, float],
    budget: float | None = None,
    *,
    loss: float | None = None,
    k: float = 6.0,
    level: float = 0.95,
    resources: Sequence[str] | None = None,
) -> Budget:
    """Allocate a budget between two resources with per-unit prices: cost = p_N N + p_D D.

    Give ``budget`` to minimise the loss within it, or ``loss`` to find the cheapest allocation
    that reaches it. ``prices`` maps both resource variables (e.g. ``{"N": 1e-9, "D": 2e-12}``) to
    positive per-unit prices. Numerical (grid + golden section over ln N), vectorised over
    bootstrap samples. ``C = k N D`` reports the implied training FLOPs.
    """
    src = _Source(fit_or_bs, "optimize_budget")
    level = _check_level(level)
    k = _positive_scalar(k, "k")
    rN, rD = _resources(src, resources, "optimize_budget")
    if not isinstance(prices, Mapping):
        raise TypeError(f"prices must be a dict mapping {rN!r} and {rD!r} to per-unit prices, got {type(prices).__name__}")
    missing = [r for r in (rN, rD) if r not in prices]
    extra = [r for r in prices if r not in (rN, rD)]
    if missing or extra:
        raise ValueError(f"prices: missing {missing} / unknown {extra}; give a price for each of {rN!r} and {rD!r}")
    pN, pD = _positive_scalar(prices[rN], f"prices[{rN!r}]"), _positive_scalar(prices[rD], f"prices[{rD!r}]")
    if (budget is None) == (loss is None):
        raise ValueError("optimize_budget: give exactly one of budget= (minimise loss) or loss= (minimise cost)")
    law = src.law
    floor = pN + pD  # N = D = 1

    def best(P: Mapping[str, Any], lnB: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        shape = np.broadcast_shapes(np.shape(lnB), *(np.shape(v) for v in P.values()))
        Bb = np.broadcast_to(np.exp(lnB), shape)
        hi = np.log(np.maximum((Bb - pD) / pN, 1.0))

        def fun(u: np.ndarray) -> np.ndarray:
            extra = u.ndim - len(shape)
            Pe = {n: np.asarray(v).reshape(np.shape(v) + (1,) * extra) for n, v in P.items()}
            Be = Bb.reshape(shape + (1,) * extra)
            return law(Pe, {rN: np.exp(u), rD: (Be - pN * np.exp(u)) / pD})

        u = _minimize(fun, np.zeros(shape), hi)
        return u, fun(u)

    def pack(u: np.ndarray, B: np.ndarray, L: np.ndarray) -> dict[str, Any]:
        N = np.exp(u)
        D = (B - pN * N) / pD
        return {"N": N, "D": D, "cost": B, "loss": L, "share_N": pN * N / B, "tokens_per_param": D / N, "C": k * N * D}

    if budget is not None:
        B = _positive_scalar(budget, "budget")
        if B <= floor * 1.000001:
            raise ValueError(f"budget {B:g} is too small: one unit of each resource costs {floor:g}")

        def func(P: Mapping[str, Any]) -> dict[str, Any]:
            u, L = best(P, np.float64(math.log(B)))
            return pack(u, np.float64(B), L)

        meta_goal = {"budget": B, "loss_target": None}
    else:
        t = _positive_scalar(loss, "loss")
        lo, hi = math.log(floor) + 1e-6, math.log(floor) + _LOG_MAX

        def func(P: Mapping[str, Any]) -> dict[str, Any]:
            shape = np.broadcast_shapes(*(np.shape(v) for v in P.values()))
            lnB, below, above = _bisect_decreasing(lambda w: best(P, w)[1], np.full(shape, t), lo, hi)
            lnB = np.where(below, lo, lnB)
            u, L = best(P, lnB)
            out = pack(u, np.exp(lnB), L)
            return {n: np.where(above, np.inf if n not in ("share_N", "loss") else np.nan, v) for n, v in out.items()}

        meta_goal = {"budget": None, "loss_target": t}
    est, samples, n_invalid = _combine(src, func, extra_dims=0)
    if not np.isfinite(est["cost"]):
        E = src.fit.params.get("E")
        floor_s = f"the fitted irreducible loss E = {E:.6g}" if E is not None else "the lowest loss the law reaches"
        raise ValueError(f"loss: target {loss:g} is at or below {floor_s}; no budget reaches it")
    return Budget(est, samples, level, {"prices": {rN: pN, rD: pD}, "resources": (rN, rD), "k": k, "form": src.fit.form, "n_invalid": n_invalid, **meta_goal})


# ---------------------------------------------------------------------------------------------
# extrapolation and backtests


class Extrapolation(_Result):
    """Predicted loss ``y`` at new points, with bootstrap intervals (``interval="prediction"``
    adds resampled residual noise to each bootstrap law; ``"confidence"`` is the law alone)."""

    def summary(self) -> str:
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
    **columns: Any,
) -> Extrapolation:
    """Predict the loss at new points (``data`` dict/DataFrame or keyword columns).

    With a BootstrapResult: ``interval="prediction"`` (default) gives intervals for a new
    observation: each bootstrap law's value times a residual drawn from the fit's residuals (on
    the fit's target scale); ``"confidence"`` gives the interval of the law itself.
    """
    src = _Source(fit_or_bs, "extrapolate")
    level = _check_level(level)
    if interval not in ("prediction", "confidence"):
        raise ValueError(f"interval must be 'prediction' or 'confidence', got {interval!r}")
    if data is None:
        data = columns
    elif columns:
        raise TypeError("extrapolate: give either a data mapping or keyword columns, not both")
    fit = src.fit
    cols = as_columns(data, fit.variables, fit.problem.column_map, arg="data")
    X = {v: cols[v] for v in fit.variables}
    est = src.law(src.point(), X)
    if not np.all(np.isfinite(est)):
        raise ValueError("extrapolate: the fitted law is not finite at some of the points")
    samples = None
    if src.samples is not None:
        ys = src.law(src.sampled(1), {v: a[None, :] for v, a in X.items()})
        if interval == "prediction":
            rng = np.random.default_rng(seed)
            r = rng.choice(fit.residuals, size=ys.shape)
            ys = ys * np.exp(-r) if fit.target == "log" else ys - r
        samples = {"y": np.where(np.isfinite(ys), ys, np.nan)}
    return Extrapolation({"y": est}, samples, level, {"points": X, "form": fit.form, "interval_kind": interval})


@dataclass
class Backtest:
    """Result of :func:`backtest`: a law fitted on the smaller runs, checked on the held-out largest."""

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
        return float(np.mean(np.abs(self.rel_error)))

    @property
    def max_abs_rel_error(self) -> float:
        return float(np.max(np.abs(self.rel_error)))

    @property
    def rmse_log(self) -> float:
        return float(np.sqrt(np.mean(np.log(self.y_pred / self.y_true) ** 2)))

    @property
    def covered(self) -> np.ndarray | None:
        if self.lower is None:
            return None
        return (self.lower <= self.y_true) & (self.y_true <= self.upper)

    @property
    def coverage(self) -> float | None:
        """Fraction of held-out points inside their interval (None without a bootstrap)."""
        c = self.covered
        return None if c is None else float(c.mean())

    def summary(self) -> str:
        lines = [
            f"backtest: {self.form}, hold out {self.holdout}" + (f" (frac={self.frac:g})" if self.frac is not None else "")
            + f": fit {self.n_train} runs, predict {self.n_test}",
            f"  mean |rel error| {self.mape:.3%}, max {self.max_abs_rel_error:.3%}, rmse(log) {self.rmse_log:.4g}",
        ]
        if self.lower is not None:
            lines.append(f"  {self.level:.0%} {self.interval} intervals ({self.bootstrap.n_converged} bootstrap fits) cover {self.coverage:.1%} of held-out points")
        hdr = "  " + "".join(f"{n:>12}" for n in self.points) + f"{'observed':>11}{'predicted':>11}{'rel err':>9}"
        if self.lower is not None:
            hdr += f"{'interval':>22}{'covered':>9}"
        lines.append(hdr)
        for i in range(self.n_test):
            row = "  " + "".join(f"{self.points[n][i]:>12.4g}" for n in self.points)
            row += f"{self.y_true[i]:>11.4f}{self.y_pred[i]:>11.4f}{self.rel_error[i]:>9.2%}"
            if self.lower is not None:
                row += f"{f'[{self.lower[i]:.4f}, {self.upper[i]:.4f}]':>22}{'yes' if self.covered[i] else 'no':>9}"
            lines.append(row)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def to_dict(self) -> dict[str, Any]:
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
    n_resamples : pairs-bootstrap resamples of the training fit for the intervals (0: none).
    interval : "prediction" (law + residual noise; default) or "confidence" (law only).
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
        frac = None
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
    bs = None
    lower = upper = None
    if n_resamples > 0:
        bs = bootstrap(fr, n_resamples=int(n_resamples), seed=seed, progress=progress, n_threads=n_threads)
        ex = extrapolate(bs, pts, level=level, interval=interval, seed=seed)
        lower, upper = ex.interval("y")
        y_pred = ex.y
    else:
        y_pred = fr.predict(pts)
    return Backtest(
        form=fr.form, holdout=label, frac=frac, n_train=int(train.sum()), n_test=n_test, test_index=np.flatnonzero(test),
        points=pts, y_true=prob.y[test], y_pred=np.asarray(y_pred), lower=lower, upper=upper, level=level, interval=interval,
        fit=fr, bootstrap=bs,
    )
