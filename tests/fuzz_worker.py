"""Long-lived fuzz worker for tests/test_fuzz.py: one process serves many cases.

Protocol: the parent writes one JSON case per line on stdin; the worker answers each with one
JSON line on its private copy of stdout (file descriptor 1 itself goes to /dev/null, so prints
from the library, Rust included, cannot corrupt the protocol). The first line the worker writes
is ``{"ready": true, ...}`` once scalingfit is imported. A crash (signal, abort) or a hang is
seen by the parent (EOF / its watchdog), which restarts the worker.

A case is ``{"id": .., "label": .., "expr": <expression>}`` (a Python API call) or
``{"id": .., "label": .., "cli": {"argv": [...], "csv": text or null}}`` (``scalingfit.cli.main``
in-process, as ``python -m scalingfit`` runs it). Expressions are JSON with tagged objects,
decoded by :func:`Ctx.eval`:

    {"$call": [fn, args, kwargs]}   fn: "sf.fit", "sf.dimension.knn", ... or {"$meth": [obj, name]}
    {"$attr": [obj, name]}          attribute / property access
    {"$ref": name}                  a prepared object (fit, bootstrap, ...; see REF_CODE)
    {"$arr": {"v": flat, "shape": [..], "dtype": "float32", "via": "float"|"object"|"str"|"complex"}}
    {"$tuple": [..]} {"$dict": [[k, v], ..]} {"$complex": [re, im]} {"$bytes": hex}
    {"$np": [dtype, value]} {"$df": [[col, arr], ..]} {"$series": arr} {"$lambda": src} {"$path": name}

The verdict is ``{"id", "verdict", "findings": [...], "elapsed"}`` where verdict is the worst of
the findings: OK, CLEAN_ERROR, UNCLEAR_ERROR, SILENT_NONFINITE, BAD_RESULT, NONSTRICT_JSON,
CLI_FAIL, SETUP_ERROR (the case itself could not be built; not the library's fault).
This module is also imported by the test for :func:`render` (reproducers); importing it has no
side effects.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import json
import math
import os
import re
import shlex
import sys
import tempfile
import time
import traceback
import warnings
from typing import Any

# ---------------------------------------------------------------------------------------------
# prepared objects: code run once per worker (and printed as the prelude of a reproducer)

SHARED = "/work/shared/data"
PRELUDE = "import numpy as np, scalingfit as sf\nfrom math import nan, inf\nfrom scalingfit.datasets import hoffmann_example"
REF_CODE: dict[str, tuple[list[str], str]] = {
    "H": ([], "H = hoffmann_example(seed=0)"),
    "X1": ([], "X1 = np.geomspace(1e6, 1e11, 40); Y1 = (1.7 + 300 * X1**-0.3) * np.exp(0.01 * np.random.default_rng(0).standard_normal(40))"),
    "chin": (["H"], "chin = sf.fit('chinchilla', {'N': H['N'], 'D': H['D']}, y=H['loss'])"),
    "chin_bs": (["chin"], "chin_bs = sf.bootstrap(chin, n_resamples=40, seed=0)"),
    "chin_bs_summary": (["chin"], "chin_bs_summary = sf.bootstrap(chin, n_resamples=40, seed=0, keep='summary')"),
    "chin_formula": (["H"], "chin_formula = sf.fit('E + A*N^-alpha + B*D^-beta', {'N': H['N'], 'D': H['D']}, y=H['loss'])"),
    "chin_nodata": (["chin"], "import dataclasses; chin_nodata = dataclasses.replace(chin, problem=None)"),
    "kaplan": (["H"], "kaplan = sf.fit('kaplan_nd', {'N': H['N'], 'D': H['D']}, y=H['loss'])"),
    "kaplan_bs": (["kaplan"], "kaplan_bs = sf.bootstrap(kaplan, n_resamples=20, seed=0)"),
    "pl": (["X1"], "pl = sf.fit('power_law_plus_constant', {'x': X1}, y=Y1)"),
    "pl_bs": (["pl"], "pl_bs = sf.bootstrap(pl, n_resamples=40, seed=0)"),
    "bnsl": (["X1"], "bnsl = sf.fit('bnsl', {'x': X1}, y=Y1)"),
    "real_chin": ([], (
        "import csv; _r = list(csv.DictReader(open('" + SHARED + "/chinchilla/svg_extracted_data.csv')))\n"
        "_N = np.array([float(r['Model Size']) for r in _r]); _C = np.array([float(r['Training FLOP']) for r in _r])\n"
        "real_chin = sf.fit('chinchilla', {'N': _N, 'D': _C / (6 * _N)}, y=np.array([float(r['loss']) for r in _r]))"
    )),
    "chin_dist": (["chin_bs"], "chin_dist = chin_bs.derived(lambda p: p['beta'] / (p['alpha'] + p['beta']), name='a')"),
    "chin_opt_bs": (["chin_bs"], "chin_opt_bs = sf.compute_optimal(chin_bs, [1e21, 1e24])"),
    "chin_req_bs": (["chin_bs"], "chin_req_bs = sf.required(chin_bs, [2.0, 2.5])"),
    "P3": ([], "P3 = np.random.default_rng(0).standard_normal((300, 3))"),
    "tile_est": (["P3"], "tile_est = sf.dimension.tile(P3, seed=0, n_boot=50)"),
    "twonn_est": (["P3"], "twonn_est = sf.dimension.twonn(P3)"),
    "mle_est": (["P3"], "mle_est = sf.dimension.mle(P3, k=10)"),
}


def ref_order(names: list[str]) -> list[str]:
    """The refs ``names`` need, dependencies first."""
    out: list[str] = []

    def visit(n: str) -> None:
        for d in REF_CODE[n][0]:
            visit(d)
        if n not in out:
            out.append(n)

    for n in names:
        visit(n)
    return out


# ---------------------------------------------------------------------------------------------
# rendering a case as Python source (used by the test for reproducers; no imports of numpy here)


def _rf(x: Any) -> str:
    if isinstance(x, float):
        if math.isnan(x):
            return "nan"
        if math.isinf(x):
            return "inf" if x > 0 else "-inf"
        return repr(x)
    return repr(x)


def render(v: Any, refs: set[str] | None = None) -> str:
    """Python source for an expression (refs used are added to ``refs``)."""
    refs = set() if refs is None else refs
    r = lambda x: render(x, refs)  # noqa: E731
    if isinstance(v, bool) or v is None or isinstance(v, (int, str)):
        return repr(v)
    if isinstance(v, float):
        return _rf(v)
    if isinstance(v, list):
        return "[" + ", ".join(r(x) for x in v) + "]"
    if isinstance(v, dict):
        if "$call" in v:
            fn, args, kw = v["$call"]
            f = fn if isinstance(fn, str) else f"{r(fn['$meth'][0])}.{fn['$meth'][1]}"
            parts = [r(a) for a in args] + [f"{k}={r(x)}" if k.isidentifier() else f"**{{{k!r}: {r(x)}}}" for k, x in kw.items()]
            return f"{f}({', '.join(parts)})"
        if "$attr" in v:
            return f"{r(v['$attr'][0])}.{v['$attr'][1]}"
        if "$ref" in v:
            refs.add(v["$ref"])
            return v["$ref"]
        if "$arr" in v:
            a = v["$arr"]
            via, dt, shape, vals = a["via"], a["dtype"], a["shape"], a["v"]
            n = 1
            for s in shape:
                n *= s
            if via == "complex":
                src = "np.array([" + ", ".join(f"complex({_rf(re_)}, {_rf(im)})" for re_, im in vals) + "])"
            elif via == "object":
                src = f"np.array({r(vals)}, dtype=object)"
            elif via == "str":
                src = f"np.array({r(vals)})"
            else:
                src = f"np.array({r(vals)})"
                if dt != "float64":
                    src += f".astype({dt!r})"
            if len(shape) != 1 or (len(shape) == 1 and shape[0] != len(vals)):
                src += f".reshape({tuple(shape)!r})"
            return src
        if "$gen" in v:
            kind, seed_, shape, sc = v["$gen"]
            g = f"np.random.default_rng({seed_})"
            if kind == "lowrank":
                n, d, rk = shape
                src = f"(lambda g: g.standard_normal(({n}, {rk})) @ g.standard_normal(({rk}, {d})))({g})"
            elif kind == "uniform":
                src = f"{g}.uniform(0, 1, {tuple(shape)!r})"
            else:
                src = f"{g}.standard_normal({tuple(shape)!r})"
            return src if sc == 1.0 else f"{src} * {_rf(sc)}"
        if "$tuple" in v:
            items = [r(x) for x in v["$tuple"]]
            return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
        if "$dict" in v:
            return "{" + ", ".join(f"{r(k)}: {r(x)}" for k, x in v["$dict"]) + "}"
        if "$complex" in v:
            return f"complex({_rf(v['$complex'][0])}, {_rf(v['$complex'][1])})"
        if "$bytes" in v:
            return repr(bytes.fromhex(v["$bytes"]))
        if "$np" in v:
            return f"np.{v['$np'][0]}({r(v['$np'][1])})"
        if "$df" in v:
            return "pd.DataFrame({" + ", ".join(f"{r(k)}: {r(x)}" for k, x in v["$df"]) + "})"
        if "$series" in v:
            return f"pd.Series({r(v['$series'])})"
        if "$lambda" in v:
            return v["$lambda"]
        if "$path" in v:
            return repr("/tmp/sf_fuzz/" + v["$path"])
        return "{" + ", ".join(f"{k!r}: {r(x)}" for k, x in v.items()) + "}"
    return repr(v)


def render_case(case: dict) -> str:
    """A standalone reproducer for a case: Python for API calls, a shell snippet for the CLI."""
    if "cli" in case:
        c = case["cli"]
        lines = ["mkdir -p /tmp/sf_fuzz && cd /tmp/sf_fuzz"]
        text, name = c.get("csv"), c.get("name") or "in.csv"
        if text is not None:
            plain = text.endswith("\n") and "EOF" not in text and all(ch == "\n" or " " <= ch < "\x7f" for ch in text)
            if plain:
                lines.append(f"cat > {name} <<'EOF'\n{text}EOF")
            else:
                code = f"open({name!r}, 'w', encoding='utf-8', newline='').write(" + repr(text) + ")"
                lines.append("python -c " + shlex.quote(code))
        argv = [a.replace("{csv}", c.get("name") or "in.csv").replace("{tmp}", "/tmp/sf_fuzz") for a in c["argv"]]
        lines.append("python -m scalingfit " + " ".join(shlex.quote(a) for a in argv) + "; echo exit=$?")
        return "\n".join(lines)
    refs: set[str] = set()
    body = render(case["expr"], refs)
    pre = [PRELUDE]
    if "pd.DataFrame" in body or "pd.Series" in body:
        pre.append("import pandas as pd")
    if "/tmp/sf_fuzz/" in body:
        pre.append("import os; os.makedirs('/tmp/sf_fuzz', exist_ok=True)")
    for n in ref_order(sorted(refs)):
        pre.append(REF_CODE[n][1])
    return "\n".join(pre) + "\nr = " + body + "\nprint(r)"


# ---------------------------------------------------------------------------------------------
# judging exceptions

CLEAN_TYPES = ("ValueError", "TypeError", "MemoryError", "KeyboardInterrupt")
# messages that come from numpy / Python internals, not from an argument check
GENERIC = [
    "could not convert", "operands could not be broadcast", "setting an array element", "invalid literal for",
    "unsupported operand", "not subscriptable", "is not iterable", "has no len()", "cannot be interpreted as an integer",
    "unhashable type", "must be real number, not", "index out of", "out of bounds", "cannot cast", "ufunc",
    "zero-size array", "truth value of an array", "float() argument", "int() argument", "object has no attribute",
    "singular matrix", "math domain error", "cannot convert float", "division by zero", "not supported between",
    "can't multiply sequence", "must be str, not", "cannot reshape", "inhomogeneous shape", "expected a sequence",
    "object of type", "argument must be", "takes no keyword", "bad operand type", "array must not contain infs or nans",
    "Out of range float values", "is not JSON serializable",
]
EXTRA_NAMES = ("formula", "column", "columns", "parameter", "parameters", "variable", "variables", "data", "form",
               "FitResult", "BootstrapResult", "bootstrap", "keep", "resamples", "predict")


def judge(exc: BaseException, where: str, argnames: set[str], allow_any_message: bool = False) -> dict:
    t = type(exc)
    name = t.__name__
    msg = str(exc)
    f = {"where": where, "exc": name, "msg": msg[:600]}
    if isinstance(exc, (KeyboardInterrupt, MemoryError)):
        return {**f, "verdict": "CLEAN_ERROR"}
    if isinstance(exc, OSError) and getattr(exc, "filename", None):
        return {**f, "verdict": "CLEAN_ERROR"}
    if not isinstance(exc, (ValueError, TypeError, KeyError)):
        return {**f, "verdict": "UNCLEAR_ERROR", "why": f"exception type {name}"}
    names = set(argnames) | set(EXTRA_NAMES) | {where.split(".")[-1]}
    m = re.match(r"\s*([A-Za-z_]\w*)(\[[^\]]*\])*\s*:", msg)
    if m and m.group(1) in names and name != "KeyError":
        return {**f, "verdict": "CLEAN_ERROR"}  # "<argument>: ..." (even when it quotes numpy's reason)
    low = msg.lower()
    for g in GENERIC:
        if g.lower() in low:
            return {**f, "verdict": "UNCLEAR_ERROR", "why": f"generic message ({g!r})"}
    if allow_any_message and name != "KeyError":
        return {**f, "verdict": "CLEAN_ERROR"}
    for a in names:
        if a and re.search(r"(?<![A-Za-z0-9_])" + re.escape(a) + r"(?![A-Za-z0-9_])", msg):
            return {**f, "verdict": "CLEAN_ERROR"}
    return {**f, "verdict": "UNCLEAR_ERROR", "why": "message names no argument" + (" (KeyError)" if name == "KeyError" else "")}


RANK = ["OK", "SETUP_ERROR", "CLEAN_ERROR", "UNCLEAR_ERROR", "NONSTRICT_JSON", "BAD_RESULT", "SILENT_NONFINITE", "CLI_FAIL"]


# ---------------------------------------------------------------------------------------------
# the worker proper (imports scalingfit lazily)


class SetupError(Exception):
    pass


class Ctx:
    def __init__(self, w: "Worker"):
        self.w = w
        self.stack: list[tuple[str, set[str]]] = []
        self.failed_at: tuple[str, set[str]] | None = None
        self.depth = 0
        self.top = ""
        self.top_args: list[Any] | None = None

    def resolve(self, fn: Any) -> tuple[Any, str]:
        sf = self.w.sf
        if isinstance(fn, str):
            obj: Any = {"sf": sf, "np": self.w.np}
            parts = fn.split(".")
            cur = obj[parts[0]]
            for p in parts[1:]:
                cur = getattr(cur, p)
            return cur, fn
        obj = self.eval(fn["$meth"][0])
        name = fn["$meth"][1]
        return getattr(obj, name), f"{type(obj).__name__}.{name}"

    def lib(self, label: str, names: set[str], thunk):
        self.stack.append((label, names))
        try:
            out = thunk()
        except BaseException:
            if self.failed_at is None:
                self.failed_at = self.stack[-1]
            raise
        finally:
            self.stack.pop()
        return out

    def eval(self, v: Any) -> Any:
        np = self.w.np
        if isinstance(v, list):
            return [self.eval(x) for x in v]
        if not isinstance(v, dict):
            return v
        if "$call" in v:
            fn, args, kw = v["$call"]
            top = self.depth == 0
            self.depth += 1
            try:
                f, label = self.resolve(fn)
                a = [self.eval(x) for x in args]
                k = {key: self.eval(x) for key, x in kw.items()}
            finally:
                self.depth -= 1
            if top:
                self.top, self.top_args = label, a
            try:
                names = set(inspect.signature(f).parameters)
            except (TypeError, ValueError):
                names = set()
            names |= set(k)
            return self.lib(label, names, lambda: f(*a, **k))
        if "$attr" in v:
            obj = self.eval(v["$attr"][0])
            nm = v["$attr"][1]
            return self.lib(f"{type(obj).__name__}.{nm}", set(), lambda: getattr(obj, nm))
        if "$ref" in v:
            return self.w.ref(v["$ref"])
        try:
            return self._value(v, np)
        except Exception as e:  # the case's own value could not be built
            raise SetupError(f"{type(e).__name__}: {e}") from None

    def _value(self, v: dict, np: Any) -> Any:
        if "$arr" in v:
            a = v["$arr"]
            via, dt, shape = a["via"], a["dtype"], tuple(a["shape"])
            if via == "complex":
                arr = np.array([complex(x, y) for x, y in a["v"]], dtype=complex)
            elif via == "object":
                arr = np.array(self.eval(a["v"]) + [None], dtype=object)[:-1]
            elif via == "str":
                arr = np.array(a["v"])
            else:
                with warnings.catch_warnings(), np.errstate(all="ignore"):
                    warnings.simplefilter("ignore")
                    arr = np.array(a["v"], dtype=float)
                    if dt != "float64":
                        arr = arr.astype(dt)
            if arr.shape != shape:
                arr = arr.reshape(shape)
            return arr
        if "$gen" in v:
            kind, seed_, shape, sc = v["$gen"]
            g = np.random.default_rng(seed_)
            if kind == "lowrank":
                n, d, r = shape
                return (g.standard_normal((n, r)) @ g.standard_normal((r, d))) * sc
            if kind == "uniform":
                return g.uniform(0.0, 1.0, tuple(shape)) * sc
            return g.standard_normal(tuple(shape)) * sc
        if "$tuple" in v:
            return tuple(self.eval(x) for x in v["$tuple"])
        if "$dict" in v:
            return {self._key(k): self.eval(x) for k, x in v["$dict"]}
        if "$complex" in v:
            return complex(*v["$complex"])
        if "$bytes" in v:
            return bytes.fromhex(v["$bytes"])
        if "$np" in v:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                return getattr(np, v["$np"][0])(self.eval(v["$np"][1]))
        if "$df" in v:
            import pandas as pd

            return pd.DataFrame({self._key(k): self.eval(x) for k, x in v["$df"]})
        if "$series" in v:
            import pandas as pd

            return pd.Series(self.eval(v["$series"]))
        if "$lambda" in v:
            return eval(v["$lambda"], {"np": np, "math": math})
        if "$path" in v:
            os.makedirs("/tmp/sf_fuzz", exist_ok=True)
            return "/tmp/sf_fuzz/" + v["$path"]
        return {k: self.eval(x) for k, x in v.items()}

    def _key(self, k: Any) -> Any:
        return self.eval(k) if isinstance(k, dict) else (tuple(k) if isinstance(k, list) else k)


class Worker:
    def __init__(self) -> None:
        import numpy as np

        self.np = np
        self.sf = self._import()
        self.refs: dict[str, Any] = {}
        self.ns: dict[str, Any] = {}

    @staticmethod
    def _import():
        # the package may be reinstalled under us (a reinstall takes about a minute): retry
        last = None
        for _ in range(90):
            try:
                import scalingfit as sf
                import scalingfit.cli  # noqa: F401
                import scalingfit.dimension  # noqa: F401

                return sf
            except Exception as e:  # pragma: no cover - only during a reinstall
                last = e
                for m in [m for m in sys.modules if m.startswith("scalingfit")]:
                    del sys.modules[m]
                time.sleep(2)
        raise RuntimeError(f"cannot import scalingfit: {last}")

    def ref(self, name: str) -> Any:
        if name not in self.refs:
            if not self.ns:
                exec(PRELUDE, self.ns)
            for n in ref_order([name]):
                if n not in self.refs:
                    try:
                        exec(REF_CODE[n][1], self.ns)
                    except Exception as e:
                        raise SetupError(f"ref {n}: {type(e).__name__}: {e}") from None
                    self.refs[n] = self.ns.get(n)
        return self.refs[name]

    # -- checks of returned values ---------------------------------------------------------
    def _nonfinite(self, x: Any, nan_only: bool = False) -> bool:
        np = self.np
        try:
            a = np.asarray(x, dtype=float)
        except (TypeError, ValueError):
            return False
        return bool(np.isnan(a).any()) if nan_only else bool((~np.isfinite(a)).any())

    def inspect(self, v: Any, ctx: Ctx, case: dict) -> list[dict]:
        """Problems of a returned value: non-finite main numbers without a failure flag, broken invariants."""
        np, sf = self.np, self.sf
        out: list[dict] = []
        tname = type(v).__name__

        def bad(verdict: str, detail: str, where: str | None = None) -> None:
            out.append({"verdict": verdict, "where": where or tname, "detail": detail})

        from scalingfit._results import _Result
        from scalingfit._validation import Backtest
        from scalingfit.dimension import Comparison, _Estimate

        if isinstance(v, sf.FitResult):
            if v.converged:
                for nm, x in (("params", v.x), ("objective", v.objective), ("residuals", v.residuals)):
                    if self._nonfinite(x):
                        bad("SILENT_NONFINITE", f"converged=True but {nm} is non-finite: {np.asarray(x).ravel()[:6].tolist()}")
                if v.stderr is not None and self._nonfinite(list(v.stderr.values())):
                    bad("SILENT_NONFINITE", f"converged=True but stderr is non-finite: {v.stderr}")
            elif self._nonfinite(v.x):
                pass  # flagged by converged=False
        elif isinstance(v, sf.BootstrapResult):
            if v.samples is not None:
                s = v.samples[v.converged]
                if self._nonfinite(s):
                    bad("SILENT_NONFINITE", "samples of converged resamples are non-finite")
        elif isinstance(v, _Result):
            flagged = int(getattr(v, "n_invalid", 0) or 0) > 0
            for k, x in v.values.items():
                if isinstance(x, str) or (isinstance(x, tuple)):
                    continue
                if self._nonfinite(x):
                    bad("SILENT_NONFINITE", f"{k} = {np.asarray(x).ravel()[:6].tolist()}")
            if v.samples is not None and not flagged:
                try:
                    ci = v.ci
                except BaseException:
                    ci = None
                for k, iv in (ci or {}).items():
                    if self._nonfinite(iv, nan_only=True):
                        bad("SILENT_NONFINITE", f"ci[{k!r}] contains NaN with n_invalid=0")
        elif isinstance(v, Backtest):
            if v.fit.converged and (self._nonfinite(v.y_pred) or not math.isfinite(v.mape)):
                bad("SILENT_NONFINITE", f"y_pred={v.y_pred[:6].tolist()} mape={v.mape}")
        elif isinstance(v, _Estimate):
            for k in ("d", "stderr", "slope", "intercept"):
                if hasattr(v, k) and self._nonfinite(getattr(v, k)):
                    bad("SILENT_NONFINITE", f"{k} = {getattr(v, k)}")
        elif isinstance(v, Comparison):
            for k in ("d", "predicted", "fitted"):
                if self._nonfinite(getattr(v, k)):
                    bad("SILENT_NONFINITE", f"{k} = {getattr(v, k)}")
        elif isinstance(v, sf.Distribution):
            if self._nonfinite(v.samples):
                bad("SILENT_NONFINITE", "samples non-finite")
        elif tname == "tuple" and ctx.top == "sf.dimension.knn" and len(v) == 2:
            dist, idx = v
            X = ctx.top_args[0] if ctx.top_args else None
            Xa = np.asarray(X) if X is not None else None
            finite_in = Xa is not None and Xa.dtype.kind in "fiu" and bool(np.isfinite(Xa.astype(float)).all())
            if finite_in and self._nonfinite(dist):
                bad("SILENT_NONFINITE", f"knn distances non-finite for finite X: {np.asarray(dist).ravel()[:4].tolist()}", "knn")
            n = Xa.shape[0] if Xa is not None and Xa.ndim == 2 else None
            if n is not None and idx.size:
                if idx.min() < 0 or idx.max() >= n:
                    bad("BAD_RESULT", "knn index out of range", "knn")
                elif (idx == np.arange(n)[:, None]).any():
                    bad("BAD_RESULT", "knn returns the point itself as its neighbour", "knn")
                if finite_in and not self._nonfinite(dist) and (np.diff(dist, axis=1) < 0).any():
                    bad("BAD_RESULT", "knn distances not sorted", "knn")
                if finite_in and not self._nonfinite(dist) and dist.size and n <= 50000:
                    Xf = Xa.astype(float)
                    sc = float(np.abs(Xf).max()) or 1.0
                    Xs = Xf / sc
                    ref = sc * np.sort(np.sqrt(((Xs - Xs[0]) ** 2).sum(axis=1)))[1 : dist.shape[1] + 1]
                    if np.all(np.isfinite(ref)) and not np.allclose(ref, dist[0], rtol=1e-6, atol=0):
                        bad("BAD_RESULT", f"knn distances of point 0 {dist[0][:4].tolist()} != brute force {ref[:4].tolist()}", "knn")
        elif isinstance(v, np.ndarray) and ctx.top.endswith((".predict", ".__call__", "FitResult")):
            if v.dtype.kind == "f" and self._nonfinite(v, nan_only=True):
                bad("SILENT_NONFINITE", f"predict returned NaN: {v.ravel()[:6].tolist()}")
        return out

    def exercise(self, v: Any, ctx: Ctx) -> list[dict]:
        """Call the no-argument methods of a returned object; judge their errors and to_dict()."""
        sf = self.sf
        from scalingfit._results import _Result
        from scalingfit._validation import Backtest
        from scalingfit.dimension import Comparison, _Estimate

        calls: list[str] = []
        if isinstance(v, sf.FitResult):
            calls = ["summary", "to_dict", "__repr__"]
        elif isinstance(v, sf.BootstrapResult):
            calls = ["summary", "to_dict", "ci", "stderr", "cov", "mean"]
        elif isinstance(v, (_Result, Backtest)):
            calls = ["summary", "to_dict", "__repr__"]
        elif isinstance(v, _Estimate):
            calls = ["to_dict", "ci", "predicted_alpha", "__repr__"] + (["summary"] if hasattr(v, "summary") else [])
        elif isinstance(v, (Comparison, sf.Distribution)):
            calls = ["to_dict", "summary", "__repr__"]
        out: list[dict] = []
        for c in calls:
            where = f"{type(v).__name__}.{c}"
            try:
                attr = getattr(v, c)
                r = attr() if callable(attr) else attr
            except BaseException as e:
                j = judge(e, where, set(), allow_any_message=True)
                if j["verdict"] != "CLEAN_ERROR":
                    out.append(j)
                continue
            if c == "to_dict":
                try:
                    json.dumps(r, allow_nan=False)
                except (ValueError, TypeError) as e:
                    out.append({"verdict": "NONSTRICT_JSON", "where": where, "detail": f"{type(e).__name__}: {e}"[:300]})
        return out

    # -- cases -------------------------------------------------------------------------------
    def run(self, case: dict) -> dict:
        t0 = time.perf_counter()
        try:
            if "cli" in case:
                findings = self.run_cli(case["cli"])
            else:
                findings = self.run_api(case)
        finally:
            if "matplotlib.pyplot" in sys.modules:
                sys.modules["matplotlib.pyplot"].close("all")
        verdict = max((f["verdict"] for f in findings), key=RANK.index, default="OK")
        return {"id": case.get("id"), "verdict": verdict, "findings": findings, "elapsed": time.perf_counter() - t0}

    def run_api(self, case: dict) -> list[dict]:
        ctx = Ctx(self)
        expr = case["expr"]
        with warnings.catch_warnings(record=True) as wl:
            warnings.simplefilter("always")
            try:
                value = ctx.eval(expr)
            except SetupError as e:
                return [{"verdict": "SETUP_ERROR", "where": "case", "detail": str(e)[:300]}]
            except BaseException as e:
                where, names = ctx.failed_at or ("?", set())
                if where == "?":
                    return [{"verdict": "SETUP_ERROR", "where": "case", "detail": f"{type(e).__name__}: {e}"[:300]}]
                f = judge(e, where, names)
                if f["verdict"] == "UNCLEAR_ERROR":
                    f["tb"] = "".join(traceback.format_exception(type(e), e, e.__traceback__)[-4:])[-1500:]
                return [f]
            lib_warned = any(issubclass(w.category, UserWarning) and not issubclass(w.category, RuntimeWarning) for w in wl)
            findings = self.inspect(value, ctx, case)
            if lib_warned:
                findings = [f for f in findings if f["verdict"] != "SILENT_NONFINITE"]
            findings += self.exercise(value, ctx)
        return findings or [{"verdict": "OK", "where": ctx.top}]

    def run_cli(self, c: dict) -> list[dict]:
        from scalingfit.cli import main

        tmp = tempfile.mkdtemp(prefix="sf_fuzz_cli_")
        csvp = os.path.join(tmp, c.get("name") or "in.csv")
        if c.get("csv") is not None:
            with open(csvp, "w", encoding="utf-8", errors="surrogatepass") as fh:
                fh.write(c["csv"])
        argv = [a.replace("{csv}", csvp).replace("{tmp}", tmp) for a in c["argv"]]
        out_arg = "report"
        for i, a in enumerate(argv[:-1]):
            if a == "--out":
                out_arg = argv[i + 1]
        for a in argv:
            if a.startswith("--out="):
                out_arg = a[6:]
        outdir = os.path.join(tmp, out_arg)
        old = os.getcwd()
        so, se = io.StringIO(), io.StringIO()
        findings: list[dict] = []
        rc: Any = None
        os.chdir(tmp)
        try:
            with contextlib.redirect_stdout(so), contextlib.redirect_stderr(se):
                try:
                    rc = main(argv)
                except SystemExit as e:
                    rc = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
                except BaseException as e:
                    tb = "".join(traceback.format_exception(type(e), e, e.__traceback__))
                    findings.append({"verdict": "CLI_FAIL", "where": "cli", "exc": type(e).__name__, "msg": str(e)[:600],
                                     "detail": "uncaught exception: Traceback and exit 1", "tb": tb[-1500:]})
                    rc = 1
        finally:
            os.chdir(old)
        err = se.getvalue()
        if rc not in (0, 1, 2):
            findings.append({"verdict": "CLI_FAIL", "where": "cli", "detail": f"exit code {rc!r}", "msg": err[-300:]})
        if "Traceback" in err:
            findings.append({"verdict": "CLI_FAIL", "where": "cli", "detail": "Traceback on stderr", "msg": err[-600:]})
        if rc == 2 and not findings:
            lines = [ln for ln in err.splitlines() if ln.strip()]
            argparse_err = any(ln.startswith("usage:") for ln in lines) and lines and ": error: " in lines[-1]
            # one error line, after any warnings printed before it (cli.py's exit-status contract)
            errors = [ln for ln in lines if not ln.startswith("scalingfit: warning: ")]
            one_line = len(errors) == 1 and errors == lines[-1:] and re.match(r"scalingfit( [a-z]+)?: error: ", errors[0])
            if not argparse_err and not one_line:
                findings.append({"verdict": "CLI_FAIL", "where": "cli", "detail": f"exit 2 but stderr is not one error line: {err[-300:]!r}"})
            else:
                findings.append({"verdict": "CLEAN_ERROR", "where": "cli", "exc": "exit 2", "msg": (lines[-1] if lines else "")[:600]})
        res = os.path.join(outdir, "results.json")
        if rc == 0 and argv and argv[0] == "fit":
            if not os.path.isfile(res):
                findings.append({"verdict": "CLI_FAIL", "where": "cli", "detail": "exit 0 but no results.json"})
            else:
                txt = open(res, encoding="utf-8").read()

                def no_const(s: str) -> Any:
                    raise ValueError(f"non-JSON constant {s}")

                try:
                    json.loads(txt, parse_constant=no_const)
                except ValueError as e:
                    findings.append({"verdict": "CLI_FAIL", "where": "cli", "detail": f"results.json is not strict JSON ({e})"})
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
        return findings or [{"verdict": "OK", "where": "cli", "detail": f"exit {rc}"}]


def main() -> None:
    import resource

    mem = int(os.environ.get("SCALINGFIT_FUZZ_MEM_BYTES", str(4 << 30)))
    if mem > 0:
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    proto = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.environ.setdefault("MPLBACKEND", "Agg")
    try:
        w = Worker()
    except BaseException as e:
        proto.write(json.dumps({"ready": False, "error": f"{type(e).__name__}: {e}"}) + "\n")
        return
    proto.write(json.dumps({"ready": True, "pid": os.getpid(), "version": w.sf.__version__}) + "\n")
    for line in sys.stdin:
        if not line.strip():
            continue
        case = json.loads(line)
        sys.stderr.write(f"\n=== case {case.get('id')} ===\n")
        sys.stderr.flush()
        try:
            verdict = w.run(case)
        except BaseException as e:  # a bug of the worker itself: report it, keep serving
            verdict = {"id": case.get("id"), "verdict": "SETUP_ERROR",
                       "findings": [{"verdict": "SETUP_ERROR", "where": "worker", "detail": f"{type(e).__name__}: {e}"[:500]}]}
        proto.write(json.dumps(verdict, default=repr) + "\n")


if __name__ == "__main__":
    main()
