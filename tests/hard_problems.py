"""Hard nonlinear least-squares problems with known optima, and the runners that fit them.

Two sources:

* the 27 NIST StRD nonlinear regression datasets (``tests/data/nist``; certified values and
  residual sums of squares, published starts 1 and 2);
* synthetic families generated from seeded RNGs with a known truth (sums of exponentials,
  Gaussian peaks, rational functions, steep saturating curves, saturating power laws
  ``E + A*x^-alpha``, Hoffmann/Chinchilla two-variable laws). Their optima are certified
  numerically by ``python tests/hard_problems.py --certify`` (scipy ``least_squares``
  method='lm', x_scale='jac', tolerances 1e-15, an exact complex-step Jacobian, started from the
  truth and from many random starts; the best is kept) and stored in
  ``tests/data/hard_synthetic.json``.

Every fit is L2 on a linear target: ``sf.fit(formula, data, y, loss="l2", target="linear")``.
The RSS of any result is recomputed here from its parameters with numpy (``Problem.rss_at``),
so all methods are judged by the same function.

Success (``Problem.solved``): RSS <= certified RSS * (1 + 1e-6) + a floor of
n * (1e-12 * max|y|)^2 (only Lanczos1, certified RSS 1.4e-25, is affected by the floor: double
precision cannot resolve 1e-6 of it). Parameter accuracy is the NIST-style LRE, the number of
correct significant digits ``-log10(|b - c| / |c|)``, minimised over parameters, after matching
interchangeable terms and sign symmetries (``Problem.lre``).
"""

from __future__ import annotations

import itertools
import json
import math
import re
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

HERE = Path(__file__).resolve().parent
NIST_DIR = HERE / "data" / "nist"
SYNTH_JSON = HERE / "data" / "hard_synthetic.json"

# iteration budget from a given start, the same for both: scipy's max_nfev and scalingfit's
# max_iter (an LM iteration of scalingfit evaluates the model at least once); automatic starts
# run with scalingfit's default max_iter
BUDGET = 5000
RTOL = 1e-6  # success: RSS within 1e-6 relative of the certified RSS
LRE_CAP = 11.0  # NIST certifies 11 significant digits

PI = "3.14159265358979324"

# numpy names of the formula language's functions (sin/cos/tan/atan/tanh/... may be missing from
# the installed scalingfit; problems using them carry needs_functions=True)
_FUNCS: dict[str, Any] = {
    "exp": np.exp, "log": np.log, "ln": np.log, "sqrt": np.sqrt, "sin": np.sin, "cos": np.cos,
    "tan": np.tan, "atan": np.arctan, "tanh": np.tanh, "log10": np.log10, "log1p": np.log1p, "expm1": np.expm1,
    "abs": np.abs, "pow": np.power, "logistic": lambda z: 1.0 / (1.0 + np.exp(-z)),
}
_FUNC_RE = re.compile(r"\b(sin|cos|tan|atan|tanh|abs|log10|log1p|expm1|logistic|pow)\s*\(")


