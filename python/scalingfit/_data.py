"""Argument normalisation shared by the public functions (no numerics here)."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from statistics import NormalDist
from typing import Any

import numpy as np


def physical_memory() -> int | None:
    """Bytes of memory this process may use, when the platform says (None otherwise): the
    smallest of physical memory, the address-space limit (``ulimit -v``, RLIMIT_AS) and the
    cgroup v2/v1 memory limit (containers, Slurm jobs)."""
    limits = []
    try:
        limits.append(int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE")))
    except (AttributeError, ValueError, OSError):
        pass
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_AS)[0]
        if soft != resource.RLIM_INFINITY and soft > 0:
            limits.append(int(soft))
    except (ImportError, ValueError, OSError):
        pass
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path) as f:
                text = f.read().strip()
        except OSError:
            continue
        if text.isdigit() and 0 < int(text) < 2**62:
            limits.append(int(text))
    return min(limits) if limits else None


def refuse_over_memory(what: str, need: float, fix: str) -> None:
    """ValueError ``"{what} would need X GiB, more than half of the Y GiB this process may use;
    {fix}"`` when ``need`` bytes pass half of :func:`physical_memory` (nothing when unknown)."""
    avail = physical_memory()
    if avail is not None and need > avail // 2:
        raise ValueError(f"{what} would need {need / 2**30:.3g} GiB, more than half of the {avail / 2**30:.3g} GiB this process may use; {fix}")


def check_seed(seed: Any) -> int:
    """A seed in [0, 2**64) as an int, or a ValueError naming ``seed``. A numpy ``Generator``
    gives its next 64-bit draw (advancing it) and a ``SeedSequence`` its first 64-bit state
    word: deterministic, and the int is what results record."""
    if isinstance(seed, np.random.Generator):
        return int(seed.integers(0, 2**64, dtype=np.uint64))
    if isinstance(seed, np.random.SeedSequence):
        return int(seed.generate_state(1, np.uint64)[0])
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not (0 <= seed < 2**64):
        raise ValueError(f"seed must be an integer in [0, 2**64), a numpy Generator or a SeedSequence; got {seed!r}")
    return int(seed)


def check_level(level: Any, arg: str = "level") -> float:
    """A confidence level in (0, 1) as a float, or a ValueError/TypeError naming ``arg``."""
    if isinstance(level, bool) or not isinstance(level, (int, float, np.integer, np.floating)):
        raise TypeError(f"{arg} must be a number in (0, 1), e.g. 0.95; got {type(level).__name__} {level!r}")
    if not (0 < level < 1):
        raise ValueError(f"{arg} must be in (0, 1), e.g. 0.95; got {level!r}")
    return float(level)


def jsonable(v: Any) -> Any:
    """A strict-JSON-ready copy of v (``json.dumps(..., allow_nan=False)`` accepts it): NaN becomes
    None, infinities the strings "inf"/"-inf", numpy scalars and arrays Python numbers and lists,
    complex numbers and other objects their ``str``."""
    if isinstance(v, np.ndarray):
        return [jsonable(x) for x in v.tolist()] if v.ndim else jsonable(v.item())
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, Mapping):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        f = float(v)
        return f if math.isfinite(f) else (None if math.isnan(f) else ("inf" if f > 0 else "-inf"))
    if v is None or isinstance(v, str):
        return v
    return str(v)


def column_names(data: Any) -> list[str]:
    """Names of the columns of a dict / DataFrame / structured array."""
    if type(data) is dict or isinstance(data, Mapping):
        for k in data:
            if type(k) is not str and not isinstance(k, str):
                raise TypeError(f"data: column names must be strings, got the key {k!r:.40} ({type(k).__name__}); e.g. {{'N': [...], 'D': [...]}}")
        return list(data)
    if type(data).__name__ == "LazyFrame" and type(data).__module__.startswith("polars"):
        raise TypeError("data is a polars LazyFrame, whose values are not computed yet; call .collect() first")
    if hasattr(data, "columns"):  # pandas / polars
        return [str(c) for c in data.columns]
    dt = getattr(data, "dtype", None)
    if dt is not None and dt.names:
        return list(dt.names)
    raise TypeError(
        f"data must be a dict of arrays, a pandas/polars DataFrame or a structured numpy array, "
        f"got {type(data).__name__}"
    )


