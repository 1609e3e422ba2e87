"""Smoke test of an installed scalingfit: fit, bootstrap and kNN, small enough for emulation.

tests/test_wheel.py runs it in fresh virtual environments with the built wheel installed (one
per Python version) and under ``qemu-x86_64 -cpu Westmere`` / ``-cpu Haswell``. Run it by hand
with any interpreter that has scalingfit installed (not from the repository root, where the
source tree would shadow the installed package)::

    python tests/wheel_smoke.py

It prints ``key=value`` lines (versions, the CPU features numpy detected, the SIMD level the
extension chose if it reports one) and ``OK`` last; any failure exits non-zero. The file name
does not match pytest's ``test_*.py``, so pytest does not collect it.
"""

from __future__ import annotations

import platform
import sys

import numpy as np
import scalingfit as sf
from scalingfit import _core
from scalingfit.datasets import HOFFMANN, hoffmann_example


def cpu_features() -> dict:
    """The x86 features numpy's run-time dispatch detected (from CPUID, so emulated under qemu)."""
    try:
        from numpy._core._multiarray_umath import __cpu_features__  # numpy >= 2
    except ImportError:
        from numpy.core._multiarray_umath import __cpu_features__  # numpy 1.x
    return __cpu_features__


def check(cond: bool, what: str) -> None:
    if not cond:
        raise AssertionError(what)


def smoke_fit() -> None:
    # 96 synthetic IsoFLOP runs from Hoffmann et al.'s law with 0.5% noise, and four starts
    # (the default 4500-start grid would take minutes under emulation).
    runs = hoffmann_example(seed=0, noise=0.005, n_budgets=8, n_per_budget=12)
    starts = [
        {"E": e, "A": a, "alpha": al, "B": b, "beta": be}
        for e, a, al, b, be in [(1.5, 300.0, 0.3, 300.0, 0.3), (1.0, 1000.0, 0.4, 1000.0, 0.4),
                                (2.0, 100.0, 0.25, 2000.0, 0.35), (1.8, 2000.0, 0.35, 100.0, 0.25)]
    ]
    fit = sf.fit("chinchilla", {"N": runs["N"], "D": runs["D"]}, y=runs["loss"], starts=starts)
    p = fit.params
    print("fit=" + ", ".join(f"{k}:{v:.4g}" for k, v in p.items()) + f" (converged={fit.converged}, n_iter={fit.n_iter})")
    check(fit.converged, f"fit did not converge: {fit.message}")
    check(abs(p["E"] - HOFFMANN["E"]) < 0.1, f"E = {p['E']} far from {HOFFMANN['E']}")
    check(abs(p["alpha"] - HOFFMANN["alpha"]) < 0.06, f"alpha = {p['alpha']} far from {HOFFMANN['alpha']}")
    check(abs(p["beta"] - HOFFMANN["beta"]) < 0.06, f"beta = {p['beta']} far from {HOFFMANN['beta']}")
    pred = fit.predict({"N": runs["N"], "D": runs["D"]})
    rel = np.abs(pred / runs["loss"] - 1)
    check(float(rel.max()) < 0.03, f"predictions off by up to {rel.max():.3%}")

    bs = sf.bootstrap(fit, n_resamples=50, seed=0)
    again = sf.bootstrap(fit, n_resamples=50, seed=0)
    print(f"bootstrap=50 resamples, {bs.n_converged} converged")
    check(bs.samples.shape == (50, len(fit.param_names)), f"samples shape {bs.samples.shape}")
    check(bs.n_converged >= 45, f"only {bs.n_converged} of 50 resamples converged")
    check(np.array_equal(bs.samples, again.samples, equal_nan=True), "the same seed gave different samples")
    lo, hi = bs.ci(0.95)["alpha"]
    check(np.isfinite(lo) and np.isfinite(hi) and lo < hi and abs(0.5 * (lo + hi) - p["alpha"]) < 0.05,
          f"alpha interval [{lo}, {hi}] around {p['alpha']}")


def brute_knn(X: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    d2 = ((X[:, None, :] - X[None, :, :]) ** 2).sum(axis=-1)
    np.fill_diagonal(d2, np.inf)
    idx = np.argsort(d2, axis=1, kind="stable")[:, :k]
    return np.sqrt(np.take_along_axis(d2, idx, axis=1)), idx


def smoke_knn() -> None:
    rng = np.random.default_rng(0)
    cases = {
        # full-dimensional points: brute force (blocked GEMM) and the k-d tree
        "brute": rng.standard_normal((200, 6)),
        "kdtree": rng.standard_normal((200, 3)),
        # 300 points near a 4-dimensional subspace of dimension 100: the projected search
        "projected": rng.standard_normal((300, 4)) @ rng.standard_normal((4, 100)) + 1e-3 * rng.standard_normal((300, 100)),
    }
    for algorithm, X in cases.items():
        want_d, want_i = brute_knn(X, 5)
        for alg in ("auto", algorithm):
            dist, idx = sf.dimension.knn(X, 5, algorithm=alg)
            check(dist.shape == (len(X), 5) and idx.shape == (len(X), 5), f"knn {alg}: shapes {dist.shape}, {idx.shape}")
            check(np.array_equal(idx, want_i), f"knn {alg} on {X.shape}: indices differ from brute force in numpy")
            check(np.allclose(dist, want_d, rtol=1e-12, atol=1e-12), f"knn {alg} on {X.shape}: distances differ")
    print("knn=brute, kdtree, projected agree with numpy")


def main() -> int:
    feats = cpu_features()
    print(f"python={platform.python_version()}")
    print(f"numpy={np.__version__}")
    print(f"scalingfit={sf.__version__} ({_core.__file__})")
    print("cpu=" + ",".join(f for f in ("SSE42", "POPCNT", "AVX", "FMA3", "AVX2", "AVX512F") if feats.get(f)))
    print("simd_level=" + (str(_core.simd_level()) if hasattr(_core, "simd_level") else "unavailable"))
    smoke_fit()
    smoke_knn()
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
