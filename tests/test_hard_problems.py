"""Hard nonlinear least-squares problems with certified optima (tests/hard_problems.py): the 27
NIST StRD nonlinear regression datasets and seeded synthetic families (exponential sums, Gaussian
peaks, rationals, steep saturating curves, saturating power laws, Hoffmann laws).

(i) From the published starts 1 and 2, scalingfit reaches the certified RSS wherever MINPACK
    (scipy least_squares method='lm', exact Jacobian, run here) does.
(ii) Automatic starts reach the certified optimum on every problem in EXPECTED_AUTO (the others
    run as non-strict xfails: an XPASS says a name can join the set).
(iii) Whenever a scalingfit fit reaches the certified RSS, the certified parameters are recovered
    to at least 6 significant digits.
Success is the RSS within 1e-6 relative of the certified RSS (Problem.solved). All fits are
deterministic (seeded data, fixed starts); nothing is timed.
"""

from __future__ import annotations

import functools
import math

import hard_problems as hp
import numpy as np
import pytest

PROBLEMS = {p.name: p for p in hp.all_problems()}

# Problems on which automatic starts (sf.fit without starts=) reach the certified optimum with the
# build of main's HEAD at the time of writing (63 of 81 runnable); extend it as the solver improves.
# Not in it today: Lanczos1-3, Gauss1-3, Eckerle4, gauss-01..08, powerlaw-01, -12, -16.
EXPECTED_AUTO: set[str] = {
    "Misra1a", "Chwirut2", "Chwirut1", "DanWood", "Misra1b", "Kirby2", "Hahn1", "Nelson", "MGH17", "Misra1c", "Misra1d", "MGH09", "Thurber",
    "BoxBOD", "Rat42", "MGH10", "Rat43", "Bennett5", "expsum-01", "expsum-02", "expsum-03", "expsum-04", "expsum-05", "expsum-06", "expsum-07",
    "expsum-08", "rational-01", "rational-02", "rational-03", "rational-04", "rational-05", "rational-06", "saturating-01", "saturating-02",
    "saturating-03", "saturating-04", "saturating-05", "saturating-06", "saturating-07", "saturating-08", "powerlaw-02", "powerlaw-03",
    "powerlaw-04", "powerlaw-05", "powerlaw-06", "powerlaw-07", "powerlaw-08", "powerlaw-09", "powerlaw-10", "powerlaw-11", "powerlaw-13",
    "powerlaw-14", "powerlaw-15", "powerlaw-17", "powerlaw-18", "powerlaw-19", "powerlaw-20", "hoffmann-01", "hoffmann-02", "hoffmann-03",
    "hoffmann-04", "hoffmann-05", "hoffmann-06",
    # since the automatic starts use the data (rates, locations and widths from the columns)
    "Lanczos3", "Gauss1", "Gauss2", "Lanczos1", "Lanczos2", "Gauss3", "Roszman1", "Eckerle4", "gauss-01", "gauss-03", "gauss-05", "gauss-07", "gauss-08",
    # since a parameter's damping is relative to its own curvature (A ~ 1e12 beside alpha ~ 2)
    "gauss-02", "powerlaw-01",
    # since locations start at the data's peaks and periods on a grid of half cycles
    "gauss-04", "gauss-06", "ENSO",
    # since a run at the iteration limit is continued by variable projection (optima at A ~ 1e33, 1e19)
    "powerlaw-12", "powerlaw-16",
}

# Known failures of (i) and (iii) with that build, run as non-strict xfails (an XPASS means the
# entry can go; delete an entry to make it a hard requirement). (problem, start index 0/1).
KNOWN_START_FAILURES: dict[tuple[str, int], str] = {
    # none since an LM run that reaches max_iter is continued by variable projection (MGH10
    # from start 1; powerlaw-12 and -16 from start 2, whose optima lie at A ~ 1e33 and 1e19)
}
KNOWN_DIGIT_FAILURES: dict[str, str] = {
    "powerlaw-10": "start 2: 5.3 correct digits (ftol stop on an ill-conditioned valley)",
}

MIN_DIGITS = 6.0


@functools.lru_cache(maxsize=None)
def _supported(name: str) -> bool:
    p = PROBLEMS[name]
    return not p.needs_functions or hp.formula_supported(p)


def _problem(name: str) -> hp.Problem:
    if not _supported(name):
        pytest.skip(f"the installed scalingfit rejects {PROBLEMS[name].formula!r}")
    return PROBLEMS[name]


@functools.lru_cache(maxsize=None)
def _sf(name: str, start: int | None) -> hp.Run:
    """scalingfit from start 1 or 2 (start = 0 or 1), or with automatic starts (None); cached
    because tests (i)-(iii) look at the same fits."""
    p = PROBLEMS[name]
    if start is None:
        return hp.run_scalingfit(p)
    return hp.run_scalingfit(p, starts=p.starts[start], max_iter=hp.BUDGET)


def _describe(p: hp.Problem, r: hp.Run) -> str:
    return f"{p.name}: {r.method} RSS {r.rss:.10g} vs certified {p.rss:.10g} (ratio {p.rss_ratio(r.rss):.6g}); converged={r.converged}: {r.message}"


# ---------------------------------------------------------------------------------------------
# the measuring stick itself


