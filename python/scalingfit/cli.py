"""Command line interface: ``scalingfit fit``, ``merge``, ``rerun``, ``demo``, ``forms``.

Exit status (also in ``scalingfit fit --help``):

- 0: success. Problems that leave the results usable are warnings (stderr ``scalingfit: warning:``,
  and ``"warnings"`` in results.json and the report): a plot that failed (skipped), no matplotlib,
  a best start that stopped before its convergence test with finite values, a bootstrap with
  fewer than 2 converged resamples, a compute-optimal table the law does not support.
- 1: the fit failed (a non-finite objective or parameter): results.json (with ``"error"``) and the
  report are still written for inspection, without bootstrap, analyses or plots; one line on stderr.
- 2: a user error (bad option value, unreadable or malformed input, unusable ``--out`` or
  ``--save-bootstrap``, a formula that does not parse, an analysis asked for by an option that the
  library refuses, an ``--executor`` that cannot be reached; for ``merge``, parts that are not
  bootstrap files or do not tile one range; for ``rerun``, a results.json without provenance or an
  input whose sha256 changed): ONE error line on stderr (after any warnings the run printed before
  it), no traceback. Options, the input, the output paths and the executor are checked before any
  fitting; what depends on the fitted law (an unreachable ``--target-loss``, ``--budgets`` the law
  refuses) right after the fit, before the bootstrap.

results.json's ``"provenance"`` records every ``fit`` argument, the package version, the input's
sha256 and a UTC timestamp; ``scalingfit rerun results.json`` repeats the run from it.
- 130: interrupted (Ctrl-C).

results.json is strict JSON (RFC 8259): NaN and infinities are written as null.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import math
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from scalingfit._cli_io import (
    MAX_BOOTSTRAP,
    CLIError,
    _bootstrap_count,
    _cli_terms,
    _derive,
    _first_line,
    _formats,
    _formula,
    _int_range,
    _level,
    _no_column,
    _numeric,
    _parse_map,
    _positive,
    _positive_list,
    _read_table,
    _short,
    _threads,
    _where,
    _x_columns,
)
from scalingfit._cli_report import _html
from scalingfit._cli_rerun import provenance, rerun_argv, sha256_file
from scalingfit._diagnostics import ScalingFitWarning

_REPORT_FILES = ("results.json", "report.md", "report.html")


def _demo(args: argparse.Namespace) -> int:
    import scalingfit as sf
    from scalingfit.datasets import HOFFMANN, hoffmann_example

    runs = hoffmann_example(seed=args.seed)
    n = len(runs["loss"])
    print(f"scalingfit demo: {n} synthetic IsoFLOP runs from Hoffmann et al. (2022)'s law with 1% noise\n")
    t = time.perf_counter()
    fit = sf.fit("chinchilla", {"N": runs["N"], "D": runs["D"]}, y=runs["loss"])
    t_fit = time.perf_counter() - t
    print(fit.summary())
    print(f"\n  ({fit.n_starts}-start grid fit in {t_fit:.2f} s)\n")
    t = time.perf_counter()
    bs = sf.bootstrap(fit, n_resamples=args.resamples, seed=args.seed, progress=args.progress)
    t_bs = time.perf_counter() - t
    ci = bs.ci(0.95)
    print(f"bootstrap: {args.resamples} pairs resamples in {t_bs:.2f} s ({bs.n_converged} converged)\n")
    print(f"  {'parameter':<10}{'true':>10}{'fitted':>12}{'95% interval':>28}")
    for name in fit.param_names:
        lo, hi = ci[name]
        print(f"  {name:<10}{HOFFMANN[name]:>10.4g}{fit.params[name]:>12.4g}{f'[{lo:.4g}, {hi:.4g}]':>28}")
    a = bs.derived(lambda p: p["beta"] / (p["alpha"] + p["beta"]), name="a = beta/(alpha+beta)")
    print("\n  " + a.summary())
    opt = sf.compute_optimal(bs, C=[1e21, 5.76e23, 1e25])
    print("\n" + opt.summary())
    return 0


# -- output -----------------------------------------------------------------------------------

def _prepare_out(path: str) -> Path:
    """Create --out (checked before any fitting) and make sure files can be written in it."""
    if not path.strip():
        raise CLIError("--out: empty path")
    out = Path(path)
    try:
        if out.exists() and not out.is_dir():
            raise CLIError(f"--out {path}: exists and is not a directory")
        anc = out.parent
        while not anc.exists():
            anc = anc.parent
        if not anc.is_dir():
            raise CLIError(f"--out {path}: {anc} is not a directory, so no directory can be created under it")
        out.mkdir(parents=True, exist_ok=True)
        if not os.access(out, os.W_OK | os.X_OK):
            raise CLIError(f"--out {path}: the directory is not writable")
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as exc:
        raise CLIError(f"--out {path}: cannot create or write the directory: {exc.strerror or exc}") from None
    for name in _REPORT_FILES:
        if (out / name).is_dir():
            raise CLIError(f"--out {path}: {name} there is a directory")
    return out


def _write(path: Path, text: str) -> Path:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise CLIError(f"--out: cannot write {path}: {exc.strerror or exc}") from None
    return path


def _strict(v: Any) -> Any:
    """JSON-ready copy of v: non-finite floats become None (results.json is strict JSON)."""
    if isinstance(v, dict):
        return {str(k): _strict(x) for k, x in v.items()}
    if isinstance(v, np.ndarray):
        return _strict(v.tolist())
    if isinstance(v, (list, tuple)):
        return [_strict(x) for x in v]
    if isinstance(v, (bool, int, np.bool_, np.integer)) or v is None or isinstance(v, str):
        return v.item() if isinstance(v, np.generic) else v
    if isinstance(v, (float, np.floating)):
        return float(v) if math.isfinite(v) else None
    return str(v)


def _warn(warnings: list[str], msg: str) -> None:
    warnings.append(msg)
    print(f"scalingfit: warning: {msg}", file=sys.stderr)


# -- scalingfit fit ---------------------------------------------------------------------------

def _fit(args: argparse.Namespace) -> int:
    with contextlib.ExitStack() as cleanup:  # closes the --executor client
        return _run_fit(args, cleanup)


def _run_fit(args: argparse.Namespace, cleanup: contextlib.ExitStack) -> int:
    import scalingfit as sf

    if args.progress:
        try:  # imported, not just found: a broken install must fail here too, before the fit
            importlib.import_module("tqdm.auto")
        except ImportError as e:
            raise CLIError(f"--progress needs tqdm, which cannot be imported ({e}): pip install tqdm (or scalingfit[progress])") from None
    if not args.bootstrap:
        given = [o for o, v in (("--start", args.start), ("--save-bootstrap", args.save_bootstrap), ("--executor", args.executor)) if v]
        if given:
            raise CLIError(f"{given[0]} needs --bootstrap N (the number of resamples to run)")
    elif args.start + args.bootstrap > 2**64:
        raise CLIError(f"--start {args.start}: the resample indices --start .. --start + --bootstrap - 1 must stay below 2**64")
    table, lines = _read_table(args.file)
    digest = sha256_file(args.file)
    maps = _parse_map(args.map)
    derived = {d.split("=", 1)[0].strip(): d.split("=", 1)[1].strip() for d in args.derive or [] if "=" in d}
    # --map NAME=COLUMN: give columns short names (and formula-variable names)
    for new, old in maps.items():
        if old not in table:
            raise _no_column(f"--map {new}={old}", old, table)
        table[new] = table[old]
    for spec in args.derive or []:
        _derive(table, spec, lines)
    y = _numeric(table, lines, args.y, "--y")
    xs = _x_columns(args.x)
    builtin = {f["name"]: f for f in sf.forms()}
    if args.form in builtin:
        fvars = list(builtin[args.form]["variables"])
        xs = list(fvars) if xs is None else xs
        if len(xs) != len(fvars):
            raise CLIError(f"--x: form {args.form} has {len(fvars)} variable(s) ({', '.join(fvars)}); got {len(xs)} column(s): {', '.join(xs)}")
        colmap = {v: c for v, c in zip(fvars, xs) if v != c}
    else:
        fvars, colmap = xs or [], {}
    law = _formula(args.form, fvars, builtin)
    data = {v: _numeric(table, lines, colmap.get(v, v), "--x") for v in fvars}
    if args.budgets and len(data) != 2:
        raise CLIError(f"--budgets: the compute-optimal table needs a two-variable law such as chinchilla (N, D); this one has {', '.join(data)}")
    # drop rows with missing values (reported)
    ok = np.isfinite(y) & np.all([np.isfinite(a) for a in data.values()], axis=0)
    if not ok.any():
        empty = [f"{c!r}" for c, a in [(args.y, y), *((colmap.get(v, v), a) for v, a in data.items())] if not np.isfinite(a).any()]
        raise CLIError(f"{args.file}: no rows left to fit: " + (f"column(s) {', '.join(empty)} have no numeric values" if empty
                       else "every row has a missing or non-finite value in the --x or --y columns"))
    if args.drop_top_y:
        if args.drop_top_y >= ok.sum():
            raise CLIError(f"--drop-top-y must be between 0 and the number of rows ({int(ok.sum())}), got {args.drop_top_y}")
        thr = np.sort(y[ok])[-args.drop_top_y]
        ok &= y < thr
    checks = [("--x", colmap.get(v, v), data[v], "the formula raises it to a fitted power or takes its log")
              for v in (law.variables[i] for i in law.log_vars())]
    if args.target == "log":
        checks.append(("--y", args.y, y, "the default log-scale fit needs positive losses (use --target linear for signed responses)"))
    for what, col, a, why in checks:
        if np.any(a[ok] <= 0):
            j = int(np.flatnonzero(ok & (a <= 0))[0])
            raise CLIError(f"{what}: column {col!r} has the non-positive value {a[j]:g} ({_where(lines, j)}); {why}")
    n_drop = int((~ok).sum())
    data = {k: v[ok] for k, v in data.items()}
    y = y[ok]
    out = _prepare_out(args.out)
    save_to = _output_file(args.save_bootstrap, "--save-bootstrap") if args.save_bootstrap else None
    executor = _connect(args.executor, cleanup) if args.executor else None
    print(f"scalingfit fit: {args.file}: {len(y)} rows" + (f" ({n_drop} dropped: missing values or --drop-top-y)" if n_drop else ""))
    for v in colmap:
        print(f"  variable {v} <- column '{colmap[v]}'")
    try:
        fit = sf.fit(args.form, data, y=y, loss=args.loss, delta=args.delta, target=args.target, n_threads=args.threads)
    except ValueError as exc:
        raise CLIError(f"{args.file}: {_cli_terms(_first_line(exc))}") from None
    print(fit.summary())
    sources = {v: _source(colmap.get(v, v), maps, derived) for v in [*data, args.y]}
    result: dict[str, Any] = {"input": str(args.file), "n_rows": int(len(y)), "n_dropped": n_drop, "columns": {v: colmap.get(v, v) for v in data},
                              "y": args.y, "fit": fit.to_dict(),
                              "provenance": provenance(args, _fit_parser(), sf.__version__, digest, sources)}
    warnings: list[str] = []
    failure = _fit_failure(fit)
    bs = None
    analyses: dict[str, Any] = {}
    plots: list[Path] = []
    if failure is None:
        if not fit.converged:
            _warn(warnings, f"the best start stopped before its convergence test ({fit.message}); check the fit before using it")
        source: Any = fit
        _check_after_fit(sf, fit, args)
        if args.bootstrap:
            bs = _bootstrap(sf, args, fit, executor)
            if save_to is not None:
                _save(bs, save_to, "--save-bootstrap")
            print()
            print(bs.summary(args.level))
            if bs.n_converged >= 2:
                result["bootstrap"] = bs.to_dict(args.level)
                source = bs
            else:
                _warn(warnings, f"only {bs.n_converged} of {bs.n_resamples} bootstrap resamples converged: no intervals; "
                      "the analyses use the fit alone")
                result["bootstrap"] = {k: getattr(bs, k) for k in ("n_resamples", "n_converged", "n_max_iter", "n_failed", "seed", "scheme")}
                bs = None
        analyses = _analyses(sf, args, source, len(fit.variables), warnings)
        for a in analyses.values():
            print()
            print(a.summary())
        result.update({k: a.to_dict() for k, a in analyses.items()})
        if not args.no_plots:
            plots = _plots(source, out, args, warnings)
    else:
        result["error"] = failure
    result["warnings"] = warnings
    written = [_write(out / "results.json", json.dumps(_strict(result), indent=2, allow_nan=False) + "\n")]
    written += plots
    md = _markdown(args, fit, bs, analyses, plots, n_drop, result["provenance"], warnings, failure)
    if "md" in args.format:
        written.append(_write(out / "report.md", md))
    if "html" in args.format:
        written.append(_write(out / "report.html", _html(md, fit)))
    print(f"\nwrote {', '.join(str(p) for p in written)}")
    if failure is not None:
        print(f"scalingfit: error: {failure}; results.json and the report in {out} record it", file=sys.stderr)
        return 1
    return 0


def _source(col: str, maps: dict[str, str], derived: dict[str, str]) -> str:
    """Where a variable's values come from, for the report: "column 'Model Size'", "C/(6*N) (--derive)"."""
    if col in derived:
        return f"{derived[col]} (--derive)"
    return f"column '{maps.get(col, col)}'"


