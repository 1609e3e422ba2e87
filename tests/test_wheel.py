"""The portable wheel, end to end: build it with scripts/build-wheel, check its tags and
contents, install it into fresh virtual environments of Python 3.9, 3.11 and 3.13 (numpy from
PyPI) and run tests/wheel_smoke.py there, then run the same smoke script on emulated CPUs with
qemu-user: Westmere (no AVX, AVX2 or FMA) and Haswell (AVX2 + FMA, the control).

The wheel is built once per session (a few minutes of compiling); set SCALINGFIT_WHEEL to the
path of an already built wheel to test that one instead. A missing pyenv interpreter skips its
test. A missing qemu-x86_64 skips the emulated runs locally but fails them when CI=true (.ci/run
installs qemu-user).
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SMOKE = Path(__file__).with_name("wheel_smoke.py")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PYTHONS = ("3.9", "3.11", "3.13")
# Generous limits against hangs only (a build takes minutes on 2 busy cores; an emulated
# smoke run takes seconds here but may be much slower elsewhere); nothing asserts speed.
BUILD_TIMEOUT = 3600
RUN_TIMEOUT = 1800

pytestmark = pytest.mark.skipif(
    not (sys.platform.startswith("linux") and platform.machine() in ("x86_64", "AMD64")),
    reason="the portable wheel is a Linux x86-64 wheel",
)


def _run(cmd, **kw) -> subprocess.CompletedProcess:
    kw.setdefault("timeout", RUN_TIMEOUT)
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    if r.returncode != 0:
        how = f"was killed by {signal.Signals(-r.returncode).name}" if r.returncode < 0 else f"exited {r.returncode}"
        pytest.fail(f"{' '.join(map(str, cmd))} {how}\n--- stdout\n{r.stdout[-4000:]}\n--- stderr\n{r.stderr[-4000:]}")
    return r


def _clean_env() -> dict:
    """The environment without what could make a venv import something else, or cap the
    extension's SIMD level (SCALINGFIT_SIMD, SCALINGFIT_NO_AVX512)."""
    drop = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP", "SCALINGFIT_SIMD", "SCALINGFIT_NO_AVX512")
    return {k: v for k, v in os.environ.items() if k not in drop}


def expected_level(features: set) -> str:
    """The SIMD level the extension should pick given the CPU features numpy detected."""
    if {"AVX2", "FMA3"} <= features:
        return "avx512" if "AVX512F" in features else "avx2"
    return "portable"


@pytest.fixture(scope="session")
def wheel(tmp_path_factory) -> Path:
    given = os.environ.get("SCALINGFIT_WHEEL")
    if given:
        p = Path(given).resolve()
        if not p.is_file():
            pytest.fail(f"SCALINGFIT_WHEEL={given} is not a file")
        return p
    out = tmp_path_factory.mktemp("wheel")
    r = _run(["bash", ROOT / "scripts" / "build-wheel", out], cwd=ROOT,
             env=dict(os.environ, PYTHON=sys.executable), timeout=BUILD_TIMEOUT)
    path = Path(r.stdout.strip().splitlines()[-1])
    assert path.is_file() and path.parent == out, f"build-wheel printed {path}"
    return path


def find_python(version: str) -> Path | None:
    """The newest pyenv CPython `version`.x (via `pyenv root`, then ~/.pyenv), else pythonX.Y on PATH."""
    roots = []
    try:
        roots.append(Path(subprocess.run(["pyenv", "root"], capture_output=True, text=True, timeout=60, check=True).stdout.strip()))
    except (OSError, subprocess.SubprocessError):
        pass
    roots.append(Path.home() / ".pyenv")
    pattern = re.compile(re.escape(version) + r"\.(\d+)")
    for root in roots:
        found = []
        for d in (root / "versions").glob(version + ".*"):
            m = pattern.fullmatch(d.name)
            exe = d / "bin" / f"python{version}"
            if m and exe.is_file():
                found.append((int(m.group(1)), exe))
        if found:
            return max(found)[1]
    exe = shutil.which(f"python{version}")
    return Path(exe) if exe else None


