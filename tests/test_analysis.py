"""Tests for scalingfit.analysis (compute-optimal, required, returns, budgets, extrapolation,
backtests) and scalingfit.plot, on the Chinchilla and Gadre et al. data in ../shared/data."""

import csv
import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import scalingfit as sf
from scalingfit.datasets import HOFFMANN, hoffmann_example

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
C_REF = 5.76e23  # Chinchilla's training compute


def closed_form(p, C, k=6.0):
    """Independent closed form: N* = G (C/k)^a, D* = (C/k)/N*."""
    a = p["beta"] / (p["alpha"] + p["beta"])
    G = (p["alpha"] * p["A"] / (p["beta"] * p["B"])) ** (1 / (p["alpha"] + p["beta"]))
    N = G * (C / k) ** a
    return a, N, C / k / N


def chin_loss(p, N, D):
    return p["E"] + p["A"] * N ** -p["alpha"] + p["B"] * D ** -p["beta"]


@pytest.fixture(scope="module")
def chinchilla():
    rows = list(csv.DictReader(open(DATA / "chinchilla" / "svg_extracted_data.csv")))
    N = np.array([float(r["Model Size"]) for r in rows])
    C = np.array([float(r["Training FLOP"]) for r in rows])
    L = np.array([float(r["loss"]) for r in rows])
    keep = L < np.sort(L)[-5]  # Epoch drops the 5 highest losses
    return {"N": N[keep], "D": C[keep] / (6 * N[keep]), "loss": L[keep]}


@pytest.fixture(scope="module")
def epoch_fit(chinchilla):
    return sf.fit("chinchilla", chinchilla, y="loss")


@pytest.fixture(scope="module")
def epoch_bs(epoch_fit):
    return sf.bootstrap(epoch_fit, n_resamples=4000, seed=0)


@pytest.fixture(scope="module")
def small_bs(epoch_fit):
    return sf.bootstrap(epoch_fit, n_resamples=300, seed=1)


@pytest.fixture(scope="module")
def hoffmann_fit():
    """A FitResult carrying Hoffmann et al.'s published parameters (on synthetic data of that law)."""
    d = hoffmann_example(seed=0)
    f = sf.fit("chinchilla", {"N": d["N"], "D": d["D"]}, y=d["loss"])
    x = np.array([HOFFMANN[n] for n in f.param_names])
    return dataclasses.replace(f, params=dict(HOFFMANN), x=x)


@pytest.fixture(scope="module")
def gadre():
    rows = list(csv.DictReader(open(DATA / "gadre_overtraining" / "gadre_losses_tidy.csv")))
    out = {}
    for ds in ("c4_original", "rpj", "rw_original"):
        r = [x for x in rows if x["dataset_name"] == ds]
        out[ds] = {
            "N": np.array([float(x["params"]) for x in r]),
            "D": np.array([float(x["tokens"]) for x in r]),
            "loss": np.array([float(x["loss_c4_val"]) for x in r]),
        }
    return out


# ---------------------------------------------------------------------------------------------
# compute_optimal


def test_epoch_fit_matches_reference(epoch_fit):
    ref = {"E": 1.8172, "A": 477.8, "alpha": 0.3473, "B": 2143.4, "beta": 0.3672}
    for k, v in ref.items():
        assert epoch_fit.params[k] == pytest.approx(v, rel=2e-3)


def test_compute_optimal_epoch(epoch_fit, epoch_bs):
    opt = sf.compute_optimal(epoch_bs, C=[1e21, C_REF])
    a, N, D = closed_form(epoch_fit.params, C_REF)
    print(f"\nEpoch fit: a = {opt.a:.4f} (bootstrap sd {opt.stderr['a']:.4f}, 95% {opt.interval('a')}); "
          f"at C = 5.76e23: N* = {opt.N[1]:.4g}, D* = {opt.D[1]:.4g}, D/N = {opt.tokens_per_param[1]:.3g}")
    assert opt.method == "closed form"
    assert opt.a == pytest.approx(0.513, abs=0.003)
    assert opt.a == pytest.approx(a, rel=1e-12)
    assert opt.a + opt.b == pytest.approx(1.0)
    assert 0.012 < opt.stderr["a"] < 0.03  # issue: sd ~0.02 (Epoch: 4000 pairs resamples give 0.019)
    lo, hi = opt.interval("a")
    assert lo < opt.a < hi and hi - lo > 0.04
    assert opt.N[1] == pytest.approx(N, rel=1e-10) and opt.D[1] == pytest.approx(D, rel=1e-10)
    assert 6 * opt.N * opt.D == pytest.approx(opt.C, rel=1e-10)
    assert opt.loss[1] == pytest.approx(chin_loss(epoch_fit.params, N, D), rel=1e-10)
    assert N == pytest.approx(7.32e10, rel=0.01) and D == pytest.approx(1.312e12, rel=0.01)
    nlo, nhi = opt.interval("N")
    assert np.all(nlo < opt.N) and np.all(opt.N < nhi)
    d = opt.to_dict()
    assert d["values"]["a"] == pytest.approx(opt.a) and len(d["ci"]["N"][0]) == 2
    assert "5.760e+23" in opt.summary() and "a=0.51" in repr(opt)


