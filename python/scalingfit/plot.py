"""Plots of fitted laws (matplotlib, optional extra ``scalingfit[plot]``; imported lazily).

``sf.plot(fit_or_bs, kind=...)`` with kind one of:

- ``"law"``: data and the fitted law on log-log axes with the bootstrap band. Two-resource laws
  are drawn against training compute C = k N D, points coloured by model size, with the
  compute-optimal frontier L*(C).
- ``"isoflop"``: loss against model size at fixed compute budgets, with the optima N*(C).
- ``"optimal"``: N*(C) and D*(C) with bootstrap bands.
- ``"residuals"``: residuals (observed - fitted) against compute (or x), a variable of the law
  or the fitted values (``against=``), and their histogram.
- ``"pairs"``: bootstrap samples of each pair of parameters (needs a BootstrapResult).

Every argument is checked before anything is drawn: a wrong type is a ``TypeError`` and a bad
value a ``ValueError``, each naming the argument (``path`` must end in a file type matplotlib
can write and its directory must exist). Errors of the analyses behind a plot (e.g.
:func:`~scalingfit.compute_optimal` refusing a budget) come through unchanged.
"""

from __future__ import annotations

import errno
import math
import os
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ._bootstrap import BootstrapResult
from ._data import as_float_array, check_finite, check_level
from ._fit import FitResult

KINDS = ("law", "isoflop", "optimal", "residuals", "pairs")
_UNITS = {"N": "parameters", "D": "tokens", "C": "FLOP"}
_BAND_MAX = 2000  # bootstrap laws used for bands
_MAX_ISOFLOP = 24  # budgets (curves) in one IsoFLOP view
_EXTRA = {"isoflop": ("C",), "optimal": ("C",), "pairs": ("max_points",), "residuals": ("against",)}  # keywords beyond the common ones


def _plt():
    try:
        import matplotlib
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("plotting needs matplotlib: pip install 'scalingfit[plot]' (or pip install matplotlib)") from None
    del matplotlib
    return plt


def _split(obj: Any) -> tuple[FitResult, BootstrapResult | None]:
    if isinstance(obj, BootstrapResult):
        return obj.fit, obj
    if isinstance(obj, FitResult):
        if obj.problem is None:
            raise ValueError("plot: this FitResult has no attached data (it was loaded from a dict); plot the result of sf.fit on the data")
        return obj, None
    raise TypeError(f"plot: fit_or_bs must be a FitResult (sf.fit) or BootstrapResult (sf.bootstrap), got {type(obj).__name__}")


# ---------------------------------------------------------------------------------------------
# argument checks (all before drawing)


def _real(v: Any, arg: str, what: str) -> float:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise TypeError(f"{arg} must be {what}, got {type(v).__name__} {v!r}")
    try:
        return float(v)
    except OverflowError:
        raise ValueError(f"{arg} must be {what}, got an integer of {len(str(v))} digits (beyond float64)") from None


def _positive(v: Any, arg: str, example: str) -> float:
    what = f"a positive finite number such as {example}"
    f = _real(v, arg, what)
    if not (math.isfinite(f) and f > 0):
        raise ValueError(f"{arg} must be {what}, got {v!r}")
    return f


def _common(level: Any, k: Any, title: Any) -> tuple[float, float]:
    """Check ``level``, ``k`` and ``title``; returns (level, k) as floats."""
    level = check_level(level)
    k = _positive(k, "k", "6 (FLOPs per parameter per token, C = k N D)")
    if title is not None and not isinstance(title, str):
        raise TypeError(f"title must be a str or None, got {type(title).__name__} {title!r}")
    return level, k


def _check_ax(ax: Any) -> None:
    if ax is None:
        return
    from matplotlib.axes import Axes

    if not isinstance(ax, Axes):
        raise TypeError(f"ax must be a matplotlib Axes (e.g. from plt.subplots()) or None, got {type(ax).__name__}")


