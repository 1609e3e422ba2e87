"""Scale-out on a real Dask ``distributed.LocalCluster`` (2 worker processes, dashboard off) and
on concurrent.futures: bit-identity with the in-process call for every scheme and both keeps,
a fit made on one worker used on another, a worker killed mid-run, resubmission, summaries
that merge. pytest-timeout turns a hang into a failure."""

import math
import os
import pickle
import threading
import time
import warnings
from concurrent.futures import Future, ProcessPoolExecutor

import numpy as np
import pytest
import scalingfit as sf
from scalingfit import _distributed
from scalingfit.datasets import hoffmann_example

distributed = pytest.importorskip("distributed")

pytestmark = [pytest.mark.timeout(300), pytest.mark.filterwarnings("ignore::scalingfit.ScalingFitWarning")]


@pytest.fixture(scope="module")
def client():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
        c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


@pytest.fixture(scope="module")
def data():
    d = hoffmann_example(seed=0, n_budgets=8, n_per_budget=8)
    return {"N": d["N"], "D": d["D"]}, d["loss"]


@pytest.fixture(scope="module")
def fit(data):
    X, y = data
    return sf.fit("chinchilla", X, y=y)


@pytest.fixture
def small_tasks(monkeypatch):
    # one summary block (4096 resamples) per task, so a few thousand resamples make several tasks
    monkeypatch.setattr(_distributed, "TASK_SECONDS", 1e-9)


def same(a, b):
    assert a.n_resamples == b.n_resamples and a.start == b.start and a.seed == b.seed
    assert np.array_equal(a.status, b.status)
    if a.keep == "samples":
        assert np.array_equal(a.samples, b.samples, equal_nan=True)
    else:
        ma, mb = a._moments, b._moments
        assert ma["n"] == mb["n"]
        assert np.array_equal(ma["mean"], mb["mean"]) and np.array_equal(ma["cov"], mb["cov"])
        for ha, hb in zip(ma["hist"], mb["hist"]):
            assert np.array_equal(ha["edges"], hb["edges"]) and np.array_equal(ha["counts"], hb["counts"])
        assert a.ci() == b.ci() and a.stderr == b.stderr
    return True


def _groups(n):
    return np.arange(n) % 9


@pytest.mark.parametrize("keep", ["samples", "summary"])
@pytest.mark.parametrize("scheme", ["pairs", "groups", "residual", "parametric"])
def test_dask_run_is_bit_identical_to_in_process(client, fit, small_tasks, scheme, keep):
    kw = {"scheme": scheme, "keep": keep, "seed": 11, "start": 1000, "n_resamples": 9000}
    if scheme == "groups":
        kw["groups"] = _groups(len(fit.problem.y))
    local = sf.bootstrap(fit, **kw)
    remote = sf.bootstrap(fit, executor=client, **kw)
    assert same(local, remote)
    assert local.n_converged > 8000  # the comparison is of real refits


def test_summary_parts_on_several_workers_merge_to_one_call(client, fit):
    one = sf.bootstrap(fit, n_resamples=10_000, seed=5, keep="summary")
    cuts = [0, 1, 4095, 4096, 7000, 10_000]
    futs = [client.submit(sf.bootstrap, fit, n_resamples=b - a, start=a, seed=5, keep="summary", n_threads=1, pure=False)
            for a, b in zip(cuts, cuts[1:])]
    parts = client.gather(futs)
    assert same(one, sf.BootstrapResult.merge(parts[::-1]))


def test_a_fit_made_on_one_worker_is_used_on_another(client, data):
    X, y = data
    w0, w1 = sorted(client.scheduler_info()["workers"])
    fut_fit = client.submit(sf.fit, "chinchilla", X, y=y, workers=[w0], pure=False)
    fut_boot = client.submit(sf.bootstrap, fut_fit, n_resamples=300, seed=2, n_threads=1, workers=[w1], pure=False)
    remote_fit, remote_boot = fut_fit.result(), fut_boot.result()
    local_fit = sf.fit("chinchilla", X, y=y)
    assert np.array_equal(remote_fit.x, local_fit.x)
    assert same(sf.bootstrap(local_fit, n_resamples=300, seed=2), remote_boot)
    # and the remote result keeps working here: BCa rebuilds the core bootstrapper after unpickling
    assert remote_boot.ci(method="bca") == sf.bootstrap(local_fit, n_resamples=300, seed=2).ci(method="bca")


def test_a_worker_killed_mid_run_leaves_the_result_identical(client, fit, small_tasks):
    kw = {"n_resamples": 120_000, "seed": 8, "keep": "summary"}
    local = sf.bootstrap(fit, **kw)
    state = {}

    def kill():
        time.sleep(0.5)
        state["before_end"] = "result" not in state
        victim = sorted(client.scheduler_info()["workers"])[0]
        try:
            client.run(os._exit, 1, workers=[victim])
        except Exception:  # the connection to the dying worker breaks
            pass

    t = threading.Thread(target=kill)
    t.start()
    remote = sf.bootstrap(fit, executor=client, **kw)
    state["result"] = remote
    t.join()
    assert state["before_end"], "the run ended before the worker was killed; make it longer"
    assert same(local, remote)
    client.wait_for_workers(2, timeout=60)  # the nanny restarted it