@dataclass(eq=False)
class Problem:
    name: str
    formula: str  # scalingfit syntax
    data: dict[str, np.ndarray]
    y: np.ndarray
    certified: dict[str, float]  # parameter values at the certified optimum (names in order)
    rss: float  # certified residual sum of squares
    starts: tuple[dict[str, float], ...]  # published start 1 (far), start 2 (near)
    kind: str
    source: str  # "nist" or "synthetic"
    difficulty: str = ""  # NIST's lower / average / higher; "" for synthetic
    truth: dict[str, float] | None = None  # the generating parameters (synthetic)
    blocks: tuple[tuple[str, ...], ...] = ()  # interchangeable terms (same-shaped groups of names)
    signs: tuple[tuple[str, ...], ...] = ()  # groups whose joint sign flip leaves the model unchanged
    needs_functions: bool = False
    _fn: Any = field(default=None, repr=False)

    @property
    def names(self) -> list[str]:
        return list(self.certified)

    @property
    def n(self) -> int:
        return len(self.y)

    # --- the model in numpy (real, or complex for the complex-step Jacobian) -------------------
    def model(self, p: Any) -> np.ndarray:
        """The formula at parameters ``p`` (dict or sequence in ``names`` order), via a lambda
        compiled once with the data columns and functions as its globals."""
        if self._fn is None:
            src = f"lambda {', '.join(self.names)}: ({self.formula.replace('^', '**')})"
            self._fn = eval(compile(src, f"<{self.name}>", "eval"), {"__builtins__": {}, **_FUNCS, **self.data})
        args = [p[k] for k in self.names] if isinstance(p, dict) else p
        with np.errstate(all="ignore"):
            out = self._fn(*args)
        return out if np.shape(out) == self.y.shape else np.broadcast_to(out, self.y.shape)

    def residual(self, p: Any) -> np.ndarray:
        return self.model(p) - self.y

    def jac(self, p: np.ndarray) -> np.ndarray:
        """Exact (to rounding) Jacobian by the complex step."""
        p = np.asarray(p, dtype=float)
        J = np.empty((self.n, len(p)))
        for j in range(len(p)):
            h = 1e-20 * max(abs(p[j]), 1.0)
            q = p.astype(complex)
            q[j] += 1j * h
            J[:, j] = self.model(q).imag / h
        return J

    def rss_at(self, p: Any) -> float:
        if isinstance(p, dict):
            p = [p[k] for k in self.names]
        r = self.residual(np.asarray(p, dtype=float))
        v = float(np.dot(r, r))
        return v if math.isfinite(v) else math.inf

    def floor(self) -> float:
        """The RSS double precision can resolve: n * (1e-12 * max|y|)^2."""
        return self.n * (1e-12 * float(np.max(np.abs(self.y)))) ** 2

    def tolerance(self) -> float:
        return self.rss * RTOL + self.floor()

    def solved(self, rss: float) -> bool:
        return rss <= self.rss + self.tolerance()

    def rss_ratio(self, rss: float) -> float:
        return rss / self.rss if self.rss > 0 else math.inf

    # --- parameter accuracy ----------------------------------------------------------------------
    def _equivalents(self, p: dict[str, float]):
        for perm in itertools.permutations(range(len(self.blocks))):
            q = dict(p)
            for src, dst in zip(perm, range(len(self.blocks))):
                for a, b in zip(self.blocks[src], self.blocks[dst]):
                    q[b] = p[a]
            for flips in itertools.product((False, True), repeat=len(self.signs)):
                s = dict(q)
                for flip, group in zip(flips, self.signs):
                    if flip:
                        for k in group:
                            s[k] = -s[k]
                yield s

    def lre(self, p: dict[str, float]) -> float:
        """Correct significant digits of the worst parameter (NIST's log relative error), capped at 11."""
        best = -math.inf
        for q in self._equivalents(p):
            worst = LRE_CAP
            for k, c in self.certified.items():
                b = float(q[k])
                if not math.isfinite(b):
                    worst = 0.0
                    break
                err = abs(b - c) / abs(c) if c != 0 else abs(b)
                worst = min(worst, LRE_CAP if err == 0 else max(0.0, -math.log10(err)))
            best = max(best, worst)
        return best


# ---------------------------------------------------------------------------------------------
# NIST StRD

_GAUSS = "b1*exp(-b2*x) + b3*exp(-(x-b4)^2/b5^2) + b6*exp(-(x-b7)^2/b8^2)"
_LANCZOS = "b1*exp(-b2*x) + b3*exp(-b4*x) + b5*exp(-b6*x)"
_CUBIC = "(b1 + b2*x + b3*x^2 + b4*x^3)/(1 + b5*x + b6*x^2 + b7*x^3)"
_W = f"2*{PI}*x"
_ENSO = f"b1 + b2*cos({_W}/12) + b3*sin({_W}/12) + b5*cos({_W}/b4) + b6*sin({_W}/b4) + b8*cos({_W}/b7) + b9*sin({_W}/b7)"
_L_BLOCKS = (("b1", "b2"), ("b3", "b4"), ("b5", "b6"))
_G_BLOCKS = (("b3", "b4", "b5"), ("b6", "b7", "b8"))
_G_SIGNS = (("b5",), ("b8",))

