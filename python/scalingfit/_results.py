"""Shared machinery of the analysis functions: the source of estimates (a fit or a bootstrap),
the law evaluated in Rust for many samples at once, vectorised searches, and the result base
class with intervals, ``summary()`` and ``to_dict()``."""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from typing import Any, Callable

import numpy as np

from . import _core
from ._bootstrap import BootstrapResult, _check_level
from ._compat import ResultCompat
from ._data import as_float_array, check_finite, fmt, jsonable
from ._diagnostics import emit
from ._fit import _FORMS, FitResult

_UNIT = "sf_unit__"
_BIG = 1e307
_LOG_MAX = math.log(1e60)  # search ranges: resources up to 1e60 units


# ---------------------------------------------------------------------------------------------
# sources: a fit or a bootstrap -> point parameters and (optional) parameter samples


class _Source:
    samples: np.ndarray | None

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


_jsonable = jsonable


def _short(v: Any) -> str:
    if isinstance(v, np.ndarray):
        if v.ndim == 0:
            return fmt(float(v))
        if v.size <= 4:
            return "[" + ", ".join(fmt(float(x)) for x in v.ravel()) + "]"
        return f"array(shape={v.shape})"
    if isinstance(v, (float, np.floating)):
        return fmt(float(v))
    if isinstance(v, (list, tuple, dict)) and len(repr(v)) > 40:
        return f"{type(v).__name__}(len={len(v)})"
    return repr(v)


class _Result(ResultCompat):
    """Named estimates (``values``) with optional bootstrap ``samples`` of the same names.

    Estimates and settings are instance attributes (``opt.N``, ``opt.a``, ``opt.method``), declared
    on each result class for type checkers (laws with other resource names add attributes named
    after them); a misspelt name raises AttributeError. ``interval(name)``/``ci`` give percentile
    intervals and ``stderr`` bootstrap standard deviations when built from a BootstrapResult.
    """

    _title = "result"
    values: dict[str, Any]
    samples: dict[str, np.ndarray] | None
    level: float
    meta: dict[str, Any]
    n_samples: int

    warnings: list[str]

    def __init__(self, values: dict[str, Any], samples: dict[str, np.ndarray] | None, level: float, meta: dict[str, Any]):
        self.values = values
        self.samples = samples
        self.level = level
        self.meta = meta
        self.n_samples = 0 if not samples else int(len(next(iter(samples.values()))))
        for name, v in {**meta, **values}.items():
            if hasattr(type(self), name) or name in ("values", "samples", "level", "meta", "n_samples"):
                raise RuntimeError(f"internal error: result field {name!r} would shadow an attribute of {type(self).__name__}")
            setattr(self, name, v)
        self.warnings = self._diagnose()
        emit(type(self).__name__, self.warnings, stacklevel=4)

    def __init_subclass__(cls, **kw: Any) -> None:
        # every result's summary ends with its warnings
        super().__init_subclass__(**kw)
        inner = cls.__dict__.get("summary")
        if inner is not None:
            @functools.wraps(inner)
            def summary(self: _Result, *a: Any, **k: Any) -> str:
                out = inner(self, *a, **k)
                beyond = self.meta.get("beyond_data")
                if beyond is not None and np.any(beyond):
                    idx = np.flatnonzero(np.atleast_1d(beyond))
                    out += (f"\n  extrapolation: answer{'s' if len(idx) > 1 else ''} {', '.join(str(i + 1) for i in idx[:12])}"
                            f"{' ...' if len(idx) > 12 else ''} (of {np.size(beyond)}) lie beyond the fitted data "
                            f"({self.meta.get('data_range', '')}): the law is extrapolated there")
                return out + "".join(f"\n  warning: {w}" for w in self.warnings)

            cls.summary = summary  # type: ignore[method-assign]

    def _diagnose(self) -> list[str]:
        """Resamples left out of the intervals, and intervals of zero width."""
        out = []
        bad = int(self.meta.get("n_invalid", 0) or 0)
        if bad and self.n_samples:
            out.append(
                f"{bad} of {self.n_samples} bootstrap resamples give no valid answer (an exponent or coefficient <= 0: no interior "
                f"optimum / positive exponent) and are left out, so the intervals describe only the other "
                f"{self.n_samples - bad}; {'the law is poorly identified' if bad > 0.05 * self.n_samples else 'a small share'}"
            )
        if self.samples is not None and self.n_samples - bad >= 2:
            flat = []
            for k, v in self.samples.items():
                with np.errstate(all="ignore"):
                    lo, hi = _pct(v, self.level)
                lo_a, hi_a = np.atleast_1d(lo), np.atleast_1d(hi)
                if np.any(np.isfinite(lo_a) & (hi_a - lo_a <= 1e-9 * np.maximum(np.abs(hi_a), 1e-300))):
                    flat.append(k)
            if flat:
                out.append(f"zero-width intervals for {', '.join(flat)}: every resample gives the same value, which measures no uncertainty")
        return out

    def interval(self, name: str, level: float | None = None) -> tuple[Any, Any]:
        """Percentile interval of ``name`` over the bootstrap samples (NaN-free samples only)."""
        if self.samples is None:
            raise ValueError(f"{type(self).__name__}.interval: no bootstrap samples; pass a BootstrapResult (sf.bootstrap) instead of a FitResult")
        if not isinstance(name, str):
            raise TypeError(f"interval: name must be a str, one of {', '.join(self.samples)}; got {type(name).__name__}")
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
        """Bootstrap standard error of each quantity (None without bootstrap samples)."""
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
        """JSON-ready dictionary of the result."""
        d = {"kind": type(self).__name__, **self.meta, "values": self.values, "level": self.level, "n_samples": self.n_samples,
             "warnings": list(self.warnings)}
        ci = self.ci
        if ci is not None:
            d["ci"] = {k: list(v) for k, v in ci.items()}
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
        if len(vals) > 200:
            vals = vals[:200].rsplit(", ", 1)[0] + ", ..."
        boot = f", bootstrap={self.n_samples} samples" if self.samples is not None else ""
        return f"{type(self).__name__}({vals}{boot})"

    def __str__(self) -> str:
        return self.summary()

    def summary(self) -> str:  # pragma: no cover - overridden
        """A readable report of the result, with its intervals and warnings."""
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
        s = len(next(iter(Ps.values())))
        samples = {k: _as_samples(v, s, np.shape(est[k])) for k, v in samples.items()}
        bad = np.zeros(s, bool)
        for v in samples.values():
            bad |= np.isnan(v.reshape(s, -1)).any(axis=1)
        n_invalid = int(bad.sum())
    est = {k: (float(v) if np.ndim(v) == 0 else np.asarray(v, float)) for k, v in est.items()}  # type: ignore[misc]
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