def test_concurrent_futures_executor_and_seed_resolved_once(fit, small_tasks):
    with ProcessPoolExecutor(2) as ex:
        r = sf.bootstrap(fit, n_resamples=9000, executor=ex)  # seed=None: drawn once, recorded
    assert isinstance(r.seed, int)
    assert same(sf.bootstrap(fit, n_resamples=9000, seed=r.seed), r)


class FlakyExecutor:
    """Runs tasks inline; the first submission of every range fails (a lost worker)."""

    def __init__(self):
        self.seen = set()
        self.submits = 0

    def submit(self, fn, *args):
        self.submits += 1
        f = Future()
        key = args[1:]
        if key not in self.seen:
            self.seen.add(key)
            f.set_exception(ConnectionError("worker lost"))
        else:
            f.set_result(fn(*pickle.loads(pickle.dumps(args))))
        return f


def test_failed_ranges_are_resubmitted_and_persistent_failure_is_reported(fit, small_tasks):
    ex = FlakyExecutor()
    r = sf.bootstrap(fit, n_resamples=9000, seed=4, executor=ex)
    assert ex.submits == 2 * 3  # 3 ranges, each tried twice
    assert same(sf.bootstrap(fit, n_resamples=9000, seed=4), r)

    class Broken(FlakyExecutor):
        def submit(self, fn, *args):
            self.submits += 1
            f = Future()
            f.set_exception(ConnectionError("worker lost"))
            return f

    with pytest.raises(RuntimeError, match=r"resamples 0\.\.4095 failed 3 times"):
        sf.bootstrap(fit, n_resamples=9000, seed=4, executor=Broken())


def test_executor_without_submit_is_a_type_error(fit):
    with pytest.raises(TypeError, match="executor must have a submit"):
        sf.bootstrap(fit, n_resamples=10, seed=0, executor=object())


def test_summary_split_anywhere_merges_to_the_same_bits(fit):
    one = sf.bootstrap(fit, n_resamples=9000, seed=1, start=3, keep="summary")
    assert same(one, sf.bootstrap(fit, n_resamples=9000, seed=1, start=3, keep="summary", chunk_size=517, n_threads=1))
    rng = np.random.default_rng(0)
    for _ in range(3):
        cuts = np.unique(np.concatenate([[3, 9003], rng.integers(4, 9003, 4)]))
        parts = [sf.bootstrap(fit, n_resamples=int(b - a), seed=1, start=int(a), keep="summary") for a, b in zip(cuts, cuts[1:])]
        assert same(one, sf.BootstrapResult.merge(parts))
    # cold-start refits: the pilot refits from the warm start (cheap), and parts still merge
    cold = sf.bootstrap(fit, n_resamples=6, seed=1, warm_start=False, keep="summary")
    halves = [sf.bootstrap(fit, n_resamples=3, seed=1, start=s0, warm_start=False, keep="summary") for s0 in (3, 0)]
    assert same(cold, sf.BootstrapResult.merge(halves))
    # edges fixed by the user; those of different parts must agree
    e = {n: np.linspace(v - 10 * abs(v) - 1, v + 10 * abs(v) + 1, 101) for n, v in fit.params.items()}
    a = sf.bootstrap(fit, n_resamples=100, seed=1, keep="summary", edges=e)
    b = sf.bootstrap(fit, n_resamples=100, seed=1, start=100, keep="summary")
    with pytest.raises(ValueError, match="other histogram edges"):
        sf.BootstrapResult.merge([a, b])
    # edges that miss most resamples: counted, said, and the interval is open there
    narrow = {n: np.linspace(v, v * (1 + 1e-9) + 1e-12, 11) for n, v in fit.params.items()}
    c = sf.bootstrap(fit, n_resamples=200, seed=1, keep="summary", edges=narrow)
    assert any("fell outside the histogram range" in w for w in c.warnings)
    assert all(math.isinf(lo) or math.isinf(hi) for lo, hi in c.ci().values())
    with pytest.raises(ValueError, match="edges= sets the histogram bins"):
        sf.bootstrap(fit, n_resamples=10, seed=1, edges=e)
    with pytest.raises(ValueError, match="missing"):
        sf.bootstrap(fit, n_resamples=10, seed=1, keep="summary", edges={"E": [0, 1]})
    with pytest.raises(ValueError, match="different keep"):
        sf.BootstrapResult.merge([a, sf.bootstrap(fit, n_resamples=100, seed=1, start=100)])
