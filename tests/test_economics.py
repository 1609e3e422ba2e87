"""Tests for scalingfit.economics: closed forms of a Chinchilla law with known parameters, the
numerical path against them (a formula string equal to chinchilla but not recognised as it, and
kaplan_nd against its own derivation), homotheticity verdicts, bootstrap intervals that contain
the truth, extrapolation flags and bad input."""

import dataclasses
import json
import math

import numpy as np
import pytest
import scalingfit as sf
from scalingfit.datasets import HOFFMANN, hoffmann_example
from scalingfit.economics import Economics, economics

P = dict(HOFFMANN)  # E 1.69, A 406.4, alpha 0.34, B 410.7, beta 0.28
EQUAL = {"E": 1.8, "A": 400.0, "alpha": 0.3, "B": 300.0, "beta": 0.3}  # alpha == beta: homothetic
K = 6.0
AT = {"N": np.array([1e8, 1e9, 7e9]), "D": np.array([2e9, 2e10, 1.4e11])}  # inside the data


def law(p, N, D):
    return p["E"] + p["A"] * N ** -p["alpha"] + p["B"] * D ** -p["beta"]


def isoflop_data(p, noise=0.0, seed=0, n_budgets=9, n_per=12):
    """IsoFLOP runs of a chinchilla law: 9 budgets 6e18..3e21, N over a factor 8 either side."""
    rng = np.random.default_rng(seed)
    C = np.repeat(np.geomspace(6e18, 3e21, n_budgets), n_per)
    a = p["beta"] / (p["alpha"] + p["beta"])
    G = (p["alpha"] * p["A"] / (p["beta"] * p["B"])) ** (1 / (p["alpha"] + p["beta"]))
    N = G * (C / K) ** a * np.tile(np.geomspace(1 / 8, 8, n_per), n_budgets)
    D = C / (K * N)
    return {"N": N, "D": D, "loss": law(p, N, D) * np.exp(noise * rng.standard_normal(N.size))}


def exact_fit(p, form="chinchilla"):
    """A FitResult carrying exactly the parameters p (fitted on noiseless data of that law)."""
    d = isoflop_data(p)
    f = sf.fit(form, {"N": d["N"], "D": d["D"]}, y=d["loss"])
    return dataclasses.replace(f, params={n: p[n] for n in f.param_names}, x=np.array([p[n] for n in f.param_names]))


@pytest.fixture(scope="module")
def hfit():
    return exact_fit(P)


@pytest.fixture(scope="module")
def hoff_bs():
    d = hoffmann_example(seed=1, noise=0.01)
    f = sf.fit("chinchilla", {"N": d["N"], "D": d["D"]}, y=d["loss"])
    return sf.bootstrap(f, n_resamples=200, seed=0)


def truth(p, N, D, t=2.0):
    """Independent closed forms of every per-point quantity."""
    E, A, al, B, be = p["E"], p["A"], p["alpha"], p["B"], p["beta"]
    a, b = A * N ** -al, B * D ** -be
    R = a + b
    return {
        "loss": E + R, "reducible": R,
        "elasticity_N": -al * a / R, "elasticity_D": -be * b / R,
        "dL_dN": -al * A * N ** (-al - 1), "dL_dD": -be * B * D ** (-be - 1),
        "dL_dlnN": -al * a, "dL_dlnD": -be * b,
        "scale_elasticity": -(al * a + be * b) / R,
        "scale_factor": R / (A * (t * N) ** -al + B * (t * D) ** -be),
        "mrts": (al * A * N ** (-al - 1)) / (be * B * D ** (-be - 1)),
        "sigma": (al * a + be * b) / (al * be * (a + b) + al * a + be * b),
    }


def rel(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b) / np.abs(b)))


# ---------------------------------------------------------------------------------------------
# closed forms


