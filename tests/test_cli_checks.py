"""CLI checks before any work (did-you-mean, NA tokens, thousands separators, --derive reading only
its columns), provenance and `scalingfit rerun`, extrapolation marks in the report, and the
library's hints in CLI terms. Split from tests/test_cli.py, whose helpers it uses."""

import csv
import json

import numpy as np
import pytest
from scalingfit.cli import main
from test_cli import FORMULA, _one_line, _run

# -- did-you-mean, NA tokens, thousands separators, --derive reads only its columns --------------

@pytest.mark.parametrize(
    "args, line",
    [
        (["--form", "chinchila"], "scalingfit: error: --form: unknown form 'chinchila'; did you mean 'chinchilla'? built-in forms are "),
        (["--x", "Model Size,tokns"], "scalingfit: error: --x: no column 'tokns' in the input; columns are: 'run', 'Model Size', 'tokens', "
                                      "'loss'; did you mean 'tokens'?"),
        (["--x", "Model Size,tokens", "--y", "Loss"], "; did you mean 'loss'?"),
        (["--map", "N=model size", "--x", "N,tokens"], "scalingfit: error: --map N=model size: no column 'model size' in the input; "
                                                       "columns are: 'run', 'Model Size', 'tokens', 'loss'; did you mean 'Model Size'?"),
        (["--derive", "Q=tokns*2"], "unknown column(s) tokns; columns usable by name are run, tokens, loss (use --map to rename); did you mean 'tokens'?"),
    ],
)
def test_did_you_mean(args, line, runs_csv, tmp_path, capsys, no_fit):
    code, _, err = _run(["fit", runs_csv, *args, "--out", tmp_path / "o"], capsys)
    assert code == 2
    _one_line(err, line)
    assert not (tmp_path / "o").exists()


def test_unknown_form_without_a_close_name_lists_the_forms(runs_csv, tmp_path, capsys, no_fit):
    code, _, err = _run(["fit", runs_csv, "--form", "zzz", "--out", tmp_path / "o"], capsys)
    assert code == 2
    _one_line(err, "scalingfit: error: --form: unknown form 'zzz'; built-in forms are power_law, ")
    assert "did you mean" not in err


def _small_rows(tmp_path, cells):
    """small_csv's law with the given cell text per row (C, loss, note); returns the path."""
    p = tmp_path / "cells.csv"
    with open(p, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["C", "loss", "note"])
        for r in cells:
            w.writerow(r)
    return p


def test_na_tokens_and_thousands_separators(tmp_path, capsys):
    x = np.geomspace(1e3, 1e7, 20)
    y = 1.8 + 20 * x**-0.3 * (1 + 0.01 * np.sin(np.arange(20)))
    rows = [[f"{int(v):,}", f"{w:.6f}", "ok"] for v, w in zip(x, y)]  # "1,000", "1,623", ... (quoted by csv)
    rows += [["NA", "2.0", "ok"], ["1,000", "N/A", ""], ["nan", "", "x"], ["", "#N/A", "x"]]
    p = _small_rows(tmp_path, rows)
    code, out, err = _run(["fit", p, *FORMULA, "--out", tmp_path / "o", "--no-plots", "--format", "md"], capsys)
    assert code == 0, err
    assert "20 rows (4 dropped: missing values or --drop-top-y)" in out
    res = json.loads((tmp_path / "o" / "results.json").read_text())
    assert res["n_rows"] == 20 and res["n_dropped"] == 4
    assert res["fit"]["params"]["alpha"] == pytest.approx(0.3, abs=0.05)


def test_non_numeric_cell_is_diagnosed_not_an_unknown_column(tmp_path, capsys):
    p = _small_rows(tmp_path, [["1e18", "3", "a"], ["1e19", "2.5", "b"], ["1e20", "two", "c"], ["1e21", "2", "d"]])
    code, _, err = _run(["fit", p, "--form", "E+A*X^-a", "--x", "X", "--derive", "X=C*loss", "--out", tmp_path / "o"], capsys)
    assert code == 2
    _one_line(err, "scalingfit: error: --derive 'X=C*loss': column 'loss' is not numeric (line 4: 'two')")