def test_compute_optimal_hoffmann(hoffmann_fit):
    opt = sf.compute_optimal(hoffmann_fit, C=C_REF)
    a, N, D = closed_form(HOFFMANN, C_REF)
    print(f"\nHoffmann published params: a = {opt.a:.4f}; at C = 5.76e23: N* = {opt.N[0]:.4g}, D* = {opt.D[0]:.4g}")
    # the closed form on the rounded published exponents gives 0.28/0.62 = 0.4516, just below the
    # 0.454-0.457 quoted in the issue (the paper's 0.46 comes from unrounded exponents)
    assert opt.a == pytest.approx(0.28 / 0.62, rel=1e-12)
    assert 0.45 < opt.a < 0.458
    assert opt.N[0] == pytest.approx(N, rel=1e-10) and opt.D[0] == pytest.approx(D, rel=1e-10)
    assert N == pytest.approx(3.219e10, rel=1e-3) and D == pytest.approx(2.982e12, rel=1e-3)
    assert opt.samples is None and opt.ci is None and opt.stderr is None
    with pytest.raises(ValueError, match="BootstrapResult"):
        opt.interval("N")


def test_numerical_matches_closed_form(epoch_fit, small_bs):
    C = np.geomspace(1e19, 1e25, 4)
    for src in (epoch_fit, small_bs):
        cf = sf.compute_optimal(src, C=C)
        nu = sf.compute_optimal(src, C=C, method="numerical")
        assert nu.method == "numerical"
        np.testing.assert_allclose(nu.N, cf.N, rtol=1e-6)
        np.testing.assert_allclose(nu.loss, cf.loss, rtol=1e-9)
        assert nu.a == pytest.approx(cf.a, abs=1e-6)
    np.testing.assert_allclose(nu.interval("N")[0], cf.interval("N")[0], rtol=1e-5)


def test_numerical_kaplan_is_a_minimum(chinchilla):
    f = sf.fit("kaplan_nd", chinchilla, y="loss")
    opt = sf.compute_optimal(f, C=[1e21, 1e24])
    assert opt.method == "numerical" and "G" not in opt.values
    for i, c in enumerate(opt.C):
        for m in (0.98, 1.02):
            N = opt.N[i] * m
            assert f.predict(N=[N], D=[c / (6 * N)])[0] > opt.loss[i]
    assert 0 < opt.a < 1 and opt.b == pytest.approx(1 - opt.a)


def test_compute_optimal_k_and_default_budgets(epoch_fit):
    o6 = sf.compute_optimal(epoch_fit, C=1e22)
    o8 = sf.compute_optimal(epoch_fit, C=1e22 * 8 / 6, k=8)
    assert o8.N[0] == pytest.approx(o6.N[0], rel=1e-10)
    d = sf.compute_optimal(epoch_fit)
    assert d.C[0] <= 6 * (epoch_fit.problem.columns[0] * epoch_fit.problem.columns[1]).min()
    assert np.all(np.diff(np.log10(d.C)) == pytest.approx(1.0))