# name: (formula, kind, options); the order is the issue's
NIST: dict[str, tuple[str, str, dict[str, Any]]] = {
    "Misra1a": ("b1*(1-exp(-b2*x))", "saturating", {}),
    "Chwirut2": ("exp(-b1*x)/(b2+b3*x)", "exponential", {}),
    "Chwirut1": ("exp(-b1*x)/(b2+b3*x)", "exponential", {}),
    "Lanczos3": (_LANCZOS, "exponential", {"blocks": _L_BLOCKS}),
    "Gauss1": (_GAUSS, "gaussian", {"blocks": _G_BLOCKS, "signs": _G_SIGNS}),
    "Gauss2": (_GAUSS, "gaussian", {"blocks": _G_BLOCKS, "signs": _G_SIGNS}),
    "DanWood": ("b1*x^b2", "power-law", {}),
    "Misra1b": ("b1*(1-(1+b2*x/2)^(-2))", "saturating", {}),
    "Kirby2": ("(b1 + b2*x + b3*x^2)/(1 + b4*x + b5*x^2)", "rational", {}),
    "Hahn1": (_CUBIC, "rational", {}),
    "Nelson": ("b1 - b2*x1*exp(-b3*x2)", "two-variable", {"log_y": True}),
    "MGH17": ("b1 + b2*exp(-x*b4) + b3*exp(-x*b5)", "exponential", {"blocks": (("b2", "b4"), ("b3", "b5"))}),
    "Lanczos1": (_LANCZOS, "exponential", {"blocks": _L_BLOCKS}),
    "Lanczos2": (_LANCZOS, "exponential", {"blocks": _L_BLOCKS}),
    "Gauss3": (_GAUSS, "gaussian", {"blocks": _G_BLOCKS, "signs": _G_SIGNS}),
    "Misra1c": ("b1*(1-(1+2*b2*x)^(-0.5))", "saturating", {}),
    "Misra1d": ("b1*b2*x*((1+b2*x)^(-1))", "saturating", {}),
    "Roszman1": (f"b1 - b2*x - atan(b3/(x-b4))/{PI}", "trigonometric", {}),
    "ENSO": (_ENSO, "trigonometric", {"blocks": (("b4", "b5", "b6"), ("b7", "b8", "b9")), "signs": (("b4", "b6"), ("b7", "b9"))}),
    "MGH09": ("b1*(x^2+x*b2)/(x^2+x*b3+b4)", "rational", {}),
    "Thurber": (_CUBIC, "rational", {}),
    "BoxBOD": ("b1*(1-exp(-b2*x))", "saturating", {}),
    "Rat42": ("b1/(1+exp(b2-b3*x))", "saturating", {}),
    "MGH10": ("b1*exp(b2/(x+b3))", "exponential", {}),
    "Eckerle4": ("(b1/b2)*exp(-0.5*((x-b3)/b2)^2)", "gaussian", {"signs": (("b1", "b2"),)}),
    "Rat43": ("b1/((1+exp(b2-b3*x))^(1/b4))", "saturating", {}),
    "Bennett5": ("b1*(b2+x)^(-1/b3)", "power-law", {}),
}


def _lines(text: str, what: str) -> tuple[int, int]:
    m = re.search(what + r"\s*\(lines\s+(\d+)\s+to\s+(\d+)\)", text)
    assert m, what
    return int(m.group(1)), int(m.group(2))


def load_nist(name: str) -> Problem:
    formula, kind, opt = NIST[name]
    text = (NIST_DIR / f"{name}.dat").read_text()
    lines = text.splitlines()
    s0, s1 = _lines(text, "Starting Values")
    d0, d1 = _lines(text, "Data")
    start1: dict[str, float] = {}
    start2: dict[str, float] = {}
    cert: dict[str, float] = {}
    for line in lines[s0 - 1 : s1]:
        k, rest = line.split("=")
        v = [float(t) for t in rest.split()]
        start1[k.strip()], start2[k.strip()], cert[k.strip()] = v[0], v[1], v[2]
    rss = float(re.search(r"Residual Sum of Squares:\s+(\S+)", text).group(1))  # type: ignore[union-attr]
    diff = re.search(r"(Lower|Average|Higher) Level of Difficulty", text).group(1).lower()  # type: ignore[union-attr]
    table = np.array([[float(t) for t in line.split()] for line in lines[d0 - 1 : d1]])
    y = table[:, 0]
    if opt.get("log_y"):
        y = np.log(y)
    if table.shape[1] == 2:
        data = {"x": table[:, 1]}
    else:
        data = {f"x{i}": table[:, i] for i in range(1, table.shape[1])}
    return Problem(
        name=name, formula=formula, data=data, y=y, certified=cert, rss=rss, starts=(start1, start2), kind=kind,
        source="nist", difficulty=diff, blocks=opt.get("blocks", ()), signs=opt.get("signs", ()),
        needs_functions=bool(_FUNC_RE.search(formula)),
    )


