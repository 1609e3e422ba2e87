"""IsoFLOP analysis: Hoffmann et al.'s approach 2 (a parabola per compute budget), approach 1 (the
lower envelope of training curves) and the three approaches side by side.

Approach 2: the runs are grouped into compute budgets; per budget the loss is fitted by a
parabola in ln N (and, separately, in ln D), whose minimum gives N*(C) (and D*(C)); then
ln N* = ln G + a ln C and ln D* = ln H + b ln C by least squares over the budgets. When the
compute of the runs in a budget varies (budgets formed by binning), the local fit has a linear
term in ln C - ln C_b that absorbs it. Intervals come from a bootstrap over runs (whole runs
with ``groups=``, e.g. the checkpoints of one run), resampled within each budget so the design
stays.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from ._bootstrap import BootstrapResult, _check_level
from ._data import as_float_array, check_seed, column_or_values, fmt, refuse_over_memory
from ._fit import FitResult
from ._results import _pct, _Result

__all__ = ["isoflop", "envelope", "compare_approaches", "IsoFlop", "Envelope", "Approaches"]


def _column(data: Any, spec: Any, arg: str, n: int | None) -> np.ndarray | None:
    """A column given by name (in ``data``) or as an array."""
    if spec is None:
        return None
    v = column_or_values(data, spec, arg)
    a = as_float_array(np.asarray(v, dtype=float) if not isinstance(v, np.ndarray) else v, arg)
    if n is not None and len(a) != n:
        raise ValueError(f"{arg} has {len(a)} values but the other columns have {n}")
    if not np.all(np.isfinite(a)) or np.any(a <= 0):
        bad = int(np.flatnonzero(~(np.isfinite(a) & (a > 0)))[0])
        raise ValueError(f"{arg} must be finite and positive; row {bad} is {a[bad]}")
    return a


def _common_args(level: Any, seed: Any, n_resamples: Any, k: Any) -> tuple[float, int]:
    """The checks isoflop and envelope share: level, seed, n_resamples and k."""
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, (int, np.integer)) or n_resamples < 0:
        raise ValueError(f"n_resamples must be an integer >= 0, got {n_resamples!r}")
    if isinstance(k, bool) or not (isinstance(k, (int, float)) and k > 0 and math.isfinite(k)):
        raise ValueError(f"k (FLOPs per parameter per token) must be a positive number, got {k!r}")
    return _check_level(level), check_seed(seed)


def _budgets(lnC: np.ndarray, budgets: Any, width: float) -> tuple[np.ndarray, np.ndarray, str]:
    """Budget index per run (-1: unassigned) and the budgets' ln C; how they were formed."""
    if budgets is not None:
        b = np.log(np.sort(as_float_array(np.asarray(budgets, dtype=float), "budgets")))
        if np.any(~np.isfinite(b)):
            raise ValueError("budgets must be finite positive compute values")
        idx = np.abs(lnC[:, None] - b[None, :]).argmin(axis=1)
        far = np.abs(lnC - b[idx]) > width * math.log(10) / 2
        idx[far] = -1
        return idx, b, "given"
    # an IsoFLOP design: runs share their budget's compute to within 5%
    order = np.argsort(lnC)
    s = lnC[order]
    cuts = np.flatnonzero(np.diff(s) > math.log(1.05)) + 1
    groups = np.split(order, cuts)
    spread = max(float(lnC[g].max() - lnC[g].min()) for g in groups)
    if spread <= math.log(1.05) and len(groups) >= 3:
        idx = np.empty(len(lnC), dtype=np.int64)
        centers = []
        for j, g in enumerate(groups):
            idx[g] = j
            centers.append(float(np.median(lnC[g])))
        return idx, np.array(centers), "design"
    # otherwise bins of `width` decades, aligned to multiples of it
    w = width * math.log(10)
    k = np.floor(lnC / w + 0.5).astype(np.int64)
    uniq = np.unique(k)
    idx = np.searchsorted(uniq, k)
    return idx, uniq * w, "binned"