def test_compute_optimal_errors(epoch_fit):
    with pytest.raises(TypeError, match="FitResult"):
        sf.compute_optimal({"E": 1.0}, C=1e21)
    with pytest.raises(ValueError, match="C must be positive"):
        sf.compute_optimal(epoch_fit, C=[1e21, -1])
    with pytest.raises(ValueError, match="non-finite"):
        sf.compute_optimal(epoch_fit, C=[np.nan])
    with pytest.raises(ValueError, match="k must be"):
        sf.compute_optimal(epoch_fit, C=1e21, k=0)
    with pytest.raises(ValueError, match="level"):
        sf.compute_optimal(epoch_fit, C=1e21, level=1.5)
    with pytest.raises(ValueError, match="method"):
        sf.compute_optimal(epoch_fit, C=1e21, method="fast")
    with pytest.raises(ValueError, match="resources"):
        sf.compute_optimal(epoch_fit, C=1e21, resources=("N", "X"))
    x = np.geomspace(1e6, 1e9, 20)
    p = sf.fit("power_law_plus_constant", {"x": x}, y=2 + 50 * x**-0.3)
    with pytest.raises(ValueError, match="two-resource"):
        sf.compute_optimal(p, C=1e21)
    bad = dataclasses.replace(epoch_fit, params={**epoch_fit.params, "alpha": -0.1})
    with pytest.raises(ValueError, match="interior optimum"):
        sf.compute_optimal(bad, C=1e21)


# ---------------------------------------------------------------------------------------------
# required


def test_required_roundtrip(epoch_fit, small_bs):
    opt = sf.compute_optimal(epoch_fit, C=[1e21, C_REF])
    req = sf.required(epoch_fit, loss=opt.loss)
    np.testing.assert_allclose(req.C, opt.C, rtol=1e-9)
    np.testing.assert_allclose(req.N, opt.N, rtol=1e-9)
    np.testing.assert_allclose(req.D, opt.D, rtol=1e-9)
    num = sf.required(epoch_fit, loss=opt.loss, method="numerical")
    np.testing.assert_allclose(num.C, opt.C, rtol=1e-6)
    rb = sf.required(small_bs, loss=[2.0, 1.85])
    lo, hi = rb.interval("C")
    assert lo[0] < rb.C[0] < hi[0]
    # 1.85 is close to E = 1.817: some resamples have E above it -> unreachable, interval open
    assert rb.unreachable[1] > 0 and hi[1] == math.inf
    assert rb.unreachable[0] == 0
    assert "unreachable" in rb.summary()


def test_required_below_irreducible_errors(epoch_fit):
    with pytest.raises(ValueError, match="irreducible loss E = 1.817"):
        sf.required(epoch_fit, loss=1.8)
    with pytest.raises(ValueError, match="irreducible"):
        sf.required(epoch_fit, loss=[2.0, 1.5], method="numerical")
    with pytest.raises(ValueError, match="positive"):
        sf.required(epoch_fit, loss=-1)
    with pytest.raises(ValueError, match="method"):
        sf.required(epoch_fit, loss=2, method="closed")


def test_required_one_variable():
    x = np.geomspace(1e6, 1e10, 30)
    f = sf.fit("power_law_plus_constant", {"x": x}, y=1.7 + 300 * x**-0.3)
    p = f.params
    want = (p["A"] / (2.0 - p["E"])) ** (1 / p["alpha"])
    r = sf.required(f, loss=2.0)
    assert r.x[0] == pytest.approx(want, rel=1e-10)
    assert sf.required(f, loss=2.0, method="numerical").x[0] == pytest.approx(want, rel=1e-7)
    with pytest.raises(ValueError, match="irreducible"):
        sf.required(f, loss=1.6)


# ---------------------------------------------------------------------------------------------
# returns


def test_returns(epoch_fit, small_bs):
    r = sf.returns(small_bs)
    p = epoch_fit.params
    gamma = p["alpha"] * p["beta"] / (p["alpha"] + p["beta"])
    assert r.multipliers["C"] == pytest.approx(2 ** (1 / gamma))
    assert r.multipliers["N"] == pytest.approx(2 ** (1 / p["alpha"]))
    assert r.exponents["D"] == pytest.approx(p["beta"])
    # consistency with compute_optimal: 2^(1/gamma) more compute halves L* - E
    opt = sf.compute_optimal(epoch_fit, C=[1e22, 1e22 * r.multipliers["C"]])
    assert (opt.loss[1] - p["E"]) / (opt.loss[0] - p["E"]) == pytest.approx(0.5, rel=1e-9)
    lo, hi = r.interval("multiplier_C")
    assert lo < r.multiplier_C < hi
    assert sf.returns(epoch_fit, factor=10).multiplier_N == pytest.approx(10 ** (1 / p["alpha"]))
    with pytest.raises(ValueError, match="factor"):
        sf.returns(epoch_fit, factor=1.0)


def test_returns_errors(chinchilla):
    f = sf.fit("kaplan_nd", chinchilla, y="loss")
    with pytest.raises(ValueError, match="power-law form"):
        sf.returns(f)
    with pytest.raises(TypeError):
        sf.returns("chinchilla")