def test_derive_ignores_blank_cells_in_unrelated_columns(tmp_path, capsys):
    x = np.geomspace(1e18, 1e22, 12)
    y = 1.8 + 2e3 * x**-0.17
    rows = [[repr(float(v)), repr(float(w)), "" if i % 2 else "1"] for i, (v, w) in enumerate(zip(x, y))]
    rows[3][0] = ""  # 'other' (numeric) is blank on every other row and C on one: only that row is dropped
    p = tmp_path / "blank.csv"
    with open(p, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["C", "loss", "other"])
        w.writerows(rows)
    code, out, err = _run(["fit", p, "--form", "E + A*X^-alpha", "--x", "X", "--derive", "X=C/1e18", "--out", tmp_path / "o",
                           "--no-plots", "--format", "md"], capsys)
    assert code == 0, err
    assert "11 rows (1 dropped" in out


# -- provenance and rerun -------------------------------------------------------------------------

def test_provenance_is_recorded_and_rerun_reproduces(runs_csv, tmp_path, capsys, monkeypatch):
    import hashlib
    import re

    import scalingfit

    monkeypatch.chdir(tmp_path)
    out = tmp_path / "first"
    rc, _, err = _run(["fit", runs_csv, "--map", "N=Model Size", "--map", "T=tokens", "--derive", "D=T*1", "--drop-top-y", "2",
                       "--x", "N,D", "--bootstrap", "20", "--seed", "3", "--target-loss", "2.5", "--no-plots", "--out", out], capsys)
    assert rc == 0, err
    res = json.loads((out / "results.json").read_text())
    prov = res["provenance"]
    assert prov["scalingfit_version"] == scalingfit.__version__
    assert prov["input_sha256"] == hashlib.sha256(runs_csv.read_bytes()).hexdigest()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", prov["timestamp_utc"])
    a = prov["arguments"]
    assert a["--map"] == ["N=Model Size", "T=tokens"] and a["--derive"] == ["D=T*1"] and a["--drop-top-y"] == 2
    assert a["--bootstrap"] == 20 and a["--seed"] == 3 and a["--target-loss"] == [2.5] and a["--level"] == 0.95
    assert "'--map=N=Model Size'" in prov["command"] and "--drop-top-y=2" in prov["command"]
    assert prov["variables"] == {"N": "column 'Model Size'", "D": "T*1 (--derive)", "loss": "column 'loss'"}
    md = (out / "report.md").read_text()
    assert "`N` = column 'Model Size', `D` = T*1 (--derive)" in md
    assert "## Provenance" in md and prov["input_sha256"] in md and prov["command"] in md
    capsys.readouterr()
    code, stdout, err = _run(["rerun", out / "results.json", "--out", tmp_path / "again"], capsys)
    assert code == 0, err
    assert "(sha256 matches)" in stdout
    again = json.loads((tmp_path / "again" / "results.json").read_text())
    assert again["fit"]["params"] == res["fit"]["params"]
    assert again["bootstrap"]["ci"] == res["bootstrap"]["ci"]
    assert again["required"] == res["required"] and again["compute_optimal"] == res["compute_optimal"]
    assert again["provenance"]["arguments"] == {**a, "--out": str(tmp_path / "again")}
    # default --out: rerun/ next to results.json
    assert main(["rerun", str(out / "results.json")]) == 0
    assert json.loads((out / "rerun" / "results.json").read_text())["fit"]["params"] == res["fit"]["params"]


def test_rerun_refuses_a_changed_input_or_a_file_without_provenance(small_csv, tmp_path, capsys):
    out = tmp_path / "o"
    assert _run(["fit", small_csv, *FORMULA, "--no-plots", "--format", "md", "--out", out], capsys)[0] == 0
    recorded = json.loads((out / "results.json").read_text())["provenance"]["input_sha256"]
    small_csv.write_text(small_csv.read_text() + "1e23,1.9\n")
    capsys.readouterr()
    code, _, err = _run(["rerun", out / "results.json", "--out", tmp_path / "r"], capsys)
    assert code == 2
    now = __import__("hashlib").sha256(small_csv.read_bytes()).hexdigest()
    _one_line(err, f"scalingfit: error: {small_csv} has changed since {out / 'results.json'} was written: sha256 {now[:12]}... != recorded "
              f"{recorded[:12]}...; the rerun would not reproduce it")
    assert not (tmp_path / "r").exists()
    (tmp_path / "bare.json").write_text('{"fit": {}}')
    code, _, err = _run(["rerun", tmp_path / "bare.json"], capsys)
    assert code == 2
    _one_line(err, f"{tmp_path / 'bare.json'} has no provenance record")
    code, _, err = _run(["rerun", tmp_path / "missing.json"], capsys)
    assert code == 2
    _one_line(err, f"scalingfit: error: results file not found: {tmp_path / 'missing.json'}")


