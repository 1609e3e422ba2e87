"""Command line interface: ``scalingfit demo``, ``scalingfit forms``."""

from __future__ import annotations

import argparse
import sys
import time


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
    return 0


def _forms(args: argparse.Namespace) -> int:
    import scalingfit as sf

    for f in sf.forms():
        print(f"{f['name']:<26}{f['formula']}")
        print(f"{'':<26}variables: {', '.join(f['variables'])}; log-space params: {', '.join(f['positive']) or '-'}")
        print(f"{'':<26}{f['description']}\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="scalingfit", description="Fit scaling laws with bootstrapped uncertainty.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    d = sub.add_parser("demo", help="fit built-in example data generated from the Hoffmann et al. law")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples (default 2000)")
    d.add_argument("--progress", action="store_true", help="show a progress bar")
    d.set_defaults(func=_demo)
    f = sub.add_parser("forms", help="list the built-in forms")
    f.set_defaults(func=_forms)
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
    except (ValueError, TypeError, FileNotFoundError) as exc:
        print(f"scalingfit: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