# ---------------------------------------------------------------------------------------------
# optimize_budget


def test_optimize_budget(epoch_fit, small_bs):
    prices = {"N": 1e-9, "D": 1e-11}
    b = sf.optimize_budget(epoch_fit, prices, budget=1e3)
    assert prices["N"] * b.N + prices["D"] * b.D == pytest.approx(1e3, rel=1e-9)
    p = epoch_fit.params
    for s in (0.95, 1.05):  # moving budget between N and D makes the loss worse
        N = b.N * s
        D = (1e3 - prices["N"] * N) / prices["D"]
        assert chin_loss(p, N, D) > b.loss
    assert b.loss == pytest.approx(chin_loss(p, b.N, b.D), rel=1e-10)
    # the cheapest way to reach that loss costs the budget
    c = sf.optimize_budget(epoch_fit, prices, loss=b.loss)
    assert c.cost == pytest.approx(1e3, rel=1e-6) and c.N == pytest.approx(b.N, rel=1e-3)
    bb = sf.optimize_budget(small_bs, prices, budget=1e3)
    lo, hi = bb.interval("loss")
    assert lo < bb.loss < hi
    assert "budget" in bb.summary()


def test_optimize_budget_errors(epoch_fit):
    with pytest.raises(ValueError, match="missing"):
        sf.optimize_budget(epoch_fit, {"N": 1.0}, budget=10)
    with pytest.raises(ValueError, match="positive"):
        sf.optimize_budget(epoch_fit, {"N": 1.0, "D": -1.0}, budget=10)
    with pytest.raises(TypeError, match="prices"):
        sf.optimize_budget(epoch_fit, [1.0, 1.0], budget=10)
    with pytest.raises(ValueError, match="exactly one"):
        sf.optimize_budget(epoch_fit, {"N": 1.0, "D": 1.0})
    with pytest.raises(ValueError, match="exactly one"):
        sf.optimize_budget(epoch_fit, {"N": 1.0, "D": 1.0}, budget=10, loss=2.0)
    with pytest.raises(ValueError, match="too small"):
        sf.optimize_budget(epoch_fit, {"N": 1.0, "D": 1.0}, budget=1.5)
    with pytest.raises(ValueError, match="irreducible"):
        sf.optimize_budget(epoch_fit, {"N": 1e-9, "D": 1e-11}, loss=1.7)


# ---------------------------------------------------------------------------------------------
# extrapolate and backtest


def test_extrapolate(epoch_fit, small_bs):
    e = sf.extrapolate(epoch_fit, N=[7e10], D=[1.4e12])
    assert e.y[0] == pytest.approx(epoch_fit.predict(N=[7e10], D=[1.4e12])[0])
    assert e.samples is None
    pi = sf.extrapolate(small_bs, {"N": [7e10, 1e9], "D": [1.4e12, 2e10]})
    ci = sf.extrapolate(small_bs, {"N": [7e10, 1e9], "D": [1.4e12, 2e10]}, interval="confidence")
    (plo, phi), (clo, chi) = pi.interval("y"), ci.interval("y")
    assert np.all(phi - plo > chi - clo)  # residual noise widens the interval
    assert np.all((clo < ci.y) & (ci.y < chi))
    with pytest.raises(ValueError, match="interval"):
        sf.extrapolate(small_bs, N=[1e9], D=[1e10], interval="credible")
    with pytest.raises(ValueError, match="no column"):
        sf.extrapolate(epoch_fit, {"N": [1e9]})


def test_backtest_gadre(gadre):
    """Fit the smaller runs, predict the largest (6.9B parameters) of each training set."""
    errs, cover = [], []
    for ds, d in gadre.items():
        b = sf.backtest("chinchilla", d, "loss", holdout="top_N", frac=0.02, n_resamples=300, seed=0)
        print("\n" + ds + ": " + b.summary())
        assert b.n_test == 1 and b.points["N"][0] == pytest.approx(6.889e9, rel=1e-3)
        assert b.n_train == len(d["loss"]) - 1
        errs.append(b.mape)
        cover.append(b.coverage)
        assert b.lower[0] < b.y_pred[0] < b.upper[0]
    print(f"\ngadre top_N: mean |rel error| {np.mean(errs):.2%}, coverage {np.mean(cover):.0%}")
    assert max(errs) < 0.08  # a 650x extrapolation in N within 8%
    assert np.mean(errs) < 0.05
    assert np.mean(cover) >= 2 / 3