def _fit_parser() -> argparse.ArgumentParser:
    """The ``fit`` subcommand's parser (its options are what results.json records)."""
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices["fit"]


def _rerun(args: argparse.Namespace) -> int:
    """``scalingfit rerun results.json``: the recorded fit, on the same (hash-checked) input."""
    parser = _fit_parser()
    argv, prov = rerun_argv(args.results, args.out, parser, args.input)
    print(f"scalingfit rerun: {args.results}: recorded with scalingfit {prov.get('scalingfit_version')} at {prov.get('timestamp_utc')}; "
          f"input {argv[1]} (sha256 matches)")
    return _fit(parser.parse_args(argv[1:]))


def _check_after_fit(sf: Any, fit: Any, args: argparse.Namespace) -> None:
    """--budgets and --target-loss whose validity depends on the fitted law (a compute-optimal table
    the law supports, a reachable loss): checked right after the fit, before the bootstrap."""
    checks = [("--budgets", lambda: sf.compute_optimal(fit, args.budgets, k=args.k), bool(args.budgets) and len(fit.variables) == 2),
              ("--target-loss", lambda: sf.required(fit, args.target_loss, k=args.k), bool(args.target_loss))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # extrapolation notes come with the real analyses later
        for opt, run, wanted in checks:
            if not wanted:
                continue
            try:
                run()
            except ValueError as exc:
                msg = _first_line(exc).removeprefix("loss: ")
                raise CLIError(f"{opt}: {msg} (checked after the fit, as it depends on the fitted law; "
                               "no bootstrap was run, no report written)") from None


def _fit_failure(fit: Any) -> str | None:
    """Why a fit is unusable (a non-finite objective or parameter), or None."""
    bad = [n for n in fit.param_names if not math.isfinite(fit.params[n])]
    if not bad and math.isfinite(fit.objective):
        return None
    why = ([f"parameter(s) {', '.join(bad)} not finite"] if bad else []) + ([f"objective {fit.objective}"] if not math.isfinite(fit.objective) else [])
    return f"the fit failed ({'; '.join(why)}): {_first_line(fit.message)}"


def _bootstrap(sf: Any, args: argparse.Namespace, fit: Any, executor: Any = None) -> Any:
    progress = args.progress
    if progress is None:  # default: a bar when stderr is a terminal and tqdm is there to draw it
        progress = sys.stderr.isatty() and importlib.util.find_spec("tqdm") is not None
    # executor= only when given: the resamples then run on the dask cluster
    extra = {} if executor is None else {"executor": executor}
    try:
        return sf.bootstrap(fit, n_resamples=args.bootstrap, seed=args.seed, start=args.start, scheme=args.scheme, progress=progress,
                            n_threads=args.threads, **extra)
    except ValueError as exc:
        raise CLIError(f"--bootstrap {args.bootstrap}: {_first_line(exc)}") from None


def _connect(address: str, cleanup: contextlib.ExitStack) -> Any:
    """A dask.distributed client of the scheduler at --executor (closed when the command ends)."""
    try:
        import distributed
    except ImportError:
        raise CLIError("--executor needs dask.distributed: pip install distributed") from None
    try:
        client = distributed.Client(address)
    except Exception as exc:  # distributed raises OSError, TimeoutError, ValueError, ... for a bad address
        raise CLIError(f"--executor {_short(address)}: cannot connect to a dask scheduler there: {_first_line(exc)}") from None
    cleanup.callback(client.close)
    return client


def _output_file(path: str, opt: str) -> Path:
    """An output file path, checked (and its directory created) before any work: a directory
    that cannot hold it is a CLIError naming the option."""
    if not path.strip():
        raise CLIError(f"{opt}: empty path")
    p = Path(path)
    if p.is_dir():
        raise CLIError(f"{opt} {path}: is a directory; give a file name such as {p / 'bootstrap.npz'}")
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=p.parent):
            pass
    except OSError as exc:
        raise CLIError(f"{opt} {path}: cannot create or write the directory {p.parent}: {exc.strerror or exc}") from None
    return p


