"""Tests for scalingfit.compare: compare_forms (K-fold, leave-largest-out, AIC/BIC, verdict),
local_exponent (of a law and model-free) and broken_power_law, on synthetic data with a known
truth."""

import json
import math

import numpy as np
import pytest
import scalingfit as sf
from scalingfit.compare import FormComparison, LocalExponent, broken_power_law, compare_forms, local_exponent

FORMS = ["power_law", "power_law_plus_constant", "bnsl"]


def saturating(n=40, seed=0, noise=0.005):
    rng = np.random.default_rng(seed)
    x = np.logspace(0, 4, n)
    return {"x": x, "y": (1.5 + 3 * x**-0.4) * np.exp(rng.normal(0, noise, n))}


def broken(n=40, seed=0, noise=0.01):
    """One break at x = 100: the slope steepens from -0.1 to -0.5 (bnsl with a = 0)."""
    rng = np.random.default_rng(seed)
    x = np.logspace(0, 4, n)
    y = 2 * x**-0.1 * (1 + (x / 100) ** (1 / 0.3)) ** (-0.4 * 0.3)
    return {"x": x, "y": y * np.exp(rng.normal(0, noise, n))}


def chinchilla_grid(seed=0, noise=0.01):
    rng = np.random.default_rng(seed)
    N, D = np.meshgrid(np.logspace(7, 9, 6), np.logspace(9, 11, 6))
    N, D = N.ravel(), D.ravel()
    L = (1.7 + 400 * N**-0.34 + 2000 * D**-0.28) * np.exp(rng.normal(0, noise, N.size))
    return {"N": N, "D": D, "C": 6 * N * D, "loss": L}


@pytest.fixture(scope="module")
def sat_cmp():
    d = saturating()
    return d, compare_forms(FORMS, {"x": d["x"]}, d["y"], loss="l2")


# ---------------------------------------------------------------------------------------------
# compare_forms picks the true form


@pytest.mark.parametrize("loss", ["l2", "huber"])
def test_saturating_power_law_wins(loss, sat_cmp):
    d = saturating()
    cmp = sat_cmp[1] if loss == "l2" else compare_forms(FORMS, {"x": d["x"]}, d["y"], loss=loss)
    assert isinstance(cmp, FormComparison)
    assert cmp.best == "power_law_plus_constant" and cmp.ranking[0] == cmp.best
    rows = {r["form"]: r for r in cmp.table}
    assert [r["rank"] for r in cmp.table] == [1, 2, 3]
    # a pure power law cannot saturate: several times the error, in and out of sample
    pl, plc = rows["power_law"], rows["power_law_plus_constant"]
    assert pl["holdout_rmse"] > 10 * plc["holdout_rmse"] and pl["cv_rmse"] > 10 * plc["cv_rmse"]
    assert plc["holdout_rmse"] < 0.01 and plc["converged"] and plc["n_params"] == 3
    assert "best by leave-largest-out error: 'power_law_plus_constant'" in cmp.verdict
    assert "standard errors apart" in cmp.verdict  # not a tie with the runner-up
    text = cmp.summary()
    assert "verdict:" in text and "extrapolation" in text and "power_law_plus_constant" in text
    json.dumps(cmp.to_dict(), allow_nan=False)
    assert cmp.to_dict()["values"]["best"] == cmp.best


def test_broken_power_law_wins_on_broken_data():
    d = broken()
    cmp = compare_forms(FORMS, {"x": d["x"]}, d["y"], loss="l2")
    assert cmp.best == "bnsl", cmp.summary()
    rows = {r["form"]: r for r in cmp.table}
    assert rows["bnsl"]["holdout_rmse"] < 0.5 * min(rows["power_law"]["holdout_rmse"], rows["power_law_plus_constant"]["holdout_rmse"])
    assert rows["bnsl"]["cv_rmse"] < rows["power_law_plus_constant"]["cv_rmse"]
    assert "within one standard error" not in cmp.verdict