def test_closed_forms_against_independent_formulas(hfit):
    e = economics(hfit, {"N": AT["N"], "D": 2e10})  # broadcast: one D for every N
    assert isinstance(e, Economics) and e.method == "closed form" and e.irreducible == "E"
    assert e.N.shape == e.D.shape == (3,) and np.all(e.D == 2e10)
    tr = truth(P, AT["N"], 2e10)
    for key, v in tr.items():
        assert rel(e.values[key], v) < 1e-12, key
    assert np.all(e.elasticity_N < 0) and np.all(e.elasticity_D < 0)
    assert np.allclose(e.scale_elasticity, e.elasticity_N + e.elasticity_D, rtol=1e-14)
    assert np.allclose(e.dL_dlnN, e.dL_dN * e.N, rtol=1e-14)
    # MRTS: one parameter is worth mrts tokens at equal loss (trading dN parameters for mrts dN
    # tokens either way changes the loss only at second order, which cancels between the two)
    dN = 1e-4 * e.N
    L1, L2 = law(P, e.N + dN, e.D - e.mrts * dN), law(P, e.N - dN, e.D + e.mrts * dN)
    assert np.all(np.abs(L1 - L2) < 1e-6 * np.abs(e.dL_dN * dN))
    assert e.samples is None and e.ci is None


def test_sigma_by_its_definition_along_the_isoquant(hfit):
    """sigma = d ln(D/N) / d ln MRTS between two nearby points of the same isoquant (each MRTS from
    the analytic marginal products), independent of the closed form used by the library."""
    N0, D0 = 1e9, 2e10
    e = economics(hfit, {"N": N0, "D": D0})
    R0 = law(P, N0, D0) - P["E"]

    def on_isoquant(N):
        return (P["B"] / (R0 - P["A"] * N ** -P["alpha"])) ** (1 / P["beta"])

    def mrts(N, D):
        return (P["alpha"] * P["A"] * N ** (-P["alpha"] - 1)) / (P["beta"] * P["B"] * D ** (-P["beta"] - 1))

    h = 1e-4
    N1, N2 = N0 * math.exp(-h), N0 * math.exp(h)
    D1, D2 = on_isoquant(N1), on_isoquant(N2)
    sigma = (math.log(D2 / N2) - math.log(D1 / N1)) / (math.log(mrts(N2, D2)) - math.log(mrts(N1, D1)))
    assert abs(e.sigma[0] - sigma) < 1e-7
    # alpha == beta: a CES law, sigma = 1 / (1 + alpha) everywhere
    eq = economics(exact_fit(EQUAL), AT)
    assert np.allclose(eq.sigma, 1 / (1 + EQUAL["alpha"]), rtol=1e-13)


def test_returns_to_scale_identities(hfit):
    e = economics(hfit, AT, t=3.0)
    lo, hi = sorted((P["alpha"], P["beta"]))
    assert np.all(e.scale_factor > 3.0 ** lo) and np.all(e.scale_factor < 3.0 ** hi)
    # exact: R(x) / R(tx) from the law itself
    R = law(P, e.N, e.D) - P["E"]
    assert rel(e.scale_factor, R / (law(P, 3 * e.N, 3 * e.D) - P["E"])) < 1e-13
    # the local scale elasticity is the limit t -> 1 of -ln(factor) / ln t
    near = economics(hfit, AT, t=1 + 1e-6)
    assert np.allclose(-np.log(near.scale_factor) / math.log1p(1e-6), e.scale_elasticity, rtol=1e-5)
    # a homogeneous law (alpha == beta): R(tx) = t^-alpha R(x) exactly, scale elasticity -alpha
    eq = economics(exact_fit(EQUAL), AT, t=3.0)
    assert np.allclose(eq.scale_factor, 3.0 ** EQUAL["alpha"], rtol=1e-13)
    assert np.allclose(eq.scale_elasticity, -EQUAL["alpha"], rtol=1e-13)


def test_homothetic_exponent_and_expansion_path(hfit):
    """D*/N* = (C/k) / N*^2 with N* ~ C^(beta/(alpha+beta)): d ln(D*/N*)/d ln C = 1 - 2 beta/(alpha+beta)
    = (alpha - beta)/(alpha + beta)."""
    e = economics(hfit, AT)
    x = (P["alpha"] - P["beta"]) / (P["alpha"] + P["beta"])
    assert abs(e.homothetic_exponent - x) < 1e-14
    assert not e.homothetic and e.verdict.startswith(f"not homothetic: D*/N* grows as C^{x:.3g}")
    # default budgets span the data's compute; the path is compute_optimal's
    assert np.isclose(e.budgets[0], 6e18) and np.isclose(e.budgets[-1], 3e21) and len(e.budgets) == 5
    co = sf.compute_optimal(hfit, C=e.budgets)
    assert rel(e.path_tokens_per_param, co.tokens_per_param) < 1e-12 and rel(e.path_N, co.N) < 1e-12
    slope = np.polyfit(np.log(e.budgets), np.log(e.path_tokens_per_param), 1)[0]
    assert abs(slope - x) < 1e-12
    assert not e.budget_extrapolated.any()


