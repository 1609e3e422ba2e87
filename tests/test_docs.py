"""The documentation stays true: the docstring examples run (doctest), docs/API.md is what
scripts/api_reference.py generates from the docstrings now, every public name has a docstring,
and scripts/gallery.py draws the README gallery."""

import doctest
import importlib
import importlib.util
import inspect
import pkgutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import scalingfit
import scalingfit.datasets  # noqa: F401  (sf.datasets in the examples)

ROOT = Path(__file__).resolve().parents[1]
# at least this many doctest examples must run (so the test cannot pass on no examples)
MIN_EXAMPLES = 90


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _modules() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(scalingfit.__path__) if m.name != "__main__")


def test_docstring_examples_run():
    # the examples may use ``sf`` and ``np`` without importing them (numpy's convention)
    globs = {"sf": scalingfit, "np": np}
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    failed, attempted, report = 0, 0, []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", scalingfit.ScalingFitWarning)
        for name in _modules():
            mod = importlib.import_module(f"scalingfit.{name}")
            r = doctest.testmod(mod, extraglobs=globs, optionflags=flags, report=False)
            failed += r.failed
            attempted += r.attempted
            if r.failed:
                report.append(f"scalingfit.{name}: {r.failed} of {r.attempted} failed")
    assert failed == 0, "doctest failures (details above in the captured output): " + "; ".join(report)
    assert attempted >= MIN_EXAMPLES, f"only {attempted} doctest examples ran (expected >= {MIN_EXAMPLES})"


def test_api_reference_is_current():
    api = _script("api_reference")
    path = ROOT / "docs" / "API.md"
    assert path.exists(), "docs/API.md is missing: run python scripts/api_reference.py"
    assert path.read_text(encoding="utf-8") == api.render(), (
        "docs/API.md is out of date with the docstrings: run python scripts/api_reference.py")


def test_every_public_name_has_a_docstring():
    missing = []
    for name in scalingfit.__all__:
        obj = getattr(scalingfit, name)
        if isinstance(obj, (str, int, float)):  # __version__
            continue
        if not (inspect.getdoc(obj) or "").strip():
            missing.append(name)
    assert not missing, f"public names without a docstring: {missing}"


def test_gallery_script_writes_its_images(tmp_path):
    mpl = pytest.importorskip("matplotlib")
    mpl.use("Agg")
    gallery = _script("gallery")
    assert gallery.main([str(tmp_path)]) == 0
    for f in gallery.FILES:
        p = tmp_path / f
        assert p.exists() and p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f
        assert 2_000 < p.stat().st_size < 120_000, (f, p.stat().st_size)
    for f in gallery.FILES:  # the committed gallery is the script's output
        assert (ROOT / "docs" / "gallery" / f).exists(), f"docs/gallery/{f} missing: run python scripts/gallery.py"