def test_chinchilla_beats_a_compute_only_law():
    d = chinchilla_grid()
    cmp = compare_forms({"chinchilla": "chinchilla", "compute-only": "E + A * C^-gamma"}, d, "loss", cv=4,
                        starts=None, n_starts=16)
    assert cmp.by == "C"  # the compute column is the default scale
    assert cmp.ranking == ["chinchilla", "compute-only"], cmp.summary()
    rows = {r["form"]: r for r in cmp.table}
    assert rows["chinchilla"]["cv_rmse"] < 0.5 * rows["compute-only"]["cv_rmse"]
    assert rows["chinchilla"]["holdout_rmse"] < rows["compute-only"]["holdout_rmse"]
    assert cmp.fits["chinchilla"].params["alpha"] == pytest.approx(0.34, rel=0.2)
    # without a C column the scale is N*D, which orders the rows like compute
    d2 = {k: v for k, v in d.items() if k != "C"}
    cmp2 = compare_forms(["chinchilla"], d2, "loss", cv=None)
    assert cmp2.by == "N*D" and np.array_equal(cmp2.holdout_rows, cmp.holdout_rows)


def test_broken_power_law_formulas_as_candidates():
    assert broken_power_law(1)["form"].replace(" ", "") == sf.forms()[4]["formula"].replace(" ", "")
    two = broken_power_law(2, "C")
    assert two["positive"] == ["b", "d1", "f1", "d2", "f2"] and "(C / d2)" in two["form"] and two["n_starts"] == 256
    assert broken_power_law(0, irreducible=False)["form"] == "b * x^-c0"
    d = broken()
    f = sf.fit(**broken_power_law(1), data={"x": d["x"]}, y=d["y"])
    assert f.params["c0"] == pytest.approx(0.1, abs=0.03) and f.params["c1"] == pytest.approx(0.4, abs=0.1)
    # a dict name -> form, with a candidate carrying its own settings
    cmp = compare_forms({"pl": "power_law", "bpl2": broken_power_law(2)}, {"x": d["x"]}, d["y"], cv=3, loss="l2")
    assert set(cmp.ranking) == {"pl", "bpl2"} and cmp.best == "bpl2"
    assert {r["n_params"] for r in cmp.table} == {2, 9}
    # the smooth-minimum form of a steepening break is a valid candidate too
    sm = {"form": "exp(smoothmin(a0 - c0 * log(x), a1 - c1 * log(x), k))", "positive": ["k"], "starts": {"a0": 0.7, "c0": 0.1, "a1": 2.5, "c1": 0.5, "k": 5}}
    cmp = compare_forms({"pl": "power_law", "smoothmin": sm}, {"x": d["x"]}, d["y"], cv=3, loss="l2")
    assert cmp.best == "smoothmin", cmp.summary()


def test_double_descent_prefers_two_breaks():
    # down (slope -0.3), up (+0.4) after x = 10, down again (-0.6) after x = 150: non-monotone
    x = np.logspace(0, 4, 60)
    law = 0.5 + 2 * x**-0.3 * (1 + (x / 10) ** (1 / 0.2)) ** (0.7 * 0.2) * (1 + (x / 150) ** (1 / 0.2)) ** (-1.0 * 0.2)
    y = law * np.exp(np.random.default_rng(0).normal(0, 0.01, 60))
    cands = {"power_law_plus_constant": "power_law_plus_constant", "bnsl": "bnsl", "two breaks": broken_power_law(2)}
    cmp = compare_forms(cands, {"x": x}, y, loss="l2", cv=3)
    assert cmp.ranking[0] == "two breaks" and "standard errors apart" in cmp.verdict, cmp.summary()
    rows = {r["form"]: r for r in cmp.table}
    assert rows["two breaks"]["cv_rmse"] < 0.2 * min(rows["bnsl"]["cv_rmse"], rows["power_law_plus_constant"]["cv_rmse"])
    p = cmp.fits["two breaks"].params
    assert cmp.table[0]["converged"] and sorted([p["d1"], p["d2"]]) == [pytest.approx(10, rel=0.3), pytest.approx(150, rel=0.3)]


# ---------------------------------------------------------------------------------------------
# folds, holdout, information criteria


