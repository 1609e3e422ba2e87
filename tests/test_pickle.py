"""Every result and problem object pickles and deep-copies, round-trip exact (issue: scale past one
machine; a Dask pipeline moves them between worker processes)."""

from __future__ import annotations

import copy
import pickle
import warnings

import numpy as np
import pytest
import scalingfit as sf
from scalingfit import _core
from scalingfit import dimension as dim
from scalingfit.datasets import hoffmann_example


@pytest.fixture(scope="module")
def fitted():
    d = hoffmann_example(seed=0)
    data = {"N": d["N"], "D": d["D"]}
    f = sf.fit("chinchilla", data, y=d["loss"])
    return d, data, f


def _roundtrips(obj):
    return [pickle.loads(pickle.dumps(obj, protocol=p)) for p in (2, pickle.HIGHEST_PROTOCOL)] + [copy.deepcopy(obj)]


def test_a_formula_pickles_to_the_same_compiled_law():
    f = _core.Formula("E + A*x^-alpha + c*sin(w*x)", ["x"])
    x = np.geomspace(1.0, 100.0, 7)
    theta = np.array([1.5, 2.0, 0.3, 0.1, 0.7])
    v, j = f.eval(theta, x[None, :], True)
    for g in _roundtrips(f):
        assert type(g) is _core.Formula and g.source == f.source and g.param_names == f.param_names and g.variables == f.variables
        v2, j2 = g.eval(theta, x[None, :], True)
        assert np.array_equal(v, v2) and np.array_equal(j, j2)


def test_a_fit_and_its_problem_round_trip_exactly(fitted):
    d, data, f = fitted
    for g in _roundtrips(f):
        assert np.array_equal(g.x, f.x) and g.params == f.params and g.summary() == f.summary()
        assert np.array_equal(g.cov, f.cov) and g.to_dict() == f.to_dict()
        assert np.array_equal(g.problem.columns, f.problem.columns) and g.problem.formula.source == f.problem.formula.source
        # the problem is usable again: its core is rebuilt, and a refit from the optimum agrees
        h = sf.fit("chinchilla", data, y=d["loss"], starts=g.params)
        assert h.objective <= f.objective * (1 + 1e-12)
        assert np.array_equal(g.predict(**data), f.predict(**data))


@pytest.mark.parametrize("keep", ["samples", "summary"])
def test_a_bootstrap_round_trips_and_bca_works_after_unpickling(fitted, keep):
    _, _, f = fitted
    b = sf.bootstrap(f, n_resamples=120, seed=3, keep=keep)
    for g in _roundtrips(b):
        assert np.array_equal(g.status, b.status)
        if keep == "samples":
            assert np.array_equal(g.samples, b.samples, equal_nan=True)
        assert g.ci() == b.ci() and g.summary() == b.summary() and g.warnings == b.warnings
    if keep == "samples":
        before = b.ci(method="bca")
        g = pickle.loads(pickle.dumps(b))  # the jackknife is rebuilt from the pickled problem
        assert g._boot is None and g.ci(method="bca") == before


def test_analysis_and_dimension_results_round_trip(fitted):
    d, data, f = fitted
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sf.ScalingFitWarning)
        b = sf.bootstrap(f, n_resamples=60, seed=0)
        X = np.random.default_rng(0).normal(size=(400, 3))
        tw = dim.twonn(X)
        objs = [
            sf.compute_optimal(b, C=[1e21, 1e23]), sf.required(b, loss=[2.0]), sf.returns(b),
            sf.extrapolate(f, {"N": [1e11], "D": [1e13]}),
            sf.backtest("chinchilla", data, y=d["loss"], n_resamples=10),
            tw, dim.mle(X), dim.tile(X), dim.compare(tw, f, name="alpha"),
        ]
    for o in objs:
        for g in _roundtrips(o):
            assert type(g) is type(o) and str(g) == str(o)
            if hasattr(o, "to_dict"):
                assert g.to_dict() == o.to_dict()


def test_bootstraps_over_index_ranges_merge_into_the_whole(fitted):
    _, _, f = fitted
    whole = sf.bootstrap(f, n_resamples=300, seed=5)
    parts = [sf.bootstrap(f, n_resamples=m, seed=5, start=s) for s, m in ((200, 100), (0, 120), (120, 80))]
    parts = [pickle.loads(pickle.dumps(p)) for p in parts]  # as they come back from workers
    merged = sf.BootstrapResult.merge(parts)
    assert np.array_equal(merged.samples, whole.samples, equal_nan=True) and np.array_equal(merged.status, whole.status)
    assert merged.ci() == whole.ci() and merged.n_resamples == 300 and merged.start == 0
    assert merged.ci(method="bca") == whole.ci(method="bca")
    with pytest.raises(ValueError, match="leave a gap"):
        sf.BootstrapResult.merge([parts[1], parts[0]])
    with pytest.raises(ValueError, match="leave an overlap"):
        sf.BootstrapResult.merge([parts[1], sf.bootstrap(f, n_resamples=50, seed=5, start=100)])
    with pytest.raises(ValueError, match="different seed"):
        sf.BootstrapResult.merge([parts[1], sf.bootstrap(f, n_resamples=80, seed=6, start=120)])
    with pytest.raises(ValueError, match="different keep"):
        sf.BootstrapResult.merge([parts[1], sf.bootstrap(f, n_resamples=10, seed=5, start=120, keep="summary")])
    for bad in ([], None, 5, "parts", [parts[0], 1.0]):
        with pytest.raises(TypeError, match="^merge: parts must be a non-empty list of BootstrapResult"):
            sf.BootstrapResult.merge(bad)