# ---------------------------------------------------------------------------------------------
# synthetic families: each generator takes a seeded Generator and the case index and returns
# (formula, data, truth, noise level, start-1 spread, start-2 spread, location shifts, blocks, signs)


def _perturb(rng: np.random.Generator, truth: dict[str, float], spread: float, shift: dict[str, float] | None = None) -> dict[str, float]:
    """Scale each parameter by 10^U(-spread, spread) (sign kept); names in ``shift`` move by
    U(0.5, 1.5) * shift[name] in a random direction instead (locations)."""
    out = {}
    for k, v in truth.items():
        if shift and k in shift:
            out[k] = v + rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 1.5) * shift[k]
        else:
            out[k] = v * 10.0 ** rng.uniform(-spread, spread)
    return out


def _expsum(rng: np.random.Generator, i: int):
    m = 2 + i % 2  # 2 or 3 terms
    offset = i % 4 >= 2
    while True:
        k = np.sort(10.0 ** rng.uniform(math.log10(0.05), math.log10(5.0), m))[::-1]
        if np.all(k[:-1] / k[1:] > 2.5):
            break
    a = rng.uniform(0.5, 5.0, m)
    n = int(rng.integers(24, 80))
    # geometric times from 0.1 / (fastest rate) to 6 / (slowest), so every rate is resolved
    x = np.concatenate([[0.0], np.geomspace(0.1 / k[0], 6.0 / k[-1], n - 1)])
    truth: dict[str, float] = {}
    terms = []
    for j in range(m):
        truth[f"a{j + 1}"], truth[f"k{j + 1}"] = float(a[j]), float(k[j])
        terms.append(f"a{j + 1}*exp(-k{j + 1}*x)")
    if offset:
        truth["c"] = float(rng.uniform(0.5, 2.0))
        terms.append("c")
    formula = " + ".join(terms)
    blocks = tuple((f"a{j + 1}", f"k{j + 1}") for j in range(m))
    return formula, {"x": x}, truth, 1e-4 if m == 3 else 1e-3, 0.8, 0.25, None, blocks, ()


def _gauss(rng: np.random.Generator, i: int):
    m = 2 + i % 2
    base = i % 4 < 2
    while True:
        c = np.sort(rng.uniform(50.0, 500.0, m))
        w = rng.uniform(5.0, 50.0, m)
        if np.all(np.diff(c) > np.maximum(w[:-1], w[1:])):
            break
    a = rng.uniform(20.0, 120.0, m)
    x = np.arange(1.0, 600.0, 2.0)
    truth: dict[str, float] = {}
    terms = []
    if base:
        truth["b0"], truth["kb"] = float(rng.uniform(50.0, 100.0)), float(rng.uniform(0.002, 0.02))
        terms.append("b0*exp(-kb*x)")
    shift = {}
    for j in range(m):
        p = j + 1
        truth[f"a{p}"], truth[f"c{p}"], truth[f"w{p}"] = float(a[j]), float(c[j]), float(w[j])
        terms.append(f"a{p}*exp(-(x-c{p})^2/w{p}^2)")
        shift[f"c{p}"] = 0.5 * float(w[j])
    blocks = tuple((f"a{j + 1}", f"c{j + 1}", f"w{j + 1}") for j in range(m))
    signs = tuple((f"w{j + 1}",) for j in range(m))
    return " + ".join(terms), {"x": x}, truth, 0.02, 0.5, 0.15, shift, blocks, signs


