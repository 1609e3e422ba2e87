"""End-to-end tests of the `scalingfit` command line (fit, demo, forms)."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scalingfit.cli import main
from scalingfit.datasets import HOFFMANN

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CHIN = DATA / "chinchilla" / "svg_extracted_data.csv"
PNG = b"\x89PNG\r\n\x1a\n"




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
        (["fit", "{csv}", "--x", "Model Size,tokens", "--bootstrap", "1"], "argument --bootstrap: must be between 2 and"),
        (["fit", "{csv}", "--x", "Model Size,run"], "column 'run' is not numeric (line 2: 'run0')"),
        (["fit", "{csv}", "--x", "Model Size,tokens", "--format", "pdf", "--no-plots"], "unknown report format"),
    ],
)
def test_errors_exit_2_with_message(args, msg, runs_csv, tmp_path, capsys):
    args = [a.replace("{csv}", str(runs_csv)) for a in args] + ["--out", str(tmp_path / "o")]
    code, _, err = _run(args, capsys)
    assert code == 2
    _one_line(err, msg)
    assert not (tmp_path / "o").exists()  # nothing written for a user error


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


# -- robustness: every user error is one line on stderr, exit 2, no traceback -------------------

def _run(args, capsys):
    """main(args) in-process: (exit code, stdout, stderr); argparse errors exit by SystemExit."""
    try:
        code = main([str(a) for a in args])
    except SystemExit as exc:
        code = exc.code
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def _cli(*args, cwd=None):
    """The CLI in a subprocess (PYTHONPATH and the rest of the environment are inherited)."""
    return subprocess.run([sys.executable, "-m", "scalingfit", *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=120)


def _one_line(err, *needles):
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got: {err!r}"
    assert "Traceback" not in err
    for n in needles:
        assert n in err, f"{n!r} not in {err!r}"


def _strict_json(path):
    """results.json must parse with a strict parser: no NaN / Infinity tokens."""
    def refuse(c):
        raise ValueError(f"non-strict JSON constant {c}")

    return json.loads(Path(path).read_text(encoding="utf-8"), parse_constant=refuse)


FORMULA = ["--form", "E + A*C^-alpha", "--x", "C"]


@pytest.mark.parametrize("kind", ["file", "under_file", "under_dev_null", "empty", "results_is_dir"])
def test_out_unusable_is_one_line_before_fitting(kind, small_csv, tmp_path, capsys, no_fit):
    afile = tmp_path / "afile.csv"
    afile.write_text("x\n")
    (tmp_path / "od" / "results.json").mkdir(parents=True)
    out = {"file": afile, "under_file": afile / "out", "under_dev_null": "/dev/null/out", "empty": "", "results_is_dir": tmp_path / "od"}[kind]
    code, stdout, err = _run(["fit", small_csv, *FORMULA, "--out", out], capsys)
    assert code == 2 and stdout == ""
    _one_line(err, "--out")
    if kind != "empty":
        assert str(out) in err
    assert afile.read_text() == "x\n"


def test_out_unusable_subprocess(small_csv, tmp_path):
    afile = tmp_path / "somefile.csv"
    afile.write_text("x\n")
    for out in (afile, afile / "out"):
        r = _cli("fit", small_csv, *FORMULA, "--out", out)
        assert r.returncode == 2 and r.stdout == ""
        _one_line(r.stderr, f"--out {out}", "not a directory")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes through chmod 0o500")
def test_out_not_writable(small_csv, tmp_path, capsys, no_fit):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        for out in (ro, ro / "sub"):
            code, _, err = _run(["fit", small_csv, *FORMULA, "--out", out], capsys)
            assert code == 2
            _one_line(err, f"--out {out}")
    finally:
        ro.chmod(0o700)


def test_unreadable_input_open_raises(small_csv, tmp_path, capsys, monkeypatch):
    """A file whose open fails (permission denied; root reads everything, so open is made to fail)."""
    import builtins

    import scalingfit._cli_io as cli_io

    real_open = builtins.open

    def deny(path, *a, **k):
        if str(path) == str(small_csv):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *a, **k)

    monkeypatch.setattr(cli_io, "open", deny, raising=False)  # the input side of the CLI
    code, _, err = _run(["fit", small_csv, *FORMULA, "--out", tmp_path / "o"], capsys)
    assert code == 2
    _one_line(err, f"cannot read input file {small_csv}: Permission denied")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads through chmod 0")
def test_unreadable_input_permission(small_csv, tmp_path):
    small_csv.chmod(0)
    try:
        r = _cli("fit", small_csv, *FORMULA, "--out", tmp_path / "o")
        assert r.returncode == 2
        _one_line(r.stderr, str(small_csv), "Permission denied")
    finally:
        small_csv.chmod(0o600)


@pytest.mark.parametrize("kind", ["fifo", "directory", "name_too_long", "symlink_loop", "dev_null"])
def test_unreadable_input_paths(kind, tmp_path, capsys):
    if kind == "fifo":
        if not hasattr(os, "mkfifo"):
            pytest.skip("no FIFOs here")
        path = tmp_path / "runs.csv"
        os.mkfifo(path)  # without a writer, opening it would block for ever
    elif kind == "directory":
        path = tmp_path
    elif kind == "name_too_long":
        path = tmp_path / ("x" * 300 + ".csv")
    elif kind == "symlink_loop":
        path = tmp_path / "loop.csv"
        os.symlink(path, path)
    else:
        path = Path(os.devnull)
    code, _, err = _run(["fit", path, *FORMULA, "--out", tmp_path / "o"], capsys)
    assert code == 2
    _one_line(err, str(path))


def test_bootstrap_huge_is_refused_at_once(small_csv, tmp_path):
    r = _cli("fit", small_csv, *FORMULA, "--bootstrap", 10**12, "--out", tmp_path / "o")
    assert r.returncode == 2 and r.stdout == ""  # refused before reading or fitting anything
    _one_line(r.stderr, "--bootstrap", "at most 1000000", "keep='summary'")
    assert not (tmp_path / "o").exists()


def test_bootstrap_library_refusal_names_the_option(small_csv, tmp_path, capsys, monkeypatch):
    import scalingfit

    def refuse(fit, **k):
        raise ValueError(f"n_resamples={k['n_resamples']} with keep='samples' needs 3 GiB; use keep='summary'")

    monkeypatch.setattr(scalingfit, "bootstrap", refuse)
    code, _, err = _run(["fit", small_csv, *FORMULA, "--bootstrap", 20, "--out", tmp_path / "o", "--no-plots"], capsys)
    assert code == 2
    _one_line(err, "--bootstrap 20: n_resamples=20")


@pytest.mark.parametrize("row, counts", [("1e20", "1 field(s), but the header has 2"), ("1e20,2.0,7", "3 field(s), but the header has 2")])
def test_ragged_rows_are_refused(row, counts, tmp_path, capsys):
    p = tmp_path / "ragged.csv"
    p.write_text("C,loss\n1e18,3.0\n1e19,2.5\n\n" + row + "\n1e21,2.1\n")
    code, _, err = _run(["fit", p, *FORMULA, "--out", tmp_path / "o"], capsys)
    assert code == 2
    _one_line(err, f"{p}, line 5: {counts}")


@pytest.mark.parametrize(
    "opt, value, msg",
    [
        ("--budgets", "abc", "argument --budgets: 'abc' is not a number"),
        ("--budgets", "inf", "argument --budgets: must be a positive finite number, got 'inf'"),
        ("--budgets", "0", "argument --budgets: must be a positive"),
        ("--budgets", "-1e21", "argument --budgets: must be a positive"),
        ("--budgets", "1e21,,1e22", "argument --budgets: expects comma-separated positive numbers"),
        ("--budgets", "1e21,x", "argument --budgets: 'x' is not a number (in '1e21,x')"),
        ("--target-loss", "abc", "argument --target-loss: 'abc' is not a number"),
        ("--target-loss", "nan", "argument --target-loss: must be a positive finite number"),
        ("--level", "2", "argument --level: must be in (0, 1), e.g. 0.95"),
        ("--level", "95", "argument --level: must be in (0, 1), e.g. 0.95 (a fraction, not a percentage), got '95'"),
        ("--k", "-1", "argument --k: must be a positive"),
        ("--delta", "0", "argument --delta: must be a positive"),
        ("--threads", "100000", "argument --threads: must be between 0 and"),
        ("--threads", "two", "argument --threads: 'two' is not a whole number"),
        ("--seed", "-1", "argument --seed: must be between 0 and 18446744073709551615"),
        ("--seed", str(2**64), "argument --seed: must be between 0 and"),
        ("--drop-top-y", "-1", "argument --drop-top-y: must be between 0"),
        ("--bootstrap", "1", "argument --bootstrap: must be between 2 and 1000000 (or 0: off)"),
        ("--bootstrap", "-5", "argument --bootstrap: must be between 2"),
        ("--bootstrap", "1e3", "argument --bootstrap: '1e3' is not a whole number"),
        ("--format", "pdf", "argument --format: unknown report format 'pdf'"),
        ("--format", ",", "argument --format: give md, html or md,html"),
        ("--loss", "l1", "argument --loss: invalid choice: 'l1'"),
    ],
)
def test_bad_option_values(opt, value, msg, small_csv, tmp_path, capsys, no_fit):
    code, stdout, err = _run(["fit", small_csv, *FORMULA, f"{opt}={value}", "--out", tmp_path / "o"], capsys)
    assert code == 2 and stdout == ""
    _one_line(err, msg)
    assert not (tmp_path / "o").exists()


def test_bad_option_value_subprocess(small_csv, tmp_path):
    r = _cli("fit", small_csv, "--budgets", "abc", "--out", tmp_path / "o")
    assert r.returncode == 2
    _one_line(r.stderr, "--budgets: 'abc' is not a number")
    r = _cli("demo", "--resamples", 10**12)
    assert r.returncode == 2
    _one_line(r.stderr, "--resamples", "at most 1000000")


@settings(max_examples=40, deadline=None)
@given(opt=st.sampled_from(["--budgets", "--target-loss", "--level", "--k", "--delta", "--bootstrap", "--seed", "--threads",
                            "--drop-top-y", "--format", "--x", "--y", "--form", "--map", "--derive", "--out"]),
       value=st.text(max_size=30))
def test_any_option_value_is_one_line_or_accepted(opt, value, tmp_path_factory):
    """Arbitrary text for any option: argparse's one-line refusal or, with the value accepted, the
    missing input file's; never a traceback."""
    import contextlib
    import io

    missing = tmp_path_factory.getbasetemp() / "missing.csv"
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(["fit", str(missing), f"{opt}={value}", "--out", str(tmp_path_factory.getbasetemp() / "never")])
        except SystemExit as exc:
            code = exc.code
    assert code == 2
    _one_line(err.getvalue())


