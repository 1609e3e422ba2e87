"""The README's "Scaling out" examples run as written (each in a fresh interpreter, as a user
would paste it); blocks that need a Slurm cluster or Ray say so on their first line and are
skipped."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _blocks(section: str) -> list[str]:
    text = README.read_text()
    start = text.index(f"## {section}")
    end = text.index("\n## ", start + 3)
    return re.findall(r"```python\n(.*?)```", text[start:end], flags=re.S)


def _sub_blocks(heading: str) -> list[str]:
    part = README.read_text().split(heading)[1]
    part = re.split(r"\n#{2,4} ", part)[0]
    return re.findall(r"```python\n(.*?)```", part, flags=re.S)


BLOCKS = _blocks("Scaling out") + _sub_blocks("#### Comparing laws") + _sub_blocks("#### Economics of scale") + _sub_blocks("#### Downstream accuracy")
ROOT = README.parent


def test_the_section_has_its_examples():
    assert len(BLOCKS) >= 8
    assert any("executor=client" in b for b in BLOCKS) and any("SLURMCluster" in b for b in BLOCKS)


@pytest.mark.timeout(600)
@pytest.mark.parametrize("i", range(len(BLOCKS)))
def test_scaling_out_example_runs(i, tmp_path):
    code = BLOCKS[i]
    if code.startswith("# needs"):
        pytest.skip(code.splitlines()[0])
    if "distributed" in code:
        pytest.importorskip("distributed")
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]


@pytest.mark.skipif(not (ROOT.parent / "shared" / "data" / "chinchilla").exists(), reason="../shared/data not present")
def test_isoflop_example_runs_and_prints_its_table():
    (code,) = re.findall(r"```python\n(.*?)```", README.read_text().split("### IsoFLOP")[1].split("\n## ")[0], flags=re.S)
    r = subprocess.run([sys.executable, "-W", "ignore", "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    printed = [line.split() for line in r.stdout.splitlines() if line.strip().startswith(("2:", "3:"))]
    readme = README.read_text().split("### IsoFLOP")[1]
    for row in printed:
        assert " ".join(row) in " ".join(readme.split()), f"README table out of date: {' '.join(row)}"
