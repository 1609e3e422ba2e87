"""The scalingfit results file: fits and bootstraps in one portable ``.npz`` archive, no pickle.

File format "scalingfit", version 1 (:data:`FORMAT_VERSION`). A zip archive as written by
``numpy.savez_compressed`` and read with ``numpy.load(..., allow_pickle=False)``:

- member ``scalingfit``: a uint8 array, the UTF-8 bytes of a JSON object ``{"format":
  "scalingfit", "format_version": 1, "scalingfit_version": ..., "kind": "fit" | "bootstrap",
  "data": TREE}``;
- members ``a0``, ``a1``, ...: every numpy array of the tree, dtype, shape and bits unchanged.

TREE is the object's state (the fields its pickling keeps) as JSON. Strings, ints (any size),
bools, None, lists and dicts with string keys are themselves; finite floats are JSON numbers
(Python writes the shortest repr, which reads back to the same float64). What JSON cannot hold is a
dict with one key starting with ``$``:

- ``{"$f64": "7ff0000000000000"}``: a non-finite float, by its 64 bits (inf, -inf, NaN payload);
- ``{"$array": "a3"}``: the array in member a3 (one member per array object: an array referenced
  twice is stored once and read back as one object);
- ``{"$scalar": ["<i8", "2a00000000000000"]}``: a numpy scalar, by its dtype and bytes;
- ``{"$tuple": [...]}``, ``{"$dict": {...}}`` (a dict with keys starting with ``$``),
  ``{"$items": [[key, value], ...]}`` (a dict with other keys than strings);
- ``{"$formula": {"source": ..., "variables": [...]}}``: a compiled ``_core.Formula``;
- ``{"$object": {"class": "FitResult", "state": {...}}}``: a FitResult, Problem or
  BootstrapResult, by the state its ``__getstate__`` gives (what pickle stores; Rust state such as
  ``Problem.core`` is left out and rebuilt on first use).

This module does not import the result classes, so that their ``save()`` methods can delegate
here without an import cycle: objects are recognised by class name when saving, and
:func:`load_tree` takes the classes from its caller (:mod:`scalingfit._io`).
"""

from __future__ import annotations

import json
import math
import os
import struct
import uuid
import zipfile
import zlib
from pathlib import Path
from typing import Any, Callable

import numpy as np

from . import _core

FORMAT = "scalingfit"
FORMAT_VERSION = 1
KINDS = {"FitResult": "fit", "BootstrapResult": "bootstrap"}  # what save() accepts, and its kind
OBJECTS = ("FitResult", "Problem", "BootstrapResult")  # the classes a file may hold
_META = "scalingfit"  # the JSON member
_ACCEPTED = "a FitResult (from scalingfit.fit) or a BootstrapResult (from scalingfit.bootstrap)"


def as_path(path: Any, fn: str) -> Path:
    """``path`` (str or os.PathLike) as a Path, or a TypeError naming ``fn``."""
    if isinstance(path, (str, os.PathLike)):
        p = os.fspath(path)
        p = os.fsdecode(p) if isinstance(p, bytes) else p
        if p:
            return Path(p)
    raise TypeError(f"{fn}: path must be a non-empty str or os.PathLike, got {type(path).__name__} {path!r:.60}")


def kind_of(obj: Any) -> str | None:
    """"fit" or "bootstrap" for a FitResult or BootstrapResult, else None."""
    cls = type(obj)
    return KINDS.get(cls.__qualname__) if cls.__module__.startswith("scalingfit.") else None


# -- the tree ---------------------------------------------------------------------------------