def _check_representable(est: dict[str, Any], names: Sequence[str], fn: str, arg: str, queries: Any = None) -> None:
    """Refuse a point answer that float64 cannot hold (inf, NaN or an underflow to 0 of a positive
    quantity), naming the argument (and the first offending query value) instead of returning it."""
    q = None if queries is None else np.atleast_1d(np.asarray(queries, float))
    for n in names:
        v = np.atleast_1d(np.asarray(est[n], float))
        bad = ~np.isfinite(v) | (v == 0)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            at = f" at {arg} = {q[i]:g}" if q is not None and i < q.size else ""
            raise ValueError(
                f"{arg}: {fn}{at} gives {n} = {v[i]:g}, outside the range float64 can hold; "
                f"ask about a {arg} closer to the data (the law is extrapolated over hundreds of decades there)"
            )


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


def _beyond(src: _Source, cols: Mapping[str, Any], k: float | None = None) -> dict[str, Any]:
    """Meta entries marking answers beyond the fitted data: ``beyond_data`` (a bool per answer:
    some input or output of ``cols``, by variable name, or ``C`` = k N D for two-resource laws,
    lies outside the data's range) and ``data_range`` (the ranges, for the summary)."""
    prob = src.fit.problem
    assert prob is not None
    vars_ = list(src.fit.variables)
    ranges = {v: (float(prob.columns[i].min()), float(prob.columns[i].max())) for i, v in enumerate(vars_)}
    if k is not None and len(vars_) == 2:
        c = k * prob.columns[0] * prob.columns[1]
        ranges["C"] = (float(c.min()), float(c.max()))
    flags: np.ndarray | None = None
    for name, a in cols.items():
        if name not in ranges or a is None:
            continue
        lo, hi = ranges[name]
        arr = np.atleast_1d(np.asarray(a, dtype=float))
        f = (arr < lo * (1 - 1e-12)) | (arr > hi * (1 + 1e-12))
        flags = f if flags is None else flags | f
    note = ", ".join(f"{n} in [{fmt(lo)}, {fmt(hi)}]" for n, (lo, hi) in ranges.items())
    return {"beyond_data": flags, "data_range": note}
