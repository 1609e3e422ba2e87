"""End-to-end tests of the `scalingfit` command line (fit, demo, forms)."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scalingfit.cli import main
from scalingfit.datasets import HOFFMANN, hoffmann_example

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CHIN = DATA / "chinchilla" / "svg_extracted_data.csv"
PNG = b"\x89PNG\r\n\x1a\n"


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


def test_fit_writes_results_report_and_plots(runs_csv, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out = tmp_path / "report"
    rc = main(["fit", str(runs_csv), "--form", "chinchilla", "--x", "Model Size,tokens", "--y", "loss",
               "--bootstrap", "200", "--seed", "1", "--budgets", "1e21,5.76e23", "--target-loss", "2.0", "--out", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "compute-optimal allocation" in text and "variable N <- column 'Model Size'" in text
    res = json.loads((out / "results.json").read_text())
    assert res["fit"]["form"] == "chinchilla" and res["columns"] == {"N": "Model Size", "D": "tokens"}
    assert res["bootstrap"]["n_resamples"] == 200
    a_true = HOFFMANN["beta"] / (HOFFMANN["alpha"] + HOFFMANN["beta"])
    co = res["compute_optimal"]
    assert co["values"]["C"] == [1e21, 5.76e23]
    assert abs(co["values"]["a"] - a_true) < 0.03  # synthetic data from the Hoffmann law, 1% noise
    lo, hi = co["ci"]["a"]
    assert lo < co["values"]["a"] < hi
    assert res["required"]["values"]["C"][0] > 0 and "returns" in res
    md = (out / "report.md").read_text()
    for s in ("## Parameters", "## Compute-optimal allocation", "![IsoFLOP view](isoflop.png)", "5.76e+23"):
        assert s in md
    html = (out / "report.html").read_text()
    assert "<table>" in html and "<img" in html and "isoflop.png" in html
    for name in ("law", "isoflop", "optimal", "residuals", "pairs"):
        b = (out / f"{name}.png").read_bytes()
        assert b[:8] == PNG and len(b) > 10_000


def test_readme_example_on_chinchilla(tmp_path, capsys):
    """The README example: --map for spaced names, --derive D, Epoch's drop of the 5 highest losses."""
    out = tmp_path / "r"
    rc = main(["fit", str(CHIN), "--map", "N=Model Size", "--map", "C=Training FLOP", "--derive", "D=C/(6*N)",
               "--drop-top-y", "5", "--form", "chinchilla", "--x", "N,D", "--y", "loss", "--bootstrap", "300",
               "--out", str(out), "--no-plots", "--format", "md"])
    assert rc == 0
    res = json.loads((out / "results.json").read_text())
    assert res["n_rows"] == 240 and res["n_dropped"] == 5
    assert res["fit"]["params"]["alpha"] == pytest.approx(0.3473, rel=2e-3)
    assert res["compute_optimal"]["values"]["a"] == pytest.approx(0.5139, abs=1e-3)
    assert (out / "report.md").exists() and not (out / "report.html").exists() and not list(out.glob("*.png"))


def test_parquet_input(runs_csv, tmp_path):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    df = pd.read_csv(runs_csv)
    pq = tmp_path / "runs.parquet"
    df.to_parquet(pq)
    out = tmp_path / "o"
    assert main(["fit", str(pq), "--x", "Model Size,tokens", "--out", str(out), "--no-plots", "--format", "md"]) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["n_rows"] == len(df) and "bootstrap" not in res


def test_formula_and_one_variable(tmp_path):
    x = np.geomspace(1e18, 1e22, 25)
    y = 1.8 + 2e3 * x**-0.17
    p = tmp_path / "c.csv"
    np.savetxt(p, np.column_stack([x, y]), delimiter=",", header="C,loss", comments="")
    out = tmp_path / "o"
    assert main(["fit", str(p), "--form", "E + A*C^-alpha", "--x", "C", "--target-loss", "2.0",
                 "--out", str(out), "--no-plots"]) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["fit"]["params"]["alpha"] == pytest.approx(0.17, rel=1e-3)
    assert "compute_optimal" not in res and res["required"]["values"]["C"][0] > 1e22


@pytest.mark.parametrize(
    "args, msg",
    [
        (["fit", "nope.csv"], "input file not found: nope.csv"),
        (["fit", "{csv}", "--x", "Model Size,params"], "no column 'params'"),
        (["fit", "{csv}", "--x", "Model Size,tokens", "--y", "Loss"], "--y: no column 'Loss'"),
        (["fit", "{csv}", "--x", "Model Size"], "form chinchilla has 2 variable(s)"),
        (["fit", "{csv}", "--map", "N"], "--map expects NAME=COLUMN"),
        (["fit", "{csv}", "--map", "N=size"], "no column 'size'"),
        (["fit", "{csv}", "--derive", "D=tokens/(6*Q)"], "unknown column(s) Q"),
        (["fit", "{csv}", "--x", "Model Size,tokens", "--form", "chinchila"], "unknown form 'chinchila'"),
        (["fit", "{csv}", "--x", "Model Size,tokens", "--bootstrap", "1"], "--bootstrap must be 0"),
        (["fit", "{csv}", "--x", "Model Size,run"], "column 'run' is not numeric"),
        (["fit", "{csv}", "--x", "Model Size,tokens", "--format", "pdf", "--no-plots"], "unknown report format"),
    ],
)
def test_errors_exit_2_with_message(args, msg, runs_csv, tmp_path, capsys):
    args = [a.replace("{csv}", str(runs_csv)) for a in args] + ["--out", str(tmp_path / "o")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert msg in err and "Traceback" not in err


def test_subprocess_exit_code_and_help(tmp_path):
    r = subprocess.run([sys.executable, "-m", "scalingfit", "fit", str(tmp_path / "missing.csv")], capture_output=True, text=True)
    assert r.returncode == 2
    assert "input file not found" in r.stderr and "Traceback" not in r.stderr
    h = subprocess.run([sys.executable, "-m", "scalingfit", "fit", "--help"], capture_output=True, text=True)
    assert h.returncode == 0
    for opt in ("--map", "--derive", "--bootstrap", "--out", "--x", "--y", "--loss", "--drop-top-y"):
        assert opt in h.stdout


def test_forms_and_demo(capsys):
    assert main(["forms"]) == 0
    assert "chinchilla" in capsys.readouterr().out
    assert main(["demo", "--resamples", "100"]) == 0
    out = capsys.readouterr().out
    assert "compute-optimal allocation" in out and "5.760e+23" in out
    assert main([]) == 2


def test_version(capsys):
    import scalingfit

    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out == f"scalingfit {scalingfit.__version__}\n"
    r = subprocess.run([sys.executable, "-m", "scalingfit", "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == f"scalingfit {scalingfit.__version__}"
