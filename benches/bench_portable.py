"""asv: the portable build (plain x86-64 with run-time AVX2/AVX-512 dispatch, what the wheel
ships) against the same source compiled for x86-64-v3 throughout (the build before runtime
dispatch), timed in the same run. Ratio = portable time / v3 time; the target is <= 1.10.

The reference is built by ``scripts/build-v3-reference`` into ``.asv/v3ref`` (or the folder in
``SCALINGFIT_V3REF``) as the package ``scalingfit_v3ref``; without it the v3 cases are skipped.
Both sides run the same calls on the same data (Chinchilla points as in ``bench_fit``; kNN on
the ``bench_dimension`` point clouds).
"""

import importlib
import os
import sys
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


from .bench_dimension import _data  # noqa: E402
from .bench_fit import START, _chinchilla  # noqa: E402

_REF = Path(os.environ.get("SCALINGFIT_V3REF", Path(__file__).resolve().parents[1] / ".asv" / "v3ref"))


def _module(build):
    if build == "portable":
        return importlib.import_module("scalingfit")
    if not (_REF / "scalingfit_v3ref").is_dir():
        raise NotImplementedError("no v3 reference: run scripts/build-v3-reference")
    if str(_REF) not in sys.path:
        sys.path.insert(0, str(_REF))
    return importlib.import_module("scalingfit_v3ref")


class Fit:
    """One start, the 4500-start grid, and the 10^6-resample bootstrap."""

    params = (["portable", "v3"],)
    param_names = ["build"]
    timeout = 900

    def setup(self, build):
        self.sf = _module(build)
        N, D, y = _chinchilla()
        self.data, self.y = {"N": N, "D": D}, y
        self.fit = self.sf.fit("chinchilla", self.data, y=y)

    def time_one_start(self, build):
        self.sf.fit("chinchilla", self.data, y=self.y, starts=START, n_threads=1)

    def time_grid_4500(self, build):
        self.sf.fit("chinchilla", self.data, y=self.y)

    def time_bootstrap_1e6(self, build):
        self.sf.bootstrap(self.fit, n_resamples=1_000_000, seed=0)

    time_bootstrap_1e6.number = 1
    time_bootstrap_1e6.repeat = 3
    time_bootstrap_1e6.warmup_time = 0


class Knn:
    """Exact kNN, k = 20, n = 10^4 (brute force at 16, the projection at 128 and 768)."""

    params = (["portable", "v3"], [16, 128, 768])
    param_names = ["build", "dim"]
    timeout = 600
    number = 1
    repeat = 5
    warmup_time = 0

    def setup(self, build, dim):
        self.sf = _module(build)
        self.X = _data(10_000, dim)

    def time_knn_k20(self, build, dim):
        self.sf.dimension.knn(self.X, 20)
