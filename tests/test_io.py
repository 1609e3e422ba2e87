"""save() and load(): fits and bootstraps in a portable, versioned .npz file, without pickle.
Round trips are checked field by field and bit for bit, and a loaded result must work: the same
bootstrap samples, the same BCa intervals, merges of loaded parts."""

from __future__ import annotations

import copy
import json
import math
import os
import re
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
import scalingfit as sf
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scalingfit import _codec, _core, _io
from scalingfit.datasets import hoffmann_example

# -- a strict equality: types, dict order, float bits, array dtypes, shapes and bytes ----------


def _bits(v: float) -> bytes:
    return struct.pack(">d", v)


def assert_same(a, b, where="obj"):
    assert type(a) is type(b), f"{where}: {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape, f"{where}: {a.dtype}{a.shape} != {b.dtype}{b.shape}"
        assert a.tobytes() == b.tobytes(), f"{where}: array bits differ"
    elif isinstance(a, np.generic):
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), f"{where}: {a!r} != {b!r}"
    elif isinstance(a, float):
        assert _bits(a) == _bits(b), f"{where}: {a!r} != {b!r}"
    elif isinstance(a, dict):
        assert list(a) == list(b), f"{where}: keys {list(a)} != {list(b)}"
        for k in a:
            assert_same(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), f"{where}: length {len(a)} != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, _core.Formula):
        assert (a.source, a.variables) == (b.source, b.variables), where
    elif type(a).__module__.startswith("scalingfit."):
        assert_same(_state(a), _state(b), f"{where}<{type(a).__name__}>")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def _state(obj):
    return obj.__getstate__() if hasattr(obj, "__getstate__") else dict(obj.__dict__)


def test_the_equality_helper_sees_every_difference():
    nan2 = struct.unpack(">d", bytes.fromhex("7ff8000000000001"))[0]
    for a, b in [(0.0, -0.0), (math.nan, nan2), ((1, 2), [1, 2]), (1, 1.0), (True, 1), ({"a": 1, "b": 2}, {"b": 2, "a": 1}),
                 (np.zeros(2), np.zeros(2, np.float32)), (np.zeros(2), np.zeros((1, 2))), (np.float64(1), 1.0),
                 (np.array([0.0]), np.array([-0.0]))]:
        with pytest.raises(AssertionError):
            assert_same(a, b)
    assert_same({"x": (np.array([math.nan]), [None, "s"])}, {"x": (np.array([math.nan]), [None, "s"])})


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hoff():
    d = hoffmann_example(seed=0)
    return {"N": d["N"], "D": d["D"]}, d["loss"]


@pytest.fixture(scope="module")
def chin(hoff):
    data, y = hoff
    return sf.fit("chinchilla", data, y=y)


@pytest.fixture(scope="module")
def one_var():
    rng = np.random.default_rng(0)
    x = np.geomspace(1e18, 1e22, 40)
    y = 1.8 + 2e3 * x**-0.17 * np.exp(0.01 * rng.normal(size=40))
    return {"C": x}, y, rng.uniform(0.5, 2.0, 40)


def _fits(hoff, one_var, chin):
    data, y = hoff
    c, yc, w = one_var
    return {
        "chinchilla": chin,
        "formula+weights": sf.fit("E + A*C^-alpha", c, y=yc, weights=w),
        "l2 linear bounds": sf.fit("chinchilla", data, y=y, loss="l2", target="linear", bounds={"E": (1.0, 3.0), "alpha": (0.1, None)}),
        "formula starts huber delta": sf.fit("E + A*C^-alpha", c, y=yc, delta=0.05, starts={"E": 1.0, "A": 100.0, "alpha": 0.1},
                                             positive=["A"]),
    }


def _roundtrip(obj, tmp_path, name="r.npz"):
    path = tmp_path / name
    assert _io.save(obj, path) == path
    return _io.load(path)


# -- fits ----------------------------------------------------------------------------------------


def test_fits_round_trip_exactly_and_stay_usable(hoff, one_var, chin, tmp_path):
    for name, f in _fits(hoff, one_var, chin).items():
        g = _roundtrip(f, tmp_path, f"{name}.npz")
        assert type(g) is sf.FitResult and type(g.problem) is type(f.problem)
        assert_same(g, f, name)
        assert g.summary() == f.summary() and g.to_dict() == f.to_dict() and str(g) == str(f)
        data = {v: g.problem.columns[i] for i, v in enumerate(g.variables)}
        assert_same(g.predict(data), f.predict(data), f"{name} predict")
        assert "core" not in g.problem.__dict__  # the Rust state is rebuilt on first use ...
        b1 = sf.bootstrap(f, n_resamples=50, seed=0)
        b2 = sf.bootstrap(g, n_resamples=50, seed=0)  # ... and gives the same resamples, bit for bit
        assert_same(b2.samples, b1.samples, f"{name} bootstrap samples")
        assert_same(b2.status, b1.status, f"{name} bootstrap status")