def _save(bs: Any, path: Path, opt: str) -> None:
    from scalingfit._io import save

    try:
        save(bs, path)
    except OSError as exc:
        raise CLIError(f"{opt} {path}: cannot write: {exc.strerror or exc}") from None
    print(f"\nbootstrap (resamples {bs.start}..{bs.start + bs.n_resamples - 1}) saved to {path}")


# -- scalingfit merge -------------------------------------------------------------------------

def _merge(args: argparse.Namespace) -> int:
    from scalingfit import BootstrapResult
    from scalingfit._io import load

    out = _output_file(args.out, "--out")
    parts = []
    for path in args.parts:
        try:
            obj = load(path)
        except FileNotFoundError:
            raise CLIError(f"part not found: {path}") from None
        except (ValueError, OSError) as exc:  # the message names the file and what is wrong with it
            raise CLIError(_first_line(exc)) from None
        if not isinstance(obj, BootstrapResult):
            raise CLIError(f"{path} holds a {type(obj).__name__}, not a bootstrap; give files written by 'scalingfit fit --bootstrap N --save-bootstrap FILE'")
        parts.append(obj)
    try:
        merged = BootstrapResult.merge(parts)
    except ValueError as exc:
        listing = ", ".join(f"{path} [{p.start}, {p.start + p.n_resamples})" for path, p in zip(args.parts, parts))
        raise CLIError(f"{_first_line(exc)} (parts in the order given: {_short(listing, 600)})") from None
    print(merged.summary(args.level))
    _save(merged, out, "--out")
    return 0


