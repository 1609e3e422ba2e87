"""The data-constrained law (Muennighoff et al. 2023), sigmoidal downstream accuracy and the
two-step loss -> accuracy prediction, against synthetic truth."""

import json

import numpy as np
import pytest
import scalingfit as sf

pytestmark = pytest.mark.filterwarnings("ignore::scalingfit.ScalingFitWarning")

DC = {"E": 1.87, "A": 521.0, "alpha": 0.35, "B": 1488.0, "beta": 0.35, "Rd": 15.4}


def data_constrained(N, D, U, p=DC):
    UD = np.minimum(D, U)
    RD = D / UD - 1
    return p["E"] + p["A"] * N ** -p["alpha"] + p["B"] * (UD * (1 + p["Rd"] * (1 - np.exp(-RD / p["Rd"])))) ** -p["beta"]


def test_data_constrained_law_is_chinchilla_for_single_epochs_and_recovers_its_parameters():
    rng = np.random.default_rng(0)
    n = 300
    N = 10 ** rng.uniform(7.5, 9.5, n)
    U = 10 ** rng.uniform(8, 10, n)
    D = U * 10 ** rng.uniform(-0.5, 1.8, n)  # up to 60 epochs
    L = data_constrained(N, D, U) * np.exp(rng.normal(0, 0.002, n))
    f = sf.fit("data_constrained", {"N": N, "D": D, "U": U}, y=L)
    assert f.converged
    for k, v in DC.items():
        assert f.params[k] == pytest.approx(v, rel=0.15), k
    # one epoch or less (D <= U): exactly the chinchilla law in N, D
    x = {"N": np.array([1e8, 3e9]), "D": np.array([1e9, 2e10]), "U": np.array([5e9, 2e10])}
    chin = DC["E"] + DC["A"] * x["N"] ** -DC["alpha"] + DC["B"] * x["D"] ** -DC["beta"]
    from scalingfit._results import _Law

    assert np.allclose(_Law(f)(DC, x), chin, rtol=1e-12)
    # repeated data is worth less than fresh data: 40 epochs of U count for far fewer than 40 U tokens
    more = data_constrained(np.array([1e9]), np.array([40 * 1e9]), np.array([1e9]))
    fresh = data_constrained(np.array([1e9]), np.array([40 * 1e9]), np.array([40 * 1e9]))
    assert more[0] > fresh[0]


def test_sigmoid_accuracy_forms_recover_their_parameters():
    rng = np.random.default_rng(1)
    C = 10 ** rng.uniform(19, 25, 80)
    acc = 0.25 + 0.65 / (1 + np.exp(-0.8 * (np.log(C) - 52))) + rng.normal(0, 0.005, 80)
    g = sf.fit("sigmoid_accuracy", {"C": C}, y=acc, target="linear", loss="l2")
    assert g.converged
    assert g.params["k"] == pytest.approx(0.8, rel=0.1) and g.params["m"] == pytest.approx(52, abs=0.3)
    assert g.params["lo"] == pytest.approx(0.25, abs=0.02) and g.params["hi"] == pytest.approx(0.9, abs=0.02)
    L = rng.uniform(1.8, 3.5, 80)
    acc2 = 0.25 + 0.65 / (1 + np.exp(-4 * (2.5 - L))) + rng.normal(0, 0.005, 80)
    h = sf.fit("accuracy_from_loss", {"L": L}, y=acc2, target="linear", loss="l2")
    assert h.params["k"] == pytest.approx(4, rel=0.1) and h.params["m"] == pytest.approx(2.5, abs=0.02)


def _two_laws(seed=0, n_resamples=300):
    rng = np.random.default_rng(seed)
    C = 10 ** rng.uniform(18, 22, 60)
    loss = (1.7 + 2e3 * C**-0.15) * np.exp(rng.normal(0, 0.005, 60))
    lf = sf.fit("power_law_plus_constant", {"x": C}, y=loss)
    Lb = rng.uniform(1.8, 5.0, 60)
    acc = 0.25 + 0.65 / (1 + np.exp(-4 * (2.5 - Lb))) + rng.normal(0, 0.01, 60)
    af = sf.fit("accuracy_from_loss", {"L": Lb}, y=acc, target="linear", loss="l2")
    return lf, af, sf.bootstrap(lf, n_resamples=n_resamples, seed=1), sf.bootstrap(af, n_resamples=n_resamples, seed=2)


