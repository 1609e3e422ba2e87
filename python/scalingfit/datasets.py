"""Built-in example data (generated; no downloads)."""

from __future__ import annotations

import numpy as np

#: Hoffmann et al. (2022), Approach 3 published parameters.
HOFFMANN = {"E": 1.69, "A": 406.4, "alpha": 0.34, "B": 410.7, "beta": 0.28}


def hoffmann_example(seed: int = 0, noise: float = 0.01, n_budgets: int = 9, n_per_budget: int = 12) -> dict[str, np.ndarray]:
    """IsoFLOP-style synthetic runs from the published Hoffmann et al. law.

    For each of ``n_budgets`` compute budgets C from 6e18 to 3e21 FLOP, ``n_per_budget`` model
    sizes N are spread log-uniformly over a factor 8 either side of the compute-optimal size,
    D = C / (6 N), and the loss is ``E + A/N^alpha + B/D^beta`` times log-normal noise of
    relative size ``noise``. Returns a dict with arrays ``N``, ``D``, ``C`` and ``loss``.
    """
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    if n_budgets < 1 or n_per_budget < 1:
        raise ValueError("n_budgets and n_per_budget must be >= 1")
    rng = np.random.default_rng(seed)
    p = HOFFMANN
    a = p["beta"] / (p["alpha"] + p["beta"])
    g = (p["alpha"] * p["A"] / (p["beta"] * p["B"])) ** (1 / (p["alpha"] + p["beta"]))
    budgets = np.geomspace(6e18, 3e21, n_budgets)
    n_opt = g * (budgets / 6) ** a
    factors = np.geomspace(1 / 8, 8, n_per_budget)
    N = (n_opt[:, None] * factors[None, :]).ravel()
    C = np.repeat(budgets, n_per_budget)
    D = C / (6 * N)
    loss = p["E"] + p["A"] * N ** -p["alpha"] + p["B"] * D ** -p["beta"]
    loss = loss * np.exp(noise * rng.standard_normal(loss.shape))
    return {"N": N, "D": D, "C": C, "loss": loss}