def test_dual_of_the_budget_problem(hfit):
    e = economics(hfit, AT)
    # the least compute reaching the point's loss is required()'s answer ...
    req = sf.required(hfit, loss=e.loss)
    assert rel(e.C_min, req.C) < 1e-12 and rel(e.N_min, req.N) < 1e-12
    # ... reaches exactly that loss, costs no more than the point, and the primal matches compute_optimal
    assert rel(law(P, e.N_min, e.D_min), e.loss) < 1e-12
    assert rel(K * e.N_min * e.D_min, e.C_min) < 1e-12
    assert np.all(e.compute_overhead >= 1) and rel(e.compute_overhead, e.C / e.C_min) < 1e-12
    assert rel(e.loss_at_C, sf.compute_optimal(hfit, C=e.C).loss) < 1e-12 and np.all(e.loss_at_C <= e.loss)
    # at a compute-optimal point primal and dual meet: overhead 1, same loss, same allocation
    co = sf.compute_optimal(hfit, C=1e20)
    opt = economics(hfit, {"N": co.N, "D": co.D})
    assert abs(opt.compute_overhead[0] - 1) < 1e-12 and rel(opt.loss_at_C, opt.loss) < 1e-14
    assert rel(opt.N_min, co.N) < 1e-10 and rel(opt.C_min, 1e20) < 1e-10


# ---------------------------------------------------------------------------------------------
# the numerical path


NUMERIC_TOL = {"path_N": 1e-5, "path_D": 1e-5, "path_tokens_per_param": 1e-5, "N_min": 1e-5, "D_min": 1e-5, "sigma": 1e-8}


def check_numeric(num, ref):
    for key in ("loss", "reducible", "elasticity_N", "elasticity_D", "dL_dN", "dL_dD", "dL_dlnN", "dL_dlnD", "scale_elasticity",
                "scale_factor", "mrts", "sigma", "loss_at_C", "C_min", "N_min", "D_min", "compute_overhead",
                "path_N", "path_D", "path_tokens_per_param"):
        assert rel(num.values[key], ref.values[key]) < NUMERIC_TOL.get(key, 1e-10), key
    assert abs(num.homothetic_exponent - ref.homothetic_exponent) < 1e-6


def test_numeric_path_matches_the_closed_form(hfit):
    """The same law written differently is not recognised as chinchilla: numerical derivatives,
    with E found as its irreducible term by evaluation."""
    d = isoflop_data(P)
    f = sf.fit("E + A / N^alpha + B / D^beta", {"N": d["N"], "D": d["D"]}, y=d["loss"])
    f = dataclasses.replace(f, params={n: P[n] for n in f.param_names}, x=np.array([P[n] for n in f.param_names]))
    ref = economics(hfit, AT)
    num = economics(f, AT)
    assert num.method == "numerical" and num.irreducible == "E" and num.reducible_definition.startswith("R = L - E")
    check_numeric(num, ref)
    assert num.verdict.startswith("not homothetic: D*/N* grows as C^0.0968")
    check_numeric(economics(hfit, AT, method="numerical"), ref)
    # far from the data, where R is 3% of L, the derivatives of R stay accurate (E is removed exactly)
    far = {"N": 1e13, "D": 1e15}
    check_numeric(economics(f, far), economics(hfit, far))


@pytest.mark.parametrize("al, be", [(0.05, 0.07), (1.0, 0.8), (3.0, 2.0)])
def test_numeric_step_is_accurate_over_exponents(al, be):
    """The fixed log-space step holds from tiny to steep exponents, also where R is 1e-10 of L
    (3.0, 2.0 at the last point): E is removed before differencing."""
    p = {"E": 1.7, "A": 400.0 * 10 ** (8 * al - 2.5), "alpha": al, "B": 400.0 * 10 ** (9 * be - 2.5), "beta": be}
    f = exact_fit(p)
    at = {"N": np.array([1e8, 1e9, 1e12]), "D": np.array([2e9, 2e10, 1e14])}
    c, n = economics(f, at), economics(f, at, method="numerical")
    for key in ("elasticity_N", "elasticity_D", "dL_dN", "dL_dD", "mrts", "scale_factor"):
        assert rel(n.values[key], c.values[key]) < 1e-8, key
    assert rel(n.sigma, c.sigma) < 1e-8


