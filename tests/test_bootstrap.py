"""Bootstrap: determinism, real-data reference, coverage, groups, scipy agreement, errors."""

import os
import signal
import threading
import time

import numpy as np
import pytest
import scalingfit as sf
from scipy.optimize import least_squares

# Epoch AI (Besiroglu et al. 2024), bootstrap standard errors of the Chinchilla fit
EPOCH_SE = {"A": 124.5, "B": 1293.0, "E": 0.0257, "alpha": 0.0154, "beta": 0.0206}


@pytest.fixture(scope="module")
def small_fit():
    rng = np.random.default_rng(0)
    x = np.geomspace(1e6, 1e11, 40)
    y = (1.7 + 300 * x**-0.3) * np.exp(0.01 * rng.standard_normal(40))
    return sf.fit("power_law_plus_constant", {"x": x}, y=y)


def test_chinchilla_standard_errors_match_epoch(chinchilla_fit):
    bs = sf.bootstrap(chinchilla_fit, n_resamples=4000, seed=0)
    assert bs.n_resamples == 4000 and bs.n_failed == 0
    se = bs.stderr
    # sampling error of a bootstrap sd from 4000 draws is a few percent (more for the skewed A, B)
    for k, tol in {"E": 0.1, "alpha": 0.1, "beta": 0.1, "A": 0.15, "B": 0.15}.items():
        assert se[k] == pytest.approx(EPOCH_SE[k], rel=tol), (k, se[k])
    a = bs.derived(lambda p: p["beta"] / (p["alpha"] + p["beta"]), name="a")
    assert a.estimate == pytest.approx(0.513, abs=0.003)
    assert a.stderr == pytest.approx(0.02, abs=0.004)
    assert a.n_used == bs.n_converged
    assert "4000" in bs.summary()


def test_same_seed_same_samples_for_any_threads_and_split(small_fit):
    a = sf.bootstrap(small_fit, n_resamples=300, seed=123, n_threads=1)
    b = sf.bootstrap(small_fit, n_resamples=300, seed=123, n_threads=2, chunk_size=7)
    assert np.array_equal(a.samples, b.samples, equal_nan=True)
    assert np.array_equal(a.status, b.status)
    # index ranges: [0, 100) + [100, 300) == [0, 300)
    c1 = sf.bootstrap(small_fit, n_resamples=100, seed=123, start=0)
    c2 = sf.bootstrap(small_fit, n_resamples=200, seed=123, start=100)
    assert np.array_equal(np.vstack([c1.samples, c2.samples]), a.samples, equal_nan=True)
    d = sf.bootstrap(small_fit, n_resamples=300, seed=124)
    assert not np.array_equal(d.samples, a.samples)


@pytest.mark.parametrize("scheme", ["residual", "parametric"])
def test_other_schemes_are_deterministic_and_sensible(small_fit, scheme):
    a = sf.bootstrap(small_fit, n_resamples=400, seed=5, scheme=scheme, n_threads=1)
    b = sf.bootstrap(small_fit, n_resamples=400, seed=5, scheme=scheme, n_threads=2)
    assert np.array_equal(a.samples, b.samples)
    pairs = sf.bootstrap(small_fit, n_resamples=400, seed=5)
    # all schemes estimate the same sampling spread to within a factor of ~2
    for k in ("alpha", "E"):
        assert 0.4 < a.stderr[k] / pairs.stderr[k] < 2.5


def test_percentile_interval_coverage():
    """200 synthetic data sets with known truth: the 95% interval covers alpha 90-99% of the time."""
    x = np.geomspace(1e6, 1e11, 30)
    truth = {"E": 1.7, "A": 300.0, "alpha": 0.3}
    clean = truth["E"] + truth["A"] * x ** -truth["alpha"]
    rng = np.random.default_rng(2024)
    covered = 0
    reps = 200
    for r in range(reps):
        y = clean * np.exp(0.02 * rng.standard_normal(x.size))
        fit = sf.fit("power_law_plus_constant", {"x": x}, y=y, loss="l2", starts=truth, n_threads=1)
        bs = sf.bootstrap(fit, n_resamples=400, seed=r)
        lo, hi = bs.ci(0.95)["alpha"]
        covered += lo <= truth["alpha"] <= hi
    assert 0.90 <= covered / reps <= 0.99, covered / reps


def test_groups_scheme_never_splits_a_group(small_fit):
    groups = np.repeat(np.arange(10), 4)
    bs = sf.bootstrap(small_fit, n_resamples=50, seed=1, scheme="groups", groups=groups)
    for i in range(50):
        c = bs._boot.counts(i)
        assert c.sum() == 40
        per_group = c.reshape(10, 4)
        assert (per_group == per_group[:, :1]).all()
    # string labels work too
    labels = np.array([f"run{g}" for g in groups])
    bs2 = sf.bootstrap(small_fit, n_resamples=50, seed=1, scheme="groups", groups=labels)
    assert np.array_equal(bs.samples, bs2.samples, equal_nan=True)