def test_backtest_top_compute(gadre):
    d = gadre["rpj"]
    b = sf.backtest("chinchilla", d, "loss", holdout="top_compute", frac=0.1, n_resamples=200, seed=0)
    C = 6 * d["N"] * d["D"]
    assert b.n_test == 4 and set(b.test_index) == set(np.argsort(C)[-4:])
    assert b.mape < 0.03
    assert 0 <= b.coverage <= 1
    js = b.to_dict()
    assert js["n_test"] == 4 and js["coverage"] == b.coverage
    nb = sf.backtest("chinchilla", d, "loss", holdout="top_compute", n_resamples=0)
    assert nb.lower is None and nb.coverage is None
    np.testing.assert_allclose(nb.y_pred, b.fit.predict(nb.points))


def test_backtest_errors(gadre):
    d = gadre["rpj"]
    with pytest.raises(ValueError, match="holdout must be one of 'top_compute', 'top_N', 'top_D'"):
        sf.backtest("chinchilla", d, "loss", holdout="largest")
    for bad in (0, 1, 1.5, -0.1):
        with pytest.raises(ValueError, match="frac must be in"):
            sf.backtest("chinchilla", d, "loss", frac=bad)
    with pytest.raises(ValueError, match="training rows"):
        sf.backtest("chinchilla", d, "loss", frac=0.9, n_resamples=0)
    with pytest.raises(ValueError, match="one entry per row"):
        sf.backtest("chinchilla", d, "loss", holdout=np.array([True, False]))
    with pytest.raises(ValueError, match="n_resamples"):
        sf.backtest("chinchilla", d, "loss", n_resamples=-1)
    mask = d["N"] > 1e9
    b = sf.backtest("chinchilla", d, "loss", holdout=mask, n_resamples=0)
    assert b.n_test == int(mask.sum()) and b.holdout == "given rows"


# ---------------------------------------------------------------------------------------------
# plots


def test_plots(epoch_fit, small_bs, tmp_path):
    mpl = pytest.importorskip("matplotlib")
    mpl.use("Agg")
    import matplotlib.pyplot as plt

    fig = sf.plot(small_bs)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert "FLOP" in ax.get_xlabel() and "loss" in ax.get_ylabel() and ax.get_title()
    assert ax.get_legend() is not None
    assert any("bootstrap band" in t.get_text() for t in ax.get_legend().get_texts())
    plt.close(fig)
    for kind in ("isoflop", "optimal", "residuals", "pairs"):
        fig = sf.plot(small_bs, kind, path=tmp_path / f"{kind}.png")
        assert (tmp_path / f"{kind}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert all(a.get_xlabel() or not a.get_visible() or kind == "pairs" for a in fig.axes)
        plt.close(fig)
    fig = sf.plot(epoch_fit, "isoflop")
    assert "parameters" in fig.axes[0].get_xlabel()
    plt.close(fig)
    with pytest.raises(ValueError, match="BootstrapResult"):
        sf.plot(epoch_fit, "pairs")
    with pytest.raises(ValueError, match="kind"):
        sf.plot(epoch_fit, "histogram")
    with pytest.raises(TypeError):
        sf.plot({"E": 1})
    x = np.geomspace(1e6, 1e9, 20)
    p = sf.fit("power_law_plus_constant", {"x": x}, y=2 + 50 * x**-0.3)
    with pytest.raises(ValueError, match="two-resource"):
        sf.plot(p, "isoflop")
    fig = sf.plot(p)
    assert fig.axes[0].get_xscale() == "log"
    plt.close(fig)


def test_analysis_results_have_declared_attributes():
    from scalingfit.analysis import ComputeOptimal
    from scalingfit.datasets import hoffmann_example

    d = hoffmann_example(seed=0)
    fit = sf.fit("chinchilla", {"N": d["N"], "D": d["D"]}, y=d["loss"])
    opt = sf.compute_optimal(fit, [1e21, 1e23])
    assert isinstance(opt, ComputeOptimal)
    assert "N" in ComputeOptimal.__annotations__ and "method" in ComputeOptimal.__annotations__
    assert opt.N is opt.values["N"] and opt.method == opt.meta["method"]
    assert "N" in vars(opt)  # a real attribute, not a __getattr__ lookup
    with pytest.raises(AttributeError):
        opt.tokens_per_parameter  # noqa: B018 (misspelt: an error, never a silent value)
