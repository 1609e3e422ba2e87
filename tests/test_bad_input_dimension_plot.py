"""Bad input to scalingfit.dimension and scalingfit.plot: a TypeError/ValueError naming the
argument (raised before any work or drawing), and strict-JSON ``to_dict()`` results."""

import json
import math
import warnings

import numpy as np
import pytest
import scalingfit as sf
from scalingfit.datasets import hoffmann_example

dim_ = sf.dimension
INF, NAN = math.inf, math.nan


def strict(d):
    return json.loads(json.dumps(d, allow_nan=False))


# ---------------------------------------------------------------------------------------------
# dimension


@pytest.fixture(scope="module")
def P3():
    return np.random.default_rng(0).standard_normal((300, 3))


@pytest.fixture(scope="module")
def ests(P3):
    return {
        "tile": dim_.tile(P3, seed=0, n_boot=50),
        "twonn": dim_.twonn(P3),
        "mle": dim_.mle(P3, k=10),
    }


@pytest.mark.parametrize("which", ["tile", "twonn", "mle"])
@pytest.mark.parametrize(
    "level,exc",
    [(None, TypeError), ("0.95", TypeError), (True, TypeError), ([0.9], TypeError), (complex(0.5, 0), TypeError),
     (NAN, ValueError), (0, ValueError), (1, ValueError), (1.5, ValueError), (-0.1, ValueError)],
)
def test_level_checked_everywhere(ests, which, level, exc):
    est = ests[which]
    for call in (lambda: est.ci(level=level), lambda: est.predicted_alpha(level=level),
                 lambda: dim_.compare(est, 0.3, level=level), lambda: dim_.compare(est, 1.79e308, level=level)):
        with pytest.raises(exc, match="level"):
            call()


@pytest.mark.parametrize(
    "factor,exc",
    [(None, TypeError), ("4", TypeError), (True, TypeError), (complex(4, 0), TypeError), (0.0, ValueError),
     (-1.0, ValueError), (INF, ValueError), (NAN, ValueError), (5e-324, ValueError), (10**400, ValueError)],
)
def test_factor_checked(ests, factor, exc):
    with pytest.raises(exc, match="factor"):
        ests["mle"].predicted_alpha(factor=factor)
    with pytest.raises(exc, match="factor"):
        dim_.compare(ests["twonn"], 0.3, factor=factor)


def test_predicted_alpha_accepts_numpy_numbers(ests):
    p = ests["twonn"].predicted_alpha(factor=np.float32(4.0), level=np.float64(0.9))
    assert p.factor == 4.0 and p.level == 0.9 and type(p.level) is float
    strict(p.to_dict())


@pytest.mark.parametrize(
    "kw,exc,match",
    [
        ({"discard_fraction": complex(1, 1)}, TypeError, "discard_fraction"),
        ({"discard_fraction": "a"}, TypeError, "discard_fraction"),
        ({"discard_fraction": None}, TypeError, "discard_fraction"),
        ({"discard_fraction": True}, TypeError, "discard_fraction"),
        ({"discard_fraction": NAN}, ValueError, "discard_fraction"),
        ({"discard_fraction": -0.1}, ValueError, "discard_fraction"),
        ({"discard_fraction": INF}, ValueError, "discard_fraction"),
        ({"discard_fraction": 10**400}, ValueError, "discard_fraction"),
        ({"method": None}, TypeError, "method"),
        ({"method": ["ml"]}, TypeError, "method"),
        ({"method": "MLE"}, ValueError, "method"),
        ({"n_threads": 1.5}, TypeError, "n_threads"),
        ({"n_threads": -1}, ValueError, "n_threads"),
        ({"n_threads": 2**64}, ValueError, "n_threads"),
    ],
)
def test_twonn_arguments(P3, kw, exc, match):
    with pytest.raises(exc, match=match):
        dim_.twonn(P3, **kw)


def test_twonn_numpy_discard_fraction_and_none_threads(P3):
    assert dim_.twonn(P3, discard_fraction=np.float64(0.1), n_threads=None).d == dim_.twonn(P3).d