def _rational(rng: np.random.Generator, i: int):
    kind = i % 3
    n = int(rng.integers(30, 90))
    if kind == 0:  # linear / linear (hyperbola)
        x = np.sort(10.0 ** rng.uniform(-1, 1.5, n))
        r = 10.0 ** rng.uniform(-0.5, 1.0)
        truth = {"b1": float(rng.uniform(0.5, 3)), "b2": float(rng.uniform(1, 5)), "b3": 1.0 / r}
        formula = "(b1 + b2*x)/(1 + b3*x)"
    elif kind == 1:  # quadratic / quadratic (Kirby2-like); denominator roots -r1, -r2 off the data
        x = np.linspace(1.0, 80.0, n)
        r1, r2 = 10.0 ** rng.uniform(0.5, 2.5, 2)
        truth = {"b1": float(rng.uniform(-2, 2)), "b2": float(rng.uniform(0.5, 2)), "b3": float(rng.uniform(1e-3, 1e-2)),
                 "b4": float(1 / r1 + 1 / r2), "b5": float(1 / (r1 * r2))}
        formula = "(b1 + b2*x + b3*x^2)/(1 + b4*x + b5*x^2)"
    else:  # linear / quadratic in MGH09's form
        x = np.sort(10.0 ** rng.uniform(-1.5, 1.0, n))
        r1, r2 = 10.0 ** rng.uniform(-1.0, 0.7, 2)
        truth = {"b1": float(rng.uniform(0.1, 1)), "b2": float(rng.uniform(0.1, 2)), "b3": float(r1 + r2), "b4": float(r1 * r2)}
        formula = "b1*(x^2+x*b2)/(x^2+x*b3+b4)"
    return formula, {"x": x}, truth, 2e-3, 0.7, 0.2, None, (), ()


def _saturating(rng: np.random.Generator, i: int):
    kind = i % 4
    n = int(rng.integers(10, 40))
    x = np.linspace(1.0, 20.0, n)
    x0 = rng.uniform(6.0, 14.0)
    if kind == 0:  # steep logistic
        s = 10.0 ** rng.uniform(0.0, 0.7)
        truth = {"b1": float(rng.uniform(50, 700)), "b2": float(s * x0), "b3": float(s)}
        formula = "b1/(1+exp(b2-b3*x))"
    elif kind == 1:  # Richards (Rat43-like)
        s = 10.0 ** rng.uniform(-0.3, 0.4)
        truth = {"b1": float(rng.uniform(50, 700)), "b2": float(s * x0), "b3": float(s), "b4": float(rng.uniform(0.3, 3))}
        formula = "b1/((1+exp(b2-b3*x))^(1/b4))"
    elif kind == 2:  # Gompertz
        s = 10.0 ** rng.uniform(-0.3, 0.4)
        truth = {"b1": float(rng.uniform(50, 700)), "b2": float(math.exp(s * x0)), "b3": float(s)}
        formula = "b1*exp(-b2*exp(-b3*x))"
    else:  # steep Hill
        truth = {"b1": float(rng.uniform(50, 700)), "b2": float(rng.uniform(4, 12)), "b3": float(x0)}
        formula = "b1*x^b2/(b3^b2 + x^b2)"
    return formula, {"x": x}, truth, 1e-2, 0.6, 0.2, None, (), ()


def _powerlaw(rng: np.random.Generator, i: int):
    n = int(rng.integers(8, 61))
    # 0.5-3 decades of x anywhere in 1..1e13, alpha 0.05-2, reducible part at the smallest x
    # 0.1-10 times E, multiplicative noise 0.1%-3%
    lo, span = rng.uniform(0.0, 10.0), rng.uniform(0.5, 3.0)
    x = np.sort(10.0 ** rng.uniform(lo, lo + span, n))
    alpha = float(rng.uniform(0.05, 2.0))
    E = float(rng.uniform(0.5, 3.0))
    A = float(10.0 ** rng.uniform(-1.0, 1.0) * E * x[0] ** alpha)
    truth = {"E": E, "A": A, "alpha": alpha}
    return "E + A*x^(-alpha)", {"x": x}, truth, float(10.0 ** rng.uniform(-3, -1.5)), 0.8, 0.25, None, (), ()


