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
from typing import Any

import numpy as np

from ._bootstrap import BootstrapResult, _check_level
from ._data import as_float_array, check_finite, fmt
from ._fit import FitResult
from ._results import (
    _LOG_MAX,
    _beyond,
    _bisect_decreasing,
    _check_point,
    _check_representable,
    _closed_ok,
    _combine,
    _Law,
    _minimize,
    _positive_array,
    _positive_scalar,
    _resources,
    _Result,
    _Source,
)
from ._validation import Backtest, Extrapolation, backtest, extrapolate

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



# ---------------------------------------------------------------------------------------------
# compute-optimal allocation


class ComputeOptimal(_Result):
    """Compute-optimal allocation: ``N``, ``D``, ``tokens_per_param``, ``loss`` at each ``C``;
    exponents ``a``, ``b`` (N* ~ C^a, D* ~ C^b) and, for the closed form, ``G``."""

    C: np.ndarray
    N: np.ndarray
    D: np.ndarray
    tokens_per_param: np.ndarray
    loss: np.ndarray
    a: float
    b: float
    G: float  # closed form only
    k: float
    method: str
    form: str
    resources: tuple[str, str]
    n_invalid: int

    def summary(self) -> str:
        """A readable report of the result, with its intervals and warnings."""
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


def _use_closed_form(src: _Source, rN: str, rD: str, method: str) -> bool:
    """Whether ``method`` ("auto", "closed_form" or "numerical") takes the chinchilla closed
    forms for this law, or a ValueError naming ``method``."""
    if method not in ("auto", "closed_form", "numerical"):
        raise ValueError(f"method must be 'auto', 'closed_form' or 'numerical', got {method!r}")
    closed = _closed_ok(src, rN, rD)
    if method == "closed_form" and not closed:
        raise ValueError(f"method='closed_form' needs the chinchilla form E + A*N^-alpha + B*D^-beta; this fit is {src.fit.formula!r}")
    return closed and method != "numerical"


def _closed_form(P: Mapping[str, Any], C: np.ndarray | np.float64, k: float) -> dict[str, Any]:
    # in log space: C / k, N* and D* stay exact where they are representable, whatever C and k
    E, A, al, B, be = P["E"], P["A"], P["alpha"], P["B"], P["beta"]
    ok = (al > 0) & (be > 0) & (A > 0) & (B > 0)
    s = np.where(ok, al + be, np.nan)
    a, b = be / s, al / s
    lnG = (np.log(np.where(ok, al * A, np.nan)) - np.log(np.where(ok, be * B, np.nan))) / s
    lnCk = np.log(C) - math.log(k)
    lnN = lnG + a * lnCk
    lnD = lnCk - lnN
    N, D = np.exp(lnN), np.exp(lnD)
    L = E + A * np.exp(-al * lnN) + B * np.exp(-be * lnD)
    return {"a": a, "b": b, "G": np.exp(lnG), "N": N, "D": D, "tokens_per_param": np.exp(lnD - lnN), "loss": L}


def _numeric_optimum(law: _Law, rN: str, rD: str, P: Mapping[str, Any], C: np.ndarray, k: float) -> tuple[np.ndarray, np.ndarray]:
    """(ln N*, L*) for every broadcast (sample, C); N in [1, C/k] (so that D >= 1)."""
    lnCk = np.log(C) - math.log(k)
    shape = np.broadcast_shapes(np.shape(lnCk), *(np.shape(v) for v in P.values()))
    lnCk_b = np.broadcast_to(lnCk, shape)

    def fun(u: np.ndarray) -> np.ndarray:
        extra = u.ndim - len(shape)
        Pe = {n: np.asarray(v).reshape(np.shape(v) + (1,) * extra) for n, v in P.items()}
        ck = lnCk_b.reshape(shape + (1,) * extra)
        return law(Pe, {rN: np.exp(u), rD: np.exp(ck - u)})

    u = _minimize(fun, np.zeros(shape), lnCk_b)
    return u, fun(u)


