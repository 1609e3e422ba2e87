"""Laws written with the formula language's functions (sin, logistic, softplus, pow, ...): fits
recover known parameters, agree with scipy's least_squares at the optimum, and misuse of a
function name is a clear error."""

from __future__ import annotations

import numpy as np
import pytest
import scalingfit as sf
from scipy.optimize import least_squares


def _logistic(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # no overflow warning for large |z|


def _scipy_fit(model, x, y, x0):
    """The L2 optimum of sum (model(x, theta) - y)^2 by scipy, tightly converged."""
    r = least_squares(lambda th: model(x, *th) - y, np.asarray(x0, float), method="lm", xtol=1e-15, ftol=1e-15, gtol=1e-15, max_nfev=20000)
    assert r.success, r.message
    return r.x


def _agree(fit, names, ref, rtol=1e-6):
    got = np.array([fit.params[n] for n in names])
    np.testing.assert_allclose(got, ref, rtol=rtol, atol=1e-9 * np.abs(ref).max())


SIGMOID = "lo + (hi - lo) * logistic(k * (log10(C) - c0))"


def _sigmoid_model(C, lo, hi, k, c0):
    return lo + (hi - lo) * _logistic(k * (np.log10(C) - c0))


def test_sigmoidal_accuracy_vs_log_compute():
    rng = np.random.default_rng(20240611)
    C = np.logspace(17, 23, 60)
    truth = dict(lo=0.25, hi=0.85, k=1.7, c0=20.3)
    y = _sigmoid_model(C, **truth) + rng.normal(0, 0.005, C.size)
    starts = dict(lo=0.2, hi=0.9, k=1.0, c0=20.0)
    fit = sf.fit(SIGMOID, {"C": C}, y, loss="l2", target="linear", starts=starts)
    assert fit.converged, fit.message
    assert fit.param_names == ["lo", "hi", "k", "c0"]
    for n, v in truth.items():
        assert abs(fit.params[n] - v) < 4 * fit.stderr[n] + 1e-12, (n, fit.params[n], v, fit.stderr[n])
    assert fit.stderr["c0"] < 0.05 and fit.stderr["lo"] < 0.01
    ref = _scipy_fit(_sigmoid_model, C, y, list(starts.values()))
    _agree(fit, fit.param_names, ref)
    # `sigmoid` is the same function; automatic starts (no starts given) find the same optimum,
    # up to the law's mirror symmetry (lo <-> hi, k -> -k), which a bound on k removes
    auto = sf.fit(SIGMOID.replace("logistic", "sigmoid"), {"C": C}, y, loss="l2", target="linear")
    assert auto.objective == pytest.approx(fit.objective, rel=1e-9)
    mirror = np.array([auto.params[n] for n in ("hi", "lo")] + [-auto.params["k"], auto.params["c0"]])
    assert np.allclose(auto.x, ref, rtol=1e-6) or np.allclose(mirror, ref, rtol=1e-6), (auto.x, ref)
    bounded = sf.fit(SIGMOID.replace("logistic", "sigmoid"), {"C": C}, y, loss="l2", target="linear", bounds={"k": (0, None)})
    _agree(bounded, fit.param_names, ref)
    # the model is evaluated as numpy evaluates it (to rounding)
    np.testing.assert_allclose(fit.predict(C=C), _sigmoid_model(C, *fit.x), rtol=1e-12)


DAMPED = "E + A * exp(-x / tau) * sin(w * x + phi)"


def _damped_model(x, E, A, tau, w, phi):
    return E + A * np.exp(-x / tau) * np.sin(w * x + phi)


def test_damped_sinusoid():
    rng = np.random.default_rng(7)
    x = np.linspace(0.0, 10.0, 150)
    truth = dict(E=0.5, A=2.0, tau=3.0, w=2.2, phi=0.4)
    y = _damped_model(x, **truth) + rng.normal(0, 0.02, x.size)
    starts = dict(E=0.0, A=1.5, tau=2.0, w=2.0, phi=0.0)
    fit = sf.fit(DAMPED, {"x": x}, y, loss="l2", target="linear", starts=starts)
    assert fit.converged, fit.message
    assert fit.param_names == ["E", "A", "tau", "w", "phi"]
    for n, v in truth.items():
        assert abs(fit.params[n] - v) < 4 * fit.stderr[n], (n, fit.params[n], v, fit.stderr[n])
    ref = _scipy_fit(_damped_model, x, y, list(starts.values()))
    _agree(fit, fit.param_names, ref)
    # cos(u - pi/2) is sin(u): the same law, the same optimum
    cos = sf.fit(DAMPED.replace("sin(w * x + phi)", "cos(w * x + phi - 1.5707963267948966)"), {"x": x}, y, loss="l2", target="linear", starts=starts)
    _agree(cos, fit.param_names, ref, rtol=1e-8)


def test_softplus_tanh_abs_and_pow_laws():
    rng = np.random.default_rng(11)
    x = np.linspace(-4.0, 4.0, 90)
    # a smooth ramp (softplus), a saturating term (tanh) and a V (abs) with an offset
    form = "a + b * softplus(s * (x - x0)) + c * tanh(x / 2) + d * abs(x - 1)"

    def model(x, a, b, s, x0, c, d):
        z = s * (x - x0)
        return a + b * (np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))) + c * np.tanh(x / 2) + d * np.abs(x - 1)

    truth = [0.3, 1.2, 2.5, 0.5, -0.7, 0.4]
    y = model(x, *truth) + rng.normal(0, 0.01, x.size)
    start = [0.0, 1.0, 1.5, 0.0, 0.0, 0.0]
    fit = sf.fit(form, {"x": x}, y, loss="l2", target="linear", starts=dict(zip(["a", "b", "s", "x0", "c", "d"], start)))
    assert fit.converged, fit.message
    np.testing.assert_allclose(fit.x, truth, atol=0.1)
    _agree(fit, fit.param_names, _scipy_fit(model, x, y, start))
    # pow(a, b) is a ^ b: identical fits
    xp = np.logspace(0, 4, 40)
    yp = 1.5 + 30.0 * xp**-0.4 * (1 + rng.normal(0, 0.01, xp.size))
    f1 = sf.fit("E + A * pow(x, -alpha)", {"x": xp}, yp, loss="l2")
    f2 = sf.fit("E + A * x^-alpha", {"x": xp}, yp, loss="l2")
    assert f1.converged and f2.converged
    np.testing.assert_allclose(f1.x, f2.x, rtol=1e-12)
    np.testing.assert_allclose(f1.x, [1.5, 30.0, 0.4], rtol=0.05)