def _analyses(sf: Any, args: argparse.Namespace, source: Any, n_vars: int, warnings: list[str]) -> dict[str, Any]:
    """Compute-optimal table, returns to scale and --target-loss. An analysis the user asked for by
    an option (--budgets, --target-loss) that fails is a CLIError naming it; otherwise a warning."""
    analyses: dict[str, Any] = {}
    if n_vars == 2:
        try:
            analyses["compute_optimal"] = sf.compute_optimal(source, args.budgets, k=args.k, level=args.level)
        except ValueError as exc:
            if args.budgets:
                raise CLIError(f"--budgets: {_first_line(exc)}") from None
            _warn(warnings, f"compute-optimal allocation not available: {_first_line(exc)}")
    try:
        analyses["returns"] = sf.returns(source, level=args.level)
    except ValueError:
        pass  # not every law has returns to scale
    if args.target_loss:
        try:
            analyses["required"] = sf.required(source, args.target_loss, k=args.k, level=args.level)
        except ValueError as exc:
            raise CLIError(f"--target-loss: {_first_line(exc)}") from None
    return analyses


def _plots(source: Any, out: Path, args: argparse.Namespace, warnings: list[str]) -> list[Path]:
    """Every applicable plot as PNG; one that fails is skipped with a warning, never fatal."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        _warn(warnings, "matplotlib is not installed: no plots (pip install 'scalingfit[plot]')")
        return []
    except Exception as exc:  # a broken matplotlib installation must not cost the report
        _warn(warnings, f"matplotlib could not be loaded: no plots ({type(exc).__name__}: {_first_line(exc)})")
        return []
    from scalingfit import BootstrapResult
    from scalingfit.plot import plot

    fit = source.fit if isinstance(source, BootstrapResult) else source
    kinds = ["law", "residuals"] + (["isoflop", "optimal"] if len(fit.variables) == 2 else []) + (["pairs"] if fit is not source else [])
    paths = []
    for kind in kinds:
        path = out / f"{kind}.png"
        before = set(plt.get_fignums())
        try:
            fig = plot(source, kind, k=args.k) if kind in ("residuals", "pairs") else plot(source, kind, k=args.k, level=args.level)
            fig.savefig(path, dpi=130)
            paths.append(path)
        except Exception as exc:  # a plot is optional: skip it and keep the report
            _warn(warnings, f"plot '{kind}' skipped: {type(exc).__name__}: {_first_line(exc)}")
            with contextlib.suppress(OSError):
                path.unlink()
        finally:
            for n in set(plt.get_fignums()) - before:
                plt.close(n)
    return paths


def _beyond_flags(res: Any, n: int) -> list[bool]:
    """The library's ``beyond_data`` mask of an analysis (False where it has none)."""
    b = getattr(res, "meta", {}).get("beyond_data")
    flags = [] if b is None else [bool(v) for v in np.atleast_1d(b)]
    return (flags + [False] * n)[:n]