def _flat_at(law: _Law, rN: str, rD: str, P: Mapping[str, Any], C: np.ndarray, k: float, u: np.ndarray, L: np.ndarray) -> np.ndarray:
    """Where the loss at ln N = u does not change (to the last bit) when N moves by a factor e
    either way: the reducible loss is below float64's resolution next to E, so no optimum is
    defined numerically there."""
    lnCk = np.log(C) - math.log(k)

    def at(w: np.ndarray) -> np.ndarray:
        return law(P, {rN: np.exp(w), rD: np.exp(lnCk - w)})

    return (at(u - 1.0) == L) & (at(u + 1.0) == L)


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

    Returns
    -------
    ComputeOptimal
        ``N``, ``D``, ``tokens_per_param``, ``loss`` at each budget, the exponents ``a``, ``b``
        (with intervals from a BootstrapResult: ``interval("N")``), ``summary()``.

    Examples
    --------
    >>> import scalingfit as sf
    >>> from scalingfit.datasets import hoffmann_example
    >>> fit = sf.fit("chinchilla", hoffmann_example(seed=0), "loss")
    >>> opt = sf.compute_optimal(fit, [1e21, 1e22])
    >>> round(float(opt.a), 2), opt.N.shape
    (0.45, (2,))
    """
    src = _Source(fit_or_bs, "compute_optimal")
    level = _check_level(level)
    k = _positive_scalar(k, "k")
    rN, rD = _resources(src, resources, "compute_optimal")
    if C is None:
        cols = src.fit._data_problem("compute_optimal").columns
        vi = [src.fit.variables.index(rN), src.fit.variables.index(rD)]
        # decades from the data's smallest compute k*N*D to 1000x its largest, in log space
        # (k*N*D itself may overflow), kept within [k, the largest float64]
        with np.errstate(divide="ignore", invalid="ignore"):
            lcd = math.log10(k) + np.log10(cols[vi[0]]) + np.log10(cols[vi[1]])
        if not np.isfinite(lcd).all():
            bad = int(np.flatnonzero(~np.isfinite(lcd))[0])
            raise ValueError(
                f"C: the data's compute k*{rN}*{rD} is not a positive number at row {bad} ({rN} = {cols[vi[0]][bad]:g}, "
                f"{rD} = {cols[vi[1]][bad]:g}), so no default budgets can be drawn from it; give C (budgets in FLOP) explicitly"
            )
        lo = max(math.floor(float(lcd.min())), math.ceil(math.log10(k)))
        hi = min(math.ceil(float(lcd.max()) + 3), 308)
        if lo > hi:
            raise ValueError(
                f"k: with k = {k:g} the data's compute k*N*D is beyond what float64 can hold; give C (budgets) explicitly or a smaller k"
            )
        C = 10.0 ** np.arange(lo, hi + 1)
    Carr = _positive_array(C, "C")
    if (Carr < k).any():
        raise ValueError(
            f"C: budget {Carr[Carr < k][0]:g} FLOP is below k = {k:g}, the cost of one parameter trained on one token "
            "(C = k N D); give budgets of at least k"
        )
    use_closed = _use_closed_form(src, rN, rD, method)
    if use_closed:
        est, samples, n_invalid = _combine(src, _closed_form, Carr, k)
        _check_point(est, ["a", "N"], "compute_optimal", "alpha, beta, A and B must be positive for an interior optimum")
        meth = "closed form"
    else:
        law = src.law
        lo_c, hi_c = Carr.min(), Carr.max()
        # budgets for the exponents a, b: the range asked about, or a decade either side of a
        # single budget (both below it when 10x would pass the largest float64)
        if hi_c > lo_c * 1.0001:
            C_exp = np.geomspace(lo_c, hi_c, 9)
        elif lo_c < np.finfo(float).max / 10:
            C_exp = np.array([lo_c / 10, lo_c, lo_c * 10])
        else:
            C_exp = np.array([lo_c / 100, lo_c / 10, lo_c])
        allC = np.concatenate([Carr, C_exp])
        m = len(Carr)
        X = np.log(C_exp) - np.log(C_exp).mean()

        def func(P: Mapping[str, Any], Cs: np.ndarray) -> dict[str, Any]:
            u, L = _numeric_optimum(law, rN, rD, P, Cs, k)
            flat = _flat_at(law, rN, rD, P, Cs[:m], k, u[..., :m], L[..., :m])
            N = np.where(flat, np.nan, np.exp(u[..., :m]))
            D = np.where(flat, np.nan, np.exp(np.log(Cs[:m]) - math.log(k) - u[..., :m]))
            ue = u[..., m:]
            a = ((ue - ue.mean(axis=-1, keepdims=True)) * X).sum(axis=-1) / (X * X).sum()
            return {"a": a, "b": 1 - a, "N": N, "D": D, "tokens_per_param": D / N, "loss": L[..., :m]}

        est, samples, n_invalid = _combine(src, func, allC)
        if not np.all(np.isfinite(est["loss"])):
            bad = np.atleast_1d(Carr)[~np.isfinite(np.atleast_1d(est["loss"]))[: np.size(Carr)]]
            at = f" (first at C = {bad[0]:g})" if bad.size else ""
            raise ValueError(
                f"C: the law has no finite loss at the compute-optimal allocation for some budgets{at}; "
                "ask about budgets closer to the data, or check k"
            )
        if not np.all(np.isfinite(est["a"])):
            raise ValueError(f"C: the exponent a of N*(C) is undefined around C = {Carr[0]:g} (the optimum is not finite there); use budgets closer to the data")
        flat = np.isnan(est["N"])
        if flat.any():
            raise ValueError(
                f"C: at C = {Carr[flat][0]:g} the law's loss is flat to float64 precision around the optimum (the reducible "
                "loss is below the last bit of the total), so no optimum is defined numerically; use smaller budgets"
                + (" or method='closed_form'" if _closed_ok(src, rN, rD) else "")
            )
        meth = "numerical"
    _check_representable(est, ["N", "D", "tokens_per_param", "loss"], "the compute-optimal allocation", "C", Carr)
    return ComputeOptimal(
        {"C": Carr, **{k_: est[k_] for k_ in ("N", "D", "tokens_per_param", "loss", "a", "b") }, **({"G": est["G"]} if use_closed else {})},
        None if samples is None else {k_: v for k_, v in samples.items()},
        level,
        {"k": k, "method": meth, "form": src.fit.form, "resources": (rN, rD), "n_invalid": n_invalid,
         **_beyond(src, {"C": Carr, rN: est["N"], rD: est["D"]}, k)},
    )


# ---------------------------------------------------------------------------------------------
# inverse question: resources to reach a target loss


class Required(_Result):
    """Resources needed to reach target loss(es): ``C`` (FLOP) and the compute-optimal ``N``,
    ``D`` for two-resource laws, or the amount of the single variable for one-variable laws.
    ``unreachable`` is the fraction of bootstrap fits whose irreducible loss is above the target."""

    loss_target: np.ndarray
    C: np.ndarray
    N: np.ndarray
    D: np.ndarray
    k: float
    method: str
    form: str
    unreachable: Any
    names: list[str]

    def summary(self) -> str:
        """A readable report of the result, with its intervals and warnings."""
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

    Returns
    -------
    Required
        ``C``, ``N``, ``D`` needed for each target loss (with intervals from a BootstrapResult).

    Examples
    --------
    >>> import scalingfit as sf
    >>> from scalingfit.datasets import hoffmann_example
    >>> fit = sf.fit("chinchilla", hoffmann_example(seed=0), "loss")
    >>> req = sf.required(fit, 2.3)
    >>> bool(1e20 < float(req.C[0]) < 1e22)
    True
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
                # ln(C / k), in log space so that extreme targets stay exact where representable
                lnCk = np.where(red > 0, -(np.log(np.where(red > 0, red, 1.0)) - np.log(K)) / gam, np.inf)
                lnN = np.log(cf["G"]) + cf["a"] * lnCk
                reach = np.isfinite(lnCk)
                return {
                    "C": np.where(reach, k * np.exp(lnCk), np.inf),
                    "N": np.where(reach, np.exp(lnN), np.inf),
                    "D": np.where(reach, np.exp(np.where(reach, lnCk - lnN, 0.0)), np.inf),
                    "_below": lnCk < 0,
                }

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
                return {"C": C, "N": N, "D": np.where(above, np.inf, C / k / np.where(above, 1, N)), "_below": below}

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
                return {v: np.where(above, np.inf, np.exp(np.where(below, 0.0, u))), "_below": below}

        names = {v: v}
    else:
        raise ValueError(f"required needs a one- or two-variable law; this fit has variables {vars_}")
    est, samples, _ = _combine(src, func, tgt)
    below = np.atleast_1d(est.pop("_below", np.zeros(1))).astype(bool)
    if samples is not None:
        samples.pop("_below", None)
    first = next(iter(est))
    bad = ~np.isfinite(np.atleast_1d(est[first]))
    if bad.any():
        t = float(tgt[bad][0])
        floor = f"the fitted irreducible loss E = {E:.6g}" if E is not None else "the lowest loss the fitted law reaches (below 1e60 units)"
        raise ValueError(f"loss: target {t:g} is at or below {floor}; no amount of compute reaches it")
    if below.any():
        t = float(np.broadcast_to(tgt, below.shape)[below][0])
        smallest = f"the smallest budget, C = k = {k:g} FLOP (one parameter, one token)" if "C" in names else f"{first} = 1"
        raise ValueError(f"loss: target {t:g} is above the loss the fitted law predicts at {smallest}; every run reaches it")
    _check_representable(est, list(est), "the required amount", "loss", tgt)
    values: dict[str, Any] = {"loss_target": tgt}
    values.update({n: np.atleast_1d(est[n]) for n in est})
    unreach = None
    if samples is not None:
        samples = {n: s.reshape(len(s), -1) for n, s in samples.items()}
        unreach = np.isinf(samples[first]).mean(axis=0)
    return Required(values, samples, level, {"k": k, "method": meth, "form": src.fit.form, "unreachable": unreach, "names": names,
                                             **_beyond(src, {n: values[n] for n in values if n != "loss_target"}, k)})


# ---------------------------------------------------------------------------------------------
# returns to scale


class Returns(_Result):
    """Exponents of the reducible loss in each resource and the multiplier of that resource needed
    to divide the reducible loss by ``factor`` (``multiplier_X = factor^(1/exponent_X)``)."""

    factor: float
    resources: dict[str, str]
    form: str
    n_invalid: int

    def summary(self) -> str:
        """A readable report of the result, with its intervals and warnings."""
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
        """The exponents of the reducible loss by resource (``N``, ``D``, ``C``)."""
        return {r: self.values["exponent_" + r] for r in self.resources}

    @property
    def multipliers(self) -> dict[str, float]:
        """The multiplier of each resource that divides the reducible loss by ``factor``."""
        return {r: self.values["multiplier_" + r] for r in self.resources}


def returns(fit_or_bs: FitResult | BootstrapResult, factor: float = 2.0, *, level: float = 0.95) -> Returns:
    """Returns to scale: resources grow as (reducible loss)^(-1/exponent).

    For chinchilla: N alone (D unlimited) with exponent alpha, D alone with beta, and compute at
    the optimal allocation with ``gamma = alpha beta / (alpha + beta)``. For power laws in one
    variable: alpha. ``multiplier_X = factor^(1/exponent)`` is how many times more of X divides
    the reducible loss by ``factor`` (default 2: halve it).

    Returns
    -------
    Returns
        ``exponent_X`` and ``multiplier_X`` per resource X (``exponents``, ``multipliers``), with
        intervals from a BootstrapResult; ``summary()``.

    Examples
    --------
    >>> import scalingfit as sf
    >>> from scalingfit.datasets import hoffmann_example
    >>> fit = sf.fit("chinchilla", hoffmann_example(seed=0), "loss")
    >>> r = sf.returns(fit, factor=2.0)
    >>> round(float(r.exponent_N), 2), round(float(r.exponent_D), 2)
    (0.33, 0.27)
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
    with np.errstate(over="ignore", divide="ignore"):
        est, samples, n_invalid = _combine(src, func, extra_dims=0)
    _check_point(est, [k_ for k_ in est if k_.startswith("multiplier_")], "returns", "the fitted exponent must be positive")
    for k_ in est:
        if k_.startswith("multiplier_") and np.isinf(est[k_]):
            e = float(est["exponent_" + k_[len("multiplier_"):]])
            raise ValueError(
                f"factor: dividing the reducible loss by {factor:g} with exponent {e:.4g} needs {k_[len('multiplier_'):]} "
                f"multiplied by 10^{math.log10(factor) / e:.4g}, beyond what float64 can hold; use a smaller factor"
            )
    return Returns(est, samples, level, {"factor": factor, "resources": res, "form": src.fit.form, "n_invalid": n_invalid})