def get_column(data: Any, name: str) -> Any:
    if type(data) is dict or isinstance(data, Mapping):
        return data[name]
    if hasattr(data, "get_column"):  # polars
        return data.get_column(name)
    cols = getattr(data, "columns", None)
    if cols is not None and name not in cols:  # pandas columns that are not strings (0, 1, ...)
        for c in cols:
            if str(c) == name:
                return data[c]
    return data[name]


def as_float_array(values: Any, arg: str, ndim: int = 1) -> np.ndarray:
    """Convert to a C-contiguous float64 array, with clear errors for bad dtypes and shapes."""
    if type(values) is np.ndarray and values.dtype == np.float64 and values.ndim == ndim and values.size and values.flags.c_contiguous:
        return values  # the common case, already in the right form
    if hasattr(values, "to_numpy"):
        values = values.to_numpy()
    try:
        a = np.asarray(values)
    except Exception as exc:  # pragma: no cover - exotic inputs
        raise TypeError(f"{arg}: could not convert to an array ({exc})") from None
    if a.dtype == object and any(isinstance(x, (str, bytes)) for x in a.ravel()):
        # strings are refused alike in a numpy string array and a pandas object column: a
        # column read as text ("1,5e8", "n/a") is a parsing problem to fix, not to guess at
        raise TypeError(f"{arg} must be numeric, but holds strings (dtype object); convert it first, e.g. pd.to_numeric(column) "
                        "(or np.asarray(values, dtype=float))")
    if a.dtype == object:
        try:
            a = a.astype(np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"{arg} must be numeric, got values of dtype object that are not numbers") from None
    if a.dtype.kind in "US":
        raise TypeError(f"{arg} must be numeric, but holds strings (dtype {a.dtype}); convert it first, e.g. np.asarray(values, dtype=float) "
                        "(or pd.to_numeric for a pandas column)")
    if a.dtype.kind == "b" or a.dtype.kind not in "iuf":
        raise TypeError(f"{arg} must be numeric (int or float), got dtype {a.dtype}")
    if a.ndim == 0 and ndim == 1:
        a = a.reshape(1)
    if a.ndim != ndim:
        raise ValueError(f"{arg} must be {ndim}-dimensional, got shape {a.shape}")
    if a.size == 0:
        raise ValueError(f"{arg} is empty")
    return np.ascontiguousarray(a, dtype=np.float64)


NAN_HINT = "drop or impute NaN/inf first, or pass nan_policy='omit' to drop rows with NaN"


def check_finite(a: np.ndarray, arg: str, index: Any = None, hint: str = "drop or impute NaN/inf first") -> None:
    """A ValueError naming ``arg`` and the first non-finite value's position (and its label in
    ``index``, a pandas index of the same length, when given), ending with ``hint``."""
    if not np.isfinite(a).all():
        i = int(np.flatnonzero(~np.isfinite(a.ravel()))[0])
        at = f"index label {index[i]!r} (row {i})" if index is not None and len(index) == a.size else f"index {i}"
        raise ValueError(f"{arg} contains a non-finite value ({a.ravel()[i]}) at {at}; {hint}")


def require_columns(names: Any, mapping: Mapping[str, str], available: Any, arg: str = "data") -> None:
    """Raise a ValueError naming the first formula variable whose (mapped) column is missing."""
    for var in names:
        col = mapping.get(var, var)
        if col not in available:
            raise ValueError(
                f"{arg} has no column '{col}' (needed for formula variable '{var}'); available columns: "
                f"{', '.join(available) or 'none'}. Pass columns={{'{var}': '<column>'}} to map it."
            )


def as_columns(
    data: Any,
    names: list[str],
    mapping: Mapping[str, str] | None = None,
    arg: str = "data",
    available: list[str] | None = None,
    check: bool = True,
) -> dict[str, np.ndarray]:
    """Fetch the float64 columns a formula needs (checked finite unless `check` is False: then
    the caller checks them, e.g. all at once). `mapping` maps formula variables to data
    columns; `available` is ``column_names(data)`` when the caller has it."""
    mapping = mapping or {}
    if available is None:
        available = column_names(data)
    require_columns(names, mapping, available, arg)
    out: dict[str, np.ndarray] = {}
    index = getattr(data, "index", None) if hasattr(data, "columns") and type(data).__module__.startswith("pandas") else None
    for var in names:
        col = mapping.get(var, var)
        a = as_float_array(get_column(data, col), f"{arg}['{col}']")
        if check:
            check_finite(a, f"{arg}['{col}']", index)
        out[var] = a
    lengths = {v: len(a) for v, a in out.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"{arg}: columns have different lengths {lengths}; all columns must have the same length")
    return out


