"""pandas in and out, scipy-compatible aliases, Generator seeds, short reprs and input checks."""

import html
import sys
import warnings

import numpy as np
import pytest
import scalingfit as sf

pd = pytest.importorskip("pandas")


@pytest.fixture(scope="module")
def data(hoffmann_nd):
    return hoffmann_nd


@pytest.fixture(scope="module")
def frame(data):
    return pd.DataFrame(data, index=[f"run{i}" for i in range(len(data["N"]))])


@pytest.fixture(scope="module")
def fit(data):
    return sf.fit("chinchilla", data, "loss")


@pytest.fixture(scope="module")
def boot(fit):
    return sf.bootstrap(fit, n_resamples=40, seed=7)


# -- to_frame ------------------------------------------------------------------------------------
def test_fit_to_frame(fit):
    df = fit.to_frame()
    assert list(df.index) == fit.param_names and df.index.name == "parameter"
    assert list(df.columns) == ["estimate", "stderr", "fitted_as"]
    for n in fit.param_names:
        assert df.loc[n, "estimate"] == fit.params[n]
        assert df.loc[n, "stderr"] == fit.stderr[n]
    assert df.loc["alpha", "fitted_as"] == "linear" and df.loc["E", "fitted_as"] == "log"
    w = fit.to_frame(level=0.9)
    z = 1.6448536269514722
    assert w.attrs["level"] == 0.9
    np.testing.assert_allclose(w["ci_lo"], w["estimate"] - z * w["stderr"], rtol=1e-12)
    np.testing.assert_allclose(w["ci_hi"], w["estimate"] + z * w["stderr"], rtol=1e-12)


def test_bootstrap_to_frame_and_samples(boot):
    df = boot.to_frame(level=0.8)
    ci, se, mean = boot.ci(0.8), boot.stderr, boot.mean
    assert list(df.columns) == ["estimate", "mean", "stderr", "ci_lo", "ci_hi"]
    for n in boot.param_names:
        assert df.loc[n, "estimate"] == boot.fit.params[n]
        assert df.loc[n, "ci_lo"] == ci[n][0] and df.loc[n, "ci_hi"] == ci[n][1]
        assert df.loc[n, "stderr"] == pytest.approx(se[n]) and df.loc[n, "mean"] == pytest.approx(mean[n])
    assert df.attrs == {"level": 0.8, "method": "percentile", "n_resamples": 40, "n_converged": boot.n_converged}
    s = boot.samples_frame()
    assert s.shape == (40, len(boot.param_names) + 1) and s.index.name == "resample"
    np.testing.assert_array_equal(s[boot.param_names].to_numpy(), boot.samples)
    assert s["converged"].tolist() == boot.converged.tolist()
    assert boot.to_frame(samples=True).equals(s)


def test_bootstrap_samples_frame_index_starts_at_start(fit):
    part = sf.bootstrap(fit, n_resamples=5, seed=7, start=10)
    assert list(part.samples_frame().index) == [10, 11, 12, 13, 14]
    summ = sf.bootstrap(fit, n_resamples=30, seed=7, keep="summary")
    with pytest.raises(ValueError, match="keep='summary'"):
        summ.samples_frame()
    assert summ.to_frame()["ci_lo"].notna().all()