def _budget_arg(C: Any, k: float) -> np.ndarray | None:
    """Compute budgets given by the user: positive finite FLOP counts >= k, sorted and distinct."""
    if C is None:
        return None
    try:
        a = as_float_array(C, "C")
    except OverflowError:  # Python ints beyond float64
        raise ValueError(f"C: a budget is beyond float64's range (about 1.8e308): {C!r}"[:300]) from None
    check_finite(a, "C")
    if (a < k).any():
        raise ValueError(
            f"C: budget {a[a < k][0]:g} FLOP is below k = {k:g}, the cost of one parameter trained on one token "
            "(C = k N D); give positive budgets of at least k"
        )
    return np.unique(a)


def _formats() -> list[str]:
    from matplotlib.backend_bases import FigureCanvasBase

    return sorted(FigureCanvasBase.get_supported_filetypes())


def _check_path(path: Any) -> Path | None:
    """The file to save to: str or os.PathLike, a file type matplotlib writes, an existing directory."""
    if path is None:
        return None
    fs = os.fspath(path) if isinstance(path, (str, os.PathLike)) else None
    if not isinstance(fs, str):
        raise TypeError(f"path must be a file name as str or os.PathLike (e.g. 'fit.png'), got {type(path).__name__} {path!r}")
    p = Path(fs)
    exts = ", ".join("." + f for f in _formats())
    if not fs.strip() or not p.name:
        raise ValueError(f"path: empty file name {fs!r}; give a name ending in one of {exts}")
    ext = p.suffix.lower()[1:]
    if ext not in _formats():
        got = f"extension {p.suffix!r}" if p.suffix else "no extension"
        raise ValueError(f"path: {fs!r} has {got}; the plot can be saved as {exts}")
    if p.is_dir():
        raise ValueError(f"path: {fs!r} is a directory; give a file name such as {str(p / ('plot.' + ext))!r}")
    parent = p.parent
    if not parent.is_dir():
        raise FileNotFoundError(
            errno.ENOENT, f"path: the directory {str(parent)!r} does not exist; create it first (Path(...).mkdir(parents=True))", str(parent)
        )
    return p


def _compute_of_data(prob: Any, k: float, span: float) -> np.ndarray:
    """Training compute k N D of the runs, refusing a k that overflows or underflows it (or the
    plotted range up to ``span`` times the largest run)."""
    with np.errstate(all="ignore"):
        ND = prob.columns[0] * prob.columns[1]
        Cd = k * ND
        top = Cd.max() * span
    bad = ~(np.isfinite(ND) & (ND > 0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"plot: the compute axis C = k*N*D needs positive N and D with a finite product; data row {i} has "
            f"N*D = {ND[i]:g}"
        )
    if not (np.all(np.isfinite(Cd)) and np.all(Cd > 0) and math.isfinite(top)):
        raise ValueError(
            f"k: C = k*N*D of the data (k = {k:g}) is not a positive finite float64 over the plotted range "
            f"(up to {span:g} x the largest run); use a realistic k such as 6"
        )
    return Cd


def _span(Cd: np.ndarray, k: float, up: float) -> np.ndarray:
    """60 log-spaced budgets from half the smallest run (at least k) to ``up`` times the largest."""
    lo = max(float(Cd.min()) / 2, k)
    hi = max(float(Cd.max()) * up, lo * 10)
    return np.geomspace(lo, hi, 60)


def _label(var: str, column_map: dict[str, str]) -> str:
    col = column_map.get(var, var)
    unit = _UNITS.get(var)
    name = var if col == var else f"{var} ({col})"
    return f"{name}, {unit}" if unit else name


def _ax(ax: Any, figsize: tuple[float, float] = (7.5, 5.2)):
    plt = _plt()
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize, layout="constrained")
    else:
        fig = ax.figure
    return fig, ax


def _band(bs: BootstrapResult | None, law: Any, X: dict[str, np.ndarray], level: float):
    if bs is None:
        return None
    s = bs._used()
    if len(s) > _BAND_MAX:
        s = s[np.linspace(0, len(s) - 1, _BAND_MAX).astype(int)]
    P = {n: s[:, k][:, None] for k, n in enumerate(bs.param_names)}
    ys = law(P, {v: a[None, :] for v, a in X.items()})
    ys = np.where(np.isfinite(ys), ys, np.nan)
    q = (1 - level) / 2
    return np.nanquantile(ys, [q, 1 - q], axis=0)


