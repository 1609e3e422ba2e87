"""Economics of scale of a fitted two-resource law: elasticities, marginal products, returns to
scale, the marginal rate of technical substitution, the elasticity of substitution, a test of
homotheticity of the compute-optimal expansion path, and the dual of the budget problem.

Like :mod:`scalingfit.analysis`, :func:`economics` takes a :class:`~scalingfit.FitResult` (point
estimates) or a :class:`~scalingfit.BootstrapResult` (point estimates from its fit plus percentile
intervals over the converged resamples), vectorised over samples and query points: closed forms
for the Chinchilla form ``E + A/N^alpha + B/D^beta``; for any other law of two resources,
5-point central differences in ln N, ln D of the law evaluated (in Rust) for all samples at once.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ._bootstrap import BootstrapResult, _check_level
from ._data import as_float_array, check_finite, column_names, fmt, get_column
from ._fit import FitResult
from ._results import _LOG_MAX, _bisect_decreasing, _combine, _Law, _pct, _positive_scalar, _resources, _Result, _Source
from .analysis import _closed_form, _flat_at, _numeric_optimum, _use_closed_form

__all__ = ["economics", "Economics"]

# Numerical derivatives: a 5 x 5 grid of the law around each point in (ln N, ln D) with step _H,
# the 5-point central stencils for first and second derivatives and their outer product for the
# mixed one. Errors: truncation ~ (c h)^4 for a term varying as exp(-c u) in u = ln N, rounding
# ~ eps |R| / h^2 for second derivatives; h = 4e-3 (a 0.4% change of N or D) keeps both below
# ~1e-8 relative for exponents up to ~3 (checked against the closed form in the tests).
_H = 4e-3
_OFF = np.array([-2.0, -1.0, 0.0, 1.0, 2.0]) * _H
_W1 = np.array([1.0, -8.0, 0.0, 8.0, -1.0]) / (12.0 * _H)
_W2 = np.array([-1.0, 16.0, -30.0, 16.0, -1.0]) / (12.0 * _H * _H)
# |d ln(D*/N*)/d ln C| below this counts as 0 for a point estimate of the numerical path (the
# golden-section optimum is good to ~1e-8 in ln N*)
_HOMOTHETIC_TOL = 1e-6
_N_BUDGETS = 5
_CHUNK = 4_000_000  # values per search step of the numerical path (x 8 bytes)

_POINT = (
    "loss", "reducible", "elasticity_N", "elasticity_D", "dL_dN", "dL_dD", "dL_dlnN", "dL_dlnD", "scale_elasticity",
    "scale_factor", "mrts", "sigma", "loss_at_C", "C_min", "N_min", "D_min", "compute_overhead",
)
_PATH = ("path_N", "path_D", "path_tokens_per_param")


class Economics(_Result):
    """Economics of scale of a fitted two-resource law at the points ``N``, ``D`` (the first and
    second resource, named in ``resources``), with ``R`` the reducible loss (``reducible``).

    Per point (arrays): ``loss``, ``reducible``; ``elasticity_N``, ``elasticity_D`` (d ln R /
    d ln X, negative); marginal products ``dL_dN``, ``dL_dD`` (per unit) and ``dL_dlnN``,
    ``dL_dlnD``; ``scale_elasticity`` (the sum of the two elasticities) and ``scale_factor`` (R(N, D) /
    R(tN, tD), exact); ``mrts`` ((dL/dN)/(dL/dD): tokens one parameter is worth at equal loss);
    ``sigma`` (elasticity of substitution along the isoquant); the budget problem's primal and
    dual at the point's compute ``C = k N D``: ``loss_at_C`` (best loss for that compute),
    ``C_min`` (least compute reaching the point's loss) at ``N_min``, ``D_min``, and
    ``compute_overhead = C / C_min`` (1 when the point is compute-optimal); ``extrapolated`` and
    ``dual_extrapolated`` (bool: the point / the dual allocation is outside the data's range).

    Expansion path at ``budgets``: ``path_N``, ``path_D``, ``path_tokens_per_param`` (D*/N*),
    ``budget_extrapolated``; ``homothetic_exponent`` = d ln(D*/N*) / d ln C; ``homothetic``
    and ``verdict`` (respecting the interval when bootstrapped).
    """

    N: np.ndarray
    D: np.ndarray
    C: np.ndarray
    loss: np.ndarray
    reducible: np.ndarray
    elasticity_N: np.ndarray
    elasticity_D: np.ndarray
    dL_dN: np.ndarray
    dL_dD: np.ndarray
    dL_dlnN: np.ndarray
    dL_dlnD: np.ndarray
    scale_elasticity: np.ndarray
    scale_factor: np.ndarray
    mrts: np.ndarray
    sigma: np.ndarray
    loss_at_C: np.ndarray
    C_min: np.ndarray
    N_min: np.ndarray
    D_min: np.ndarray
    compute_overhead: np.ndarray
    extrapolated: np.ndarray
    dual_extrapolated: np.ndarray
    budgets: np.ndarray
    path_N: np.ndarray
    path_D: np.ndarray
    path_tokens_per_param: np.ndarray
    budget_extrapolated: np.ndarray
    homothetic_exponent: float
    homothetic: bool
    verdict: str
    t: float
    k: float
    method: str
    form: str
    resources: tuple[str, str]
    irreducible: str | None
    reducible_definition: str
    data_range: dict[str, tuple[float, float]]
    extrapolation_notes: list[str]
    n_invalid: int

    def summary(self) -> str:
        """A readable report of the result, with its intervals and warnings."""
        rN, rD = self.resources
        lines = [
            f"economics of scale: {self.form} ({self.method}); {self.reducible_definition}; C = {self.k:g} {rN} {rD} FLOP",
        ]
        if self.samples is not None:
            lines.append(f"  intervals: {self.level:.0%} percentile over {self.n_samples} bootstrap fits")
        rows = [
            ("loss", "loss L"),
            ("reducible", "reducible loss R"),
            ("elasticity_N", f"elasticity d ln R / d ln {rN}"),
            ("elasticity_D", f"elasticity d ln R / d ln {rD}"),
            ("dL_dN", f"dL/d{rN} (per unit)"),
            ("dL_dD", f"dL/d{rD} (per unit)"),
            ("dL_dlnN", f"dL/d ln {rN}"),
            ("dL_dlnD", f"dL/d ln {rD}"),
            ("scale_elasticity", "scale elasticity (sum)"),
            ("scale_factor", f"R falls by, all inputs x{self.t:g}"),
            ("mrts", f"MRTS: {rD} worth one {rN}"),
            ("sigma", "elasticity of substitution"),
            ("loss_at_C", "primal: best loss at k N D"),
            ("C_min", "dual: least C for this loss"),
            ("N_min", f"  at {rN}"),
            ("D_min", f"  at {rD}"),
            ("compute_overhead", "compute overhead C / C_min"),
        ]
        for i in range(len(self.N)):
            lines.append("")
            lines.append(f"  at {rN} = {fmt(float(self.N[i]))}, {rD} = {fmt(float(self.D[i]))} (C = {fmt(float(self.C[i]))} FLOP)")
            if self.extrapolated[i]:
                lines.append(f"    EXTRAPOLATION: {self.extrapolation_notes[i]}")
            for key, label in rows:
                lines.append(f"    {label:<34}{fmt(float(self.values[key][i])):>13} {self._iv(key, i)}")
            if self.dual_extrapolated[i]:
                lines.append(
                    f"    EXTRAPOLATION: the dual allocation ({rN} = {fmt(float(self.N_min[i]))}, {rD} = {fmt(float(self.D_min[i]))}, "
                    f"C = {fmt(float(self.C_min[i]))}) is outside the data's range"
                )
        lines.append("")
        lines.append(f"  homotheticity: compute-optimal {rD}*/{rN}* along the expansion path (C = {self.k:g} {rN} {rD})")
        lines.append(f"    {'C (FLOP)':>11}  {rD + '*/' + rN + '*':>13}")
        for j, c in enumerate(self.budgets):
            mark = "  (extrapolated)" if self.budget_extrapolated[j] else ""
            lines.append(f"    {c:>11.3e}  {fmt(float(self.path_tokens_per_param[j])):>13} {self._iv('path_tokens_per_param', j)}{mark}")
        lines.append(f"    d ln({rD}*/{rN}*) / d ln C = {fmt(self.homothetic_exponent)} {self._iv('homothetic_exponent')}")
        lines.append(f"    verdict: {self.verdict}")
        n_ex = int(np.sum(self.extrapolated)) + int(np.sum(self.budget_extrapolated)) + int(np.sum(self.dual_extrapolated))
        lo_n, hi_n = self.data_range[rN]
        lo_d, hi_d = self.data_range[rD]
        lo_c, hi_c = self.data_range["C"]
        if n_ex:
            lines.append(
                f"  extrapolation: {n_ex} answer(s) above rest on inputs outside the data ({rN} in [{fmt(lo_n)}, {fmt(hi_n)}], "
                f"{rD} in [{fmt(lo_d)}, {fmt(hi_d)}], C in [{fmt(lo_c)}, {fmt(hi_c)}]); they are the law extrapolated"
            )
        else:
            lines.append(f"  no extrapolation: every input is within the data's range of {rN}, {rD} and C")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary of the result."""
        d = super().to_dict()
        d["extrapolation"] = {
            "points": np.asarray(self.extrapolated).tolist(),
            "dual": np.asarray(self.dual_extrapolated).tolist(),
            "budgets": np.asarray(self.budget_extrapolated).tolist(),
            "any": bool(np.any(self.extrapolated) or np.any(self.dual_extrapolated) or np.any(self.budget_extrapolated)),
            "notes": list(self.extrapolation_notes),
            "data_range": {n: list(v) for n, v in self.data_range.items()},
        }
        return d


# ---------------------------------------------------------------------------------------------
# input handling


def _points(at: Any, rN: str, rD: str, column_map: Mapping[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """The query points from ``at`` (dict or DataFrame), broadcast to two 1-d arrays."""
    strict = isinstance(at, Mapping)  # a dict's keys are all checked, a table may carry other columns
    if not isinstance(at, Mapping) and hasattr(at, "columns"):
        at = {c: get_column(at, c) for c in column_names(at)}
    elif not isinstance(at, Mapping):
        raise TypeError(
            f"at must be a dict mapping {rN!r} and {rD!r} to positive values (scalars or 1-d arrays), "
            f"e.g. {{{rN!r}: 7e10, {rD!r}: 1.4e12}}; got {type(at).__name__}"
        )
    out = []
    used = set()
    for r in (rN, rD):
        keys = [key for key in dict.fromkeys((r, column_map.get(r, r))) if key in at]
        if not keys:
            raise ValueError(f"at: missing {r!r}; give both resources of the law, e.g. {{{rN!r}: 7e10, {rD!r}: 1.4e12}} (got keys {list(at)})")
        if len(keys) > 1:
            raise ValueError(f"at: {r!r} is given twice, as {keys[0]!r} and as its data column {keys[1]!r}; give one")
        used.add(keys[0])
        a = as_float_array(at[keys[0]], f"at[{keys[0]!r}]")
        check_finite(a, f"at[{keys[0]!r}]")
        if (a <= 0).any():
            raise ValueError(f"at[{keys[0]!r}] must be positive (an amount of {r}), got {a[a <= 0][0]!r}")
        out.append(a)
    extra = [key for key in at if key not in used]
    if extra and strict:
        raise ValueError(f"at: unknown key(s) {extra}; the law's resources are {rN!r} and {rD!r}")
    try:
        N, D = np.broadcast_arrays(out[0], out[1])
    except ValueError:
        raise ValueError(f"at: {rN!r} has {out[0].size} values and {rD!r} has {out[1].size}; give equal lengths or a scalar for one") from None
    return np.ascontiguousarray(N), np.ascontiguousarray(D)


def _irreducible(src: _Source, X: Mapping[str, np.ndarray]) -> str | None:
    """The parameter the law is additive in (L = p + rest, with rest independent of p), checked by
    evaluating the law at the data and query points with p shifted two ways; "E" first."""
    law = src.law
    P = src.point()
    with np.errstate(all="ignore"):
        base = law(P, X)
    if not np.all(np.isfinite(base)):
        return None
    for name in sorted(src.names, key=lambda n: n != "E"):
        additive = True
        for shift in (1.0, -0.5 - 0.25 * abs(float(P[name]))):
            Q = dict(P)
            Q[name] = np.float64(P[name] + shift)
            real = float(Q[name] - P[name])
            with np.errstate(all="ignore"):
                diff = law(Q, X) - base
            if not np.all(np.abs(diff - real) <= 1e-9 * (np.abs(base) + abs(real) + abs(float(P[name])))):
                additive = False
                break
        if additive:
            return name
    return None


def _expand(P: Mapping[str, Any], extra: int) -> dict[str, np.ndarray]:
    return {n: np.asarray(v).reshape(np.shape(v) + (1,) * extra) for n, v in P.items()}


# ---------------------------------------------------------------------------------------------
# the two paths: closed forms (chinchilla) and numerical derivatives (any two-resource law)


def _closed(P: Mapping[str, Any], lnN: np.ndarray, lnD: np.ndarray, t: float, budgets: np.ndarray, k: float) -> dict[str, Any]:
    E, A, al, B, be = P["E"], P["A"], P["alpha"], P["B"], P["beta"]
    a_, b_ = A * np.exp(-al * lnN), B * np.exp(-be * lnD)  # the two reducible terms
    R = a_ + b_
    gu, gv = -al * a_, -be * b_  # dR/d ln N, dR/d ln D
    N, D = np.exp(lnN), np.exp(lnD)
    out = {
        "loss": E + R,
        "reducible": R,
        "elasticity_N": gu / R,
        "elasticity_D": gv / R,
        "dL_dN": gu / N,
        "dL_dD": gv / D,
        "dL_dlnN": gu,
        "dL_dlnD": gv,
        "scale_elasticity": (gu + gv) / R,
        "scale_factor": R / (a_ * t ** -al + b_ * t ** -be),
        "mrts": (gu / N) / (gv / D),
        "sigma": (al * a_ + be * b_) / (al * be * R + al * a_ + be * b_),
    }
    cf = _closed_form(P, budgets, k)
    out.update({"path_N": cf["N"], "path_D": cf["D"], "path_tokens_per_param": cf["tokens_per_param"], "homothetic_exponent": cf["b"] - cf["a"]})
    # primal: the best loss for the point's compute; dual: the least compute for its loss
    out["loss_at_C"] = _closed_form(P, k * N * D, k)["loss"]
    one = _closed_form(P, np.float64(k), k)  # C/k = 1: N* = G
    G = one["G"]
    gam = al * be / (al + be)
    K = A * G ** -al + B * G ** be  # R* = K (C/k)^-gamma
    lnCk = -(np.log(np.where(R > 0, R, np.nan)) - np.log(K)) / gam
    lnNm = np.log(G) + one["a"] * lnCk
    out.update({
        "C_min": k * np.exp(lnCk),
        "N_min": np.exp(lnNm),
        "D_min": np.exp(lnCk - lnNm),
        "compute_overhead": np.exp(lnN + lnD - lnCk),
    })
    return out


def _numeric_points(law: _Law, rN: str, rD: str, P: Mapping[str, Any], P0: Mapping[str, Any], lnN: np.ndarray, lnD: np.ndarray, t: float, k: float) -> dict[str, Any]:
    """Every per-point quantity of the numerical path for the points lnN, lnD (1-d)."""
    N, D = np.exp(lnN), np.exp(lnD)
    # the 5 x 5 grid: (..., m, 5, 5) against parameters (..., 1, 1, 1)
    grid = law(_expand(P0, 2), {rN: np.exp(lnN[:, None, None] + _OFF[:, None]), rD: np.exp(lnD[:, None, None] + _OFF[None, :])})
    R = grid[..., 2, 2]
    gu, gv = grid[..., :, 2] @ _W1, grid[..., 2, :] @ _W1
    guu, gvv = grid[..., :, 2] @ _W2, grid[..., 2, :] @ _W2
    guv = np.einsum("...ij,i,j->...", grid, _W1, _W1)
    L = law(P, {rN: N, rD: D})
    Rt = law(P0, {rN: N * t, rD: D * t})
    Rpos = np.where(R > 0, R, np.nan)
    out = {
        "loss": L,
        "reducible": R,
        "elasticity_N": gu / Rpos,
        "elasticity_D": gv / Rpos,
        "dL_dN": gu / N,
        "dL_dD": gv / D,
        "dL_dlnN": gu,
        "dL_dlnD": gv,
        "scale_elasticity": (gu + gv) / Rpos,
        "scale_factor": Rpos / Rt,
        "mrts": (gu / N) / (gv / D),
        # sigma = d ln(D/N) / d ln MRTS along dR = 0, from the derivatives in log space
        "sigma": -(gu + gv) * gu * gv / (guu * gv * gv - 2 * guv * gu * gv + gvv * gu * gu - (gu + gv) * gu * gv),
    }
    # primal at the point's compute, and the dual by bisection on the optimal loss (as required())
    out["loss_at_C"] = _numeric_optimum(law, rN, rD, P, k * N * D, k)[1]
    target = np.broadcast_to(L, np.broadcast_shapes(np.shape(L), *(np.shape(v) for v in P.values())))

    def lstar(lnC: np.ndarray) -> np.ndarray:
        return _numeric_optimum(law, rN, rD, P, np.exp(lnC), k)[1]

    lo = math.log(k) + 1e-9
    w, below, above = _bisect_decreasing(lstar, np.where(np.isfinite(target), target, np.nan), lo, _LOG_MAX + math.log(k))
    w = np.where(below, lo, np.where(above, np.nan, w))
    um = _numeric_optimum(law, rN, rD, P, np.exp(np.where(np.isnan(w), lo, w)), k)[0]
    um = np.where(np.isnan(w), np.nan, um)
    out.update({
        "C_min": np.exp(w),
        "N_min": np.exp(um),
        "D_min": np.exp(w - math.log(k) - um),
        "compute_overhead": np.exp(lnN + lnD + math.log(k) - w),
    })
    return out


def _numeric(
    law: _Law, rN: str, rD: str, irr: str | None, P: Mapping[str, Any], lnN: np.ndarray, lnD: np.ndarray, t: float, budgets: np.ndarray, k: float
) -> dict[str, Any]:
    P0 = dict(P)
    if irr is not None:
        P0[irr] = np.zeros_like(np.asarray(P[irr]))  # the law without its irreducible term: R, exactly
    # points in chunks: the searches hold (samples x points x 96) values at once
    n_s = max(int(np.size(v)) for v in P.values())
    step = max(1, _CHUNK // (96 * n_s))
    parts = [_numeric_points(law, rN, rD, P, P0, lnN[i:i + step], lnD[i:i + step], t, k) for i in range(0, lnN.size, step)]
    out = {key: np.concatenate([np.asarray(p[key]) for p in parts], axis=-1) for key in parts[0]}
    # expansion path: the compute-optimal split at each budget, as in compute_optimal
    u, Lb = _numeric_optimum(law, rN, rD, P, budgets, k)
    flat = _flat_at(law, rN, rD, P, budgets, k, u, Lb)
    lnCk = np.log(budgets) - math.log(k)
    lnratio = np.where(flat, np.nan, lnCk - 2 * u)
    X = np.log(budgets) - np.log(budgets).mean()
    slope = ((lnratio - lnratio.mean(axis=-1, keepdims=True)) * X).sum(axis=-1) / (X * X).sum()
    out.update({"path_N": np.where(flat, np.nan, np.exp(u)), "path_D": np.exp(lnCk - u + np.where(flat, np.nan, 0.0)),
                "path_tokens_per_param": np.exp(lnratio), "homothetic_exponent": slope})
    return out


# ---------------------------------------------------------------------------------------------
# the public function


def _outside(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return (x < lo * (1 - 1e-12)) | (x > hi * (1 + 1e-12))


def economics(
    fit_or_bs: FitResult | BootstrapResult,
    at: Any,
    *,
    t: float = 2.0,
    k: float = 6.0,
    level: float = 0.95,
    budgets: Any = None,
    method: str = "auto",
    resources: Sequence[str] | None = None,
) -> Economics:
    """Economics of scale of a fitted two-resource law at the point(s) ``at``.

    Parameters
    ----------
    fit_or_bs : FitResult or BootstrapResult of a law of two resources (``"chinchilla"``,
        ``"kaplan_nd"`` or any formula of two variables).
    at : dict mapping both resources to positive values, scalars or 1-d arrays (broadcast), e.g.
        ``{"N": 7e10, "D": 1.4e12}`` (the data's column names are accepted too); a DataFrame works.
    t : all inputs are multiplied by ``t`` for the exact returns-to-scale factor R(x) / R(t x).
    k : FLOPs per parameter per token (C = k N D) for the expansion path and the dual.
    level : interval level with a bootstrap (percentile over converged resamples).
    budgets : compute budgets (FLOP) for the expansion path; default 5 spanning the data's
        compute k N D.
    method : "auto" (closed form for chinchilla, numerical otherwise), "closed_form" or "numerical".
    resources : (parameters, tokens) variable names; default the law's two variables in order.

    The reducible loss is ``R = L - E`` where the law is additive in a parameter ``E`` (its
    irreducible term: ``L = E + rest`` with ``rest`` independent of ``E``, checked by evaluating
    the law; ``E`` in chinchilla); for laws with no such term (``kaplan_nd``, power laws without a
    constant) R is the loss itself. Reported at each point: elasticities ``e_X = d ln R / d ln X``
    (chinchilla: ``-alpha A N^-alpha / R``), marginal products ``dL/dX`` and ``dL/d ln X``, the scale
    elasticity ``e_N + e_D`` and the exact factor ``R(N, D) / R(tN, tD)`` (``t^alpha`` when
    alpha = beta, between ``t^min`` and ``t^max`` otherwise), the MRTS ``(dL/dN)/(dL/dD)`` (tokens
    one parameter is worth at equal loss), the elasticity of substitution ``sigma = d ln(D/N) /
    d ln MRTS`` along the isoquant (chinchilla: ``(alpha a + beta b) / (alpha beta (a + b) + alpha
    a + beta b)`` with ``a = A N^-alpha``, ``b = B D^-beta``), and the budget problem at the point's
    compute ``C = k N D``: the primal (best loss for C) and its dual (least compute reaching the
    point's loss, as :func:`scalingfit.required`).

    Homotheticity: D*/N* on the compute-optimal expansion path (as
    :func:`scalingfit.compute_optimal`) at ``budgets`` and ``d ln(D*/N*) / d ln C`` (chinchilla:
    ``(alpha - beta) / (alpha + beta)`` exactly; numerically the least-squares slope over the
    budgets); 0 means homothetic. The verdict uses the interval when bootstrapped.

    Numerical path: 5-point central differences in ln N and ln D with step 4e-3 on the law without
    its irreducible term (so the differences are not lost next to E). Inputs outside the data's
    range of N, D or compute are flagged (``extrapolated``, ``dual_extrapolated``,
    ``budget_extrapolated``, a line in ``summary()``, ``to_dict()["extrapolation"]``).

    Returns
    -------
    Economics
        Elasticities, marginal products, MRTS, substitution elasticity, the dual (least compute for
        the loss) and the expansion path; ``summary()``, ``to_dict()``.

    Examples
    --------
    >>> import scalingfit as sf
    >>> from scalingfit.datasets import hoffmann_example
    >>> fit = sf.fit("chinchilla", hoffmann_example(seed=0), "loss")
    >>> e = sf.economics(fit, {"N": 1e9, "D": 2e10})
    >>> bool((e.elasticity_N < 0).all() and (e.elasticity_D < 0).all())
    True
    """
    src = _Source(fit_or_bs, "economics")
    level = _check_level(level)
    k = _positive_scalar(k, "k")
    t = _positive_scalar(t, "t")
    if t == 1:
        raise ValueError("t must differ from 1 (all inputs are multiplied by t for the returns-to-scale factor), got 1")
    vars_ = list(src.fit.variables)
    if len(vars_) != 2:
        raise ValueError(
            f"fit_or_bs: economics needs a law of two resources (parameters and tokens), such as chinchilla, kaplan_nd or a "
            f"formula of two variables; this fit has {len(vars_)} variable(s) {vars_}"
            + (" (for one-variable laws use scalingfit.returns)" if len(vars_) == 1 else "")
        )
    rN, rD = _resources(src, resources, "economics")
    use_closed = _use_closed_form(src, rN, rD, method)
    prob = src.fit._data_problem("economics")
    N, D = _points(at, rN, rD, prob.column_map)
    lnN, lnD = np.log(N), np.log(D)
    if (lnN + lnD < 0).any():
        i = int(np.flatnonzero(lnN + lnD < 0)[0])
        raise ValueError(f"at: {rN} * {rD} = {N[i] * D[i]:g} < 1 at point {i}: its compute k {rN} {rD} is below k, the cost of one parameter on one token")

    # the data's range of each resource and of the compute k N D (in log space)
    cols = prob.columns
    xN, xD = cols[vars_.index(rN)], cols[vars_.index(rD)]
    with np.errstate(all="ignore"):
        lcd = math.log(k) + np.log(xN) + np.log(xD)
    if not (np.isfinite(lcd).all() and (xN > 0).all() and (xD > 0).all()):
        raise ValueError(f"fit_or_bs: the fit's data have non-positive {rN} or {rD}; economics needs positive resources")
    rng = {rN: (float(xN.min()), float(xN.max())), rD: (float(xD.min()), float(xD.max())), "C": (float(np.exp(lcd.min())), float(np.exp(lcd.max())))}
    if budgets is None:
        lo_c, hi_c = float(lcd.min()), float(lcd.max())
        if hi_c - lo_c < 1e-4:
            lo_c, hi_c = lo_c - math.log(10), hi_c + math.log(10)
        Barr = np.exp(np.linspace(max(lo_c, math.log(k) + 1e-9), hi_c, _N_BUDGETS))
    else:
        Barr = as_float_array(budgets, "budgets")
        check_finite(Barr, "budgets")
        if (Barr < k).any():
            raise ValueError(f"budgets: budget {Barr[Barr < k][0]:g} FLOP is below k = {k:g}, the cost of one parameter on one token (C = k N D)")
        if np.ptp(np.log(Barr)) < 1e-4:
            raise ValueError("budgets: give at least two distinct budgets to measure how the optimal ratio changes with C")

    irr = "E" if use_closed else _irreducible(src, {rN: np.concatenate([xN, N]), rD: np.concatenate([xD, D])})
    if use_closed:
        est, samples, n_invalid = _combine(src, _closed, lnN, lnD, t, Barr, k)
    else:
        law = src.law
        est, samples, n_invalid = _combine(src, lambda P, *a: _numeric(law, rN, rD, irr, P, *a), lnN, lnD, t, Barr, k)

    # point estimates must be finite: name the argument and the first offending point
    red = np.atleast_1d(est["reducible"])
    what = "L - " + irr if irr else "the loss (the law has no irreducible term)"
    if not (red > 0).all():
        i = int(np.flatnonzero(~(red > 0))[0])
        raise ValueError(
            f"at: the reducible loss R = {what} is {red[i]:g} at {rN} = {N[i]:g}, {rD} = {D[i]:g}; elasticities of R need R > 0 "
            "(the law must decrease towards an irreducible floor)"
        )
    for key in _POINT:
        v = np.atleast_1d(est[key])
        if not np.isfinite(v).all():
            i = int(np.flatnonzero(~np.isfinite(v))[0])
            raise ValueError(
                f"at: {key} is not finite ({v[i]}) at {rN} = {N[i]:g}, {rD} = {D[i]:g} for the fitted law; ask about points closer to the data "
                "(or the law has no interior compute-optimal allocation there)"
            )
    for key in _PATH + ("homothetic_exponent",):
        v = np.atleast_1d(est[key])
        if not np.isfinite(v).all():
            j = int(np.flatnonzero(~np.isfinite(v))[0]) if v.size > 1 else 0
            raise ValueError(
                f"budgets: the compute-optimal path gives {key} = {v[j]} (at C = {Barr[min(j, Barr.size - 1)]:g}); the law has no finite "
                "interior optimum there (exponents and coefficients must be positive); give budgets closer to the data"
            )

    x = float(est["homothetic_exponent"])
    if samples is not None:
        lo, hi = _pct(samples["homothetic_exponent"], level)
        homothetic = bool(lo <= 0 <= hi)
        iv = f"{level:.0%} interval [{fmt(lo)}, {fmt(hi)}]"
        if homothetic:
            verdict = f"homothetic within the interval: d ln({rD}*/{rN}*)/d ln C = {fmt(x)} ({iv} contains 0)"
        else:
            verdict = f"not homothetic: {rD}*/{rN}* {'grows' if x > 0 else 'falls'} as C^{x:.3g} ({iv} excludes 0)"
    else:
        homothetic = abs(x) <= (1e-12 if use_closed else _HOMOTHETIC_TOL)
        verdict = (f"homothetic: d ln({rD}*/{rN}*)/d ln C = {fmt(x)}, 0 to numerical precision (point estimate; bootstrap for an interval)" if homothetic
                   else f"not homothetic: {rD}*/{rN}* {'grows' if x > 0 else 'falls'} as C^{x:.3g} (point estimate; bootstrap for an interval)")

    # extrapolation flags
    C = k * N * D
    notes = []
    ext = np.zeros(N.size, bool)
    for i in range(N.size):
        why = []
        for name, v in ((rN, N[i]), (rD, D[i]), ("C", C[i])):
            lo_r, hi_r = rng[name]
            if v < lo_r * (1 - 1e-12):
                why.append(f"{name} = {fmt(float(v))} below the data's smallest {fmt(lo_r)}")
            elif v > hi_r * (1 + 1e-12):
                why.append(f"{name} = {fmt(float(v))} above the data's largest {fmt(hi_r)}")
        ext[i] = bool(why)
        notes.append("; ".join(why))
    dual_ext = (_outside(np.atleast_1d(est["N_min"]), *rng[rN]) | _outside(np.atleast_1d(est["D_min"]), *rng[rD])
                | _outside(np.atleast_1d(est["C_min"]), *rng["C"]))
    path_ext = _outside(Barr, *rng["C"]) | _outside(np.atleast_1d(est["path_N"]), *rng[rN]) | _outside(np.atleast_1d(est["path_D"]), *rng[rD])

    values: dict[str, Any] = {"N": N, "D": D, "C": C}
    values.update({key: np.atleast_1d(est[key]) for key in _POINT})
    values.update({"extrapolated": ext, "dual_extrapolated": dual_ext, "budgets": Barr})
    values.update({key: np.atleast_1d(est[key]) for key in _PATH})
    values.update({"budget_extrapolated": path_ext, "homothetic_exponent": x})
    if samples is not None:
        samples = {key: (v.reshape(len(v), -1) if key != "homothetic_exponent" else v.reshape(len(v))) for key, v in samples.items()}
    reducible_def = f"R = L - {irr} (reducible loss)" if irr else "R = L (the law has no irreducible term, so the whole loss is reducible)"
    meta = {
        "homothetic": homothetic, "verdict": verdict, "t": t, "k": k, "method": "closed form" if use_closed else "numerical",
        "form": src.fit.form, "resources": (rN, rD), "irreducible": irr, "reducible_definition": reducible_def,
        "data_range": rng, "extrapolation_notes": notes, "n_invalid": n_invalid,
    }
    return Economics(values, samples, level, meta)