def test_result_to_frame(fit, boot):
    opt = sf.compute_optimal(fit, [1e20, 1e21, 1e25])  # the data span C = 6e18..3e21
    df = opt.to_frame()
    assert list(df.columns) == ["quantity", "index", "value", "extrapolated"]
    # per-budget rows carry the budget's extrapolation flag; the exponents are not per budget
    assert df[df.quantity == "N"]["extrapolated"].tolist() == list(opt.meta["beyond_data"]) == [False, False, True]
    assert df[df.quantity == "a"]["extrapolated"].isna().all()
    n_rows = df[df.quantity == "N"]
    assert n_rows["index"].tolist() == [0, 1, 2]
    np.testing.assert_array_equal(n_rows["value"].to_numpy(), opt.values["N"])
    assert df[df.quantity == "a"]["value"].item() == opt.values["a"]
    ob = sf.compute_optimal(boot, [1e21, 1e22], level=0.9)
    dfb = ob.to_frame()
    assert list(dfb.columns) == ["quantity", "index", "value", "stderr", "ci_lo", "ci_hi", "extrapolated"] and dfb.attrs["level"] == 0.9
    lo, hi = ob.interval("N")
    got = dfb[dfb.quantity == "N"]
    np.testing.assert_allclose(got["ci_lo"], lo)
    np.testing.assert_allclose(got["ci_hi"], hi)
    np.testing.assert_allclose(got["stderr"], ob.stderr["N"])
    assert dfb[dfb.quantity == "C"]["ci_lo"].isna().all()  # the budgets are given, not sampled


def test_missing_pandas_is_a_clear_import_error(fit, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match="pip install pandas"):
        fit.to_frame()


# -- predict keeps the index ---------------------------------------------------------------------
def test_predict_keeps_index(frame):
    f = sf.fit("chinchilla", frame, "loss")
    assert f.y_name == "loss"
    sub = frame.iloc[[5, 2, 9]]
    out = f.predict(sub)
    assert isinstance(out, pd.Series) and out.name == "loss"
    assert list(out.index) == ["run5", "run2", "run9"]
    arr = f.predict({"N": sub["N"].to_numpy(), "D": sub["D"].to_numpy()})
    assert type(arr) is np.ndarray
    np.testing.assert_array_equal(out.to_numpy(), arr)
    g = sf.fit("chinchilla", frame[["N", "D"]], frame["loss"].rename("val_loss"))
    assert g.predict(sub).name == "val_loss"
    assert type(g.predict(N=1e9, D=2e10)) is np.ndarray


# -- scipy aliases -------------------------------------------------------------------------------
def test_scipy_aliases(data, fit):
    assert fit.success is True and fit.success == fit.converged
    assert fit.nfev == fit.n_eval and fit.nit == fit.n_iter and isinstance(fit.message, str)
    np.testing.assert_array_equal(fit.fun, fit.residuals)
    assert fit.fun.shape == (len(data["N"]),)
    assert fit.cost == fit.objective
    l2 = sf.fit("chinchilla", data, "loss", loss="l2")
    assert l2.cost == pytest.approx(0.5 * np.sum(l2.fun**2), rel=1e-12)
    w = np.linspace(0.5, 2.0, len(data["N"]))
    lw = sf.fit("chinchilla", data, "loss", loss="l2", weights=w)
    assert lw.cost == pytest.approx(0.5 * np.sum(w * lw.fun**2), rel=1e-12)
    # fun is ln f - ln y on the log target
    pred = fit.predict(data)
    np.testing.assert_allclose(fit.fun, np.log(pred) - np.log(data["loss"]), atol=1e-12)


def test_jac_matches_finite_differences(data, fit):
    jac = fit.jac
    assert jac.shape == (len(data["N"]), len(fit.param_names))

    def resid(x):
        p = dict(zip(fit.param_names, x))
        return np.log(p["E"] + p["A"] * data["N"] ** -p["alpha"] + p["B"] * data["D"] ** -p["beta"]) - np.log(data["loss"])

    x0 = np.asarray(fit.x)
    for k in range(len(x0)):
        h = 1e-6 * max(abs(x0[k]), 1e-3)
        e = np.zeros_like(x0)
        e[k] = h
        fd = (resid(x0 + e) - resid(x0 - e)) / (2 * h)
        np.testing.assert_allclose(jac[:, k], fd, rtol=1e-5, atol=1e-10)
    lin = sf.fit("E + A * N^-alpha", {"N": data["N"]}, data["loss"], target="linear", starts={"E": 1.0, "A": 100.0, "alpha": 0.3})
    p = lin.params
    N = data["N"]
    expect = np.column_stack([np.ones_like(N), N ** -p["alpha"], -p["A"] * np.log(N) * N ** -p["alpha"]])
    np.testing.assert_allclose(lin.jac, expect, rtol=1e-10)