def test_kfold_is_deterministic_and_respects_groups():
    d = saturating(n=30)
    a = compare_forms(["power_law_plus_constant"], {"x": d["x"]}, d["y"], seed=3, holdout_frac=None)
    b = compare_forms(["power_law_plus_constant"], {"x": d["x"]}, d["y"], seed=3, holdout_frac=None)
    c = compare_forms(["power_law_plus_constant"], {"x": d["x"]}, d["y"], seed=4, holdout_frac=None)
    assert np.array_equal(a.folds, b.folds) and a.table == b.table
    assert not np.array_equal(a.folds, c.folds)
    assert sorted(np.bincount(a.folds)) == [6] * 5
    assert a.holdout_rows is None and a.table[0]["holdout_rmse"] is None and "cross-validated" in a.verdict
    # the out-of-fold residuals are those of the law fitted without the fold
    k0 = a.folds == 0
    f = sf.fit("power_law_plus_constant", {"x": d["x"][~k0]}, d["y"][~k0])
    r = np.log(f.predict({"x": d["x"][k0]})) - np.log(d["y"][k0])
    assert np.allclose(a.residuals["power_law_plus_constant"]["cv"][k0], r, rtol=1e-8, atol=1e-12)
    assert a.table[0]["cv_fold_rmse"][0] == pytest.approx(math.sqrt(np.mean(r**2)), rel=1e-8)
    # groups (10 runs of 3 checkpoints): every run stays within one fold
    runs = np.repeat(np.arange(10), 3)
    g = compare_forms(["power_law_plus_constant"], {"x": d["x"]}, d["y"], groups=runs, seed=3, holdout_frac=None)
    for run in range(10):
        assert len(set(g.folds[runs == run])) == 1
    assert sorted(np.bincount(g.folds)) == [6] * 5 and g.n_groups == 10
    assert np.array_equal(g.folds, compare_forms(["power_law"], {"x": d["x"]}, d["y"], groups=runs, seed=3, holdout_frac=None).folds)


def test_leave_largest_out_scores_only_the_largest_rows():
    d = saturating()
    rng = np.random.default_rng(1)
    perm = rng.permutation(40)  # rows in no particular order
    x, y = d["x"][perm], d["y"][perm]
    cmp = compare_forms(["power_law_plus_constant"], {"x": x}, y, cv=None, holdout_frac=0.2, loss="l2")
    test = np.zeros(40, bool)
    test[cmp.holdout_rows] = True
    assert test.sum() == 8 and x[test].min() > x[~test].max()
    assert cmp.by == "x" and cmp.holdout_extrapolation == pytest.approx(x[test].max() / x[~test].max())
    f = sf.fit("power_law_plus_constant", {"x": x[~test]}, y[~test], loss="l2")
    r = np.log(f.predict({"x": x[test]})) - np.log(y[test])
    assert np.allclose(cmp.residuals["power_law_plus_constant"]["holdout"], r, rtol=1e-8, atol=1e-12)
    assert cmp.table[0]["holdout_rmse"] == pytest.approx(math.sqrt(np.mean(r**2)), rel=1e-8)
    # by another column, and by values
    cmp2 = compare_forms(["power_law_plus_constant"], {"x": x, "size": 1 / x}, y, cv=None, by="size", check_names=False)
    assert set(cmp2.holdout_rows) == set(np.argsort(x)[:8])
    cmp3 = compare_forms(["power_law_plus_constant"], {"x": x}, y, cv=None, by=1 / x)
    assert np.array_equal(cmp3.holdout_rows, cmp2.holdout_rows)
    # with groups, whole groups: the 4 runs whose largest x is largest (>= 20% of the rows)
    runs = np.repeat(np.arange(10), 4)[perm]
    cmp4 = compare_forms(["power_law_plus_constant"], {"x": x}, y, cv=None, groups=runs)
    assert set(runs[cmp4.holdout_rows]) == {8, 9} and len(cmp4.holdout_rows) == 8