def test_extrapolated_rows_and_answers_are_marked(runs_csv, tmp_path, capsys):
    rows = list(csv.DictReader(open(runs_csv)))
    c = sorted(6 * float(r["Model Size"]) * float(r["tokens"]) for r in rows)
    inside = c[len(c) // 2]
    out = tmp_path / "o"
    code, _, err = _run(["fit", runs_csv, "--x", "Model Size,tokens", "--budgets", f"{inside!r},1e30", "--target-loss", "1.9,3",
                         "--no-plots", "--out", out], capsys)
    assert code == 0, err
    res = json.loads((out / "results.json").read_text())
    assert res["compute_optimal"]["beyond_data"] == [False, True]
    md = (out / "report.md").read_text()
    table = [ln for ln in md.splitlines() if ln.startswith("| ") and ln.endswith(" |") and ln.count("|") == 7]
    assert table[0].endswith("| vs the data |")
    assert table[1].startswith(f"| {inside:.3g} |") and table[1].endswith("| within |")
    assert table[2].startswith("| 1e+30 |") and table[2].endswith("| **extrapolated** |")
    assert "1 of 2 rows are **extrapolated**: they lie beyond the fitted data (N in [" in md
    beyond = res["required"]["beyond_data"]
    marks = ["**extrapolated**" if b else "within the data" for b in beyond]
    assert f"Target losses: 1.9 ({marks[0]}), 3 ({marks[1]})." in md
    assert beyond[0]  # a loss of 1.9, below every run's, needs more than the data's compute
    assert "<strong>extrapolated</strong>" in (out / "report.html").read_text()


def test_unreachable_target_loss_is_refused_after_the_fit_before_the_bootstrap(small_csv, tmp_path, capsys, monkeypatch):
    import scalingfit

    def refuse(*a, **k):
        raise AssertionError("the bootstrap started before --target-loss was checked")

    monkeypatch.setattr(scalingfit, "bootstrap", refuse)
    code, _, err = _run(["fit", small_csv, *FORMULA, "--bootstrap", "50", "--target-loss", "2.5,0.5", "--out", tmp_path / "o"], capsys)
    assert code == 2
    _one_line(err, "scalingfit: error: --target-loss: target 0.5 is at or below the fitted irreducible loss E = 1.",
              "no amount of compute reaches it (checked after the fit, as it depends on the fitted law; no bootstrap was run, no report written)")
    assert not (tmp_path / "o" / "results.json").exists()


@pytest.mark.parametrize("broken", [False, True], ids=["absent", "broken-install"])
def test_progress_without_tqdm_is_refused_before_reading(small_csv, tmp_path, capsys, monkeypatch, no_fit, broken):
    # tqdm missing (an import that fails), or installed but failing to import: refused before any work
    import sys

    monkeypatch.delitem(sys.modules, "tqdm", raising=False)
    monkeypatch.delitem(sys.modules, "tqdm.auto", raising=False)
    if broken:
        bad = tmp_path / "shadow" / "tqdm"
        bad.mkdir(parents=True)
        (bad / "__init__.py").write_text("raise ImportError('broken tqdm')\n")
        monkeypatch.syspath_prepend(str(tmp_path / "shadow"))
    else:
        monkeypatch.setitem(sys.modules, "tqdm", None)
    code, _, err = _run(["fit", small_csv, *FORMULA, "--bootstrap", "50", "--progress", "--out", tmp_path / "o"], capsys)
    assert code == 2
    _one_line(err, "scalingfit: error: --progress needs tqdm, which cannot be imported (",
              "): pip install tqdm (or scalingfit[progress])")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    "library_msg, cli_line",
    [
        ("data has no column 'N' (needed for formula variable 'N'); available columns: x. Pass columns={'N': '<column>'} to map it.",
         "data has no column 'N' (needed for formula variable 'N'); available columns: x. Pass --map N=COLUMN to map it."),
        ("form: 'E0' is fitted as a parameter, but data has a column 'E' that the formula does not use; a typo? Write 'E' in the "
         "formula, map it with columns={'E0': 'E'}, or pass check_names=False if 'E0' is meant to be a parameter",
         "form: 'E0' is fitted as a parameter, but data has a column 'E' that the formula does not use; a typo? Write 'E' in the "
         "formula, map it with --map E0=E"),
    ],
)
def test_library_hints_are_shown_in_cli_terms(library_msg, cli_line, small_csv, tmp_path, capsys, monkeypatch):
    import scalingfit

    def fail(*a, **k):
        raise ValueError(library_msg)

    monkeypatch.setattr(scalingfit, "fit", fail)
    code, _, err = _run(["fit", small_csv, *FORMULA, "--out", tmp_path / "o"], capsys)
    assert code == 2
    _one_line(err, f"scalingfit: error: {small_csv}: {cli_line}\n")
    assert "columns={" not in err and "check_names" not in err


