"""Downstream accuracy: the two-step prediction (inputs -> loss by a scaling law, loss ->
accuracy by a sigmoid, as in Llama 3's forecasts), with intervals and extrapolation marked."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ._bootstrap import BootstrapResult, _check_level
from ._data import fmt
from ._fit import FitResult
from ._results import _Result, _Source

__all__ = ["two_step", "TwoStep"]


def _data_range(fit: FitResult) -> dict[str, tuple[float, float]]:
    prob = fit.problem
    assert prob is not None
    return {v: (float(prob.columns[i].min()), float(prob.columns[i].max())) for i, v in enumerate(fit.variables)}


class TwoStep(_Result):
    """``loss`` predicted by the first law at the query points, ``accuracy`` by the second at that
    loss; ``extrapolated`` marks points beyond either law's data (inputs beyond the first law's
    fitted range, or a predicted loss beyond the range the accuracy law was fitted on)."""

    _title = "two-step prediction"
    loss: np.ndarray
    accuracy: np.ndarray
    extrapolated: np.ndarray
    at: dict[str, np.ndarray]
    reasons: list[str]

    def summary(self) -> str:
        """A readable report of the result, with its intervals and warnings."""
        names = list(self.at)
        lines = ["two-step prediction: inputs -> loss (first law) -> accuracy (second law)",
                 "  " + "".join(f"{n:>12}" for n in names) + f"{'loss':>10}{'':<24}{'accuracy':>10}{'':<24}"]
        for i in range(len(self.loss)):
            lo_l = self._iv("loss", i) if self.samples is not None else ""
            lo_a = self._iv("accuracy", i) if self.samples is not None else ""
            mark = "  extrapolated: " + self.reasons[i] if self.extrapolated[i] else ""
            lines.append("  " + "".join(f"{fmt(float(self.at[n][i])):>12}" for n in names)
                         + f"{self.loss[i]:>10.4f} {lo_l:<23}{self.accuracy[i]:>10.4f} {lo_a:<23}{mark}")
        if self.samples is not None:
            lines.append(f"  intervals: {self.level:.0%} percentile over {self.n_samples} paired bootstrap resamples of the two laws")
        return "\n".join(lines)


def two_step(loss_law: FitResult | BootstrapResult, accuracy_law: FitResult | BootstrapResult, at: Mapping[str, Any],
             *, level: float = 0.95) -> TwoStep:
    """Predict downstream accuracy in two steps: ``loss_law`` (any fitted law, e.g. chinchilla or
    a power law in compute) gives the loss at ``at`` (a dict of its variables; arrays broadcast),
    and ``accuracy_law`` (a one-variable law of the loss, e.g. the ``accuracy_from_loss`` form
    fitted with ``target="linear"``) maps that loss to accuracy. With BootstrapResults, resample
    i of one is paired with resample i of the other (independent bootstraps), and the intervals
    carry both laws' uncertainty. Points beyond either law's data are marked as extrapolated.

    Returns
    -------
    TwoStep
        ``loss``, ``accuracy`` (with intervals from BootstrapResults), ``extrapolated``; ``summary()``.

    Examples
    --------
    >>> import numpy as np
    >>> import scalingfit as sf
    >>> C = np.geomspace(1e18, 1e22, 30)
    >>> loss_law = sf.fit("power_law_plus_constant", {"x": C}, y=1.7 + 2e3 * C**-0.15)
    >>> L = np.linspace(1.8, 5.0, 30)
    >>> acc = 0.25 + 0.65 / (1 + np.exp(-4 * (2.5 - L)))
    >>> acc_law = sf.fit("accuracy_from_loss", {"L": L}, y=acc, target="linear", loss="l2")
    >>> sf.two_step(loss_law, acc_law, {"x": [1e20, 1e21]}).accuracy.round(2).tolist()
    [0.26, 0.3]
    """
    level = _check_level(level)
    s1 = _Source(loss_law, "two_step")
    s2 = _Source(accuracy_law, "two_step")
    if len(s2.fit.variables) != 1:
        raise ValueError(f"two_step: accuracy_law must be a law of one variable (the loss), e.g. the 'accuracy_from_loss' form; "
                         f"it has {s2.fit.variables}")
    if not isinstance(at, Mapping):
        raise TypeError(f"two_step: at must be a dict of the loss law's variables {s1.fit.variables}, got {type(at).__name__}")
    missing = [v for v in s1.fit.variables if v not in at]
    extra = [v for v in at if v not in s1.fit.variables]
    if missing or extra:
        raise ValueError(f"two_step: at must give exactly the loss law's variables {s1.fit.variables}; missing {missing}, unknown {extra}")
    try:
        arrs = [np.asarray(at[v], dtype=np.float64) for v in s1.fit.variables]
        shape = np.broadcast_shapes(*(a.shape for a in arrs))
    except (TypeError, ValueError) as e:
        raise ValueError(f"two_step: the values in at must be numbers or arrays of one shape ({e})") from None
    X = {v: np.broadcast_to(a, shape).ravel() for v, a in zip(s1.fit.variables, arrs)}
    for v, a in X.items():
        if not np.all(np.isfinite(a)) or np.any(a <= 0):
            raise ValueError(f"two_step: at[{v!r}] must be finite and positive")
    lv = s2.fit.variables[0]
    with np.errstate(all="ignore"):
        loss = s1.law(s1.point(), X)
        acc = s2.law(s2.point(), {lv: loss})
    if not (np.all(np.isfinite(loss)) and np.all(np.isfinite(acc))):
        raise ValueError("two_step: the laws give no finite prediction at some of these points (check the inputs' units)")
    r1, r2 = _data_range(s1.fit), _data_range(s2.fit)
    reasons = []
    for i in range(len(loss)):
        why = [f"{v} beyond the loss law's data [{fmt(lo)}, {fmt(hi)}]" for v, (lo, hi) in r1.items() if not lo <= X[v][i] <= hi]
        lo, hi = r2[lv]
        if not lo <= loss[i] <= hi:
            why.append(f"predicted loss {loss[i]:.4g} beyond the accuracy law's data [{fmt(lo)}, {fmt(hi)}]")
        reasons.append("; ".join(why))
    samples = None
    n_invalid = 0
    if s1.samples is not None and s2.samples is not None:
        m = min(len(s1.samples), len(s2.samples))
        P1 = {n: s1.samples[:m, k][:, None] for k, n in enumerate(s1.names)}
        P2 = {n: s2.samples[:m, k][:, None] for k, n in enumerate(s2.names)}
        with np.errstate(all="ignore"):
            ls = s1.law(P1, {v: a[None, :] for v, a in X.items()})
            acs = s2.law(P2, {lv: ls})
        bad = ~(np.isfinite(ls).all(axis=1) & np.isfinite(acs).all(axis=1))
        n_invalid = int(bad.sum())
        samples = {"loss": np.where(bad[:, None], np.nan, ls), "accuracy": np.where(bad[:, None], np.nan, acs)}
    elif (s1.samples is None) != (s2.samples is None):
        raise ValueError("two_step: give both laws as BootstrapResults (for intervals) or both as FitResults")
    values = {"loss": loss, "accuracy": acc, "extrapolated": np.array([bool(r) for r in reasons])}
    return TwoStep(values, samples, level, {"at": X, "reasons": reasons, "n_invalid": n_invalid})