def test_plot_failure_is_a_warning_not_an_abort(runs_csv, tmp_path, capsys, monkeypatch):
    pytest.importorskip("matplotlib")
    plotmod = sys.modules["scalingfit.plot"]  # the package's `plot` attribute is the function
    real = plotmod.plot

    def flaky(source, kind, **k):
        if kind == "isoflop":
            raise RuntimeError("simulated failure\nwith a second line")
        return real(source, kind, **k)

    monkeypatch.setattr(plotmod, "plot", flaky)
    out = tmp_path / "o"
    code, stdout, err = _run(["fit", runs_csv, "--x", "Model Size,tokens", "--bootstrap", 20, "--out", out], capsys)
    assert code == 0
    _one_line(err, "scalingfit: warning: plot 'isoflop' skipped: RuntimeError: simulated failure")
    res = _strict_json(out / "results.json")
    assert res["warnings"] == ["plot 'isoflop' skipped: RuntimeError: simulated failure"]
    assert not (out / "isoflop.png").exists()
    for name in ("law", "residuals", "optimal", "pairs"):
        assert (out / f"{name}.png").read_bytes()[:8] == PNG
    md = (out / "report.md").read_text()
    assert "## Warnings" in md and "plot 'isoflop' skipped" in md and "isoflop.png" not in md
    assert "Warnings" in (out / "report.html").read_text()