def test_agrees_with_scipy_loop_on_the_same_resamples(small_fit):
    bs = sf.bootstrap(small_fit, n_resamples=20, seed=9)
    x = small_fit.problem.columns[0]
    y = small_fit.problem.y
    t0 = [np.log(small_fit.params["E"]), np.log(small_fit.params["A"]), small_fit.params["alpha"]]
    for i in range(20):
        c = bs._boot.counts(i)
        xi, yi = np.repeat(x, c), np.repeat(y, c)
        lx, ly = np.log(xi), np.log(yi)
        ref = least_squares(
            lambda t, lx=lx, ly=ly: np.logaddexp(t[0], t[1] - t[2] * lx) - ly, t0, method="trf", loss="huber", f_scale=1e-3,
            xtol=1e-15, ftol=1e-15, gtol=1e-15,
        )
        ours = bs.samples[i]
        np.testing.assert_allclose(ours, [np.exp(ref.x[0]), np.exp(ref.x[1]), ref.x[2]], rtol=1e-4)


def test_intervals_methods_and_summary_mode(small_fit):
    bs = sf.bootstrap(small_fit, n_resamples=2000, seed=3)
    for method in ("percentile", "basic", "bca"):
        ci = bs.ci(0.9, method=method)
        for k, (lo, hi) in ci.items():
            assert lo < small_fit.params[k] < hi, (method, k)
    summ = sf.bootstrap(small_fit, n_resamples=2000, seed=3, keep="summary")
    assert summ.samples is None
    for k in bs.param_names:
        assert summ.stderr[k] == pytest.approx(bs.stderr[k], rel=1e-9)
        lo, hi = bs.ci(0.95)[k]
        slo, shi = summ.ci(0.95)[k]
        width = hi - lo
        assert abs(slo - lo) < 0.01 * width and abs(shi - hi) < 0.01 * width
    with pytest.raises(ValueError, match="samples were not stored"):
        summ.derived(lambda p: p["alpha"])


def test_from_form_and_derived_and_to_dict():
    x = np.geomspace(1e6, 1e11, 30)
    y = 1.7 + 300 * x**-0.3
    rng = np.random.default_rng(1)
    y = y * np.exp(0.01 * rng.standard_normal(30))
    bs = sf.bootstrap("power_law_plus_constant", {"x": x}, y=y, n_resamples=200, seed=0, loss="l2")
    assert bs.fit.loss == "l2"
    d = bs.to_dict()
    assert d["n_resamples"] == 200 and set(d["ci"]) == {"E", "A", "alpha"}
    half = bs.derived(lambda p: 2 ** (1 / p["alpha"]), name="compute multiplier to halve")
    assert half.estimate == pytest.approx(2 ** (1 / bs.fit.params["alpha"]))
    assert np.isfinite(half.samples).all()


def test_failed_and_unconverged_resamples_are_counted(small_fit):
    import copy
    import dataclasses

    fit = copy.copy(small_fit)
    fit.problem = dataclasses.replace(small_fit.problem, max_iter=1)
    bs = sf.bootstrap(fit, n_resamples=100, seed=0)
    assert bs.n_max_iter + bs.n_converged + bs.n_failed == 100
    assert bs.n_max_iter > 0
    assert f"{bs.n_max_iter} hit max_iter" in bs.summary()


def test_progress_bar(small_fit, capsys):
    sf.bootstrap(small_fit, n_resamples=500, seed=0, progress=True)
    err = capsys.readouterr().err
    assert "500/500" in err


def test_ctrl_c_stops_promptly(small_fit):
    timer = threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGINT))
    t0 = time.perf_counter()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        sf.bootstrap(small_fit, n_resamples=50_000_000, seed=0)
    assert time.perf_counter() - t0 < 3.0


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(n_resamples=0), ValueError, "n_resamples"),
        (dict(n_resamples=10, scheme="jackknife"), ValueError, "scheme"),
        (dict(n_resamples=10, scheme="groups"), ValueError, "groups="),
        (dict(n_resamples=10, scheme="groups", groups=np.zeros(3)), ValueError, "groups has length"),
        (dict(n_resamples=10, scheme="groups", groups=np.zeros(40)), ValueError, "2 distinct groups"),
        (dict(n_resamples=10, groups=np.zeros(40)), ValueError, "only used with scheme='groups'"),
        (dict(n_resamples=10, seed=-1), ValueError, "seed"),
        (dict(n_resamples=10, keep="all"), ValueError, "keep"),
        (dict(n_resamples=10, start=-5), ValueError, "start"),
        (dict(n_resamples=10, chunk_size="a"), ValueError, "chunk_size"),
        (dict(n_resamples=10, chunk_size=0), ValueError, "chunk_size"),
    ],
)
def test_bad_input(small_fit, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        sf.bootstrap(small_fit, **kwargs)


def test_bad_levels_and_methods(small_fit):
    bs = sf.bootstrap(small_fit, n_resamples=50, seed=0)
    for level in (0, 1, 1.5, -0.1):
        with pytest.raises(ValueError, match="level"):
            bs.ci(level)
    with pytest.raises(ValueError, match="method"):
        bs.ci(0.9, method="studentized")
    with pytest.raises(TypeError):
        sf.bootstrap(small_fit, {"x": [1]}, n_resamples=5)