def plot(fit_or_bs: FitResult | BootstrapResult, kind: str = "law", *, ax: Any = None, level: float = 0.95, k: float = 6.0,
         path: str | os.PathLike[str] | None = None, title: str | None = None, **kwargs: Any):
    """Plot a fit or bootstrap; returns the matplotlib Figure (saved to ``path`` if given).

    kind : "law" (default), "isoflop", "optimal", "residuals" or "pairs" (see module docs).
    level : bootstrap band level in (0, 1). k : FLOPs per parameter per token (C = k N D), positive.
    ax : matplotlib Axes to draw into ("law", "isoflop", "optimal"; the others make their own figure).
    path : file to save to; its extension picks the format (.png, .pdf, .svg, ...). title : str.
    dpi : resolution when saving (default 130). C : budgets for "isoflop" / "optimal" (positive
    FLOP counts, scalar or 1-D). max_points : samples drawn by "pairs". against : for
    "residuals", the x axis: a variable of the law (``"N"``), ``"fitted"`` (the fitted values) or
    None (compute C = k N D for two-resource laws, else the law's variable).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")  # no window
    >>> import scalingfit as sf
    >>> from scalingfit.datasets import hoffmann_example
    >>> fit = sf.fit("chinchilla", hoffmann_example(seed=0), "loss")
    >>> fig = sf.plot(fit, "residuals")
    >>> len(fig.axes) >= 1
    True
    """
    if not isinstance(kind, str):
        raise TypeError(f"kind must be one of {', '.join(map(repr, KINDS))} (a str), got {type(kind).__name__} {kind!r}")
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(map(repr, KINDS))}, got {kind!r}")
    dpi = _positive(kwargs.pop("dpi", 130), "dpi", "130")
    allowed = _EXTRA.get(kind, ())
    for name in (n for n in kwargs if n not in allowed):
        users = [kd for kd, extra in _EXTRA.items() if name in extra]
        where = f"only used by kind={' or '.join(map(repr, users))}" if users else "not an argument of sf.plot"
        raise TypeError(f"{name}: {where}; kind={kind!r} takes " + (", ".join(f"{a}=" for a in allowed) or "no extra arguments"))
    level, k = _common(level, k, title)
    _plt()
    _check_ax(ax)
    if ax is not None and kind in ("residuals", "pairs"):
        raise ValueError(f"ax: kind={kind!r} draws its own figure with several panels; leave ax=None")
    target = _check_path(path)
    _split(fit_or_bs)
    funcs: dict[str, Callable[..., Any]] = {"law": plot_law, "isoflop": plot_isoflop, "optimal": plot_optimal, "residuals": plot_residuals, "pairs": plot_pairs}
    func = funcs[kind]
    if kind == "pairs":
        fig = func(fit_or_bs, title=title, **kwargs)
    elif kind == "residuals":
        fig = func(fit_or_bs, k=k, title=title, **kwargs)
    else:
        fig = func(fit_or_bs, ax=ax, level=level, k=k, title=title, **kwargs)
    if target is not None:
        fig.savefig(target, dpi=dpi)
    return fig


def _two(fit: FitResult) -> bool:
    return len(fit.variables) == 2


def _draw_law(ax: Any, xg: np.ndarray, yg: np.ndarray, lo: float, hi: float, label: str) -> None:
    """The law solid over the data's range [lo, hi] and dashed beyond it (extrapolated)."""
    inside = (xg >= lo) & (xg <= hi)
    ax.plot(np.where(inside, xg, np.nan), yg, color="C3", lw=2, label=label)
    if (~inside).any():
        # the dashed part meets the solid one at the range's ends
        out = ~inside
        dash = out | (inside & (np.r_[out[1:], False] | np.r_[False, out[:-1]]))
        ax.plot(np.where(dash, xg, np.nan), yg, color="C3", lw=1.5, ls="--",
                label="extrapolated (beyond the data)")