def test_numeric_path_on_a_law_without_irreducible_term():
    """kaplan_nd: L = f^aD with f = (Nc/N)^rho + Dc/D, rho = aN/aD. No irreducible term, so R = L,
    e_N = -aD rho (Nc/N)^rho / f; MRTS and sigma are those of f (a monotone transform keeps the
    isoquants): chinchilla's with alpha = rho, beta = 1, E = 0; D*/N* ~ C^((rho-1)/(rho+1))."""
    Nc, aN, aD, Dc = 8.8e13, 0.076, 0.095, 5.4e13
    d = isoflop_data(P)
    y = ((Nc / d["N"]) ** (aN / aD) + Dc / d["D"]) ** aD
    f = sf.fit("kaplan_nd", {"N": d["N"], "D": d["D"]}, y=y)
    kp = {"Nc": Nc, "alpha_N": aN, "alpha_D": aD, "Dc": Dc}
    f = dataclasses.replace(f, params={n: kp[n] for n in f.param_names}, x=np.array([kp[n] for n in f.param_names]))
    e = economics(f, AT)
    assert e.irreducible is None and "no irreducible term" in e.reducible_definition and rel(e.reducible, e.loss) < 1e-15
    rho = aN / aD
    inner = {"E": 0.0, "A": Nc ** rho, "alpha": rho, "B": Dc, "beta": 1.0}
    tr = truth(inner, AT["N"], AT["D"])
    assert rel(e.elasticity_N, aD * tr["elasticity_N"]) < 1e-9
    assert rel(e.elasticity_D, aD * tr["elasticity_D"]) < 1e-9
    assert rel(e.mrts, tr["mrts"]) < 1e-9
    assert rel(e.sigma, tr["sigma"]) < 1e-7
    assert rel(e.dL_dN, aD * e.loss / tr["reducible"] * tr["dL_dN"]) < 1e-9
    assert abs(e.homothetic_exponent - (rho - 1) / (rho + 1)) < 1e-6


# ---------------------------------------------------------------------------------------------
# homotheticity verdicts and bootstrap intervals


def test_a_homothetic_law_gets_the_homothetic_verdict():
    f = exact_fit(EQUAL)
    for method in ("auto", "numerical"):
        e = economics(f, AT, method=method)
        assert e.homothetic and e.verdict.startswith("homothetic"), e.verdict
        assert abs(e.homothetic_exponent) < 1e-6
        assert np.ptp(np.log(e.path_tokens_per_param)) < 1e-5  # D*/N* constant along the path


def test_bootstrap_homothetic_within_the_interval():
    d = isoflop_data(EQUAL, noise=0.01, seed=4)
    bs = sf.bootstrap(sf.fit("chinchilla", {"N": d["N"], "D": d["D"]}, y=d["loss"]), n_resamples=200, seed=0)
    e = economics(bs, AT)
    lo, hi = e.interval("homothetic_exponent")
    assert lo < 0 < hi and hi - lo > 1e-3
    assert e.homothetic and e.verdict.startswith("homothetic within the interval")


