"""The command line's input side: option value types, reading the table (CSV, Parquet), --map,
--derive and --form/--x checks. Every problem is a CLIError with one line naming the option."""

from __future__ import annotations

import argparse
import csv
import difflib
import math
import os
import re
import stat
from pathlib import Path
from typing import Any, Callable

import numpy as np

# --bootstrap / demo --resamples: the samples are kept in memory (8 bytes per parameter per
# resample) and every analysis runs over them; beyond this, use the Python API.
MAX_BOOTSTRAP = 1_000_000
_BOOTSTRAP_WAY_OUT = ("for more, call scalingfit.bootstrap(fit, n_resamples=..., keep='summary') from Python, "
                      "or run index ranges (start=, n_resamples=) and combine them")

class CLIError(ValueError):
    """A user error: printed without a traceback, exit code 2."""


def _first_line(exc: BaseException | str) -> str:
    """The first non-blank line of a message (the core's formula errors add the source and a caret)."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return lines[0] if lines else (type(exc).__name__ if isinstance(exc, BaseException) else "")


_PY_COLUMNS = re.compile(r"columns=\{'([^']*)': '([^']*)'\}")


def _cli_terms(msg: str) -> str:
    """A library message in command-line terms: ``columns={'x': 'c'}`` is ``--map x=c``,
    ``check_names=False`` has no CLI counterpart and is dropped."""
    msg = _PY_COLUMNS.sub(lambda m: f"--map {m.group(1)}={'COLUMN' if m.group(2) == '<column>' else m.group(2)}", msg)
    msg = re.sub(r",? or pass check_names=False if '[^']*' is meant to be a parameter", "", msg)
    return msg.replace("n_resamples=", "--bootstrap ").replace("n_threads=", "--threads ")


def _short(s: str, n: int = 80) -> str:
    s = " ".join(s.split())
    return s if len(s) <= n else s[: n - 3] + "..."


# -- option values (argparse type= functions: a bad value is one line naming the option, exit 2) --

def _real(ok: Callable[[float], bool], need: str) -> Callable[[str], float]:
    def conv(s: str) -> float:
        try:
            v = float(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{_short(s)!r} is not a number") from None
        if not math.isfinite(v) or not ok(v):
            raise argparse.ArgumentTypeError(f"must be {need}, got {_short(s)!r}")
        return v

    return conv


_positive = _real(lambda v: v > 0, "a positive finite number")
_level = _real(lambda v: 0 < v < 1, "in (0, 1), e.g. 0.95 (a fraction, not a percentage)")


def _positive_list(s: str) -> list[float]:
    items = [t.strip() for t in s.split(",")]
    if not all(items):
        raise argparse.ArgumentTypeError(f"expects comma-separated positive numbers, got {_short(s)!r} (an empty item)")
    try:
        return [_positive(t) for t in items]
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(str(exc) if len(items) == 1 else f"{exc} (in {_short(s)!r})") from None


def _int_range(lo: int, hi: int, note: str = "", zero: bool = False) -> Callable[[str], int]:
    def conv(s: str) -> int:
        try:
            v = int(s.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"{_short(s)!r} is not a whole number") from None
        if v > hi == MAX_BOOTSTRAP:
            raise argparse.ArgumentTypeError(f"at most {MAX_BOOTSTRAP} resamples from the command line, got {_short(s)}; {_BOOTSTRAP_WAY_OUT}")
        if not (lo <= v <= hi or (zero and v == 0)):
            raise argparse.ArgumentTypeError(f"must be between {lo} and {hi}{note}, got {_short(s)}")
        return v

    return conv


_bootstrap_count = _int_range(2, MAX_BOOTSTRAP, " (or 0: off)", zero=True)


def _threads(s: str) -> int:
    from scalingfit import _core

    return _int_range(0, int(_core.MAX_THREADS), " (0: all cores)")(s)


def _formats(s: str) -> list[str]:
    fmts = [f.strip().lower() for f in s.split(",") if f.strip()]
    for f in fmts:
        if f not in ("md", "html"):
            raise argparse.ArgumentTypeError(f"unknown report format {_short(f)!r} (md, html or md,html)")
    if not fmts:
        raise argparse.ArgumentTypeError("give md, html or md,html")
    return fmts


# -- input ------------------------------------------------------------------------------------

# cells read as missing (NaN) in numeric columns; thousands separators as in "1,234,567.5"
NA_TOKENS = frozenset({"", "na", "n/a", "nan", "null", "none", "#n/a", "-", "?"})
_THOUSANDS = re.compile(r"[+-]?\d{1,3}(,\d{3})+(\.\d*)?([eE][+-]?\d+)?")


def _cell(v: str) -> float:
    """A CSV cell as a number: NA tokens are NaN, "1,234" is 1234; anything else raises ValueError."""
    t = v.strip()
    if t.lower() in NA_TOKENS:
        return math.nan
    if _THOUSANDS.fullmatch(t):
        t = t.replace(",", "")
    return float(t)


def _read_table(path: str) -> tuple[dict[str, np.ndarray], list[int] | None]:
    """The columns of a CSV (header row, comma-separated, UTF-8) or Parquet file, and for a CSV the
    file line of each data row (for messages). Every problem is a CLIError naming the file."""
    if not path:
        raise CLIError("input file: empty path")
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise CLIError(f"input file not found: {path}") from None
    except OSError as exc:
        raise CLIError(f"cannot read input file {path}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(st.st_mode):
        raise CLIError(f"input is a directory, not a CSV or Parquet file: {path}")
    if not stat.S_ISREG(st.st_mode):  # a FIFO without a writer would block for ever
        raise CLIError(f"input is not a regular file (a pipe, device or socket): {path}; save the table to a file first")
    if Path(path).suffix.lower() in (".parquet", ".pq"):
        return _read_parquet(path), None
    rows: list[list[str]] = []
    lines: list[int] = []
    header: list[str] = []
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            for r in reader:
                if not r:  # blank line
                    continue
                if not header:
                    header = r
                elif len(r) != len(header):
                    raise CLIError(f"{path}, line {reader.line_num}: {len(r)} field(s), but the header has {len(header)}{_separator_hint(header)}")
                else:
                    rows.append(r)
                    lines.append(reader.line_num)
    except UnicodeDecodeError as exc:
        raise CLIError(f"{path} is not UTF-8 text (undecodable byte 0x{exc.object[exc.start]:02x}); save it as UTF-8") from None
    except csv.Error as exc:
        raise CLIError(f"{path}, line {reader.line_num}: malformed CSV: {exc}") from None
    except OSError as exc:
        raise CLIError(f"cannot read input file {path}: {exc.strerror or exc}") from None
    if not header:
        raise CLIError(f"{path} is empty")
    if not rows:
        raise CLIError(f"{path} has a header but no data rows")
    _check_unique(path, header)
    out: dict[str, np.ndarray] = {}
    for j, name in enumerate(header):
        vals = [r[j] for r in rows]
        try:
            out[name] = np.array([_cell(v) for v in vals])
        except ValueError:
            out[name] = np.array(vals, dtype=object)
    return out, lines


def _read_parquet(path: str) -> dict[str, np.ndarray]:
    try:
        import pandas as pd
    except ImportError:
        raise CLIError("reading Parquet needs pandas and pyarrow: pip install pandas pyarrow") from None
    try:
        df = pd.read_parquet(path)
    except ImportError as exc:
        raise CLIError(f"reading Parquet needs pyarrow (or fastparquet): {_first_line(exc)}") from None
    except Exception as exc:  # the engines raise their own exception types for unreadable files
        raise CLIError(f"cannot read Parquet file {path}: {_first_line(exc)}") from None
    names = [str(c) for c in df.columns]
    _check_unique(path, names)
    if not names or len(df) == 0:
        raise CLIError(f"{path} has no {'columns' if not names else 'rows'}")
    out: dict[str, np.ndarray] = {}
    for name, c in zip(names, df.columns):
        s = df[c]
        try:
            out[name] = s.to_numpy(dtype=np.float64, na_value=np.nan) if pd.api.types.is_numeric_dtype(s.dtype) else s.to_numpy(dtype=object)
        except (TypeError, ValueError):
            out[name] = s.to_numpy(dtype=object)
    return out


def _check_unique(path: str, names: list[str]) -> None:
    dup = next((j for j, n in enumerate(names) if n in names[:j]), None)
    if dup is not None:
        raise CLIError(f"{path}: column name {names[dup]!r} appears twice in the header (columns {names.index(names[dup]) + 1} and {dup + 1})")


def _columns_list(table: dict[str, np.ndarray]) -> str:
    names = [repr(c) for c in table]
    s = ", ".join(names[:30]) + (f", ... ({len(names) - 30} more)" if len(names) > 30 else "")
    if len(table) == 1 and any(sep in next(iter(table)) for sep in ";\t|"):
        s += " (only comma-separated files are read; this one seems to use another separator)"
    return s


def _is_number(v: Any) -> bool:
    try:
        return (_cell(v) if isinstance(v, str) else float(v)) is not None
    except (TypeError, ValueError):
        return False


def _did_you_mean(name: str, choices: Any) -> str:
    """'; did you mean 'x'?' for the closest of choices (case-insensitive match first), or ''."""
    names = [str(c) for c in choices]
    near = [c for c in names if c.lower() == name.lower()] or difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    return f"; did you mean {near[0]!r}?" if near else ""


def _no_column(what: str, col: str, table: dict[str, np.ndarray]) -> CLIError:
    return CLIError(f"{what}: no column {col!r} in the input; columns are: {_columns_list(table)}{_did_you_mean(col, table)}")


def _where(lines: list[int] | None, j: int) -> str:
    return f"line {lines[j]}" if lines is not None else f"row {j + 1}"


def _numeric(table: dict[str, np.ndarray], lines: list[int] | None, col: str, what: str) -> np.ndarray:
    if col not in table:
        raise _no_column(what, col, table)
    a = table[col]
    if a.dtype == object:
        j = next((j for j, v in enumerate(a) if not _is_number(v)), 0)
        raise CLIError(f"{what}: column {col!r} is not numeric ({_where(lines, j)}: {_short(str(a[j]), 40)!r})")
    return np.asarray(a, dtype=np.float64)


def _parse_map(items: list[str]) -> dict[str, str]:
    out = {}
    for it in items or []:
        k, _, v = (x.strip() for x in it.partition("="))
        if not k or not v:
            raise CLIError(f"--map expects NAME=COLUMN (e.g. N='Model Size'), got {_short(it)!r}")
        out[k] = v
    return out


def _separator_hint(header: list[str]) -> str:
    """A hint when a one-field header holds another separator (a ';' or tab-separated file)."""
    seps = [s for s in (";", "\t", "|") if len(header) == 1 and s in header[0]]
    if not seps:
        return ""
    name = {";": "';'", "\t": "tab", "|": "'|'"}[seps[0]]
    return (f"; the header looks {name}-separated, but the input must be comma-separated CSV (convert it, e.g. "
            f"pandas.read_csv(path, sep={seps[0]!r}, decimal=',').to_csv(new_path, index=False))")


def _derive(table: dict[str, np.ndarray], spec: str, lines: list[int] | None = None) -> None:
    from scalingfit import _core

    if "=" not in spec:
        raise CLIError(f"--derive expects NAME=EXPRESSION (e.g. 'D=C/(6*N)'), got {_short(spec)!r}")
    name, expr = (x.strip() for x in spec.split("=", 1))
    if not name.isidentifier():
        raise CLIError(f"--derive: {_short(name)!r} is not a valid column name (letters, digits, _)")
    cols = [c for c in table if c.isidentifier()]
    if not cols:
        raise CLIError(f"--derive {_short(spec)!r}: the input has no column with a formula-friendly name; use --map NAME=COLUMN first")
    try:
        f = _core.Formula(f"({expr}) * sf_unit__", cols)
    except ValueError as exc:
        msg = _first_line(exc)
        try:  # a syntax error is reported on the expression as written (positions in it)
            _core.Formula(expr, cols)
        except ValueError as own:
            msg = _first_line(own)
        raise CLIError(f"--derive {_short(spec)!r}: {msg}") from None
    unknown = [p for p in f.param_names if p != "sf_unit__"]
    if unknown:
        raise CLIError(f"--derive {_short(spec)!r}: unknown column(s) {', '.join(unknown)}; columns usable by name are {', '.join(cols)} "
                       f"(use --map to rename){_did_you_mean(unknown[0], cols)}")
    # only the columns the expression uses are read: a blank cell elsewhere does not matter
    used = [cols[i] for i in sorted(f.used_vars())]
    if not used:
        raise CLIError(f"--derive {_short(spec)!r}: the expression uses no column")
    mats = [_numeric(table, lines, c, f"--derive {_short(spec)!r}") for c in used]
    f = _core.Formula(f"({expr}) * sf_unit__", used)
    # rows with a missing input get a missing result (dropped later, and reported, if they are used)
    ok = np.all(np.isfinite(np.vstack(mats)), axis=0)
    vals = np.full(len(ok), math.nan)
    if ok.any():
        try:
            vals[ok], _ = f.eval(np.ones(1), np.ascontiguousarray(np.vstack([m[ok] for m in mats])), False)
        except ValueError as exc:
            raise CLIError(f"--derive {_short(spec)!r}: {_first_line(exc)}") from None
    table[name] = vals


def _x_columns(x: str | None) -> list[str] | None:
    if x is None:
        return None
    xs = [c.strip() for c in x.split(",") if c.strip()]
    if not xs or len(set(xs)) < len(xs):
        raise CLIError(f"--x expects distinct comma-separated column names, got {_short(x)!r}")
    return xs


def _formula(form: str, xs: list[str], builtin: dict[str, dict[str, Any]]) -> Any:
    """The compiled law with --x as its variables, before any work: syntax errors, --x columns it
    does not use (and, from its log_vars, the columns that must be positive)."""
    from scalingfit import _core

    if form in builtin:
        return _core.Formula(builtin[form]["formula"], xs)
    if form.isidentifier():
        raise CLIError(f"--form: unknown form '{_short(form)}'{_did_you_mean(form, builtin) or ';'} built-in forms are {', '.join(builtin)} (see 'scalingfit forms'), "
                       "or give a formula such as 'E + A*C^-alpha'")
    if not xs:
        raise CLIError("--x is required with a formula: the data columns that are its variables")
    for c in xs:
        if not c.isidentifier():
            raise CLIError(f"--x: column {c!r} cannot be a formula variable (names are letters, digits and _); name it with --map x={c!r}")
    try:
        f = _core.Formula(form, xs)
    except ValueError as exc:
        msg = _first_line(exc)
        raise CLIError(f"--form: {msg[6:] if msg.startswith('form: ') else msg}") from None
    used = {f.variables[i] for i in f.used_vars()}
    for c in xs:
        if c not in used:
            raise CLIError(f"--x: column {c!r} does not appear in the formula {_short(form)!r}")
    return f