def plot_law(fit_or_bs: FitResult | BootstrapResult, *, ax: Any = None, level: float = 0.95, k: float = 6.0, title: str | None = None):
    """Data and fitted law on log-log axes, with the bootstrap band."""
    from .analysis import _Law, compute_optimal

    level, k = _common(level, k, title)
    _plt()
    _check_ax(ax)
    fit, bs = _split(fit_or_bs)
    prob = fit._data_problem("plot")
    y = prob.y
    ylab = "loss" if prob.target == "log" else "y"
    if _two(fit):
        Cd = _compute_of_data(prob, k, 1000.0)
        Cg = _span(Cd, k, 1000.0)
        opt = compute_optimal(bs if bs is not None else fit, Cg, k=k, level=level)
        fig, ax = _ax(ax)
        vN, vD = fit.variables
        Nd = prob.columns[0]
        sc = ax.scatter(Cd, y, c=np.log10(Nd), cmap="viridis", s=18, alpha=0.85, edgecolors="none", label="data")
        cb = fig.colorbar(sc, ax=ax)
        cb.set_label(f"log10 {_label(vN, prob.column_map)}")
        _draw_law(ax, Cg, opt.loss, float(Cd.min()), float(Cd.max()), "compute-optimal loss L*(C)")
        if bs is not None:
            lo, hi = opt.interval("loss")
            ax.fill_between(Cg, lo, hi, color="C3", alpha=0.2, lw=0, label=f"{level:.0%} bootstrap band")
        ax.axvline(Cd.max(), color="0.5", ls=":", lw=1, label="largest run in the data")
        ax.set_xlabel(f"training compute C = {k:g}·{vN}·{vD}, FLOP")
        ttl = f"{fit.form}: {ylab} vs compute, {fit.n_points} runs"
    else:
        v = fit.variables[0]
        xd = prob.columns[0]
        xp = xd[xd > 0]
        if not xp.size:
            raise ValueError(f"plot: kind='law' draws on log axes and needs positive {v} values; the data have none")
        # 200 points from half the smallest to 10x the largest positive x (kept inside float64)
        lo, hi = math.log(float(xp.min())) - math.log(2), min(math.log(float(xp.max())) + math.log(10), 709.0)
        xg = np.exp(np.linspace(lo, max(hi, lo + 1e-9), 200))
        law = _Law(fit)
        with np.errstate(all="ignore"):
            yg = law({n: np.float64(p) for n, p in fit.params.items()}, {v: xg})
            band = _band(bs, law, {v: xg}, level)
        yg = np.where(np.isfinite(yg), yg, np.nan)
        fig, ax = _ax(ax)
        ax.scatter(xd, y, s=18, color="C0", alpha=0.85, edgecolors="none", label="data")
        _draw_law(ax, xg, yg, float(xd.min()), float(xd.max()), "fitted law")
        if band is not None:
            ax.fill_between(xg, band[0], band[1], color="C3", alpha=0.2, lw=0, label=f"{level:.0%} bootstrap band")
        ax.axvline(xd.max(), color="0.5", ls=":", lw=1, label="largest point in the data")
        ax.set_xlabel(_label(v, prob.column_map))
        ttl = f"{fit.form}: {ylab} vs {v}, {fit.n_points} points"
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylabel(f"{ylab} (log scale)")
    _loss_axis(ax)
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(loc="upper right", fontsize=9)
    ax.set_title(title or ttl)
    return fig


def _budgets(Cd: np.ndarray, k: float, n: int = 6) -> np.ndarray:
    """Default IsoFLOP budgets: the decades spanned by the runs (at least k, at most _MAX_ISOFLOP)."""
    lo, hi = max(np.log10(Cd.min()), math.log10(k)), max(np.log10(Cd.max()), math.log10(k))
    dec = np.arange(math.ceil(lo), math.floor(hi) + 1)
    if len(dec) > _MAX_ISOFLOP:
        dec = np.unique(np.round(np.linspace(dec[0], dec[-1], _MAX_ISOFLOP)))
    if len(dec) >= 3:
        return 10.0 ** dec
    return 10 ** np.linspace(lo, hi, n) if hi > lo else np.array([max(float(Cd.min()), k)])