def test_two_step_composes_the_laws_and_carries_both_uncertainties():
    lf, af, lb, ab = _two_laws()
    at = {"x": np.array([1e19, 1e21, 1e24])}
    p = sf.two_step(lf, af, at)
    L = lf.params["E"] + lf.params["A"] * at["x"] ** -lf.params["alpha"]
    a = af.params
    assert np.allclose(p.loss, L)
    assert np.allclose(p.accuracy, a["lo"] + (a["hi"] - a["lo"]) / (1 + np.exp(-a["k"] * (a["m"] - L))))
    assert list(p.extrapolated) == [False, False, True] and "beyond the loss law's data" in p.reasons[2]
    b = sf.two_step(lb, ab, at)
    assert np.array_equal(b.accuracy, p.accuracy)
    truth_L = 1.7 + 2e3 * at["x"] ** -0.15
    truth_acc = 0.25 + 0.65 / (1 + np.exp(-4 * (2.5 - truth_L)))
    lo, hi = b.interval("accuracy")
    assert np.all((lo[:2] <= truth_acc[:2]) & (truth_acc[:2] <= hi[:2]))
    assert np.all(hi - lo > 0)
    s = b.summary()
    assert "extrapolated" in s and "paired bootstrap" in s
    json.dumps(b.to_dict(), allow_nan=False)


def test_two_step_bad_input():
    lf, af, lb, ab = _two_laws(n_resamples=20)
    from scalingfit.datasets import hoffmann_example

    d = hoffmann_example(seed=0)
    chin = sf.fit("chinchilla", {"N": d["N"], "D": d["D"]}, y=d["loss"])
    with pytest.raises(ValueError, match="one variable"):
        sf.two_step(lf, chin, {"x": 1e20})
    with pytest.raises(ValueError, match="missing"):
        sf.two_step(lf, af, {"C": 1e20})
    with pytest.raises(ValueError, match="finite and positive"):
        sf.two_step(lf, af, {"x": -1.0})
    with pytest.raises(ValueError, match="both laws"):
        sf.two_step(lb, af, {"x": 1e20})
    with pytest.raises(TypeError, match="dict"):
        sf.two_step(lf, af, [1e20])


def test_answers_beyond_the_data_are_marked():
    import warnings

    from scalingfit.datasets import hoffmann_example

    d = hoffmann_example(seed=0)
    fit = sf.fit("chinchilla", {"N": d["N"], "D": d["D"]}, y=d["loss"])
    c = 6 * d["N"] * d["D"]
    inside, beyond = float(np.median(c)), float(c.max()) * 100
    opt = sf.compute_optimal(fit, [inside, beyond])
    assert list(opt.beyond_data) == [False, True]
    assert "extrapolation: answer 2 (of 2) lie beyond the fitted data (N in [" in opt.summary()
    assert opt.to_dict()["beyond_data"] == [False, True]
    req = sf.required(fit, [float(np.median(d["loss"])), 1.75])
    assert list(req.beyond_data) == [False, True]
    big = sf.optimize_budget(fit, {"N": 1.0, "D": 1.0}, budget=1e15)  # N + D = 1e15: far past the data
    assert bool(np.all(big.beyond_data)) and "extrapolation: answer 1 (of 1)" in big.summary()
    with pytest.warns(sf.ScalingFitWarning, match=r"predict: 1 of 2 points lie beyond the fitted data"):
        fit.predict({"N": [1e9, 7e10], "D": [2e10, 1.4e12]})
    assert list(fit.extrapolated(N=[1e9, 7e10], D=[2e10, 1.4e12])) == [False, True]
    with warnings.catch_warnings():
        warnings.simplefilter("error", sf.ScalingFitWarning)
        fit.predict({"N": [1e9], "D": [2e10]})  # inside: no warning


def test_the_law_plot_draws_extrapolation_dashed():
    mpl = pytest.importorskip("matplotlib")
    mpl.use("Agg")
    from scalingfit.datasets import hoffmann_example

    d = hoffmann_example(seed=0)
    fit = sf.fit("chinchilla", {"N": d["N"], "D": d["D"]}, y=d["loss"])
    for obj in (fit, sf.fit("power_law_plus_constant", {"x": 6 * d["N"] * d["D"]}, y=d["loss"])):
        ax = sf.plot(obj).axes[0]
        lines = {ln.get_label(): ln for ln in ax.get_lines()}
        dashed = lines["extrapolated (beyond the data)"]
        assert dashed.get_linestyle() == "--"
        x = np.asarray(dashed.get_xdata(), float)
        prob = obj.problem
        cmax = (6 * prob.columns[0] * prob.columns[1]).max() if len(obj.variables) == 2 else prob.columns[0].max()
        assert np.nanmax(x) > cmax * 10  # the dashed part is the one beyond the data


def test_residual_plot_shows_observed_minus_fitted():
    mpl = pytest.importorskip("matplotlib")
    mpl.use("Agg")
    C = np.geomspace(1e18, 1e22, 20)
    y = 1.8 + 2e3 * C**-0.17
    y[3] *= 1.2  # one run far above the law: a positive residual
    fit = sf.fit("power_law_plus_constant", {"C": C}, y=y, loss="l2")
    ax = sf.plot(fit, "residuals").axes[0]
    r = ax.collections[0].get_offsets()[:, 1]
    assert r[3] > 0 and r[3] == max(r)
    assert ax.get_ylabel() == "residual ln(observed) − ln(fit)"


