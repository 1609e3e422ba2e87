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

from ._bootstrap import BootstrapResult, bootstrap
from ._data import align_to, as_float_array, check_finite, check_level, check_seed, column_names, fmt, get_column, resolve_threads
from ._fit import FitResult, Problem, _run_fit, prepare, starts_array
from ._results import _combine, _pct, _Result, _Source

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


def _int_or_none(v: Any, arg: str, lo: int) -> int | None:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{arg} must be an integer >= {lo} (or None to skip), got {type(v).__name__} {v!r:.40}")
    if v < lo:
        raise ValueError(f"{arg} must be an integer >= {lo} (or None to skip), got {v!r}")
    return int(v)


def _row_values(data: Any, names: list[str], v: Any, arg: str, n: int | None, numeric: bool) -> np.ndarray:
    """A per-row array given as a column name of data or as values (pandas Series aligned on its index)."""
    if isinstance(v, str):
        if data is None or v not in names:
            raise ValueError(f"{arg}: data has no column {v!r}; columns: {', '.join(names) or 'no data given'}")
        v = get_column(data, v)
    elif data is not None:
        v = align_to(data, v, arg)
    a = as_float_array(v, arg) if numeric else np.asarray(v.to_numpy() if hasattr(v, "to_numpy") else v)
    if a.ndim != 1 or (n is not None and len(a) != n):
        raise ValueError(f"{arg} must have one value per row of data ({n}), got shape {a.shape}")
    if numeric:
        check_finite(a, arg)
    return a


def _units(g: np.ndarray | None, n: int) -> tuple[np.ndarray, int]:
    """(unit index of every row, number of units): rows, or groups when given."""
    inv = np.arange(n) if g is None else np.unique(g, return_inverse=True)[1].reshape(-1)
    return inv, int(inv.max()) + 1


def _folds(n: int, cv: int, seed: int, g: np.ndarray | None) -> np.ndarray:
    inv, n_units = _units(g, n)
    if n_units < cv:
        raise ValueError(f"cv: {cv} folds need at least {cv} {'groups' if g is not None else 'rows'}, got {n_units}")
    of_unit = np.empty(n_units, dtype=np.int64)
    of_unit[np.random.default_rng(seed).permutation(n_units)] = np.arange(n_units) % cv
    return of_unit[inv]


def _largest(scale: np.ndarray, frac: float, g: np.ndarray | None) -> np.ndarray:
    """Mask of the largest-scale rows (at least ``frac`` of them; ties at the threshold all held
    out); with groups, whole groups ranked by their largest scale."""
    n = len(scale)
    inv, n_units = _units(g, n)
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
    inv, k = _units(g, len(v))
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
    fit_kwargs : further :func:`scalingfit.fit` settings for every candidate (``weights``,
        ``n_starts``, ``bounds``, ...); a candidate's own settings take precedence.

    Every candidate is fitted 2 + cv times (full data, leave-largest-out, each fold); the fold
    fits do not raise warnings, but their failures and non-convergence are counted in the table.

    >>> sf.compare_forms(["chinchilla", "kaplan_nd"], sf.datasets.hoffmann_example(seed=0), "loss", cv=None).best
    'chinchilla'
    """
    seed = check_seed(seed)
    cv = _int_or_none(cv, "cv", 2)
    if holdout_frac is not None:
        holdout_frac = _number(holdout_frac, "holdout_frac")
        if not 0 < holdout_frac < 1:
            raise ValueError(f"holdout_frac must be in (0, 1), the fraction of largest rows to hold out; got {holdout_frac!r}")
    if cv is None and holdout_frac is None:
        raise ValueError("cv and holdout_frac are both None: nothing to score")
    if (bad := sorted(set(fit_kwargs) - set(_SHARED_KW))):
        raise TypeError(f"compare_forms got unexpected keyword argument(s) {bad}; fit settings are {', '.join(_SHARED_KW)}")
    threads = resolve_threads(n_threads)
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
        n_starts = _int_or_none(merged.pop("n_starts", 64), f"forms: candidate {name!r}: n_starts", 1) or 64
        st, gr = merged.pop("starts", None), merged.pop("grid", None)
        try:
            prob = prepare(form, table, y, loss=loss, target=target, **merged)
            starts = starts_array(prob, st, gr)
        except (ValueError, TypeError) as e:
            raise type(e)(f"forms: candidate {name!r}: {e}") from None
        cands.append(_Cand(name, prob, starts, n_starts, len(prob.param_names)))
    n = cands[0].prob.n
    g = None if groups is None else _row_values(data, names, groups, "groups", n, numeric=False)
    n_groups = None if g is None else _units(g, n)[1]
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
        scale = _row_values(data, names, by, "by", n, numeric=True)
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
    return _number(irreducible, "irreducible")


def _number(v: Any, arg: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not math.isfinite(v):
        raise TypeError(f"{arg} must be a finite number, got {type(v).__name__} {v!r:.40}")
    return float(v)


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
        grid = np.sort(_row_values(None, [], points, "points", None, numeric=True))
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
    held = {v: _number(at[v], f"at['{v}']") if v in at else float(np.median(prob.columns[vars_.index(v)])) for v in others}
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
    xs = _row_values(data, names, x, "x", None, numeric=True)
    n, ys = len(xs), _row_values(data, names, y, "y", len(xs), numeric=True)
    if (xs <= 0).any():
        raise ValueError(f"x must be positive (its logarithm is taken), got {xs[xs <= 0][0]!r}")
    if isinstance(irreducible, str) and irreducible != "auto":
        raise TypeError("irreducible: without a law, give a number (a known irreducible loss E, to look at ln(y - E)) or None")
    e = 0.0 if irreducible is None or irreducible == "auto" else _number(irreducible, "irreducible")
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
        rng, g = np.random.default_rng(seed), None if groups is None else _row_values(data, names, groups, "groups", n, numeric=False)
        inv, n_units = _units(g, n)
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

    >>> sf.local_exponent(sf.fit("power_law", {"x": [1, 2, 4, 8]}, y=[8, 4, 2, 1]), "x").slope.round(3)[:2].tolist()
    [-1.0, -1.0]
    """
    level = check_level(level)
    seed = check_seed(seed)
    n_res = _int_or_none(n_resamples, "n_resamples", 0)
    if fit_or_bs is not None:
        given = [k for k, v in (("data", data), ("y", y), ("x", x), ("n_windows", n_windows), ("groups", groups)) if v is not None]
        if given:
            raise TypeError(f"local_exponent: {', '.join(given)} belong to the model-free mode (no fit_or_bs); "
                            "with a fitted law name the variable with var=")
        ext = 0.25 if extend is None else _number(extend, "extend")
        if ext < 0:
            raise ValueError(f"extend must be >= 0 (the fraction of the data's log-range added beyond each end), got {ext!r}")
        npts = 25 if n_points is None else _int_or_none(n_points, "n_points", 2)
        return _law_mode(fit_or_bs, var, points, at, irreducible, ext, int(npts or 25), n_res or 0, seed, level)
    given = [k for k, v in (("var", var), ("points", points), ("at", at), ("extend", extend), ("n_points", n_points)) if v is not None]
    if given:
        raise TypeError(f"local_exponent: {', '.join(given)} need a fitted law (fit_or_bs); without one name the column with x=")
    nw = 4 if n_windows is None else _int_or_none(n_windows, "n_windows", 2)
    return _data_mode(data, y, x, irreducible, int(nw or 4), groups, 200 if n_res is None else n_res, seed, level)
