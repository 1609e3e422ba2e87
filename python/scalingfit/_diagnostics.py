"""Diagnostics that keep a result from being misread: checks run on every fit and bootstrap whose
findings go to ``result.warnings``, a line each in ``summary()``, and one
:class:`ScalingFitWarning` per result (no silent wrong answers)."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from . import _core

# Exponents of the built-in forms that are positive for a law that improves with scale (each
# is written as x^-exponent, or as the outer power of kaplan_nd).
POSITIVE_EXPONENTS = {
    "power_law": ("alpha",),
    "power_law_plus_constant": ("alpha",),
    "chinchilla": ("alpha", "beta"),
    "kaplan_nd": ("alpha_N", "alpha_D"),
}

# A parameter whose largest relative effect on the model at any data point (per unit of the
# parameter, or per 100% for log-space and large parameters) is below this is not identified.
NEGLIGIBLE = 1e-9
# a value within this relative distance (of max(1, |bound|)) of a bound is at the bound
AT_BOUND = 1e-6
# relative standard error beyond which a parameter is reported as (nearly) not identified
HUGE_RELATIVE_SE = 1e4


class ScalingFitWarning(UserWarning):
    """A diagnostic about a fit or bootstrap result (also in ``result.warnings`` and ``summary()``)."""


def emit(what: str, found: list[str], stacklevel: int = 3) -> None:
    if found:
        warnings.warn(f"{what}: " + "; ".join(found), ScalingFitWarning, stacklevel=stacklevel)


def fit_warnings(prob: Any, x: np.ndarray, cov: np.ndarray | None, stderr: dict[str, float] | None, converged: bool,
                 sensitivity: np.ndarray, model_max: float) -> tuple[list[str], bool]:
    """Diagnostics of a fitted point: (messages, whether the claimed convergence stands).
    ``sensitivity`` and ``model_max`` come from the core (``FitOutput``): per parameter, the
    largest relative change of the model at any data point per unit of the parameter (per 100%
    for log-space parameters; empty when not defined), and the largest |model value|."""
    names = prob.param_names
    out: list[str] = []
    if not math.isfinite(float(x.sum())):
        return out, converged  # a failed fit: its message says so
    yv = prob.y if prob.weights is None else prob.y[prob.weights > 0]
    if converged and yv.size and model_max <= 1e-300 * max(1.0, float(np.abs(yv).max())):
        out.append("the model is 0 at every data point (an exponential or power underflowed), so its zero gradient "
                   "is not convergence; give starts closer to the data (starts=) or rescale the variables")
        converged = False
    for j, eff in enumerate(sensitivity.tolist()):
        if not eff >= NEGLIGIBLE:  # also NaN
            n = names[j]
            out.append(f"{n} = {x[j]:.4g} has no effect at any data point (largest relative effect {eff:.1e}): "
                       f"its term is negligible everywhere, so {n} is not identified by these data")
    bounded = [k for k in range(len(names)) if prob.lower[k] > -math.inf or prob.upper[k] < math.inf]
    for k in bounded:
        n = names[k]
        lo, hi = prob.lower[k], prob.upper[k]
        se = stderr[n] if stderr is not None and math.isfinite(stderr[n]) else 0.0
        for b, side in ((lo, "lower"), (hi, "upper")):
            if not math.isfinite(b):
                continue
            if abs(x[k] - b) <= AT_BOUND * max(1.0, abs(b)):
                out.append(f"{n} = {x[k]:.6g} is at its {side} bound {b:g}: the optimum may lie beyond it (the "
                           f"standard errors and intervals assume an interior optimum)")
            elif abs(x[k] - b) <= 2 * se:
                out.append(f"{n} = {x[k]:.6g} is within 2 standard errors of its {side} bound {b:g}: the standard errors "
                           f"and intervals, which assume an interior optimum, are unreliable there")
    for n in POSITIVE_EXPONENTS.get(prob.form, ()):
        v = x[names.index(n)]
        if v <= 0:
            out.append(f"exponent {n} = {v:.4g} is not positive: the fitted law does not improve with scale there")
    if cov is None:
        out.append("the covariance is singular at the optimum: some parameters are not identified by these data "
                   "(no standard errors; the bootstrap shows the spread)")
    elif stderr is not None:
        for k, n in enumerate(names):
            se, v = stderr[n], abs(x[k])
            if not se <= HUGE_RELATIVE_SE * v and not (v == 0 and math.isfinite(se)):
                out.append(f"{n}: standard error {se:.3g} is {('more than ' + format(HUGE_RELATIVE_SE, 'g') + 'x ') if math.isfinite(se) else ''}"
                           f"its value {x[k]:.4g}: the covariance is nearly singular and {n} is not identified")
    return out, converged


def termination_message(r: Any, found: list[str]) -> str:
    """The message of a fit's termination (``r``: the core's ``FitOutput``) naming the parameters
    still running off at the iteration limit or diverging; the warning for those, or for a
    plain iteration limit (a point that is not an optimum), goes first in ``found``."""
    message: str = r.termination.message
    if r.diverging:
        names_ = ", ".join(r.diverging)
        if r.termination == _core.Termination.MaxIter:
            message = (f"not converged: iteration limit (max_iter) reached with {names_} still running off along a valley "
                       "(the objective falls ever more slowly): the law is poorly identified by these data")
            found.insert(0, message[len("not converged: "):] + f"; raise max_iter, bound {names_}, or fit a simpler law")
        else:
            message = (f"not converged: {names_} diverge{'s' if len(r.diverging) == 1 else ''} (run off towards "
                       "infinity, or 0 in log space, while the objective hardly changes): the law is not identified by these data")
            found.insert(0, message[len("not converged: "):] + "; fix or bound those parameters, or fit a simpler law")
    elif r.termination == _core.Termination.MaxIter:
        # a plain iteration limit is a result a user could take for an answer: said too
        found.insert(0, "iteration limit (max_iter) reached before convergence: the parameters are not at an optimum; "
                        "raise max_iter or give starts= closer to the optimum")
    return message


def bootstrap_warnings(bs: Any, level: float = 0.95) -> list[str]:
    """Diagnostics of a bootstrap: resamples with defects, non-finite spreads, zero-width intervals."""
    out: list[str] = []
    names = bs.param_names
    fit = bs.fit
    m = bs._moments
    if bs.samples is None and m is not None and m.get("under") is not None:
        for k, n in enumerate(names):
            u, o = int(m["under"][k]), int(m["over"][k])
            if u or o:
                e = m["hist"][k]["edges"]
                out.append(f"{u + o} converged resamples of {n} fell outside the histogram range [{e[0]:.4g}, {e[-1]:.4g}] "
                           f"({u} below, {o} above): an interval end beyond it is reported as -inf/inf; pass edges= "
                           "covering them, or keep='samples'")
    if bs.samples is not None:
        s = bs.samples[bs.converged]
        if len(s) >= 2:
            for n in POSITIVE_EXPONENTS.get(fit.form, ()):
                bad = int(np.sum(s[:, names.index(n)] <= 0))
                if bad:
                    out.append(f"{bad} of {len(s)} converged resamples have {n} <= 0 (a law that does not improve with scale): "
                               f"{n} is poorly identified; intervals of quantities built from it mix both regimes")
            prob = fit.problem
            if prob is not None:
                for k, n in enumerate(names):
                    for b, side in ((prob.lower[k], "lower"), (prob.upper[k], "upper")):
                        if math.isfinite(b):
                            at = int(np.sum(np.abs(s[:, k] - b) <= AT_BOUND * max(1.0, abs(b))))
                            if at:
                                out.append(f"{at} of {len(s)} converged resamples have {n} at its {side} bound {b:g}")
            with np.errstate(all="ignore"):
                sd = s.std(axis=0, ddof=1)
            flat = []
            for k, n in enumerate(names):
                if not np.isfinite(sd[k]):
                    out.append(f"the bootstrap spread of {n} is not finite (some resamples sent it towards infinity): "
                               f"{n} is not identified; use percentile intervals, not the sd")
                elif sd[k] <= 1e-9 * max(abs(float(np.mean(s[:, k]))), 1e-300):
                    flat.append(n)
            if flat:
                out.append(f"every resample returned the same {', '.join(flat)} to 9 digits (zero-width intervals): the refits "
                           "did not move from the warm start (too few points per parameter?), so these intervals do not "
                           "measure uncertainty")
    return out