def test_dataframes_weights_and_groups_by_column():
    pd = pytest.importorskip("pandas")
    d = chinchilla_grid()
    df = pd.DataFrame(d).assign(run=np.repeat(np.arange(12), 3), other="text").sample(frac=1.0, random_state=0)
    w = pd.Series(1.0, index=df.index)
    w.iloc[0] = 0.0  # this row is ignored by the fits and the scores
    df.iloc[0, df.columns.get_loc("loss")] *= 3
    cmp = compare_forms(["chinchilla"], df, df["loss"], weights=w[::-1], groups="run", cv=3, loss="l2")
    ref = compare_forms(["chinchilla"], df.iloc[1:], "loss", cv=3, loss="l2")
    assert cmp.n_groups == 12 and cmp.table[0]["aic"] == pytest.approx(ref.table[0]["aic"], rel=1e-6)
    assert cmp.table[0]["rmse"] == pytest.approx(ref.table[0]["rmse"], rel=1e-6)
    assert len(set(df["run"].to_numpy()[cmp.holdout_rows])) * 3 == len(cmp.holdout_rows)  # whole runs held out


def test_aic_bic_match_a_hand_computation(sat_cmp):
    d, cmp = sat_cmp
    for name in FORMS:
        f = sf.fit(name, {"x": d["x"]}, d["y"], loss="l2")
        r = np.log(f.predict({"x": d["x"]})) - np.log(d["y"])
        n, k = len(r), len(f.params) + 1
        ll = -n / 2 * (math.log(2 * math.pi * np.mean(r**2)) + 1)
        row = next(r_ for r_ in cmp.table if r_["form"] == name)
        assert row["aic"] == pytest.approx(2 * k - 2 * ll, rel=1e-7)
        assert row["bic"] == pytest.approx(k * math.log(n) - 2 * ll, rel=1e-7)
        assert row["aicc"] == pytest.approx(2 * k - 2 * ll + 2 * k * (k + 1) / (n - k - 1), rel=1e-7)
        assert row["rmse"] == pytest.approx(math.sqrt(np.mean(r**2)), rel=1e-7)
    # Huber: no likelihood, no AIC
    hub = compare_forms(["power_law"], {"x": d["x"]}, d["y"], cv=2)
    assert hub.table[0]["aic"] is None and hub.table[0]["bic"] is None and "not given for loss='huber'" in hub.summary()


def test_ties_are_called_ties():
    # two spellings of the same law: equal errors
    d = saturating()
    cmp = compare_forms({"a": "power_law_plus_constant", "b": {"form": "E + A * x^-alpha", "positive": ["E", "A"]}}, {"x": d["x"]}, d["y"],
                        loss="l2")
    assert cmp.table[0]["holdout_rmse"] == pytest.approx(cmp.table[1]["holdout_rmse"], rel=1e-6)
    assert "the errors are equal" in cmp.verdict and "the simpler is 'a'" in cmp.verdict
    # a difference within one paired standard error, and one beyond it (hand-made residuals)
    from scalingfit.compare import _verdict

    ra = np.array([0.1, -0.2, 0.3, -0.1])
    rows = [{"form": f, "n_params": p, "holdout_rmse": math.sqrt(np.mean(r**2)), "cv_rmse": None} for f, p, r in (("a", 3, ra), ("b", 2, ra * 1.05))]
    v = _verdict(rows, {"a": {"holdout": ra}, "b": {"holdout": ra * 1.05}}, "holdout_rmse", None)
    assert "apart" in v  # b is worse at every row by 10%: a consistent difference
    rb = np.array([0.2, -0.1, 0.3, -0.15])  # worse on average, not consistently
    rows[1]["holdout_rmse"] = math.sqrt(np.mean(rb**2))
    v = _verdict(rows, {"a": {"holdout": ra}, "b": {"holdout": rb}}, "holdout_rmse", None)
    assert "within one standard error" in v and "the simpler is 'b' (2 parameters)" in v


# ---------------------------------------------------------------------------------------------
# local exponents