def test_bootstrap_intervals_contain_the_truth(hoff_bs):
    at = {"N": np.array([3e8, 2e9]), "D": np.array([6e9, 4e10])}
    e = economics(hoff_bs, at)
    assert e.n_samples == 200 and e.n_invalid == 0
    tr = truth(P, at["N"], at["D"])
    for key, v in tr.items():
        lo, hi = e.interval(key)
        assert np.all(lo <= v) and np.all(v <= hi), key
        assert np.all(lo <= e.values[key]) and np.all(e.values[key] <= hi), key
    lo, hi = e.interval("homothetic_exponent")
    x = (P["alpha"] - P["beta"]) / (P["alpha"] + P["beta"])
    assert lo <= x <= hi
    # the verdict respects the interval
    assert e.homothetic == (lo <= 0 <= hi)
    assert e.verdict.startswith("homothetic within the interval" if e.homothetic else "not homothetic: D*/N* grows as C^")
    # the dual's interval contains the true least compute for the true loss
    a = P["beta"] / (P["alpha"] + P["beta"])
    gam = P["alpha"] * P["beta"] / (P["alpha"] + P["beta"])
    G = (P["alpha"] * P["A"] / (P["beta"] * P["B"])) ** (1 / (P["alpha"] + P["beta"]))
    Kc = P["A"] * G ** -P["alpha"] + P["B"] * G ** P["beta"]
    c_true = K * (tr["reducible"] / Kc) ** (-1 / gam)
    lo, hi = e.interval("C_min")
    assert np.all(lo <= c_true) and np.all(c_true <= hi)
    assert a > 0
    s = e.summary()
    assert "95% percentile over 200 bootstrap fits" in s and "[" in s
    d = e.to_dict()
    assert set(d["ci"]) >= {"elasticity_N", "sigma", "mrts", "homothetic_exponent", "C_min"}
    json.dumps(d, allow_nan=False)


def test_numeric_bootstrap_matches_the_closed_form(hoff_bs):
    at = {"N": 2e9, "D": 4e10}
    ref, num = economics(hoff_bs, at), economics(hoff_bs, at, method="numerical")
    for key in ("elasticity_N", "mrts", "sigma", "scale_factor", "C_min", "homothetic_exponent"):
        for a, b in zip(num.interval(key), ref.interval(key)):
            assert np.allclose(a, b, rtol=1e-5, atol=1e-7), key


# ---------------------------------------------------------------------------------------------
# extrapolation


def test_extrapolation_is_flagged(hfit):
    at = {"N": np.array([1e9, 7e10, 1e9]), "D": np.array([2e10, 1.4e12, 1e7])}
    e = economics(hfit, at, budgets=[1e19, 1e20, 1e24])
    assert e.extrapolated.tolist() == [False, True, True]
    assert e.extrapolation_notes[0] == "" and "N = 7.0000e+10 above the data's largest" in e.extrapolation_notes[1]
    assert "D = 1.0000e+07 below the data's smallest" in e.extrapolation_notes[2]
    assert e.budget_extrapolated.tolist() == [False, False, True]
    assert e.dual_extrapolated[1]  # Chinchilla-scale dual allocation, far beyond the data
    s = e.summary()
    assert s.count("EXTRAPOLATION:") >= 2 and "(extrapolated)" in s and "rest on inputs outside the data" in s
    d = e.to_dict()
    assert d["extrapolation"]["points"] == [False, True, True] and d["extrapolation"]["any"] is True
    assert d["values"]["extrapolated"] == [False, True, True]
    lo, hi = d["extrapolation"]["data_range"]["N"]
    assert lo == pytest.approx(hfit.problem.columns[0].min()) and hi == pytest.approx(hfit.problem.columns[0].max())
    json.dumps(d, allow_nan=False)
    inside = economics(hfit, {"N": 1e9, "D": 2e10})
    assert not inside.extrapolated.any() and "no extrapolation" in inside.summary()
    assert inside.to_dict()["extrapolation"]["any"] is False


# ---------------------------------------------------------------------------------------------
# inputs


def test_data_column_names_and_resource_order(hfit):
    d = isoflop_data(P)
    f = sf.fit("chinchilla", {"params": d["N"], "tokens": d["D"]}, y=d["loss"], columns={"N": "params", "D": "tokens"})
    f = dataclasses.replace(f, params=dict(P), x=np.array([P[n] for n in f.param_names]))
    a = economics(f, {"params": 1e9, "tokens": 2e10})
    b = economics(hfit, {"N": 1e9, "D": 2e10})
    assert rel(a.mrts, b.mrts) < 1e-14
    # resources swapped: the MRTS inverts and the path exponent changes sign (numerically)
    sw = economics(hfit, {"N": 1e9, "D": 2e10}, resources=("D", "N"))
    assert sw.method == "numerical" and sw.resources == ("D", "N")
    assert rel(sw.mrts, 1 / b.mrts) < 1e-9 and abs(sw.homothetic_exponent + b.homothetic_exponent) < 1e-6