def _design_budgets(Cd: np.ndarray) -> np.ndarray | None:
    """The budgets of an IsoFLOP sweep (runs sharing their budget's compute to within 5%, at
    least 3 budgets; at most _MAX_ISOFLOP of them, evenly picked), or None."""
    lc = np.log(Cd[np.isfinite(Cd) & (Cd > 0)])
    if len(lc) < 3:
        return None
    s = np.sort(lc)
    groups = np.split(s, np.flatnonzero(np.diff(s) > math.log(1.05)) + 1)
    if len(groups) < 3 or max(float(g[-1] - g[0]) for g in groups) > math.log(1.05):
        return None
    centers = np.exp([float(np.median(g)) for g in groups])
    if len(centers) > _MAX_ISOFLOP:
        centers = centers[np.unique(np.linspace(0, len(centers) - 1, _MAX_ISOFLOP).round().astype(int))]
    return np.asarray(centers)


def _loss_axis(ax: Any) -> None:
    """Log loss axis with plain-number tick labels (2.2, 2.4, ... rather than 2.2 x 10^0)."""
    from matplotlib.ticker import FuncFormatter, LogLocator

    f = FuncFormatter(lambda v, _: f"{v:.3g}")
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=[float(v) for v in range(1, 10)], numticks=20))
    ax.yaxis.set_minor_locator(LogLocator(base=10, subs=[v / 10.0 for v in range(10, 100)], numticks=200))
    ax.yaxis.set_major_formatter(f)

    def minor(v: float, _: Any) -> str:
        # a narrow loss range (less than 4x) has only one or two majors: label every second
        # minor tick (every 0.1 of the leading digit below 1.6x: 2.2, 2.4, ... or 2.1, 2.2, ...)
        lo, hi = sorted(ax.get_ylim())
        if not (v > 0 and lo > 0 and hi / lo < 4):
            return ""
        d = 10.0 ** math.floor(math.log10(v))
        t = round(v / d * 10)
        if abs(v / d * 10 - t) > 1e-6 or t % 10 == 0:
            return ""
        return f"{v:.3g}" if t % (2 if hi / lo > 1.6 else 1) == 0 else ""

    ax.yaxis.set_minor_formatter(FuncFormatter(minor))