def test_local_exponent_of_a_pure_power_law():
    rng = np.random.default_rng(2)
    x = np.logspace(0, 4, 40)
    y = 3 * x**-0.3 * np.exp(rng.normal(0, 0.01, 40))
    bs = sf.bootstrap(sf.fit("power_law", {"x": x}, y), n_resamples=150, seed=0)
    le = local_exponent(bs, n_points=9)
    assert isinstance(le, LocalExponent) and le.quantity == "d ln L/d ln x"
    lo, hi = le.interval("slope")
    assert np.all(lo <= -0.3) and np.all(-0.3 <= hi)
    assert np.allclose(le.exponent, bs.fit.params["alpha"], rtol=1e-6)
    assert le.bends is False and "constant by construction" in le.verdict
    # model-free: every window's slope interval holds -0.3, and no bend
    free = local_exponent(x=x, y=y, n_resamples=200, seed=0)
    lo, hi = free.interval("slope")
    assert np.all(lo <= -0.3) and np.all(-0.3 <= hi), free.summary()
    assert free.bends is False and "consistent with a single power law" in free.verdict
    assert free.n_rows.sum() >= 40 and free.mode == "data"
    again = local_exponent(data={"x": x, "y": y}, x="x", y="y", n_resamples=200, seed=0)
    assert np.array_equal(again.samples["slope"], free.samples["slope"])  # fixed seed
    grouped = local_exponent(x=x, y=y, groups=np.arange(40) // 2, n_resamples=200, seed=0)
    assert np.array_equal(grouped.slope, free.slope) and not np.array_equal(grouped.samples["slope"], free.samples["slope"])


def test_local_exponent_finds_the_bend():
    d = broken()
    free = local_exponent(x=d["x"], y=d["y"], n_resamples=200)
    assert free.bends is True and free.change < -0.3 and "steeper" in free.verdict
    lo, hi = free.interval("change")
    assert hi < 0
    bs = sf.bootstrap(sf.fit("bnsl", {"x": d["x"]}, d["y"]), n_resamples=100, seed=1)
    le = local_exponent(bs, n_points=9)
    assert le.quantity == "d ln(L - a)/d ln x" and le.bends is True
    inside = ~le.extrapolated
    assert le.slope[inside][0] == pytest.approx(-0.1, abs=0.03) and le.slope[inside][-1] == pytest.approx(-0.5, abs=0.06)
    lo, hi = le.interval("change")
    assert lo <= -0.4 <= hi and hi < 0


def test_local_exponent_marks_extrapolation():
    d = saturating()
    f = sf.fit("power_law_plus_constant", {"x": d["x"]}, d["y"])
    le = local_exponent(f, n_points=5, extend=0.5)
    assert le.quantity == "d ln(L - E)/d ln x"
    assert le.extrapolated.tolist() == [True, True] + [False] * 5 + [True, True]
    assert le.x[2] == 1.0 and le.x[6] == 1e4 and le.bends is False
    assert "extrapolation: 4 of 9 points lie beyond" in le.summary()
    assert le.to_dict()["values"]["extrapolated"] == le.extrapolated.tolist()
    pts = local_exponent(f, points=[1e5, 10.0], irreducible=None)
    assert pts.x.tolist() == [10.0, 1e5] and pts.extrapolated.tolist() == [False, True] and pts.quantity == "d ln L/d ln x"
    # chinchilla: the other variable is held fixed (default: its median)
    c = chinchilla_grid()
    fc = sf.fit("chinchilla", {"N": c["N"], "D": c["D"]}, c["loss"])
    le = local_exponent(fc, "N", n_points=4, at={"D": 1e30})
    assert le.at == {"D": 1e30} and np.allclose(le.exponent[~le.extrapolated], fc.params["alpha"], rtol=1e-4)
    assert local_exponent(fc, "D", n_points=4).at == {"N": float(np.median(c["N"]))}
    json.dumps(le.to_dict(), allow_nan=False)


# ---------------------------------------------------------------------------------------------
# bad input


def test_bad_input_compare_forms():
    d = saturating(n=20)
    X, y = {"x": d["x"]}, d["y"]
    with pytest.raises(ValueError, match=r"forms: candidate 'power_lwa'.*unknown form"):
        compare_forms(["power_law", "power_lwa"], X, y)
    with pytest.raises(TypeError, match="forms must be a list"):
        compare_forms("power_law", X, y)
    with pytest.raises(ValueError, match="forms: candidate 'power_law' is given twice"):
        compare_forms(["power_law", "power_law"], X, y)
    with pytest.raises(TypeError, match="unknown setting"):
        compare_forms([{"form": "power_law", "loss": "l2"}], X, y)
    with pytest.raises(ValueError, match="cv must be an integer >= 2"):
        compare_forms(FORMS, X, y, cv=1)
    with pytest.raises(TypeError, match="cv must be an integer"):
        compare_forms(FORMS, X, y, cv=2.5)
    with pytest.raises(ValueError, match="cv: 5 folds need at least 5 rows, got 4"):
        compare_forms(["power_law"], {"x": d["x"][:4]}, y[:4])
    with pytest.raises(ValueError, match=r"cv: with 2 folds of 10 rows a training set has only 5 rows.*'bnsl'"):
        compare_forms(FORMS, {"x": d["x"][:10]}, y[:10], cv=2)
    with pytest.raises(ValueError, match=r"cv: 5 folds need at least 5 groups, got 3"):
        compare_forms(["power_law"], X, y, groups=np.arange(20) % 3)
    for frac in (0, 1, 1.5, -0.1):
        with pytest.raises(ValueError, match="holdout_frac must be in"):
            compare_forms(FORMS, X, y, holdout_frac=frac)
    with pytest.raises(TypeError, match="holdout_frac must be a finite number"):
        compare_forms(FORMS, X, y, holdout_frac="top")
    with pytest.raises(ValueError, match=r"holdout_frac=0.9 leaves 2 training rows"):
        compare_forms(FORMS, X, y, holdout_frac=0.9)
    with pytest.raises(ValueError, match="by: data has no column 'C'"):
        compare_forms(FORMS, X, y, by="C")
    with pytest.raises(ValueError, match=r"by must have one value per row"):
        compare_forms(FORMS, X, y, by=[1.0, 2.0])
    with pytest.raises(ValueError, match=r"groups must have one value per row"):
        compare_forms(FORMS, X, y, groups=[1, 2])
    with pytest.raises(ValueError, match="nothing to score"):
        compare_forms(FORMS, X, y, cv=None, holdout_frac=None)
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        compare_forms(FORMS, X, y, n_resamples=10)
    with pytest.raises(ValueError, match="seed"):
        compare_forms(FORMS, X, y, seed=-1)


def test_bad_input_local_exponent():
    d = saturating(n=20)
    f = sf.fit("power_law_plus_constant", {"x": d["x"]}, d["y"])
    with pytest.raises(ValueError, match=r"var must be a variable of the law \(x\), got 'N'"):
        local_exponent(f, "N")
    c = chinchilla_grid()
    fc = sf.fit("chinchilla", {"N": c["N"], "D": c["D"]}, c["loss"])
    with pytest.raises(ValueError, match="var: the law has variables N, D"):
        local_exponent(fc)
    with pytest.raises(ValueError, match="at: 'N' is not one of the other variables"):
        local_exponent(fc, "N", at={"N": 1e9})
    with pytest.raises(ValueError, match="irreducible: 'Q' is not a parameter"):
        local_exponent(f, irreducible="Q")
    with pytest.raises(TypeError, match="belong to the model-free mode"):
        local_exponent(f, x="x")
    with pytest.raises(TypeError, match="need a fitted law"):
        local_exponent(var="x", x=d["x"], y=d["y"])
    with pytest.raises(ValueError, match="give a fitted law"):
        local_exponent(x=d["x"])
    with pytest.raises(ValueError, match=r"n_windows=8: window 2 \(2.78256 to 21.5443\) holds 4 rows with 4 distinct x; each needs 5 rows"):
        local_exponent(x=d["x"], y=d["y"], n_windows=8)
    with pytest.raises(ValueError, match="x must be positive"):
        local_exponent(x=-d["x"], y=d["y"])
    with pytest.raises(ValueError, match="x: data has no column 'z'; columns: x"):
        local_exponent(data={"x": d["x"]}, x="z", y=d["y"])
    with pytest.raises(ValueError, match="points must be positive"):
        local_exponent(f, points=[0.0, 1.0])
    with pytest.raises(ValueError, match="level must be in"):
        local_exponent(f, level=95)
    with pytest.raises(ValueError, match="n_resamples: give it with a FitResult"):
        local_exponent(sf.bootstrap(f, n_resamples=10, seed=0), n_resamples=10)
