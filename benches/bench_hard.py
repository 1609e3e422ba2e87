"""asv benchmarks on hard nonlinear least-squares problems with certified optima
(tests/hard_problems.py: NIST StRD datasets and seeded synthetic families).

Timing: scalingfit from NIST start 1 (or a synthetic problem's start 1), one thread, beside scipy
``least_squares(method='lm')`` (MINPACK lmdif, finite-difference Jacobian as a user would call
it) from the same start on the same problem in the same run. Ratio = scipy time / scalingfit time.
Both are L2 fits on a linear target with scalingfit's default tolerances (ftol 1e-14, xtol 1e-12,
gtol 1e-12).

Tracking: how many problems of the suite automatic starts (sf.fit without starts=) and start 1
solve, i.e. reach the certified RSS to 1e-6 relative (``Problem.solved``).
"""

import os
import sys
import warnings
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import hard_problems as hp  # noqa: E402
import numpy as np  # noqa: E402
import scalingfit as sf  # noqa: E402
from scipy.optimize import least_squares  # noqa: E402

# an easy exponential, a 3-exponential sum, Gaussian peaks, rationals, a steep sigmoid, a power law and a
# Hoffmann law: problems on which both scalingfit and MINPACK (lmdif) reach the optimum from start 1
REPRESENTATIVE = ["Misra1a", "Lanczos2", "Gauss3", "Thurber", "MGH09", "Rat43", "Bennett5", "powerlaw-02", "hoffmann-06"]
_TOL = {"ftol": 1e-14, "xtol": 1e-12, "gtol": 1e-12}


def _get(name):
    if name in hp.NIST:
        return hp.load_nist(name)
    family, index = name.rsplit("-", 1)
    return hp.generate(family, int(index) - 1)


class HardStart1:
    """One start (start 1), scalingfit beside MINPACK."""

    params = (REPRESENTATIVE,)
    param_names = ["problem"]
    timeout = 300

    def setup(self, name):
        self.p = _get(name)
        self.start = self.p.starts[0]
        self.x0 = np.array([self.start[k] for k in self.p.names])
        warnings.simplefilter("ignore")
        self.time_scalingfit(name)  # fills sf.fit's formula cache, as a user's repeated fits would

    def time_scalingfit(self, name):
        p = self.p
        sf.fit(p.formula, p.data, p.y, loss="l2", target="linear", starts=self.start, n_threads=1)

    def time_scipy_lm(self, name):
        least_squares(self.p.residual, self.x0, method="lm", max_nfev=5000, **_TOL)


class HardSuite:
    """Successes (certified RSS reached) over the whole suite, by source."""

    params = (["nist", "synthetic"],)
    param_names = ["source"]
    timeout = 900
    number = 1
    repeat = 1
    warmup_time = 0

    def setup(self, source):
        self.problems = [p for p in hp.all_problems() if p.source == source and (not p.needs_functions or hp.formula_supported(p))]

    def track_auto_start_successes(self, source):
        return sum(hp.run_scalingfit(p).solved(p) for p in self.problems)

    track_auto_start_successes.unit = "problems solved"

    def track_start1_successes(self, source):
        return sum(hp.run_scalingfit(p, starts=p.starts[0]).solved(p) for p in self.problems)

    track_start1_successes.unit = "problems solved"
