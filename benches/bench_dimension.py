"""asv benchmarks for scalingfit.dimension: kNN and the estimators at n in {1e4, 1e5} and
ambient dim in {16, 128, 768}, scikit-dimension on the same data at n = 1e4 (it sorts dense
distance rows and does not finish at 1e5), and numpy's Gram matrix as the machine floor
(``X @ X.T`` at 1e4; at 1e5 the matrix would take 80 GB, so a blocked loop of
``X[i:i+B] @ X.T``, which does the same flops).

Data: a 10-dimensional Gaussian linearly embedded in the ambient dimension plus a little
isotropic noise (a typical "embeddings" shape); below 10 dimensions, a full-dimensional
Gaussian plus the same noise. ``LowDimension`` covers ambient dims 3 and 8, where ``auto``
picks the k-d tree at 3 and brute force at 8 (both are timed explicitly there).
"""

import numpy as np
import scalingfit as sf

try:  # test-only dependency
    import skdim
except ImportError:  # pragma: no cover
    skdim = None

NS = [10_000, 100_000]
DIMS = [16, 128, 768]


def _data(n, dim, seed=0):
    rng = np.random.default_rng(seed)
    m = min(10, dim)
    q, _ = np.linalg.qr(rng.standard_normal((dim, m)))
    X = rng.standard_normal((n, m)) @ q.T
    X += 1e-3 * rng.standard_normal((n, dim))
    return np.ascontiguousarray(X)


class _OneRun:
    """Shared settings: one timed run per case (the large cases take minutes)."""

    param_names = ["n", "dim"]
    timeout = 600
    number = 1
    repeat = 1
    warmup_time = 0

    def setup(self, n, dim):
        self.X = _data(n, dim)


class Dimension(_OneRun):
    params = (NS, DIMS)

    def time_knn_k20(self, n, dim):
        sf.dimension.knn(self.X, 20)

    def time_twonn(self, n, dim):
        sf.dimension.twonn(self.X)

    def time_mle_k20(self, n, dim):
        sf.dimension.mle(self.X, k=20)

    def time_tile(self, n, dim):
        sf.dimension.tile(self.X, seed=0, n_draws=4, n_boot=200)

    def time_numpy_gram_floor(self, n, dim):
        X = self.X
        if n <= 20_000:
            X @ X.T
        else:
            for i in range(0, n, 4096):
                X[i : i + 4096] @ X.T

    def peakmem_knn_k20(self, n, dim):
        sf.dimension.knn(self.X, 20)

    def peakmem_twonn(self, n, dim):
        sf.dimension.twonn(self.X)

    def peakmem_mle_k20(self, n, dim):
        sf.dimension.mle(self.X, k=20)


class SkdimReference:
    """scikit-dimension on the same data, n = 1e4 only."""

    params = ([10_000], DIMS)
    param_names = ["n", "dim"]
    timeout = 900
    number = 1
    repeat = 1
    warmup_time = 0

    def setup(self, n, dim):
        if skdim is None:
            raise NotImplementedError("scikit-dimension is not installed")
        self.X = _data(n, dim)

    def time_skdim_twonn(self, n, dim):
        skdim.id.TwoNN().fit(self.X)

    def time_skdim_mle_k20(self, n, dim):
        skdim.id.MLE().fit(self.X, n_neighbors=20)

    def peakmem_skdim_twonn(self, n, dim):
        skdim.id.TwoNN().fit(self.X)


LOW_DIMS = [3, 8]


class LowDimension(_OneRun):
    """Low ambient dimension: the k-d tree and brute force, and the estimators (auto)."""

    params = (NS, LOW_DIMS)

    def time_knn_k20_kdtree(self, n, dim):
        sf.dimension.knn(self.X, 20, algorithm="kdtree")

    def time_knn_k20_brute(self, n, dim):
        sf.dimension.knn(self.X, 20, algorithm="brute")

    def time_twonn(self, n, dim):
        sf.dimension.twonn(self.X)

    def time_mle_k20(self, n, dim):
        sf.dimension.mle(self.X, k=20)

    def peakmem_knn_k20_kdtree(self, n, dim):
        sf.dimension.knn(self.X, 20, algorithm="kdtree")


class SkdimLowDimension(SkdimReference):
    """scikit-dimension at low ambient dimension, n = 1e4 only."""

    params = ([10_000], LOW_DIMS)