@pytest.mark.parametrize(
    "at, exc, match",
    [
        ([1e9, 2e10], TypeError, "at must be a dict mapping 'N' and 'D'"),
        ({"N": 1e9}, ValueError, "at: missing 'D'"),
        ({"N": 1e9, "D": 2e10, "d": 3.0}, ValueError, r"at: unknown key\(s\) \['d'\]"),
        ({"N": -1e9, "D": 2e10}, ValueError, r"at\['N'\] must be positive"),
        ({"N": 1e9, "D": 0.0}, ValueError, r"at\['D'\] must be positive"),
        ({"N": np.nan, "D": 2e10}, ValueError, r"at\['N'\] contains a non-finite value"),
        ({"N": "big", "D": 2e10}, TypeError, r"at\['N'\] must be numeric"),
        ({"N": [1e9, 2e9], "D": [1e10, 2e10, 3e10]}, ValueError, "'N' has 2 values and 'D' has 3"),
        ({"N": 0.5, "D": 1.0}, ValueError, "below k"),
        ({"N": 1e-300, "D": 1e300}, ValueError, "at: dL_dN is not finite"),
    ],
)
def test_bad_points(hfit, at, exc, match):
    with pytest.raises(exc, match=match):
        economics(hfit, at)


def test_bad_arguments(hfit):
    at = {"N": 1e9, "D": 2e10}
    with pytest.raises(TypeError, match="fit_or_bs must be a FitResult"):
        economics({"E": 1.7}, at)
    for kw, match in [({"t": 1.0}, "t must differ from 1"), ({"t": -2.0}, "t must be a positive"), ({"k": 0}, "k must be a positive"),
                      ({"level": 1.5}, "level must be in"), ({"method": "exact"}, "method must be"),
                      ({"budgets": [1.0, 1e20]}, "budgets: budget 1 FLOP is below k"), ({"budgets": [1e20]}, "at least two distinct budgets"),
                      ({"resources": ("N", "X")}, "'X' is not a variable")]:
        with pytest.raises(ValueError, match=match):
            economics(hfit, at, **kw)
    d = isoflop_data(P)
    f = sf.fit("E + A / N^alpha + B / D^beta", {"N": d["N"], "D": d["D"]}, y=d["loss"])
    with pytest.raises(ValueError, match="method='closed_form' needs the chinchilla form"):
        economics(f, at, method="closed_form")


def test_one_variable_law_is_refused():
    x = np.geomspace(1e6, 1e9, 20)
    f = sf.fit("power_law_plus_constant", {"x": x}, y=1.7 + 50 * x ** -0.3)
    with pytest.raises(ValueError, match=r"fit_or_bs: economics needs a law of two resources.*1 variable\(s\) \['x'\].*scalingfit.returns"):
        economics(f, {"x": 1e7})


def test_non_positive_reducible_loss_is_refused(hfit):
    bad = dataclasses.replace(hfit, params={**P, "A": -406.4}, x=np.array([{**P, "A": -406.4}[n] for n in hfit.param_names]))
    with pytest.raises(ValueError, match=r"at: the reducible loss R = L - E is -\S+ at N = 1e\+06"):
        economics(bad, {"N": 1e6, "D": 2e10})


def test_numeric_points_in_chunks_give_the_same_answers(hfit, monkeypatch):
    import importlib

    econ = importlib.import_module("scalingfit.economics")  # the module (sf.economics is the function)

    at = {"N": np.geomspace(1e8, 7e9, 5), "D": np.geomspace(2e9, 1.4e11, 5)}
    whole = economics(hfit, at, method="numerical")
    monkeypatch.setattr(econ, "_CHUNK", 2 * 96)  # two points per chunk
    parts = economics(hfit, at, method="numerical")
    # equal to rounding (other array shapes round differently in the stencil sums; sigma's second
    # derivatives amplify that to ~1e-10)
    for key, tol in (("sigma", 1e-9), ("elasticity_N", 1e-12), ("C_min", 1e-12), ("N_min", 1e-12), ("loss_at_C", 1e-12)):
        assert rel(parts.values[key], whole.values[key]) < tol, key
    assert parts.homothetic_exponent == whole.homothetic_exponent


def test_a_dataframe_of_points():
    pd = pytest.importorskip("pandas")
    f = exact_fit(P)
    df = pd.DataFrame({"N": AT["N"], "D": AT["D"], "note": ["a", "b", "c"]})  # a table may carry other columns
    assert rel(economics(f, df).mrts, economics(f, AT).mrts) < 1e-15