@pytest.mark.parametrize(
    "kw,exc,match",
    [
        ({"k": 2.0}, TypeError, "k"),
        ({"k": "3"}, TypeError, "k"),
        ({"k": None}, TypeError, "k"),
        ({"unbiased": "no"}, TypeError, "unbiased"),
        ({"unbiased": 1}, TypeError, "unbiased"),
        ({"unbiased": None}, TypeError, "unbiased"),
        ({"n_threads": "2"}, TypeError, "n_threads"),
    ],
)
def test_mle_arguments(P3, kw, exc, match):
    with pytest.raises(exc, match=match):
        dim_.mle(P3, **kw)


@pytest.mark.parametrize(
    "kw,exc,match",
    [
        ({"seed": 1.5}, TypeError, "seed"),
        ({"seed": None}, TypeError, "seed"),
        ({"seed": True}, TypeError, "seed"),
        ({"seed": 2**64}, ValueError, "seed"),
        ({"sizes": "abc"}, TypeError, "sizes"),
        ({"sizes": [10.5, 20]}, TypeError, "sizes"),
        ({"sizes": [[10], [20, 30]]}, TypeError, "sizes"),
        ({"sizes": [[10, 20]]}, ValueError, "sizes"),
        ({"sizes": []}, ValueError, "sizes"),
        ({"sizes": [2**64, 2**65]}, ValueError, "sizes"),
        ({"abscissa": None}, TypeError, "abscissa"),
        ({"abscissa": "lin"}, ValueError, "abscissa"),
        ({"n_boot": 1.5}, TypeError, "n_boot"),
        ({"n_boot": -1}, ValueError, "n_boot"),
        ({"n_boot": 10**12}, ValueError, "n_boot"),  # would abort the allocator: refused up front
        ({"n_draws": 10**12}, ValueError, "n_draws"),
        ({"n_draws": None}, TypeError, "n_draws"),
        ({"n_sizes": 2}, ValueError, "n_sizes"),
        ({"k": True}, TypeError, "k"),
        ({"n_threads": 1025}, ValueError, "n_threads"),
    ],
)
def test_tile_arguments(P3, kw, exc, match):
    with pytest.raises(exc, match=match):
        dim_.tile(P3, **kw)


def test_compare_fit_argument(ests):
    est = ests["mle"]
    with pytest.raises(ValueError, match="fit: the interval"):
        dim_.compare(ests["twonn"], (-1e308, 1e308))  # value +- z*stderr overflows
    for bad, exc in [(INF, ValueError), (NAN, ValueError), (10**400, ValueError), ((0.3, -0.1), ValueError),
                     ((0.3, INF), ValueError), ((INF, 0.1), ValueError), ((0.3, 0.1, 0.2), ValueError),
                     (("0.3", 0.1), TypeError), ((0.3, "0.1"), TypeError), ((complex(1, 1), 0.1), TypeError),
                     (True, TypeError), (None, TypeError), ("0.3", TypeError), ([0.3, 0.1], TypeError)]:
        with pytest.raises(exc, match="fit"):
            dim_.compare(est, bad)
    with pytest.raises(TypeError, match="est"):
        dim_.compare(None, 0.3)


def test_compare_name_must_be_str(ests):
    with pytest.raises(TypeError, match="name"):
        dim_.compare(ests["mle"], 2**63, name=np.float16(65504.0))
    with pytest.raises(TypeError, match="name"):
        dim_.compare(ests["mle"], 0.3, name=["alpha"])


def test_compare_accepts_numpy_and_bootstrap(ests):
    H = hoffmann_example(seed=0)
    chin = sf.fit("chinchilla", {"N": H["N"], "D": H["D"]}, y=H["loss"])
    bs = sf.bootstrap(chin, n_resamples=20, seed=0)
    c = dim_.compare(ests["twonn"], bs, "beta", level=np.float64(0.9), factor=np.int64(4))
    assert c.fitted == chin.params["beta"] and c.fitted_stderr == pytest.approx(bs.stderr["beta"])
    assert c.level == 0.9 and c.factor == 4.0
    with pytest.raises(ValueError, match="name"):
        dim_.compare(ests["twonn"], bs, "gamma")
    strict(c.to_dict())
    c2 = dim_.compare(ests["mle"], np.float16(0.5))
    assert c2.fitted == 0.5
    strict(c2.to_dict())