# -- seeds ---------------------------------------------------------------------------------------
def test_generator_and_seedsequence_seeds(fit):
    a = sf.bootstrap(fit, n_resamples=8, seed=np.random.default_rng(42))
    b = sf.bootstrap(fit, n_resamples=8, seed=np.random.default_rng(42))
    expect = int(np.random.default_rng(42).integers(0, 2**64, dtype=np.uint64))
    assert a.seed == b.seed == expect
    np.testing.assert_array_equal(a.samples, b.samples)
    same = sf.bootstrap(fit, n_resamples=8, seed=expect)
    np.testing.assert_array_equal(a.samples, same.samples)
    ss = sf.bootstrap(fit, n_resamples=4, seed=np.random.SeedSequence(5))
    assert ss.seed == int(np.random.SeedSequence(5).generate_state(1, np.uint64)[0])
    assert sf.bootstrap(fit, n_resamples=4, seed=np.random.SeedSequence(5)).seed == ss.seed
    with pytest.raises(ValueError, match="Generator"):
        sf.bootstrap(fit, n_resamples=4, seed="abc")


# -- reprs ---------------------------------------------------------------------------------------
def test_short_reprs(fit, boot):
    r = repr(fit)
    assert len(r) < 300 and "\n" not in r
    assert r.startswith("FitResult('chinchilla', E=") and "converged" in r and "n=108" in r
    rb = repr(boot)
    assert len(rb) < 300 and "\n" not in rb
    assert "40/40 resamples converged" in rb or f"{boot.n_converged}/40" in rb
    assert "seed=7" in rb


def test_repr_html(fit, boot):
    h = fit._repr_html_()
    assert h.count("<tr>") == 1 + len(fit.param_names) and "<table>" in h
    assert "<td>alpha</td>" in h
    hb = boot._repr_html_()
    assert hb.count("<tr>") == 1 + len(boot.param_names) and "95% lo" in hb
    assert "seed=7" in hb


def test_repr_html_escapes(data):
    f = sf.fit("E + A * N^-a", {"N": data["N"]}, data["loss"], starts={"E": 1.0, "A": 100.0, "a": 0.3})
    f.warnings = ["<script>x</script> & more"]
    h = f._repr_html_()
    assert "<script>" not in h and html.escape("<script>x</script> & more") in h


# -- inputs --------------------------------------------------------------------------------------
def test_numpy_string_array_is_a_clear_type_error(data):
    d = dict(data, N=data["N"].astype(str))
    with pytest.raises(TypeError, match=r"data\['N'\] must be numeric, but holds strings \(dtype <U\d+\); convert it first, e.g. np.asarray\(values, dtype=float\)"):
        sf.fit("chinchilla", d, "loss")


def test_pandas_object_strings_are_refused_like_numpy_strings(frame):
    # the issue: numpy string arrays were refused but pandas object strings silently converted
    df = frame.copy()
    df["N"] = df["N"].map(repr).astype(object)
    with pytest.raises(TypeError, match=r"data\['N'\] must be numeric, but holds strings \(dtype object\); convert it first, e.g. pd.to_numeric"):
        sf.fit("chinchilla", df, "loss")
    df["N"] = frame["N"].astype(object)  # numbers in an object column are fine
    assert sf.fit("chinchilla", df, "loss").params == sf.fit("chinchilla", frame, "loss").params


def test_integer_column_labels(data):
    df = pd.DataFrame({0: data["N"], 1: data["D"], 2: data["loss"]})
    f = sf.fit("chinchilla", df, 2, columns={"N": 0, "D": 1})
    ref = sf.fit("chinchilla", data, "loss")
    np.testing.assert_allclose(f.x, ref.x, rtol=1e-8)
    assert f.y_name == "2"
    assert f.predict(df).name == "2"
    with pytest.raises(ValueError, match="has no column '7'"):
        sf.fit("chinchilla", df, 2, columns={"N": 7, "D": 1})