def threads_or_jobs(n_threads: int | None, n_jobs: int | None) -> int | None:
    """``n_jobs`` (scikit-learn's name; -1 means all cores) as an alias of ``n_threads``."""
    if n_jobs is None:
        return n_threads
    if n_threads is not None:
        raise TypeError("give n_threads or its alias n_jobs, not both")
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)) or n_jobs < -1 or n_jobs == 0:
        raise ValueError(f"n_jobs must be a positive integer, or -1 / None for all cores; got {n_jobs!r}")
    return None if n_jobs == -1 else int(n_jobs)


def resolve_threads(n_threads: int | None) -> int:
    if n_threads is None or (n_threads == 0 and not isinstance(n_threads, bool)):
        return 0  # all cores
    if isinstance(n_threads, bool) or not isinstance(n_threads, (int, np.integer)):
        raise TypeError(f"n_threads must be an int or None, got {type(n_threads).__name__}")
    if n_threads < 0:
        raise ValueError(f"n_threads must be >= 1 (or None / 0 for all {os.cpu_count()} cores), got {n_threads}")
    from . import _core  # the core's limit, checked here too so that 2**64 is no OverflowError

    if n_threads > _core.MAX_THREADS:
        raise ValueError(f"n_threads: at most {_core.MAX_THREADS} threads, got {n_threads} (this machine has {os.cpu_count()} cores; 0 or None uses all of them)")
    return int(n_threads)


def fmt(v: float) -> str:
    """Compact number formatting for summaries."""
    if v is None or not np.isfinite(v):
        return str(v)
    a = abs(v)
    if a != 0 and (a >= 1e5 or a < 1e-3):
        return f"{v:.4e}"
    return f"{v:.6g}"


_NORMAL = NormalDist()


def norm_ppf(q: float) -> float:
    """Inverse standard normal CDF (the standard library's, accurate to double precision)."""
    return _NORMAL.inv_cdf(q)


def norm_cdf(x: float) -> float:
    """Standard normal CDF."""
    return _NORMAL.cdf(x)


def align_to(data: Any, v: Any, arg: str) -> Any:
    """``v`` (a pandas Series) in the row order of ``data`` (a pandas DataFrame), matched on the
    index labels; a ValueError naming ``arg`` when the labels differ. Anything else unchanged
    (arrays and lists are positional)."""
    vi, di = getattr(v, "index", None), getattr(data, "index", None)
    if vi is None or di is None or not hasattr(v, "reindex") or not hasattr(data, "columns"):
        return v
    if vi.equals(di):
        return v
    if vi.has_duplicates or di.has_duplicates or len(vi) != len(di) or not vi.sort_values().equals(di.sort_values()):
        extra = [str(x) for x in vi.difference(di)[:3]]
        raise ValueError(
            f"{arg}: its pandas index does not match data's index ({len(vi)} vs {len(di)} labels"
            + (f"; e.g. {', '.join(extra)} only in {arg}" if extra else "")
            + f"); align them, or pass {arg}.to_numpy() to match rows by position"
        )
    return v.reindex(di)


def close_names(a: str, b: str) -> bool:
    """Whether two different names look like a typo of each other: equal but for case, one a
    prefix of the other within 2 characters, or one edit apart (both at least 3 characters)."""
    if a == b:
        return False
    la, lb = a.lower(), b.lower()
    if la == lb:
        return True
    s, t = sorted((la, lb), key=len)
    if t.startswith(s) and len(t) - len(s) <= 2:
        return True
    if len(s) < 3 or len(t) - len(s) > 1:
        return False
    # one substitution, insertion or deletion
    i = 0
    while i < len(s) and s[i] == t[i]:
        i += 1
    return s[i + 1:] == t[i + 1:] if len(s) == len(t) else s[i:] == t[i + 1:]


def table_columns(data: Any, names: list[str], y: Any, columns: Any) -> tuple[Any, Any]:
    """(y, columns) with integer column labels (a pandas DataFrame's 0, 1, ...) as the strings
    that :func:`column_names` gives: ``y=2`` names column 2 of a table, ``columns={"x": 0}``."""
    def label(v: Any) -> bool:
        return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))

    if label(y) and not isinstance(data, Mapping) and str(y) in names:
        y = str(y)
    if isinstance(columns, Mapping) and any(label(v) for v in columns.values()):
        columns = {k: str(v) if label(v) else v for k, v in columns.items()}
    return y, columns


