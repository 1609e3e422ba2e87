"""scalingfit: fast, honest scaling-law fits with a Rust core.

Quick tour::

    import scalingfit as sf
    fit = sf.fit("chinchilla", {"N": n_params, "D": n_tokens}, y=loss)
    fit.params, fit.stderr, fit.summary()
    fit.predict({"N": 7e10, "D": 1.4e12})
"""

from . import _core, dimension
from . import datasets as datasets  # sf.datasets without a separate import
from ._bootstrap import BootstrapResult, Distribution, bootstrap
from ._diagnostics import ScalingFitWarning
from ._fit import FitResult, fit, forms
from ._io import load
from .analysis import backtest, compute_optimal, extrapolate, optimize_budget, required, returns
from .compare import FormComparison, LocalExponent, broken_power_law, compare_forms, local_exponent
from .downstream import two_step
from .economics import economics
from .isoflop import compare_approaches, envelope, isoflop
from .plot import plot

__version__ = _core.__version__

__all__ = ["fit", "forms", "bootstrap", "FitResult", "BootstrapResult", "Distribution", "ScalingFitWarning", "dimension", "load", "__version__",
           "isoflop", "envelope", "compare_approaches", "economics", "two_step", "compare_forms", "local_exponent", "broken_power_law", "FormComparison", "LocalExponent", "compute_optimal", "required", "returns", "optimize_budget", "extrapolate", "backtest", "plot"]