def test_integer_column_labels_in_the_analysis_functions(hoffmann_example_full):
    # isoflop, envelope-style column arguments and local_exponent's x/y take integer labels as
    # columns (they were a "no column '2'" error, and x=0 the number 0)
    d = hoffmann_example_full
    df = pd.DataFrame({0: d["N"], 1: d["D"], 2: d["loss"], 3: d["C"]})
    ref = sf.isoflop(d, n_resamples=20, seed=0)
    assert sf.isoflop(df, N=0, D=1, C=3, y=2, n_resamples=20, seed=0).a == ref.a
    assert sf.isoflop(df, N="0", D="1", C="3", y="2", n_resamples=20, seed=0).a == ref.a
    with pytest.raises(ValueError, match=r"y: data has no column 9; columns: 0, 1, 2, 3 \(a scalar y names a column"):
        sf.isoflop(df, N=0, C=3, y=9)
    le = sf.local_exponent(data=df, y=2, x=0, n_resamples=20, seed=0)
    assert le.slope.tolist() == sf.local_exponent(data=d, y="loss", x="N", n_resamples=20, seed=0).slope.tolist()
    with pytest.raises(ValueError, match="x: data has no column 7"):
        sf.local_exponent(data=df, y=2, x=7)
    # a column name without data says so, in every function that takes column-or-values arguments
    with pytest.raises(ValueError, match=r"N='N' names a column, but no data was given; pass data="):
        sf.isoflop(None, N="N", y=d["loss"], C=d["C"])
    with pytest.raises(ValueError, match=r"x='N' names a column, but no data was given; pass data="):
        sf.local_exponent(x="N", y=d["loss"])


def test_polars_lazyframe_says_collect():
    LazyFrame = type("LazyFrame", (), {"__module__": "polars.lazyframe.frame", "columns": ["N", "D", "loss"]})
    with pytest.raises(TypeError, match=r"call \.collect\(\) first"):
        sf.fit("chinchilla", LazyFrame(), "loss")


def test_nan_reported_by_index_label(frame):
    df = frame.copy()
    df.loc["run7", "D"] = np.nan
    df.loc["run9", "D"] = np.nan
    with pytest.raises(ValueError, match=r"data\['D'\] contains a non-finite value \(nan\) at index label 'run7' \(row 7\) \(and 1 more"):
        sf.fit("chinchilla", df, "loss")
    df2 = frame.copy()
    df2.loc["run3", "loss"] = np.nan
    with pytest.raises(ValueError, match=r"data\['loss'\].*'run3'.*nan_policy='omit'"):
        sf.fit("chinchilla", df2, "loss")


