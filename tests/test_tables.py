"""Every result converts to a table (to_frame / to_pandas / to_polars), shows as HTML in a
notebook and has a short repr; the per-row tables of extrapolate, backtest and compare_forms;
scikit-learn's n_jobs and numpy Generator seeds in the dimension functions."""

import warnings

import numpy as np
import pytest
import scalingfit as sf

pd = pytest.importorskip("pandas")
pl = pytest.importorskip("polars")


@pytest.fixture(scope="module")
def fitted(hoffmann_example_full):
    d = hoffmann_example_full
    fit = sf.fit("chinchilla", {"N": d["N"], "D": d["D"]}, d["loss"])
    return d, fit, sf.bootstrap(fit, n_resamples=60, seed=3)


@pytest.fixture(scope="module")
def points():
    return np.random.default_rng(0).normal(size=(400, 3))


def _results(d, fit, bs, X):
    df = pd.DataFrame({k: d[k] for k in ("N", "D", "loss")})
    iso = sf.isoflop(d, n_resamples=20, seed=0)
    est = sf.dimension.twonn(X)
    return {
        "fit": fit, "bootstrap": bs, "distribution": bs.derived(lambda p: p["alpha"], "a"),
        "compute_optimal": sf.compute_optimal(bs, [1e21, 1e22]), "required": sf.required(bs, [2.3]), "returns": sf.returns(fit),
        "optimize_budget": sf.optimize_budget(fit, prices={"N": 1.0, "D": 1.0}, budget=1e21),
        "extrapolate": sf.extrapolate(bs, N=[1e9], D=[2e10]), "backtest": sf.backtest("chinchilla", df, "loss", n_resamples=10),
        "compare_forms": sf.compare_forms(["chinchilla", "kaplan_nd"], df, "loss", cv=None),
        "local_exponent": sf.local_exponent(fit, "N"), "isoflop": iso, "compare_approaches": sf.compare_approaches(iso, bs),
        "economics": sf.economics(fit, {"N": 1e9, "D": 2e10}), "tile": sf.dimension.tile(X, n_draws=4, n_boot=50), "twonn": est,
        "mle": sf.dimension.mle(X), "predicted": est.predicted_alpha(), "dimension_compare": sf.dimension.compare(est, fit, "alpha"),
    }


def test_every_result_has_tables_html_and_a_short_repr(fitted, points):
    d, fit, bs = fitted
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = _results(d, fit, bs, points)
    for name, r in results.items():
        df = r.to_frame()
        assert isinstance(df, pd.DataFrame) and len(df) > 0, name
        assert r.to_pandas().equals(df), name
        p = r.to_polars()
        assert isinstance(p, pl.DataFrame) and p.height == len(df), name
        # polars has no index: pandas' index (when named) becomes its first column
        assert list(p.columns) == ([df.index.name] if df.index.name else []) + [str(c) for c in df.columns], name
        h = r._repr_html_()
        assert h.startswith(("<div>", "<pre>")) and "<script" not in h, name
        assert len(repr(r)) < 320 and "np.float64" not in repr(r), (name, repr(r))


def test_compare_forms_table_has_a_row_per_candidate(hoffmann_example_full):
    df = pd.DataFrame({k: hoffmann_example_full[k] for k in ("N", "D", "loss")})
    cmp = sf.compare_forms(["chinchilla", "kaplan_nd"], df, "loss", cv=3, seed=1)
    t = cmp.to_frame()
    assert list(t.index) == cmp.ranking and t.index.name == "form"
    for r in cmp.table:
        assert t.loc[r["form"], "cv_rmse"] == r["cv_rmse"] and t.loc[r["form"], "rank"] == r["rank"]
        assert t.loc[r["form"], "notes"] == len(r["notes"])
    assert t.attrs["verdict"] == cmp.verdict


def test_extrapolate_table_keeps_the_points_index_and_marks_extrapolation(fitted):
    _, fit, bs = fitted
    pts = pd.DataFrame({"N": [1e8, 7e10], "D": [2e9, 1.4e12]}, index=["small", "big"])
    ex = sf.extrapolate(bs, pts)
    t = ex.to_frame()
    assert list(t.index) == ["small", "big"]
    np.testing.assert_array_equal(t["y"].to_numpy(), ex.y)
    np.testing.assert_array_equal(t["extrapolated"].to_numpy(), fit.extrapolated(pts).to_numpy())
    assert t["extrapolated"].tolist() == [False, True]
    lo, hi = ex.interval("y")
    np.testing.assert_array_equal(t["ci_lo"].to_numpy(), lo)
    np.testing.assert_array_equal(t["ci_hi"].to_numpy(), hi)
    assert "extrapolation: answer 2 (of 2) lie beyond the fitted data" in ex.summary()
    # fit.extrapolated keeps the index too
    assert fit.extrapolated(pts).index.tolist() == ["small", "big"]


def test_backtest_table_has_a_row_per_held_out_run(hoffmann_example_full):
    df = pd.DataFrame({k: hoffmann_example_full[k] for k in ("N", "D", "loss")})
    bt = sf.backtest("chinchilla", df, "loss", n_resamples=20)
    t = bt.to_frame()
    assert t.index.tolist() == bt.test_index.tolist()
    np.testing.assert_array_equal(t["observed"].to_numpy(), bt.y_true)
    np.testing.assert_array_equal(t["predicted"].to_numpy(), bt.y_pred)
    assert t["covered"].mean() == bt.coverage


def test_dimension_functions_take_n_jobs_and_generator_seeds(points):
    a = sf.dimension.tile(points, seed=np.random.default_rng(5), n_draws=4, n_boot=20)
    b = sf.dimension.tile(points, seed=int(np.random.default_rng(5).integers(0, 2**64, dtype=np.uint64)), n_draws=4, n_boot=20)
    assert a.d == b.d and a.seed == b.seed
    for fn in (sf.dimension.twonn, sf.dimension.mle):
        assert fn(points, n_jobs=1).d == fn(points, n_jobs=-1).d == fn(points).d
    np.testing.assert_array_equal(sf.dimension.knn(points, 3, n_jobs=2)[0], sf.dimension.knn(points, 3)[0])
    with pytest.raises(TypeError, match="not both"):
        sf.dimension.twonn(points, n_threads=1, n_jobs=2)
    for bad in (0, -2, 1.5):
        with pytest.raises(ValueError, match="n_jobs must be a positive integer, or -1"):
            sf.dimension.mle(points, n_jobs=bad)
    with pytest.raises(ValueError, match="n_jobs must be a positive integer"):
        sf.fit("chinchilla", {"N": [1e8, 1e9] * 5, "D": [1e9, 1e10] * 5}, [3.0, 2.5] * 5, n_jobs=0)
