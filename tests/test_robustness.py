"""Bad input and hostile environments never kill or hang the process (issue: bad input never
kills the process). Each risky call runs in a subprocess with a timeout, so a crash or a hang
fails the test instead of the test run."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
import scalingfit as sf


def _run(code: str, timeout: float = 120) -> subprocess.CompletedProcess:
    # the code goes through stdin: a 100,000-term formula is too long for a command line
    return subprocess.run([sys.executable, "-"], input=textwrap.dedent(code), capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize(
    "formula",
    [
        "(" * 8000 + "x" + ")" * 8000,
        "-" * 20000 + "x",
        "x" + "^x" * 5000,
        " + ".join(["a*x"] * 100_000),
    ],
    ids=["parentheses", "unary-minus", "power-chain", "flat-sum"],
)
def test_deep_or_long_formulas_raise_instead_of_crashing(formula):
    r = _run(
        f"""
        import numpy as np, scalingfit as sf
        try:
            sf.fit({formula!r}, {{"x": np.linspace(1, 2, 10)}}, y=np.linspace(1, 2, 10))
        except ValueError as e:
            print("ValueError", str(e)[:200])
        """
    )
    assert r.returncode == 0, (r.returncode, r.stderr[-2000:])
    assert "ValueError" in r.stdout and ("nested" in r.stdout or "chain" in r.stdout), r.stdout


def test_absurd_thread_counts_are_refused():
    x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    with pytest.raises(ValueError, match="n_threads"):
        sf.fit("E + A * x^-alpha", {"x": x}, y=[2.0, 1.8, 1.7, 1.65, 1.6, 1.58], n_threads=10**6)


def test_a_forked_child_does_not_hang_after_the_parent_used_the_pools():
    r = _run(
        """
        import multiprocessing as mp
        import numpy as np, scalingfit as sf
        from scalingfit.datasets import hoffmann_example

        d = hoffmann_example(seed=0)
        def work(_):
            f = sf.fit("chinchilla", {"N": d["N"], "D": d["D"]}, y=d["loss"], n_threads=2)
            b = sf.bootstrap(f, n_resamples=20, seed=0, n_threads=2)
            return int(b.n_converged)
        work(0); work(0)          # the parent's pools (2 threads, and all cores) exist now
        with mp.get_context("fork").Pool(2) as pool:
            print(pool.map(work, range(2)))
        """,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == "[20, 20]"


def test_ctrl_c_stops_a_long_multistart_fit():
    # 10^5 starts on 4,000 points take tens of seconds; SIGINT after 0.5 s must stop the fit
    # between starts (generous bound: the check runs per start, each a few milliseconds)
    import os
    import signal
    import threading
    import time

    import numpy as np

    rng = np.random.default_rng(0)
    N = 10 ** rng.uniform(7, 10, 4000)
    D = 10 ** rng.uniform(9, 12, 4000)
    y = (1.8 + 400 * N**-0.34 + 2000 * D**-0.36) * np.exp(0.01 * rng.standard_normal(4000))
    starts = {k: rng.uniform(lo, hi, 100_000) for k, lo, hi in
              (("E", 0.5, 3), ("A", 10, 1e4), ("alpha", 0.05, 1), ("B", 10, 1e4), ("beta", 0.05, 1))}
    rows = [dict(zip(starts, v)) for v in zip(*starts.values())]
    # garbage left by earlier tests (e.g. NpzFile objects in exception cycles) is collected
    # first: a KeyboardInterrupt raised while the collector runs a __del__ is swallowed by
    # Python ("Exception ignored in ...") and the test would wait for the whole fit
    import gc

    gc.collect()
    timer = threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGINT))
    t0 = time.perf_counter()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            sf.fit("chinchilla", {"N": N, "D": D}, y=y, starts=rows)
    finally:
        timer.cancel()
    assert time.perf_counter() - t0 < 10
    # the module still works afterwards
    assert sf.fit("chinchilla", {"N": N[:200], "D": D[:200]}, y=y[:200], starts=rows[0]).converged in (True, False)


@pytest.fixture(scope="module")
def small_fit():
    import numpy as np

    rng = np.random.default_rng(0)
    x = np.geomspace(1e6, 1e11, 40)
    y = (1.7 + 300 * x**-0.3) * np.exp(0.01 * rng.standard_normal(40))
    return sf.fit("power_law_plus_constant", {"x": x}, y=y)


def test_impossible_bootstrap_sizes_and_ranges_are_refused_at_once(small_fit):
    # before any work or allocation: a clear ValueError naming the argument and the way out
    with pytest.raises(ValueError, match="keep='summary'"):
        sf.bootstrap(small_fit, n_resamples=10**12, seed=0)
    with pytest.raises(ValueError, match="below 2\\*\\*64"):
        sf.bootstrap(small_fit, n_resamples=10, start=2**64 - 5, seed=0)
    # the last valid range still runs
    bs = sf.bootstrap(small_fit, n_resamples=3, start=2**64 - 3, seed=0)
    assert bs.samples.shape == (3, len(small_fit.param_names))


@pytest.mark.parametrize(
    "call",
    [
        lambda x, y: sf.fit("E + A * x^-alpha", {"x": x}, y=y, max_iter=2**64),
        lambda x, y: sf.fit("E + A * x^-alpha", {"x": x}, y=y, n_starts=2**64),
        lambda x, y: sf.fit("E + A * x^-alpha", {"x": x}, y=y, n_threads=2**64),
        lambda x, y: sf.dimension.knn(np.c_[x, y], 2**64),
        lambda x, y: sf.dimension.mle(np.c_[x, y], k=2**64),
    ],
    ids=["max_iter", "n_starts", "n_threads", "knn-k", "mle-k"],
)
def test_integers_past_64_bits_are_a_clear_value_error(call):
    x = np.geomspace(1.0, 100.0, 20)
    with pytest.raises(ValueError):
        call(x, 1.5 + 3 * x**-0.5)


# --- memory: refused with a clear error before the allocator can abort the process -------


def test_knn_lists_larger_than_memory_are_a_memory_error_not_an_abort():
    # 200,000 points with k = 199,999 ask for ~1.3 TB of neighbour lists: SIGABRT before
    r = _run(
        """
        import numpy as np, scalingfit as sf
        X = np.random.default_rng(0).random((200_000, 2))
        try:
            sf.dimension.knn(X, 199_999)
        except MemoryError as e:
            print("MemoryError", e)
        """
    )
    assert r.returncode == 0, (r.returncode, r.stderr[-2000:])
    assert r.stdout.startswith("MemoryError k: ") and "lower k" in r.stdout, r.stdout


def test_a_start_grid_larger_than_memory_is_refused_before_it_is_built():
    x = np.geomspace(1.0, 100.0, 20)
    axis = np.linspace(0.1, 1.0, 5000)
    with pytest.raises(ValueError, match=r"grid: 5000 x 5000 x 5000 = 125000000000 starts"):
        sf.fit("E + A * x^-alpha", {"x": x}, y=1.5 + 3 * x**-0.5, grid={"E": axis, "A": axis, "alpha": axis})


# --- kNN at extreme scales: exact and finite, or refused ------------------------------------


@pytest.mark.parametrize("algorithm", ["brute", "kdtree"])
@pytest.mark.parametrize("scale", [2.0**600, 2.0**-700, 1e200, 1e-200])
def test_knn_distances_of_finite_data_stay_finite_and_exact_at_any_scale(scale, algorithm):
    X = np.random.default_rng(1).standard_normal((300, 3))
    d0, i0 = sf.dimension.knn(X, 3, algorithm=algorithm)
    d, i = sf.dimension.knn(X * scale, 3, algorithm=algorithm)
    assert np.isfinite(d).all() and (d > 0).all()
    np.testing.assert_array_equal(i, i0)
    # power-of-two scales are exact; decimal ones differ by the rounding of X * scale
    np.testing.assert_allclose(d, d0 * scale, rtol=0 if np.log2(scale).is_integer() else 1e-14)
    assert sf.dimension.twonn(X * scale).d == pytest.approx(sf.dimension.twonn(X).d, rel=1e-12)


def test_knn_refuses_distances_beyond_float64_and_unresolvable_near_duplicates():
    with pytest.raises(ValueError, match="exceeds the largest float64"):
        sf.dimension.knn(np.array([[-1e308, 0.0], [1e308, 0.0], [0.0, 1e308]]), 2)
    with pytest.raises(ValueError, match="rows 0 and 1 differ"):
        sf.dimension.knn(np.array([[1.0, 0.0], [1.0, 1e-200], [3.0, 0.0], [5.0, 1.0]]), 1)


# --- analysis at extreme inputs: a finite answer or a ValueError naming the argument -----------


@pytest.fixture(scope="module")
def chin():
    from scalingfit.datasets import hoffmann_example

    d = hoffmann_example(seed=0)
    return sf.fit("chinchilla", {"N": d["N"], "D": d["D"]}, y=d["loss"])


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda f: sf.compute_optimal(f, C=5e-324), "C: budget 4.94066e-324 FLOP is below k"),
        (lambda f: sf.compute_optimal(f, C=1e308, k=1e-300), "C: the compute-optimal allocation at C = 1e\\+308 gives D = inf"),
        (lambda f: sf.compute_optimal(f, C=1e21, k=1e-300, method="numerical"), "C: at C = 1e\\+21 the law's loss is flat"),
        (lambda f: sf.required(f, loss=1e300), "loss: target 1e\\+300 is above the loss"),
        (lambda f: sf.required(f, loss=1e300, method="numerical"), "loss: target 1e\\+300 is above the loss"),
        (lambda f: sf.optimize_budget(f, {"N": 1e-9, "D": 2e-12}, budget=1e308), "budget: the best allocation at budget = 1e\\+308"),
        (lambda f: sf.optimize_budget(f, {"N": 1e-9, "D": 2e-12}, loss=1e300), "loss: target 1e\\+300 is above"),
    ],
    ids=["C-subnormal", "C-overflow", "numerical-flat", "required-huge", "required-numerical-huge", "budget-1e308", "budget-loss-huge"],
)
def test_analysis_at_extreme_inputs_raises_instead_of_returning_nan(chin, call, match):
    with pytest.raises(ValueError, match=match):
        call(chin)


def test_analysis_in_log_space_keeps_representable_extremes_exact(chin):
    # C / k = 1e321 overflows in linear space; the closed form in log space is still exact
    a = sf.compute_optimal(chin, C=1e21, k=1e-300)
    assert np.isfinite([a.N[0], a.D[0], a.loss[0], a.tokens_per_param[0]]).all()
    p = chin.params
    G = (p["alpha"] * p["A"] / (p["beta"] * p["B"])) ** (1 / (p["alpha"] + p["beta"]))
    lnN = np.log(G) + p["beta"] / (p["alpha"] + p["beta"]) * (np.log(1e21) - np.log(1e-300))
    assert np.log(a.N[0]) == pytest.approx(lnN, rel=1e-13)
    assert np.log(a.D[0]) == pytest.approx(np.log(1e21) - np.log(1e-300) - lnN, rel=1e-13)
    # the two methods agree on an ordinary question
    assert sf.required(chin, loss=3.0).C[0] == pytest.approx(sf.required(chin, loss=3.0, method="numerical").C[0], rel=1e-6)


def test_predict_outside_the_laws_domain_raises_naming_the_row():
    from scalingfit.datasets import hoffmann_example

    d = hoffmann_example(seed=0)
    k = sf.fit("kaplan_nd", {"N": d["N"], "D": d["D"]}, y=d["loss"])
    with pytest.raises(ValueError, match=r"predict: the fitted law is inf at row 1 \(N=0, D=1e\+10\)"):
        k.predict({"N": [1e9, 0.0, -1.0], "D": [1e10] * 3})


# --- units of weights and y do not change the fit ------------------------------------------


@pytest.mark.parametrize("w", [1e-310, 1e-200, 1e200, 1e307])
def test_the_fit_does_not_depend_on_the_scale_of_the_weights(chin, w):
    d = chin.problem
    f = sf.fit("chinchilla", {"N": d.columns[0], "D": d.columns[1]}, y=d.y, weights=np.full(d.n, w))
    assert f.converged
    for name in chin.param_names:
        assert f.params[name] == pytest.approx(chin.params[name], rel=1e-6), name
    # the objective is reported on the user's weight scale
    assert f.objective == pytest.approx(chin.objective * w, rel=1e-6)


@pytest.mark.parametrize("scale", [1e-300, 1e-100, 1e100, 1e300])
def test_the_chinchilla_fit_does_not_depend_on_the_units_of_the_loss(chin, scale):
    d = chin.problem
    f = sf.fit("chinchilla", {"N": d.columns[0], "D": d.columns[1]}, y=d.y * scale)
    assert f.converged
    for name in ("alpha", "beta"):
        assert f.params[name] == pytest.approx(chin.params[name], rel=1e-5), name
    for name in ("E", "A", "B"):
        assert f.params[name] == pytest.approx(chin.params[name] * scale, rel=1e-5), name


def test_a_linear_target_outside_float64s_squared_range_is_refused():
    x = np.geomspace(1.0, 100.0, 30)
    y = 1.5 + 3 * x**-0.5
    with pytest.raises(ValueError, match="y: its largest \\|value\\| is 4.500e-300; with target='linear'"):
        sf.fit("E + A*x^-alpha", {"x": x}, y=y * 1e-300, target="linear")
    f = sf.fit("E + A*x^-alpha", {"x": x}, y=y * 1e-300, target="log")
    assert f.converged and f.params["alpha"] == pytest.approx(0.5, rel=1e-6)


# --- stops, limits and failures that used to be silent (fuzz findings) -------------------------


def test_ctrl_c_stops_one_start_with_a_huge_iteration_limit():
    # one start with xtol=0 and max_iter=10**12 never converges: before, Ctrl-C was only seen
    # between starts, so this call could not be stopped; the LM loop now reads the abort flag
    import os
    import signal
    import threading
    import time

    # (a law whose parameter runs off to infinity no longer serves: the divergence watch ends
    # that run by itself; so: one start on 10^6 points with every tolerance 0, which takes
    # tens of seconds of iterations at 0.1-0.3 s each)
    rng = np.random.default_rng(0)
    n = 1_000_000
    N, D = 10 ** rng.uniform(7, 10, n), 10 ** rng.uniform(9, 12, n)
    y = (1.69 + 406.4 * N**-0.34 + 410.7 * D**-0.28) * np.exp(rng.normal(0, 0.01, n))
    far = {"E": 5.0, "A": 10.0, "alpha": 0.9, "B": 1e5, "beta": 0.05}
    timer = threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGINT))
    t0 = time.perf_counter()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            sf.fit("chinchilla", {"N": N, "D": D}, y=y, starts=far, xtol=0.0, ftol=0.0, gtol=0.0, max_iter=10**12)
    finally:
        timer.cancel()
    assert time.perf_counter() - t0 < 10


def test_the_memory_guard_respects_the_address_space_limit():
    # under `ulimit -v 4 GiB` a kNN list of 6 GB must be a MemoryError (before: SIGABRT, as the
    # guard only looked at physical memory), and Python's guard sees the same limit
    r = _run(
        """
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (4 << 30, resource.RLIM_INFINITY))
        import numpy as np, scalingfit as sf
        from scalingfit._data import physical_memory
        print(physical_memory() <= 4 << 30)
        X = np.random.default_rng(0).random((50_000, 2))
        try:
            sf.dimension.knn(X, 3000)
        except MemoryError as e:
            print("MemoryError", e)
        """
    )
    assert r.returncode == 0, (r.returncode, r.stderr[-2000:])
    assert r.stdout.splitlines()[0] == "True"
    assert r.stdout.splitlines()[1].startswith("MemoryError k: ") and "this process may use" in r.stdout, r.stdout


def test_a_formula_whose_workspace_exceeds_memory_is_refused():
    # 900 terms on 10^6 points: the evaluation workspace (nodes x points x 16 bytes per
    # thread) and the Jacobians would be ~100 GB; refused naming form instead of exhausting memory
    x = np.geomspace(1.0, 10.0, 1_000_000)
    form = " + ".join(f"a{i}*x^{(i % 7) + 1}" for i in range(900))
    with pytest.raises(MemoryError, match="^form: evaluating this formula"):
        sf.fit(form, {"x": x}, y=x, target="linear", n_starts=1)


def test_a_fit_that_reaches_an_infinite_parameter_is_not_converged():
    # ftol=1.8e308 accepts the first step, which sent A to inf and reported converged=True.
    # Now the trust region bounds that step and a log-space parameter stays within float64's
    # normal range, so A stays finite, and the not-identified A is reported instead
    x = np.geomspace(1e3, 1e9, 30)
    y = 3162277660.1683793 * (x / 1e3) ** 0.5
    with pytest.warns(sf.ScalingFitWarning, match="A is not identified"):
        f = sf.fit("power_law_plus_constant", {"x": x}, y=y, target="linear", ftol=1.7976931348623157e308)
    assert np.isfinite(list(f.params.values())).all()
    assert any("A is not identified" in w for w in f.warnings)
    json.dumps(f.to_dict(), allow_nan=False)


def test_a_summary_bootstrap_with_no_converged_resample_says_so():
    x = np.geomspace(1e3, 1e9, 30)
    y = 0.7 * (x / 1e3) ** -0.05 * np.exp(0.3 * np.random.default_rng(0).standard_normal(30))
    f = sf.fit("power_law", {"x": x}, y=y, max_iter=1)
    b = sf.bootstrap(f, keep="summary", n_resamples=10, seed=0)
    assert b.n_converged == 0
    with pytest.raises(ValueError, match="only 0 of 10 resamples converged"):
        b.ci()
    with pytest.raises(ValueError, match="only 0 of 10 resamples converged"):
        b.stderr  # noqa: B018
    assert "fewer than 2 converged resamples" in b.summary()
    d = b.to_dict()
    assert d["ci"] is None and d["stderr"] is None
    json.dumps(d, allow_nan=False)


@pytest.fixture(scope="module")
def chin_bs(chin):
    return sf.bootstrap(chin, n_resamples=40, seed=0)


@pytest.mark.parametrize(
    "func, exc, match",
    [
        (lambda p: p["E0"], ValueError, "derived: func looked up 'E0', which is not a parameter"),
        (lambda p: None, TypeError, "derived: func must return one real number per resample, got NoneType"),
        (lambda p: "abc", TypeError, "got str 'abc'"),
        (lambda p: [1.0, 2.0], TypeError, "got list"),
        (lambda p: p["alpha"] * 1e308 * 10, ValueError, "derived: func is inf at the fitted parameters"),
    ],
    ids=["unknown-name", "none", "str", "list", "overflow"],
)
def test_derived_quantities_are_checked(chin_bs, func, exc, match):
    with np.errstate(over="ignore"):
        with pytest.raises(exc, match=match):
            chin_bs.derived(func)


def test_derived_falls_back_to_scalar_calls_for_functions_that_take_floats(chin_bs):
    import math

    d = chin_bs.derived(lambda p: math.log(p["alpha"]))  # math.log rejects arrays
    assert d.estimate == pytest.approx(math.log(chin_bs.fit.params["alpha"]))
    assert d.n_used == chin_bs.n_converged
    json.dumps(d.to_dict(), allow_nan=False)


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda c, b: sf.returns(b, factor=1e308), ValueError, "^factor: dividing the reducible loss by 1e\\+308"),
        (lambda c, b: sf.compute_optimal(b, k=1.7976931348623157e308), ValueError, "^k: with k = 1.79769e\\+308"),
        (lambda c, b: sf.extrapolate(b, {"N": [1e11], "D": [1e13]}, seed=-1), ValueError, "^seed must be an integer"),
        (lambda c, b: sf.required(b, [2.0, 2.5]).interval({}), TypeError, "^interval: name must be a str"),
        (lambda c, b: sf.bootstrap(c, scheme="groups", n_resamples=4, groups=[[0, 1], [0]]), ValueError, "^groups must be 1-dimensional"),
        (lambda c, b: sf.fit("power_law", {0: [1.0, 2.0, 3.0]}, y=[1.0, 2.0, 3.0]), TypeError, "^data: column names must be strings"),
        (lambda c, b: sf.fit("power_law", {"x": [1.0, 2.0, 3.0]}, y=[1.0, 2.0, 3.0], columns="x"), TypeError, "^columns must be a dict"),
        (lambda c, b: sf.fit("power_law", {"x": [1.0, 2.0, 3.0]}, y=[1.0, 2.0, 3.0], starts=5), TypeError, "^starts must be a dict"),
        (lambda c, b: sf.fit("power_law", {"x": [1.0, 2.0, 3.0]}, y=[1.0, 2.0, 3.0], positive="A"), TypeError, "^positive must be a list"),
        (lambda c, b: sf.fit("power_law", {"x": [1.0, 2.0, 3.0]}, y=[1.0, 2.0, 3.0], bounds=[0, 1]), TypeError, "^bounds must be a dict"),
        (lambda c, b: sf.fit("power_law", {"x": [1.0, 2.0, 3.0]}, y=[1.0, 2.0, 3.0], bounds={"A": {}}), TypeError, "^bounds\\['A'\\] must be a"),
        (lambda c, b: sf.fit("power_law", {"x": [1.0, 2.0, 3.0]}, y=[1.0, 2.0, 3.0], check_names="no"), TypeError, "^check_names must be True or False"),
    ],
    ids=["returns-factor", "k-overflow", "seed", "interval-name", "ragged-groups", "int-key", "columns-str", "starts-int",
         "positive-str", "bounds-list", "bounds-dict", "check-names-str"],
)
def test_unclear_errors_found_by_the_fuzzer_name_their_argument(chin, chin_bs, call, exc, match):
    with pytest.raises(exc, match=match):
        call(chin, chin_bs)


def test_pandas_columns_that_are_not_strings_can_be_mapped():
    pd = pytest.importorskip("pandas")
    x = np.geomspace(1.0, 10.0, 5)
    f = sf.fit("x^a", pd.DataFrame({0: x}), y=x**0.5, columns={"x": "0"}, target="linear")
    assert f.params["a"] == pytest.approx(0.5)


def test_numerical_compute_optimal_at_the_largest_budget_has_finite_exponents(chin):
    from scalingfit.datasets import hoffmann_example

    d = hoffmann_example(seed=0)
    kaplan = sf.fit("kaplan_nd", {"N": d["N"], "D": d["D"]}, y=d["loss"])
    # the slope bracket of a single budget went to 10 C = inf: a = b = NaN before
    r = sf.compute_optimal(kaplan, C=np.array([1e308]), k=4798)
    assert np.isfinite([r.a, r.b]).all() and r.a + r.b == pytest.approx(1.0)


def test_bca_without_enough_jackknife_refits_says_so():
    # leave-one-out refits that fail or land far apart (a non-identified law on a few points)
    # leave the acceleration undefined; which refits do so depends on the solver's path, so the
    # two ways are checked on the interval itself
    from scalingfit._bootstrap import _interval

    s = np.linspace(0.0, 1.0, 101)
    with pytest.raises(ValueError, match="^method='bca': only 2 leave-one-out refits succeeded.*use method='percentile'"):
        _interval(s, 0.5, 0.95, "bca", np.array([0.4, 0.6]))
    with pytest.raises(ValueError, match="^method='bca': the acceleration .* not finite.*use method='percentile'"):
        _interval(s, 0.5, 0.95, "bca", np.array([1e300, -1e300, 1e299, 0.0]))
    lo, hi = _interval(s, 0.5, 0.95, "bca", np.array([0.49, 0.5, 0.51, 0.5]))
    assert 0.0 <= lo < 0.5 < hi <= 1.0


def test_a_backtest_whose_law_cannot_reach_the_held_out_rows_says_which():
    # (first found by the fuzz test) the law fitted on the 27 smaller runs is inf at the 3 largest:
    # an exponential growth whose rate the training rows pin down overflows at x = 800
    x = np.concatenate([np.arange(1.0, 28.0), [800.0, 900.0, 1000.0]])
    y = np.concatenate([2.0 * np.exp(0.9 * np.arange(1.0, 28.0)), [1e10, 2e10, 3e10]])
    with pytest.raises(ValueError, match="^holdout: the law fitted on the 27 training rows cannot predict the held-out rows.*x=800"):
        sf.backtest("a * exp(b * x)", {"x": x}, y=y, holdout="top_compute", n_resamples=0)


def test_compute_optimal_default_budgets_need_positive_compute_in_the_data():
    # (found by the fuzz test) a D of 0 in the data made the default budget grid an
    # OverflowError "cannot convert float infinity to integer"
    N = np.full(4, 1e9)
    D = np.array([0.0, 1.2e10, 3.0e10, 8.0e10])
    y = np.array([3.2, 2.6, 2.4, 2.3])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f = sf.fit("kaplan_nd", {"N": N, "D": D}, y=y, max_iter=3)
    with pytest.raises(ValueError, match=r"^C: the data's compute k\*N\*D is not a positive number at row 0 .*give C"):
        sf.compute_optimal(f)