class _Encoder:
    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}
        self._names: dict[int, str] = {}  # id(array) -> member (the arrays are kept alive above)

    def array(self, a: np.ndarray, where: str) -> dict[str, str]:
        if a.dtype.hasobject:
            raise TypeError(f"save: {where} is an array of Python objects (dtype {a.dtype}), which cannot be stored without pickle")
        name = self._names.get(id(a))
        if name is None:
            name = self._names[id(a)] = f"a{len(self.arrays)}"
            self.arrays[name] = a
        return {"$array": name}

    def __call__(self, v: Any, where: str) -> Any:
        t = type(v)
        if v is None or t is bool or t is int or t is str:
            return v
        if t is float:
            return v if math.isfinite(v) else {"$f64": struct.pack(">d", v).hex()}  # inf, NaN: by their bits
        if t is np.ndarray:
            return self.array(v, where)
        if isinstance(v, np.generic):
            if v.dtype.hasobject:
                raise TypeError(f"save: {where} is a numpy object scalar, which cannot be stored without pickle")
            return {"$scalar": [v.dtype.str, v.tobytes().hex()]}
        if t is list:
            return [self(x, f"{where}[{i}]") for i, x in enumerate(v)]
        if t is tuple:
            return {"$tuple": [self(x, f"{where}[{i}]") for i, x in enumerate(v)]}
        if t is dict:
            if all(type(k) is str for k in v):
                d = {k: self(x, f"{where}[{k!r}]") for k, x in v.items()}
                return {"$dict": d} if any(k.startswith("$") for k in d) else d
            return {"$items": [[self(k, f"{where} key {k!r}"), self(x, f"{where}[{k!r}]")] for k, x in v.items()]}
        if t is _core.Formula:
            return {"$formula": {"source": v.source, "variables": list(v.variables)}}
        if t.__qualname__ in OBJECTS and t.__module__.startswith("scalingfit."):
            getstate = getattr(v, "__getstate__", None)  # Python < 3.11: only the classes' own
            state = getstate() if getstate is not None else v.__dict__
            if type(state) is not dict:
                raise TypeError(f"save: {where}: {t.__name__}.__getstate__ gave a {type(state).__name__}, not a dict")
            return {"$object": {"class": t.__qualname__, "state": {k: self(x, f"{where}.{k}") for k, x in state.items()}}}
        raise TypeError(f"save: {where} is a {t.__module__}.{t.__qualname__}, which a scalingfit file cannot hold "
                        "(it holds None, bool, int, float, str, lists, tuples, dicts, numpy arrays and scalars)")


def encode(obj: Any, where: str = "obj") -> tuple[Any, dict[str, np.ndarray]]:
    """(JSON-ready tree, arrays by member name) of a JSON-like tree, result objects included."""
    enc = _Encoder()
    return enc(obj, where), enc.arrays


def decode(tree: Any, arrays: dict[str, np.ndarray], rebuild: Callable[[str, dict[str, Any]], Any]) -> Any:
    """The inverse of :func:`encode`; ``rebuild(class name, state)`` makes the result objects.
    A malformed tree is a ValueError (KeyError, TypeError and the like are turned into one)."""

    def dec(t: Any) -> Any:
        tt = type(t)
        if t is None or tt is bool or tt is int or tt is float or tt is str:
            return t
        if tt is list:
            return [dec(x) for x in t]
        if tt is not dict:
            raise ValueError(f"unexpected JSON value {t!r:.60}")
        if len(t) == 1:
            ((tag, v),) = t.items()
            if tag.startswith("$"):
                return tagged(tag, v)
        if any(k.startswith("$") for k in t):
            raise ValueError(f"a dict with tag keys {sorted(k for k in t if k.startswith('$'))}")
        return {k: dec(x) for k, x in t.items()}

    def tagged(tag: str, v: Any) -> Any:
        if tag == "$f64":
            return struct.unpack(">d", bytes.fromhex(v))[0]
        if tag == "$array":
            if v not in arrays:
                raise ValueError(f"array member {v!r} is missing")
            return arrays[v]
        if tag == "$scalar":
            dtype = np.dtype(v[0])
            if dtype.hasobject:
                raise ValueError("a numpy object scalar")
            return np.frombuffer(bytes.fromhex(v[1]), dtype=dtype)[0]
        if tag == "$tuple":
            return tuple(dec(x) for x in v)
        if tag == "$dict":
            return {k: dec(x) for k, x in v.items()}
        if tag == "$items":
            return {dec(k): dec(x) for k, x in v}
        if tag == "$formula":
            return _core.Formula(v["source"], list(v["variables"]))
        if tag == "$object":
            name = v["class"]
            if name not in OBJECTS:
                raise ValueError(f"unknown object class {name!r}")
            state = dec(v["state"])
            if type(state) is not dict:
                raise ValueError(f"the state of a {name} is not a dict")
            return rebuild(name, state)
        raise ValueError(f"unknown tag {tag!r}")

    try:
        return dec(tree)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, struct.error) as e:
        raise ValueError(f"malformed data ({type(e).__name__}: {e})") from None


# -- the file ---------------------------------------------------------------------------------