def _hoffmann(rng: np.random.Generator, i: int):
    n = int(rng.integers(30, 120))
    N = 10.0 ** rng.uniform(7.0, 10.0, n)
    D = 10.0 ** rng.uniform(9.0, 12.0, n)
    truth = {"E": float(rng.uniform(1.5, 2.0)), "A": float(rng.uniform(200, 800)), "alpha": float(rng.uniform(0.25, 0.45)),
             "B": float(rng.uniform(300, 2000)), "beta": float(rng.uniform(0.25, 0.45))}
    return "E + A*N^(-alpha) + B*D^(-beta)", {"N": N, "D": D}, truth, 5e-3, 0.6, 0.2, None, (), ()


# family: (generator, kind, seeds); noise is relative: sd = level * rms of the clean curve,
# except for the power laws and Hoffmann laws (multiplicative: y * (1 + level * N(0, 1)))
FAMILIES: dict[str, tuple[Callable, str, tuple[int, ...]]] = {
    "expsum": (_expsum, "exponential", (101, 102, 103, 104, 105, 106, 107, 108)),
    "gauss": (_gauss, "gaussian", (201, 202, 203, 204, 205, 206, 207, 208)),
    "rational": (_rational, "rational", (301, 302, 303, 304, 305, 306)),
    "saturating": (_saturating, "saturating", (401, 402, 403, 404, 405, 406, 407, 408)),
    "powerlaw": (_powerlaw, "power-law", tuple(range(501, 521))),
    "hoffmann": (_hoffmann, "two-variable", (601, 602, 603, 604, 605, 606)),
}
_MULTIPLICATIVE = {"powerlaw", "hoffmann"}


def generate(family: str, index: int) -> Problem:
    """The synthetic problem ``family-<index>`` (certified values filled from the JSON when present)."""
    gen, kind, seeds = FAMILIES[family]
    seed = seeds[index]
    rng = np.random.default_rng(seed)
    formula, data, truth, level, far, near, shift, blocks, signs = gen(rng, index)
    name = f"{family}-{index + 1:02d}"
    tmp = Problem(name, formula, data, np.zeros(len(next(iter(data.values())))), dict(truth), 0.0, (), kind, "synthetic")
    clean = tmp.model(truth)
    if family in _MULTIPLICATIVE:
        y = clean * (1.0 + level * rng.standard_normal(len(clean)))
    else:
        y = clean + level * math.sqrt(float(np.mean(clean**2))) * rng.standard_normal(len(clean))
    start1 = _perturb(rng, truth, far, shift and {k: 2 * v for k, v in shift.items()})
    start2 = _perturb(rng, truth, near, shift)
    cert, rss = dict(truth), math.nan
    stored = _certified().get(name)
    if stored is not None:
        cert, rss = {k: float(stored["params"][k]) for k in truth}, float(stored["rss"])
    return Problem(name, formula, data, y, cert, rss, (start1, start2), kind, "synthetic", truth=truth, blocks=blocks, signs=signs)


_CERT_CACHE: dict[str, Any] | None = None


def _certified() -> dict[str, Any]:
    global _CERT_CACHE
    if _CERT_CACHE is None:
        _CERT_CACHE = json.loads(SYNTH_JSON.read_text()) if SYNTH_JSON.exists() else {}
    return _CERT_CACHE


def synthetic_problems() -> list[Problem]:
    return [generate(f, i) for f, (_, _, seeds) in FAMILIES.items() for i in range(len(seeds))]


def nist_problems() -> list[Problem]:
    return [load_nist(n) for n in NIST]


def all_problems() -> list[Problem]:
    return nist_problems() + synthetic_problems()


# ---------------------------------------------------------------------------------------------
# runners


@dataclass
class Run:
    method: str
    rss: float
    params: dict[str, float]
    converged: bool
    message: str
    seconds: float
    n_iter: int = -1

    def solved(self, p: Problem) -> bool:
        return p.solved(self.rss)


def formula_supported(p: Problem) -> bool:
    """False when the installed scalingfit rejects the formula (functions not in the language yet)."""
    import scalingfit as sf

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sf.fit(p.formula, p.data, p.y, loss="l2", target="linear", starts=p.certified, max_iter=1, n_threads=1)
    except ValueError as e:
        if "unknown function" in str(e) or "syntax" in str(e):
            return False
        raise
    return True