def _beyond_note(res: Any, beyond: list[bool], what: str) -> list[str]:
    if not any(beyond):
        return []
    return ["", f"{sum(beyond)} of {len(beyond)} {what} are **extrapolated**: they lie beyond the fitted data "
            f"({res.meta.get('data_range', '')}), where the law has not been checked."]


def _fmt_iv(lo: float, hi: float) -> str:
    return f"[{lo:.4g}, {hi:.4g}]"


def _markdown(args, fit, bs, analyses, plots, n_drop, prov, warnings, failure) -> str:
    L = [f"# scalingfit report: {fit.form} fit of `{_short(str(args.file), 200)}`", ""]
    if failure is not None:
        L += [f"**{failure}**: no bootstrap, analyses or plots; the numbers below are for inspection only.", ""]
    L.append(f"- formula: `L = {_short(fit.formula, 400)}`")
    src = prov["variables"]
    L.append(f"- data: {fit.n_points} rows" + (f" ({n_drop} dropped)" if n_drop else "") + f"; response `{_short(args.y)}` = {_short(src[args.y])}; "
             + ", ".join(f"`{v}` = {_short(src[v])}" for v in fit.variables))
    L.append(f"- loss: {fit.loss}" + (f" (delta = {fit.delta:g})" if fit.delta else "") + f" on {fit.target} scale; {fit.n_starts} starts; {fit.message}")
    if bs is not None:
        L.append(f"- bootstrap: {bs.n_resamples} {bs.scheme} resamples (seed {bs.seed}), {bs.n_converged} converged; "
                 f"intervals are {args.level:.0%} percentile intervals")
    L += ["", "## Parameters", ""]
    ci = bs.ci(args.level) if bs is not None else None
    se = bs.stderr if bs is not None else fit.stderr
    L.append("| parameter | estimate | " + ("bootstrap sd | interval |" if bs is not None else "stderr |"))
    L.append("|---|---|---|" + ("---|" if bs is not None else ""))
    for n in fit.param_names:
        row = f"| {n} | {fit.params[n]:.6g} | " + (f"{se[n]:.3g} |" if se else "- |")
        if ci is not None:
            row += f" {_fmt_iv(*ci[n])} |"
        L.append(row)
    opt = analyses.get("compute_optimal")
    if opt is not None:
        L += ["", f"## Compute-optimal allocation (C = {opt.k:g} N D, {opt.method})", ""]
        L.append(f"N* ~ C^a with a = {opt.a:.4f}" + (f" {_fmt_iv(*opt.interval('a'))}" if opt.samples else "")
                 + f"; D* ~ C^b with b = {opt.b:.4f}" + (f" {_fmt_iv(*opt.interval('b'))}" if opt.samples else ""))
        beyond = _beyond_flags(opt, len(opt.C))
        L += ["", "| C (FLOP) | N* (parameters) | D* (tokens) | tokens/param | loss | vs the data |", "|---|---|---|---|---|---|"]
        for i, c in enumerate(opt.C):
            cell = []
            for nm in ("N", "D"):
                v = f"{opt.values[nm][i]:.3g}"
                if opt.samples:
                    lo, hi = opt.interval(nm)
                    v += f" {_fmt_iv(lo[i], hi[i])}"
                cell.append(v)
            L.append(f"| {c:.3g} | {cell[0]} | {cell[1]} | {opt.tokens_per_param[i]:.3g} | {opt.loss[i]:.4f} | "
                     f"{'**extrapolated**' if beyond[i] else 'within'} |")
        L += _beyond_note(opt, beyond, "rows")
    ret = analyses.get("returns")
    if ret is not None:
        L += ["", "## Returns to scale (multiplier of a resource that halves the reducible loss)", "",
              "| resource | exponent | multiplier |", "|---|---|---|"]
        for r, desc in ret.resources.items():
            e, m = ret.values["exponent_" + r], ret.values["multiplier_" + r]
            es = f"{e:.4g}" + (f" {_fmt_iv(*ret.interval('exponent_' + r))}" if ret.samples else "")
            ms = f"{m:.4g}" + (f" {_fmt_iv(*ret.interval('multiplier_' + r))}" if ret.samples else "")
            L.append(f"| {desc} | {es} | {ms} |")
    req = analyses.get("required")
    if req is not None:
        beyond = _beyond_flags(req, len(args.target_loss))
        L += ["", "## Required to reach target losses", ""]
        marks = [f"{t:g} ({'**extrapolated**' if beyond[i] else 'within the data'})" for i, t in enumerate(args.target_loss)]
        L += ["Target losses: " + ", ".join(marks) + "."] + _beyond_note(req, beyond, "answers")
        L += ["", "```", req.summary(), "```"]
    if plots:
        L += ["", "## Plots", ""]
        captions = {"law": "Data and fitted law", "isoflop": "IsoFLOP view", "optimal": "Compute-optimal N* and D*",
                    "residuals": "Residuals", "pairs": "Bootstrap parameter pairs"}
        for p in plots:
            L += [f"### {captions.get(p.stem, p.stem)}", "", f"![{captions.get(p.stem, p.stem)}]({p.name})", ""]
    if warnings:
        L += ["", "## Warnings", ""] + [f"- {_short(w, 1000)}" for w in warnings]
    L += ["", "## Fit summary", "", "```", fit.summary(), "```"]
    L += ["", "## Provenance", "", f"- scalingfit {prov['scalingfit_version']}, run at {prov['timestamp_utc']}",
          f"- input `{_short(prov['input'], 200)}`, sha256 `{prov['input_sha256']}`",
          "- reproduce with `scalingfit rerun results.json` (checks the input's hash), or:", "", "```", prov["command"], "```"]
    return "\n".join(L) + "\n"