def _local_fit(u: np.ndarray, y: np.ndarray, dc: np.ndarray | None, w: np.ndarray, cubic: bool = False) -> np.ndarray:
    """Weighted least squares of y on [1, u, u^2 (, u^3) (, dc)], batched over weight rows w
    (B, n); returns the coefficients in that order (NaN where singular)."""
    cols = [np.ones_like(u), u, u * u] + ([u**3] if cubic else []) + ([dc] if dc is not None else [])
    X = np.stack(cols, axis=1)  # (n, q)
    XtW = X.T[None, :, :] * w[:, None, :]  # (B, q, n)
    A = XtW @ X  # (B, q, q)
    rhs = XtW @ y  # (B, q)
    out = np.full(rhs.shape, np.nan)
    ok = np.linalg.matrix_rank(A) == X.shape[1]
    if np.any(ok):
        out[ok] = np.linalg.solve(A[ok], rhs[ok][..., None])[..., 0]
    return out


def _loglin(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ln y = c + e ln x over the last axis (NaN entries skipped), batched; returns (e, c)."""
    ok = np.isfinite(x) & np.isfinite(y)
    n = ok.sum(axis=-1)
    xs, ys = np.where(ok, x, 0.0), np.where(ok, y, 0.0)
    with np.errstate(all="ignore"):
        mx, my = xs.sum(-1) / n, ys.sum(-1) / n
        dx = np.where(ok, x - mx[..., None], 0.0)
        e = (dx * np.where(ok, y - my[..., None], 0.0)).sum(-1) / (dx * dx).sum(-1)
        c = my - e * mx
    bad = n < 2
    return np.where(bad, np.nan, e), np.where(bad, np.nan, c)


class _Exponents(_Result):
    """N* = G C^a and D* = H C^b, with the per-compute optima they come from."""

    a: float
    b: float
    G: float
    H: float
    C: np.ndarray
    N_opt: np.ndarray
    D_opt: np.ndarray
    L_opt: np.ndarray
    k: float
    n_runs: int


class IsoFlop(_Exponents):
    """Approach 2: ``a``, ``b`` (N* ~ C^a, D* ~ C^b), ``G``, ``H`` (their coefficients), per budget
    ``C``, ``N_opt``, ``D_opt`` (from the parabola in ln D), ``D_opt_from_N`` (C / (k N*)) and
    ``L_opt``; the budgets used, how they were formed, and per-budget diagnostics."""

    _title = "IsoFLOP (approach 2)"
    D_opt_from_N: np.ndarray
    budgets: list[dict[str, Any]]
    grouping: str

    def summary(self) -> str:
        """A readable report of the result, with its intervals and warnings."""
        lines = [
            f"IsoFLOP, Hoffmann et al.'s approach 2: a parabola in ln N and in ln D per compute budget "
            f"({len(self.C)} budgets, {self.grouping}; {self.n_runs} runs)",
            f"  N* = G C^a   a = {fmt(self.a):<10}{self._iv('a'):<26}G = {fmt(self.G)} {self._iv('G')}",
            f"  D* = H C^b   b = {fmt(self.b):<10}{self._iv('b'):<26}H = {fmt(self.H)} {self._iv('H')}",
            f"  {'C':>10}{'runs':>6}{'N*':>11}{'D*':>11}{'C/(kN*)':>11}{'L*':>9}{'min at':>9}  note",
        ]
        for bud in self.budgets:
            if not bud["used"]:
                lines.append(f"  {fmt(bud['C']):>10}{bud['runs']:>6}  left out: {bud['note']}")
                continue
            i = bud["index"]
            lines.append(
                f"  {fmt(self.C[i]):>10}{bud['runs']:>6}{fmt(self.N_opt[i]):>11}{fmt(self.D_opt[i]):>11}"
                f"{fmt(self.D_opt_from_N[i]):>11}{self.L_opt[i]:>9.4f}{bud['position']:>9.2f}  {bud['note']}")
        lines.append("  'min at': the minimum's position within the sampled ln N range (0..1; near 0 or 1 the "
                     "parabola extrapolates)")
        if self.samples is not None:
            lines.append(f"  intervals: {self.level:.0%} percentile over {self.n_samples} bootstrap resamples of runs "
                         "within budgets")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary of the result."""
        d = super().to_dict()
        d.pop("_data", None)
        return d

    def plot(self, ax: Any = None) -> Any:
        """Loss against N per budget with the fitted parabolas and their minima (log x)."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6.4, 4.4))
        data = self.meta["_data"]
        cmap = plt.get_cmap("viridis")
        used = [b for b in self.budgets if b["used"]]
        for j, bud in enumerate(used):
            col = cmap(j / max(len(used) - 1, 1))
            m = data["budget"] == bud["id"]
            u = np.log(data["N"][m])
            ax.scatter(np.exp(u), data["y"][m], s=12, color=col)
            t = np.linspace(u.min(), u.max(), 50)
            c = bud["coef"]
            ax.plot(np.exp(t), c[0] + c[1] * t + c[2] * t * t, color=col, lw=1, label=f"C={bud['C']:.2g}")
            ax.plot(self.N_opt[bud["index"]], self.L_opt[bud["index"]], "x", color=col)
        ax.set_xscale("log")
        ax.set_xlabel("N (parameters)")
        ax.set_ylabel("loss")
        ax.legend(fontsize=7)
        return ax


def _approach2(N: np.ndarray, D: np.ndarray, C: np.ndarray, y: np.ndarray, bidx: np.ndarray, bC: np.ndarray,
               binned: bool, k: float, w: np.ndarray, min_runs: int) -> dict[str, Any]:
    """Per-budget parabolas and the power-law fits, batched over weight rows w (B, n)."""
    B = w.shape[0]
    nb = len(bC)
    Nopt = np.full((B, nb), np.nan)
    Dopt = np.full((B, nb), np.nan)
    Lopt = np.full((B, nb), np.nan)
    coefs: list[Any] = [None] * nb
    lnN, lnD, lnC = np.log(N), np.log(D), np.log(C)
    for j in range(nb):
        m = bidx == j
        if m.sum() < min_runs:
            continue
        dc = (lnC[m] - bC[j]) if binned else None
        cN = _local_fit(lnN[m], y[m], dc, w[:, m])
        cD = _local_fit(lnD[m], y[m], dc, w[:, m])
        with np.errstate(all="ignore"):
            # a minimum only where the parabola is convex and the minimum lies within the ln N
            # (ln D) range the budget sampled: beyond it the parabola extrapolates
            uN = np.where(cN[:, 2] > 0, -cN[:, 1] / (2 * cN[:, 2]), np.nan)
            uD = np.where(cD[:, 2] > 0, -cD[:, 1] / (2 * cD[:, 2]), np.nan)
            uN = np.where((uN >= lnN[m].min()) & (uN <= lnN[m].max()), uN, np.nan)
            uD = np.where((uD >= lnD[m].min()) & (uD <= lnD[m].max()), uD, np.nan)
            Nopt[:, j] = np.exp(uN)
            Dopt[:, j] = np.exp(uD)
            Lopt[:, j] = cN[:, 0] + cN[:, 1] * uN + cN[:, 2] * uN * uN
        coefs[j] = cN
    with np.errstate(all="ignore"):
        a, lnG = _loglin(np.broadcast_to(bC, Nopt.shape), np.log(Nopt))
        b, lnH = _loglin(np.broadcast_to(bC, Dopt.shape), np.log(Dopt))
    return {"a": a, "b": b, "G": np.exp(lnG), "H": np.exp(lnH), "N_opt": Nopt, "D_opt": Dopt, "L_opt": Lopt, "coefs": coefs}


def isoflop(
    data: Any = None,
    *,
    N: Any = "N",
    D: Any = None,
    C: Any = None,
    y: Any = "loss",
    k: float = 6.0,
    budgets: Any = None,
    bin_width: float = 0.1,
    min_runs: int = 5,
    groups: Any = None,
    n_resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> IsoFlop:
    """Hoffmann et al.'s approach 2 on a table of runs.

    Parameters
    ----------
    data : a DataFrame or dict of columns (or None when the columns are given as arrays).
    N, D, C, y : column names in ``data`` or arrays: parameters, tokens, training compute and the
        final loss. Give N with D or C (or all three); the missing one follows from C = k N D.
    budgets : compute budgets to group the runs by (each run goes to the nearest in log, within
        half a ``bin_width``). Default: the design's budgets when runs share their budget's compute
        to within 5% (an IsoFLOP sweep); otherwise bins of ``bin_width`` decades of C, with a
        linear term in ln C inside each budget's local fit to absorb the compute's spread.
    min_runs : budgets with fewer runs are left out (said in ``budgets`` and the summary).
    groups : labels of independent units (e.g. a run id for checkpoints of one run); the
        bootstrap resamples them whole within budgets. Default: each row is a run.
    n_resamples : bootstrap resamples for the intervals (0: none).

    Returns
    -------
    IsoFlop
        Per-budget optima ``C``, ``N_opt``, ``D_opt``, ``L_opt`` and the exponents ``a``, ``b`` (with
        bootstrap intervals: ``interval("a")``); ``summary()``, ``plot()``.

    Examples
    --------
    >>> import scalingfit as sf
    >>> from scalingfit.datasets import hoffmann_example
    >>> iso = sf.isoflop(hoffmann_example(seed=0), n_resamples=50)
    >>> len(iso.C), round(float(iso.a), 1)
    (9, 0.5)
    """
    level, seed = _common_args(level, seed, n_resamples, k)
    if isinstance(min_runs, bool) or not isinstance(min_runs, (int, np.integer)) or min_runs < 4:
        raise ValueError(f"min_runs must be an integer >= 4 (a parabola with a compute term has 4 coefficients), got {min_runs!r}")
    if not (isinstance(bin_width, (int, float)) and 0 < bin_width <= 2):
        raise ValueError(f"bin_width must be in (0, 2] decades of compute, got {bin_width!r}")
    if isinstance(data, Mapping) and D is None and C is None:
        D = "D" if "D" in data else None
        C = "C" if "C" in data else None
    if hasattr(data, "columns") and D is None and C is None:
        cols = list(data.columns)
        D = "D" if "D" in cols else None
        C = "C" if "C" in cols else None
    yv = _column(data, y, "y", None)
    assert yv is not None
    n = len(yv)
    Nv = _column(data, N, "N", n)
    Dv = _column(data, D, "D", n)
    Cv = _column(data, C, "C", n)
    if Nv is None or (Dv is None and Cv is None):
        raise ValueError("isoflop needs N and at least one of D (tokens) or C (compute); C = k N D gives the other")
    if Cv is None:
        Cv = k * Nv * Dv  # type: ignore[operator]
    if Dv is None:
        Dv = Cv / (k * Nv)
    g = np.arange(n) if groups is None else np.unique(np.asarray(groups), return_inverse=True)[1].ravel()
    if len(g) != n:
        raise ValueError(f"groups has {len(g)} labels but the data has {n} rows")
    bidx, bC, how = _budgets(np.log(Cv), budgets, bin_width)
    binned = how == "binned"
    one = np.ones((1, n))
    est = _approach2(Nv, Dv, Cv, yv, bidx, bC, binned, k, one, min_runs)
    info = []
    kept = []
    lnN = np.log(Nv)
    for j in range(len(bC)):
        m = bidx == j
        runs = int(m.sum())
        entry: dict[str, Any] = {"id": j, "C": float(np.exp(bC[j])), "runs": runs, "used": False, "note": ""}
        if runs < min_runs:
            entry["note"] = f"{runs} runs (< min_runs={min_runs})"
        elif not np.isfinite(est["N_opt"][0, j]) or not np.isfinite(est["D_opt"][0, j]):
            entry["note"] = "no minimum within the sampled range (the parabola is not convex, or its minimum lies beyond the runs)"
        else:
            u = math.log(est["N_opt"][0, j])
            lo, hi = float(lnN[m].min()), float(lnN[m].max())
            pos = (u - lo) / (hi - lo) if hi > lo else float("nan")
            left, right = int(np.sum(lnN[m] < u)), int(np.sum(lnN[m] > u))
            cN = est["coefs"][j][0]
            entry.update(used=True, position=pos, coef=cN.tolist(), left=left, right=right)
            notes = []
            if not (0.1 <= pos <= 0.9):
                notes.append("minimum near the edge of the sampled range")
            if min(left, right) < 2:
                notes.append(f"only {min(left, right)} run(s) on one side of the minimum")
            # the parabola's bias: how far its minimum moves when a cubic term is added (an
            # asymmetric profile, e.g. alpha != beta, shifts every budget's N* by about this)
            entry["asymmetry"] = float("nan")
            if runs >= 6:
                u0 = lnN[m] - u
                dcm = (np.log(Cv[m]) - bC[j]) if binned else None
                c3 = _local_fit(u0, yv[m], dcm, np.ones((1, runs)), cubic=True)[0]
                disc = c3[2] ** 2 - 3 * c3[3] * c3[1]
                if np.isfinite(disc) and disc >= 0 and c3[3] != 0:
                    roots = np.array([(-c3[2] + sgn * math.sqrt(disc)) / (3 * c3[3]) for sgn in (1.0, -1.0)])
                    # the minimum: second derivative 2 c2 + 6 c3 u > 0
                    roots = roots[2 * c3[2] + 6 * c3[3] * roots > 0]
                    if len(roots):
                        entry["asymmetry"] = float(roots[np.abs(roots).argmin()])
                elif np.isfinite(c3[2]) and c3[3] == 0 and c3[2] > 0:
                    entry["asymmetry"] = float(-c3[1] / (2 * c3[2]))
            if abs(entry["asymmetry"]) > 0.1:
                notes.append(f"a cubic term moves the minimum by {entry['asymmetry']:+.2f} in ln N (asymmetric profile: "
                             "N* biased by about that)")
            entry["note"] = "; ".join(notes)
            kept.append(j)
        info.append(entry)
    if len(kept) < 2:
        raise ValueError(f"isoflop: only {len(kept)} budget(s) give a minimum ({len(bC)} formed, grouping={how}); "
                         "give budgets=, a wider bin_width, or more runs per budget")
    for i, j in enumerate(kept):
        info[j]["index"] = i
    # refit the power laws on the budgets kept
    mask = np.zeros(len(bC), bool)
    mask[kept] = True
    bidx_k = np.where(np.isin(bidx, kept), bidx, -1)
    samples = None
    n_invalid = 0
    if n_resamples:
        # the resample weights (B, n) and each budget's batched normal equations (B, 5, n)
        refuse_over_memory(f"isoflop with n_resamples={n_resamples} on {n} runs", 8.0 * n_resamples * n * 7,
                           "use fewer resamples (1000 give 95% intervals)")
        rng = np.random.default_rng(seed)
        ug = np.unique(g)
        # resample groups within budgets (a group's budget: that of its first row)
        gb = np.array([bidx_k[np.flatnonzero(g == q)[0]] for q in ug])
        counts = np.zeros((n_resamples, len(ug)))
        for j in kept:
            members = np.flatnonzero(gb == j)
            draw = rng.integers(0, len(members), size=(n_resamples, len(members)))
            np.add.at(counts, (np.arange(n_resamples)[:, None], members[draw]), 1.0)
        w = counts[:, g]
        sb = _approach2(Nv, Dv, Cv, yv, bidx_k, bC, binned, k, w, min_runs)
        samples = {q: sb[q] for q in ("a", "b", "G", "H")}
        samples.update({q: sb[q][:, kept] for q in ("N_opt", "D_opt", "L_opt")})
        bad = ~np.isfinite(sb["a"]) | ~np.isfinite(sb["b"])
        n_invalid = int(bad.sum())
        for q in samples:
            samples[q] = np.where(bad.reshape((-1,) + (1,) * (samples[q].ndim - 1)), np.nan, samples[q])
    pe = _approach2(Nv, Dv, Cv, yv, bidx_k, bC, binned, k, one, min_runs)
    values = {
        "a": float(pe["a"][0]), "b": float(pe["b"][0]), "G": float(pe["G"][0]), "H": float(pe["H"][0]),
        "C": np.exp(bC[kept]), "N_opt": pe["N_opt"][0, kept], "D_opt": pe["D_opt"][0, kept],
        "D_opt_from_N": np.exp(bC[kept]) / (k * pe["N_opt"][0, kept]), "L_opt": pe["L_opt"][0, kept],
    }
    data_cols = {"N": Nv, "y": yv, "budget": bidx_k}
    meta = {"budgets": info, "grouping": {"given": "given budgets", "design": "the design's budgets",
                                          "binned": f"bins of {bin_width:g} decades of C with a ln C term"}[how],
            "k": float(k), "n_runs": int(n), "n_invalid": n_invalid, "_data": data_cols}
    return IsoFlop(values, samples, level, meta)


class Envelope(_Exponents):
    """Approach 1: ``a``, ``b``, ``G``, ``H`` from the lower envelope of the training curves; on a
    grid of compute ``C``, the run with the lowest loss (``N_opt``, ``D_opt = C / (k N_opt)``,
    ``L_opt``)."""

    _title = "IsoFLOP (approach 1)"
    n_winners: int

    def summary(self) -> str:
        """A readable report of the result, with its intervals and warnings."""
        lines = [
            f"IsoFLOP, Hoffmann et al.'s approach 1: the lower envelope of {self.n_runs} training curves on "
            f"{len(self.C)} compute values ({fmt(self.C[0])} .. {fmt(self.C[-1])}); {self.n_winners} runs are on it",
            f"  N* = G C^a   a = {fmt(self.a):<10}{self._iv('a'):<26}G = {fmt(self.G)} {self._iv('G')}",
            f"  D* = H C^b   b = {fmt(self.b):<10}{self._iv('b'):<26}H = {fmt(self.H)} {self._iv('H')}",
        ]
        if self.n_winners < 3:
            lines.append("  (fewer than 3 model sizes on the envelope: the exponents rest on very few points)")
        if self.samples is not None:
            lines.append(f"  intervals: {self.level:.0%} percentile over {self.n_samples} bootstrap resamples of whole runs")
        return "\n".join(lines)


def _envelope(lnN: np.ndarray, curves: list[tuple[np.ndarray, np.ndarray]], grid: np.ndarray, k: float,
              w: np.ndarray) -> dict[str, Any]:
    """Approach 1 batched over run weights w (B, runs): a run with weight 0 is absent."""
    R = len(curves)
    L = np.full((R, len(grid)), np.inf)
    for r, (lc, ll) in enumerate(curves):
        inside = (grid >= lc[0]) & (grid <= lc[-1])
        L[r, inside] = np.interp(grid[inside], lc, ll)
    B = w.shape[0]
    Lb = np.where(w[:, :, None] > 0, L[None, :, :], np.inf)  # (B, R, G)
    best = Lb.argmin(axis=1)  # (B, G)
    Lopt = np.take_along_axis(Lb, best[:, None, :], axis=1)[:, 0, :]
    ok = np.isfinite(Lopt)
    lnNopt = np.where(ok, lnN[best], np.nan)
    lnDopt = np.where(ok, grid[None, :] - math.log(k) - lnNopt, np.nan)
    a, lnG = _loglin(np.broadcast_to(grid, (B, len(grid))), lnNopt)
    b, lnH = _loglin(np.broadcast_to(grid, (B, len(grid))), lnDopt)
    return {"a": a, "b": b, "G": np.exp(lnG), "H": np.exp(lnH), "lnN": lnNopt, "L": np.exp(np.where(ok, Lopt, np.nan)), "best": best}


def envelope(
    data: Any = None,
    *,
    run: Any = "run",
    N: Any = "N",
    D: Any = "D",
    y: Any = "loss",
    k: float = 6.0,
    n_grid: int = 50,
    n_resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> Envelope:
    """Hoffmann et al.'s approach 1 from training curves: rows are checkpoints (``run`` labels the
    run, ``N`` its parameters, ``D`` the tokens seen so far, ``y`` the loss). Each run's loss is
    interpolated in ln C (C = k N D) between its checkpoints; on ``n_grid`` compute values where
    at least two runs have checkpoints, the run with the lowest loss gives N*(C); then
    N* = G C^a and D* = C / (k N*) = H C^b by least squares. Intervals: whole runs resampled.

    Returns
    -------
    Envelope
        The exponents ``a``, ``b`` of the lower envelope's optimal N and D (with intervals); ``summary()``.

    Examples
    --------
    >>> import numpy as np
    >>> import scalingfit as sf
    >>> N = np.repeat([1e7, 3e7, 1e8, 3e8, 1e9, 3e9], 30)  # six runs ...
    >>> D = np.tile(np.logspace(8, 12, 30), 6)  # ... each logged at 30 token counts
    >>> env = sf.envelope({"run": N, "N": N, "D": D, "loss": 1.69 + 406.4 * N**-0.34 + 410.7 * D**-0.28}, n_resamples=50)
    >>> round(float(env.a + env.b), 6)
    1.0
    """
    level, seed = _common_args(level, seed, n_resamples, k)
    if isinstance(n_grid, bool) or not isinstance(n_grid, (int, np.integer)) or n_grid < 3:
        raise ValueError(f"n_grid must be an integer >= 3, got {n_grid!r}")
    yv = _column(data, y, "y", None)
    assert yv is not None
    n = len(yv)
    Nv, Dv = _column(data, N, "N", n), _column(data, D, "D", n)
    assert Nv is not None and Dv is not None
    labels = data[run] if isinstance(run, str) and data is not None else run
    if labels is None or isinstance(labels, str):
        raise ValueError("envelope needs run= (a column name or one label per row) naming the run of each checkpoint")
    labels = np.asarray(labels)
    if len(labels) != n:
        raise ValueError(f"run has {len(labels)} labels but the data has {n} rows")
    ids, code = np.unique(labels, return_inverse=True)
    lnC = np.log(k * Nv * Dv)
    curves, lnN = [], []
    for r in range(len(ids)):
        m = code.ravel() == r
        if len(np.unique(Nv[m])) != 1:
            raise ValueError(f"run {ids[r]!r} has several values of N; a run is one model size")
        o = np.argsort(lnC[m])
        curves.append((lnC[m][o], np.log(yv[m][o])))
        lnN.append(math.log(Nv[m][0]))
    lnN_a = np.array(lnN)
    starts = np.sort([c[0][0] for c in curves])
    ends = np.sort([c[0][-1] for c in curves])
    if len(curves) < 2:
        raise ValueError("envelope needs at least 2 runs")
    lo, hi = starts[1], ends[-2]  # two runs have begun by lo and two have not yet ended at hi
    if not hi > lo:
        raise ValueError("the runs' compute ranges do not overlap: no compute value has two runs to compare")
    # the interpolated curves on the grid, per resample (B, runs, n_grid), twice
    refuse_over_memory(f"envelope with n_grid={n_grid} and n_resamples={n_resamples} on {len(curves)} runs",
                       16.0 * (int(n_resamples) + 1) * len(curves) * int(n_grid), "use a smaller n_grid or fewer resamples")
    grid = np.linspace(lo, hi, int(n_grid))
    one = np.ones((1, len(curves)))
    pe = _envelope(lnN_a, curves, grid, k, one)
    samples = None
    n_invalid = 0
    if n_resamples:
        rng = np.random.default_rng(seed)
        draw = rng.integers(0, len(curves), size=(int(n_resamples), len(curves)))
        w = np.zeros((int(n_resamples), len(curves)))
        np.add.at(w, (np.arange(int(n_resamples))[:, None], draw), 1.0)
        sb = _envelope(lnN_a, curves, grid, k, w)
        samples = {q: sb[q] for q in ("a", "b", "G", "H")}
        bad = ~np.isfinite(sb["a"])
        n_invalid = int(bad.sum())
    winners = len(np.unique(pe["best"][0]))
    values = {"a": float(pe["a"][0]), "b": float(pe["b"][0]), "G": float(pe["G"][0]), "H": float(pe["H"][0]),
              "C": np.exp(grid), "N_opt": np.exp(pe["lnN"][0]), "D_opt": np.exp(grid) / (k * np.exp(pe["lnN"][0])),
              "L_opt": pe["L"][0]}
    return Envelope(values, samples, level, {"n_runs": len(curves), "n_winners": winners, "k": float(k), "n_invalid": n_invalid})


class Approaches(_Result):
    """Exponents a (N* ~ C^a) and b (D* ~ C^b) by approach 2 (IsoFLOP parabolas) and approach 3
    (the parametric law), side by side, with their intervals."""

    _title = "approaches"
    rows: list[dict[str, Any]]

    def summary(self) -> str:
        """A readable report of the result, with its intervals and warnings."""
        lines = ["compute-optimal exponents by approach (N* ~ C^a, D* ~ C^b)",
                 f"  {'approach':<38}{'a':>8}{'':<22}{'b':>8}{'':<22}"]
        for r in self.rows:
            lines.append(f"  {r['approach']:<38}{fmt(r['a']):>8} {r['a_ci']:<21}{fmt(r['b']):>8} {r['b_ci']:<21}")
        lines.append(f"  intervals: {self.level:.0%} percentile (approach 2: runs resampled within budgets; "
                     "approach 3: the bootstrap of the fit)")
        return "\n".join(lines)


def compare_approaches(iso: IsoFlop, law: FitResult | BootstrapResult, *, approach1: Envelope | None = None,
                       level: float | None = None) -> Approaches:
    """Approach 2 (an :func:`isoflop` result) beside approach 3 (a fitted chinchilla law, or its
    bootstrap for intervals: a = beta/(alpha+beta), b = alpha/(alpha+beta)) and, when given,
    approach 1 (an :func:`envelope` result).

    Returns
    -------
    Approaches
        The exponents of each approach side by side; ``summary()``.

    Examples
    --------
    >>> import scalingfit as sf
    >>> from scalingfit.datasets import hoffmann_example
    >>> d = hoffmann_example(seed=0)
    >>> cmp = sf.compare_approaches(sf.isoflop(d, n_resamples=50), sf.fit("chinchilla", d, "loss"))
    >>> "parametric fit" in cmp.summary()
    True
    """
    if approach1 is not None and not isinstance(approach1, Envelope):
        raise TypeError(f"compare_approaches: approach1 must be the result of sf.envelope, got {type(approach1).__name__}")
    if not isinstance(iso, IsoFlop):
        raise TypeError(f"compare_approaches: iso must be the result of sf.isoflop, got {type(iso).__name__}")
    if not isinstance(law, (FitResult, BootstrapResult)):
        raise TypeError(f"compare_approaches: law must be a FitResult or BootstrapResult of a chinchilla-type fit, got {type(law).__name__}")
    lev = _check_level(iso.level if level is None else level)
    fit = law.fit if isinstance(law, BootstrapResult) else law
    if not {"alpha", "beta"} <= set(fit.params):
        raise ValueError(f"compare_approaches: the law must have exponents alpha and beta (a chinchilla-type fit), got {fit.param_names}")

    def iv(s: np.ndarray | None) -> str:
        if s is None:
            return ""
        lo, hi = _pct(s, lev)
        return f"[{fmt(float(lo))}, {fmt(float(hi))}]"

    al, be = fit.params["alpha"], fit.params["beta"]
    s3a = s3b = None
    if isinstance(law, BootstrapResult) and law.samples is not None:
        ok = law.converged
        sa = law.samples[ok, law.param_names.index("alpha")]
        sb = law.samples[ok, law.param_names.index("beta")]
        with np.errstate(all="ignore"):
            good = (sa > 0) & (sb > 0)
            s3a, s3b = np.where(good, sb / (sa + sb), np.nan), np.where(good, sa / (sa + sb), np.nan)
    rows = [] if approach1 is None else [
        {"approach": "1: envelope of training curves", "a": approach1.a, "b": approach1.b,
         "a_ci": iv(None if approach1.samples is None else approach1.samples["a"]),
         "b_ci": iv(None if approach1.samples is None else approach1.samples["b"])}]
    rows += [
        {"approach": "2: IsoFLOP parabolas", "a": iso.a, "b": iso.b,
         "a_ci": iv(None if iso.samples is None else iso.samples["a"]), "b_ci": iv(None if iso.samples is None else iso.samples["b"])},
        {"approach": f"3: parametric fit ({fit.form})", "a": be / (al + be), "b": al / (al + be), "a_ci": iv(s3a), "b_ci": iv(s3b)},
    ]
    values = {"a_2": iso.a, "b_2": iso.b, "a_3": be / (al + be), "b_3": al / (al + be)}
    if approach1 is not None:
        values = {"a_1": approach1.a, "b_1": approach1.b, **values}
    # per-approach samples (of different lengths); the table's intervals come from them
    samples = None
    if iso.samples is not None and s3a is not None and s3b is not None:
        m = min(len(iso.samples["a"]), len(s3a))
        samples = {"a_2": iso.samples["a"][:m], "b_2": iso.samples["b"][:m], "a_3": s3a[:m], "b_3": s3b[:m]}
        if approach1 is not None and approach1.samples is not None:
            m = min(m, len(approach1.samples["a"]))
            samples = {"a_1": approach1.samples["a"][:m], "b_1": approach1.samples["b"][:m], **{q: v[:m] for q, v in samples.items()}}
    return Approaches(values, samples, lev, {"rows": rows})
