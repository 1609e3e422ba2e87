"""Command line interface: ``scalingfit fit``, ``scalingfit demo``, ``scalingfit forms``."""

from __future__ import annotations

import argparse
import csv
import html
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np


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


class CLIError(ValueError):
    """A user error: printed without a traceback, exit code 2."""


def _read_table(path: str) -> dict[str, np.ndarray]:
    p = Path(path)
    if not p.exists():
        raise CLIError(f"input file not found: {path}")
    if p.is_dir():
        raise CLIError(f"input is a directory, not a CSV or Parquet file: {path}")
    if p.suffix.lower() in (".parquet", ".pq"):
        try:
            import pandas as pd
        except ImportError:
            raise CLIError("reading Parquet needs pandas and pyarrow: pip install pandas pyarrow") from None
        try:
            df = pd.read_parquet(p)
        except ImportError as exc:
            raise CLIError(f"reading Parquet needs pyarrow (or fastparquet): {exc}") from None
        return {str(c): df[c].to_numpy() for c in df.columns}
    with open(p, newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        try:
            header = next(reader)
        except StopIteration:
            raise CLIError(f"{path} is empty") from None
        rows = [r for r in reader if r]
    if not rows:
        raise CLIError(f"{path} has a header but no data rows")
    out: dict[str, np.ndarray] = {}
    for j, name in enumerate(header):
        vals = [r[j] if j < len(r) else "" for r in rows]
        try:
            out[name] = np.array([float(v) if v.strip() else math.nan for v in vals])
        except ValueError:
            out[name] = np.array(vals, dtype=object)
    return out


def _numeric(table: dict[str, np.ndarray], col: str, what: str) -> np.ndarray:
    if col not in table:
        raise CLIError(f"{what}: no column '{col}' in the input; columns are: {', '.join(table)}")
    a = table[col]
    if a.dtype == object:
        raise CLIError(f"{what}: column '{col}' is not numeric")
    return np.asarray(a, dtype=np.float64)


def _parse_map(items: list[str]) -> dict[str, str]:
    out = {}
    for it in items or []:
        if "=" not in it:
            raise CLIError(f"--map expects NAME=COLUMN (e.g. N='Model Size'), got {it!r}")
        k, v = it.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def _derive(table: dict[str, np.ndarray], spec: str) -> None:
    from scalingfit import _core

    if "=" not in spec:
        raise CLIError(f"--derive expects NAME=EXPRESSION (e.g. 'D=C/(6*N)'), got {spec!r}")
    name, expr = (x.strip() for x in spec.split("=", 1))
    if not name.isidentifier():
        raise CLIError(f"--derive: {name!r} is not a valid column name (letters, digits, _)")
    cols = [c for c in table if c.isidentifier() and table[c].dtype != object]
    try:
        f = _core.Formula(f"({expr}) * sf_unit__", cols)
    except ValueError as exc:
        raise CLIError(f"--derive {spec!r}: {exc}") from None
    unknown = [p for p in f.param_names if p != "sf_unit__"]
    if unknown:
        raise CLIError(f"--derive {spec!r}: unknown column(s) {', '.join(unknown)}; numeric columns are {', '.join(cols)} (use --map to rename)")
    mat = np.ascontiguousarray(np.vstack([np.asarray(table[c], float) for c in cols]))
    try:
        vals, _ = f.eval(np.ones(1), mat, False)
    except ValueError as exc:
        raise CLIError(f"--derive {spec!r}: {exc}") from None
    table[name] = vals


def _fmt_iv(lo: float, hi: float) -> str:
    return f"[{lo:.4g}, {hi:.4g}]"


def _fit(args: argparse.Namespace) -> int:
    import scalingfit as sf

    table = _read_table(args.file)
    # --map NAME=COLUMN: give columns short names (and formula-variable names)
    for new, old in _parse_map(args.map).items():
        if old not in table:
            raise CLIError(f"--map {new}={old}: no column '{old}' in the input; columns are: {', '.join(table)}")
        table[new] = table[old]
    for spec in args.derive or []:
        _derive(table, spec)
    y = _numeric(table, args.y, "--y")
    xs = [x.strip() for x in args.x.split(",") if x.strip()] if args.x else None
    if args.form in {f["name"] for f in sf.forms()}:
        fvars = next(f["variables"] for f in sf.forms() if f["name"] == args.form)
        if xs is None:
            xs = list(fvars)
        if len(xs) != len(fvars):
            raise CLIError(f"--x: form {args.form} has {len(fvars)} variable(s) ({', '.join(fvars)}); got {len(xs)} column(s): {', '.join(xs)}")
        data = {v: _numeric(table, c, "--x") for v, c in zip(fvars, xs)}
        colmap = {v: c for v, c in zip(fvars, xs) if v != c}
    else:
        if xs is None:
            raise CLIError("--x is required with a formula: the data columns that are its variables")
        data = {c: _numeric(table, c, "--x") for c in xs}
        colmap = {}
    # drop rows with missing values (reported)
    ok = np.isfinite(y) & np.all([np.isfinite(a) for a in data.values()], axis=0)
    if args.drop_top_y:
        if args.drop_top_y < 0 or args.drop_top_y >= ok.sum():
            raise CLIError(f"--drop-top-y must be between 0 and the number of rows, got {args.drop_top_y}")
        thr = np.sort(y[ok])[-args.drop_top_y]
        ok &= y < thr
    n_drop = int((~ok).sum())
    data = {k: v[ok] for k, v in data.items()}
    y = y[ok]
    if len(y) == 0:
        raise CLIError("no rows left to fit")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"scalingfit fit: {args.file}: {len(y)} rows" + (f" ({n_drop} dropped: missing values or --drop-top-y)" if n_drop else ""))
    for v in colmap:
        print(f"  variable {v} <- column '{colmap[v]}'")
    fit = sf.fit(args.form, data, y=y, loss=args.loss, delta=args.delta, target=args.target, n_threads=args.threads)
    # report the variables under their input column names
    print(fit.summary())
    result = {"input": str(args.file), "n_rows": int(len(y)), "n_dropped": n_drop, "columns": {v: colmap.get(v, v) for v in data}, "y": args.y,
              "fit": fit.to_dict()}
    source: Any = fit
    bs = None
    if args.bootstrap:
        if args.bootstrap < 2:
            raise CLIError(f"--bootstrap must be 0 (off) or >= 2, got {args.bootstrap}")
        progress = args.progress if args.progress is not None else sys.stderr.isatty()
        bs = sf.bootstrap(fit, n_resamples=args.bootstrap, seed=args.seed, scheme=args.scheme, progress=progress, n_threads=args.threads)
        print()
        print(bs.summary(args.level))
        result["bootstrap"] = bs.to_dict(args.level)
        source = bs
    analyses: dict[str, Any] = {}
    two = len(fit.variables) == 2
    if two:
        C = [float(c) for c in args.budgets.split(",")] if args.budgets else None
        try:
            opt = sf.compute_optimal(source, C, k=args.k, level=args.level)
            analyses["compute_optimal"] = opt
        except ValueError as exc:
            print(f"(compute-optimal allocation not available: {exc})")
    try:
        analyses["returns"] = sf.returns(source, level=args.level)
    except ValueError:
        pass
    if args.target_loss:
        analyses["required"] = sf.required(source, [float(v) for v in args.target_loss.split(",")], k=args.k, level=args.level)
    for a in analyses.values():
        print()
        print(a.summary())
    result.update({k: a.to_dict() for k, a in analyses.items()})
    (out / "results.json").write_text(json.dumps(result, indent=2, default=str))
    written = [out / "results.json"]
    plots = []
    if not args.no_plots:
        try:
            import matplotlib

            matplotlib.use("Agg")
        except ImportError:
            print("(matplotlib not installed: no plots; pip install 'scalingfit[plot]')", file=sys.stderr)
        else:
            from scalingfit.plot import save_all

            plots = save_all(source, out, k=args.k, level=args.level)
            written += plots
    fmts = [f.strip() for f in args.format.split(",") if f.strip()]
    for f in fmts:
        if f not in ("md", "html"):
            raise CLIError(f"--format: unknown report format {f!r} (md, html)")
    md = _markdown(args, fit, bs, analyses, plots, n_drop, colmap)
    if "md" in fmts:
        (out / "report.md").write_text(md)
        written.append(out / "report.md")
    if "html" in fmts:
        (out / "report.html").write_text(_html(md, fit))
        written.append(out / "report.html")
    print(f"\nwrote {', '.join(str(p) for p in written)}")
    return 0