@pytest.fixture(scope="session")
def venv_python(wheel, tmp_path_factory):
    """venv_python("3.11") -> the python of a fresh venv with the wheel installed (made once)."""
    made: dict[str, Path] = {}

    def get(version: str) -> Path:
        if version not in made:
            base = find_python(version)
            if base is None:
                pytest.skip(f"Python {version} not found (no `pyenv root`/versions/{version}.*, no python{version} on PATH)")
            d = tmp_path_factory.mktemp(f"venv{version}")
            _run([base, "-m", "venv", d], env=_clean_env())
            py = d / "bin" / "python"
            _run([py, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", wheel], env=_clean_env())
            made[version] = py
        return made[version]

    return get


def run_smoke(cmd: list, py: Path, tmp_path: Path, env: dict | None = None) -> dict[str, str]:
    """Run wheel_smoke.py with `cmd` (outside the repository, so the source tree cannot shadow
    the installed package); check it imported the wheel in `py`'s venv; return its key=value lines."""
    r = _run([*cmd, "-u", SMOKE], cwd=tmp_path, env=_clean_env() if env is None else env)
    print(r.stdout)
    lines = r.stdout.strip().splitlines()
    assert lines and lines[-1] == "OK", r.stdout
    facts = dict(line.split("=", 1) for line in lines if "=" in line)
    venv = py.parent.parent
    assert str(venv) in facts["scalingfit"], f"imported {facts['scalingfit']}, not the wheel in {venv}"
    # the extension's run-time choice matches the CPU (once it reports one: _core.simd_level())
    features = set(facts["cpu"].split(","))
    if facts["simd_level"] != "unavailable":
        assert facts["simd_level"] == expected_level(features), f"simd_level() = {facts['simd_level']} on a CPU with {sorted(features)}"
    return facts


def test_wheel_tags_and_contents(wheel):
    m = re.fullmatch(r"scalingfit-(?P<version>[^-]+)-cp39-abi3-(?P<platforms>[^-]+)\.whl", wheel.name)
    assert m, f"{wheel.name}: want scalingfit-<version>-cp39-abi3-manylinux..._x86_64.whl"
    platforms = m["platforms"].split(".")
    for plat in platforms:
        pm = re.fullmatch(r"manylinux(2014|_2_(\d+))_x86_64", plat)
        assert pm and (pm[1] == "2014" or int(pm[2]) <= 17), f"platform tag {plat}: want manylinux2014 (glibc <= 2.17) x86_64"
    dist_info = f"scalingfit-{m['version']}.dist-info"
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        meta = z.read(f"{dist_info}/WHEEL").decode()
        metadata = z.read(f"{dist_info}/METADATA").decode()
        licenses = [n for n in names if n.startswith(dist_info + "/") and n.rsplit("/", 1)[-1] == "LICENSE"]
        assert licenses, f"no LICENSE in {dist_info}: {names}"
        assert z.read(licenses[0]) == (ROOT / "LICENSE").read_bytes()
    assert "Root-Is-Purelib: false" in meta
    assert set(re.findall(r"^Tag: (\S+)$", meta, re.M)) == {f"cp39-abi3-{p}" for p in platforms}
    assert "Requires-Python: >=3.9" in metadata and "License-File: LICENSE" in metadata
    # one extension module for every Python (abi3), plus the whole pure-Python package
    assert [n for n in names if n.endswith((".so", ".pyd"))] == ["scalingfit/_core.abi3.so"]
    src = ROOT / "python" / "scalingfit"
    assert {f"scalingfit/{p.name}" for p in src.iterdir() if p.suffix in (".py", ".pyi") or p.name == "py.typed"} <= set(names)


def test_auditwheel_show(wheel):
    pytest.importorskip("auditwheel", reason="auditwheel is in the test extras: pip install '.[test]'")
    r = _run([sys.executable, "-m", "auditwheel", "show", wheel])
    report = " ".join(r.stdout.split())
    m = re.search(r'consistent with the following platform tag: "(manylinux_2_(\d+)_x86_64)"', report)
    assert m and int(m[2]) <= 17, report


@pytest.mark.parametrize("version", PYTHONS)
def test_smoke_in_fresh_venv(version, venv_python, wheel, tmp_path):
    py = venv_python(version)
    facts = run_smoke([py], py, tmp_path)
    assert facts["python"].startswith(version + ".")
    # the console script from the wheel's entry points
    wheel_version = wheel.name.split("-")[1]
    r = _run([py.parent / "scalingfit", "--version"], cwd=tmp_path, env=_clean_env())
    assert r.stdout.strip() == f"scalingfit {wheel_version}"


# --- emulated CPUs --------------------------------------------------------------------------

# (must have, must not have) among the CPU features numpy reports, and the SIMD level the
# extension must choose if it reports one (_core.simd_level()).
QEMU_CPUS = {
    "Westmere": ({"SSE42", "POPCNT"}, {"AVX", "FMA3", "AVX2", "AVX512F"}, "portable"),
    "Haswell": ({"SSE42", "AVX", "FMA3", "AVX2"}, {"AVX512F"}, "avx2"),
}


@pytest.fixture(scope="session")
def qemu() -> str:
    exe = shutil.which("qemu-x86_64") or shutil.which("qemu-x86_64-static")
    if exe is None:
        msg = "qemu-x86_64 not found (Debian package qemu-user): the wheel cannot be run on emulated older CPUs"
        if IN_CI:
            pytest.fail(msg + "; in CI this test must run (.ci/run installs qemu-user)")
        pytest.skip(msg)
    return exe


@pytest.fixture(scope="session")
def qemu_python(venv_python) -> Path:
    """One of the test venvs (the first Python found of 3.11, 3.13, 3.9) for the emulated runs."""
    for version in ("3.11", "3.13", "3.9"):
        if find_python(version) is not None:
            return venv_python(version)
    pytest.skip(f"none of Python {', '.join(PYTHONS)} found")


@pytest.mark.parametrize("cpu", list(QEMU_CPUS))
def test_smoke_on_emulated_cpu(cpu, qemu, qemu_python, tmp_path):
    have, lack, level = QEMU_CPUS[cpu]
    # OPENBLAS_CORETYPE (this machine sets it to Haswell) would make numpy's OpenBLAS use
    # AVX2 kernels on the emulated Westmere and die of SIGILL; drop it so OpenBLAS detects
    # the emulated CPU, as it does on a real one.
    env = _clean_env()
    env.pop("OPENBLAS_CORETYPE", None)
    facts = run_smoke([qemu, "-cpu", cpu, qemu_python], qemu_python, tmp_path, env=env)
    # the emulation took effect (numpy reads the features from CPUID)
    features = set(facts["cpu"].split(","))
    assert have <= features and not (lack & features), f"-cpu {cpu}: numpy saw {sorted(features)}"
    # the SIMD level the extension picked, once the extension reports it
    if facts["simd_level"] != "unavailable":
        assert facts["simd_level"] == level, f"-cpu {cpu}: simd_level() = {facts['simd_level']}, want {level}"