def _forms(args: argparse.Namespace) -> int:
    import scalingfit as sf

    for f in sf.forms():
        print(f"{f['name']:<26}{f['formula']}")
        print(f"{'':<26}variables: {', '.join(f['variables'])}; log-space params: {', '.join(f['positive']) or '-'}")
        print(f"{'':<26}{f['description']}\n")
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse whose errors are one line (no usage block): ``scalingfit fit: error: argument --k: ...``, exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {_first_line(message)} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    p = _Parser(prog="scalingfit", description="Fit scaling laws with bootstrapped uncertainty.")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    d = sub.add_parser("demo", help="fit built-in example data generated from the Hoffmann et al. law")
    d.add_argument("--seed", type=_int_range(0, 2**64 - 1), default=0)
    d.add_argument("--resamples", type=_int_range(2, MAX_BOOTSTRAP), default=2000, help=f"bootstrap resamples (default 2000, at most {MAX_BOOTSTRAP})")
    d.add_argument("--progress", action="store_true", help="show a progress bar")
    d.set_defaults(func=_demo)
    f = sub.add_parser("forms", help="list the built-in forms")
    f.set_defaults(func=_forms)
    ft = sub.add_parser(
        "fit",
        help="fit a law to a CSV/Parquet file and write results.json, a report and plots",
        description="Fit a scaling law to a table of runs, optionally bootstrap it, and write results.json, "
        "report.md/report.html and PNG plots to --out.",
        epilog="example (Chinchilla data from Epoch AI, whose columns have spaces and no token count):\n"
        "  scalingfit fit svg_extracted_data.csv --map N='Model Size' --map C='Training FLOP' \\\n"
        "      --derive 'D=C/(6*N)' --drop-top-y 5 --form chinchilla --x N,D --y loss --bootstrap 4000 --out report/\n\n"
        "exit status: 0 success (warnings, e.g. a plot that failed, go to stderr, results.json and the report);\n"
        "  1 the fit failed (a non-finite objective or parameter): results.json and the report are still written;\n"
        "  2 a user error (bad option, unreadable or malformed input, unusable --out), checked before any fitting.\n"
        "results.json is strict JSON: NaN and infinities are written as null. It records the arguments, version,\n"
        "  input sha256 and time; 'scalingfit rerun report/results.json' repeats the run (same numbers).\n\n"
        "scaling out (a Slurm array job, one index range per task, then one merge):\n"
        "  scalingfit fit runs.csv --bootstrap 1000 --start $((SLURM_ARRAY_TASK_ID * 1000)) --seed 7 --no-plots \\\n"
        "      --out part$SLURM_ARRAY_TASK_ID --save-bootstrap parts/$SLURM_ARRAY_TASK_ID.npz\n"
        "  scalingfit merge parts/*.npz --out bootstrap.npz",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ft.add_argument("file", help="input table: .csv (comma-separated, UTF-8, header row) or .parquet (needs pandas + pyarrow)")
    ft.add_argument("--form", default="chinchilla", help="built-in form (see `scalingfit forms`) or a formula such as 'E + A*C^-alpha' (default chinchilla)")
    ft.add_argument("--x", help="comma-separated input columns, in the order of the form's variables (chinchilla: N,D); "
                    "for a formula, the columns that are its variables")
    ft.add_argument("--y", default="loss", help="column with the observed loss (default: loss)")
    ft.add_argument("--map", action="append", metavar="NAME=COLUMN", help="add a short name for a column, e.g. N='Model Size' (repeatable)")
    ft.add_argument("--derive", action="append", metavar="NAME=EXPR", help="add a computed column, e.g. 'D=C/(6*N)' (formula syntax; repeatable; after --map)")
    ft.add_argument("--drop-top-y", type=_int_range(0, sys.maxsize), default=0, metavar="K", help="drop the K rows with the highest y (Epoch's Chinchilla fit uses 5)")
    ft.add_argument("--loss", choices=["huber", "l2"], default="huber", help="fitting loss (default huber)")
    ft.add_argument("--delta", type=_positive, default=1e-3, help="Huber threshold (default 1e-3)")
    ft.add_argument("--target", choices=["log", "linear"], default="log", help="fit log y (default) or y")
    ft.add_argument("--bootstrap", type=_bootstrap_count, default=0, metavar="N",
                    help=f"number of bootstrap resamples (default 0: none; otherwise 2 to {MAX_BOOTSTRAP})")
    ft.add_argument("--scheme", choices=["pairs", "residual", "parametric"], default="pairs", help="bootstrap scheme (default pairs)")
    ft.add_argument("--seed", type=_int_range(0, 2**64 - 1), default=0, help="bootstrap seed (default 0)")
    ft.add_argument("--start", type=_int_range(0, 2**64 - 1), default=0, metavar="K",
                    help="index of the first resample: --bootstrap N --start K runs resamples K..K+N-1, the same ones a single "
                    "larger run draws (for array jobs; join the parts with 'scalingfit merge'; default 0)")
    ft.add_argument("--save-bootstrap", metavar="FILE",
                    help="also write the bootstrap to FILE (a portable .npz, read by scalingfit.load and 'scalingfit merge'; "
                    "the path is used as given, relative to the working directory)")
    ft.add_argument("--executor", metavar="ADDRESS",
                    help="run the resamples on the dask.distributed scheduler at ADDRESS, e.g. tcp://10.0.0.5:8786 (needs: pip install distributed)")
    ft.add_argument("--level", type=_level, default=0.95, help="interval level, between 0 and 1 (default 0.95)")
    ft.add_argument("--k", type=_positive, default=6.0, help="FLOPs per parameter per token, C = k N D (default 6)")
    ft.add_argument("--budgets", type=_positive_list, metavar="C1,C2,...",
                    help="compute budgets in FLOP for the compute-optimal table of a two-variable law (default: decades over the data range x1000)")
    ft.add_argument("--target-loss", type=_positive_list, metavar="L1,L2,...", help="also report the compute needed to reach these losses")
    ft.add_argument("--out", default="report", help="output directory, created if needed (default ./report)")
    ft.add_argument("--format", type=_formats, default="md,html", help="report formats: md, html or md,html (default)")
    ft.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    ft.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None, help="bootstrap progress bar (default: when stderr is a terminal and tqdm is installed)")
    ft.add_argument("--threads", type=_threads, default=None, help="threads (default: all cores)")
    ft.set_defaults(func=_fit)
    m = sub.add_parser(
        "merge",
        help="join bootstrap parts saved by 'fit --save-bootstrap' into one bootstrap file",
        description="Join bootstraps of one fit run over contiguous index ranges (scalingfit fit --bootstrap N --start K "
        "--save-bootstrap PART, same data, options and --seed) into one, bit-identical to a single run over the whole range; "
        "write it to --out and print its summary.",
        epilog="example:\n"
        "  scalingfit fit runs.csv --bootstrap 500 --start 0 --seed 7 --out r0 --save-bootstrap p0.npz\n"
        "  scalingfit fit runs.csv --bootstrap 500 --start 500 --seed 7 --out r1 --save-bootstrap p1.npz\n"
        "  scalingfit merge p0.npz p1.npz --out bootstrap.npz   # then: scalingfit.load('bootstrap.npz')\n\n"
        "exit status: 0 success; 2 a user error (a part that is missing or not a bootstrap file, parts with a gap or an overlap\n"
        "  between their ranges or from different fits, data, seeds or schemes, an unusable --out): one line on stderr.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    m.add_argument("parts", nargs="+", metavar="PART", help="bootstrap files written by 'scalingfit fit --save-bootstrap', in any order")
    m.add_argument("--out", required=True, metavar="FILE", help="file to write the merged bootstrap to (replaced if it exists)")
    m.add_argument("--level", type=_level, default=0.95, help="interval level of the printed summary (default 0.95)")
    m.set_defaults(func=_merge)
    r = sub.add_parser("rerun", help="re-run the fit recorded in a results.json (the input's sha256 is checked first)",
                       description="Re-run 'scalingfit fit' with the arguments recorded in results.json's provenance, on the same "
                       "input (refused if its sha256 changed); the numbers come out the same. --save-bootstrap is not repeated.")
    r.add_argument("results", metavar="RESULTS_JSON", help="a results.json written by 'scalingfit fit'")
    r.add_argument("--out", metavar="DIR", help="output directory (default: rerun/ next to RESULTS_JSON)")
    r.add_argument("--input", metavar="FILE", help="the input table, if it has moved since the run (its sha256 must still match)")
    r.set_defaults(func=_rerun)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        print("scalingfit: error: a command is required: demo, fit, forms, merge or rerun", file=sys.stderr)
        return 2
    try:
        with warnings.catch_warnings():
            # the library's diagnostics (also in results.json): one "scalingfit: warning:" line each
            def show(message: Any, category: Any, filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
                if issubclass(category, ScalingFitWarning):
                    print(f"scalingfit: warning: {message}", file=sys.stderr)
                else:
                    default_show(message, category, filename, lineno, file, line)

            default_show = warnings.showwarning
            warnings.showwarning = show
            return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `scalingfit fit ... | head`: stop quietly, as other tools do
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except (ValueError, TypeError, OSError, ImportError) as exc:
        # CLIError and the library's ValueErrors for bad input: one line, no traceback
        print(f"scalingfit: error: {_first_line(exc)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