def test_to_dict_is_strict_json(ests):
    for est in ests.values():
        d = strict(est.to_dict())
        assert d["d"] == est.d
        strict(est.predicted_alpha().to_dict())
    # fitted 2**63 and a ratio far from 1: all plain JSON numbers
    strict(dim_.compare(ests["mle"], 2**63).to_dict())
    strict(dim_.compare(ests["tile"], (1e300, 1e299)).to_dict())


def test_mle_to_dict_with_infinite_pointwise_values():
    # three distinct values on a line: the middle point's two neighbours are equidistant, m_i = inf
    X = np.random.default_rng(0).integers(0, 3, (300, 1)).astype(float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = dim_.mle(X, k=2)
    assert np.isinf(m.pointwise).any()
    d = strict(m.to_dict())
    assert "inf" in d["pointwise"] and d["d"] == m.d


# ---------------------------------------------------------------------------------------------
# plot


@pytest.fixture(scope="module")
def mpl():
    mpl = pytest.importorskip("matplotlib")
    mpl.use("Agg")
    import matplotlib.pyplot as plt

    yield mpl
    plt.close("all")


@pytest.fixture(scope="module")
def fits():
    H = hoffmann_example(seed=0)
    chin = sf.fit("chinchilla", {"N": H["N"], "D": H["D"]}, y=H["loss"])
    X1 = np.geomspace(1e6, 1e11, 40)
    Y1 = (1.7 + 300 * X1**-0.3) * np.exp(0.01 * np.random.default_rng(0).standard_normal(40))
    pl = sf.fit("power_law_plus_constant", {"x": X1}, y=Y1)
    return {
        "chin": chin,
        "chin_bs": sf.bootstrap(chin, n_resamples=40, seed=0),
        "kaplan": sf.fit("kaplan_nd", {"N": H["N"], "D": H["D"]}, y=H["loss"]),
        "pl": pl,
        "pl_bs": sf.bootstrap(pl, n_resamples=40, seed=0),
    }


def _close():
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.mark.parametrize(
    "src,kind,kw,exc,match",
    [
        ("chin", "optimal", {"k": 0.0}, ValueError, "k"),
        ("chin", "isoflop", {"k": INF}, ValueError, "k"),
        ("chin", "law", {"k": NAN}, ValueError, "k"),
        ("chin", "law", {"k": -6.0}, ValueError, "k"),
        ("chin", "law", {"k": "6"}, TypeError, "k"),
        ("chin", "residuals", {"k": None}, TypeError, "k"),
        ("chin", "law", {"k": 1e300}, ValueError, "k"),  # k N D overflows float64
        ("pl_bs", "law", {"level": NAN, "k": 6}, ValueError, "level"),
        ("pl_bs", "law", {"level": None}, TypeError, "level"),
        ("chin_bs", "pairs", {"level": 1.5}, ValueError, "level"),
        ("chin", "law", {"title": 1}, TypeError, "title"),
        ("chin", "law", {"ax": 1}, TypeError, "ax"),
        ("chin", None, {}, TypeError, "kind"),
        ("chin", ["law"], {}, TypeError, "kind"),
        ("chin", "histogram", {}, ValueError, "kind"),
        ("chin", "law", {"C": [1e20]}, TypeError, "C"),
        ("pl", "residuals", {"C": [1e20]}, TypeError, "C"),
        ("chin", "law", {"colour": "red"}, TypeError, "colour"),
        ("chin", "optimal", {"C": "abc"}, TypeError, "C"),
        ("chin", "optimal", {"C": [[1e20]]}, ValueError, "C"),
        ("chin", "optimal", {"C": []}, ValueError, "C"),
        ("chin", "optimal", {"C": [NAN]}, ValueError, "C"),
        ("chin", "optimal", {"C": [-1e20]}, ValueError, "C"),
        ("chin", "optimal", {"C": 10**400}, ValueError, "C"),
        ("chin", "isoflop", {"C": [5e-324]}, ValueError, "C"),
        ("chin", "isoflop", {"C": list(np.geomspace(1e18, 1e25, 30))}, ValueError, "C"),
        ("chin_bs", "pairs", {"max_points": 1.5}, TypeError, "max_points"),
        ("chin_bs", "pairs", {"max_points": 1}, ValueError, "max_points"),
        ("chin", "law", {"dpi": 0}, ValueError, "dpi"),
        ("chin", "law", {"dpi": "high"}, TypeError, "dpi"),
        ("chin", "pairs", {}, ValueError, "BootstrapResult"),
    ],
)
def test_plot_bad_arguments(mpl, fits, src, kind, kw, exc, match):
    import matplotlib.pyplot as plt

    n_figs = len(plt.get_fignums())
    with pytest.raises(exc, match=match):
        sf.plot(fits[src], kind, **kw)
    assert len(plt.get_fignums()) == n_figs  # refused before drawing
    _close()


def test_plot_bad_source(mpl):
    with pytest.raises(TypeError, match="fit_or_bs"):
        sf.plot({"E": 1.0})


def test_plot_ax_with_multi_panel_kinds(mpl, fits):
    import matplotlib.pyplot as plt

    _, ax = plt.subplots()
    with pytest.raises(ValueError, match="ax"):
        sf.plot(fits["chin"], "residuals", ax=ax)
    _close()


def test_plot_path_checked_before_drawing(mpl, fits, tmp_path):
    import matplotlib.pyplot as plt

    chin = fits["chin"]
    n_figs = len(plt.get_fignums())
    with pytest.raises(ValueError, match=r"path: .*\.xyz.*\.png"):
        sf.plot(chin, "law", path=tmp_path / "p.xyz")
    with pytest.raises(ValueError, match="path: .*no extension"):
        sf.plot(chin, "law", path=str(tmp_path / "p"))
    with pytest.raises(ValueError, match="path: empty"):
        sf.plot(chin, "law", path="")
    with pytest.raises(TypeError, match="path"):
        sf.plot(chin, "law", path=1.0)
    with pytest.raises(TypeError, match="path"):
        sf.plot(chin, "law", path=b"p.png")
    (tmp_path / "d.png").mkdir()
    with pytest.raises(ValueError, match="path: .*directory"):
        sf.plot(chin, "law", path=tmp_path / "d.png")
    with pytest.raises(FileNotFoundError, match="path: .*does not exist"):
        sf.plot(chin, "law", path=tmp_path / "nodir" / "p.png")
    assert len(plt.get_fignums()) == n_figs
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.png"]
    fig = sf.plot(chin, "residuals", path=tmp_path / "r.PDF", dpi=np.int64(50))
    assert (tmp_path / "r.PDF").read_bytes()[:4] == b"%PDF" and fig is not None
    _close()


def test_plot_budgets_accepted(mpl, fits, tmp_path):
    # a scalar budget (was "len() of unsized object"), one budget, unsorted budgets, numerical optimum
    for src, kind, kw in [
        ("chin_bs", "optimal", {"k": 5e-324, "C": 5.76e23}),
        ("kaplan", "optimal", {"C": 5.76e23}),
        ("kaplan", "optimal", {"C": [1e24, 1e20, 1e22]}),
        ("chin", "isoflop", {"C": np.float64(5.76e23)}),
        ("chin_bs", "isoflop", {"C": [1e21, 1e19, 1e23], "level": 1e-300}),
        ("chin", "optimal", {"C": [7]}),
    ]:
        fig = sf.plot(fits[src], kind, **kw)
        assert fig.axes[0].get_xscale() == "log"
        _close()
    fig = sf.plot(fits["pl_bs"], "law", level=np.float32(0.9), k=np.int64(6), title="t", path=tmp_path / "l.png")
    assert fig.axes[0].get_title() == "t" and (tmp_path / "l.png").exists()
    _close()


def test_save_all_arguments(mpl, fits, tmp_path):
    from scalingfit.plot import save_all

    with pytest.raises(TypeError, match="out_dir"):
        save_all(fits["pl"], 1.0)
    with pytest.raises(ValueError, match="level"):
        save_all(fits["pl"], tmp_path, level=2)
    with pytest.raises(ValueError, match="dpi"):
        save_all(fits["pl"], tmp_path, dpi=-1)
    assert not any(tmp_path.iterdir())
