"""The typed Rust/Python boundary: a Problem built once with keyword-only options, typed
results, and the termination codes exported from Rust (never re-hardcoded in Python)."""

from __future__ import annotations

import numpy as np
import pytest
import scalingfit as sf
from scalingfit import _core
from scalingfit._bootstrap import _FAILED, _MAXITER
from scalingfit._fit import _CONVERGED, TERMINATIONS

OPTS = dict(loss="huber", delta=1e-3, target="log", positive=[True, True, False], lower=[-np.inf] * 3,
            upper=[np.inf] * 3, max_iter=200, ftol=1e-14, xtol=1e-12, gtol=1e-12)


def _data():
    x = np.geomspace(1e3, 1e6, 30)
    return x[None, :].copy(), 1.5 + 40 * x**-0.3


def test_problem_options_are_keyword_only_and_checked():
    f = _core.Formula("E + A * x^-alpha", ["x"])
    p = _core.Problem(f, **OPTS)
    assert p.n_params == 3 and p.param_names == ["E", "A", "alpha"]
    with pytest.raises(TypeError):
        _core.Problem(f, "huber", 1e-3, "log", [True, True, False], [-np.inf] * 3, [np.inf] * 3, 200, 1e-14, 1e-12, 1e-12)
    with pytest.raises(ValueError, match="max_iter"):
        _core.Problem(f, **{**OPTS, "max_iter": 0})
    with pytest.raises(ValueError, match="loss"):
        _core.Problem(f, **{**OPTS, "loss": "cauchy"})


def test_fit_output_is_typed():
    f = _core.Formula("E + A * x^-alpha", ["x"])
    cols, y = _data()
    out = _core.fit(_core.Problem(f, **OPTS), cols, y, starts=np.array([[1.0, 30.0, 0.2]]))
    assert isinstance(out, _core.FitOutput)
    assert out.params.shape == (3,) and out.cov.shape == (3, 3) and out.starts.shape == (1, 3)
    np.testing.assert_allclose(out.params, [1.5, 40, 0.3], rtol=1e-6)
    assert out.termination.converged and int(out.termination) in (0, 1, 2, 3)
    assert out.residuals.shape == (30,) and out.objectives.shape == (1,) and out.n_converged == 1
    with pytest.raises(TypeError):  # weights are keyword-only: no positional slot to misfill
        _core.fit(_core.Problem(f, **OPTS), cols, y, None)
    with pytest.raises(AttributeError):
        out.parmas  # noqa: B018 (a typo is an error, not a silent None)


def test_termination_codes_come_from_rust():
    assert [int(t) for t in TERMINATIONS] == list(range(7))
    assert _MAXITER == int(_core.Termination.MaxIter) and _FAILED == int(_core.Termination.Failed)
    assert [bool(_CONVERGED[int(t)]) for t in TERMINATIONS] == [True, True, True, True, False, False, False]
    assert "max_iter" in _core.Termination.MaxIter.message
    assert "not identified" in _core.Termination.Diverged.message


def test_problem_is_immutable_and_its_core_shared():
    import dataclasses

    x = np.geomspace(1e3, 1e6, 30)
    fit = sf.fit("E + A * x^-alpha", {"x": x}, y=1.5 + 40 * x**-0.3)
    prob = fit.problem
    assert prob.core is prob.core
    with pytest.raises(dataclasses.FrozenInstanceError):
        prob.max_iter = 1  # type: ignore[misc]
    other = dataclasses.replace(prob, max_iter=1)
    assert other.core is not prob.core
    # the core problem depends on the formula and settings only: shared, not rebuilt per fit
    assert dataclasses.replace(prob, y=prob.y * 2).core is prob.core