def plot_isoflop(fit_or_bs: FitResult | BootstrapResult, *, ax: Any = None, level: float = 0.95, k: float = 6.0,
                 C: Any = None, title: str | None = None):
    """IsoFLOP view: loss against model size at fixed budgets, with the optima (and their intervals)."""
    from .analysis import _Law, compute_optimal

    level, k = _common(level, k, title)
    plt = _plt()
    _check_ax(ax)
    fit, bs = _split(fit_or_bs)
    if not _two(fit):
        raise ValueError(f"the IsoFLOP view needs a two-resource law (N, D); this fit has variables {fit.variables}")
    budgets = _budget_arg(C, k)
    if budgets is not None and len(budgets) > _MAX_ISOFLOP:
        raise ValueError(f"C: the IsoFLOP view draws one curve per budget, at most {_MAX_ISOFLOP}; got {len(budgets)} budgets")
    prob = fit._data_problem("plot")
    vN, vD = fit.variables
    Nd, y = prob.columns[0], prob.y
    Cd = _compute_of_data(prob, k, 1.0)
    if budgets is None:
        budgets = _design_budgets(Cd)
    if budgets is None:
        budgets = _budgets(Cd, k)
    law = _Law(fit)
    opt = compute_optimal(bs if bs is not None else fit, budgets, k=k, level=level)
    fig, ax = _ax(ax)
    cmap = plt.get_cmap("plasma")
    lb = np.log10(budgets)
    span = (lb.max() - lb.min()) or 1.0
    # each data point is drawn in the colour of the nearest budget (in log C) if within half a
    # step (the design's own budgets when the runs form an IsoFLOP sweep: every run on its curve);
    # the others in grey
    step = float(np.min(np.diff(lb))) / 2 if len(lb) > 1 else 0.25
    nearest = np.argmin(np.abs(np.log10(Cd)[:, None] - lb[None, :]), axis=1)
    near = np.abs(np.log10(Cd) - lb[nearest]) <= step
    for i, c in enumerate(budgets):
        col = cmap(0.85 * (lb[i] - lb.min()) / span)
        # N from N*/12 to 12 N* (inside float64), D = (C/k)/N on the budget
        lN = math.log(float(opt.N[i]))
        Ng = np.exp(np.linspace(lN - math.log(12), min(lN + math.log(12), 709.0), 120))
        with np.errstate(all="ignore"):
            Lg = law({n: np.float64(v) for n, v in fit.params.items()}, {vN: Ng, vD: (c / k) / Ng})
        Lg = np.where(np.isfinite(Lg), Lg, np.nan)
        ax.plot(Ng, Lg, color=col, lw=1.8, label=f"C = {c:.1e} FLOP")
        m = near & (nearest == i)
        ax.scatter(Nd[m], y[m], color=col, s=16, alpha=0.8, edgecolors="none")
        xerr = None
        if bs is not None:
            lo, hi = opt.interval("N")
            # the percentile interval need not contain the estimate (e.g. at a tiny level): no negative bars
            err = np.array([[opt.N[i] - lo[i]], [hi[i] - opt.N[i]]])
            xerr = np.where(np.isfinite(err), np.maximum(err, 0.0), 0.0)
        ax.errorbar([opt.N[i]], [opt.loss[i]], xerr=xerr, fmt="*", ms=11, color=col, mec="k", mew=0.6, capsize=3, zorder=5)
    if (~near).any():
        ax.scatter(Nd[~near], y[~near], color="0.7", s=10, alpha=0.7, edgecolors="none", label="runs at other budgets")
    ax.plot([], [], "*", ms=11, color="0.6", mec="k", mew=0.6, label="optimum N*(C)" + (f" ({level:.0%} interval)" if bs is not None else ""))
    ax.plot(opt.N, opt.loss, color="0.3", ls="--", lw=1, label="compute-optimal frontier")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(_label(vN, prob.column_map))
    ax.set_ylabel("loss (log scale)")
    ymax = max(np.quantile(y, 0.95), opt.loss.max() * 1.06)
    ax.set_ylim(min(y.min(), opt.loss.min()) * 0.97, ymax * 1.03)
    above = int(np.sum(y > ymax * 1.03))
    if above:
        # the axis is cut at the 95th percentile of the losses: say how many runs it leaves out
        ax.text(0.01, 0.99, f"{above} run{'s' if above > 1 else ''} above the axis not shown", transform=ax.transAxes,
                ha="left", va="top", fontsize=8, color="0.35")
    _loss_axis(ax)
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=8, loc="upper right", ncol=1)
    ax.set_title(title or f"IsoFLOP curves of the {fit.form} fit (points: runs within half a step of each budget)", fontsize=11)
    return fig


