"""Fuzzing: bad input never kills the process (hypothesis strategies over the public API and the CLI).

Every case is a JSON call spec run by a long-lived worker process (tests/fuzz_worker.py) under a
memory limit (RLIMIT_AS, 4 GiB) and a watchdog (60 s per case): a worker that dies by a signal
or exits is a CRASH, one that does not answer in time is a HANG; either way it is restarted and
the campaign goes on. The worker classifies each call:

- OK / CLEAN_ERROR: returned, or raised ValueError / TypeError / MemoryError / KeyboardInterrupt
  (or a KeyError or an OSError naming its file) whose message names an argument.
- UNCLEAR_ERROR: any other exception type (IndexError, OverflowError, ZeroDivisionError,
  RuntimeError, PanicException, ...) or a numpy/Python-internal message ("could not convert",
  "operands could not be broadcast", ...) or one that names no argument.
- SILENT_NONFINITE: a result whose main numbers are NaN/inf without a failure flag (converged,
  n_invalid, a UserWarning); BAD_RESULT: a broken invariant (knn neighbours).
- NONSTRICT_JSON: a ``to_dict()`` that ``json.dumps(allow_nan=False)`` refuses.
- CLI_FAIL: ``scalingfit.cli.main`` (what ``python -m scalingfit`` runs) let an exception out
  (a Traceback), exited with a code outside {0, 1, 2}, printed more than one error line with
  exit 2, or wrote a results.json that is not strict JSON.

The campaign runs once per session (module fixture) for a time budget, as hypothesis rounds of
fresh seeds; the tests then assert on what it found, each distinct failure with the smallest
reproducer seen. Sizing: ``SCALINGFIT_FUZZ_MINUTES`` (default 1.5, about 1.5-2.5 minutes in all;
10 for the long run; HYPOTHESIS_PROFILE=long, registered in conftest.py, also gives 10 minutes).
``SCALINGFIT_FUZZ_TIMEOUT`` (seconds per case, default 60), ``SCALINGFIT_FUZZ_MEM_BYTES``
(default 4 GiB), ``SCALINGFIT_FUZZ_REPORT`` (JSON report path, default in the temp directory).

    CI=true pytest tests/test_fuzz.py                          # bounded run (~2-3 min)
    SCALINGFIT_FUZZ_MINUTES=10 pytest tests/test_fuzz.py -s    # long run (~10 min)
"""

from __future__ import annotations

import json
import math
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fuzz_worker  # noqa: E402  (the codec and reproducer renderer; importing it has no side effects)

WORKER = Path(__file__).resolve().with_name("fuzz_worker.py")

def _profile() -> str:
    return getattr(settings, "_current_profile", None) or os.environ.get("HYPOTHESIS_PROFILE", "dev")


def _budget_s() -> float:
    env = os.environ.get("SCALINGFIT_FUZZ_MINUTES")
    if env:
        return 60.0 * float(env)
    return 600.0 if _profile() == "long" else 90.0


TIMEOUT = float(os.environ.get("SCALINGFIT_FUZZ_TIMEOUT", "60"))
ROUND = 40  # examples per hypothesis round (each round has its own seed)
REPORT = Path(os.environ.get("SCALINGFIT_FUZZ_REPORT", Path(tempfile.gettempdir()) / "scalingfit_fuzz_report.json"))

INF, NAN = math.inf, math.nan

# =============================================================================================
# strategies: JSON call specs (see fuzz_worker for the tags)

WEIRD_F = [0.0, -0.0, -1.0, 1e-310, 5e-324, 1e300, 1e308, -1e308, INF, -INF, NAN, 1.7976931348623157e308,
           2.2250738585072014e-308, 0.5, 1.0, 1e-300, -1e-310]
WEIRD_I = [0, -1, 1, 2, 3, 2**31, 2**53 + 1, 2**63 - 1, 2**63, 2**64, 2**64 + 1, 10**12, -(2**63), 10**30]
WEIRD_O: list[Any] = [True, False, None, "", "abc", "1.5", "nan", "x", "N", [], {}, [1.0, 2.0], [[1.0], [2.0]],
                      {"$tuple": [1, 2]}, {"$complex": [1.0, 1.0]}, {"$bytes": "00ff"}, {"$np": ["float32", NAN]},
                      {"$np": ["int64", 5]}, {"$np": ["bool_", True]}, {"$np": ["float64", INF]},
                      {"$np": ["uint64", 2**64 - 1]}, {"$np": ["float16", 65504.0]}, "é∞", "\x00"]


def weird() -> st.SearchStrategy:
    return st.one_of(st.sampled_from(WEIRD_F), st.sampled_from(WEIRD_I), st.sampled_from(WEIRD_O),
                     st.floats(), st.integers(-(2**70), 2**70))


# How adversarial the current case is (a factor on every probability of a bad value), drawn per
# case in cases(): a mix of nearly valid cases, which reach the numerics, and hostile ones.
_LEVEL = [1.0]


def chance(draw, pct: float) -> bool:
    """True with probability about ``pct`` % times the case's adversarial level."""
    return draw(st.integers(0, 999)) < 10 * pct * _LEVEL[0]


@st.composite
def maybe(draw, good, pct: int = 30, bad=None):
    """``good`` most of the time, an adversarial value ``pct`` % (times the case's level) of the time."""
    if chance(draw, pct):
        return draw(bad if bad is not None else weird())
    return draw(good if isinstance(good, st.SearchStrategy) else st.sampled_from(good))


@st.composite
def kwargs_of(draw, spec: dict, p_include: int = 25):
    """A subset of keyword arguments: each included with probability p_include %."""
    out = {}
    for k, strat in spec.items():
        if draw(st.integers(0, 99)) < p_include:
            out[k] = draw(strat)
    return out


SCALES = [1e-300, 1e-200, 1e-100, 1e-20, 1e20, 1e100, 1e200, 1e300, 5e-324, 1e-310, 1e308]


@st.composite
def scale(draw, pct: int = 25):
    return draw(st.sampled_from(SCALES)) if chance(draw, pct) else 1.0


def _clean(a: np.ndarray) -> list:
    return [float(v) for v in np.asarray(a, dtype=float).ravel()]


