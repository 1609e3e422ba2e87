#!/usr/bin/env python
"""Generate docs/API.md, the API reference, from scalingfit's docstrings.

Each public function (``scalingfit.__all__``, and the functions of the ``scalingfit.dimension``
module) appears with its signature and docstring; each result class with its docstring, its
annotated attributes (name and type) and its public methods and properties. The output depends only on the
docstrings and signatures, so it is deterministic; tests/test_docs.py checks that docs/API.md is
current.

Usage: python scripts/api_reference.py [--check] [OUTPUT]   (default OUTPUT: docs/API.md next to
this script's repository; --check exits 1 when the file differs instead of writing it)
"""

from __future__ import annotations

import importlib
import inspect
import sys
from pathlib import Path
from typing import Any

DEFAULT = Path(__file__).resolve().parent.parent / "docs" / "API.md"

# Result classes: (module, class name), in the order of the workflow.
RESULT_CLASSES = [
    ("scalingfit._fit", "FitResult"),
    ("scalingfit._bootstrap", "BootstrapResult"),
    ("scalingfit._bootstrap", "Distribution"),
    ("scalingfit.analysis", "ComputeOptimal"),
    ("scalingfit.analysis", "Required"),
    ("scalingfit.analysis", "Returns"),
    ("scalingfit.analysis", "Budget"),
    ("scalingfit._validation", "Extrapolation"),
    ("scalingfit._validation", "Backtest"),
    ("scalingfit.isoflop", "IsoFlop"),
    ("scalingfit.isoflop", "Envelope"),
    ("scalingfit.isoflop", "Approaches"),
    ("scalingfit.economics", "Economics"),
    ("scalingfit.downstream", "TwoStep"),
    ("scalingfit.compare", "FormComparison"),
    ("scalingfit.exponent", "LocalExponent"),
    ("scalingfit.dimension", "TileEstimate"),
    ("scalingfit.dimension", "TwoNNEstimate"),
    ("scalingfit.dimension", "MLEEstimate"),
    ("scalingfit.dimension", "Comparison"),
]


def _doc(obj: Any) -> str:
    return inspect.cleandoc(obj.__doc__) if getattr(obj, "__doc__", None) else "(no docstring)"


def _block(text: str) -> list[str]:
    # numpydoc underlines would turn into markdown headings: keep docstrings verbatim
    return ["```text", text, "```", ""]


class _Annotation:
    """A string annotation shown without quotes (``x: float``, not ``x: 'float'``)."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _signature(obj: Any) -> str:
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return "(...)"

    def ann(a: Any) -> Any:
        return _Annotation(a) if isinstance(a, str) else a

    params = [p.replace(annotation=ann(p.annotation)) for p in sig.parameters.values()]
    return str(sig.replace(parameters=params, return_annotation=ann(sig.return_annotation)))


def _anchor(title: str) -> str:
    return "".join(c for c in title.lower().replace(" ", "-") if c.isalnum() or c in "-_")


def _function(name: str, fn: Any, level: str = "###") -> list[str]:
    return [f"{level} `{name}`", "", f"```python\n{name}{_signature(fn)}\n```", "", *_block(_doc(fn))]


def _annotations(cls: type) -> dict[str, str]:
    """The public annotated attributes of ``cls`` and its bases (base classes first)."""
    out: dict[str, str] = {}
    for c in reversed(cls.__mro__):
        if c is object:
            continue
        ann = inspect.get_annotations(c) if hasattr(inspect, "get_annotations") else c.__dict__.get("__annotations__", {})
        for name, t in ann.items():
            if not name.startswith("_") and not isinstance(inspect.getattr_static(cls, name, None), property):
                out[name] = t if isinstance(t, str) else inspect.formatannotation(t)
    return out


def _attributes(cls: type) -> list[str]:
    ann = _annotations(cls)
    if not ann:
        return []
    return [f"Attributes of `{cls.__name__}` (see its docstring for their meaning):", "",
            *[f"- `{n}`: `{t}`" for n, t in ann.items()], ""]


def _members(cls: type) -> list[str]:
    out: list[str] = []
    for name in sorted(n for n in dir(cls) if not n.startswith("_")):
        static = inspect.getattr_static(cls, name)
        if isinstance(static, property):
            doc = _doc(static)
            out += [f"#### `{cls.__name__}.{name}` (property)", "", *_block(doc)]
        elif isinstance(static, (staticmethod, classmethod)) or inspect.isfunction(static):
            fn = getattr(cls, name)
            kind = " (classmethod)" if isinstance(static, classmethod) else " (staticmethod)" if isinstance(static, staticmethod) else ""
            out += [f"#### `{cls.__name__}.{name}{_signature(fn)}`{kind}", "", *_block(_doc(fn))]
    return out


def render() -> str:
    import scalingfit as sf

    lines = ["# scalingfit API reference", "",
             "Generated from the docstrings by `scripts/api_reference.py`; do not edit by hand "
             "(run `python scripts/api_reference.py` after changing a docstring; `tests/test_docs.py` checks it is current).",
             "The examples (`>>>` lines) run as doctests in `tests/test_docs.py`.", ""]
    funcs = [n for n in sf.__all__ if inspect.isfunction(getattr(sf, n))]
    classes = [n for n in sf.__all__ if inspect.isclass(getattr(sf, n))]
    dim_funcs = [n for n in sf.dimension.__all__ if inspect.isfunction(getattr(sf.dimension, n))]
    toc = ["## Contents", "", "- [Package](#package)", "- [Functions](#functions)"]
    toc += [f"  - [`{n}`](#{_anchor(n)})" for n in funcs]
    toc += ["- [`scalingfit.dimension`](#scalingfitdimension)"]
    toc += [f"  - [`dimension.{n}`](#{_anchor('dimension.' + n)})" for n in dim_funcs]
    toc += ["- [Result classes](#result-classes)"]
    toc += [f"  - [`{c}`](#{_anchor(c)})" for _, c in RESULT_CLASSES]
    toc += ["- [Other classes](#other-classes)"]
    toc += [f"  - [`{c}`](#{_anchor(c)})" for c in classes if c not in {c for _, c in RESULT_CLASSES}]
    lines += toc + ["", "## Package", "", *_block(_doc(sf)), "## Functions", ""]
    for n in funcs:
        lines += _function(n, getattr(sf, n))
    lines += ["## scalingfit.dimension", "", *_block(_doc(sf.dimension))]
    for n in dim_funcs:
        lines += _function("dimension." + n, getattr(sf.dimension, n))
    lines += ["## Result classes", ""]
    for mod, name in RESULT_CLASSES:
        cls = getattr(importlib.import_module(mod), name)
        lines += [f"### `{name}`", "", *_block(_doc(cls)), *_attributes(cls), *_members(cls)]
    lines += ["## Other classes", ""]
    for n in classes:
        if n in {c for _, c in RESULT_CLASSES}:
            continue
        lines += [f"### `{n}`", "", *_block(_doc(getattr(sf, n)))]
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv: list[str]) -> int:
    check = "--check" in argv
    args = [a for a in argv if a != "--check"]
    path = Path(args[0]) if args else DEFAULT
    text = render()
    if check:
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            print(f"{path} is out of date: run python scripts/api_reference.py", file=sys.stderr)
            return 1
        return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