def test_isoflop_plot_uses_the_sweeps_budgets_and_says_what_it_leaves_out():
    mpl = pytest.importorskip("matplotlib")
    mpl.use("Agg")
    from scalingfit.datasets import hoffmann_example

    d = hoffmann_example(seed=0)  # an IsoFLOP sweep: runs share their budget's compute
    fit = sf.fit("chinchilla", {"N": d["N"], "D": d["D"]}, y=d["loss"])
    ax = sf.plot(fit, "isoflop").axes[0]
    labels = [ln.get_label() for ln in ax.get_lines()]
    budgets = np.unique(np.round(np.log10(6 * d["N"] * d["D"]), 2))
    assert sum(lab.startswith("C = ") for lab in labels) == len(budgets)
    # every run is drawn in its budget's colour (none in grey)
    assert "runs at other budgets" not in [c.get_label() for c in ax.collections]
    # a run far above the others is left off the axis, and the plot says so
    y = d["loss"].copy()
    y[0] = 50.0
    fit2 = sf.fit("chinchilla", {"N": d["N"], "D": d["D"]}, y=y)
    ax2 = sf.plot(fit2, "isoflop").axes[0]
    assert any("1 run above the axis not shown" in t.get_text() for t in ax2.texts)


def test_pairs_plot_keeps_few_ticks_per_panel():
    mpl = pytest.importorskip("matplotlib")
    mpl.use("Agg")
    from scalingfit.datasets import hoffmann_example

    d = hoffmann_example(seed=0)
    fit = sf.fit("chinchilla", {"N": d["N"], "D": d["D"]}, y=d["loss"])
    fig = sf.plot(sf.bootstrap(fit, n_resamples=200, seed=0), "pairs")
    for ax in (a for a in fig.axes if a.get_visible()):
        lo, hi = sorted(ax.get_xlim())
        assert sum(lo <= t <= hi for t in ax.get_xticks()) <= 4


def test_n_jobs_is_an_alias_of_n_threads():
    from scalingfit.datasets import hoffmann_example

    d = hoffmann_example(seed=0)
    X = {"N": d["N"], "D": d["D"]}
    a = sf.fit("chinchilla", X, y=d["loss"], n_threads=1)
    b = sf.fit("chinchilla", X, y=d["loss"], n_jobs=1)
    c = sf.fit("chinchilla", X, y=d["loss"], n_jobs=-1)
    assert np.array_equal(a.x, b.x) and np.array_equal(a.x, c.x)
    s1 = sf.bootstrap(a, n_resamples=50, seed=0, n_jobs=1)
    s2 = sf.bootstrap(a, n_resamples=50, seed=0, n_threads=2)
    assert s1.n_threads == 1 and np.array_equal(s1.samples, s2.samples)
    with pytest.raises(TypeError, match="n_threads or its alias n_jobs, not both"):
        sf.fit("chinchilla", X, y=d["loss"], n_threads=1, n_jobs=1)
    with pytest.raises(ValueError, match="n_jobs must be"):
        sf.bootstrap(a, n_resamples=5, seed=0, n_jobs=-3)


def test_law_plot_labels_a_narrow_loss_axis_densely():
    mpl = pytest.importorskip("matplotlib")
    mpl.use("Agg")
    d = sf.datasets.hoffmann_example(seed=0)  # losses 2.2-3.4: one or two whole numbers only
    fig = sf.plot(sf.fit("chinchilla", {"N": d["N"], "D": d["D"]}, y=d["loss"]))
    fig.canvas.draw()
    ax = fig.axes[0]
    lo, hi = ax.get_ylim()
    shown = [t for t in ax.get_yticklabels(minor=True) + ax.get_yticklabels() if t.get_text() and lo <= t.get_position()[1] <= hi]
    assert len(shown) >= 5


def test_residuals_against_a_variable_or_the_fitted_values():
    mpl = pytest.importorskip("matplotlib")
    mpl.use("Agg")
    d = sf.datasets.hoffmann_example(seed=0)
    fit = sf.fit("chinchilla", {"N": d["N"], "D": d["D"]}, y=d["loss"])
    for against, xs in (("N", d["N"]), ("D", d["D"]), ("C", 6 * d["N"] * d["D"]), ("fitted", fit.predict({"N": d["N"], "D": d["D"]}))):
        ax = sf.plot(fit, "residuals", against=against).axes[0]
        assert np.allclose(ax.collections[0].get_offsets()[:, 0], xs)
    with pytest.raises(ValueError, match=r"against must be one of \['fitted', 'N', 'D', 'C'\]"):
        sf.plot(fit, "residuals", against="x")
    with pytest.raises(TypeError, match="against"):
        sf.plot(fit, "law", against="N")
