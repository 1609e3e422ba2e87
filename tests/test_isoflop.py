"""IsoFLOP approaches 1 and 2 against synthetic truth (the Hoffmann law, a = beta/(alpha+beta),
b = alpha/(alpha+beta)), on Epoch's Chinchilla points beside approach 3, and bad input."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import scalingfit as sf

pytestmark = pytest.mark.filterwarnings("ignore::scalingfit.ScalingFitWarning")

E, A, AL, B, BE = 1.69, 406.4, 0.34, 410.7, 0.28
TRUE_A, TRUE_B = BE / (AL + BE), AL / (AL + BE)
CHIN = Path(__file__).resolve().parents[2] / "shared" / "data" / "chinchilla" / "svg_extracted_data.csv"


def law(N, D):
    return E + A * N**-AL + B * D**-BE


BUDGETS = np.logspace(18, 22, 9)
SIZES = np.logspace(7.5, 10.5, 16)


def design(noise=0.0, seed=0, n_per=15, span=1.0, jitter=0.0, budgets=BUDGETS):
    """An IsoFLOP sweep: per budget, n_per model sizes log-spaced +-span decades around N*."""
    rng = np.random.default_rng(seed)
    G = (AL * A / (BE * B)) ** (1 / (AL + BE))
    N, C = [], []
    for c in budgets:
        n = G * (c / 6) ** TRUE_A * np.logspace(-span, span, n_per)
        N += list(n)
        C += list(c * 10 ** rng.uniform(-jitter, jitter, n_per))
    N, C = np.array(N), np.array(C)
    D = C / (6 * N)
    return {"N": N, "D": D, "C": C, "loss": law(N, D) * np.exp(rng.normal(0, noise, len(N)))}


def test_noiseless_design_recovers_the_exponents_exactly():
    r = sf.isoflop(design(), n_resamples=200)
    assert r.a == pytest.approx(TRUE_A, abs=1e-8) and r.b == pytest.approx(TRUE_B, abs=1e-8)
    assert r.grouping == "the design's budgets" and len(r.C) == 9
    # N* per budget is the law's compute-optimal N up to one factor: the profile in ln N is not a
    # parabola (alpha != beta makes it asymmetric), which shifts every budget's minimum alike, so
    # a is exact and G is biased; the move of the minimum when a cubic term is added measures it
    G = (AL * A / (BE * B)) ** (1 / (AL + BE))
    shift = np.log(r.N_opt / (G * (r.C / 6) ** TRUE_A))
    assert np.ptp(shift) < 1e-6 and 0.01 < abs(shift[0]) < 0.1
    asym = np.array([b["asymmetry"] for b in r.budgets])
    assert np.allclose(asym, -shift, rtol=0.1)
    assert np.allclose(r.D_opt, r.D_opt_from_N, rtol=1e-6)  # at fixed C the ln D parabola mirrors the ln N one
    lo, hi = r.interval("a")
    assert lo <= TRUE_A <= hi


def test_noisy_designs_cover_the_truth():
    hits_a = hits_b = 0
    for s in range(6):
        r = sf.isoflop(design(noise=0.01, seed=s), n_resamples=300, seed=s)
        lo, hi = r.interval("a")
        hits_a += lo <= TRUE_A <= hi
        lo, hi = r.interval("b")
        hits_b += lo <= TRUE_B <= hi
        assert abs(r.a + r.b - 1) < 0.05  # N* D* = C/6: a + b = 1 up to the parabolas' noise
    assert hits_a >= 5 and hits_b >= 5


def test_budgets_formed_by_binning_absorb_the_compute_spread():
    # compute jittered by up to +-0.04 decades within each budget: binned, with a ln C term
    d = design(noise=0.005, jitter=0.04, seed=1)
    r = sf.isoflop(d, n_resamples=300, bin_width=0.2)
    assert "bins of 0.2 decades" in r.grouping
    lo, hi = r.interval("a")
    assert lo <= TRUE_A <= hi and abs(r.a - TRUE_A) < 0.02
    # the same runs with the budgets given
    g = sf.isoflop(d, n_resamples=0, budgets=np.logspace(18, 22, 9))
    assert g.grouping == "given budgets" and abs(g.a - TRUE_A) < 0.02


def test_budgets_without_an_interior_minimum_or_enough_runs_are_left_out_and_said():
    d = design(span=1.0)
    # one more budget sampled only on one side of its optimum, and one with 3 runs
    G = (AL * A / (BE * B)) ** (1 / (AL + BE))
    c = 1e23
    n_one = G * (c / 6) ** TRUE_A * np.logspace(0.3, 1.5, 8)
    n_few = G * (1e17 / 6) ** TRUE_A * np.logspace(-0.5, 0.5, 3)
    N = np.concatenate([d["N"], n_one, n_few])
    C = np.concatenate([d["C"], np.full(8, c), np.full(3, 1e17)])
    D = C / (6 * N)
    r = sf.isoflop({"N": N, "C": C, "loss": law(N, D)}, n_resamples=0)
    notes = {round(np.log10(b["C"])): b for b in r.budgets}
    assert not notes[23]["used"] and "no minimum within the sampled range" in notes[23]["note"]
    assert not notes[17]["used"] and "3 runs" in notes[17]["note"]
    assert r.a == pytest.approx(TRUE_A, abs=1e-6)
    s = r.summary()
    assert "left out: no minimum within the sampled range" in s and "left out: 3 runs" in s


def test_groups_resample_whole_runs():
    d = design(noise=0.01, seed=3)
    groups = np.repeat(np.arange(len(d["N"]) // 3), 3)  # triples of rows as one unit
    r1 = sf.isoflop(d, n_resamples=200, seed=0)
    r2 = sf.isoflop(d, n_resamples=200, seed=0, groups=groups)
    assert r1.a == r2.a  # the estimate does not depend on the grouping
    assert not np.array_equal(r1.samples["a"], r2.samples["a"])
    r3 = sf.isoflop(d, n_resamples=200, seed=0, groups=groups)
    assert np.array_equal(r2.samples["a"], r3.samples["a"], equal_nan=True)  # seeded


def training_curves(noise=0.003, seed=0, sizes=SIZES):
    rng = np.random.default_rng(seed)
    out = {"run": [], "N": [], "D": [], "loss": []}
    for i, n in enumerate(sizes):
        D = np.logspace(8, 12.5, 40)
        out["run"] += [f"r{i}"] * 40
        out["N"] += [n] * 40
        out["D"] += list(D)
        out["loss"] += list(law(n, D) * np.exp(rng.normal(0, noise, 40)))
    return {k: np.array(v) for k, v in out.items()}


def test_approach_1_envelope_recovers_the_exponent():
    r = sf.envelope(training_curves(), n_resamples=300)
    lo, hi = r.interval("a")
    assert lo <= TRUE_A <= hi and abs(r.a - TRUE_A) < 0.03
    assert r.a + r.b == pytest.approx(1.0)  # D* = C/(kN*) exactly
    assert r.n_winners >= 10 and "approach 1" in r.summary()
    with pytest.raises(ValueError, match="several values of N"):
        d = training_curves()
        d["N"][0] *= 2
        sf.envelope(d)
    with pytest.raises(ValueError, match="run="):
        sf.envelope({k: v for k, v in training_curves().items() if k != "run"}, run=None)


@pytest.mark.skipif(not CHIN.exists(), reason="../shared/data not present")
def test_chinchilla_approaches_2_and_3_side_by_side():
    rows = list(csv.DictReader(open(CHIN)))
    N = np.array([float(r["Model Size"]) for r in rows])
    C = np.array([float(r["Training FLOP"]) for r in rows])
    y = np.array([float(r["loss"]) for r in rows])
    keep = y < np.sort(y)[-5]
    iso = sf.isoflop({"N": N[keep], "C": C[keep], "loss": y[keep]}, n_resamples=500)
    assert "bins" in iso.grouping and len(iso.C) >= 8
    fit = sf.fit("chinchilla", {"N": N[keep], "D": C[keep] / (6 * N[keep])}, y=y[keep])
    table = sf.compare_approaches(iso, sf.bootstrap(fit, n_resamples=300, seed=0))
    v = table.values
    assert v["a_3"] == pytest.approx(0.5139, abs=2e-3)
    # the approaches agree within their intervals on these data
    lo2, hi2 = table.interval("a_2")
    lo3, hi3 = table.interval("a_3")
    assert lo2 < hi3 and lo3 < hi2
    s = table.summary()
    assert "2: IsoFLOP parabolas" in s and "3: parametric fit (chinchilla)" in s
    json.dumps(table.to_dict(), allow_nan=False)
    json.dumps(iso.to_dict(), allow_nan=False)


def test_plot_draws_the_parabolas():
    mpl = pytest.importorskip("matplotlib")
    mpl.use("Agg")
    r = sf.isoflop(design(), n_resamples=0)
    ax = r.plot()
    assert len(ax.get_lines()) == 2 * 9  # a parabola and its minimum per budget
    assert ax.get_xscale() == "log"


def test_bad_input_is_named():
    d = design()
    with pytest.raises(ValueError, match="at least one of D"):
        sf.isoflop({"N": d["N"], "loss": d["loss"]})
    with pytest.raises(ValueError, match="N must be finite and positive; row 0"):
        sf.isoflop({**d, "N": np.r_[-1.0, d["N"][1:]]})
    with pytest.raises(ValueError, match="no column 'tokens'"):
        sf.isoflop(d, D="tokens")
    with pytest.raises(ValueError, match="min_runs"):
        sf.isoflop(d, min_runs=3)
    with pytest.raises(ValueError, match="bin_width"):
        sf.isoflop(d, bin_width=0)
    with pytest.raises(ValueError, match="k "):
        sf.isoflop(d, k=-6)
    with pytest.raises(ValueError, match=r"only 0 budget\(s\) give a minimum \(1 formed"):
        sf.isoflop(design(budgets=[1e20]), n_resamples=0)
    with pytest.raises(ValueError, match="has 3 values"):
        sf.isoflop({"N": d["N"], "C": d["C"][:3], "loss": d["loss"]})
    with pytest.raises(TypeError, match="sf.isoflop"):
        sf.compare_approaches("x", None)  # type: ignore[arg-type]


def test_sizes_beyond_memory_are_refused_naming_the_argument():
    d = design()
    with pytest.raises(ValueError, match=r"isoflop with n_resamples=1000000000000 .* use fewer resamples"):
        sf.isoflop(d, n_resamples=10**12)
    with pytest.raises(ValueError, match=r"envelope with n_grid=1000000000000 .* use a smaller n_grid"):
        sf.envelope(training_curves(), n_grid=10**12, n_resamples=0)
