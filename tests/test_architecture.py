"""The layout rules of the Development section: no source file over 800 lines, and no import
cycle between Rust modules (one module per file; an edge for every path into another module:
`use crate::a::b`, `super::x`, or an inline `crate::a::b::f(...)`, test code included) or between
the Python package's modules (every import, including those inside functions)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
PKG = ROOT / "python" / "scalingfit"
MAX_LINES = 800


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _rust_modules() -> dict[str, Path]:
    mods = {}
    for f in SRC.rglob("*.rs"):
        parts = list(f.relative_to(SRC).with_suffix("").parts)
        if parts[-1] in ("mod", "lib"):
            parts = parts[:-1]
        mods["::".join(["crate", *parts])] = f
    return mods


def _strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def _resolve(path: list[str], mods: dict[str, Path]) -> str | None:
    for k in range(len(path), 0, -1):
        name = "::".join(path[:k])
        if name in mods:
            return name
    return None


def rust_graph() -> dict[str, set[str]]:
    mods = _rust_modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for m, f in mods.items():
        text = _strip_comments(f.read_text())
        parent = m.rsplit("::", 1)[0] if m != "crate" else "crate"
        for match in re.finditer(r"\b((?:crate|super)(?:::\w+)+)", text):
            parts = match.group(1).split("::")
            base = m.split("::") if f.stem in ("mod", "lib") else parent.split("::")
            while parts and parts[0] == "super":
                parts.pop(0)
                if parts and parts[0] == "super":
                    base = base[:-1]
                if f.stem in ("mod", "lib") and base == m.split("::"):
                    base = base[:-1]
            full = parts if parts and parts[0] == "crate" else base + parts
            target = _resolve(full, mods)
            if target and target != m:
                graph[m].add(target)
        # a child module declared here (`mod name;`) used by a bare path (`name::x`)
        if f.stem in ("mod", "lib"):
            own = m.split("::")
            for child in re.findall(r"\bmod\s+(\w+)\s*;", text):
                if re.search(rf"(?<!::)\b{child}::", text):
                    target = _resolve(own + [child], mods)
                    if target and target != m:
                        graph[m].add(target)
    return graph


def python_graph() -> dict[str, set[str]]:
    mods = {f.stem: f for f in PKG.glob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for m, f in mods.items():
        for node in ast.walk(ast.parse(f.read_text())):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom):
                mod = node.module or ""
                if node.level == 1:
                    targets.append(mod.split(".")[0] if mod else "")
                    if not mod:
                        targets += [a.name for a in node.names]
                elif mod == "scalingfit":
                    targets += [a.name for a in node.names]
                elif mod.startswith("scalingfit."):
                    targets.append(mod.split(".")[1])
            elif isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.startswith("scalingfit."):
                        targets.append(a.name.split(".")[1])
                    elif a.name == "scalingfit":
                        targets.append("__init__")
            for t in targets:
                if t in mods and t != m:
                    graph[m].add(t)
    return graph


def test_no_source_file_over_the_limit():
    files = list(SRC.rglob("*.rs")) + list(PKG.glob("*.py"))
    long = {str(f.relative_to(ROOT)): n for f in files if (n := len(f.read_text().splitlines())) > MAX_LINES}
    assert not long, f"files over {MAX_LINES} lines: {long}"


def test_rust_modules_form_an_acyclic_graph():
    g = rust_graph()
    assert "crate::fit::lm" in g and "crate::fit::problem" in g["crate::fit::lm"]  # the parser sees edges
    assert not _cycles(g), f"import cycles between Rust modules: {_cycles(g)}"


def test_python_modules_form_an_acyclic_graph():
    g = python_graph()
    assert "_fit" in g["_bootstrap"]  # the parser sees edges
    # the package's __init__ imports everything; a module importing the package itself (e.g.
    # `import scalingfit as sf` inside a function) would close a cycle through it
    assert not _cycles(g), f"import cycles between Python modules: {_cycles(g)}"


def test_the_cycle_finder_finds_cycles():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
