"""Local exponents: is a law (or the data itself) a single power law, or does it bend?

:func:`local_exponent` gives the slope d ln(L - E) / d ln x of a fitted law along one variable, or
model-free from windows of the data, with bootstrap intervals and a verdict on whether the curve
bends (:class:`LocalExponent`). :mod:`scalingfit.compare` re-exports both.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from ._bootstrap import BootstrapResult, bootstrap
from ._data import check_level, check_seed, column_names, finite_number, fmt, int_or_none, row_values, units
from ._fit import FitResult
from ._results import _combine, _pct, _Result, _Source

__all__ = ["local_exponent", "LocalExponent"]


class LocalExponent(_Result):
    """Result of :func:`local_exponent`: the local log-log ``slope`` (and ``exponent = -slope``)
    at each ``x`` (values of ``var``), with percentile intervals (``interval("slope")``) when
    resampled; ``extrapolated`` marks the points beyond the data's range (``data_range``);
    ``change`` is the slope at the data's largest ``var`` (last window) minus that at the smallest
    (first window), ``bends`` whether its interval excludes 0 (None without intervals), and
    ``verdict`` says it in words. ``mode`` is "law" or "data"; ``quantity`` names the derivative;
    the model-free mode adds ``windows`` (edges in x) and ``n_rows`` (rows per window)."""

    x: np.ndarray
    slope: np.ndarray
    exponent: np.ndarray
    extrapolated: np.ndarray
    change: float
    bends: bool | None
    verdict: str
    var: str
    mode: str
    quantity: str
    form: str | None
    at: dict[str, float]
    data_range: tuple[float, float]
    windows: np.ndarray | None
    n_rows: np.ndarray | None
    n_invalid: int

    def summary(self) -> str:
        """A readable report of the result, with its intervals and warnings."""
        law = self.mode == "law"
        what = f"the law {self.form}" if law else "the data (least squares of the logs in overlapping windows)"
        lines = [f"local exponent along {self.var}: {self.quantity} of {what}"]
        if self.samples is not None:
            lines.append(f"  {self.level:.0%} percentile intervals over {self.n_samples} {'bootstrap fits' if law else 'resamples of the rows'}")
        lines += ["  other variables held at " + ", ".join(f"{k}={fmt(v)}" for k, v in self.at.items())] if self.at else []
        lines.append(f"  {self.var if law else self.var + ' (centre)':>16}{'slope':>11}{'interval':>24}" + ("" if law else f"{'rows':>7}"))
        for i, xv in enumerate(self.x):
            rows = "" if self.n_rows is None else f"{int(self.n_rows[i]):>7}"
            lines.append(f"  {fmt(float(xv)):>16}{fmt(float(self.slope[i])):>11}{self._iv('slope', i):>24}{rows}"
                         + ("  extrapolation" if self.extrapolated[i] else ""))
        lines.append(f"  change across the data's range: {fmt(self.change)} {self._iv('change')}")
        lines.append(f"  verdict: {self.verdict}")
        n_ex = int(np.sum(self.extrapolated))
        if n_ex:
            lines.append(f"  extrapolation: {n_ex} of {len(self.x)} points lie beyond the data's range of {self.var} "
                         f"[{fmt(self.data_range[0])}, {fmt(self.data_range[1])}]: the law's answer there is not checked by data")
        return "\n".join(lines)

    def _diagnose(self) -> list[str]:
        if not (self.n_invalid and self.n_samples):
            return []
        why = "a window with fewer than 2 distinct x" if self.mode == "data" else "the law or its reducible part not positive and finite"
        return [f"{self.n_invalid} of {self.n_samples} resamples give an undefined slope somewhere ({why}); intervals there use the others"]


def _irreducible(fit: FitResult, irreducible: Any) -> str | float | None:
    src = fit.formula.replace(" ", "")
    if irreducible == "auto":  # an additive parameter E (power_law_plus_constant, chinchilla) or a (bnsl)
        return next((e for e in ("E", "a") if e in fit.param_names and (src.startswith(e + "+") or src.endswith("+" + e))), None)
    if irreducible is None:
        return None
    if isinstance(irreducible, str):
        if irreducible not in fit.param_names:
            raise ValueError(f"irreducible: {irreducible!r} is not a parameter of the law (parameters: {', '.join(fit.param_names)}); "
                             "give the name of its irreducible term, a number, None, or 'auto'")
        return irreducible
    return finite_number(irreducible, "irreducible")


def _verdict_bend(slope: np.ndarray, xs: np.ndarray, i0: int, i1: int, change: float, ci: tuple[float, float] | None,
                  var: str, constant: bool, data_mode: bool) -> tuple[bool | None, str]:
    a, b = fmt(float(slope[i0])), fmt(float(slope[i1]))
    where = f"from {a} at {var}={fmt(float(xs[i0]))} to {b} at {var}={fmt(float(xs[i1]))}"
    if not math.isfinite(change):
        return None, "the slope is undefined at the ends of the data's range (the reducible loss is not positive there)"
    if constant:
        return False, (f"constant by construction: this law's slope is {a} everywhere, so it cannot show a bend; ask the data "
                       "with local_exponent(data=..., y=..., x=...) or let compare_forms weigh it against a form that can bend (bnsl)")
    if ci is None:
        return None, f"the slope goes {where}; no intervals to tell a bend from noise (pass a BootstrapResult or n_resamples=)"
    lo, hi = ci
    way = "steeper" if change < 0 else "flatter"
    if lo <= 0 <= hi:
        return False, f"consistent with a single power law over the data's range: the slope goes {where}, change {fmt(change)} [{fmt(lo)}, {fmt(hi)}] includes 0"
    txt = f"it bends: the slope goes {where} ({way} at large {var}), change {fmt(change)} [{fmt(lo)}, {fmt(hi)}] excludes 0"
    if data_mode and change > 0:
        txt += "; an irreducible loss flattens ln y too (pass irreducible= a known floor to look at ln(y - E))"
    return True, txt


def _law_mode(fit_or_bs: Any, var: Any, points: Any, at: Any, irreducible: Any, extend: float, n_points: int,
              n_resamples: int, seed: int, level: float) -> LocalExponent:
    if n_resamples and isinstance(fit_or_bs, FitResult):
        fit_or_bs = bootstrap(fit_or_bs, n_resamples=n_resamples, seed=seed)
    elif n_resamples:
        raise ValueError("n_resamples: give it with a FitResult (or data=); a BootstrapResult already has its resamples")
    src = _Source(fit_or_bs, "local_exponent")
    fit = src.fit
    vars_ = list(fit.variables)
    if var is None and len(vars_) != 1:
        raise ValueError(f"var: the law has variables {', '.join(vars_)}; name the one to vary, e.g. var={vars_[0]!r}")
    var = vars_[0] if var is None else var
    if not isinstance(var, str) or var not in vars_:
        raise ValueError(f"var must be a variable of the law ({', '.join(vars_)}), got {var!r}")
    prob = fit._data_problem("local_exponent")
    col = prob.columns[vars_.index(var)]
    lo, hi = float(col.min()), float(col.max())
    if points is None:
        if not hi > lo:
            raise ValueError(f"var: the data has a single value of {var} ({fmt(lo)}); give points=")
        step = math.log(hi / lo) / (n_points - 1)
        k = int(round(extend * (n_points - 1)))
        grid = np.exp(math.log(lo) + step * np.arange(-k, n_points + k))
        grid[k], grid[k + n_points - 1] = lo, hi
    else:
        grid = np.sort(row_values(None, [], points, "points", None, numeric=True))
        if grid[0] <= 0:
            raise ValueError(f"points must be positive values of {var}, got {grid[0]!r}")
    extrap = (grid < lo) | (grid > hi)
    inside = np.flatnonzero(~extrap)
    i0, i1 = (int(inside[0]), int(inside[-1])) if len(inside) >= 2 else (0, len(grid) - 1)
    at = {} if at is None else at
    if not isinstance(at, Mapping):
        raise TypeError(f"at must be a dict of the other variables' values, e.g. {{'D': 1e11}}; got {type(at).__name__}")
    others = [v for v in vars_ if v != var]
    for k_ in at:
        if k_ not in others:
            raise ValueError(f"at: {k_!r} is not one of the other variables of the law ({', '.join(others) or 'none'})")
    held = {v: finite_number(at[v], f"at['{v}']") if v in at else float(np.median(prob.columns[vars_.index(v)])) for v in others}
    irr = _irreducible(fit, irreducible)
    h = 1e-4

    def slopes(P: Mapping[str, Any]) -> dict[str, Any]:
        e = 0.0 if irr is None else (P[irr] if isinstance(irr, str) else irr)
        ln = [np.log(src.law(P, {v: (grid * math.exp(sg * h) if v == var else held[v]) for v in vars_}) - e) for sg in (1.0, -1.0)]
        s = (ln[0] - ln[1]) / (2 * h)
        s = np.where(np.isfinite(s), s, np.nan)
        return {"slope": s, "exponent": -s, "change": s[..., i1] - s[..., i0]}

    est, samples, n_invalid = _combine(src, slopes, extra_dims=1)
    sl = np.asarray(est["slope"])
    ref = np.abs(sl[inside]).max() if len(inside) and np.isfinite(sl[inside]).all() else 1.0
    constant = bool(len(inside) and np.isfinite(sl[inside]).all() and np.ptp(sl[inside]) <= 1e-6 * max(ref, 1e-12))
    if constant and samples is not None:
        constant = bool(np.nanmax(np.abs(samples["change"])) <= 1e-6 * max(ref, 1e-12))
    ci = None if samples is None else _pct(samples["change"], level)
    bends, verdict = _verdict_bend(sl, grid, i0, i1, float(est["change"]), ci, var, constant, False)
    if len(inside) < 2:
        verdict += " (fewer than two points lie in the data's range: this is extrapolation)"
    quantity = f"d ln L/d ln {var}" if irr is None else f"d ln(L - {irr if isinstance(irr, str) else fmt(irr)})/d ln {var}"
    values = {"x": grid, "slope": sl, "exponent": -sl, "extrapolated": extrap, "change": float(est["change"]), "bends": bends,
              "verdict": verdict}
    meta = {"var": var, "mode": "law", "quantity": quantity, "form": fit.form if fit.form != "formula" else fit.formula, "at": held,
            "data_range": (lo, hi), "windows": None, "n_rows": None, "n_invalid": n_invalid}
    return LocalExponent(values, samples, level, meta)


def _window_slopes(counts: np.ndarray, masks: np.ndarray, lx: np.ndarray, ly: np.ndarray) -> np.ndarray:
    """Least-squares slopes of ly on lx in each window, for each row of counts (resample weights)."""
    out = np.empty((counts.shape[0], masks.shape[0]))
    for j, m in enumerate(masks):
        c = counts * m
        s0 = c.sum(axis=1)
        with np.errstate(all="ignore"):
            mx, my = (c @ lx) / s0, (c @ ly) / s0
            sxx = c @ (lx * lx) - s0 * mx * mx
            sxy = c @ (lx * ly) - s0 * mx * my
            span = float(np.ptp(lx[m]))
            out[:, j] = np.where(sxx > 1e-10 * s0 * span * span, sxy / sxx, np.nan)
    return out


def _data_mode(data: Any, y: Any, x: Any, irreducible: Any, n_windows: int, groups: Any, n_resamples: int, seed: int,
               level: float) -> LocalExponent:
    if x is None or y is None:
        raise ValueError("local_exponent: give a fitted law (fit_or_bs), or x= and y= (columns of data=, or arrays) for the model-free slopes")
    names = column_names(data) if data is not None else []
    xs = row_values(data, names, x, "x", None, numeric=True)
    n, ys = len(xs), row_values(data, names, y, "y", len(xs), numeric=True)
    if (xs <= 0).any():
        raise ValueError(f"x must be positive (its logarithm is taken), got {xs[xs <= 0][0]!r}")
    if isinstance(irreducible, str) and irreducible != "auto":
        raise TypeError("irreducible: without a law, give a number (a known irreducible loss E, to look at ln(y - E)) or None")
    e = 0.0 if irreducible is None or irreducible == "auto" else finite_number(irreducible, "irreducible")
    if (ys - e <= 0).any():
        i = int(np.flatnonzero(ys - e <= 0)[0])
        raise ValueError(f"y{' - irreducible' if e else ''} must be positive (its logarithm is taken), got {ys[i] - e!r} at row {i}")
    lx, ly = np.log(xs), np.log(ys - e)
    lo, hi = float(lx.min()), float(lx.max())
    if not hi > lo:
        raise ValueError("x: every row has the same value; a slope needs a range of x")
    width = 2 * (hi - lo) / (n_windows + 1)
    left = lo + np.arange(n_windows) * width / 2
    tol = 1e-12 * max(1.0, abs(lo), abs(hi))
    masks = (lx[None, :] >= left[:, None] - tol) & (lx[None, :] <= left[:, None] + width + tol)
    n_rows = masks.sum(axis=1)
    for j, m in enumerate(masks):
        distinct = len(np.unique(lx[m]))
        if n_rows[j] < 5 or distinct < 3:
            raise ValueError(f"n_windows={n_windows}: window {j + 1} ({fmt(math.exp(left[j]))} to {fmt(math.exp(left[j] + width))}) holds "
                             f"{n_rows[j]} rows with {distinct} distinct x; each needs 5 rows and 3 values of x: use fewer windows or more data")
    lx = lx - lx.mean()  # centred: the slopes are the same, the sums of squares more accurate
    point = _window_slopes(np.ones((1, n)), masks, lx, ly)[0]
    samples, n_invalid = None, 0
    if n_resamples:
        rng, g = np.random.default_rng(seed), None if groups is None else row_values(data, names, groups, "groups", n, numeric=False)
        inv, n_units = units(g, n)
        chunk = max(1, int(2_000_000 // max(n, n_units)))
        sl = np.concatenate([_window_slopes(rng.multinomial(n_units, np.full(n_units, 1.0 / n_units), size=min(chunk, n_resamples - s))
                                            .astype(np.float64)[:, inv], masks, lx, ly) for s in range(0, n_resamples, chunk)])
        n_invalid = int(np.isnan(sl).any(axis=1).sum())
        samples = {"slope": sl, "exponent": -sl, "change": sl[:, -1] - sl[:, 0]}
    change = float(point[-1] - point[0])
    ci = None if samples is None else _pct(samples["change"], level)
    centres = np.exp(left + width / 2)
    label = x if isinstance(x, str) else "x"
    bends, verdict = _verdict_bend(point, centres, 0, n_windows - 1, change, ci, label, False, True)
    ytxt = "ln y" if not e else f"ln(y - {fmt(e)})"
    values = {"x": centres, "slope": point, "exponent": -point, "extrapolated": np.zeros(n_windows, bool), "change": change,
              "bends": bends, "verdict": verdict}
    meta = {"var": label, "mode": "data", "quantity": f"d {ytxt}/d ln {label}", "form": None, "at": {},
            "data_range": (math.exp(lo), math.exp(hi)), "windows": np.exp(np.stack([left, left + width], axis=1)), "n_rows": n_rows,
            "n_invalid": n_invalid}
    return LocalExponent(values, samples, level, meta)


def local_exponent(
    fit_or_bs: FitResult | BootstrapResult | None = None,
    var: str | None = None,
    *,
    points: Any = None,
    at: Mapping[str, float] | None = None,
    irreducible: Any = "auto",
    extend: float | None = None,
    n_points: int | None = None,
    data: Any = None,
    y: Any = None,
    x: Any = None,
    n_windows: int | None = None,
    groups: Any = None,
    n_resamples: int | None = None,
    seed: int = 0,
    level: float = 0.95,
) -> LocalExponent:
    """Is it a power law, or does it bend? The local log-log slope along one variable.

    Of a fitted law (``local_exponent(fit_or_bs, var)``): ``d ln(L - E)/d ln x``, where ``E`` is
    the law's irreducible term (``irreducible="auto"``: a parameter ``E`` or ``a`` added at the
    top level, as in power_law_plus_constant, chinchilla, bnsl and :func:`broken_power_law`;
    else none), or ``d ln L/d ln x`` for laws without one (power_law, kaplan_nd) or with
    ``irreducible=None``; a parameter name or a number chooses another. A pure power law in the
    reducible loss has a constant slope (-alpha) by construction, so only a law that can bend
    can show one. The slope is evaluated (central differences in ln x) at ``n_points`` (25)
    points spanning the data's range of ``var`` and ``extend`` (0.25) of that log-range beyond
    each end, or at ``points``; points beyond the data are marked ``extrapolated``. Other
    variables are held at ``at`` (default: their data medians); for chinchilla along N the slope
    of ``A N^-alpha + B D^-beta`` then flattens where the D term dominates. With a
    BootstrapResult (or a FitResult and ``n_resamples``: bootstrapped with ``seed``) every
    slope and the ``change`` from the data's smallest to largest ``var`` get percentile
    intervals, and the verdict is whether the interval of ``change`` excludes 0.

    Model-free (``local_exponent(data=..., y=..., x=...)``, columns or arrays): ordinary least squares slopes of ``ln y`` (``ln(y
    - irreducible)`` for a given number) on ``ln x`` in ``n_windows`` (4) windows of equal log-width overlapping by half and
    spanning the data, with ``n_resamples`` (200) bootstrap resamples of the rows (of whole ``groups`` when given) drawn from
    ``seed``; the verdict compares the first and the last window (the interval of their difference). Other variables are not held
    fixed: use rows along one axis (e.g. the compute-optimal frontier). An irreducible loss in ``y`` itself flattens ``ln y``.

    Returns
    -------
    LocalExponent
        ``x`` (the points, or the window centres), ``slope``, ``change`` (the slope's change
        across the data), ``extrapolated`` per point, ``bends`` and a ``verdict`` in words; with
        resamples, intervals by ``interval("slope")`` / ``interval("change")``; ``summary()``,
        ``to_frame()``, ``to_polars()``.

    Examples
    --------
    >>> sf.local_exponent(sf.fit("power_law", {"x": [1, 2, 4, 8]}, y=[8, 4, 2, 1]), "x").slope.round(3)[:2].tolist()
    [-1.0, -1.0]
    """
    level = check_level(level)
    seed = check_seed(seed)
    n_res = int_or_none(n_resamples, "n_resamples", 0)
    if fit_or_bs is not None:
        given = [k for k, v in (("data", data), ("y", y), ("x", x), ("n_windows", n_windows), ("groups", groups)) if v is not None]
        if given:
            raise TypeError(f"local_exponent: {', '.join(given)} belong to the model-free mode (no fit_or_bs); "
                            "with a fitted law name the variable with var=")
        ext = 0.25 if extend is None else finite_number(extend, "extend")
        if ext < 0:
            raise ValueError(f"extend must be >= 0 (the fraction of the data's log-range added beyond each end), got {ext!r}")
        npts = 25 if n_points is None else int_or_none(n_points, "n_points", 2)
        return _law_mode(fit_or_bs, var, points, at, irreducible, ext, int(npts or 25), n_res or 0, seed, level)
    given = [k for k, v in (("var", var), ("points", points), ("at", at), ("extend", extend), ("n_points", n_points)) if v is not None]
    if given:
        raise TypeError(f"local_exponent: {', '.join(given)} need a fitted law (fit_or_bs); without one name the column with x=")
    nw = 4 if n_windows is None else int_or_none(n_windows, "n_windows", 2)
    return _data_mode(data, y, x, irreducible, int(nw or 4), groups, 200 if n_res is None else n_res, seed, level)
