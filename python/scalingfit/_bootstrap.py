"""`scalingfit.bootstrap`: resampled refits in Rust, driven here in index-range chunks.

Running the work as chunks gives a progress bar and Ctrl-C for free: results depend only on
(seed, resample index), never on how the range is split, so chunking changes nothing.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import _core
from ._compat import BootstrapCompat, DistributionCompat
from ._data import check_level, check_seed, fmt, jsonable, norm_cdf, norm_ppf, refuse_over_memory, resolve_threads, threads_or_jobs
from ._diagnostics import bootstrap_warnings, emit
from ._distributed import make_bootstrapper, run_on_executor
from ._fit import _CONVERGED, TERMINATIONS, FitResult, Problem
from ._fit import fit as _fit
from ._summary import Summary, check_edges, merge_states, moments, pilot_edges, pilot_size

_SCHEMES = ("pairs", "groups", "residual", "parametric")
_METHODS = ("percentile", "basic", "bca")
_STATUS = {int(t): (t.converged, t.message) for t in TERMINATIONS}
_MAXITER = int(_core.Termination.MaxIter)
_FAILED = int(_core.Termination.Failed)


_check_level = check_level


def _interval(samples: np.ndarray, estimate: float, level: float, method: str, jack: np.ndarray | None) -> tuple[float, float]:
    """Interval from bootstrap draws of one quantity (NaN-free)."""
    alpha = 1 - level
    if method == "percentile":
        lo, hi = np.quantile(samples, [alpha / 2, 1 - alpha / 2])
    elif method == "basic":
        qlo, qhi = np.quantile(samples, [alpha / 2, 1 - alpha / 2])
        lo, hi = 2 * estimate - qhi, 2 * estimate - qlo
    elif method == "bca":
        if jack is None:
            raise ValueError("method='bca' needs jackknife estimates")
        if len(jack) < 3:
            raise ValueError(
                f"method='bca': only {len(jack)} leave-one-out refits succeeded, too few for the acceleration; use method='percentile'"
            )
        prop = (np.sum(samples < estimate) + 0.5 * np.sum(samples == estimate)) / len(samples)
        prop = min(max(prop, 0.5 / len(samples)), 1 - 0.5 / len(samples))
        z0 = norm_ppf(prop)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # refits far apart: checked below
            jm = jack.mean()
            num = np.sum((jm - jack) ** 3)
            den = 6.0 * np.sum((jm - jack) ** 2) ** 1.5
            a = float(num / den) if den > 0 else 0.0
        z = np.array([norm_ppf(alpha / 2), norm_ppf(1 - alpha / 2)])
        adj = [norm_cdf(float(v)) for v in z0 + (z0 + z) / (1 - a * (z0 + z))]
        if not all(0.0 <= q <= 1.0 for q in adj):  # NaN: an acceleration that overflowed
            raise ValueError("method='bca': the acceleration from the jackknife is not finite (refits far apart); use method='percentile'")
        lo, hi = np.quantile(samples, adj)
    else:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    return float(lo), float(hi)


@dataclass(repr=False)
class Distribution(DistributionCompat):
    """Bootstrap distribution of one derived quantity (see :meth:`BootstrapResult.derived`).

    Attributes
    ----------
    name : the quantity's name; estimate : its value at the full-data fit.
    samples : its value in every converged resample where it is finite (``n_used`` of them).
    jackknife : its leave-one-out values (for BCa), when the bootstrap had computed its jackknife.
    ``stderr``, ``mean``, ``ci(level, method)``, ``summary()``, ``to_frame()``, ``to_polars()``.
    """

    name: str
    estimate: float
    samples: np.ndarray = field(repr=False)
    n_used: int = 0
    jackknife: np.ndarray | None = field(default=None, repr=False)

    @property
    def stderr(self) -> float:
        """Bootstrap standard deviation of the quantity (converged resamples)."""
        return float(np.std(self.samples, ddof=1)) if len(self.samples) > 1 else math.nan

    @property
    def mean(self) -> float:
        """Mean of the quantity over the converged resamples."""
        return float(np.mean(self.samples))

    def ci(self, level: float = 0.95, method: str = "percentile") -> tuple[float, float]:
        """Confidence interval ``(low, high)`` at ``level``; ``method`` as in :meth:`BootstrapResult.ci`."""
        level = _check_level(level)
        return _interval(self.samples, self.estimate, level, method, self.jackknife)

    def summary(self, level: float = 0.95) -> str:
        """A one-line report: the estimate, its bootstrap standard error and interval."""
        lo, hi = self.ci(level)
        return (
            f"{self.name}: {fmt(self.estimate)}  (bootstrap sd {fmt(self.stderr)}, "
            f"{level:.0%} percentile interval [{fmt(lo)}, {fmt(hi)}], {self.n_used} resamples)"
        )

    def to_dict(self, level: float = 0.95) -> dict[str, Any]:
        """Strict-JSON-ready dictionary: estimate, stderr, mean, interval and counts."""
        lo, hi = self.ci(level)
        return jsonable({"name": self.name, "estimate": self.estimate, "stderr": self.stderr, "ci": [lo, hi], "level": level, "n_used": self.n_used})


@dataclass(repr=False)
class BootstrapResult(BootstrapCompat):
    """Result of :func:`bootstrap`.

    ``samples`` is (n_resamples, n_params) in ``param_names`` order (NaN rows for failed
    resamples; None with ``keep="summary"``); ``status`` holds each resample's solver status
    code (see ``status_names``). Intervals and moments use the converged resamples and say how
    many that was. ``to_frame(level)`` gives the per-parameter summary as a pandas DataFrame and
    ``samples_frame()`` (or ``to_frame(samples=True)``) the resamples, one row each.
    """

    fit: FitResult
    param_names: list[str]
    samples: np.ndarray | None
    status: np.ndarray
    n_resamples: int
    seed: int
    start: int
    scheme: str
    warm_start: bool
    keep: str
    elapsed: float
    n_threads: int
    warnings: list[str] = field(default_factory=list)
    _moments: dict[str, Any] | None = field(default=None, repr=False)
    # keep='summary': per-block moments, cut blocks' rows and histogram counts (see _summary)
    _state: dict[str, Any] | None = field(default=None, repr=False)
    _jack: np.ndarray | None = field(default=None, repr=False)
    _boot: Any = field(default=None, repr=False)
    # what rebuilds the core bootstrapper (for BCa's jackknife) after unpickling
    _boot_args: dict[str, Any] | None = field(default=None, repr=False)

    status_names = {c: msg for c, (ok, msg) in _STATUS.items()}

    # -- pickling ------------------------------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        # the core bootstrapper holds Rust state; it is rebuilt from _boot_args when needed
        return {k: v for k, v in self.__dict__.items() if k != "_boot"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._boot = None

    # -- merging index ranges --------------------------------------------------------------------
    @classmethod
    def merge(cls, parts: Any) -> BootstrapResult:
        """One bootstrap from parts run over contiguous index ranges (``start=`` and
        ``n_resamples=`` on several processes or machines, same fit, data, seed, scheme, groups
        and warm start): the result is bit-identical to one call over the whole range. Parts
        may come in any order; gaps, overlaps and mismatched settings raise a ValueError.
        """
        if isinstance(parts, BootstrapResult):
            parts = [parts]
        elif isinstance(parts, (str, bytes)) or not hasattr(parts, "__iter__"):
            parts = None
        else:
            parts = list(parts)
        if not parts or not all(isinstance(p, BootstrapResult) for p in parts):
            raise TypeError("merge: parts must be a non-empty list of BootstrapResult objects")
        first = parts[0]
        for i, p in enumerate(parts[1:], 1):
            for what, same in (
                ("keep", p.keep == first.keep),
                ("seed", p.seed == first.seed),
                ("scheme", p.scheme == first.scheme),
                ("warm_start", p.warm_start == first.warm_start),
                ("parameters", p.param_names == first.param_names),
                ("fit", np.array_equal(p.fit.x, first.fit.x)),
                ("data", _same_data(p, first)),
            ):
                if not same:
                    raise ValueError(f"merge: part {i} has a different {what} than part 0; parts of one bootstrap share the fit, data, seed, scheme, groups and warm start")
        parts = sorted(parts, key=lambda p: p.start)
        for a, b in zip(parts, parts[1:]):
            end = a.start + a.n_resamples
            if b.start != end:
                kind = "a gap" if b.start > end else "an overlap"
                raise ValueError(f"merge: the index ranges [{a.start}, {end}) and [{b.start}, {b.start + b.n_resamples}) leave {kind}; give parts that tile one range")
        state = None
        if first.keep == "summary":
            if any(p._state is None for p in parts):
                raise ValueError("merge: a keep='summary' part carries no summary state (made by an older scalingfit?)")
            state = merge_states([p._state for p in parts])  # type: ignore[misc]
        out = cls(
            fit=first.fit, param_names=list(first.param_names),
            samples=None if state is not None else np.concatenate([p.samples for p in parts]),  # type: ignore[misc]
            status=np.concatenate([p.status for p in parts]),
            n_resamples=sum(p.n_resamples for p in parts), seed=first.seed, start=parts[0].start,
            scheme=first.scheme, warm_start=first.warm_start, keep=first.keep,
            elapsed=sum(p.elapsed for p in parts), n_threads=max(p.n_threads for p in parts),
            _moments=None if state is None else moments(state), _state=state,
            _boot_args=first._boot_args,
        )
        out.warnings = bootstrap_warnings(out)
        return out

    # -- counts --------------------------------------------------------------------------------
    @property
    def converged(self) -> np.ndarray:
        """Boolean mask of resamples whose fit converged."""
        return _CONVERGED[self.status]

    @property
    def n_converged(self) -> int:
        """Number of resamples whose fit converged."""
        return int(self.converged.sum())

    @property
    def n_failed(self) -> int:
        """Number of resamples whose fit failed (no usable optimum)."""
        return int((self.status == _FAILED).sum())

    @property
    def n_max_iter(self) -> int:
        """Number of resamples that stopped at ``max_iter`` before converging."""
        return int((self.status == _MAXITER).sum())

    @property
    def estimate(self) -> dict[str, float]:
        """The point estimate: the parameters of the fit to the full data."""
        return dict(self.fit.params)

    def _used(self) -> np.ndarray:
        if self.samples is None:
            raise ValueError("this bootstrap was run with keep='summary': per-resample samples were not stored")
        s = self.samples[self.converged]
        if len(s) < 2:
            raise ValueError(f"only {len(s)} of {self.n_resamples} resamples converged; nothing to summarise")
        return s

    def _summary_moments(self) -> dict[str, Any]:
        """The keep='summary' moments, refused like :meth:`_used` below 2 converged resamples."""
        assert self._moments is not None
        if self._moments["n"] < 2:
            raise ValueError(f"only {self._moments['n']} of {self.n_resamples} resamples converged; nothing to summarise")
        return self._moments

    # -- moments -------------------------------------------------------------------------------
    @property
    def stderr(self) -> dict[str, float]:
        """Bootstrap standard deviation of each parameter (converged resamples)."""
        if self._moments is not None:
            return dict(zip(self.param_names, np.sqrt(np.diag(self._summary_moments()["cov"]))))
        s = self._used()
        with np.errstate(over="ignore", invalid="ignore"):  # a diverging parameter: inf (see warnings)
            sd = s.std(axis=0, ddof=1)
        return {n: float(v) for n, v in zip(self.param_names, sd)}

    @property
    def cov(self) -> np.ndarray:
        """Bootstrap covariance of the parameters (converged resamples)."""
        if self._moments is not None:
            return np.array(self._summary_moments()["cov"])
        return np.cov(self._used(), rowvar=False)

    @property
    def mean(self) -> dict[str, float]:
        """Mean of each parameter over the converged resamples."""
        if self._moments is not None:
            return dict(zip(self.param_names, self._summary_moments()["mean"]))
        return {n: float(v) for n, v in zip(self.param_names, self._used().mean(axis=0))}

    # -- intervals -----------------------------------------------------------------------------
    def _jackknife(self) -> np.ndarray:
        if self._jack is None:
            if self._boot is None:
                if self._boot_args is None or self.fit.problem is None:
                    raise ValueError("method='bca' needs the bootstrap's problem, which this result does not carry; use method='percentile'")
                self._boot = _make_bootstrapper(self.fit.problem, self._boot_args)
            self._jack = self._boot.jackknife(self.n_threads)
        return self._jack

    def ci(self, level: float = 0.95, method: str = "percentile") -> dict[str, tuple[float, float]]:
        """Confidence intervals per parameter: ``method`` is "percentile", "basic" or "bca".

        Returns
        -------
        dict
            ``parameter -> (low, high)``.

        Examples
        --------
        >>> import scalingfit as sf
        >>> from scalingfit.datasets import hoffmann_example
        >>> fit = sf.fit("chinchilla", hoffmann_example(seed=0), "loss")
        >>> lo, hi = sf.bootstrap(fit, n_resamples=50, seed=0).ci(level=0.9)["alpha"]
        >>> bool(lo < fit.params["alpha"] < hi)
        True
        """
        level = _check_level(level)
        if method not in _METHODS:
            raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
        if self._moments is not None:
            if method != "percentile":
                raise ValueError("keep='summary' supports method='percentile' only")
            m = self._summary_moments()
            hist, under, over = m["hist"], m.get("under"), m.get("over")
            return {n: _hist_interval(hist[k], level, 0 if under is None else int(under[k]), 0 if over is None else int(over[k]))
                    for k, n in enumerate(self.param_names)}
        s = self._used()
        jack = None
        if method == "bca":
            jack = self._jackknife()
            jack = jack[np.all(np.isfinite(jack), axis=1)]
        out = {}
        for k, n in enumerate(self.param_names):
            out[n] = _interval(s[:, k], self.fit.params[n], level, method, None if jack is None else jack[:, k])
        return out

    def derived(self, func: Callable[[dict[str, Any]], Any], name: str = "derived") -> Distribution:
        """Bootstrap distribution of ``func(params)``; ``func`` gets a dict of parameter arrays
        (vectorised, e.g. ``lambda p: p["beta"] / (p["alpha"] + p["beta"])``) or, when it
        cannot take arrays, is called once per resample with floats. It must return a real
        number per resample; resamples where it is not finite are left out (``n_used``).

        Returns
        -------
        Distribution
            ``estimate`` (``func`` at the point estimate), ``samples``, ``stderr``, ``ci()``.

        Examples
        --------
        >>> import scalingfit as sf
        >>> from scalingfit.datasets import hoffmann_example
        >>> fit = sf.fit("chinchilla", hoffmann_example(seed=0), "loss")
        >>> bs = sf.bootstrap(fit, n_resamples=50, seed=0)
        >>> a = bs.derived(lambda p: p["beta"] / (p["alpha"] + p["beta"]), name="a")
        >>> round(float(a.estimate), 2), a.samples.shape
        (0.45, (50,))
        """
        if not callable(func):
            raise TypeError("derived: func must be callable, taking a dict of parameter arrays")
        if not isinstance(name, str):
            raise TypeError(f"derived: name must be a str, got {type(name).__name__}")
        s = self._used()
        vals = self._apply(func, s)
        est = self._apply(func, np.array([[self.fit.params[n] for n in self.param_names]]))[0]
        if not math.isfinite(est):
            raise ValueError(f"derived: func is {est} at the fitted parameters; it must be finite there (check the expression or the fit)")
        vals = vals[np.isfinite(vals)]
        if len(vals) < 2:
            raise ValueError(f"derived: func is finite at only {len(vals)} of the {len(s)} converged resamples; nothing to summarise")
        jd = None
        if self._jack is not None:
            jack = self._jack[np.all(np.isfinite(self._jack), axis=1)]
            jd = self._apply(func, jack)
        return Distribution(name=name, estimate=est, samples=vals, n_used=int(len(vals)), jackknife=jd)

    def _apply(self, func: Callable[[dict[str, Any]], Any], rows: np.ndarray) -> np.ndarray:
        """func at each row of parameter values (vectorised when func allows it), as float64."""
        names = self.param_names

        def call(arg: dict[str, Any]) -> Any:
            try:
                return func(arg)
            except KeyError as e:
                raise ValueError(f"derived: func looked up {e.args[0]!r}, which is not a parameter of this law (parameters: {', '.join(names)})") from None

        try:
            v = np.asarray(call({n: rows[:, k] for k, n in enumerate(names)}), dtype=np.float64)
            if v.shape == (len(rows),):
                return v
        except (TypeError, ValueError, ArithmeticError) as e:
            if str(e).startswith("derived:"):
                raise
        out = np.empty(len(rows))
        for i, r in enumerate(rows):
            v = call({n: float(r[k]) for k, n in enumerate(names)})
            try:
                if isinstance(v, (str, bytes, complex, np.complexfloating)) or np.ndim(v) != 0:
                    raise TypeError
                out[i] = float(v)
            except (TypeError, ValueError):
                raise TypeError(f"derived: func must return one real number per resample, got {type(v).__name__} {v!r:.60}") from None
        return out

    # -- reports -------------------------------------------------------------------------------
    def summary(self, level: float = 0.95) -> str:
        """A readable table: estimate, bootstrap standard error and interval per parameter."""
        try:
            ci, se = self.ci(level), self.stderr
        except ValueError:  # fewer than 2 converged resamples: report counts only
            ci, se = None, None
        lines = [
            f"scalingfit bootstrap: {self.fit.form}, scheme={self.scheme}, seed={self.seed}, resamples {self.start}..{self.start + self.n_resamples - 1}",
            f"  resamples  {self.n_resamples}: {self.n_converged} converged, {self.n_max_iter} hit max_iter, {self.n_failed} failed "
            f"(intervals use the {self.n_converged} converged)",
            f"  refits     {'warm-started from the full-data optimum' if self.warm_start else 'from the full start grid'}; "
            f"{self.elapsed:.2f} s",
            "",
            f"  {'parameter':<12}{'estimate':>14}{'boot sd':>14}{f'{level:.0%} lo':>14}{f'{level:.0%} hi':>14}",
        ]
        for n in self.param_names:
            if ci is None:
                lines.append(f"  {n:<12}{fmt(self.fit.params[n]):>14}{'-':>14}{'-':>14}{'-':>14}")
                continue
            lo, hi = ci[n]
            assert se is not None  # set together with ci
            lines.append(f"  {n:<12}{fmt(self.fit.params[n]):>14}{fmt(se[n]):>14}{fmt(lo):>14}{fmt(hi):>14}")
        if ci is None:
            lines.append("  (fewer than 2 converged resamples: no intervals; raise max_iter or check the fit)")
        for w in self.warnings:
            lines.append(f"  warning: {w}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def save(self, path: Any) -> Any:
        """Write to a portable, versioned .npz file (JSON metadata plus arrays, no pickle), at
        ``path`` exactly as given; read it back with :func:`scalingfit.load`."""
        from ._codec import save

        return save(self, path)

    def to_dict(self, level: float = 0.95) -> dict[str, Any]:
        """Strict-JSON-ready summary; ``stderr``, ``ci`` and ``cov`` are None with fewer than 2
        converged resamples."""
        level = _check_level(level)
        try:
            ci: dict[str, Any] | None = self.ci(level)
            stderr: dict[str, Any] | None = self.stderr
            cov: Any = self.cov.tolist()
        except ValueError:
            ci = stderr = cov = None
        return jsonable({
            "fit": self.fit.to_dict(),
            "n_resamples": self.n_resamples,
            "n_converged": self.n_converged,
            "n_max_iter": self.n_max_iter,
            "n_failed": self.n_failed,
            "seed": self.seed,
            "start": self.start,
            "scheme": self.scheme,
            "warm_start": self.warm_start,
            "level": level,
            "stderr": stderr,
            "ci": None if ci is None else {k: list(v) for k, v in ci.items()},
            "cov": cov,
            "elapsed_s": self.elapsed,
            "warnings": list(self.warnings),
        })


def _hist_interval(h: dict[str, Any], level: float, under: int = 0, over: int = 0) -> tuple[float, float]:
    """Percentile interval from histogram counts; an end beyond the edges (in the under- or
    overflow) is -inf/+inf (bootstrap_warnings says so)."""
    edges, counts = h["edges"], h["counts"]
    cum = np.cumsum(counts)
    total = cum[-1] + under + over
    out = []
    for q in ((1 - level) / 2, 1 - (1 - level) / 2):
        t = q * total - under
        if t < 0 or t > cum[-1] or cum[-1] == 0:
            out.append(-math.inf if t < 0 or (cum[-1] == 0 and q < 0.5) else math.inf)
            continue
        i = int(np.searchsorted(cum, t))
        i = min(i, len(counts) - 1)
        prev = cum[i - 1] if i > 0 else 0
        frac = (t - prev) / max(counts[i], 1)
        out.append(float(edges[i] + frac * (edges[i + 1] - edges[i])))
    return out[0], out[1]


def _groups_codes(groups: Any, n: int) -> np.ndarray:
    try:
        g = np.asarray(groups)
    except (ValueError, TypeError):
        raise ValueError(f"groups must be 1-dimensional with one label per row (e.g. a run id per checkpoint), got a ragged {type(groups).__name__}") from None
    if g.ndim != 1:
        raise ValueError(f"groups must be 1-dimensional with one label per row, got shape {g.shape}")
    if len(g) != n:
        raise ValueError(f"groups has length {len(g)} but the data has {n} rows")
    _, codes = np.unique(g, return_inverse=True)
    if codes.max() < 1:
        raise ValueError("groups needs at least 2 distinct groups")
    return codes.astype(np.int64)


def _same_data(a: BootstrapResult, b: BootstrapResult) -> bool:
    pa, pb = a.fit.problem, b.fit.problem
    if pa is None or pb is None:
        return pa is pb
    ga = None if a._boot_args is None else a._boot_args.get("groups")
    gb = None if b._boot_args is None else b._boot_args.get("groups")
    def same(u: Any, v: Any) -> bool:
        return (u is None and v is None) or (u is not None and v is not None and bool(np.array_equal(u, v)))

    return (
        pa.formula.source == pb.formula.source and same(pa.columns, pb.columns) and same(pa.y, pb.y)
        and same(pa.weights, pb.weights) and same(ga, gb)
    )


_make_bootstrapper = make_bootstrapper


def bootstrap(
    form_or_fit: str | FitResult,
    data: Any = None,
    y: Any = None,
    *,
    n_resamples: int = 1000,
    scheme: str = "pairs",
    groups: Any = None,
    seed: int | np.random.Generator | np.random.SeedSequence | None = None,
    start: int = 0,
    warm_start: bool = True,
    keep: str = "samples",
    progress: bool = False,
    n_threads: int | None = None,
    chunk_size: int | None = None,
    edges: dict[str, Any] | None = None,
    executor: Any = None,
    n_jobs: int | None = None,
    **fit_kwargs: Any,
) -> BootstrapResult:
    """Bootstrap a scaling-law fit: ``n_resamples`` refits in Rust, in parallel.

    Parameters
    ----------
    form_or_fit : a :class:`FitResult` (its problem and optimum are reused) or a form/formula,
        in which case ``data``, ``y`` and ``fit_kwargs`` go to :func:`scalingfit.fit` first.
    n_resamples : number of resamples (>= 1).
    scheme : "pairs" (points with replacement; default), "groups" (whole groups given by
        ``groups=``, e.g. all checkpoints of one run), "residual" (fitted values plus resampled
        residuals) or "parametric" (fitted values plus normal noise of the residual scale).
        Residual schemes act on the target scale (log y for ``target="log"``). With the Huber
        loss (the default; its small default delta makes the fit L1-like, and L1 residuals
        understate the noise) the residuals are centred on their median and inflated by
        sqrt(n/(n-p)), and the parametric scale is 1.4826 MAD of those. Use "groups" when rows
        are correlated (several checkpoints of one run): "pairs" then under-covers. After a fit
        with ``nan_policy="omit"``, ``groups`` may label the original rows (the dropped ones' go too).
    seed : integer seed; resample i uses a stream derived from (seed, i), so the same seed gives
        the same samples for any thread count and any split into ranges. None draws a seed
        (recorded in the result). A numpy ``Generator`` (its next 64-bit draw) or ``SeedSequence``
        (its first 64-bit state word) gives the integer seed deterministically, recorded too.
    start : index of the first resample (run ``start=k*m, n_resamples=m`` on several machines
        and concatenate).
    warm_start : refit from the full-data optimum (default) or, if False, from the full start
        grid of the original fit (slower, for multimodal problems).
    keep : "samples" (store the (n, p) float64 samples) or "summary" (moments and 20000-bin
        histograms only, for runs too large to store). A summary is deterministic: moments are
        summed per aligned block of 4096 resample indices and folded in index order, and the
        histogram edges are fixed before the run (from a pilot of resamples 0..1023 of the same
        seed, fewer above 4096 points, refitted from the warm start: log-spaced for positive
        parameters), so any split into ranges, on any executor,
        gives the same bits, and :meth:`BootstrapResult.merge` joins parts.
    edges : keep="summary" only: histogram bin edges per parameter (dict name -> increasing
        array) instead of the pilot's; resamples beyond them are counted as under/overflow.
    executor : run the resamples as tasks on an executor instead of in this process: a Dask
        ``distributed.Client``, a ``concurrent.futures`` executor, or anything with
        ``submit(fn, *args)`` returning futures with ``.result()``, ``.done()`` and
        ``.cancel()`` (Ray: see the README's "Scaling out"). The range is cut into
        block-aligned tasks of about a second of one-thread work; each task gets the slim
        problem by value and runs on 1 thread; a failed task is resubmitted (3 tries). The
        result is bit-identical to the in-process call.
    progress : show a tqdm progress bar. Ctrl-C stops within about a second (KeyboardInterrupt).
    n_threads : threads (default: all cores; with ``executor``, used only for the pilot);
        ``n_jobs`` is an alias (scikit-learn's name; -1: all cores).

    Returns
    -------
    BootstrapResult
        The resampled parameters: ``ci()``, ``stderr``, ``cov``, ``summary()``, ``derived()``.

    Examples
    --------
    >>> import scalingfit as sf
    >>> from scalingfit.datasets import hoffmann_example
    >>> fit = sf.fit("chinchilla", hoffmann_example(seed=0), "loss")
    >>> bs = sf.bootstrap(fit, n_resamples=50, seed=0)
    >>> bs.n_converged, bs.samples.shape  # resamples x parameters
    (50, (50, 5))
    """
    n_threads = threads_or_jobs(n_threads, n_jobs)
    if isinstance(form_or_fit, FitResult):
        if data is not None or y is not None or fit_kwargs:
            raise TypeError("bootstrap(fit, ...): data, y and fit options come from the fit; pass only bootstrap options")
        fr = form_or_fit
        if fr.problem is None:
            raise ValueError("this FitResult has no attached problem to resample")
    elif isinstance(form_or_fit, str):
        fr = _fit(form_or_fit, data, y, n_threads=n_threads, **fit_kwargs)
    else:
        raise TypeError(f"form_or_fit must be a form name, a formula or a FitResult, got {type(form_or_fit).__name__}")
    prob: Problem = fr._data_problem("bootstrap")
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, (int, np.integer)) or n_resamples < 1:
        raise ValueError(f"n_resamples must be an integer >= 1, got {n_resamples!r}")
    if scheme not in _SCHEMES:
        raise ValueError(f"scheme must be one of {_SCHEMES}, got {scheme!r}")
    if keep not in ("samples", "summary"):
        raise ValueError(f"keep must be 'samples' or 'summary', got {keep!r}")
    if isinstance(start, bool) or not isinstance(start, (int, np.integer)) or start < 0:
        raise ValueError(f"start must be a non-negative integer, got {start!r}")
    if int(start) + int(n_resamples) > 2**64:
        raise ValueError(
            f"resample indices start..start+n_resamples-1 must stay below 2**64 (start={start}, "
            f"n_resamples={n_resamples}); resample i is the stream of (seed, i), so indices cannot wrap"
        )
    if keep == "samples":
        refuse_over_memory(
            f"n_resamples={n_resamples} with keep='samples' (the samples)",
            int(n_resamples) * (8 * len(fr.param_names) + 1),
            "use keep='summary' or run index ranges (start=, n_resamples=)",
        )
    if seed is None:
        entropy = np.random.SeedSequence().entropy
        assert isinstance(entropy, int)  # drawn from the OS when not given
        seed = entropy % (2**63)
    seed = check_seed(seed)
    if scheme == "groups":
        if groups is None:
            raise ValueError("scheme='groups' needs groups=: one group label per data row")
        kept = getattr(prob, "kept", None)  # rows dropped by nan_policy='omit': their labels too
        if kept is not None and int(kept.sum()) == prob.n and len(groups) == len(kept):
            groups = np.asarray(groups)[kept]
        gcodes = _groups_codes(groups, prob.n)
    else:
        if groups is not None:
            raise ValueError(f"groups= is only used with scheme='groups' (got scheme={scheme!r})")
        gcodes = None
    if not np.all(np.isfinite(fr.x)):
        raise ValueError("the full-data fit failed (no finite optimum); fix the fit before bootstrapping")
    if chunk_size is not None and (isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1):
        raise ValueError(f"chunk_size must be a positive integer or None, got {chunk_size!r}")
    size = int(chunk_size) if chunk_size is not None else 256
    threads = resolve_threads(n_threads)
    extra = None
    if not warm_start:
        if fr.starts is None:
            raise ValueError("warm_start=False needs the fit's start grid, which this result does not carry")
        extra = np.ascontiguousarray(fr.starts)
    boot_args = {"scheme": scheme, "groups": gcodes, "seed": int(seed), "theta_hat": [float(v) for v in fr.x],
                 "extra_starts": extra, "warm": bool(warm_start)}
    boot = _make_bootstrapper(prob, boot_args)
    p = len(prob.param_names)
    hist_edges = None
    if edges is not None:
        if keep != "summary":
            raise ValueError("edges= sets the histogram bins of keep='summary'; with keep='samples' intervals come from the samples")
        hist_edges = check_edges(edges, list(prob.param_names))
    elif keep == "summary":
        # the pilot: resamples 0..pilot_size-1 of this seed, whatever the range, so every part of
        # a split run bins on the same edges; refitted from the warm start even for
        # warm_start=False (the edges need the spread, not the cold starts' cost)
        pb = boot if warm_start else _make_bootstrapper(prob, {**boot_args, "extra_starts": None, "warm": True})
        pr = pb.run(0, pilot_size(prob.n), threads)
        hist_edges = pilot_edges(pr.samples[_CONVERGED[pr.status]], list(prob.positive))
    if executor is not None:
        got = run_on_executor(executor, prob, boot, boot_args, int(start), int(n_resamples), keep, hist_edges, progress)
        result = BootstrapResult(
            fit=fr, param_names=list(prob.param_names), n_resamples=int(n_resamples), seed=int(seed), start=int(start),
            scheme=scheme, warm_start=bool(warm_start), keep=keep, n_threads=threads, _boot=boot, _boot_args=boot_args, **got)
        result.warnings = bootstrap_warnings(result)
        emit(f"bootstrap of {fr.form!r}", result.warnings)
        return result
    samples = np.empty((int(n_resamples), p)) if keep == "samples" else None
    status = np.empty(int(n_resamples), dtype=np.uint8)
    summ = None if hist_edges is None else Summary(int(start), int(start) + int(n_resamples), hist_edges)
    bar = None
    if progress:
        try:
            from tqdm.auto import tqdm
        except ImportError:  # pragma: no cover
            raise ImportError("progress=True needs tqdm: pip install tqdm (or scalingfit[progress])") from None
        bar = tqdm(total=int(n_resamples), desc="bootstrap", unit="fit")
    t0 = time.perf_counter()
    done = 0
    try:
        while done < n_resamples:
            m = min(size, int(n_resamples) - done)
            t1 = time.perf_counter()
            r = boot.run(int(start) + done, m, threads)
            dt = time.perf_counter() - t1
            if samples is not None:
                samples[done : done + m] = r.samples
            else:
                assert summ is not None  # keep == "summary"
                summ.add(int(start) + done, r.samples, _CONVERGED[r.status])
            status[done : done + m] = r.status
            done += m
            if bar is not None:
                bar.update(m)
            if chunk_size is None:
                # aim for ~0.25 s per chunk: frequent progress and prompt Ctrl-C
                size = int(min(max(m * 0.25 / max(dt, 1e-6), 64), 200_000))
    finally:
        if bar is not None:
            bar.close()
    elapsed = time.perf_counter() - t0
    result = BootstrapResult(
        fit=fr,
        param_names=list(prob.param_names),
        samples=samples,
        status=status,
        n_resamples=int(n_resamples),
        seed=int(seed),
        start=int(start),
        scheme=scheme,
        warm_start=bool(warm_start),
        keep=keep,
        elapsed=elapsed,
        n_threads=threads,
        _moments=None if summ is None else moments(summ.state()),
        _state=None if summ is None else summ.state(),
        _boot=boot,
        _boot_args=boot_args,
    )
    result.warnings = bootstrap_warnings(result)
    emit(f"bootstrap of {fr.form!r}", result.warnings)
    return result