def plot_optimal(fit_or_bs: FitResult | BootstrapResult, *, ax: Any = None, level: float = 0.95, k: float = 6.0,
                 C: Any = None, title: str | None = None):
    """Compute-optimal N*(C) and D*(C) on log-log axes with bootstrap bands."""
    from .analysis import compute_optimal

    level, k = _common(level, k, title)
    _plt()
    _check_ax(ax)
    fit, bs = _split(fit_or_bs)
    if not _two(fit):
        raise ValueError(f"plot_optimal needs a two-resource law (N, D); this fit has variables {fit.variables}")
    budgets = _budget_arg(C, k)
    prob = fit._data_problem("plot")
    Cd = _compute_of_data(prob, k, 1e4 if budgets is None else 1.0)
    Cg = _span(Cd, k, 1e4) if budgets is None else budgets
    opt = compute_optimal(bs if bs is not None else fit, Cg, k=k, level=level)
    fig, ax = _ax(ax)
    vN, vD = fit.variables
    marker = "o" if len(Cg) < 3 else None  # a single budget is a point, not a line
    for name, col, lab in (("N", "C0", f"N* (parameters), ~ C^{opt.a:.3f}"), ("D", "C2", f"D* (tokens), ~ C^{opt.b:.3f}")):
        ax.plot(Cg, getattr(opt, name), color=col, lw=2, marker=marker, label=lab)
        if bs is not None:
            lo, hi = opt.interval(name)
            ax.fill_between(Cg, lo, hi, color=col, alpha=0.2, lw=0)
    if bs is not None:
        ax.fill_between([], [], [], color="0.5", alpha=0.2, label=f"{level:.0%} bootstrap band")
    ax.axvspan(Cd.min(), Cd.max(), color="#fdf1c7", zorder=0, label="compute range of the data")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(f"training compute C = {k:g}·{vN}·{vD}, FLOP")
    ax.set_ylabel("compute-optimal parameters / tokens")
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=9, loc="upper left")
    ax.set_title(title or f"Compute-optimal allocation ({opt.method}): {opt.tokens_per_param[len(Cg) // 2]:.1f} tokens/param mid-range")
    return fig


