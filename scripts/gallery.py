#!/usr/bin/env python
"""Write the README gallery: small PNGs of scalingfit's plots on synthetic data.

One image per ``sf.plot`` kind (law, isoflop, optimal, residuals, pairs) of a chinchilla fit with
a bootstrap, and one of ``sf.isoflop(...).plot()``, all from ``scalingfit.datasets.hoffmann_example``
(seeded, so the pictures only change when the plots do). Matplotlib's Agg backend, dpi 70.

Usage: python scripts/gallery.py [OUTDIR]   (default: docs/gallery next to this script's repository)
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

DEFAULT = Path(__file__).resolve().parent.parent / "docs" / "gallery"
DPI = 70
KINDS = ["law", "isoflop", "optimal", "residuals", "pairs"]
FILES = [f"{k}.png" for k in KINDS] + ["isoflop_parabolas.png"]


def main(argv: list[str]) -> int:
    import matplotlib.pyplot as plt
    import scalingfit as sf
    from scalingfit.datasets import hoffmann_example

    out = Path(argv[0]) if argv else DEFAULT
    out.mkdir(parents=True, exist_ok=True)
    d = hoffmann_example(seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sf.ScalingFitWarning)
        fit = sf.fit("chinchilla", d, "loss")
        bs = sf.bootstrap(fit, n_resamples=200, seed=0)
        for kind in KINDS:
            kw = {"max_points": 200} if kind == "pairs" else {}
            fig = sf.plot(bs, kind, path=out / f"{kind}.png", dpi=DPI, title=f'sf.plot(bs, "{kind}")', **kw)
            plt.close(fig)
        iso = sf.isoflop(d, n_resamples=200, seed=0)
        ax = iso.plot()
        fig = ax.figure if hasattr(ax, "figure") else ax
        ax_title = fig.axes[0]
        ax_title.set_title("sf.isoflop(data).plot()")
        fig.savefig(out / "isoflop_parabolas.png", dpi=DPI)
        plt.close(fig)
    for f in FILES:
        print(f"wrote {out / f} ({(out / f).stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