def save(obj: Any, path: Any) -> Path:
    """Write a FitResult or BootstrapResult to ``path`` (exactly that path: no suffix is added;
    ``.npz`` is the natural one). The file is written next to its final name and renamed into
    place, so it is whole or absent, never half-written. Returns the path."""
    kind = kind_of(obj)
    if kind is None:
        raise TypeError(f"save: expected {_ACCEPTED}, got {type(obj).__name__}")
    p = as_path(path, "save")
    if p.is_dir():
        raise IsADirectoryError(f"save: {p} is a directory; give a file name such as {p / ('results.npz')}")
    parent = p.parent
    if not parent.is_dir():
        raise FileNotFoundError(f"save: cannot write {p}: the directory {parent} does not exist")
    tree, arrays = encode(obj, type(obj).__name__)
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "scalingfit_version": _core.__version__, "kind": kind, "data": tree}
    text = json.dumps(meta, allow_nan=False, ensure_ascii=False, separators=(",", ":"))
    members: dict[str, Any] = {_META: np.frombuffer(text.encode("utf-8"), dtype=np.uint8), **arrays}
    tmp = parent / f".{p.name}.{uuid.uuid4().hex[:12]}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # mode as for open(): the umask applies
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez_compressed(fh, **members)
        os.replace(tmp, p)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return p


def _corrupt(p: Path, why: str) -> ValueError:
    return ValueError(f"cannot load {p}: {why}")


def read(path: Any) -> tuple[dict[str, Any], dict[str, np.ndarray], Path]:
    """(metadata, arrays, path) of a scalingfit file, its format and version checked. A missing
    file is the FileNotFoundError of ``open``; one that is not a (readable) scalingfit file, or of a
    newer format version, is a ValueError naming the path."""
    p = as_path(path, "load")
    with open(p, "rb") as fh:  # FileNotFoundError, IsADirectoryError, PermissionError: as they are
        head = fh.read(4)
        if head[:2] != b"PK":
            raise _corrupt(p, "not a scalingfit results file (not an .npz archive" + (": the file is empty)" if not head else ")"))
        fh.seek(0)
        try:
            with np.load(fh, allow_pickle=False) as z:
                files = list(z.files)
                if _META not in files:
                    raise _corrupt(p, f"an .npz archive, but not a scalingfit results file (no {_META!r} member; members: "
                                      f"{', '.join(files[:10]) or 'none'})")
                raw = z[_META]
                if raw.dtype != np.uint8 or raw.ndim != 1:
                    raise _corrupt(p, f"the {_META!r} member is not UTF-8 JSON bytes")
                meta = json.loads(raw.tobytes().decode("utf-8"))
                if type(meta) is not dict:
                    raise _corrupt(p, f"the {_META!r} member is not a JSON object")
                check_version(meta, p)
                arrays = {k: z[k] for k in files if k != _META}
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, UnicodeDecodeError, KeyError) as e:
            raise _corrupt(p, f"the file is corrupt or truncated ({type(e).__name__}: {e})") from None
        except ValueError as e:
            if str(e).startswith("cannot load "):
                raise
            raise _corrupt(p, f"the file is corrupt or truncated ({type(e).__name__}: {e})") from None
    return meta, arrays, p


def check_version(meta: dict[str, Any], p: Path) -> None:
    fmt, ver = meta.get("format"), meta.get("format_version")
    if fmt != FORMAT:
        raise _corrupt(p, f"not a scalingfit results file (format {fmt!r}, expected {FORMAT!r})")
    if type(ver) is not int or ver < 1:
        raise _corrupt(p, f"the format version {ver!r} is not a positive integer (a damaged file?)")
    if ver > FORMAT_VERSION:
        raise ValueError(
            f"cannot load {p}: it was written by scalingfit {meta.get('scalingfit_version', '?')} in file format version {ver}, "
            f"and this scalingfit ({_core.__version__}) reads format version {FORMAT_VERSION} at most; "
            f"upgrade scalingfit (pip install --upgrade scalingfit) to read it"
        )
    if meta.get("kind") not in KINDS.values() or "data" not in meta:
        raise _corrupt(p, f"unknown kind {meta.get('kind')!r} (expected one of {', '.join(KINDS.values())})")


def load_tree(path: Any, rebuild: Callable[[str, dict[str, Any]], Any]) -> tuple[str, Any]:
    """(kind, object) of a scalingfit file; ``rebuild(class name, state)`` makes the objects."""
    meta, arrays, p = read(path)
    try:
        obj = decode(meta["data"], arrays, rebuild)
    except ValueError as e:
        raise _corrupt(p, f"{e} (a damaged file?)") from None
    kind = meta["kind"]
    if kind_of(obj) != kind:
        raise _corrupt(p, f"the file says it holds a {kind} but holds a {type(obj).__name__} (a damaged file?)")
    return kind, obj