def test_nan_policy_omit(data, frame):
    df = frame.copy()
    df.loc["run7", "D"] = np.nan
    df.loc["run20", "loss"] = np.nan
    w = pd.Series(np.ones(len(df)), index=df.index)
    w["run30"] = np.nan
    with pytest.warns(sf.ScalingFitWarning, match="dropped 3 of 108 rows"):
        f = sf.fit("chinchilla", df, "loss", weights=w, nan_policy="omit")
    assert f.n_points == 105 and any("dropped 3 of 108" in x for x in f.warnings)
    keep = ~df.index.isin(["run7", "run20", "run30"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = sf.fit("chinchilla", frame[keep], "loss")
    np.testing.assert_allclose(f.x, ref.x, rtol=1e-8)
    assert not any("dropped" in x for x in ref.warnings)
    # NaN in a column the formula does not use is no reason to drop a row
    extra = frame.assign(notes=np.nan)
    g = sf.fit("chinchilla", extra, "loss", nan_policy="omit")
    assert g.n_points == 108 and not any("dropped" in x for x in g.warnings)
    with pytest.raises(ValueError, match="nan_policy must be 'raise' or 'omit'"):
        sf.fit("chinchilla", frame, "loss", nan_policy="drop")
    with pytest.raises(ValueError, match="every one of the 108 rows"):
        sf.fit("chinchilla", frame.assign(D=np.nan), "loss", nan_policy="omit")


def test_nan_policy_omit_numpy_and_bootstrap(data):
    d = {k: v.copy() for k, v in data.items()}
    d["N"][[0, 1]] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f = sf.fit("chinchilla", d, "loss", nan_policy="omit")
    assert f.n_points == 106
    b = sf.bootstrap(f, n_resamples=5, seed=1)
    assert b.n_converged == 5 and np.isfinite(b.samples).all()
    with pytest.raises(ValueError, match="non-finite value"):
        sf.fit("chinchilla", d, "loss")  # raise stays the default


def test_predict_nan_reported_by_index_label(fit, frame):
    new = frame.iloc[:4].copy()
    new.loc["run2", "N"] = np.inf
    with pytest.raises(ValueError, match=r"data\['N'\] contains a non-finite value \(inf\) at index label 'run2' \(row 2\)"):
        fit.predict(new)
    with pytest.raises(ValueError, match=r"data\['N'\] contains a non-finite value \(nan\) at index 1;"):
        fit.predict({"N": [1e9, np.nan], "D": [1e10, 1e10]})


def test_nan_policy_omit_drops_group_labels_too(frame):
    df = frame.copy()
    df.loc[["run0", "run50"], "loss"] = np.nan
    groups = np.arange(len(df)) // 12  # one label per original row
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f = sf.fit("chinchilla", df, "loss", nan_policy="omit")
        b = sf.bootstrap(f, n_resamples=6, seed=3, scheme="groups", groups=groups)
        keep = df["loss"].notna().to_numpy()
        ref = sf.bootstrap(f, n_resamples=6, seed=3, scheme="groups", groups=groups[keep])
    assert f.problem.n_omitted == 2
    np.testing.assert_array_equal(b.samples, ref.samples)


def test_bootstrap_from_form_passes_nan_policy(frame):
    df = frame.copy()
    df.loc["run4", "N"] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        b = sf.bootstrap("chinchilla", df, "loss", nan_policy="omit", n_resamples=4, seed=np.random.SeedSequence(1))
    assert b.fit.n_points == 107 and any("dropped 1 of 108" in w for w in b.fit.warnings)
    assert b.seed == int(np.random.SeedSequence(1).generate_state(1, np.uint64)[0])


@pytest.mark.parametrize("make", [
    lambda s: sf.required(s, [2.3, 2.2]),
    lambda s: sf.returns(s),
    lambda s: sf.optimize_budget(s, prices={"N": 1.0, "D": 1.0}, budget=1e21),
], ids=["required", "returns", "optimize_budget"])  # extrapolate: one row per point (tests/test_tables.py)
@pytest.mark.parametrize("boot_or_fit", ["fit", "boot"])
def test_every_result_to_frame_matches_values(make, boot_or_fit, fit, boot):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = make(fit if boot_or_fit == "fit" else boot)
    df = r.to_frame()
    numeric = {k: np.asarray(v) for k, v in r.values.items() if np.asarray(v).dtype.kind in "biufc"}
    assert set(df.quantity) == set(numeric) and len(df) == sum(max(v.size, 1) for v in numeric.values())
    for q, i, v in zip(df.quantity, df["index"], df.value):
        np.testing.assert_equal(v, numeric[q].ravel()[i])
    if boot_or_fit == "boot":
        for q in r.samples:
            if q not in numeric:
                continue
            lo, hi = (np.broadcast_to(t, numeric[q].shape).ravel() for t in r.interval(q))
            rows = df[df.quantity == q]
            np.testing.assert_array_equal(rows.ci_lo.to_numpy(), lo)
            np.testing.assert_array_equal(rows.ci_hi.to_numpy(), hi)
    else:
        assert "ci_lo" not in df.columns


def test_weights_nan_reported_by_index_label(frame):
    w = pd.Series(np.ones(len(frame)), index=frame.index)
    w["run11"] = np.nan
    with pytest.raises(ValueError, match=r"weights contains a non-finite value \(nan\) at index label 'run11' \(row 11\)"):
        sf.fit("chinchilla", frame, "loss", weights=w)


def test_distribution_to_frame(boot):
    dist = boot.derived(lambda p: p["beta"] / (p["alpha"] + p["beta"]), name="a")
    df = dist.to_frame(level=0.9)
    assert list(df.index) == ["a"] and df.index.name == "quantity"
    lo, hi = dist.ci(0.9)
    assert df.loc["a", "estimate"] == dist.estimate and df.loc["a", "stderr"] == dist.stderr
    assert (df.loc["a", "ci_lo"], df.loc["a", "ci_hi"]) == (lo, hi) and df.loc["a", "n_used"] == dist.n_used
    assert len(repr(dist)) < 300


def test_sigma_and_absolute_sigma_match_scipy_curve_fit():
    from scipy.optimize import curve_fit

    rng = np.random.default_rng(0)
    C = np.geomspace(1e18, 1e22, 30)
    sig = 0.01 + 0.03 * rng.random(30)
    y = 1.8 + 2e3 * C**-0.17 + rng.normal(0, sig)

    def f(c, E, A, alpha):
        return E + A * c**-alpha

    for absolute in (False, True):
        popt, pcov = curve_fit(f, C, y, p0=[1.8, 2e3, 0.17], sigma=sig, absolute_sigma=absolute, maxfev=20000)
        fit = sf.fit("E + A*C^-alpha", {"C": C}, y, loss="l2", target="linear", sigma=sig, absolute_sigma=absolute)
        assert np.allclose(fit.x, popt, rtol=1e-6)
        assert np.allclose(fit.cov, pcov, rtol=1e-4)
    # one scalar sigma: the relative covariance does not depend on it, the absolute one does
    rel = sf.fit("E + A*C^-alpha", {"C": C}, y, loss="l2", target="linear", sigma=0.02)
    plain = sf.fit("E + A*C^-alpha", {"C": C}, y, loss="l2", target="linear")
    assert np.allclose(rel.cov, plain.cov, rtol=1e-6)
    ab1 = sf.fit("E + A*C^-alpha", {"C": C}, y, loss="l2", target="linear", sigma=0.02, absolute_sigma=True)
    ab2 = sf.fit("E + A*C^-alpha", {"C": C}, y, loss="l2", target="linear", sigma=0.04, absolute_sigma=True)
    assert np.allclose(ab2.cov, 4 * ab1.cov, rtol=1e-9)
    assert ab1.stderr["alpha"] == pytest.approx(np.sqrt(ab1.cov[2, 2]))
    with pytest.raises(ValueError, match="only for loss='l2'"):
        sf.fit("E + A*C^-alpha", {"C": C}, y, sigma=sig)
    with pytest.raises(TypeError, match="sigma or weights, not both"):
        sf.fit("E + A*C^-alpha", {"C": C}, y, loss="l2", sigma=sig, weights=np.ones(30))
    with pytest.raises(ValueError, match="needs sigma="):
        sf.fit("E + A*C^-alpha", {"C": C}, y, loss="l2", absolute_sigma=True)
    with pytest.raises(ValueError, match="finite and positive"):
        sf.fit("E + A*C^-alpha", {"C": C}, y, loss="l2", sigma=-sig)
    with pytest.raises(ValueError, match="^sigma has length 2 but the data has 30 rows"):
        sf.fit("E + A*C^-alpha", {"C": C}, y, loss="l2", sigma=[1.0, 2.0])
