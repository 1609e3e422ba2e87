import csv
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from scalingfit.datasets import hoffmann_example

# CI sets CI=true: a fixed, derandomised and bounded hypothesis run.
settings.register_profile(
    "ci", max_examples=25, deadline=None, derandomize=True, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# HYPOTHESIS_PROFILE=long: the long fuzz run (tests/test_fuzz.py; with SCALINGFIT_FUZZ_MINUTES=10).
settings.register_profile(
    "long", max_examples=100_000, deadline=None, print_blob=True, suppress_health_check=list(HealthCheck)
)
settings.load_profile("ci" if os.environ.get("CI", "").lower() in ("1", "true", "yes") else os.environ.get("HYPOTHESIS_PROFILE", "dev"))

# ../shared/data beside the repository (see the brief); never copied into the repo.
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.fail(f"test data missing: {path} (the repository expects ../shared/data beside it)")
    return path


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return _need(SHARED_DATA)


@pytest.fixture(scope="session")
def chinchilla(shared_data):
    """Epoch AI's Chinchilla points: drop the 5 highest losses, D = C / (6 N): 240 points."""
    import csv

    rows = list(csv.DictReader(open(_need(shared_data / "chinchilla" / "svg_extracted_data.csv"))))
    N = np.array([float(r["Model Size"]) for r in rows])
    C = np.array([float(r["Training FLOP"]) for r in rows])
    loss = np.array([float(r["loss"]) for r in rows])
    keep = loss < np.sort(loss)[-5]
    N, C, loss = N[keep], C[keep], loss[keep]
    return {"N": N, "D": C / (6 * N), "C": C, "loss": loss}


@pytest.fixture(scope="session")
def chinchilla_fit(chinchilla):
    import scalingfit as sf

    return sf.fit("chinchilla", {"N": chinchilla["N"], "D": chinchilla["D"]}, y=chinchilla["loss"])


# -- CLI test data (tests/test_cli.py, tests/test_cli_checks.py) -----------------------------

@pytest.fixture()
def runs_csv(tmp_path):
    """Synthetic runs from Hoffmann's law with spaces in the column names, as in real exports."""
    d = hoffmann_example(seed=3)
    p = tmp_path / "runs.csv"
    with open(p, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["run", "Model Size", "tokens", "loss"])
        for i in range(len(d["loss"])):
            w.writerow([f"run{i}", repr(float(d["N"][i])), repr(float(d["D"][i])), repr(float(d["loss"][i]))])
    return p


@pytest.fixture()
def small_csv(tmp_path):
    """25 points of E + A*C^-alpha (a fast one-variable fit)."""
    x = np.geomspace(1e18, 1e22, 25)
    y = 1.8 + 2e3 * x**-0.17 * (1 + 0.01 * np.sin(np.arange(25)))
    p = tmp_path / "small.csv"
    np.savetxt(p, np.column_stack([x, y]), delimiter=",", header="C,loss", comments="")
    return p


@pytest.fixture()
def no_fit(monkeypatch):
    """Fails the test if any fitting starts: checks that must come first really do."""
    import scalingfit

    def refuse(*a, **k):
        raise AssertionError("fitting started before the user error was reported")

    monkeypatch.setattr(scalingfit, "fit", refuse)
    monkeypatch.setattr(scalingfit, "bootstrap", refuse)


@pytest.fixture(scope="session")
def hoffmann_example_full():
    """The bundled Hoffmann-style example (N, D, C, loss), as a dict of arrays."""
    from scalingfit.datasets import hoffmann_example

    return hoffmann_example()


@pytest.fixture(scope="session")
def hoffmann_nd():
    """The bundled Hoffmann-style example's N, D and loss columns (no C), as a dict of arrays."""
    from scalingfit.datasets import hoffmann_example

    d = hoffmann_example()
    d.pop("C")
    return d