def run_scalingfit(p: Problem, starts: Any = None, method: str = "scalingfit", **kw: Any) -> Run:
    """sf.fit on the problem (automatic starts when ``starts`` is None); RSS recomputed here."""
    import scalingfit as sf

    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = sf.fit(p.formula, p.data, p.y, loss="l2", target="linear", starts=starts, **kw)
    except Exception as e:  # a failed fit is a result here
        return Run(method, math.inf, {}, False, f"{type(e).__name__}: {e}", time.perf_counter() - t0)
    dt = time.perf_counter() - t0
    params = {k: float(v) for k, v in r.params.items()}
    return Run(method, p.rss_at(params), params, bool(r.converged), str(r.message), dt, int(r.n_iter))


def run_scipy(p: Problem, x0: dict[str, float], method: str = "lm", jac: str = "exact", label: str | None = None, **kw: Any) -> Run:
    """scipy.optimize.least_squares from ``x0``: tolerances of scalingfit's defaults (ftol 1e-14,
    xtol 1e-12, gtol 1e-12) unless given, the exact complex-step Jacobian (``jac="exact"``) or
    scipy's finite differences ("2-point": MINPACK's lmdif for method='lm')."""
    from scipy.optimize import least_squares

    opts: dict[str, Any] = {"ftol": 1e-14, "xtol": 1e-12, "gtol": 1e-12, "max_nfev": BUDGET}
    opts.update(kw)
    t0 = time.perf_counter()
    x = np.array([x0[k] for k in p.names], dtype=float)
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            r = least_squares(p.residual, x, jac=p.jac if jac == "exact" else jac, method=method, **opts)
        params = dict(zip(p.names, map(float, r.x)))
        return Run(label or f"scipy-{method}", p.rss_at(params), params, r.status > 0, r.message, time.perf_counter() - t0, int(r.nfev))
    except Exception as e:
        return Run(label or f"scipy-{method}", math.inf, {}, False, f"{type(e).__name__}: {e}", time.perf_counter() - t0)


# ---------------------------------------------------------------------------------------------
# certification of the synthetic optima (python tests/hard_problems.py --certify)


def _random_start(rng: np.random.Generator, p: Problem) -> dict[str, float]:
    assert p.truth is not None
    out = {}
    for k, v in p.truth.items():
        if k.startswith("c") and p.kind == "gaussian":
            out[k] = float(rng.uniform(20.0, 580.0))
        else:
            out[k] = v * 10.0 ** rng.uniform(-1.0, 1.0)
    return out


def _scaled_gradient(p: Problem, x: np.ndarray) -> float:
    """max_j |cos| between the residual and column j of the Jacobian (0 at a stationary point)."""
    J, r = np.nan_to_num(p.jac(x)), p.residual(x)
    return float(np.max(np.abs(J.T @ r) / np.maximum(np.linalg.norm(J, axis=0) * np.linalg.norm(r), 1e-300)))


def polish(p: Problem, x: np.ndarray, iters: int = 30) -> np.ndarray:
    """Newton steps on the gradient J'r (Hessian by central differences of the exact gradient;
    Gauss-Newton when that fails), each kept only if it lowers the scaled gradient without raising
    the RSS by more than its rounding error: the stationary point to near machine precision,
    which an RSS-based stopping rule cannot resolve on ill-conditioned problems."""

    def grad(z: np.ndarray) -> np.ndarray:
        return p.jac(z).T @ p.residual(z)

    for _ in range(iters):
        J, r = p.jac(x), p.residual(x)
        g = J.T @ r
        H = np.empty((len(x), len(x)))
        for j in range(len(x)):
            h = 1e-5 * max(abs(x[j]), 1e-30)
            e = np.zeros(len(x))
            e[j] = h
            H[:, j] = (grad(x + e) - grad(x - e)) / (2 * h)
        H = 0.5 * (H + H.T)
        s = np.linalg.norm(J, axis=0)
        steps = []
        try:
            steps.append(-np.linalg.solve(H / np.outer(s, s), g / s) / s)
        except np.linalg.LinAlgError:
            pass
        steps.append(np.linalg.lstsq(J / s, -r, rcond=None)[0] / s)
        g0, rss0 = _scaled_gradient(p, x), p.rss_at(x)
        noise = 8 * np.finfo(float).eps * float(np.sum(np.abs(r) * (np.abs(p.y) + np.abs(r))))  # rounding in the RSS
        for d in steps:
            xn = x + d
            if _scaled_gradient(p, xn) < g0 and p.rss_at(xn) <= rss0 + noise:
                x = xn
                break
        else:
            return x
    return x