def nan_rows(data: Any, mat: np.ndarray, y: np.ndarray, w: np.ndarray | None, cols: list[str], y_name: str | None,
             policy: str) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Apply ``nan_policy``: "omit" drops the rows with NaN in ``mat`` (variables x rows), ``y``
    or ``w`` and returns the mask of the kept rows (None when none is dropped); "raise" on a
    pandas DataFrame raises a ValueError naming the column and the index label of the first
    non-finite value (other inputs are checked by the core, and explained by position with the
    same hint when it refuses them: see ``_fit._check_values``)."""
    if policy not in ("raise", "omit"):
        raise ValueError(f"nan_policy must be 'raise' or 'omit', got {policy!r}")
    if policy == "omit":
        bad = np.isnan(mat).any(axis=0) | np.isnan(y)
        if w is not None:
            bad |= np.isnan(w)
        n_bad = int(bad.sum())
        if n_bad == len(y):
            raise ValueError(f"nan_policy='omit': every one of the {len(y)} rows has a NaN in a used column, y or weights")
        if not n_bad:
            return mat, y, w, None
        keep = ~bad
        return np.ascontiguousarray(mat[:, keep]), y[keep], None if w is None else w[keep], keep
    index = getattr(data, "index", None)
    if index is None or not hasattr(data, "columns") or len(index) != len(y):
        return mat, y, w, None  # no labels: nothing to add to the core's own check (no cost)
    arrays = [(f"data['{c}']", mat[i]) for i, c in enumerate(cols)] + [(f"data['{y_name}']" if y_name else "y", y)]
    if w is not None:
        arrays.append(("weights", w))
    for arg, a in arrays:
        bad = ~np.isfinite(a)
        if bad.any():
            pos = np.flatnonzero(bad)
            more = f" (and {len(pos) - 1} more rows)" if len(pos) > 1 else ""
            raise ValueError(f"{arg} contains a non-finite value ({a[pos[0]]}) at index label {index[pos[0]]!r} (row {pos[0]}){more}; "
                             f"{NAN_HINT}")
    return mat, y, w, None


def int_or_none(v: Any, arg: str, lo: int) -> int | None:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{arg} must be an integer >= {lo} (or None to skip), got {type(v).__name__} {v!r:.40}")
    if v < lo:
        raise ValueError(f"{arg} must be an integer >= {lo} (or None to skip), got {v!r}")
    return int(v)


def column_or_values(data: Any, v: Any, arg: str) -> Any:
    """A per-row argument given as a column label of ``data`` (a string, or any scalar label such
    as the integer 0 of a DataFrame without column names) or as values (a pandas Series aligned
    on data's index); a ValueError naming ``arg`` and the columns for a label data lacks."""
    if isinstance(v, str) or (np.ndim(v) == 0 and not isinstance(v, (bool, np.bool_))):
        if data is None:
            raise ValueError(f"{arg}={v!r} names a column, but no data was given; pass data= (a DataFrame or dict) or an array")
        names = column_names(data)
        if str(v) not in names:
            raise ValueError(f"{arg}: data has no column {v!r}; columns: {', '.join(names)}"
                             + ("" if isinstance(v, str) else f" (a scalar {arg} names a column; give one value per row otherwise)"))
        return get_column(data, str(v))
    return v if data is None else align_to(data, v, arg)


def row_values(data: Any, names: list[str], v: Any, arg: str, n: int | None, numeric: bool) -> np.ndarray:
    """A per-row array given as a column name of data or as values (pandas Series aligned on its index)."""
    v = column_or_values(data, v, arg)
    a = as_float_array(v, arg) if numeric else np.asarray(v.to_numpy() if hasattr(v, "to_numpy") else v)
    if a.ndim != 1 or (n is not None and len(a) != n):
        raise ValueError(f"{arg} must have one value per row of data ({n}), got shape {a.shape}")
    if numeric:
        check_finite(a, arg)
    return a


def units(g: np.ndarray | None, n: int) -> tuple[np.ndarray, int]:
    """(unit index of every row, number of units): rows, or groups when given."""
    inv = np.arange(n) if g is None else np.unique(g, return_inverse=True)[1].reshape(-1)
    return inv, int(inv.max()) + 1


def finite_number(v: Any, arg: str) -> float:
    """``v`` as a float; a TypeError naming ``arg`` unless it is a finite real number."""
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not math.isfinite(v):
        raise TypeError(f"{arg} must be a finite number, got {type(v).__name__} {v!r:.40}")
    return float(v)