def plot_residuals(fit_or_bs: FitResult | BootstrapResult, *, k: float = 6.0, title: str | None = None,
                   against: str | None = None, **_: Any):
    """Residuals (observed - fitted, on the fit's target scale) against compute (two-resource
    laws), x, any variable of the law (``against="N"``) or the fitted values
    (``against="fitted"``), and their histogram."""
    _level, k = _common(0.5, k, title)
    plt = _plt()
    fit, _bs = _split(fit_or_bs)
    prob = fit._data_problem("plot")
    r = -np.asarray(fit.residuals)  # observed - fitted, the usual sign (fit.residuals is fitted - observed)
    choices = ["fitted"] + list(fit.variables) + (["C"] if _two(fit) else [])
    if against is not None and against not in choices:
        raise ValueError(f"against must be one of {choices} (a variable of the law, 'C' or 'fitted'), got {against!r}")
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4.2), layout="constrained", gridspec_kw={"width_ratios": [2.2, 1]})
    if against == "fitted":
        x = np.asarray(fit._predict({v: prob.columns[i] for i, v in enumerate(fit.variables)}, warn=False))
        a1.set_xlabel("fitted value")
    elif against in fit.variables:
        x = prob.columns[list(fit.variables).index(against)]
        a1.set_xlabel(_label(against, prob.column_map))
    elif _two(fit):
        x = _compute_of_data(prob, k, 1.0)
        a1.set_xlabel(f"training compute C = {k:g}·{fit.variables[0]}·{fit.variables[1]}, FLOP")
    else:
        x = prob.columns[0]
        a1.set_xlabel(_label(fit.variables[0], prob.column_map))
    rl = "residual ln(observed) − ln(fit)" if fit.target == "log" else "residual observed − fit"
    a1.scatter(x, r, s=14, alpha=0.8, edgecolors="none", label="runs")
    a1.axhline(0, color="k", lw=1)
    if fit.delta is not None:
        a1.axhspan(-fit.delta, fit.delta, color="C1", alpha=0.15, label=f"Huber delta = {fit.delta:g}")
    if np.all(np.asarray(x) > 0):
        a1.set_xscale("log")
    a1.set_ylabel(rl)
    a1.grid(True, alpha=0.25)
    a1.legend(fontsize=9)
    a2.hist(r, bins=min(40, max(8, len(r) // 6)), color="C0", alpha=0.8)
    a2.set_xlabel(rl)
    a2.set_ylabel("runs")
    sd = 1.4826 * np.median(np.abs(r - np.median(r)))
    a2.set_title(f"robust sd (1.4826 MAD) = {sd:.3g}", fontsize=10)
    fig.suptitle(title or f"Residuals of the {fit.form} fit ({fit.n_points} points, {fit.loss} loss on {fit.target} scale)")
    return fig


def plot_pairs(fit_or_bs: BootstrapResult, *, title: str | None = None, max_points: int = 4000, **_: Any):
    """Bootstrap samples for each pair of parameters (lower triangle) and their histograms."""
    _common(0.5, 6.0, title)
    if isinstance(max_points, (bool, np.bool_)) or not isinstance(max_points, (int, np.integer)):
        raise TypeError(f"max_points must be an integer >= 2, got {type(max_points).__name__} {max_points!r}")
    if max_points < 2:
        raise ValueError(f"max_points must be an integer >= 2, got {max_points}")
    plt = _plt()
    if not isinstance(fit_or_bs, BootstrapResult):
        if not isinstance(fit_or_bs, FitResult):
            _split(fit_or_bs)  # the TypeError naming fit_or_bs
        raise ValueError("the parameter-pairs plot needs a BootstrapResult (sf.bootstrap(fit, ...)); a single fit has no samples")
    from matplotlib.ticker import MaxNLocator

    bs = fit_or_bs
    s = bs._used()
    if len(s) > max_points:
        s = s[np.linspace(0, len(s) - 1, max_points).astype(int)]
    names = bs.param_names
    p = len(names)
    logs = [n in bs.fit.positive and np.all(s[:, i] > 0) for i, n in enumerate(names)]
    vals = [np.log10(s[:, i]) if logs[i] else s[:, i] for i in range(p)]
    labels = [f"log10 {n}" if logs[i] else n for i, n in enumerate(names)]
    est = [math.log10(bs.fit.params[n]) if logs[i] else bs.fit.params[n] for i, n in enumerate(names)]
    fig, axes = plt.subplots(p, p, figsize=(2.1 * p + 1, 2.1 * p + 0.6), layout="constrained", squeeze=False)
    for i in range(p):
        for j in range(p):
            ax = axes[i, j]
            if j > i:
                ax.set_visible(False)
                continue
            if i == j:
                ax.hist(vals[i], bins=40, color="C0", alpha=0.8)
                ax.axvline(est[i], color="C3", lw=1.5)
                ax.set_yticks([])
            else:
                ax.scatter(vals[j], vals[i], s=2, alpha=0.25, color="C0", edgecolors="none", rasterized=True)
                ax.plot(est[j], est[i], "*", color="C3", ms=9, mec="k", mew=0.5)
            if i == p - 1:
                ax.set_xlabel(labels[j])
            else:
                ax.set_xticklabels([])
            if j == 0 and i > 0:
                ax.set_ylabel(labels[i])
            elif j > 0:
                ax.set_yticklabels([])
            # at most 3 ticks a panel, the bottom row's labels slanted: readable at the report's size
            ax.xaxis.set_major_locator(MaxNLocator(3))
            if i != j:
                ax.yaxis.set_major_locator(MaxNLocator(3))
            ax.tick_params(labelsize=7)
            if i == p - 1:
                ax.tick_params(axis="x", labelrotation=35)
    fig.suptitle(title or f"Bootstrap parameter pairs: {len(s)} of {bs.n_converged} converged resamples (red star: full-data fit)")
    return fig


def save_all(fit_or_bs: FitResult | BootstrapResult, out_dir: str | os.PathLike[str], *, k: float = 6.0, level: float = 0.95,
             dpi: float = 130) -> list[Path]:
    """Write every applicable plot as PNG into ``out_dir``; returns the paths."""
    if isinstance(out_dir, bytes) or not isinstance(out_dir, (str, os.PathLike)):
        raise TypeError(f"out_dir must be a directory name as str or os.PathLike, got {type(out_dir).__name__} {out_dir!r}")
    level, k = _common(level, k, None)
    dpi = _positive(dpi, "dpi", "130")
    plt = _plt()
    fit, bs = _split(fit_or_bs)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    kinds = ["law", "residuals"]
    if _two(fit):
        kinds += ["isoflop", "optimal"]
    if bs is not None:
        kinds.append("pairs")
    paths = []
    for kind in kinds:
        fig = plot(fit_or_bs, kind, k=k, level=level)
        p = out / f"{kind}.png"
        fig.savefig(p, dpi=dpi)
        plt.close(fig)
        paths.append(p)
    return paths