def test_a_loaded_fit_feeds_the_analyses(chin, tmp_path):
    g = _roundtrip(chin, tmp_path)
    a, b = sf.compute_optimal(chin, C=[1e21, 1e23]), sf.compute_optimal(g, C=[1e21, 1e23])
    assert a.to_dict() == b.to_dict() and a.summary() == b.summary()


def test_a_fit_without_its_problem_round_trips(chin, tmp_path):
    f = copy.copy(chin)
    f.problem = None
    g = _roundtrip(f, tmp_path)
    assert g.problem is None and g.to_dict() == chin.to_dict()
    with pytest.raises(ValueError, match="does not carry"):
        g.predict(N=[1e9], D=[1e11])


# -- bootstraps ----------------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["pairs", "residual", "parametric", "groups"])
def test_bootstraps_round_trip_and_bca_agrees(scheme, chin, tmp_path):
    groups = np.arange(chin.n_points) // 4 if scheme == "groups" else None
    b = sf.bootstrap(chin, n_resamples=100, seed=1, scheme=scheme, groups=groups)
    g = _roundtrip(b, tmp_path)
    assert type(g) is sf.BootstrapResult and g._boot is None
    assert_same(g, b, scheme)
    assert g.summary() == b.summary() and g.to_dict() == b.to_dict() and g.ci() == b.ci()
    assert g.ci(method="bca") == b.ci(method="bca")  # the jackknife, rebuilt from the file's _boot_args
    if scheme == "groups":
        assert_same(g._boot_args["groups"], b._boot_args["groups"])


def test_bca_computed_before_saving_is_kept(chin, tmp_path):
    b = sf.bootstrap(chin, n_resamples=60, seed=2)
    want = b.ci(method="bca")
    g = _roundtrip(b, tmp_path)
    assert g._jack is not None and np.array_equal(g._jack, b._jack)
    assert g.ci(method="bca") == want and g.derived(lambda p: p["alpha"] / p["beta"]).ci(method="bca") == b.derived(
        lambda p: p["alpha"] / p["beta"]).ci(method="bca")


def test_keep_summary_round_trips(chin, tmp_path):
    b = sf.bootstrap(chin, n_resamples=200, seed=3, keep="summary")
    g = _roundtrip(b, tmp_path)
    assert g.samples is None and g._moments is not None
    assert_same(g._moments, b._moments, "_moments")
    assert g.ci() == b.ci() and g.stderr == b.stderr and g.summary() == b.summary() and g.to_dict() == b.to_dict()


def test_cold_start_bootstrap_round_trips(one_var, tmp_path):
    c, y, _ = one_var
    f = sf.fit("E + A*C^-alpha", c, y=y)
    b = sf.bootstrap(f, n_resamples=50, seed=4, warm_start=False)
    g = _roundtrip(b, tmp_path)
    assert_same(g, b)
    assert g.warm_start is False and g._boot_args["extra_starts"] is not None
    assert g.ci(method="bca") == b.ci(method="bca")
    # the loaded fit keeps its start grid: a cold bootstrap from it is the same
    again = sf.bootstrap(g.fit, n_resamples=50, seed=4, warm_start=False)
    assert_same(again.samples, b.samples)


def test_merge_of_loaded_parts_equals_one_call(chin, tmp_path):
    whole = sf.bootstrap(chin, n_resamples=150, seed=5)
    parts = []
    for s, m in ((100, 50), (0, 60), (60, 40)):
        _io.save(sf.bootstrap(chin, n_resamples=m, seed=5, start=s), tmp_path / f"part{s}.npz")
        parts.append(_io.load(tmp_path / f"part{s}.npz"))  # each part loads its own copy of the fit
    merged = sf.BootstrapResult.merge(parts)
    assert_same(merged.samples, whole.samples) and np.array_equal(merged.status, whole.status)
    assert merged.n_resamples == 150 and merged.start == 0
    assert merged.ci() == whole.ci() and merged.ci(method="bca") == whole.ci(method="bca")
    m2 = _roundtrip(merged, tmp_path, "merged.npz")  # and the merge saves and loads too
    assert_same(m2.samples, whole.samples) and m2.summary().splitlines()[:2] == whole.summary().splitlines()[:2]
    with pytest.raises(ValueError, match="leave a gap"):
        sf.BootstrapResult.merge([parts[0], parts[1]])


