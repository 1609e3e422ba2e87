"""asv benchmarks for fitting and the bootstrap, each beside its scipy reference in the same run.

The reference is the fair scipy baseline of the issue: ``scipy.optimize.least_squares`` (trf,
loss="huber", f_scale=1e-3) on Epoch's parameterisation (log E, log A, alpha, log B, beta) with a
hand-written logsumexp and an analytic Jacobian. Ratios = scipy time / scalingfit time.

Data: Epoch AI's Chinchilla points from ../shared/data (240 points after dropping the 5 highest
losses); when that folder is absent, 240 synthetic points from the Hoffmann law.
"""

import csv
import os
from pathlib import Path

# single-threaded BLAS for the scipy references (tiny 240 x 5 problems, where BLAS threads only
# add overhead, and idle OpenBLAS threads spinning on the 2 cores disturb the timings); must be
# set before numpy is imported
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import scalingfit as sf  # noqa: E402
from scalingfit import _core  # noqa: E402
from scipy.optimize import least_squares  # noqa: E402

START = {"E": float(np.exp(0.5)), "A": float(np.exp(5.0)), "alpha": 0.5, "B": float(np.exp(10.0)), "beta": 0.5}


def _chinchilla():
    path = Path(__file__).resolve().parents[2] / "shared" / "data" / "chinchilla" / "svg_extracted_data.csv"
    if path.exists():
        rows = list(csv.DictReader(open(path)))
        N = np.array([float(r["Model Size"]) for r in rows])
        C = np.array([float(r["Training FLOP"]) for r in rows])
        y = np.array([float(r["loss"]) for r in rows])
        keep = y < np.sort(y)[-5]
        return N[keep], C[keep] / (6 * N[keep]), y[keep]
    from scalingfit.datasets import hoffmann_example

    d = hoffmann_example(seed=0, n_budgets=20, n_per_budget=12)
    return d["N"], d["D"], d["loss"]


def _scipy_problem(N, D, y):
    lnN, lnD, lny = np.log(N), np.log(D), np.log(y)

    def res(t):
        a, b = t[1] - t[2] * lnN, t[3] - t[4] * lnD
        m = np.maximum(np.maximum(a, b), t[0])
        return m + np.log(np.exp(t[0] - m) + np.exp(a - m) + np.exp(b - m)) - lny

    def jac(t):
        a, b = t[1] - t[2] * lnN, t[3] - t[4] * lnD
        m = np.maximum(np.maximum(a, b), t[0])
        e0, e1, e2 = np.exp(t[0] - m), np.exp(a - m), np.exp(b - m)
        s = e0 + e1 + e2
        w0, w1, w2 = e0 / s, e1 / s, e2 / s
        return np.stack([w0, w1, -w1 * lnN, w2, -w2 * lnD], axis=1)

    return res, jac


def _internal(p):
    return [np.log(p["E"]), np.log(p["A"]), p["alpha"], np.log(p["B"]), p["beta"]]


def _epoch_grid():
    return [
        [e, a, al, b, be]
        for e in np.arange(-1, 1.5, 0.5)
        for a in np.arange(0, 30, 5)
        for al in np.arange(0, 2.5, 0.5)
        for b in np.arange(0, 30, 5)
        for be in np.arange(0, 2.5, 0.5)
    ]


class ChinchillaFit:
    """One cold start, and the full 4500-start grid (Besiroglu et al. 2024)."""

    timeout = 600

    def setup(self):
        self.N, self.D, self.y = _chinchilla()
        self.data = {"N": self.N, "D": self.D}
        self.res, self.jac = _scipy_problem(self.N, self.D, self.y)
        fit = sf.fit("chinchilla", self.data, y=self.y, starts=START, n_threads=1)
        self.prob = fit.problem
        _ = self.prob.core  # built once, as sf.fit's cache does
        self.start_arr = np.array([[START[k] for k in fit.param_names]])

    def time_one_start_scalingfit(self):
        sf.fit("chinchilla", self.data, y=self.y, starts=START, n_threads=1)

    def time_one_start_scalingfit_core(self):
        p = self.prob
        _core.fit(p.core, p.columns, p.y, starts=self.start_arr, n_auto=1, n_threads=1)

    def time_one_start_scipy(self):
        least_squares(self.res, _internal(START), jac=self.jac, method="trf", loss="huber", f_scale=1e-3)

    def time_grid_4500_scalingfit(self):
        sf.fit("chinchilla", self.data, y=self.y)

    def time_grid_4500_scipy(self):
        best = np.inf
        for t0 in _epoch_grid():
            r = least_squares(self.res, t0, jac=self.jac, method="trf", loss="huber", f_scale=1e-3)
            best = min(best, r.cost)

    time_grid_4500_scipy.timeout = 900
    time_grid_4500_scipy.number = 1
    time_grid_4500_scipy.repeat = 1


class ChinchillaBootstrap:
    """Pairs bootstrap of the Chinchilla fit, warm-started from the full-data optimum; the scipy
    reference refits 100 of the same resamples (same indices) with the same warm start."""

    timeout = 900
    number = 1
    repeat = 1
    warmup_time = 0

    def setup(self):
        N, D, y = _chinchilla()
        self.fit = sf.fit("chinchilla", {"N": N, "D": D}, y=y)
        self.N, self.D, self.y = N, D, y
        self.t_hat = _internal(self.fit.params)
        bs = sf.bootstrap(self.fit, n_resamples=1, seed=0)
        self.counts = [bs._boot.counts(i) for i in range(100)]

    def time_bootstrap_1e4(self):
        sf.bootstrap(self.fit, n_resamples=10_000, seed=0)

    def time_bootstrap_1e6(self):
        sf.bootstrap(self.fit, n_resamples=1_000_000, seed=0)

    def peakmem_bootstrap_1e6(self):
        sf.bootstrap(self.fit, n_resamples=1_000_000, seed=0)

    def time_scipy_warm_refits_100(self):
        for c in self.counts:
            res, jac = _scipy_problem(np.repeat(self.N, c), np.repeat(self.D, c), np.repeat(self.y, c))
            least_squares(res, self.t_hat, jac=jac, method="trf", loss="huber", f_scale=1e-3)
