"""No silent wrong answers: each case that used to look like a good result now warns (recorded in
``warnings``, printed by ``summary()``, raised once as a ScalingFitWarning) or raises."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import scalingfit as sf
from scalingfit.datasets import hoffmann_example


@pytest.fixture(scope="module")
def H():
    return hoffmann_example(seed=0)


def _fit(*a, **k):
    with pytest.warns(sf.ScalingFitWarning) as rec:
        f = sf.fit(*a, **k)
    return f, " ".join(str(w.message) for w in rec)


def test_a_clean_fit_has_no_warnings(H):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", sf.ScalingFitWarning)
        f = sf.fit("chinchilla", {"N": H["N"], "D": H["D"]}, y=H["loss"])
        b = sf.bootstrap(f, n_resamples=200, seed=0)
        sf.compute_optimal(b)
    assert f.warnings == [] and b.warnings == [] and "warning" not in f.summary()


def test_a_term_negligible_at_every_point_is_reported(H):
    # alpha = 150 makes A*N^-alpha 0 at every data point: LM stops there "converged" (the N
    # term has no gradient), like the mixed IsoFLOP table that gave alpha = 189.7
    f, msg = _fit("chinchilla", {"N": H["N"], "D": H["D"]}, y=H["loss"],
                  starts={"E": 1.7, "A": 400, "alpha": 150, "B": 400, "beta": 0.3})
    assert any(w.startswith("A = 400 has no effect at any data point") for w in f.warnings), f.warnings
    assert any(w.startswith("alpha = 150 has no effect") for w in f.warnings), f.warnings
    assert any("covariance is singular" in w for w in f.warnings)
    assert "has no effect at any data point" in msg
    assert "warning: A = 400 has no effect" in f.summary()
    assert json.loads(json.dumps(f.to_dict(), allow_nan=False))["warnings"] == f.warnings


def test_a_model_that_underflowed_to_zero_is_not_converged():
    # exp(-50 x) is 0 for every x in [100, 400]: the gradient is 0, which LM took for convergence
    x = np.linspace(100, 400, 40)
    f, msg = _fit("b1*exp(-b2*x)", {"x": x}, y=5 * np.exp(-0.01 * x), target="linear", loss="l2", starts={"b1": 1, "b2": 50})
    assert not f.converged
    assert f.message.startswith("not converged: the model is 0 at every data point")
    assert "zero gradient is not convergence" in msg


def test_a_parameter_at_its_bound_is_reported(H):
    f, msg = _fit("chinchilla", {"N": H["N"], "D": H["D"]}, y=H["loss"], bounds={"alpha": (0.4, 1.0)})
    assert f.params["alpha"] == pytest.approx(0.4, abs=0.01)
    assert any(w.startswith("alpha = 0.40") and "of its lower bound 0.4" in w for w in f.warnings), f.warnings
    # exactly at a bound
    g, _ = _fit("chinchilla", {"N": H["N"], "D": H["D"]}, y=H["loss"], starts={"E": 1.7, "A": 400, "alpha": 0.4, "B": 400, "beta": 0.3},
                bounds={"alpha": (0.4, 1.0)}, max_iter=1)
    assert any(w.startswith("alpha = 0.4 is at its lower bound 0.4") for w in g.warnings), g.warnings


def test_an_exponent_of_the_wrong_sign_is_reported():
    x = np.geomspace(1e6, 1e10, 30)
    y = 2.0 * (x / 1e6) ** 0.1  # loss grows with scale
    f, msg = _fit("power_law", {"x": x}, y=y)
    assert f.params["alpha"] == pytest.approx(-0.1, rel=1e-6)
    assert any(w.startswith("exponent alpha = -0.1 is not positive") for w in f.warnings), f.warnings


def test_zero_width_bootstrap_intervals_are_reported(H):
    # 5 points and 5 parameters: every resample returns the warm start
    idx = [0, 20, 40, 60, 100]
    f, _ = _fit("chinchilla", {"N": H["N"][idx], "D": H["D"][idx]}, y=H["loss"][idx])
    with pytest.warns(sf.ScalingFitWarning, match="zero-width intervals"):
        b = sf.bootstrap(f, n_resamples=100, seed=0)
    assert any("every resample returned the same E, A, alpha, B, beta" in w for w in b.warnings), b.warnings
    assert "warning: every resample returned the same" in b.summary()
    assert b.to_dict()["warnings"] == b.warnings


def test_resamples_left_out_of_derived_intervals_are_reported():
    # few noisy runs: some resamples have an exponent <= 0, so no interior optimum; they are left
    # out of compute_optimal's intervals, which must say so
    d = hoffmann_example(seed=3, noise=0.08, n_budgets=3, n_per_budget=5)
    f = sf.fit("chinchilla", {"N": d["N"], "D": d["D"]}, y=d["loss"])
    with pytest.warns(sf.ScalingFitWarning):
        b = sf.bootstrap(f, n_resamples=400, seed=0)
    assert any("have alpha <= 0" in w or "have beta <= 0" in w for w in b.warnings), b.warnings
    with pytest.warns(sf.ScalingFitWarning, match="bootstrap resamples give no valid answer"):
        opt = sf.compute_optimal(b, C=[1e22])
    assert opt.n_invalid > 0 and any("are left out" in w for w in opt.warnings)
    assert "warning:" in opt.summary() and opt.to_dict()["warnings"] == opt.warnings


def test_a_pandas_y_is_aligned_on_the_index(H):
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(H)
    shuffled = df.sample(frac=1.0, random_state=0)
    a = sf.fit("chinchilla", df, y=df["loss"])
    b = sf.fit("chinchilla", shuffled, y=df["loss"])  # before: alpha 24, beta -2.3, "converged"
    for k in a.params:
        assert b.params[k] == pytest.approx(a.params[k], rel=1e-6)
    w = pd.Series(np.ones(len(df)), index=df.index)
    c = sf.fit("chinchilla", shuffled, y=df["loss"], weights=w)
    assert c.params["alpha"] == pytest.approx(a.params["alpha"], rel=1e-6)
    other = df["loss"].copy()
    other.index = other.index + 1000
    with pytest.raises(ValueError, match="^y: its pandas index does not match data's index"):
        sf.fit("chinchilla", df, y=other)
    with pytest.raises(ValueError, match="^y: its pandas index does not match"):
        sf.fit("chinchilla", df, y=df["loss"].iloc[:-1])
    # arrays are positional, as before
    assert sf.fit("chinchilla", df, y=df["loss"].to_numpy()).params["alpha"] == pytest.approx(a.params["alpha"])


@pytest.mark.parametrize("typo, column", [("Np", "N"), ("n", "N"), ("DD", "D"), ("tokns", "tokens")])
def test_a_parameter_named_like_an_unused_column_is_taken_for_a_typo(H, typo, column):
    data = {"N": H["N"], "D": H["D"], "tokens": H["D"]}
    other = "D" if column == "N" else "N"
    form = f"E + A*{typo}^-alpha + B*{other}^-beta"
    with pytest.raises(ValueError, match=f"^form: '{typo}' is fitted as a parameter, but data has a column '{column}'"):
        sf.fit(form, data, y=H["loss"], positive=["E", "A", "B"])


def test_unused_dict_columns_raise_and_check_names_false_allows_both(H):
    with pytest.raises(ValueError, match="^data: column\\(s\\) 'C' are not used by the formula"):
        sf.fit("E + A*N^-alpha + B*D^-beta", {"N": H["N"], "D": H["D"], "C": H["C"]}, y=H["loss"], positive=["E", "A", "B"])
    f = sf.fit("E + A*Np^-alpha + B*D^-beta", {"N": H["N"], "D": H["D"]}, y=H["loss"], positive=["E", "A", "B"], check_names=False)
    assert "Np" in f.params
    # a DataFrame may carry extra columns (a table of runs); built-in forms name their variables
    pd = pytest.importorskip("pandas")
    sf.fit("E + A*N^-alpha + B*D^-beta", pd.DataFrame(H), y="loss", positive=["E", "A", "B"])
    sf.fit("chinchilla", {"N": H["N"], "D": H["D"], "C": H["C"]}, y=H["loss"])


def test_summary_says_when_asymptotic_errors_are_unreliable(H):
    big = sf.fit("chinchilla", {"N": H["N"], "D": H["D"]}, y=H["loss"])
    assert "stderr: asymptotic (Huber M-estimator sandwich" in big.summary()
    assert "unreliable" not in big.summary()  # 108 points for 5 parameters
    small = sf.fit("chinchilla", {"N": H["N"][::4], "D": H["D"][::4]}, y=H["loss"][::4])
    assert "only 27 points for 5 parameters: the asymptotic errors are unreliable" in small.summary()


def test_compare_uses_a_bootstraps_percentile_interval(H):
    from scalingfit import dimension

    f = sf.fit("chinchilla", {"N": H["N"], "D": H["D"]}, y=H["loss"])
    b = sf.bootstrap(f, n_resamples=300, seed=0)
    est = dimension.mle(np.random.default_rng(0).standard_normal((2000, 8)), k=10)
    c = dimension.compare(est, b, name="alpha")
    assert c.fitted_interval == pytest.approx(b.ci(0.95)["alpha"])
    assert c.fitted == f.params["alpha"]
    # with a fit: value +- z * the (honest, smoothed-sandwich) asymptotic stderr
    c2 = dimension.compare(est, f, name="alpha")
    assert c2.fitted_interval == pytest.approx((f.params["alpha"] - 1.959964 * f.stderr["alpha"], f.params["alpha"] + 1.959964 * f.stderr["alpha"]), rel=1e-6)


def test_a_diverging_parameter_in_the_bootstrap_is_reported_without_numpy_warnings(H):
    import warnings

    from scalingfit._diagnostics import bootstrap_warnings

    f = sf.fit("chinchilla", {"N": H["N"], "D": H["D"]}, y=H["loss"])
    b = sf.bootstrap(f, n_resamples=50, seed=0)
    # resamples that sent A towards infinity (as on a subset of runs where A's sd printed inf)
    b.samples[:5, 1] = 1e308
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no numpy overflow warning leaks
        found = bootstrap_warnings(b)
        sd = b.stderr["A"]
    assert not np.isfinite(sd)
    assert any(w.startswith("the bootstrap spread of A is not finite") for w in found), found


def test_a_parameter_running_off_to_infinity_is_named_not_converged():
    # 6 runs of one model size: the law is not identified, and LM walked B out to ~1e90 along a
    # valley, then reported "converged"; now the drift is caught and named
    N = np.full(6, 1e9)
    D = np.array([3.0e11, 1.7e10, 4.5e10, 1.2e9, 1.8e11, 4.1e10])
    y = np.array([1.96, 2.32, 2.88, 3.65, 2.83, 2.52])
    start = {"E": 1.5, "A": 1e3, "alpha": 0.3, "B": 1e3, "beta": 0.6}
    with pytest.warns(sf.ScalingFitWarning, match="diverge"):
        f = sf.fit("chinchilla", {"N": N, "D": D}, y=y, starts=start)
    # automatic starts end elsewhere in the same unidentified family (A*N^-alpha is a constant
    # when N is), which is said too
    with pytest.warns(sf.ScalingFitWarning, match="not identified"):
        sf.fit("chinchilla", {"N": N, "D": D}, y=y)
    assert not f.converged and f.status == int(sf._core.Termination.Diverged)
    assert "B diverges" in f.message and "not identified" in f.message
    assert any("B diverges" in w for w in f.warnings) and "B diverges" in f.summary()


def test_a_parameter_still_running_off_at_the_iteration_limit_is_named():
    # powerlaw-12 of the hard-problem suite: E + A*x^-alpha on 26 points whose (L2) optimum lies
    # at A ~ 1.8e33, alpha ~ 3.5. With the Huber loss (no continuation by variable projection)
    # LM walks up the valley with the objective still falling (so not "diverged") and reaches
    # the iteration limit; the fit names A
    import hard_problems as hp

    p = next(q for q in hp.synthetic_problems() if q.name == "powerlaw-12")
    with pytest.warns(sf.ScalingFitWarning, match="A still running off"):
        f = sf.fit(p.formula, p.data, p.y, loss="huber", target="linear")
    assert not f.converged and f.status == int(sf._core.Termination.MaxIter)
    assert f.params["A"] > 1e12 and "A still running off" in f.message and "poorly identified" in f.message
    assert any("raise max_iter, bound A" in w for w in f.warnings) and "A still running off" in f.summary()


def test_a_crawl_to_the_iteration_limit_is_continued_by_variable_projection():
    # the same problem under the squared loss: the run that reaches max_iter is continued on
    # alpha alone (E and A solved by least squares at every alpha) and polished, and ends at the
    # certified optimum, converged, with the iterations of all three parts counted
    import hard_problems as hp

    p = next(q for q in hp.synthetic_problems() if q.name == "powerlaw-12")
    with warnings.catch_warnings():
        warnings.simplefilter("error", sf.ScalingFitWarning)
        f = sf.fit(p.formula, p.data, p.y, loss="l2", target="linear", starts={"E": 2.0, "A": 10.0, "alpha": 0.5})
    assert f.converged and f.n_iter > 500
    assert p.solved(p.rss_at(dict(f.params)))
    for k in p.names:
        assert f.params[k] == pytest.approx(p.certified[k], rel=1e-6)
    # a deliberately short run is left as it is
    with pytest.warns(sf.ScalingFitWarning, match="iteration limit"):
        short = sf.fit(p.formula, p.data, p.y, loss="l2", target="linear", starts={"E": 2.0, "A": 10.0, "alpha": 0.5}, max_iter=10)
    assert short.n_iter == 10 and not short.converged


def test_large_data_screens_starts_on_a_subsample_and_finds_the_same_optimum():
    # 40,000 points (above SUBSAMPLE_MIN): the 4500 grid starts run on 8,192 of them, the best
    # are polished on all; the answer is the full-data optimum (a single start from the truth)
    rng = np.random.default_rng(0)
    n = 40_000
    N, D = 10 ** rng.uniform(7, 10, n), 10 ** rng.uniform(9, 12, n)
    L = (1.69 + 406.4 * N**-0.34 + 410.7 * D**-0.28) * np.exp(rng.normal(0, 0.01, n))
    f = sf.fit("chinchilla", {"N": N, "D": D}, y=L)
    ref = sf.fit("chinchilla", {"N": N, "D": D}, y=L, starts={"E": 1.69, "A": 406.4, "alpha": 0.34, "B": 410.7, "beta": 0.28})
    assert f.converged and f.n_starts == 4500
    assert f.objective <= ref.objective * (1 + 1e-9)
    for k in f.params:
        assert f.params[k] == pytest.approx(ref.params[k], rel=1e-5), k