# -- the generic tree codec (what _moments and _boot_args go through) ----------------------------


def test_json_like_trees_round_trip_through_a_file(chin, tmp_path):
    b = sf.bootstrap(chin, n_resamples=20, seed=6, keep="summary")
    nan_payload = struct.unpack(">d", bytes.fromhex("7ff8000000000123"))[0]
    shared = np.arange(6.0).reshape(2, 3)
    tree = {
        "n": 12, "big": 2**70, "neg": -(2**64), "t": True, "none": None, "s": "ünï\ncode", "x": 0.1, "mz": -0.0,
        "inf": math.inf, "ninf": -math.inf, "nan": math.nan, "payload": nan_payload, "tiny": 5e-324,
        "tuple": (1, (2.5, "a"), []), "list": [1, [2, (3,)], {}], "$weird": {"$array": "not a tag"},
        7: "int key", (1, "k"): "tuple key", None: 0,
        "arrays": [np.array(3.5), np.arange(5, dtype=np.int32), np.array([True, False]), np.array(["ab", "c"]),
                   np.array([1 + 2j]), np.asfortranarray(np.arange(6.0).reshape(2, 3)), np.zeros((0, 4)),
                   np.array([math.nan, -0.0, math.inf]), np.array([1, 2], dtype=">u2")],
        "scalars": [np.float64(1.25), np.int64(-3), np.bool_(True), np.float32(0.1), np.uint8(200), np.str_("z")],
        "shared": [shared, shared],
    }
    b2 = copy.copy(b)
    b2._moments = tree
    g = _roundtrip(b2, tmp_path)
    assert_same(g._moments, tree, "_moments")
    assert g._moments["shared"][0] is g._moments["shared"][1]  # one array object stays one
    assert g._moments["arrays"][5].flags.f_contiguous


def test_unstorable_values_are_a_type_error_naming_where(chin, tmp_path):
    b = sf.bootstrap(chin, n_resamples=20, seed=6)
    for bad, where in [({"h": [1, {2}]}, "BootstrapResult._moments['h'][1]"), ({"o": np.array([None])}, "BootstrapResult._moments['o']"),
                       ({"f": lambda: 0}, "BootstrapResult._moments['f']")]:
        b2 = copy.copy(b)
        b2._moments = bad
        with pytest.raises(TypeError, match="^save: " + re.escape(where) + " is a"):
            _io.save(b2, tmp_path / "x.npz")
        assert not (tmp_path / "x.npz").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # nothing left behind


@given(st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=5)
    | hnp.arrays(st.sampled_from([np.float64, np.int16, np.bool_, np.complex128]), hnp.array_shapes(min_dims=0, max_dims=2, max_side=3)),
    lambda kids: st.lists(kids, max_size=3) | st.tuples(kids, kids) | st.dictionaries(st.text(max_size=3), kids, max_size=3)
    | st.dictionaries(st.integers(), kids, max_size=2),
    max_leaves=12,
))
def test_any_json_like_tree_round_trips(tree):
    enc, arrays = _codec.encode(tree)
    text = json.dumps(enc, allow_nan=False)  # strict JSON: every non-finite float is tagged
    assert_same(_codec.decode(json.loads(text), arrays, lambda name, state: None), tree)


# -- paths, versions, damaged files, bad input ---------------------------------------------------


def test_paths_are_used_as_given(chin, tmp_path):
    p = tmp_path / "fit.results"  # no .npz suffix added: load takes the same path
    assert _io.save(chin, str(p)) == p and p.exists() and not (tmp_path / "fit.results.npz").exists()
    assert_same(_io.load(str(p)), chin)
    assert_same(_io.load(p), chin)
    with zipfile.ZipFile(p) as z:  # an ordinary .npz: numpy reads it without pickle
        assert "scalingfit.npy" in z.namelist()
    with np.load(p, allow_pickle=False) as z:
        meta = json.loads(z["scalingfit"].tobytes())
    assert (meta["format"], meta["format_version"], meta["kind"], meta["scalingfit_version"]) == ("scalingfit", 1, "fit", sf.__version__)
    _io.save(sf.bootstrap(chin, n_resamples=10, seed=0), p)  # replaces the file
    assert type(_io.load(p)) is sf.BootstrapResult
    assert sorted(x.name for x in tmp_path.iterdir()) == ["fit.results"]