def _candidates(p: Problem, n_random: int = 200, seed: int = 0) -> list[dict[str, float]]:
    rng = np.random.default_rng(seed)
    assert p.truth is not None
    return [p.truth, *p.starts] + [_random_start(rng, p) for _ in range(n_random)]


def certify(p: Problem, n_random: int = 200, seed: int = 0) -> dict[str, Any]:
    """Best lm optimum (x_scale='jac', tolerances 1e-15) from the truth, the two published
    starts and ``n_random`` random starts, polished by two more lm runs."""
    tight = {"ftol": 1e-15, "xtol": 1e-15, "gtol": 1e-15, "x_scale": "jac", "max_nfev": 20000}
    cands = _candidates(p, n_random, seed)
    best = None
    for i, x0 in enumerate(cands):
        r = run_scipy(p, x0, "lm", **{**tight, "max_nfev": 20000 if i < 3 else 2000})
        if best is None or r.rss < best.rss:
            best = r
    assert best is not None
    for _ in range(2):
        r = run_scipy(p, best.params, "lm", **tight)
        if r.rss <= best.rss:
            best = r
    return _certificate(p, np.array([best.params[k] for k in p.names]), cands)


def _certificate(p: Problem, x: np.ndarray, cands: list[dict[str, float]]) -> dict[str, Any]:
    tight = {"ftol": 1e-15, "xtol": 1e-15, "gtol": 1e-15, "x_scale": "jac", "max_nfev": 2000}
    x = polish(p, x)
    rss = p.rss_at(x)
    J = np.nan_to_num(p.jac(x))
    sv = np.linalg.svd(J / np.maximum(np.linalg.norm(J, axis=0), 1e-300), compute_uv=False)
    hits = sum(run_scipy(p, x0, "lm", **tight).rss <= rss * (1 + RTOL) for x0 in cands[:20])
    assert p.truth is not None
    return {"params": dict(zip(p.names, map(float, x))), "rss": rss, "truth_rss": p.rss_at(p.truth), "max_cos_grad": _scaled_gradient(p, x),
            "cond": float(sv[0] / sv[-1]), "lm_hits_of_first_20": int(hits)}


def _main(argv: list[str]) -> None:
    if "--polish" in argv:  # re-polish the stored optima (no new search)
        out = dict(_certified())
        for p in synthetic_problems():
            old = p.certified
            c = _certificate(p, np.array([old[k] for k in p.names]), _candidates(p, 20))
            out[p.name] = c
            print(f"{p.name:14s} rss {p.rss:.12e} -> {c['rss']:.12e} cos_grad={c['max_cos_grad']:.1e} digits agreeing with the stored optimum {p.lre(c['params']):.1f}", flush=True)
        SYNTH_JSON.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    elif "--certify" in argv:
        # --certify [family ...]: (re)certify all synthetic problems or those of the families named
        families = [a for a in argv if a in FAMILIES]
        out = dict(_certified()) if families else {}
        for p in synthetic_problems():
            if families and p.name.rsplit("-", 1)[0] not in families:
                continue
            c = certify(p, n_random=100 if p.kind == "gaussian" else 200)
            out[p.name] = c
            flag = "" if c["max_cos_grad"] < 1e-6 and c["cond"] < 1e12 else "  <-- check"
            print(f"{p.name:14s} rss={c['rss']:.10e} truth/rss={c['truth_rss'] / c['rss']:.4f} cos_grad={c['max_cos_grad']:.1e} "
                  f"cond={c['cond']:.1e} hits={c['lm_hits_of_first_20']}/20 {c['params']}{flag}", flush=True)
        SYNTH_JSON.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
        print(f"wrote {SYNTH_JSON}")
    else:
        for p in all_problems():
            print(f"{p.name:14s} {p.source:9s} {p.kind:13s} n={p.n:4d} k={len(p.names)} rss={p.rss:.10e} "
                  f"rss(certified params)={p.rss_at(p.certified):.10e} {p.formula}")


if __name__ == "__main__":
    _main(sys.argv[1:])