def _markdown(args, fit, bs, analyses, plots, n_drop, colmap) -> str:
    L = [f"# scalingfit report: {fit.form} fit of `{args.file}`", ""]
    L.append(f"- formula: `L = {fit.formula}`")
    L.append(f"- data: {fit.n_points} rows" + (f" ({n_drop} dropped)" if n_drop else "") + f"; response `{args.y}`; "
             + ", ".join(f"`{v}` = column `{colmap.get(v, v)}`" for v in fit.variables))
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
        L += ["", "| C (FLOP) | N* (parameters) | D* (tokens) | tokens/param | loss |", "|---|---|---|---|---|"]
        for i, c in enumerate(opt.C):
            cell = []
            for nm in ("N", "D"):
                v = f"{opt.values[nm][i]:.3g}"
                if opt.samples:
                    lo, hi = opt.interval(nm)
                    v += f" {_fmt_iv(lo[i], hi[i])}"
                cell.append(v)
            L.append(f"| {c:.3g} | {cell[0]} | {cell[1]} | {opt.tokens_per_param[i]:.3g} | {opt.loss[i]:.4f} |")
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
        L += ["", "## Required to reach target losses", "", "```", req.summary(), "```"]
    if plots:
        L += ["", "## Plots", ""]
        captions = {"law": "Data and fitted law", "isoflop": "IsoFLOP view", "optimal": "Compute-optimal N* and D*",
                    "residuals": "Residuals", "pairs": "Bootstrap parameter pairs"}
        for p in plots:
            L += [f"### {captions.get(p.stem, p.stem)}", "", f"![{captions.get(p.stem, p.stem)}]({p.name})", ""]
    L += ["", "## Fit summary", "", "```", fit.summary(), "```"]
    return "\n".join(L) + "\n"