def _rewrite_meta(src: Path, dst: Path, **changes):
    with np.load(src, allow_pickle=False) as z:
        members = {k: z[k] for k in z.files}
    meta = json.loads(members["scalingfit"].tobytes())
    meta.update(changes)
    members["scalingfit"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    with open(dst, "wb") as fh:
        np.savez(fh, **members)


def test_newer_versions_and_other_formats_are_refused(chin, tmp_path):
    good = _io.save(chin, tmp_path / "good.npz")
    newer = tmp_path / "newer.npz"
    _rewrite_meta(good, newer, format_version=2, scalingfit_version="9.0")
    with pytest.raises(ValueError) as e:
        _io.load(newer)
    msg = str(e.value)
    for s in (str(newer), "file format version 2", "scalingfit 9.0", "reads format version 1 at most", "upgrade scalingfit"):
        assert s in msg
    other = tmp_path / "other.npz"
    _rewrite_meta(good, other, format="notscalingfit")
    with pytest.raises(ValueError, match=f"cannot load {other}: not a scalingfit results file .format 'notscalingfit'"):
        _io.load(other)
    for v in (0, "1", None, True):
        _rewrite_meta(good, other, format_version=v)
        with pytest.raises(ValueError, match="format version .* is not a positive integer"):
            _io.load(other)
    _rewrite_meta(good, other, kind="bootstrap")
    with pytest.raises(ValueError, match="says it holds a bootstrap but holds a FitResult"):
        _io.load(other)


def test_missing_and_damaged_files_are_clear_errors(chin, tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        _io.load(tmp_path / "nope.npz")
    with pytest.raises(IsADirectoryError):
        _io.load(tmp_path)
    good = _io.save(chin, tmp_path / "good.npz")
    raw = good.read_bytes()
    bad = tmp_path / "bad.npz"
    cases = {
        b"": "the file is empty",
        b"hello, not a zip": "not an .npz archive",
        raw[: len(raw) // 2]: "corrupt or truncated",
        raw[:100]: "corrupt or truncated",
    }
    for content, msg in cases.items():
        bad.write_bytes(content)
        with pytest.raises(ValueError, match=msg) as e:
            _io.load(bad)
        assert str(bad) in str(e.value)
    flipped = bytearray(raw)  # a flipped byte inside a compressed member: the CRC or inflate fails
    flipped[len(raw) // 3] ^= 0xFF
    bad.write_bytes(bytes(flipped))
    with pytest.raises(ValueError, match=f"cannot load {bad}"):
        _io.load(bad)
    np.savez(bad, x=np.arange(3))  # np.savez writes exactly this path when it ends in .npz
    with pytest.raises(ValueError, match=r"an .npz archive, but not a scalingfit results file .no 'scalingfit' member; members: x"):
        _io.load(bad)
    with np.load(good, allow_pickle=False) as z:
        members = {k: z[k] for k in z.files}
    del members["a0"]
    with open(bad, "wb") as fh:
        np.savez(fh, **members)
    with pytest.raises(ValueError, match="array member 'a0' is missing"):
        _io.load(bad)
    members["a0"] = np.zeros(1)
    members["scalingfit"] = np.frombuffer(b"{not json", np.uint8)
    with open(bad, "wb") as fh:
        np.savez(fh, **members)
    with pytest.raises(ValueError, match="corrupt or truncated .JSONDecodeError"):
        _io.load(bad)


def test_unsupported_objects_and_paths_are_type_errors(chin, tmp_path):
    b = sf.bootstrap(chin, n_resamples=20, seed=0)
    for obj in ({"a": 1}, b.derived(lambda p: p["alpha"]), sf.compute_optimal(chin, C=[1e21]), None, chin.problem):
        with pytest.raises(TypeError, match=r"^save: expected a FitResult \(from scalingfit.fit\) or a BootstrapResult \(from scalingfit.bootstrap\), got"):
            _io.save(obj, tmp_path / "x.npz")
    for path in (None, 3, ""):
        with pytest.raises(TypeError, match="path must be a non-empty str or os.PathLike"):
            _io.save(chin, path)
        with pytest.raises(TypeError, match="path must be a non-empty str or os.PathLike"):
            _io.load(path)
    with pytest.raises(FileNotFoundError, match="the directory .*missing does not exist"):
        _io.save(chin, tmp_path / "missing" / "x.npz")
    with pytest.raises(IsADirectoryError, match="is a directory"):
        _io.save(chin, tmp_path)
    assert os.listdir(tmp_path) == []


def test_the_codec_and_the_loader_know_the_same_classes():
    assert set(_io._CLASSES) == set(_codec.OBJECTS) and {"FitResult", "BootstrapResult"} == set(_codec.KINDS)
    for name, cls in _io._CLASSES.items():
        assert cls.__qualname__ == name and cls.__module__.startswith("scalingfit.")