def test_budgets_the_law_refuses_are_reported_before_the_bootstrap(runs_csv, tmp_path, capsys, monkeypatch):
    import scalingfit

    def refuse_bs(*a, **k):
        raise AssertionError("the bootstrap started before --budgets was checked")

    def refuse_co(*a, **k):
        raise ValueError("C: the exponent a of N*(C) is undefined around C = 1e+300 (the optimum is not finite there); use budgets closer to the data")

    monkeypatch.setattr(scalingfit, "bootstrap", refuse_bs)
    monkeypatch.setattr(scalingfit, "compute_optimal", refuse_co)
    code, _, err = _run(["fit", runs_csv, "--x", "Model Size,tokens", "--bootstrap", "20", "--budgets", "1e300", "--out", tmp_path / "o"], capsys)
    assert code == 2
    _one_line(err, "scalingfit: error: --budgets: C: the exponent a of N*(C) is undefined around C = 1e+300 (the optimum is not finite there); "
              "use budgets closer to the data (checked after the fit, as it depends on the fitted law; no bootstrap was run, no report written)")


def test_rerun_finds_a_moved_input_with_input_option(small_csv, tmp_path, capsys):
    out = tmp_path / "o"
    assert _run(["fit", small_csv, *FORMULA, "--no-plots", "--format", "md", "--out", out], capsys)[0] == 0
    first = json.loads((out / "results.json").read_text())
    moved = tmp_path / "elsewhere.csv"
    small_csv.rename(moved)
    code, _, err = _run(["rerun", out / "results.json", "--out", tmp_path / "r"], capsys)
    assert code == 2
    _one_line(err, f"scalingfit: error: input file not found: {small_csv} (recorded in {out / 'results.json'}); "
              "if it has moved, give its new path with --input FILE")
    code, _, err = _run(["rerun", out / "results.json", "--input", moved, "--out", tmp_path / "r"], capsys)
    assert code == 0, err
    assert json.loads((tmp_path / "r" / "results.json").read_text())["fit"]["params"] == first["fit"]["params"]


def test_derive_syntax_error_points_into_the_expression_as_written(small_csv, tmp_path, capsys, no_fit):
    # the expression is compiled inside a wrapper; its error positions must be those of the text given
    code, _, err = _run(["fit", small_csv, *FORMULA, "--derive", "D=C*", "--out", tmp_path / "o"], capsys)
    assert code == 2
    _one_line(err, "scalingfit: error: --derive 'D=C*': formula syntax error at position 2: unexpected end of formula")
    assert "')'" not in err


def test_semicolon_separated_file_gets_a_hint(tmp_path, capsys, no_fit):
    p = tmp_path / "semi.csv"
    p.write_text("C;loss\n1e18;2,9\n1e19;2,5\n")
    code, _, err = _run(["fit", p, *FORMULA, "--out", tmp_path / "o"], capsys)
    assert code == 2
    _one_line(err, "line 2: 2 field(s), but the header has 1; the header looks ';'-separated, but the input must be comma-separated CSV",
              "pandas.read_csv(path, sep=';', decimal=',')")
