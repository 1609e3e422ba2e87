"""Honest uncertainty on synthetic truth (seeded, CI-sized): asymptotic Huber errors, bootstrap
schemes with the default (Huber) loss, and the intervals built from them."""

from __future__ import annotations

import numpy as np
import pytest
import scalingfit as sf
from scalingfit.datasets import HOFFMANN, hoffmann_example

NAMES = ["E", "A", "alpha", "B", "beta"]
Z95 = 1.959963984540054


@pytest.fixture(scope="module")
def isoflop_fits():
    """100 IsoFLOP-design datasets from the Hoffmann law with 1% log-normal noise, fitted with
    the default loss (Huber, delta = 1e-3: most residuals lie outside it, an L1-like fit)."""
    out = []
    for seed in range(100):
        d = hoffmann_example(seed=seed, noise=0.01)
        out.append(sf.fit("chinchilla", {"N": d["N"], "D": d["D"]}, y=d["loss"]))
    return out


def test_huber_wald_intervals_cover_the_truth(isoflop_fits):
    # the bread of the sandwich used psi(r)/r, which made the errors 4-10x too small (Wald
    # coverage 0.18-0.40); with the kernel-smoothed psi' it holds its level
    hits = {n: 0 for n in NAMES}
    for f in isoflop_fits:
        assert f.loss == "huber" and f.cov is not None
        for n in NAMES:
            hits[n] += abs(f.params[n] - HOFFMANN[n]) <= Z95 * f.stderr[n]
    cover = {n: h / len(isoflop_fits) for n, h in hits.items()}
    for n in ("E", "alpha", "beta"):
        assert cover[n] >= 0.85, cover
    assert min(cover.values()) >= 0.8, cover
    # not inflated into uselessness either: no parameter is covered every time
    assert max(cover.values()) < 1.0, cover


def test_huber_errors_agree_with_the_bootstrap(isoflop_fits):
    # the asymptotic errors and the pairs bootstrap measure the same spread (within 35%)
    f = isoflop_fits[0]
    b = sf.bootstrap(f, n_resamples=400, seed=1)
    for n in ("E", "alpha", "beta"):
        assert b.stderr[n] / f.stderr[n] == pytest.approx(1.0, abs=0.35), (n, b.stderr[n], f.stderr[n])


@pytest.mark.parametrize("scheme", ["residual", "parametric"])
def test_residual_schemes_hold_their_level_with_the_huber_loss(isoflop_fits, scheme):
    # L1-like residuals understate the noise (p of them are ~0): centred on the median and
    # inflated by sqrt(n/(n-p)) they give intervals at their level (before: 0.855-0.94)
    hits = {n: 0 for n in NAMES}
    for i, f in enumerate(isoflop_fits):
        ci = sf.bootstrap(f, n_resamples=200, seed=i, scheme=scheme).ci(0.95)
        for n in NAMES:
            lo, hi = ci[n]
            hits[n] += lo <= HOFFMANN[n] <= hi
    cover = {n: h / len(isoflop_fits) for n, h in hits.items()}
    assert np.mean(list(cover.values())) >= 0.90, cover
    assert min(cover.values()) >= 0.85, cover


def _checkpoints(seed, runs=12, per=8, run_sd=0.02, point_sd=0.003):
    """Training curves: `per` checkpoints of each of `runs` runs (N fixed per run, D growing),
    the Hoffmann law times a log-normal run effect (shared by a run's checkpoints) and a small
    per-checkpoint noise: rows of one run are strongly correlated."""
    rng = np.random.default_rng(seed)
    N = np.geomspace(2e7, 2e9, runs)
    D_final = 20 * N * 10 ** rng.uniform(-0.3, 0.6, runs)
    NN = np.repeat(N, per)
    DD = (D_final[:, None] * np.geomspace(0.1, 1, per)[None, :]).ravel()
    run = np.repeat(np.arange(runs), per)
    p = HOFFMANN
    L = p["E"] + p["A"] * NN ** -p["alpha"] + p["B"] * DD ** -p["beta"]
    L = L * np.exp(rng.normal(0, run_sd, runs)[run] + rng.normal(0, point_sd, len(run)))
    return {"N": NN, "D": DD}, L, run


def test_groups_bootstrap_holds_its_level_on_correlated_checkpoints():
    import warnings

    cover = {}
    for scheme in ("pairs", "groups"):
        hits = {n: 0 for n in NAMES}
        for seed in range(100):
            data, y, run = _checkpoints(seed)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", sf.ScalingFitWarning)  # few runs: some resamples at odd exponents
                f = sf.fit("chinchilla", data, y=y)
                b = sf.bootstrap(f, n_resamples=200, seed=seed, scheme=scheme, groups=run if scheme == "groups" else None)
            for n, (lo, hi) in b.ci(0.95).items():
                hits[n] += lo <= HOFFMANN[n] <= hi
        cover[scheme] = {n: h / 100 for n, h in hits.items()}
    # pairs treats the checkpoints of a run as independent: far too narrow (0.54-0.82 here)
    assert np.mean(list(cover["pairs"].values())) < 0.8, cover
    assert np.mean(list(cover["groups"].values())) >= 0.90, cover
    assert min(cover["groups"].values()) >= 0.85, cover


def test_backtest_and_extrapolate_take_a_scheme_and_groups():
    import warnings

    data, y, run = _checkpoints(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sf.ScalingFitWarning)
        pairs = sf.backtest("chinchilla", data, y, holdout="top_N", frac=0.2, n_resamples=300, seed=0)
        grouped = sf.backtest("chinchilla", data, y, holdout="top_N", frac=0.2, n_resamples=300, seed=0,
                              scheme="groups", groups=run)
    assert grouped.bootstrap.scheme == "groups" and pairs.bootstrap.scheme == "pairs"
    assert grouped.n_train == pairs.n_train == 72  # the two largest runs held out
    # resampling whole runs gives wider (honest) intervals than resampling checkpoints
    assert np.mean(grouped.upper - grouped.lower) > 1.2 * np.mean(pairs.upper - pairs.lower)
    f = sf.fit("chinchilla", data, y=y)
    ex = sf.extrapolate(f, {"N": [1e10], "D": [2e11]}, n_resamples=200, scheme="groups", groups=run, interval="confidence")
    lo, hi = ex.interval("y")
    assert lo[0] < ex.y[0] < hi[0]
    with pytest.raises(ValueError, match="^scheme/groups: .*give n_resamples > 0"):
        sf.extrapolate(f, {"N": [1e10], "D": [2e11]}, scheme="groups", groups=run)
