"""Model comparison: which law fits and, above all, which one extrapolates.

:func:`compare_forms` fits several candidate laws on the same rows and scores each by K-fold cross-validation, by a leave-largest-out backtest (fit on
the smaller runs, predict the largest), and by AIC/BIC. :func:`local_exponent` asks whether a law (or the data itself) is a single power law or bends.
:func:`broken_power_law` writes the formula of a smoothly broken power law with any number of breaks (the built-in ``bnsl`` form has exactly one).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from types import SimpleNamespace
from typing import Any

import numpy as np

from ._compat import Table
from ._data import check_seed, column_names, finite_number, fmt, int_or_none, resolve_threads, row_values, threads_or_jobs, units
from ._fit import FitResult, Problem, _run_fit, prepare, starts_array
from ._results import _Result
from .exponent import LocalExponent, local_exponent

__all__ = ["compare_forms", "local_exponent", "broken_power_law", "FormComparison", "LocalExponent"]

# settings a candidate may carry itself ({"form": ..., "positive": [...]}); loss and target are
# shared by every candidate so that their errors are on one scale
_FORM_KW = ("positive", "bounds", "starts", "grid", "n_starts", "delta", "max_iter", "ftol", "xtol", "gtol", "columns", "check_names")
_SHARED_KW = _FORM_KW + ("weights",)


# ---------------------------------------------------------------------------------------------
# broken power laws


def broken_power_law(breaks: int = 1, var: str = "x", *, irreducible: bool = True) -> dict[str, Any]:
    """A smoothly broken power law with ``breaks`` breaks (BNSL, Caballero et al. 2023), as a
    candidate for :func:`compare_forms` or the arguments of :func:`scalingfit.fit`
    (``sf.fit(**broken_power_law(2), data=..., y=...)``)::

        L = a + b * x^-c0 * prod_i (1 + (x / d_i)^(1 / f_i))^(-c_i * f_i)

    Around ``x = d_i`` the log-log slope changes by ``-c_i`` (steeper for ``c_i > 0``, flatter
    for ``c_i < 0``) over a width of about ``f_i`` in ln x; ``b``, ``d_i`` and ``f_i`` are fitted
    in log space, ``a`` and the exponents linearly. Returns ``{"form": formula, "positive": [...],
    "n_starts": ...}``: laws with several breaks are multimodal (the breaks may also swap labels),
    so they get 128 starts per break.
    With ``breaks=1`` this is the built-in ``bnsl`` form; ``breaks=0`` is ``a + b * x^-c0``. A
    sharper-kinked alternative, as a formula: ``E + exp(smoothmin(a0 - c0*log(x), a1 - c1*log(x), k))``
    (positive ``E``, ``k``) steepens from slope -c0 to -c1 (c1 > c0) at ln x = (a1 - a0)/(c1 - c0);
    ``smoothmax`` flattens; nest them (``smoothmin(smoothmin(l0, l1, k), l2, k)``) for more breaks.
    ``irreducible=False`` drops ``a``. Breaks beyond the data's range are not identified: give
    as many as the data can show, and let :func:`compare_forms` decide.

    Examples
    --------
    >>> law = sf.broken_power_law(2)
    >>> law["form"]
    'a + b * x^-c0 * (1 + (x / d1)^(1 / f1))^(-c1 * f1) * (1 + (x / d2)^(1 / f2))^(-c2 * f2)'
    >>> law["positive"], law["n_starts"]
    (['b', 'd1', 'f1', 'd2', 'f2'], 256)
    """
    if isinstance(breaks, bool) or not isinstance(breaks, (int, np.integer)) or not 0 <= breaks <= 9:
        raise ValueError(f"breaks must be an integer from 0 to 9, got {breaks!r}")
    if not isinstance(var, str) or not var.isidentifier():
        raise ValueError(f"var must be the name of the data column (an identifier), got {var!r}")
    terms = [f"(1 + ({var} / d{i})^(1 / f{i}))^(-c{i} * f{i})" for i in range(1, int(breaks) + 1)]
    law = " * ".join([f"b * {var}^-c0"] + terms)
    positive = ["b"] + [p for i in range(1, int(breaks) + 1) for p in (f"d{i}", f"f{i}")]
    return {"form": f"a + {law}" if irreducible else law, "positive": positive, "n_starts": 64 if breaks < 2 else 128 * int(breaks)}


# ---------------------------------------------------------------------------------------------
# compare_forms


class FormComparison(_Result):
    """Result of :func:`compare_forms`: one row per candidate in ``table`` (a list of dicts;
    ``pandas.DataFrame(cmp.table)``), best first by leave-largest-out error.

    Row fields: ``form`` (the candidate's name), ``formula``, ``n_params``, ``rank``,
    ``holdout_rmse``/``holdout_se`` (leave-largest-out RMSE on the target scale and its
    delta-method standard error over the held-out rows or groups), ``cv_rmse``/``cv_se`` (mean of
    the per-fold RMSEs and their standard error, sd/sqrt(K)), ``cv_fold_rmse``, ``rmse``
    (in-sample), ``aic``, ``aicc``, ``bic`` (None unless ``loss="l2"``), ``converged`` and
    ``warnings`` (count) of the full-data fit, ``cv_failed``/``cv_not_converged`` (folds whose fit
    raised / did not converge), ``holdout_converged`` and ``notes``.

    Also: ``ranking`` (names, best first), ``best``, ``verdict`` (one sentence), the settings
    (``cv``, ``seed``, ``holdout_frac``, ``by``, ``n_groups``, ``loss``, ``target``, ``n``),
    ``folds`` (fold index of every row), ``holdout_rows`` (indices of the held-out rows),
    ``holdout_extrapolation`` (largest held-out scale / largest training scale: the held-out
    predictions are extrapolations by that factor), and, not in ``to_dict()``, ``fits`` (the
    full-data FitResult of each candidate) and ``residuals`` (per candidate ``{"cv": out-of-fold
    residuals of every row, "holdout": residuals of the held-out rows}``, target scale).

    ``to_frame()`` / ``to_polars()``: the ranking, one row per candidate, best first (index
    ``form``), the columns of ``table`` but the per-fold errors (``notes`` as a count); pandas'
    ``attrs`` holds the verdict.
    """

    table: list[dict[str, Any]]
    ranking: list[str]
    best: str
    verdict: str
    n: int
    cv: int | None
    seed: int
    holdout_frac: float | None
    by: str
    n_groups: int | None
    loss: str
    target: str
    folds: np.ndarray | None
    holdout_rows: np.ndarray | None
    holdout_extrapolation: float | None
    fits: dict[str, FitResult]
    residuals: dict[str, dict[str, np.ndarray]]

    def summary(self) -> str:
        """A readable report of the result, with its intervals and warnings."""
        tgt = "log y" if self.target == "log" else "y"
        lines = [f"model comparison: {len(self.table)} forms on {self.n} rows (errors are RMSE of {tgt}; loss={self.loss})"]
        unit = f"{self.n_groups} groups" if self.n_groups else "rows"
        lines += [f"  cross-validation: {self.cv} folds over {unit} (seed {self.seed})"] if self.cv else []
        if self.holdout_rows is not None and self.holdout_frac is not None:
            lines.append(f"  leave-largest-out: fit without the {len(self.holdout_rows)} rows of largest {self.by} "
                         f"(holdout_frac={self.holdout_frac:g}{', whole groups' if self.n_groups else ''}), predict them")
            if self.holdout_extrapolation is not None:
                lines.append(f"  extrapolation: the held-out predictions reach {fmt(self.holdout_extrapolation)}x the largest "
                             f"training {self.by}")
        lines.append(f"  {'rank':<5}{'form':<28}{'p':>3}{'holdout':>11}{'(se)':>10}{'cv':>11}{'(se)':>10}{'in-sample':>11}"
                     f"{'AIC':>10}{'BIC':>10}  conv warn")
        for r in self.table:
            name = r["form"] if len(r["form"]) <= 27 else r["form"][:24] + "..."
            lines.append(
                f"  {r['rank']:<5}{name:<28}{r['n_params']:>3}{_f(r['holdout_rmse']):>11}{_f(r['holdout_se']):>10}"
                f"{_f(r['cv_rmse']):>11}{_f(r['cv_se']):>10}{_f(r['rmse']):>11}{_f(r['aic'], 1):>10}{_f(r['bic'], 1):>10}"
                f"  {'yes' if r['converged'] else 'NO':>4}{r['warnings']:>5}"
            )
        lines.append(f"  verdict: {self.verdict}")
        lines.append("  AIC/BIC: not given for loss='huber' (they are Gaussian likelihoods, meaningful for loss='l2' only)" if self.loss != "l2"
                     else f"  AIC/BIC: Gaussian likelihood of the residuals of {tgt}, k = parameters + 1 (the variance); lower is better")
        for r in self.table:
            lines.extend(f"  note ({r['form']}): {n}" for n in r["notes"])
        return "\n".join(lines)

    def _table(self) -> Table:
        """One row per candidate, best first (index ``form``); the per-fold errors and notes of
        ``table`` are left out (``notes`` becomes a count)."""
        rows = self.table
        skip = {"form", "cv_fold_rmse", "notes"}
        cols: dict[str, Any] = {k: [r[k] for r in rows] for k in rows[0] if k not in skip}
        cols["notes"] = [len(r["notes"]) for r in rows]
        return Table(cols, ("form", [r["form"] for r in rows]), {"verdict": self.verdict})

    def _diagnose(self) -> list[str]:
        best = self.table[0]
        out = [] if best["converged"] else [f"the full-data fit of the best form {best['form']!r} did not converge"]
        if best["cv_failed"]:
            out.append(f"the fit of the best form {best['form']!r} failed in {best['cv_failed']} cross-validation folds")
        return out


def _f(v: Any, digits: int = 4) -> str:
    return "-" if v is None else str(v) if not math.isfinite(v) else f"{v:.1f}" if digits == 1 else f"{v:.4g}"


@dataclasses.dataclass
class _Cand:
    name: str
    prob: Problem
    starts: np.ndarray | None
    n_starts: int
    p: int


def _candidates(forms: Any) -> list[tuple[str, str, dict[str, Any]]]:
    if isinstance(forms, (str, bytes)) or not isinstance(forms, (Mapping, Sequence)):
        raise TypeError(f"forms must be a list of form names / formulas, or a dict name -> form; got {type(forms).__name__} "
                        f"{forms!r:.60} (wrap a single form in a list)")
    items = list(forms.items()) if isinstance(forms, Mapping) else [(None, f) for f in forms]
    out: list[tuple[str, str, dict[str, Any]]] = []
    for name, spec in items:
        kw = dict(spec) if isinstance(spec, Mapping) else {}
        form = kw.pop("form", None) if isinstance(spec, Mapping) else spec
        if not isinstance(form, str):
            raise TypeError(f"forms: each candidate must be a form name, a formula or a dict with 'form' (a name or formula); got {spec!r:.80}")
        if (bad := sorted(set(kw) - set(_FORM_KW))):
            raise TypeError(f"forms: candidate {form!r}: unknown setting(s) {bad}; a candidate may set {', '.join(_FORM_KW)}")
        label = form if name is None else name
        if not isinstance(label, str):
            raise TypeError(f"forms: candidate names must be strings, got {label!r:.40}")
        if any(label == o[0] for o in out):
            raise ValueError(f"forms: candidate {label!r} is given twice")
        out.append((label, form, kw))
    if not out:
        raise ValueError("forms: give at least one candidate form")
    return out


def _folds(n: int, cv: int, seed: int, g: np.ndarray | None) -> np.ndarray:
    inv, n_units = units(g, n)
    if n_units < cv:
        raise ValueError(f"cv: {cv} folds need at least {cv} {'groups' if g is not None else 'rows'}, got {n_units}")
    of_unit = np.empty(n_units, dtype=np.int64)
    of_unit[np.random.default_rng(seed).permutation(n_units)] = np.arange(n_units) % cv
    return of_unit[inv]


def _largest(scale: np.ndarray, frac: float, g: np.ndarray | None) -> np.ndarray:
    """Mask of the largest-scale rows (at least ``frac`` of them; ties at the threshold all held
    out); with groups, whole groups ranked by their largest scale."""
    n = len(scale)
    inv, n_units = units(g, n)
    top = np.full(n_units, -np.inf)
    np.maximum.at(top, inv, scale)
    size = np.bincount(inv, minlength=n_units)
    order = np.argsort(-top, kind="stable")
    j = min(int(np.searchsorted(np.cumsum(size[order]), frac * n - 1e-9)), n_units - 1)
    return (top >= top[order[j]])[inv]


def _msq(r: np.ndarray, w: np.ndarray | None) -> float:
    return float(np.mean(r * r)) if w is None else float(np.sum(w * r * r) / np.sum(w)) if np.sum(w) > 0 else math.nan


def _resid(prob: Problem, x: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Residuals (prediction - observation, on the target scale) of parameters x at rows; +inf
    where the law is not finite or, for a log target, not positive."""
    pred, _ = prob.formula.eval(np.asarray(x, np.float64), np.ascontiguousarray(prob.columns[:, rows]), False)
    y = prob.y[rows]
    with np.errstate(all="ignore"):
        r = np.log(pred) - np.log(y) if prob.target == "log" else pred - y
    return np.where(np.isfinite(r), r, np.inf)


def _fit_rows(c: _Cand, rows: np.ndarray, n_threads: int) -> FitResult:
    p = c.prob
    sub = dataclasses.replace(p, columns=np.ascontiguousarray(p.columns[:, rows]), y=p.y[rows],
                              weights=None if p.weights is None else p.weights[rows])
    return _run_fit(sub, c.starts, c.n_starts, n_threads)


def _unit_mean(v: np.ndarray, g: np.ndarray | None) -> np.ndarray:
    inv, k = units(g, len(v))
    return v if g is None else np.bincount(inv, weights=v, minlength=k) / np.bincount(inv, minlength=k)


def _se_mean(v: np.ndarray) -> float:
    return float(np.std(v, ddof=1) / math.sqrt(len(v))) if len(v) > 1 and np.all(np.isfinite(v)) else math.nan


def _info(r: np.ndarray, w: np.ndarray | None, p: int) -> tuple[float, float, float]:
    """(AIC, AICc, BIC) of Gaussian residuals r (weights: variance sigma^2 / w), with the
    maximum-likelihood variance and k = p + 1 parameters (the variance counts, as in R)."""
    w = np.ones_like(r) if w is None else w
    r, w = r[w > 0], w[w > 0]
    n, k = len(r), p + 1
    s2 = float(np.sum(w * r * r)) / n
    if not math.isfinite(s2) or s2 <= 0:
        return math.nan, math.nan, math.nan
    ll = -0.5 * n * (math.log(2 * math.pi * s2) + 1) + 0.5 * float(np.sum(np.log(w)))
    aic = 2 * k - 2 * ll
    return aic, aic + 2 * k * (k + 1) / (n - k - 1) if n - k - 1 > 0 else math.nan, k * math.log(n) - 2 * ll


def _score(c: _Cand, folds: np.ndarray | None, cv: int | None, test: np.ndarray | None, g: np.ndarray | None,
           n_threads: int) -> tuple[dict[str, Any], FitResult, dict[str, np.ndarray]]:
    prob, n, w = c.prob, c.prob.n, c.prob.weights
    full = _run_fit(prob, c.starts, c.n_starts, n_threads)
    r_full = _resid(prob, full.x, np.arange(n))
    row: dict[str, Any] = {"form": c.name, "formula": full.formula, "n_params": c.p, "rank": 0, "rmse": math.sqrt(_msq(r_full, w)),
                           "converged": full.converged, "warnings": len(full.warnings), "notes": list(full.warnings), "cv_rmse": None,
                           "cv_se": None, "cv_fold_rmse": [], "cv_failed": 0, "cv_not_converged": 0, "holdout_rmse": None,
                           "holdout_se": None, "holdout_converged": None, "aic": None, "aicc": None, "bic": None}
    res: dict[str, np.ndarray] = {}
    if folds is not None and cv is not None:
        oof = np.full(n, np.nan)
        per: list[float] = []
        for k in range(cv):
            te = folds == k
            try:
                fr = _fit_rows(c, np.flatnonzero(~te), n_threads)
            except ValueError as e:
                row["cv_failed"] += 1
                row["notes"].append(f"cv fold {k}: the fit failed ({e})")
                per.append(math.nan)
                continue
            row["cv_not_converged"] += not fr.converged
            oof[te] = _resid(prob, fr.x, np.flatnonzero(te))
            per.append(math.sqrt(_msq(oof[te], None if w is None else w[te])))
        arr = np.array(per)
        row["cv_fold_rmse"], row["cv_rmse"], row["cv_se"], res["cv"] = per, float(np.mean(arr)), _se_mean(arr), oof
        if row["cv_not_converged"]:
            row["notes"].append(f"{row['cv_not_converged']} of {cv} fold fits did not converge")
        if np.isinf(arr).any():
            row["notes"].append("the law fitted in some fold is not finite (or not positive) at some held-out rows: infinite error")
    if test is not None:
        try:
            fr = _fit_rows(c, np.flatnonzero(~test), n_threads)
        except ValueError as e:
            row["notes"].append(f"leave-largest-out: the fit failed ({e})")
            row["holdout_rmse"] = math.nan
        else:
            r = _resid(prob, fr.x, np.flatnonzero(test))
            res["holdout"] = r
            mse = _msq(r, None if w is None else w[test])
            row["holdout_rmse"], row["holdout_converged"] = math.sqrt(mse), fr.converged
            e2 = _unit_mean(r * r, None if g is None else g[test])
            row["holdout_se"] = _se_mean(e2) / (2 * math.sqrt(mse)) if mse > 0 else math.nan
            if not fr.converged:
                row["notes"].append("the leave-largest-out fit did not converge")
            if np.isinf(r).any():
                row["notes"].append("the law fitted on the smaller runs is not finite (or not positive) at some held-out rows")
    if prob.loss == "l2":
        row["aic"], row["aicc"], row["bic"] = _info(r_full, w, c.p)
    return row, full, res


def _sort_key(row: dict[str, Any], key: str) -> tuple:
    def k(v: Any) -> tuple[int, float]:
        return (2, 0.0) if v is None or math.isnan(v) else (1, 0.0) if math.isinf(v) else (0, v)

    return k(row[key]) + k(row["cv_rmse"]) + (row["n_params"],)


def _paired(a: dict[str, Any], b: dict[str, Any], key: str, res: dict[str, dict[str, np.ndarray]],
            g_test: np.ndarray | None) -> tuple[float, float, str, str | None]:
    """Paired difference of a's and b's errors: squared held-out errors row by row (group means
    with groups) or the fold RMSEs; (mean difference, its standard error, over what, tie), tie
    "equal" below 1e-6 of the errors (e.g. one law written twice), "se" within one se, else None."""
    if key == "holdout_rmse":
        ra, rb = res[a["form"]].get("holdout"), res[b["form"]].get("holdout")
        d = _unit_mean(ra * ra - rb * rb, g_test) if ra is not None and rb is not None else np.array([])
        over, scale = f"{len(d)} held-out {'groups' if g_test is not None else 'rows'}", max(a[key], b[key]) ** 2
    else:
        d = np.array(a["cv_fold_rmse"]) - np.array(b["cv_fold_rmse"])
        over, scale = f"{len(d)} folds", max(a[key], b[key])
    diff = float(np.mean(d)) if len(d) else math.nan
    se = _se_mean(d)
    return diff, se, over, "equal" if abs(diff) <= 1e-6 * scale else "se" if math.isfinite(se) and abs(diff) <= se else None


def _verdict(rows: list[dict[str, Any]], res: dict[str, dict[str, np.ndarray]], key: str, g_test: np.ndarray | None) -> str:
    what = "leave-largest-out" if key == "holdout_rmse" else "cross-validated"
    a = rows[0]
    if a[key] is None or not math.isfinite(a[key]):
        return f"no candidate has a finite {what} error; see the notes"
    head = f"best by {what} error: {a['form']!r} (RMSE {fmt(a[key])})"
    b = rows[1] if len(rows) > 1 else None
    if b is None or b[key] is None or not math.isfinite(b[key]):
        return head + ("" if b is None else f"; every other candidate has an infinite or undefined {what} error")
    diff, se, over, tie = _paired(a, b, key, res, g_test)
    diff_txt = f"mean squared error {fmt(a[key] ** 2)} vs {fmt(b[key] ** 2)}" if key == "holdout_rmse" else f"fold RMSE {fmt(a[key])} vs {fmt(b[key])}"
    head += f", runner-up {b['form']!r} (RMSE {fmt(b[key])})"
    if tie:
        simpler = a if a["n_params"] <= b["n_params"] else b
        why = "the errors are equal (the laws coincide on these data)" if tie == "equal" else \
            f"the difference is within one standard error ({diff_txt}, se {fmt(se)} paired over {over})"
        return head + f": {why}, so the data do not separate them; the simpler is {simpler['form']!r} ({simpler['n_params']} parameters)"
    if not math.isfinite(se):
        return head + f": no standard error of the difference from {over}; compare the cross-validated errors too"
    return head + f": {abs(diff) / se:.1f} standard errors apart ({diff_txt}, paired over {over})"


def compare_forms(
    forms: Any,
    data: Any,
    y: Any = None,
    *,
    cv: int | None = 5,
    seed: int = 0,
    holdout_frac: float | None = 0.2,
    by: Any = None,
    groups: Any = None,
    loss: str | None = None,
    target: str | None = None,
    n_threads: int | None = None,
    n_jobs: int | None = None,
    **fit_kwargs: Any,
) -> FormComparison:
    """Fit several candidate laws on the same rows and rank them by how well they predict.

    Parameters
    ----------
    forms : list of built-in form names (see :func:`scalingfit.forms`) and formula strings, or a
        dict ``name -> form``. A form may also be a dict ``{"form": ..., **settings}`` with its own
        ``positive``, ``bounds``, ``starts``, ``grid``, ``n_starts``, ``columns``... (see
        :func:`broken_power_law`). Columns of ``data`` that a candidate does not use are allowed.
    data, y : as for :func:`scalingfit.fit` (dict of arrays or DataFrame; ``y`` array or column).
    cv : number of folds of K-fold cross-validation (>= 2; None skips it). Rows (or groups) are
        shuffled with ``seed`` and dealt round-robin into folds, so folds differ by at most one
        unit in size and are the same for every candidate and every call with the same seed.
    holdout_frac : the leave-largest-out test (None skips it): the rows with the largest scale,
        at least this fraction of them (ties at the threshold are all held out), are predicted
        by the law fitted on the others. With ``groups`` whole groups are held out, ranked by
        their largest scale. These predictions are extrapolations: the best form for
        extrapolation is the one with the lowest ``holdout_rmse``, and the ranking uses it.
    by : the scale for "largest": a column name or per-row values. Default: the column ``C``
        (compute) when ``data`` has one, else the product of the first candidate's variables
        (``N * D`` for chinchilla-type data: the same order as compute 6ND; the variable itself
        for one-variable laws).
    groups : a label per row (or a column name), e.g. the run of each checkpoint: folds and the
        held-out set then keep each group whole, and standard errors are over groups.
    loss, target : as for :func:`scalingfit.fit`, shared by all candidates (default Huber on
        log y). Errors are RMSEs of the residuals on the target scale (``ln f - ln y`` for the log
        target), weighted when ``weights`` are given. AIC, AICc and BIC (Gaussian likelihood of
        those residuals, k = parameters + 1) are given only for ``loss="l2"``, the fit that
        maximises that likelihood; with Huber they are None.
    n_threads : threads for each candidate's starts (default: all cores); ``n_jobs`` is an alias
        (scikit-learn's name; -1: all cores).
    fit_kwargs : further :func:`scalingfit.fit` settings for every candidate (``weights``,
        ``n_starts``, ``bounds``, ...); a candidate's own settings take precedence.

    Every candidate is fitted 2 + cv times (full data, leave-largest-out, each fold); the fold
    fits do not raise warnings, but their failures and non-convergence are counted in the table.

    Returns
    -------
    FormComparison
        ``table``: one dict per candidate, best first (``rank``, ``n_params``, ``rmse``,
        ``cv_rmse``/``cv_se``, ``holdout_rmse``/``holdout_se``, ``aic``/``aicc``/``bic``,
        ``converged``, ``warnings``); ``best``, the winner's name, and ``ranking``; ``fits``, the
        full-data fits by name; ``verdict``, which says when the top two are within one standard
        error; ``summary()``, ``to_frame()``, ``to_polars()``.

    Examples
    --------
    >>> sf.compare_forms(["chinchilla", "kaplan_nd"], sf.datasets.hoffmann_example(seed=0), "loss", cv=None).best
    'chinchilla'
    """
    seed = check_seed(seed)
    cv = int_or_none(cv, "cv", 2)
    if holdout_frac is not None:
        holdout_frac = finite_number(holdout_frac, "holdout_frac")
        if not 0 < holdout_frac < 1:
            raise ValueError(f"holdout_frac must be in (0, 1), the fraction of largest rows to hold out; got {holdout_frac!r}")
    if cv is None and holdout_frac is None:
        raise ValueError("cv and holdout_frac are both None: nothing to score")
    if (bad := sorted(set(fit_kwargs) - set(_SHARED_KW))):
        raise TypeError(f"compare_forms got unexpected keyword argument(s) {bad}; fit settings are {', '.join(_SHARED_KW)}")
    threads = resolve_threads(threads_or_jobs(n_threads, n_jobs))
    specs = _candidates(forms)
    if data is None:
        raise ValueError("data is required: a dict of arrays or a DataFrame with the candidates' variables")
    names = column_names(data)
    # a dict seen as a table (columns, get_column): sf.fit refuses dict columns that a formula does
    # not use (a typo guard), but the candidates of one comparison use different columns
    table = SimpleNamespace(columns=list(data), get_column=data.__getitem__) if isinstance(data, Mapping) else data
    cands = []
    for name, form, kw in specs:
        merged = {**fit_kwargs, **kw}
        n_starts = int_or_none(merged.pop("n_starts", 64), f"forms: candidate {name!r}: n_starts", 1) or 64
        st, gr = merged.pop("starts", None), merged.pop("grid", None)
        try:
            prob = prepare(form, table, y, loss=loss, target=target, **merged)
            starts = starts_array(prob, st, gr)
        except (ValueError, TypeError) as e:
            raise type(e)(f"forms: candidate {name!r}: {e}") from None
        cands.append(_Cand(name, prob, starts, n_starts, len(prob.param_names)))
    n = cands[0].prob.n
    g = None if groups is None else row_values(data, names, groups, "groups", n, numeric=False)
    n_groups = None if g is None else units(g, n)[1]
    widest, p_max = max(cands, key=lambda c: c.p).name, max(c.p for c in cands)
    folds = None
    if cv is not None:
        folds = _folds(n, cv, seed, g)
        small = n - int(np.bincount(folds, minlength=cv).max())
        if small < p_max + 1:
            raise ValueError(f"cv: with {cv} folds of {n} rows a training set has only {small} rows, too few to fit the "
                             f"{p_max} parameters of {widest!r} (need {p_max + 1}); use fewer folds or more data")
    test, factor = None, None
    by = "C" if by is None and "C" in names else by
    if by is None:
        c0 = cands[0].prob
        scale, by_label = np.prod(c0.columns, axis=0), "*".join(c0.column_map.get(v, v) for v in c0.variables)
    else:
        scale = row_values(data, names, by, "by", n, numeric=True)
        by_label = by if isinstance(by, str) else "by"
    if holdout_frac is not None:
        test = _largest(scale, float(holdout_frac), g)
        if (n_train := n - int(test.sum())) < p_max + 1:  # ties at the threshold are all held out
            raise ValueError(f"holdout_frac={holdout_frac:g} leaves {n_train} training rows (below the largest {by_label}), too few to fit "
                             f"the {p_max} parameters of {widest!r} (need {p_max + 1}); hold out less or give more data")
        factor = float(np.max(scale[test]) / np.max(scale[~test])) if np.max(scale[~test]) > 0 else None
    scored = {c.name: _score(c, folds, cv, test, g, threads) for c in cands}
    fits, res = {k: v[1] for k, v in scored.items()}, {k: v[2] for k, v in scored.items()}
    key = "holdout_rmse" if test is not None else "cv_rmse"
    rows = [{**r, "rank": i} for i, r in enumerate(sorted((v[0] for v in scored.values()), key=lambda r: _sort_key(r, key)), 1)]
    verdict = _verdict(rows, res, key, None if g is None or test is None else g[test])
    if test is not None and cv is not None:
        best_cv = min(rows, key=lambda r: _sort_key(r, "cv_rmse"))
        if best_cv is not rows[0] and math.isfinite(best_cv["cv_rmse"]) and not _paired(best_cv, rows[0], "cv_rmse", res, None)[3]:
            verdict += (f". Cross-validation (interpolation) prefers {best_cv['form']!r}: the law that fits best "
                        f"is not the one that extrapolates best")
    meta = {"n": n, "cv": cv, "seed": seed, "holdout_frac": None if holdout_frac is None else float(holdout_frac), "by": by_label,
            "n_groups": n_groups, "loss": cands[0].prob.loss, "target": cands[0].prob.target, "folds": folds,
            "holdout_rows": None if test is None else np.flatnonzero(test), "holdout_extrapolation": factor}
    values = {"table": rows, "ranking": [r["form"] for r in rows], "best": rows[0]["form"], "verdict": verdict}
    out = FormComparison(values, None, 0.95, meta)
    out.fits, out.residuals = fits, res
    return out


# ---------------------------------------------------------------------------------------------
# local exponents
