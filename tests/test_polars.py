"""polars in and out: polars DataFrames and Series as data, y and weights; predictions as a polars
Series; ``to_polars()`` on every result, the same table as ``to_frame()``."""

import warnings

import numpy as np
import pytest
import scalingfit as sf

pl = pytest.importorskip("polars")
pd = pytest.importorskip("pandas")


@pytest.fixture(scope="module")
def data(hoffmann_nd):
    return hoffmann_nd


@pytest.fixture(scope="module")
def frame(data):
    return pl.DataFrame(data)


@pytest.fixture(scope="module")
def fit(frame):
    return sf.fit("chinchilla", frame, "loss")


@pytest.fixture(scope="module")
def boot(fit):
    return sf.bootstrap(fit, n_resamples=40, seed=7)


def _same(p, q):
    """A polars table equals a pandas one with its index as the first column."""
    q = q.reset_index() if q.index.name is not None else q
    assert list(p.columns) == list(q.columns)
    for c in p.columns:
        a, b = p.get_column(c).to_numpy(), q[c].to_numpy()
        if a.dtype.kind in "fiub":
            np.testing.assert_array_equal(a.astype(float), b.astype(float))
        else:
            assert list(a) == list(b)


def test_polars_data_gives_the_same_fit_as_a_dict(data, frame, fit):
    ref = sf.fit("chinchilla", data, "loss")
    assert fit.params == ref.params
    w = np.linspace(0.5, 1.5, len(frame))
    by_series = sf.fit("chinchilla", frame, frame.get_column("loss"), weights=pl.Series("w", w))
    assert by_series.params == sf.fit("chinchilla", data, "loss", weights=w).params


def test_predict_on_polars_returns_a_polars_series(fit, frame):
    p = fit.predict(frame)
    assert isinstance(p, pl.Series) and p.name == "loss" and p.len() == frame.height
    np.testing.assert_array_equal(p.to_numpy(), fit.predict({"N": frame["N"].to_numpy(), "D": frame["D"].to_numpy()}))


def test_polars_nulls_are_reported_and_omitted(data):
    df = pl.DataFrame(data).with_columns(
        pl.when(pl.int_range(pl.len()) == 4).then(None).otherwise(pl.col("loss")).alias("loss"))
    with pytest.raises(ValueError, match=r"y contains a non-finite value \(nan\) at index 4; .* or pass nan_policy='omit'"):
        sf.fit("chinchilla", df, "loss")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f = sf.fit("chinchilla", df, "loss", nan_policy="omit")
    assert f.n_points == len(data["N"]) - 1


def test_real_lazyframe_says_collect(frame):
    with pytest.raises(TypeError, match=r"call \.collect\(\) first"):
        sf.fit("chinchilla", frame.lazy(), "loss")


def test_fit_and_bootstrap_to_polars_match_to_frame(fit, boot):
    _same(fit.to_polars(), fit.to_frame())
    _same(fit.to_polars(level=0.9), fit.to_frame(level=0.9))
    _same(boot.to_polars(level=0.8), boot.to_frame(level=0.8))
    s = boot.to_polars(samples=True)
    _same(s, boot.samples_frame())
    assert s.get_column("resample").to_list() == list(range(40)) and s.schema["converged"] == pl.Boolean
    dist = boot.derived(lambda p: p["beta"] / (p["alpha"] + p["beta"]), name="a")
    _same(dist.to_polars(level=0.9), dist.to_frame(level=0.9))


@pytest.mark.parametrize("make", [
    lambda s: sf.required(s, [2.3, 2.2]),
    lambda s: sf.returns(s),
    lambda s: sf.extrapolate(s, {"N": [1e11, 2e11], "D": [1e13, 2e13]}),
], ids=["required", "returns", "extrapolate"])
@pytest.mark.parametrize("boot_or_fit", ["fit", "boot"])
def test_every_result_to_polars_matches_to_frame(make, boot_or_fit, fit, boot):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = make(fit if boot_or_fit == "fit" else boot)
    p = r.to_polars()
    assert isinstance(p, pl.DataFrame) and p.height > 0
    _same(p, r.to_frame())


def test_missing_polars_is_a_clear_import_error(fit, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "polars", None)
    with pytest.raises(ImportError, match="pip install polars"):
        fit.to_polars()


def test_readme_polars_example_runs():
    import re
    import subprocess
    import sys
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    (code,) = [b for b in re.findall(r"```python\n(.*?)```", text, flags=re.S) if b.startswith("import polars")]
    code += "\nassert isinstance(pfit.predict(runs), pl.Series) and pfit.to_polars().height == 5\n"
    r = subprocess.run([sys.executable, "-W", "ignore", "-c", code], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