def _html(md: str, fit) -> str:
    """A small self-contained Markdown-to-HTML rendering of the report (headings, tables, images, code)."""
    out = ["<!doctype html><html><head><meta charset='utf-8'>",
           f"<title>scalingfit report: {html.escape(fit.form)}</title>",
           "<style>body{font-family:sans-serif;max-width:1000px;margin:2em auto;line-height:1.4}"
           "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
           "img{max-width:100%}pre{background:#f6f6f6;padding:8px;overflow-x:auto}</style></head><body>"]
    lines = md.splitlines()
    i = 0
    in_list = False
    while i < len(lines):
        ln = lines[i]
        if ln.startswith("```"):
            j = i + 1
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            out.append("<pre>" + html.escape("\n".join(lines[i + 1 : j])) + "</pre>")
            i = j + 1
            continue
        if in_list and not ln.startswith("- "):
            out.append("</ul>")
            in_list = False
        if ln.startswith("#"):
            lvl = len(ln) - len(ln.lstrip("#"))
            out.append(f"<h{lvl}>{_inline(ln[lvl:].strip())}</h{lvl}>")
        elif ln.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                rows.append([c.strip() for c in lines[i].strip("|").split("|")])
                i += 1
            out.append("<table><tr>" + "".join(f"<th>{_inline(c)}</th>" for c in rows[0]) + "</tr>")
            for r in rows[2:]:
                out.append("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in r) + "</tr>")
            out.append("</table>")
            continue
        elif ln.startswith("!["):
            alt, src = ln[2:].split("](", 1)
            out.append(f"<p><img alt='{html.escape(alt)}' src='{html.escape(src.rstrip(')'))}'></p>")
        elif ln.startswith("- "):
            if not in_list:
                out.append("<ul>")
                in_list = True
            out.append(f"<li>{_inline(ln[2:])}</li>")
        elif ln.strip():
            out.append(f"<p>{_inline(ln)}</p>")
        i += 1
    if in_list:
        out.append("</ul>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _inline(s: str) -> str:
    parts = s.split("`")
    return "".join(f"<code>{html.escape(p)}</code>" if k % 2 else html.escape(p) for k, p in enumerate(parts))


def _forms(args: argparse.Namespace) -> int:
    import scalingfit as sf

    for f in sf.forms():
        print(f"{f['name']:<26}{f['formula']}")
        print(f"{'':<26}variables: {', '.join(f['variables'])}; log-space params: {', '.join(f['positive']) or '-'}")
        print(f"{'':<26}{f['description']}\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    p = argparse.ArgumentParser(prog="scalingfit", description="Fit scaling laws with bootstrapped uncertainty.")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    d = sub.add_parser("demo", help="fit built-in example data generated from the Hoffmann et al. law")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples (default 2000)")
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
        "      --derive 'D=C/(6*N)' --drop-top-y 5 --form chinchilla --x N,D --y loss --bootstrap 4000 --out report/",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ft.add_argument("file", help="input table: .csv (header row) or .parquet (needs pandas + pyarrow)")
    ft.add_argument("--form", default="chinchilla", help="built-in form (see `scalingfit forms`) or a formula such as 'E + A*C^-alpha' (default chinchilla)")
    ft.add_argument("--x", help="comma-separated input columns, in the order of the form's variables (chinchilla: N,D); "
                    "for a formula, the columns that are its variables")
    ft.add_argument("--y", default="loss", help="column with the observed loss (default: loss)")
    ft.add_argument("--map", action="append", metavar="NAME=COLUMN", help="add a short name for a column, e.g. N='Model Size' (repeatable)")
    ft.add_argument("--derive", action="append", metavar="NAME=EXPR", help="add a computed column, e.g. 'D=C/(6*N)' (formula syntax; repeatable; after --map)")
    ft.add_argument("--drop-top-y", type=int, default=0, metavar="K", help="drop the K rows with the highest y (Epoch's Chinchilla fit uses 5)")
    ft.add_argument("--loss", choices=["huber", "l2"], default="huber", help="fitting loss (default huber)")
    ft.add_argument("--delta", type=float, default=1e-3, help="Huber threshold (default 1e-3)")
    ft.add_argument("--target", choices=["log", "linear"], default="log", help="fit log y (default) or y")
    ft.add_argument("--bootstrap", type=int, default=0, metavar="N", help="number of bootstrap resamples (default 0: none)")
    ft.add_argument("--scheme", choices=["pairs", "residual", "parametric"], default="pairs", help="bootstrap scheme (default pairs)")
    ft.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    ft.add_argument("--level", type=float, default=0.95, help="interval level (default 0.95)")
    ft.add_argument("--k", type=float, default=6.0, help="FLOPs per parameter per token, C = k N D (default 6)")
    ft.add_argument("--budgets", metavar="C1,C2,...", help="compute budgets in FLOP for the compute-optimal table (default: decades over the data range x1000)")
    ft.add_argument("--target-loss", metavar="L1,L2,...", help="also report the compute needed to reach these losses")
    ft.add_argument("--out", default="report", help="output directory (default ./report)")
    ft.add_argument("--format", default="md,html", help="report formats: md, html or md,html (default)")
    ft.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    ft.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None, help="bootstrap progress bar (default: when stderr is a terminal)")
    ft.add_argument("--threads", type=int, default=None, help="threads (default: all cores)")
    ft.set_defaults(func=_fit)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ValueError, TypeError, FileNotFoundError, ImportError) as exc:
        print(f"scalingfit: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