# ---------------------------------------------------------------------------------------------
# budgets with per-unit prices


class Budget(_Result):
    """Best allocation under per-unit prices: ``N``, ``D``, ``cost``, ``loss``, ``share_N`` (fraction
    of the cost spent on N), ``tokens_per_param`` and the training FLOPs ``C = k N D``."""

    N: Any
    D: Any
    cost: Any
    loss: Any
    share_N: Any
    tokens_per_param: Any
    C: Any
    prices: dict[str, float]
    resources: tuple[str, str]
    k: float
    form: str
    n_invalid: int
    budget: float | None
    loss_target: float | None

    def summary(self) -> str:
        """A readable report of the result, with its intervals and warnings."""
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

    Returns
    -------
    Budget
        The cheapest ``N``, ``D`` (and ``cost``, ``loss``, ``share_N``, ``tokens_per_param``).

    Examples
    --------
    >>> import scalingfit as sf
    >>> from scalingfit.datasets import hoffmann_example
    >>> fit = sf.fit("chinchilla", hoffmann_example(seed=0), "loss")
    >>> b = sf.optimize_budget(fit, {"N": 1.0, "D": 0.01}, budget=1e10)
    >>> round(float(b.cost) / 1e10, 6)
    1.0
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

    def best(P: Mapping[str, Any], lnB: np.ndarray | np.float64) -> tuple[np.ndarray, np.ndarray]:
        shape = np.broadcast_shapes(np.shape(lnB), *(np.shape(v) for v in P.values()))
        Bb = np.broadcast_to(np.exp(lnB), shape)
        hi = np.maximum(np.log(np.maximum(Bb - pD, pN)) - math.log(pN), 0.0)  # ln of the most N affordable, in log space

        def fun(u: np.ndarray) -> np.ndarray:
            extra = u.ndim - len(shape)
            Pe = {n: np.asarray(v).reshape(np.shape(v) + (1,) * extra) for n, v in P.items()}
            Be = Bb.reshape(shape + (1,) * extra)
            return law(Pe, {rN: np.exp(u), rD: (Be - pN * np.exp(u)) / pD})

        u = _minimize(fun, np.zeros(shape), hi)
        return u, fun(u)

    def pack(u: np.ndarray, B: np.ndarray | np.float64, L: np.ndarray) -> dict[str, Any]:
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
            out = {n: np.where(above, np.inf if n not in ("share_N", "loss") else np.nan, v) for n, v in out.items()}
            return {**out, "_below": below}

        meta_goal = {"budget": None, "loss_target": t}
    est, samples, n_invalid = _combine(src, func, extra_dims=0)
    if est.pop("_below", 0.0):
        raise ValueError(
            f"loss: target {loss:g} is above the loss the fitted law predicts for the cheapest run (one unit of each "
            f"resource, cost {floor:g}); every run reaches it"
        )
    if samples is not None:
        samples.pop("_below", None)
    if not np.isfinite(est["cost"]):
        E = src.fit.params.get("E")
        floor_s = f"the fitted irreducible loss E = {E:.6g}" if E is not None else "the lowest loss the law reaches"
        raise ValueError(f"loss: target {loss:g} is at or below {floor_s}; no budget reaches it")
    arg, q = ("budget", budget) if budget is not None else ("loss", loss)
    _check_representable(est, ["N", "D", "cost", "loss", "tokens_per_param", "C"], "the best allocation", arg, q)
    return Budget(est, samples, level, {"prices": {rN: pN, rD: pD}, "resources": (rN, rD), "k": k, "form": src.fit.form, "n_invalid": n_invalid,
                                        **meta_goal, **_beyond(src, {rN: est["N"], rD: est["D"], "C": est["C"]}, k)})


# ---------------------------------------------------------------------------------------------