def test_smoothmin_broken_power_law():
    # log L = smoothmin(a1 - b1 ln x, a2 - b2 ln x, k): two power-law regimes with a smooth break
    rng = np.random.default_rng(3)
    x = np.logspace(0, 6, 80)
    lx = np.log(x)
    truth = dict(a1=1.0, b1=0.05, a2=3.0, b2=0.35, k=4.0)

    def model(x, a1, b1, a2, b2, k):
        u, v = a1 - b1 * np.log(x), a2 - b2 * np.log(x)
        return np.minimum(u, v) - np.log1p(np.exp(-k * np.abs(u - v))) / k

    y = model(x, **truth) + rng.normal(0, 0.003, x.size)
    # lx as a data column keeps the law linear in it
    form = "smoothmin(a1 - b1 * lx, a2 - b2 * lx, k)"
    start = dict(a1=0.8, b1=0.1, a2=2.5, b2=0.3, k=2.0)
    fit = sf.fit(form, {"lx": lx}, y, loss="l2", target="linear", starts=start)
    assert fit.converged, fit.message
    for n, v in truth.items():
        assert abs(fit.params[n] - v) < 4 * fit.stderr[n], (n, fit.params[n], v, fit.stderr[n])
    _agree(fit, fit.param_names, _scipy_fit(model, x, y, list(start.values())))


def test_non_finite_trial_steps_are_rejected():
    # log1p(w x) is NaN for w x < -1 and tan(w x) crosses a pole for w x > pi/2: LM steps that
    # leave the domain are rejected (the objective is +inf there), never a crash
    x = np.linspace(0.05, 1.0, 30)
    y = 2.0 * np.log1p(-0.9 * x)
    fit = sf.fit("A * log1p(w * x)", {"x": x}, y, loss="l2", target="linear", starts={"A": 1.0, "w": -0.5})
    assert fit.converged, fit.message
    np.testing.assert_allclose([fit.params["A"], fit.params["w"]], [2.0, -0.9], rtol=1e-6)
    # a start outside the domain fails alone; the other start gives the answer
    two = sf.fit("A * log1p(w * x)", {"x": x}, y, loss="l2", target="linear", starts=[{"A": 1.0, "w": -3.0}, {"A": 1.0, "w": -0.5}])
    assert two.converged and two.best_start == 1
    assert not np.isfinite(two.start_objectives[0])
    np.testing.assert_allclose(two.x, fit.x, rtol=1e-9)
    yt = 0.5 * np.tan(1.4 * x)
    tan = sf.fit("A * tan(w * x)", {"x": x}, yt, loss="l2", target="linear", starts={"A": 1.0, "w": 1.0})
    assert tan.converged, tan.message
    np.testing.assert_allclose([tan.params["A"], tan.params["w"]], [0.5, 1.4], rtol=1e-6)


@pytest.mark.parametrize(
    "form, match",
    [
        ("E + A * sin * x", r"'sin' is a function: write sin\(\.\.\.\)"),
        ("E + logistic + A*x", r"'logistic' is a function: write logistic\(\.\.\.\)"),
        ("E + A * pow(x)", r"'pow' takes 2 arguments: pow\(base, exponent\) \(got 1\)"),
        ("E + A * sin(x, w)", r"'sin' takes 1 argument: sin\(x\) \(got 2\)"),
        ("smoothmax(A*x, E)", r"'smoothmax' takes 3 arguments"),
        ("E + A * pow(x, w", r"expected '\)' or ','"),
        ("E + A * sinh(x)", r"unknown function 'sinh' \(known: .*sin, cos, tan, atan, tanh"),
        ("E, A * x", r"unexpected ','"),
    ],
)
def test_misused_functions_are_clear_errors(form, match):
    x = np.linspace(1.0, 2.0, 10)
    with pytest.raises(ValueError, match=match):
        sf.fit(form, {"x": x}, x, loss="l2", target="linear")


def test_function_names_are_never_parameters_or_variables():
    x = np.linspace(0.1, 3.0, 25)
    y = 1.0 + 0.5 * np.sin(2.0 * x) + 0.2 * np.abs(x - 1.0)
    fit = sf.fit("c + a * sin(w * x) + b * abs(x - 1)", {"x": x}, y, loss="l2", target="linear", starts={"c": 0.5, "a": 1.0, "w": 1.8, "b": 0.0})
    assert fit.param_names == ["c", "a", "w", "b"] and fit.variables == ["x"]
    np.testing.assert_allclose(fit.x, [1.0, 0.5, 2.0, 0.2], rtol=1e-8)
    # a data column may not be called like a function: the name is the function
    with pytest.raises(ValueError, match="'abs' is a function"):
        sf.fit("a * abs + x", {"x": x, "abs": x}, y, loss="l2", target="linear")