@st.composite
def law1(draw):
    """One-variable data (x, y) from E + A x^-alpha, with adversarial scales and degeneracies."""
    n = draw(st.sampled_from([12, 6, 4, 3, 2, 1, 0])) if chance(draw, 25) else 30
    rng = np.random.default_rng(draw(st.integers(0, 3)))
    xs, ys = draw(scale()), draw(scale())
    E = draw(st.sampled_from([1.7, 0.5, 0.0, 1e-12]))
    A = draw(st.sampled_from([300.0, 1.0, 1e-8, 1e8]))
    alpha = draw(st.sampled_from([0.3, 0.05, 1.0, 3.0, 0.0, -0.5]))
    noise = draw(st.sampled_from([0.01, 0.0, 0.3]))
    deg = draw(st.sampled_from(["constx", "consty", "dupx", "linear"])) if chance(draw, 25) else None
    with np.errstate(all="ignore"):
        t = np.geomspace(1e3, 1e9, n)
        y = (E + A * t**-alpha) * np.exp(noise * rng.standard_normal(n))
        if deg == "constx":
            t = np.full(n, 1e6)
        elif deg == "consty":
            y = np.full(n, 2.0)
        elif deg == "dupx":
            t = np.repeat(t[: max(1, n // 3)], 3)[:n]
        elif deg == "linear":
            y = 1.0 + t * 1e-9
        return _clean(t * xs), _clean(y * ys)


@st.composite
def law2(draw):
    """Two-variable data (N, D, loss) from the Chinchilla law, with adversarial scales and degeneracies."""
    n = draw(st.sampled_from([12, 6, 5, 4, 2, 1, 0])) if chance(draw, 25) else 36
    rng = np.random.default_rng(draw(st.integers(0, 3)))
    ns, ds, ys = (draw(scale(15)) for _ in range(3))
    noise = draw(st.sampled_from([0.01, 0.0, 0.3]))
    deg = draw(st.sampled_from(["constN", "constD", "consty", "collinear"])) if chance(draw, 25) else None
    with np.errstate(all="ignore"):
        N = 10 ** rng.uniform(7, 10, n)
        D = 10 ** rng.uniform(9, 12, n)
        y = (1.69 + 406.4 * N**-0.34 + 410.7 * D**-0.28) * np.exp(noise * rng.standard_normal(n))
        if deg == "constN":
            N = np.full(n, 1e9)
        elif deg == "constD":
            D = np.full(n, 1e11)
        elif deg == "consty":
            y = np.full(n, 2.0)
        elif deg == "collinear":
            D = 20 * N
        return _clean(N * ns), _clean(D * ds), _clean(y * ys)


@st.composite
def mutate(draw, vals: list, pct: int = 30):
    """Adversarial edits of a list of floats: weird elements, truncation, appended or dropped values."""
    vals = list(vals)
    if not chance(draw, pct):
        return vals
    for _ in range(draw(st.integers(1, 2))):
        op = draw(st.sampled_from(["set", "set", "set", "truncate", "drop", "append", "empty", "fill"]))
        if op == "set" and vals:
            vals[draw(st.integers(0, len(vals) - 1))] = draw(st.sampled_from(WEIRD_F))
        elif op == "truncate" and vals:
            vals = vals[: draw(st.integers(0, len(vals) - 1))]
        elif op == "drop" and vals:
            del vals[draw(st.integers(0, len(vals) - 1))]
        elif op == "append":
            vals.append(draw(st.sampled_from(WEIRD_F + [1.0, 2.0])))
        elif op == "empty":
            vals = []
        elif op == "fill" and vals:
            vals = [draw(st.sampled_from(WEIRD_F))] * len(vals)
    return vals


def arr(vals: list, dtype: str = "float64", shape: list | None = None, via: str = "float") -> dict:
    return {"$arr": {"v": vals, "shape": shape if shape is not None else [len(vals)], "dtype": dtype, "via": via}}


@st.composite
def encode(draw, vals: list, pct: int = 30):
    """A representation of a 1-D list of numbers: float64 array (mostly), other dtypes, shapes, containers."""
    if not chance(draw, pct):
        return arr(vals)
    how = draw(st.sampled_from(["list", "float32", "int64", "uint8", "float16", "bool", "object", "object_bad",
                                "complex", "str", "2d_col", "2d_row", "scalar", "series", "tuple", "none", "int8",
                                "nested_ragged"]))
    n = len(vals)
    if how == "list":
        return vals
    if how in ("float32", "int64", "uint8", "float16", "bool", "int8"):
        return arr(vals, how)
    if how == "object":
        return arr(vals, "object", via="object")
    if how == "object_bad":
        v = list(vals) + [draw(st.sampled_from([None, "abc", 2**64, {"$complex": [1.0, 2.0]}, [1.0], True]))]
        return arr(v[-n:] if n else v, "object", via="object")
    if how == "complex":
        return arr([[x, draw(st.sampled_from([0.0, 1.0]))] for x in vals], "complex128", via="complex")
    if how == "str":
        return arr([repr(x) for x in vals], "str", via="str")
    if how == "2d_col":
        return arr(vals, shape=[n, 1])
    if how == "2d_row":
        return arr(vals, shape=[1, n])
    if how == "scalar":
        return vals[0] if vals else 1.0
    if how == "series":
        return {"$series": arr(vals)}
    if how == "tuple":
        return {"$tuple": vals}
    if how == "nested_ragged":
        return [vals, vals[:1]]
    return None


@st.composite
def column(draw, vals: list, pct: int = 30):
    return draw(encode(draw(mutate(vals, pct)), pct))


# --- formulas --------------------------------------------------------------------------------

NAMED = {
    "power_law": (["x"], ["A", "alpha"]),
    "power_law_plus_constant": (["x"], ["E", "A", "alpha"]),
    "chinchilla": (["N", "D"], ["E", "A", "alpha", "B", "beta"]),
    "kaplan_nd": (["N", "D"], ["Nc", "alpha_N", "alpha_D", "Dc"]),
    "bnsl": (["x"], ["a", "b", "c0", "d1", "f1", "c1"]),
    "data_constrained": (["N", "D", "U"], ["E", "A", "alpha", "B", "Rd", "beta"]),
    "sigmoid_accuracy": (["C"], ["lo", "hi", "k", "m"]),
    "accuracy_from_loss": (["L"], ["lo", "hi", "k", "m"]),
}
FORMULAS = [
    ("E + A*x^-alpha", ["x"], ["E", "A", "alpha"]),
    ("A*x^-alpha", ["x"], ["A", "alpha"]),
    ("E + A*x**-alpha", ["x"], ["E", "A", "alpha"]),
    ("E + A*exp(-b*x)", ["x"], ["E", "A", "b"]),
    ("a + b*log(x)", ["x"], ["a", "b"]),
    ("E + A*x^-alpha + B*x^-beta", ["x"], ["E", "A", "alpha", "B", "beta"]),
    ("sqrt(A*x) + E", ["x"], ["A", "E"]),
    ("E + A / (1 + x/x0)^alpha", ["x"], ["E", "A", "x0", "alpha"]),
    ("E + A*N^-alpha + B*D^-beta", ["N", "D"], ["E", "A", "alpha", "B", "beta"]),
    ("E + B*D^-beta + A*N^-alpha", ["N", "D"], ["E", "B", "beta", "A", "alpha"]),
    ("E + (A*N^-alpha + B*D^-beta)^g", ["N", "D"], ["E", "A", "alpha", "B", "beta", "g"]),
    ("A*x", ["x"], ["A"]),
    ("x", ["x"], []),
    ("E + A*x^-alpha/0", ["x"], ["E", "A", "alpha"]),
    ("E + A*x^-1e308", ["x"], ["E", "A"]),
    ("exp(exp(exp(A*x)))", ["x"], ["A"]),
    ("log(log(A*x))", ["x"], ["A"]),
    ("E - E + A*x^-alpha", ["x"], ["E", "A", "alpha"]),
    # the functions of the formula language
    ("lo + (hi - lo)*logistic(k*(log10(x) - c))", ["x"], ["lo", "hi", "k", "c"]),
    ("E + A*exp(-x/tau)*sin(w*x + phi)", ["x"], ["E", "A", "tau", "w", "phi"]),
    ("a + b*cos(2*3.14159*x/p) + c*sin(2*3.14159*x/p)", ["x"], ["a", "b", "p", "c"]),
    ("E + softplus(A - x) + abs(B)*tanh(x/s)", ["x"], ["E", "A", "B", "s"]),
    ("smoothmin(A*x^-alpha, B, k) + pow(x, -g) + atan(t*x)", ["x"], ["A", "alpha", "B", "k", "g", "t"]),
    ("log1p(A*x) + expm1(-b*x) + tan(c*x)", ["x"], ["A", "b", "c"]),
]
TOKENS = ["x", "E", "A", "alpha", "+", "-", "*", "/", "^", "**", "(", ")", "1", "0", "2.5", "1e308", "1e-310", "1e999",
          "nan", "inf", "exp(", "log(", "ln(", "sqrt(", "foo(", "sin(", "pow(", "logistic(", "smoothmax(", "tan(", "abs(", "é", "∞", "x²", "_", "1.2.3", "..", " ", "\t",
          "\n", "\x00", "𝑥", "١", "E1", "x_", ",", "=", "!", "'", "\"", "[", "]", "{", "}", "$", "#", "\\", "e", "."]


@st.composite
def formula(draw):
    """(form string, variables, parameters) -- params is None when unknown."""
    k = draw(st.integers(0, 99))
    if not chance(draw, 40):
        k = draw(st.integers(0, 64))
    if k < 35:
        name = draw(st.sampled_from(sorted(NAMED)))
        return name, NAMED[name][0], NAMED[name][1]
    if k < 65:
        f, v, p = draw(st.sampled_from(FORMULAS))
        return f, v, p
    if k < 80:
        toks = draw(st.lists(st.sampled_from(TOKENS), min_size=1, max_size=12))
        return "".join(toks), ["x"], None
    if k < 88:
        depth = draw(st.sampled_from([150, 199, 200, 201, 999, 1000, 1001, 3000]))
        tpl = draw(st.sampled_from(["paren", "neg", "pow", "exp", "sum", "sqrt", "mixed"]))
        if tpl == "paren":
            s = "(" * depth + "A*x" + ")" * depth
        elif tpl == "neg":
            s = "-" * depth + "A*x"
        elif tpl == "pow":
            s = "A*x" + "^x" * depth
        elif tpl == "exp":
            s = "exp(" * depth + "A*x" + ")" * depth
        elif tpl == "sum":
            s = " + ".join(["a*x"] * depth)
        elif tpl == "sqrt":
            s = "sqrt(" * depth + "A*x" + ")" * (depth - draw(st.sampled_from([0, 1])))
        else:
            s = "(-" * depth + "A*x" + ")" * depth
        return s, ["x"], None
    if k < 95:
        return draw(st.text(max_size=16)), ["x"], None
    return draw(st.sampled_from(["", " ", "chinchila", "Chinchilla", "power_law ", "x^", "E + A*x^-alpha +", "()",
                                 "A*x^-alpha ^ ^", "1e309*x*A", "A*x^(1/0)"])), ["x"], None


# --- fit -------------------------------------------------------------------------------------


def _good_start_value(p: str) -> float:
    return {"alpha": 0.3, "beta": 0.3, "E": 1.5, "A": 300.0, "B": 300.0}.get(p, 1.0)


@st.composite
def starts_for(draw, params):
    if not params:
        return draw(weird())
    kind = draw(st.sampled_from(["dict", "list", "array", "bad_keys", "weird", "empty", "array_cols"]))
    row = {p: draw(maybe(st.just(_good_start_value(p)), 30, st.sampled_from(WEIRD_F))) for p in params}
    if kind == "dict":
        return row
    if kind == "list":
        return [row, {p: _good_start_value(p) for p in params}]
    if kind == "array":
        s = draw(st.sampled_from([1, 2, 3]))
        return arr([row[p] for p in params] * s, shape=[s, len(params)])
    if kind == "array_cols":
        return arr([1.0] * (len(params) + 1), shape=[1, len(params) + 1])
    if kind == "bad_keys":
        return {**row, "zzz": 1.0}
    if kind == "empty":
        return draw(st.sampled_from([[], {}, arr([], shape=[0, len(params)])]))
    return draw(weird())


@st.composite
def grid_for(draw, params):
    if not params:
        return draw(weird())
    kind = draw(st.sampled_from(["small", "small", "weird_vals", "missing", "empty_axis", "huge", "weird"]))
    if kind == "small":
        return {p: [_good_start_value(p), 2 * _good_start_value(p)] for p in params}
    if kind == "weird_vals":
        return {p: [draw(st.sampled_from(WEIRD_F)), _good_start_value(p)] for p in params}
    if kind == "missing":
        return {p: [1.0] for p in params[:-1]}
    if kind == "empty_axis":
        return {p: ([] if i == 0 else [1.0]) for i, p in enumerate(params)}
    if kind == "huge":  # 60^p starts: a grid far too large to fit in memory for p >= 5
        return {p: [_good_start_value(p) * (1 + i / 60) for i in range(60)] for p in params}
    return draw(weird())


@st.composite
def data_for(draw, variables: list[str], pct: int = 30):
    """(data, y, n): data dict (or DataFrame / other) holding the variables, y an array or a column name."""
    if len(variables) == 2:
        N, D, y = draw(law2())
        cols = {variables[0]: N, variables[1]: D}
    elif len(variables) == 3:  # data_constrained: N, D and unique tokens U (here D/3: three epochs)
        N, D, y = draw(law2())
        cols = {variables[0]: N, variables[1]: D, variables[2]: [d / 3 if isinstance(d, (int, float)) else d for d in D]}
    else:
        x, y = draw(law1())
        cols = {variables[0]: x}
    n = len(y)
    data: Any = {k: draw(column(v, pct)) for k, v in cols.items()}
    yv: Any = draw(column(y, pct))
    if chance(draw, pct):
        how = draw(st.sampled_from(["y_name", "extra_col", "missing_col", "df", "none", "list", "int_keys",
                                    "unicode_keys", "y_name_missing", "rename"]))
        if how == "y_name":
            data["loss"] = yv
            yv = "loss"
        elif how == "y_name_missing":
            yv = "nope"
        elif how == "extra_col":
            data["extra"] = arr([1.0] * n)
        elif how == "missing_col":
            data.pop(variables[-1])
        elif how == "df":
            data = {"$df": [[k, v] for k, v in data.items()]}
        elif how == "none":
            data = None
        elif how == "list":
            data = [data[k] for k in data]
        elif how == "int_keys":
            data = {"$dict": [[i, v] for i, v in enumerate(data.values())]}
        elif how == "unicode_keys":
            data = {f"{k}é∞": v for k, v in data.items()}
        elif how == "rename":
            data = {f"col_{k}": v for k, v in data.items()}
    return data, yv, n


FIT_KW = {
    "loss": maybe(["huber", "l2"]),
    "delta": maybe([1e-3, 0.1, 1.0, 1e-12]),
    "target": maybe(["log", "linear"]),
    "n_starts": maybe([1, 2, 8, 64], 40, st.sampled_from(WEIRD_I + [True, 1.5, None, "8"])),
    "max_iter": maybe([1, 5, 100], 40, st.sampled_from(WEIRD_I + [True, 1.5, None])),
    "ftol": maybe([0.0, 1e-14, 1e-3]),
    "xtol": maybe([0.0, 1e-12, 1e-3]),
    "gtol": maybe([0.0, 1e-12, 1e-3]),
    "n_threads": maybe([None, 0, 1, 2], 40, st.sampled_from(WEIRD_I + [1024, 1025, True, 1.5, "2"])),
}


@st.composite
def fit_call(draw, pct: int = 30, p_kw: int = 25):
    form, variables, params = draw(formula())
    data, y, n = draw(data_for(variables, pct))
    kw: dict[str, Any] = {"y": y}
    kw.update(draw(kwargs_of(FIT_KW, p_kw)))
    pnames = params or ["E", "A", "alpha"]
    if draw(st.integers(0, 99)) < p_kw:
        kw["positive"] = draw(maybe(st.lists(st.sampled_from(pnames), max_size=3, unique=True), 40,
                                    st.sampled_from([["nope"], "E", "alpha", None, [1], [[]]])))
    if draw(st.integers(0, 99)) < p_kw:
        p = draw(st.sampled_from(pnames))
        kw["bounds"] = draw(maybe(st.just({p: {"$tuple": [0.0, 10.0]}}), 60, st.one_of(
            st.builds(lambda a, b: {p: {"$tuple": [a, b]}}, st.sampled_from(WEIRD_F + [None]), st.sampled_from(WEIRD_F + [None])),
            st.sampled_from([{p: [1.0]}, {p: "ab"}, {"nope": [0.0, 1.0]}, {p: None}, {p: [1.0, 2.0, 3.0]}, [[p, 0, 1]]]),
            st.builds(lambda w: {p: w}, weird()))))
    if draw(st.integers(0, 99)) < p_kw:
        w = [1.0] * n
        kw["weights"] = draw(column(w, 50))
    if draw(st.integers(0, 99)) < p_kw // 2:
        kw["starts"] = draw(starts_for(params))
    if draw(st.integers(0, 99)) < p_kw // 3:
        kw["grid"] = draw(grid_for(params))
    if chance(draw, 8):
        kw["columns"] = draw(st.sampled_from([{"x": "size"}, {"N": "D"}, {"nope": "x"}, {1: "x"}, {"x": 1}, "x", ["x"]]))
        if isinstance(kw["columns"], dict) and 1 in kw["columns"]:
            kw["columns"] = {"$dict": [[1, "x"]]}
    return {"$call": ["sf.fit", [form, data], kw]}


# --- receivers: prepared refs or fits to adversarial data ---------------------------------------

FIT_REFS_2 = ["chin", "chin_formula", "kaplan", "real_chin"]
FIT_REFS_1 = ["pl", "bnsl"]
BS_REFS = ["chin_bs", "chin_bs_summary", "kaplan_bs", "pl_bs"]


@st.composite
def inline_fit(draw, two: bool | None = None):
    """A fit to adversarially scaled / degenerate data (mostly valid types, so the fit often succeeds)."""
    if two is None:
        two = draw(st.booleans())
    form = draw(st.sampled_from(["chinchilla", "chinchilla", "kaplan_nd", "E + A*N^-alpha + B*D^-beta"] if two else
                                ["power_law_plus_constant", "power_law", "bnsl", "E + A*x^-alpha"]))
    variables = NAMED[form][0] if form in NAMED else (["N", "D"] if two else ["x"])
    data, y, n = draw(data_for(variables, 8))
    kw = {"y": y, **draw(kwargs_of({"loss": st.sampled_from(["huber", "l2"]), "target": st.sampled_from(["log", "linear"]),
                                    "n_starts": st.sampled_from([1, 4]), "max_iter": st.sampled_from([1, 3, 500])}, 15))}
    return {"$call": ["sf.fit", [form, data], kw]}


@st.composite
def fit_source(draw, two: bool | None = None):
    k = draw(st.integers(0, 99))
    if k < 45:
        refs = FIT_REFS_2 if two else FIT_REFS_1 if two is False else FIT_REFS_2 + FIT_REFS_1 + ["chin_nodata"]
        return {"$ref": draw(st.sampled_from(refs))}
    return draw(inline_fit(two))


BOOT_KW = {
    "n_resamples": maybe([1, 2, 5, 20], 40, st.sampled_from([0, -1, 10**12, 2**63, 2**64, 2**64 + 1, True, 1.5, None, "5"])),
    "scheme": maybe(["pairs", "residual", "parametric", "groups"]),
    "seed": maybe([0, 1, None, 2**64 - 1], 40, st.sampled_from([-1, 2**64, 1.5, True, "0"])),
    "start": maybe([0, 2**64 - 50, 5], 40, st.sampled_from([-1, 2**64, 2**64 - 1, 1.5, True, None])),
    "warm_start": maybe([True, False], 10),
    "keep": maybe(["samples", "summary"]),
    "progress": maybe([False, True], 10),
    "n_threads": FIT_KW["n_threads"],
    "chunk_size": maybe([None, 1, 7], 40, st.sampled_from([0, -1, 2**64, 1.5, True])),
}


@st.composite
def bootstrap_call(draw, small: bool = False):
    src = draw(fit_source())
    kw = draw(kwargs_of(BOOT_KW, 30))
    if small or "n_resamples" not in kw:
        kw.setdefault("n_resamples", draw(st.sampled_from([3, 10, 30])))
    if kw.get("keep") == "summary" and isinstance(kw.get("n_resamples"), int) and kw["n_resamples"] > 10**6:
        kw["keep"] = "samples"  # a legitimately endless run, not a bug: keep='summary' has no size check by design
    if kw.get("scheme") == "groups" or chance(draw, 5):
        n = draw(st.sampled_from([108, 40, 36, 30, 5]))
        g = [i % draw(st.sampled_from([1, 2, 7])) for i in range(n)]
        kw["groups"] = draw(encode(g, 30))
    return {"$call": ["sf.bootstrap", [src], kw]}


@st.composite
def analysis_source(draw, two: bool | None = None):
    k = draw(st.integers(0, 99))
    if k < 30:
        return {"$ref": draw(st.sampled_from(BS_REFS + ["chin_bs"]))}
    if k < 60:
        return draw(fit_source(two))
    if k < 85:
        return {"$call": ["sf.bootstrap", [draw(inline_fit(two))], {"n_resamples": draw(st.sampled_from([3, 20])), "seed": 0}]}
    return draw(weird())


C_GOOD = st.sampled_from([1e21, [1e18, 1e21, 1e24], 5.76e23, [1e20], None])
LEVEL = maybe([0.95, 0.9, 0.5], 30, st.sampled_from([0, 1, NAN, 1.5, -0.1, True, 1 - 1e-17, 5e-324, "0.95", None]))
K = maybe([6.0, 6, 2.0], 25)
RESOURCES = maybe([None, ["N", "D"], ["D", "N"]], 30, st.sampled_from([["N", "N"], "ND", ["x", "y"], ["N"], ["N", "D", "E"], [1, 2]]))


@st.composite
def weird_array(draw, good: list):
    vals = draw(mutate(good, 60))
    if chance(draw, 30):
        vals = [draw(st.sampled_from(WEIRD_F)) for _ in range(draw(st.integers(1, 4)))]
    return draw(encode(vals, 30))


@st.composite
def analysis_call(draw):
    fn = draw(st.sampled_from(["compute_optimal", "compute_optimal", "required", "required", "returns",
                               "optimize_budget", "optimize_budget", "extrapolate", "extrapolate"]))
    two = None if fn in ("returns", "extrapolate", "required") else True
    src = draw(analysis_source(two))
    if fn == "compute_optimal":
        args = [src]
        kw = draw(kwargs_of({"C": st.one_of(C_GOOD, weird_array([1e18, 1e21, 1e24]), weird()), "k": K, "level": LEVEL,
                             "method": maybe(["auto", "closed_form", "numerical"]), "resources": RESOURCES}, 40))
    elif fn == "required":
        loss = draw(st.one_of(st.sampled_from([2.0, [1.9, 2.5], 1.69, 1.6901, 3.0, 1e-300, 1e300, [2.0, 2.0]]),
                              weird_array([2.0, 2.5]), weird()))
        args = [src, loss]
        kw = draw(kwargs_of({"k": K, "level": LEVEL, "resources": RESOURCES, "method": maybe(["auto", "numerical"])}, 30))
    elif fn == "returns":
        args = [src]
        kw = draw(kwargs_of({"factor": maybe([2.0, 10.0, 1.0000001, 1e10], 50), "level": LEVEL}, 50))
    elif fn == "optimize_budget":
        price = st.sampled_from([1e-9, 2e-12, 1.0] + WEIRD_F + ["1", None, True])
        prices = draw(maybe(st.just({"N": 1e-9, "D": 2e-12}), 50, st.one_of(
            st.builds(lambda a, b: {"N": a, "D": b}, price, price),
            st.sampled_from([{"N": 1.0}, {"N": 1.0, "D": 1.0, "E": 1.0}, {}, [1.0, 2.0], None, {"x": 1.0, "y": 1.0}]))))
        args = [src, prices]
        goal = draw(st.sampled_from(["budget", "budget", "loss", "both", "none"]))
        kw = {}
        if goal in ("budget", "both"):
            kw["budget"] = draw(maybe([1e3, 1e6, 1e12, 1.0], 40))
        if goal in ("loss", "both"):
            kw["loss"] = draw(maybe([2.0, 2.5, 1.7, 1.69], 40))
        kw.update(draw(kwargs_of({"k": K, "level": LEVEL, "resources": RESOURCES}, 25)))
    else:
        two_pts = draw(st.booleans())
        cols = {"N": [1e11, 7e10], "D": [1e13, 1.4e12]} if two_pts else {"x": [1e12, 1e13]}
        data = {k: draw(weird_array(v)) if chance(draw, 40) else arr(v) for k, v in cols.items()}
        if chance(draw, 15):
            data = draw(st.sampled_from([None, {}, {"q": arr([1.0])}, [1.0, 2.0]]))
        args = [src, data] if data is not None else [src]
        kw = draw(kwargs_of({"level": LEVEL, "interval": maybe(["prediction", "confidence"]),
                             "seed": maybe([0, 1], 40, st.sampled_from([-1, 2**64, 2**128, 1.5, "s", None]))}, 30))
    return {"$call": [f"sf.{fn}", args, kw]}


@st.composite
def backtest_call(draw):
    form, variables, params = draw(formula()) if draw(st.integers(0, 99)) < 30 else (
        lambda nm: (nm, NAMED[nm][0], NAMED[nm][1]))(draw(st.sampled_from(["chinchilla", "power_law_plus_constant", "kaplan_nd"])))
    data, y, n = draw(data_for(variables, 15))
    kw: dict[str, Any] = {"y": y}
    hold = draw(maybe(["top_compute", "top_N", "top_D", "top_x"], 40, st.one_of(
        st.sampled_from([arr([1.0] * n, "bool"), arr([0.0] * n, "bool"), [0], [-1], [n], [n + 5], [], [0.5], [[0, 1]],
                         arr([1.0, 0.0], "bool"), "top_", "top_loss", [-n - 1], [2**64]]),
        weird())))
    kw["holdout"] = hold
    kw.update(draw(kwargs_of({"frac": maybe([0.1, 0.3, 0.5]), "k": K, "n_resamples": maybe([0, 5, 20], 40,
                              st.sampled_from([-1, 10**12, 2**64, 1.5, True, None])), "level": LEVEL,
                              "interval": maybe(["prediction", "confidence"]), "seed": maybe([0, 1], 20),
                              "n_threads": FIT_KW["n_threads"], "loss": FIT_KW["loss"], "target": FIT_KW["target"]}, 25)))
    kw.setdefault("n_resamples", draw(st.sampled_from([0, 5])))
    return {"$call": ["sf.backtest", [form, data], kw]}


@st.composite
def method_call(draw):
    """Methods and properties of results: predict, BootstrapResult.ci/derived/..., result intervals, Distribution."""
    k = draw(st.integers(0, 99))
    if k < 35:  # predict / __call__
        src = draw(fit_source())
        two = draw(st.booleans())
        cols = {"N": [7e10, 1e9], "D": [1.4e12, 2e10]} if two else {"x": [1e12, 1e6]}
        data: Any = {c: draw(weird_array(v)) if chance(draw, 40) else arr(v) for c, v in cols.items()}
        if chance(draw, 15):
            data = draw(st.sampled_from([None, {}, [1.0], "N", {"N": arr([1.0]), "D": arr([1.0, 2.0])}]))
        meth = draw(st.sampled_from(["predict", "predict", "__call__"]))
        if draw(st.booleans()) and isinstance(data, dict) and all(isinstance(c, str) for c in data):
            return {"$call": [{"$meth": [src, meth]}, [], data]}
        return {"$call": [{"$meth": [src, meth]}, [data], {}]}
    if k < 70:  # BootstrapResult
        src = draw(st.one_of(st.builds(lambda r: {"$ref": r}, st.sampled_from(BS_REFS)), bootstrap_call(small=True)))
        m = draw(st.sampled_from(["ci", "ci", "derived", "summary", "to_dict", "stderr", "cov", "mean", "n_converged"]))
        if m == "ci":
            return {"$call": [{"$meth": [src, "ci"]}, [], draw(kwargs_of({"level": LEVEL, "method": maybe(["percentile", "basic", "bca"])}, 60))]}
        if m == "derived":
            func = draw(st.sampled_from([
                {"$lambda": "lambda p: p['beta'] / (p['alpha'] + p['beta'])"},
                {"$lambda": "lambda p: p['alpha'] * 0 + float('nan')"},
                {"$lambda": "lambda p: p['alpha'] / (p['alpha'] - p['alpha'])"},
                {"$lambda": "lambda p: 'abc'"},
                {"$lambda": "lambda p: [1.0, 2.0, 3.0]"},
                {"$lambda": "lambda p: math.log(p['alpha'])"},
                {"$lambda": "lambda p: None"},
                {"$lambda": "lambda p: p['E'] * 1e308 * 1e308"},
                None, 1.0, "beta",
            ]))
            return {"$call": [{"$meth": [src, "derived"]}, [func], draw(kwargs_of({"name": maybe(["a"])}, 30))]}
        if m in ("summary", "to_dict"):
            return {"$call": [{"$meth": [src, m]}, [], draw(kwargs_of({"level": LEVEL}, 60))]}
        return {"$attr": [src, m]}
    if k < 85:  # analysis results: interval / ci / stderr
        src = {"$ref": draw(st.sampled_from(["chin_opt_bs", "chin_req_bs"]))}
        m = draw(st.sampled_from(["interval", "interval", "ci", "stderr", "to_dict"]))
        if m == "interval":
            return {"$call": [{"$meth": [src, "interval"]}, [draw(maybe(["N", "a", "C", "D", "loss"], 40))],
                              draw(kwargs_of({"level": LEVEL}, 50))]}
        if m == "to_dict":
            return {"$call": [{"$meth": [src, m]}, [], {}]}
        return {"$attr": [src, m]}
    src = {"$ref": "chin_dist"}  # Distribution
    m = draw(st.sampled_from(["ci", "summary", "to_dict"]))
    return {"$call": [{"$meth": [src, m]}, [], draw(kwargs_of({"level": LEVEL, **({"method": maybe(["percentile", "basic", "bca"])} if m == "ci" else {})}, 60))]}


# --- dimension -------------------------------------------------------------------------------


@st.composite
def points(draw):
    if chance(draw, 8):  # large point sets, generated in the worker
        kind = draw(st.sampled_from(["normal", "uniform", "lowrank"]))
        n = draw(st.sampled_from([2000, 5000, 20000]))
        shape = [n, draw(st.sampled_from([128, 200])), draw(st.sampled_from([2, 5]))] if kind == "lowrank" else \
            [n, draw(st.sampled_from([1, 2, 3, 8]))]
        return {"$gen": [kind, draw(st.integers(0, 3)), shape, draw(scale(20))]}, n
    n = draw(st.sampled_from([30, 10, 5, 3, 2, 1, 0])) if chance(draw, 25) else draw(st.sampled_from([100, 300]))
    dim = draw(st.sampled_from([2, 3, 1, 5, 10] + ([100] if n <= 100 else []) + ([0] if chance(draw, 10) else [])))
    rng = np.random.default_rng(draw(st.integers(0, 3)))
    kind = draw(st.sampled_from(["line", "grid", "dups", "const", "int", "sphere"])) if chance(draw, 30) else "gauss"
    sc = draw(scale(25))
    with np.errstate(all="ignore"):
        if kind == "gauss":
            X = rng.standard_normal((n, dim))
        elif kind == "line":
            X = np.outer(np.linspace(0, 1, n), np.ones(dim))
        elif kind == "grid":
            X = np.floor(rng.uniform(0, 3, (n, dim)))
        elif kind == "dups":
            X = np.repeat(rng.standard_normal((max(1, n // 4), dim)), 4, axis=0)[:n]
            X = np.vstack([X, np.zeros((n - len(X), dim))]) if len(X) < n else X
        elif kind == "const":
            X = np.ones((n, dim))
        elif kind == "int":
            X = rng.integers(-5, 5, (n, dim)).astype(float)
        else:
            Z = rng.standard_normal((n, dim))
            X = Z / np.maximum(np.linalg.norm(Z, axis=1, keepdims=True), 1e-300)
        X = X * sc
    vals = _clean(X)
    shape = [n, dim]
    if vals and chance(draw, 15):
        for _ in range(draw(st.integers(1, 3))):
            vals[draw(st.integers(0, len(vals) - 1))] = draw(st.sampled_from(WEIRD_F))
    X = arr(vals, shape=shape)
    if chance(draw, 20):
        how = draw(st.sampled_from(["1d", "3d", "float32", "int64", "bool", "object", "complex", "str", "list", "T", "none"]))
        if how == "1d":
            shape = [len(vals)]
        elif how == "3d" and n and dim:
            shape = [n, dim, 1]
        elif how in ("float32", "int64", "bool"):
            X = arr(vals, how, shape)
        elif how == "object":
            X = arr(vals, "object", shape, via="object")
        elif how == "complex":
            X = arr([[v, 0.0] for v in vals], "complex128", shape, via="complex")
        elif how == "str":
            X = arr([repr(v) for v in vals], "str", shape, via="str")
        elif how == "list":
            X = [vals[i * dim:(i + 1) * dim] for i in range(n)] if dim else [[] for _ in range(n)]
        elif how == "T" and n and dim:
            X = {"$attr": [arr(vals, shape=shape), "T"]}
        elif how == "none":
            X = None
        if how in ("1d", "3d"):
            X = arr(vals, shape=shape)
    return X, n


DIM_INT_BAD = st.sampled_from([0, -1, 2**63, 2**64, 10**12, True, 1.5, None, "3", {"$np": ["int64", 3]}])
ALGO = maybe(["auto", "brute", "kdtree", "projected"], 20)
THREADS0 = maybe([0, 1, 2], 20, st.sampled_from([-1, 1024, 1025, 2**64, True, None, 1.5]))


@st.composite
def dimension_call(draw):
    fn = draw(st.sampled_from(["knn", "knn", "knn", "twonn", "mle", "mle", "tile", "tile", "compare", "estimate"]))
    if fn in ("knn", "twonn", "mle", "tile"):
        X, n = draw(points())
    if fn == "knn":
        k = draw(maybe([1, 2, 5, 10] + ([max(n - 1, 1)] if n <= 300 else [50]) + ([n, n + 1] if chance(draw, 20) else []), 25, DIM_INT_BAD))
        return {"$call": ["sf.dimension.knn", [X, k], draw(kwargs_of({"algorithm": ALGO, "n_threads": THREADS0}, 40))]}
    if fn == "twonn":
        kw = draw(kwargs_of({"discard_fraction": maybe([0.0, 0.1, 0.5, 0.99], 40), "method": maybe(["linear", "ml", "mle"]),
                             "algorithm": ALGO, "n_threads": THREADS0}, 40))
        return {"$call": ["sf.dimension.twonn", [X], kw]}
    if fn == "mle":
        kw = draw(kwargs_of({"k": maybe([2, 3, 5, 20] + ([max(n - 1, 2)] if n <= 300 else [50]), 25, DIM_INT_BAD), "unbiased": maybe([False, True], 10),
                             "algorithm": ALGO, "n_threads": THREADS0}, 50))
        return {"$call": ["sf.dimension.mle", [X], kw]}
    if fn == "tile":
        kw = draw(kwargs_of({
            "sizes": maybe([None, [10, 20, 40], [8, 16], [50, 100, 200]], 40, st.sampled_from(
                [[0], [1, 1], [1000], [2**64], [[10, 20]], "abc", [], [10, 10, 10], [10.5, 20], [-10, 20]])),
            "n_sizes": maybe([3, 4, 6], 30, DIM_INT_BAD),
            "n_draws": maybe([1, 2, 10], 30, st.sampled_from([0, -1, 2**63, 2**64, True, 1.5, None])),
            "k": maybe([1, 2, 3], 30, DIM_INT_BAD),
            "seed": maybe([0, 1, 2**64 - 1], 30, st.sampled_from([-1, 2**64, 1.5, None, True])),
            "n_boot": maybe([0, 10, 100], 30, st.sampled_from([-1, 2**63, 2**64, True, 1.5, None])),
            "abscissa": maybe(["log", "digamma"]),
            "algorithm": ALGO, "n_threads": THREADS0}, 35))
        kw.setdefault("n_boot", 50)
        return {"$call": ["sf.dimension.tile", [X], kw]}
    est = {"$ref": draw(st.sampled_from(["tile_est", "twonn_est", "mle_est"]))}
    if fn == "compare":
        est = draw(maybe(st.just(est), 10))
        fit = draw(st.one_of(st.builds(lambda r: {"$ref": r}, st.sampled_from(["pl", "chin", "bnsl"])),
                             st.sampled_from([0.3, {"$tuple": [0.3, 0.05]}, {"$tuple": [0.3, None]}] + WEIRD_F),
                             st.builds(lambda a, b: {"$tuple": [a, b]}, st.sampled_from(WEIRD_F), st.sampled_from(WEIRD_F)),
                             weird()))
        kw = draw(kwargs_of({"name": maybe(["alpha", "beta", "E"], 30), "factor": maybe([4.0, 2.0], 40), "level": LEVEL}, 40))
        return {"$call": ["sf.dimension.compare", [est, fit], kw]}
    m = draw(st.sampled_from(["ci", "predicted_alpha"]))
    kw = draw(kwargs_of({"level": LEVEL, **({"factor": maybe([4.0, 2.0], 40)} if m == "predicted_alpha" else {})}, 60))
    return {"$call": [{"$meth": [est, m]}, [], kw]}


@st.composite
def plot_call(draw):
    src = draw(maybe(st.builds(lambda r: {"$ref": r}, st.sampled_from(["chin", "chin_bs", "pl", "pl_bs", "kaplan", "chin_nodata"])), 15))
    kind = draw(maybe(["law", "isoflop", "optimal", "residuals", "pairs"], 15))
    kw = draw(kwargs_of({"level": LEVEL, "k": K, "title": maybe([None, "t"], 40),
                         "path": maybe(st.just({"$path": "p.png"}), 40, st.sampled_from([{"$path": "p.xyz"}, {"$path": "nodir/p.png"}, "", 1.0])),
                         "C": st.one_of(C_GOOD, weird_array([1e20, 1e22]))}, 25))
    return {"$call": ["sf.plot", [src, kind], kw]}


# --- CLI -------------------------------------------------------------------------------------

NUM_S = ["nan", "inf", "-inf", "", "abc", "1e309", "0", "-1", "1e-320", " 5 ", "1_000", "0x10", "NaN", "+inf", "1e-310",
         "5e-324", "1,5", "１２", "None"]


@st.composite
def csv_text(draw):
    two = draw(st.booleans())
    if two:
        N, D, y = draw(law2())
        header, cols = ["N", "D", "loss"], [N, D, y]
    else:
        x, y = draw(law1())
        header, cols = ["x", "loss"], [x, y]
    if chance(draw, 30):
        header = [draw(st.sampled_from([h, h, "Model Size", "", "é∞", "loss", "N", "a,b", '"q"'])) for h in header]
    rows = [[repr(v) for v in r] for r in zip(*cols)]
    if rows and chance(draw, 40):
        for _ in range(draw(st.integers(1, 3))):
            i = draw(st.integers(0, len(rows) - 1))
            op = draw(st.sampled_from(["cell", "cell", "short", "long", "blank"]))
            if op == "cell" and rows[i]:
                rows[i][draw(st.integers(0, len(rows[i]) - 1))] = draw(st.sampled_from(NUM_S))
            elif op == "short":
                rows[i] = rows[i][:-1]
            elif op == "long":
                rows[i] = rows[i] + ["7"]
            else:
                rows[i] = []
    sep = draw(st.sampled_from(["\n"] * 5 + ["\r\n"]))
    text = ",".join(header) + sep + sep.join(",".join(r) for r in rows) + sep
    k = draw(st.integers(0, 99))
    if k < 4:
        text = ""
    elif k < 8:
        text = ",".join(header) + sep
    elif k < 10:
        text = "\ufeff" + text
    elif k < 12:
        text = draw(st.text(max_size=40))
    return text, header, two


OPT_STR = {
    "--loss": ["huber", "l2", "L2", ""],
    "--delta": ["1e-3", "0", "-1", "nan", "inf", "1e-320", "abc", "1e308"],
    "--target": ["log", "linear", "exp"],
    "--bootstrap": ["0", "2", "5", "1", "-1", "1000000000000", str(2**64), "abc"],
    "--scheme": ["pairs", "residual", "parametric", "groups"],
    "--seed": ["0", "-1", str(2**64), "abc"],
    "--level": ["0.95", "0", "1", "nan", "2", "abc", "-0.5", "inf"],
    "--k": ["6", "0", "-6", "nan", "inf", "1e308", "5e-324"],
    "--budgets": ["1e21,1e24", "abc", "", ",", "nan", "inf", "-1", "1e309", "0", "1e21,,1e22", "1e300,1e-300", "5e-324"],
    "--target-loss": ["2.0", "1.0", "0", "nan", "2.0,abc", "", "-1", "1e308", "inf", "1.69"],
    "--format": ["md", "html", "md,html", "", "pdf", ",", "md,md"],
    "--threads": ["0", "1", "-1", "1025", str(2**64), "abc"],
    "--drop-top-y": ["0", "1", "-1", "1000000", "abc", "35"],
}


@st.composite
def cli_case(draw):
    k = draw(st.integers(0, 99))
    if k < 6:
        argv = ["demo", "--seed", draw(st.sampled_from(["0", "-1", str(2**64), "abc", "3"])),
                "--resamples", draw(st.sampled_from(["2", "5", "0", "-1", "1", "1000000000000", str(2**63), str(2**64), "x"]))]
        return {"cli": {"argv": argv, "csv": None}}
    if k < 9:
        return {"cli": {"argv": draw(st.sampled_from([["forms"], ["forms", "extra"], [], ["--version"], ["bogus"], ["fit"],
                                                      ["fit", "{tmp}/missing.csv"], ["fit", "{tmp}"], ["fit", "{tmp}/x.parquet"]])),
                        "csv": None}}
    text, header, two = draw(csv_text())
    name = draw(st.sampled_from(["in.csv"] * 12 + ["in.parquet", "in.txt"]))
    argv = ["fit", "{csv}"]
    form = draw(st.sampled_from(["chinchilla", "kaplan_nd"] if two else ["power_law_plus_constant", "power_law", "bnsl"]))
    if chance(draw, 25):
        form = draw(formula())[0]
    argv += ["--form", form]
    if draw(st.integers(0, 99)) < 80:
        argv += ["--x", draw(st.sampled_from([",".join(header[:-1]), ",".join(header[:-1]), "N,D", "x", "", ",", "N,D,E",
                                              "Model Size,D", "loss"]))]
    if draw(st.integers(0, 99)) < 20:
        argv += ["--y", draw(st.sampled_from(["loss", "nope", "", "N"]))]
    if draw(st.integers(0, 99)) < 15:
        argv += ["--map", draw(st.sampled_from(["M=N", "bad", "=x", "N=nope", "x=loss", "Model Size=N"]))]
    if draw(st.integers(0, 99)) < 15:
        argv += ["--derive", draw(st.sampled_from(["C=6*N*D", "D=", "1x=2", "D=foo(N)", "Z=N^1e308", "Z=log(0*N)", "Z=loss/0",
                                                  "Z=" + "(" * 300 + "N" + ")" * 300, "loss=loss*2", "Z=é"]))]
    for opt, vals in OPT_STR.items():
        if draw(st.integers(0, 99)) < 12:
            argv += [opt, draw(st.sampled_from(vals))]
    out = draw(st.sampled_from(["{tmp}/out"] * 6 + ["{csv}", "{tmp}/a/b/c", "", "{tmp}/ünï ☃"]))
    argv += ["--out", out]
    if draw(st.integers(0, 99)) < 95:
        argv.append("--no-plots")
    if draw(st.integers(0, 99)) < 5:
        argv.append(draw(st.sampled_from(["--progress", "--no-progress", "--unknown"])))
    return {"cli": {"argv": argv, "csv": text, "name": name}}


@st.composite
def cases(draw):
    _LEVEL[0] = draw(st.sampled_from([0.1, 0.3, 0.6, 1.0, 1.5]))
    k = draw(st.integers(0, 99))
    if k < 22:
        return "fit", {"expr": draw(fit_call())}
    if k < 32:
        return "bootstrap", {"expr": draw(bootstrap_call())}
    if k < 52:
        e = draw(analysis_call())
        return e["$call"][0].split(".")[-1], {"expr": e}
    if k < 57:
        return "backtest", {"expr": draw(backtest_call())}
    if k < 67:
        return "methods", {"expr": draw(method_call())}
    if k < 82:
        e = draw(dimension_call())
        fn = e["$call"][0]
        return ("dimension." + (fn.split(".")[-1] if isinstance(fn, str) else "estimate")), {"expr": e}
    if k < 84:
        return "plot", {"expr": draw(plot_call())}
    return "cli", draw(cli_case())


# =============================================================================================
# running cases in the worker


class Worker:
    """One long-lived tests/fuzz_worker.py process; restarted after a crash or a hang."""

    def __init__(self, timeout: float = TIMEOUT):
        self.timeout = timeout
        self.proc: subprocess.Popen | None = None
        self.buf = b""
        self.dir = tempfile.mkdtemp(prefix="sf_fuzz_")
        self.log_path = Path(self.dir) / "worker.stderr"
        self.starts = 0

    def start(self) -> None:
        env = dict(os.environ, PYTHONFAULTHANDLER="1", MPLBACKEND="Agg", PYTHONUNBUFFERED="1")
        for _attempt in range(3):
            self.log = open(self.log_path, "ab")
            self.proc = subprocess.Popen([sys.executable, str(WORKER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=self.log, start_new_session=True, env=env, cwd=self.dir)
            self.buf = b""
            self.starts += 1
            line = self._readline(300)
            if line:
                msg = json.loads(line)
                if msg.get("ready"):
                    return
            self.stop()
            time.sleep(5)
        raise RuntimeError(f"the fuzz worker does not start: {self._tail(0)[-2000:]}")

    def stop(self) -> None:
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)  # the worker's own process group (start_new_session)
            except ProcessLookupError:
                pass
            self.proc.wait()
            for f in (self.proc.stdin, self.proc.stdout):
                try:
                    f.close()
                except OSError:
                    pass
            self.proc = None

    def _readline(self, timeout: float) -> bytes | None:
        """A line; b"" at EOF; None after ``timeout`` seconds."""
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        end = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = end - time.monotonic()
            if left <= 0:
                return None
            r, _, _ = select.select([fd], [], [], left)
            if not r:
                continue
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return b""
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line

    def _tail(self, pos: int) -> str:
        try:
            with open(self.log_path, "rb") as fh:
                fh.seek(pos)
                return fh.read()[-6000:].decode("utf-8", "replace")
        except OSError:
            return ""

    def call(self, case: dict) -> dict:
        if self.proc is None or self.proc.poll() is not None:
            self.stop()
            self.start()
        assert self.proc is not None and self.proc.stdin is not None
        if self.log_path.stat().st_size > 50 << 20:
            os.truncate(self.log_path, 0)  # the worker appends (O_APPEND), so this is safe
        pos = self.log_path.stat().st_size
        t0 = time.monotonic()
        try:
            self.proc.stdin.write((json.dumps(case) + "\n").encode())
            self.proc.stdin.flush()
            line = self._readline(self.timeout)
        except BrokenPipeError:
            line = b""
        if line is None:
            self.stop()
            return {"verdict": "HANG", "findings": [{"verdict": "HANG", "where": case["label"],
                    "detail": f"no answer within {self.timeout:g} s", "msg": _crash_line(self._tail(pos))}],
                    "elapsed": time.monotonic() - t0}
        if line == b"":
            rc = self.proc.wait()
            tail = self._tail(pos)
            self.stop()
            how = f"killed by {signal.Signals(-rc).name}" if rc < 0 else f"exit code {rc}"
            return {"verdict": "CRASH", "findings": [{"verdict": "CRASH", "where": case["label"], "detail": how,
                    "msg": _crash_line(tail), "tb": tail[-2500:]}], "elapsed": time.monotonic() - t0}
        return json.loads(line)


def _crash_line(tail: str) -> str:
    """The most telling line of a dying worker's stderr (Rust abort / panic / fatal error)."""
    lines = [ln.strip() for ln in tail.splitlines() if ln.strip() and not ln.startswith("=== case")]
    for pat in ("memory allocation of", "panicked at", "Fatal Python error", "fatal runtime error", "Segmentation",
                "Killed", "Aborted", "error"):
        for ln in lines:
            if pat in ln:
                return ln[:300]
    return (lines[0] if lines else "")[:300]


_NUM = re.compile(r"[-+]?(?:\d[\d_]*\.?\d*(?:e[-+]?\d+)?|\.\d+(?:e[-+]?\d+)?|nan|inf)", re.I)


def _norm(s: str | None) -> str:
    s = (s or "").split("\n")[0]
    s = re.sub(r"'[^']*'|\"[^\"]*\"", "Q", s)
    s = _NUM.sub("#", s)
    s = re.sub(r"\s+", " ", s)
    return s[:70]


def signature(label: str, f: dict) -> tuple:
    v = f["verdict"]
    if v in ("CRASH", "HANG"):
        return (v, label, f.get("detail", "").split(" ")[0] if v == "HANG" else f.get("detail"), _norm(f.get("msg")))
    if v in ("SILENT_NONFINITE", "BAD_RESULT", "NONSTRICT_JSON"):
        d = f.get("detail", "")
        return (v, f.get("where"), _norm(d.split(":")[0] if v != "NONSTRICT_JSON" else d))
    if v == "CLI_FAIL":
        return (v, _norm(f.get("detail")), f.get("exc"), _norm(f.get("msg")) if f.get("exc") else "")
    return (v, f.get("where"), f.get("exc"), _norm(f.get("msg") or f.get("detail")))


class Campaign:
    """Runs cases, counts verdicts and keeps the smallest reproducer of every distinct finding."""

    FAIL = ("CRASH", "HANG", "SILENT_NONFINITE", "BAD_RESULT", "CLI_FAIL")

    def __init__(self) -> None:
        self.worker = Worker()
        self.calls = 0
        self.verdicts: Counter = Counter()
        self.by_label: Counter = Counter()
        self.groups: dict[tuple, dict] = {}
        self.t0 = time.monotonic()
        self.seen: set[str] = set()
        self.repeats = 0

    def run(self, label: str, case: dict) -> None:
        key = json.dumps(case, sort_keys=True)
        if key in self.seen:  # hypothesis replays some examples verbatim: run each distinct case once
            self.repeats += 1
            return
        self.seen.add(key)
        self.calls += 1
        case = {"id": self.calls, "label": label, **case}
        res = self.worker.call(case)
        self.verdicts[res["verdict"]] += 1
        self.by_label[(label, res["verdict"])] += 1
        for f in res.get("findings", []):
            if f["verdict"] in ("OK", "CLEAN_ERROR", "SETUP_ERROR") and f["verdict"] != res["verdict"]:
                continue
            key = signature(label, f)
            repro = fuzz_worker.render_case(case)
            g = self.groups.get(key)
            if g is None:
                self.groups[key] = g = {"key": list(key), "verdict": f["verdict"], "label": label, "count": 0, "finding": f,
                                        "repro": repro, "case": case}
            g["count"] += 1
            if len(repro) < len(g["repro"]):
                g.update(finding=f, repro=repro, case=case)

    def failures(self, verdicts: tuple[str, ...]) -> list[dict]:
        return sorted((g for g in self.groups.values() if g["verdict"] in verdicts), key=lambda g: (g["verdict"], -g["count"]))

    def counts(self) -> str:
        return (f"{self.calls} calls in {time.monotonic() - self.t0:.0f} s ({self.repeats} repeated cases skipped), "
                f"{self.worker.starts} worker starts; verdicts: "
                + ", ".join(f"{k} {v}" for k, v in self.verdicts.most_common()))

    def save(self) -> None:
        data = {"calls": self.calls, "elapsed_s": time.monotonic() - self.t0, "worker_starts": self.worker.starts,
                "verdicts": dict(self.verdicts), "by_label": {f"{a} {b}": n for (a, b), n in sorted(self.by_label.items())},
                "groups": sorted(({k: v for k, v in g.items() if k != "case"} | {"case": g["case"]} for g in self.groups.values()),
                                 key=lambda g: (g["verdict"], -g["count"]))}
        tmp = REPORT.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1, default=repr))
        tmp.replace(REPORT)


def report(groups: list[dict], limit: int = 40) -> str:
    out = []
    for g in groups[:limit]:
        f = g["finding"]
        head = f"[{g['verdict']}] x{g['count']} {g['label']} -> {f.get('where')}: "
        head += " ".join(str(f[k]) for k in ("exc", "detail", "why") if f.get(k))
        if f.get("msg"):
            head += f"\n    message: {str(f['msg'])[:300]}"
        out.append(head + "\n    reproducer:\n" + "\n".join("      " + ln for ln in g["repro"][:1500].splitlines()))
    if len(groups) > limit:
        out.append(f"... and {len(groups) - limit} more (see {REPORT})")
    return "\n\n".join(out)


def run_campaign(budget_s: float) -> Campaign:
    camp = Campaign()
    deadline = time.monotonic() + budget_s
    base = 0 if os.environ.get("CI", "").lower() in ("1", "true", "yes") else int(time.time()) % 100_000
    rnd = 0
    try:
        while time.monotonic() < deadline:

            @seed(base * 1000 + rnd)
            @settings(max_examples=ROUND, deadline=None, database=None, derandomize=False,
                      phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck), print_blob=False)
            @given(lc=cases())
            def one_round(lc):
                if time.monotonic() < deadline:
                    camp.run(*lc)

            one_round()
            rnd += 1
            camp.save()
    finally:
        camp.worker.stop()
        camp.save()
    print("\nfuzz: " + camp.counts() + f"; report: {REPORT}")
    return camp


@pytest.fixture(scope="module")
def campaign() -> Campaign:
    return run_campaign(_budget_s())


def test_fuzz_harness_ran(campaign):
    assert campaign.calls >= 20, campaign.counts()
    assert campaign.verdicts["OK"] + campaign.verdicts["CLEAN_ERROR"] > 0, campaign.counts()


def test_fuzz_never_crashes_hangs_or_returns_silent_nonfinite(campaign):
    bad = campaign.failures(Campaign.FAIL)
    assert not bad, f"{len(bad)} distinct failures ({campaign.counts()}):\n\n" + report(bad)


def test_fuzz_errors_are_clear(campaign):
    bad = campaign.failures(("UNCLEAR_ERROR",))
    assert not bad, f"{len(bad)} distinct unclear errors ({campaign.counts()}):\n\n" + report(bad)


def test_fuzz_to_dict_is_strict_json(campaign):
    bad = campaign.failures(("NONSTRICT_JSON",))
    assert not bad, f"{len(bad)} distinct to_dict() results that are not strict JSON:\n\n" + report(bad)