def test_suite_is_complete_and_certificates_hold():
    nist = [p for p in PROBLEMS.values() if p.source == "nist"]
    synth = [p for p in PROBLEMS.values() if p.source == "synthetic"]
    assert len(nist) == 27 and 40 <= len(synth) <= 60
    assert not EXPECTED_AUTO - set(PROBLEMS), "EXPECTED_AUTO names a problem that does not exist"
    assert not {n for n, _ in KNOWN_START_FAILURES} - set(PROBLEMS) and not set(KNOWN_DIGIT_FAILURES) - set(PROBLEMS)
    for p in PROBLEMS.values():
        assert len(p.starts) == 2 and all(set(s) == set(p.names) for s in p.starts), p.name
        assert math.isfinite(p.rss) and p.rss > 0, f"{p.name}: no certified RSS (run python tests/hard_problems.py --certify)"
        # the certified parameters give the certified RSS (Lanczos1: within its double-precision floor)
        at = p.rss_at(p.certified)
        assert abs(at - p.rss) <= 1e-9 * p.rss + 100 * p.floor(), (p.name, at, p.rss)
        if p.source == "synthetic":
            # first-order optimality (each Jacobian column orthogonal to the residual to 1e-10; the
            # stored optima are polished to ~1e-13), and no worse than the generating truth
            x = np.array([p.certified[k] for k in p.names])
            J, r = p.jac(x), p.residual(x)
            cos = np.abs(J.T @ r) / (np.linalg.norm(J, axis=0) * np.linalg.norm(r))
            assert np.max(cos) < 1e-10, (p.name, cos)
            assert p.truth is not None and p.rss_at(p.truth) >= p.rss * (1 - 1e-12), p.name


def test_success_and_digits_are_judged_correctly():
    p = PROBLEMS["Lanczos2"]
    assert p.solved(p.rss) and p.solved(p.rss * (1 + 0.5e-6)) and not p.solved(p.rss * (1 + 2e-6))
    assert p.lre(p.certified) == hp.LRE_CAP
    # interchangeable terms: swapping (b1, b2) with (b5, b6) changes nothing
    swapped = {**p.certified, "b1": p.certified["b5"], "b2": p.certified["b6"], "b5": p.certified["b1"], "b6": p.certified["b2"]}
    assert p.lre(swapped) == hp.LRE_CAP and p.rss_at(swapped) == pytest.approx(p.rss, rel=1e-9)
    off = {**p.certified, "b4": p.certified["b4"] * (1 + 3e-5)}
    assert 4.4 < p.lre(off) < 4.6
    g = PROBLEMS["Gauss1"]
    assert g.lre({**g.certified, "b5": -g.certified["b5"]}) == hp.LRE_CAP


# ---------------------------------------------------------------------------------------------
# (i) published starts: scalingfit converges wherever MINPACK does


def _start_params():
    for name in PROBLEMS:
        for start in (0, 1):
            why = KNOWN_START_FAILURES.get((name, start))
            marks = (pytest.mark.xfail(reason=why, strict=False),) if why else ()
            yield pytest.param(name, start, marks=marks, id=f"{name}-start{start + 1}")


@pytest.mark.parametrize("name,start", list(_start_params()))
def test_start_reaches_optimum_where_minpack_does(name, start):
    p = _problem(name)
    lm = hp.run_scipy(p, p.starts[start], "lm")
    r = _sf(name, start)
    if not lm.solved(p) and not r.solved(p):
        pytest.skip(f"neither MINPACK nor scalingfit reaches the certified RSS from start {start + 1} (MINPACK ratio {p.rss_ratio(lm.rss):.4g})")
    assert r.solved(p), _describe(p, r) + f"; MINPACK from the same start: ratio {p.rss_ratio(lm.rss):.6g}"


# ---------------------------------------------------------------------------------------------
# (ii) automatic starts


def _auto_params():
    for name in PROBLEMS:
        marks = () if name in EXPECTED_AUTO else (pytest.mark.xfail(reason="not in EXPECTED_AUTO", strict=False),)
        yield pytest.param(name, marks=marks, id=name)


@pytest.mark.parametrize("name", list(_auto_params()))
def test_automatic_starts_reach_global_optimum(name):
    p = _problem(name)
    r = _sf(name, None)
    assert r.solved(p), _describe(p, r)


# ---------------------------------------------------------------------------------------------
# (iii) parameters to >= 6 digits whenever the RSS matches


def _digit_params():
    for name in PROBLEMS:
        why = KNOWN_DIGIT_FAILURES.get(name)
        yield pytest.param(name, marks=(pytest.mark.xfail(reason=why, strict=False),) if why else (), id=name)


@pytest.mark.parametrize("name", list(_digit_params()))
def test_certified_parameters_recovered_when_rss_matches(name):
    p = _problem(name)
    matched = [r for r in (_sf(name, 0), _sf(name, 1), _sf(name, None)) if r.solved(p)]
    if not matched:
        pytest.skip("no scalingfit fit reaches the certified RSS")
    for r in matched:
        digits = p.lre(r.params)
        assert digits >= MIN_DIGITS, f"{p.name}: {r.method} {digits:.1f} correct digits; {r.params} vs certified {p.certified}"
