"""Runtime CPU dispatch: every instruction-set level this CPU can run gives the documented
results. Each level runs in a subprocess with ``SCALINGFIT_SIMD`` set (the level is fixed once
per process). AVX2 and AVX-512 must agree bit for bit (bootstrap samples for a seed, fitted
parameters, kNN); the portable level (CPUs without AVX2+FMA) may differ in the last bits only."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from scalingfit import _core

LEVELS = ["portable", "avx2", "avx512"]

SCRIPT = r"""
import json, sys
import numpy as np
import scalingfit as sf
from scalingfit.datasets import hoffmann_example

d = hoffmann_example(seed=3)
fit = sf.fit("chinchilla", {"N": d["N"], "D": d["D"]}, y=d["loss"])
bs = sf.bootstrap(fit, n_resamples=200, seed=11)
rng = np.random.default_rng(0)
X = rng.standard_normal((3000, 20))
Y = rng.standard_normal((2500, 8)) @ rng.standard_normal((8, 128))  # the projected path
out = {
    "level": sf._core.simd_level(),
    "params": [fit.params[k].hex() for k in fit.param_names],
    "samples": [v.hex() for v in bs.samples.ravel()],
    "knn": [v.hex() for v in sf.dimension.knn(X, 5)[0].ravel()[:2000]],
    "knn_idx": sf.dimension.knn(X, 5)[1].ravel().tolist(),
    "proj": [v.hex() for v in sf.dimension.knn(Y, 5, algorithm="projected")[0].ravel()[:2000]],
    "proj_idx": sf.dimension.knn(Y, 5, algorithm="projected")[1].ravel().tolist(),
}
json.dump(out, sys.stdout)
"""


def _cpu_levels() -> list[str]:
    """The levels this CPU supports (the uncapped level and everything below it)."""
    env = {k: v for k, v in os.environ.items() if k not in ("SCALINGFIT_SIMD", "SCALINGFIT_NO_AVX512")}
    top = subprocess.run(
        [sys.executable, "-c", "from scalingfit import _core; print(_core.simd_level())"],
        env=env, capture_output=True, text=True, check=True,
    ).stdout.strip()
    return LEVELS[: LEVELS.index(top) + 1]


@pytest.fixture(scope="module")
def runs() -> dict[str, dict]:
    out = {}
    for level in _cpu_levels():
        env = dict(os.environ, SCALINGFIT_SIMD=level)
        env.pop("SCALINGFIT_NO_AVX512", None)
        r = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr
        out[level] = json.loads(r.stdout)
    return out


def test_simd_level_is_reported_and_capped(runs):
    assert _core.simd_level() in LEVELS
    for level, res in runs.items():
        assert res["level"] == level


def test_avx2_and_avx512_agree_bit_for_bit(runs):
    if "avx512" not in runs:
        pytest.skip("this CPU has no AVX-512F")
    a, b = runs["avx2"], runs["avx512"]
    for key in ("params", "samples", "knn", "knn_idx", "proj", "proj_idx"):
        assert a[key] == b[key], key


def test_portable_level_differs_in_the_last_bits_only(runs):
    if "avx2" not in runs:
        pytest.skip("this CPU has no AVX2+FMA")
    p, v = runs["portable"], runs["avx2"]
    as_float = lambda xs: np.array([float.fromhex(x) for x in xs])  # noqa: E731
    np.testing.assert_allclose(as_float(p["params"]), as_float(v["params"]), rtol=1e-6)
    # resamples converge to the same optimum up to the solver's tolerance
    ps, vs = as_float(p["samples"]), as_float(v["samples"])
    assert np.median(np.abs(ps - vs) / np.abs(vs)) < 1e-6
    # kNN: exact distances (same fixed summation order at every level) and the same neighbours
    assert p["knn_idx"] == v["knn_idx"] and p["proj_idx"] == v["proj_idx"]
    np.testing.assert_array_equal(as_float(p["knn"]), as_float(v["knn"]))
    np.testing.assert_array_equal(as_float(p["proj"]), as_float(v["proj"]))


def test_unknown_level_names_are_ignored():
    env = dict(os.environ, SCALINGFIT_SIMD="nonsense")
    env.pop("SCALINGFIT_NO_AVX512", None)
    r = subprocess.run(
        [sys.executable, "-c", "from scalingfit import _core; print(_core.simd_level())"],
        env=env, capture_output=True, text=True, check=True,
    )
    assert r.stdout.strip() == _cpu_levels()[-1]
