"""``save`` and ``load``: a FitResult or BootstrapResult in one portable file, without pickle.

The file is a versioned ``.npz`` archive: JSON metadata (format name, format version, the
scalingfit version that wrote it, the kind) and the numeric arrays bit for bit; the layout is in
:mod:`scalingfit._codec`. A loaded result is whole: a fit keeps its data and settings (so
``bootstrap``, ``predict`` and the analyses work and give the same numbers as the original), a
bootstrap keeps its samples or summary and what BCa's jackknife needs.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from . import _codec
from ._bootstrap import BootstrapResult
from ._fit import FitResult, Problem

FORMAT_VERSION = _codec.FORMAT_VERSION
_CLASSES: dict[str, Any] = {"FitResult": FitResult, "Problem": Problem, "BootstrapResult": BootstrapResult}
assert set(_CLASSES) == set(_codec.OBJECTS)


def save(obj: FitResult | BootstrapResult, path: str | Any) -> Path:
    """Write a fit (:func:`scalingfit.fit`) or bootstrap (:func:`scalingfit.bootstrap`) to ``path``.

    ``path`` (str or os.PathLike) is used as given: no suffix is added, so :func:`load` takes the
    same path (``.npz`` is the natural suffix: the file is an ordinary numpy archive). An existing
    file is replaced whole (written beside it, then renamed). Returns the path as a ``Path``.
    Anything but a FitResult or BootstrapResult is a TypeError.
    """
    return _codec.save(obj, path)


def load(path: str | Any) -> FitResult | BootstrapResult:
    """Read a result written by :func:`save`: a FitResult or BootstrapResult equal to the saved
    one (every float bit for bit). A missing file is a FileNotFoundError; a file that is not a
    scalingfit file, is damaged, or was written in a newer format version (then: upgrade
    scalingfit) is a ValueError naming the path.

    Returns
    -------
    FitResult or BootstrapResult

    Examples
    --------
    >>> import os, tempfile
    >>> import scalingfit as sf
    >>> from scalingfit.datasets import hoffmann_example
    >>> fit = sf.fit("chinchilla", hoffmann_example(seed=0), "loss")
    >>> path = os.path.join(tempfile.mkdtemp(), "fit.npz")
    >>> sf.load(fit.save(path)).params == fit.params
    True
    """
    _, obj = _codec.load_tree(path, _rebuild)
    return obj  # type: ignore[no-any-return]


def _rebuild(name: str, state: dict[str, Any]) -> Any:
    """An object from its pickled state, as ``pickle`` rebuilds it (``__new__``, then
    ``__setstate__`` or the instance dict); dataclass fields the file lacks get their defaults."""
    cls = _CLASSES[name]
    obj = cls.__new__(cls)
    if dataclasses.is_dataclass(cls):
        for f in dataclasses.fields(cls):
            if f.name not in state:
                if f.default is not dataclasses.MISSING:
                    state[f.name] = f.default
                elif f.default_factory is not dataclasses.MISSING:
                    state[f.name] = f.default_factory()
                else:
                    raise ValueError(f"the {name} has no {f.name!r}")
    setstate = getattr(obj, "__setstate__", None)
    if setstate is not None:
        setstate(state)
    else:
        obj.__dict__.update(state)
    return obj