def test_matplotlib_missing_is_a_warning(small_csv, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib raises ImportError
    out = tmp_path / "o"
    code, _, err = _run(["fit", small_csv, *FORMULA, "--out", out], capsys)
    assert code == 0
    _one_line(err, "matplotlib is not installed: no plots")
    assert "matplotlib is not installed" in _strict_json(out / "results.json")["warnings"][0]
    assert (out / "report.md").exists() and (out / "report.html").exists() and not list(out.glob("*.png"))


@pytest.mark.parametrize("formula", ["E + A*C^-alpha + sqrt(-C)", "E + A*log(C - 1e30)"])
def test_failed_fit_exits_1_with_strict_json(formula, small_csv, tmp_path):
    out = tmp_path / "o"
    r = _cli("fit", small_csv, "--form", formula, "--x", "C", "--bootstrap", 20, "--target-loss", 2.0, "--out", out)
    assert r.returncode == 1
    _one_line(r.stderr, "scalingfit: error: the fit failed", "not finite", str(out))
    res = _strict_json(out / "results.json")
    assert res["error"].startswith("the fit failed")
    assert all(v is None for v in res["fit"]["params"].values())
    assert "bootstrap" not in res and "required" not in res
    assert "the fit failed" in (out / "report.md").read_text() and (out / "report.html").exists()
    assert not list(out.glob("*.png"))


def test_results_json_is_strict_and_nonfinite_is_null(small_csv, tmp_path, capsys, monkeypatch):
    """Non-finite numbers anywhere in the results (here a stderr and a covariance entry) are null."""
    import dataclasses

    import scalingfit

    real = scalingfit.fit

    def with_nan(*a, **k):
        f = real(*a, **k)
        cov = np.full((len(f.param_names),) * 2, np.nan)
        return dataclasses.replace(f, stderr={n: math.nan for n in f.param_names}, cov=cov)

    monkeypatch.setattr(scalingfit, "fit", with_nan)
    out = tmp_path / "o"
    code, _, _ = _run(["fit", small_csv, *FORMULA, "--out", out, "--no-plots"], capsys)
    assert code == 0
    res = _strict_json(out / "results.json")
    assert set(res["fit"]["stderr"].values()) == {None} and res["fit"]["cov"][0] == [None] * 3
    assert "NaN" not in (out / "results.json").read_text()


def test_unconverged_finite_fit_is_a_warning(small_csv, tmp_path, capsys, monkeypatch):
    import dataclasses

    import scalingfit

    real = scalingfit.fit
    monkeypatch.setattr(scalingfit, "fit", lambda *a, **k: dataclasses.replace(real(*a, **k), converged=False, message="stopped: max_iter"))
    out = tmp_path / "o"
    code, _, err = _run(["fit", small_csv, *FORMULA, "--out", out, "--no-plots"], capsys)
    assert code == 0
    _one_line(err, "warning: the best start stopped before its convergence test (stopped: max_iter)")
    assert "convergence test" in _strict_json(out / "results.json")["warnings"][0]


@pytest.mark.parametrize(
    "content, args, msg",
    [
        ("C,loss\n,\n,\n", FORMULA, "no rows left to fit: column(s) 'loss', 'C' have no numeric values"),
        ("C,loss\nnan,2\n,3\n", FORMULA, "column(s) 'C' have no numeric values"),
        ("C,loss\n1e18,3\n", [*FORMULA, "--y", "Loss"], "--y: no column 'Loss' in the input; columns are: 'C', 'loss'"),
        ("C,loss\n1e18,three\n", FORMULA, "--y: column 'loss' is not numeric (line 2: 'three')"),
        ("C,loss,run\n1e18,3,a\n", ["--form", "E + A*run^-a", "--x", "run"], "--x: column 'run' is not numeric (line 2: 'a')"),
        ("C;loss\n1e18;3\n", FORMULA, "seems to use another separator"),
        ("C,C\n1,2\n", FORMULA, "column name 'C' appears twice in the header (columns 1 and 2)"),
        ("", FORMULA, "is empty"),
        ("C,loss\n", FORMULA, "has a header but no data rows"),
        ("C,loss\n1e18,-3\n1e19,2\n", FORMULA, "--y: column 'loss' has the non-positive value -3 (line 2)"),
        ("C,loss\n1e18,3\n0,2\n", FORMULA, "--x: column 'C' has the non-positive value 0 (line 3)"),
        ("C,loss\n1e18,3\n", ["--form", "E + A*C^", "--x", "C"], "--form: formula syntax error at position 8: unexpected end of formula"),
        ("C,loss\n1e18,3\n", ["--form", "E + A*C^-α", "--x", "C"], "--form: formula syntax error at position 9: unexpected character 'α'"),
        ("C,loss\n1e18,3\n", ["--form", "E + A*foo(C)", "--x", "C"], "--form: formula syntax error at position 6: unknown function 'foo'"),
        ("C,loss\n1e18,3\n", ["--form", "E" + "+E" * 5000 + "+A*C^-a", "--x", "C"], "--form: formula syntax error"),
        ("C,loss\n1e18,3\n", ["--form", "E+" + "(" * 1000 + "C" + ")" * 1000, "--x", "C"], "nested more than"),
        ("C,loss\n1e18,3\n", ["--form", "C*2", "--x", "C"], "--form: formula 'C*2' has no parameters"),
        ("C,loss\n1e18,3\n", ["--form", "E + A*C^-a", "--x", "C,loss"], "--x: column 'loss' does not appear in the formula"),
        ("C,loss\n1e18,3\n", ["--form", "E + A*C^-a", "--x", "C,C"], "--x expects distinct comma-separated column names"),
        ("C,loss\n1e18,3\n", ["--form", "E + A*C^-a", "--x", ","], "--x expects distinct comma-separated column names"),
        ("C,loss\n1e18,3\n", ["--form", "E + A*C^-a"], "--x is required with a formula"),
        ("C,loss\n1e18,3\n", ["--form", "chinchila"], "--form: unknown form 'chinchila'"),
        ("C,loss\n1e18,3\n", [*FORMULA, "--derive", "X=C/"], "--derive 'X=C/': formula syntax error at position 2: unexpected end of formula"),
        ("C,loss\n1e18,3\n", [*FORMULA, "--derive", "X=C*Q"], "--derive 'X=C*Q': unknown column(s) Q"),
        ("C,loss\n1e18,3\n", [*FORMULA, "--derive", "1X=C"], "--derive: '1X' is not a valid column name"),
        ("C,loss\n1e18,3\n", ["--form", "E+A*X^-a", "--x", "X", "--derive", "X=log(-C)"], "column(s) 'X' have no numeric values"),
        ("C,loss\n1e18,3\n", [*FORMULA, "--map", "=C"], "--map expects NAME=COLUMN"),
        ("C,loss\n1e18,3\n", [*FORMULA, "--budgets", "1e21"], "--budgets: the compute-optimal table needs a two-variable law"),
        ("C,loss\n1e18,3\n1e19,2\n", [*FORMULA, "--drop-top-y", 2], "--drop-top-y must be between 0 and the number of rows (2), got 2"),
        ("C,loss\n1e18,3\n1e19,2\n", FORMULA, "2 data points cannot determine 3 parameters"),
        ("Model Size,loss\n1,3\n", ["--form", "E + A*C^-a", "--x", "Model Size"], "--x: column 'Model Size' cannot be a formula variable"),
    ],
)
def test_bad_input_is_one_line(content, args, msg, tmp_path, capsys):
    p = tmp_path / "in.csv"
    p.write_text(content, encoding="utf-8")
    code, _, err = _run(["fit", p, *args, "--out", tmp_path / "o"], capsys)
    assert code == 2
    _one_line(err, msg)


@pytest.mark.parametrize("data, msg", [(b"C,loss\n1e18,\xff\xfe\n", "is not UTF-8 text (undecodable byte 0xff)"),
                                       (b"C,loss\n1e18,3\x00\n", "--y: column 'loss' is not numeric (line 2")])
def test_binary_input_is_one_line(data, msg, tmp_path, capsys):
    p = tmp_path / "in.csv"
    p.write_bytes(data)
    code, _, err = _run(["fit", p, *FORMULA, "--out", tmp_path / "o"], capsys)
    assert code == 2
    _one_line(err, msg)


def test_unreachable_target_loss_names_the_option(small_csv, tmp_path, capsys):
    code, _, err = _run(["fit", small_csv, *FORMULA, "--target-loss", "0.5", "--out", tmp_path / "o", "--no-plots"], capsys)
    assert code == 2
    _one_line(err, "--target-loss: ", "no amount of compute reaches it")


def test_unicode_paths(small_csv, tmp_path):
    src = tmp_path / "dönnées λ.csv"
    src.write_bytes(small_csv.read_bytes())
    out = tmp_path / "résultats ü" / "sous dossier"
    r = _cli("fit", src, *FORMULA, "--out", out, "--no-plots")
    assert r.returncode == 0, r.stderr
    res = _strict_json(out / "results.json")
    assert res["input"] == str(src)
    assert str(src) in (out / "report.md").read_text(encoding="utf-8")


def test_broken_stdout_pipe_is_quiet(small_csv, tmp_path):
    p = subprocess.Popen([sys.executable, "-m", "scalingfit", "fit", str(small_csv), *FORMULA, "--out", str(tmp_path / "o"), "--no-plots"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.close()  # as `scalingfit fit ... | head -0`
    err = p.stderr.read().decode()
    p.wait(timeout=120)
    p.stderr.close()
    assert p.returncode == 141 and "Traceback" not in err


def test_help_documents_the_contract():
    h = _cli("fit", "--help")
    assert h.returncode == 0
    for s in ("exit status", "the fit failed", "strict JSON", "--bootstrap", "1000000"):
        assert s in h.stdout
    f = _cli("forms")
    assert f.returncode == 0 and "chinchilla" in f.stdout and f.stderr == ""
    r = _cli("fit")
    assert r.returncode == 2
    _one_line(r.stderr, "the following arguments are required: file")
    r = _cli()
    assert r.returncode == 2 and "usage: scalingfit" in r.stdout
    _one_line(r.stderr, "scalingfit: error: a command is required")


def test_bootstrap_without_converged_resamples_is_a_warning(small_csv, tmp_path, capsys, monkeypatch):
    import scalingfit
    from scalingfit import _core

    real = scalingfit.bootstrap

    def all_failed(fit, **k):
        bs = real(fit, **k)
        bs.status[:] = int(_core.Termination.Failed)
        return bs

    monkeypatch.setattr(scalingfit, "bootstrap", all_failed)
    out = tmp_path / "o"
    code, _, err = _run(["fit", small_csv, *FORMULA, "--bootstrap", 20, "--target-loss", 2.0, "--out", out, "--no-plots"], capsys)
    assert code == 0
    _one_line(err, "warning: only 0 of 20 bootstrap resamples converged: no intervals")
    res = _strict_json(out / "results.json")
    assert res["bootstrap"]["n_converged"] == 0 and res["required"]["values"]["C"][0] > 0
    assert "## Warnings" in (out / "report.md").read_text()


def test_parquet_bad_inputs(tmp_path, capsys):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"PAR1 not really")
    code, _, err = _run(["fit", bad, *FORMULA, "--out", tmp_path / "o"], capsys)
    assert code == 2
    _one_line(err, f"cannot read Parquet file {bad}")
    pq = tmp_path / "t.parquet"
    pd.DataFrame({"C": pd.array([1e18, None, 1e20], dtype="Float64"), "loss": [3.0, 2.8, 2.5], "s": ["a", "b", "c"]}).to_parquet(pq)
    code, _, err = _run(["fit", pq, "--form", "E + A*s^-a", "--x", "s", "--out", tmp_path / "o"], capsys)
    assert code == 2
    _one_line(err, "--x: column 's' is not numeric (row 1: 'a')")
    code, _, err = _run(["fit", pq, *FORMULA, "--out", tmp_path / "o"], capsys)  # nullable floats read; 2 rows are too few
    assert code == 2
    _one_line(err, "2 data points cannot determine 3 parameters")


def test_library_diagnostics_are_one_warning_line_each(tmp_path, capsys):
    # a law that grows with scale: the fit's diagnostic (a negative exponent) is printed as one
    # "scalingfit: warning:" line (not Python's two-line warning with a source line) and kept in
    # results.json
    x = np.geomspace(1e6, 1e10, 30)
    p = tmp_path / "up.csv"
    np.savetxt(p, np.column_stack([x, 2.0 * (x / 1e6) ** 0.1]), delimiter=",", header="x,loss", comments="")
    code, _, err = _run(["fit", p, "--form", "power_law", "--x", "x", "--y", "loss", "--out", tmp_path / "o", "--no-plots"], capsys)
    assert code == 0, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert lines and all(ln.startswith("scalingfit: warning: ") for ln in lines), err
    assert any("exponent alpha = -0.1 is not positive" in ln for ln in lines), err
    res = json.loads((tmp_path / "o" / "results.json").read_text())
    assert any("is not positive" in w for w in res["fit"]["warnings"])


# -- index ranges: fit --start/--save-bootstrap, merge, --executor ------------------------------

def _load(path):
    from scalingfit import _io

    return _io.load(path)


def test_bootstrap_parts_merge_into_one_run(small_csv, tmp_path, capsys):
    """Two array-job parts (--start 0 and 40) merged are bit-identical to one --bootstrap 80 run."""
    fit = ["fit", small_csv, *FORMULA, "--seed", 9, "--no-plots", "--format", "md"]
    for start, name in ((40, "p1"), (0, "p0")):
        code, out, err = _run([*fit, "--bootstrap", 40, "--start", start, "--out", tmp_path / name, "--save-bootstrap", tmp_path / "parts" / f"{name}.npz"], capsys)
        assert code == 0, err
        assert f"resamples {start}..{start + 39}) saved to {tmp_path / 'parts' / name}.npz" in out
        assert _strict_json(tmp_path / name / "results.json")["bootstrap"]["start"] == start
    code, _, err = _run([*fit, "--bootstrap", 80, "--out", tmp_path / "whole", "--save-bootstrap", tmp_path / "whole.npz"], capsys)
    assert code == 0, err
    code, out, err = _run(["merge", tmp_path / "parts" / "p1.npz", tmp_path / "parts" / "p0.npz", "--out", tmp_path / "merged.npz"], capsys)
    assert code == 0 and err == ""
    whole, merged = _load(tmp_path / "whole.npz"), _load(tmp_path / "merged.npz")
    assert merged.samples.tobytes() == whole.samples.tobytes() and np.array_equal(merged.status, whole.status)
    assert (merged.start, merged.n_resamples, merged.seed) == (0, 80, 9)
    assert merged.ci() == whole.ci() and "resamples 0..79" in out and f"saved to {tmp_path / 'merged.npz'}" in out
    assert merged.summary().splitlines()[3:] == whole.summary().splitlines()[3:] and merged.summary().splitlines()[4] in out


def test_merge_refuses_gaps_overlaps_and_foreign_parts_in_one_line(small_csv, tmp_path, capsys):
    fit = ["fit", small_csv, *FORMULA, "--no-plots", "--format", "md"]
    parts = {}
    for name, start, seed in (("a", 0, 0), ("gap", 50, 0), ("overlap", 20, 0), ("seed", 40, 1)):
        parts[name] = tmp_path / f"{name}.npz"
        code, _, err = _run([*fit, "--bootstrap", 40, "--start", start, "--seed", seed, "--out", tmp_path / name, "--save-bootstrap", parts[name]], capsys)
        assert code == 0, err
    out = tmp_path / "m.npz"
    for other, msg in (("gap", "the index ranges [0, 40) and [50, 90) leave a gap"), ("overlap", "the index ranges [0, 40) and [20, 60) leave an overlap"),
                       ("seed", "part 1 has a different seed than part 0")):
        code, stdout, err = _run(["merge", parts["a"], parts[other], "--out", out], capsys)
        assert code == 2 and stdout == ""
        _one_line(err, f"scalingfit: error: merge: {msg}", f"{parts['a']} [0, 40), {parts[other]} [")
    from scalingfit import _io

    _io.save(_load(parts["a"]).fit, tmp_path / "fit.npz")
    for bad, msg in ((tmp_path / "nope.npz", f"part not found: {tmp_path / 'nope.npz'}"), (small_csv, f"cannot load {small_csv}: not a scalingfit results file"),
                     (tmp_path / "fit.npz", f"{tmp_path / 'fit.npz'} holds a FitResult, not a bootstrap")):
        code, _, err = _run(["merge", parts["a"], bad, "--out", out], capsys)
        assert code == 2
        _one_line(err, msg)
    code, _, err = _run(["merge", parts["a"], "--out", tmp_path], capsys)
    assert code == 2
    _one_line(err, f"--out {tmp_path}: is a directory")
    code, _, err = _run(["merge", parts["a"]], capsys)
    assert code == 2
    _one_line(err, "the following arguments are required: --out")
    assert not out.exists()


@pytest.mark.parametrize("opts, msg", [
    (["--start", "5"], "--start needs --bootstrap N"),
    (["--save-bootstrap", "b.npz"], "--save-bootstrap needs --bootstrap N"),
    (["--executor", "tcp://h:8786"], "--executor needs --bootstrap N"),
    (["--bootstrap", "10", "--start", str(2**64 - 5)], "--start 18446744073709551611: the resample indices"),
    (["--bootstrap", "10", "--save-bootstrap", "{csv}/b.npz"], "--save-bootstrap {csv}/b.npz: cannot create or write the directory"),
    (["--bootstrap", "10", "--save-bootstrap", "{tmp}"], "--save-bootstrap {tmp}: is a directory"),
])
def test_bootstrap_file_options_are_checked_before_fitting(opts, msg, small_csv, tmp_path, capsys, no_fit):
    sub = {"{csv}": str(small_csv), "{tmp}": str(tmp_path)}
    for k, v in sub.items():
        opts, msg = [o.replace(k, v) for o in opts], msg.replace(k, v)
    code, _, err = _run(["fit", small_csv, *FORMULA, *opts, "--out", tmp_path / "o"], capsys)
    assert code == 2
    _one_line(err, msg)


class _FakeClient:
    made: list = []

    def __init__(self, address):
        self.address, self.closed = address, False
        _FakeClient.made.append(self)

    def close(self):
        self.closed = True


def test_executor_connects_and_is_passed_to_bootstrap(small_csv, tmp_path, capsys, monkeypatch):
    distributed = pytest.importorskip("distributed")
    import scalingfit

    real, calls = scalingfit.bootstrap, []

    def spy(fit, **kw):
        calls.append(dict(kw))
        kw.pop("executor", None)  # the real bootstrap runs here, in-process
        return real(fit, **kw)

    monkeypatch.setattr(scalingfit, "bootstrap", spy)
    monkeypatch.setattr(distributed, "Client", _FakeClient)
    _FakeClient.made = []
    code, _, err = _run(["fit", small_csv, *FORMULA, "--bootstrap", 20, "--start", 7, "--executor", "tcp://10.0.0.5:8786",
                         "--out", tmp_path / "o", "--no-plots", "--save-bootstrap", tmp_path / "b.npz"], capsys)
    assert code == 0, err
    (client,) = _FakeClient.made
    assert client.address == "tcp://10.0.0.5:8786" and client.closed  # closed when the command ends
    (kw,) = calls
    assert kw["executor"] is client and kw["start"] == 7 and kw["n_resamples"] == 20
    assert _load(tmp_path / "b.npz").start == 7
    calls.clear()
    code, _, err = _run(["fit", small_csv, *FORMULA, "--bootstrap", 20, "--out", tmp_path / "o", "--no-plots"], capsys)
    assert code == 0, err
    assert "executor" not in calls[0] and calls[0]["start"] == 0 and len(_FakeClient.made) == 1


def test_executor_errors_are_one_line_before_fitting(small_csv, tmp_path, capsys, monkeypatch, no_fit):
    distributed = pytest.importorskip("distributed")

    def unreachable(address):
        raise OSError(f"Timed out trying to connect to {address} after 30 s")

    monkeypatch.setattr(distributed, "Client", unreachable)
    args = ["fit", small_csv, *FORMULA, "--bootstrap", 20, "--executor", "tcp://nowhere:1", "--out", tmp_path / "o"]
    code, _, err = _run(args, capsys)
    assert code == 2
    _one_line(err, "--executor tcp://nowhere:1: cannot connect to a dask scheduler there: Timed out trying to connect")
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if not installed
    code, _, err = _run(args, capsys)
    assert code == 2
    _one_line(err, "--executor needs dask.distributed: pip install distributed")


def test_help_documents_start_save_executor_and_merge(capsys):
    code, out, _ = _run(["fit", "--help"], capsys)
    assert code == 0
    out = " ".join(out.split())  # argparse wraps the option help
    for s in ("--start K", "--save-bootstrap FILE", "--executor ADDRESS", "pip install distributed", "scalingfit merge parts/*.npz"):
        assert s in out, s
    code, out, _ = _run(["merge", "--help"], capsys)
    assert code == 0
    out = " ".join(out.split())
    for s in ("PART [PART ...]", "--out FILE", "bit-identical", "--save-bootstrap", "gap or an overlap", "--level"):
        assert s in out, s
    code, out, _ = _run(["--help"], capsys)
    assert code == 0 and "merge" in out
    code, _, err = _run([], capsys)
    assert code == 2 and "demo, fit, forms, merge or rerun" in err
