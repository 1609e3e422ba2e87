"""Provenance of ``scalingfit fit`` (results.json's ``"provenance"``) and ``scalingfit rerun``:
the full arguments, the package version, the input's sha256 and a UTC timestamp; ``rerun`` turns
them back into the command line, after checking that the input still has the recorded hash."""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import shlex
from pathlib import Path
from typing import Any

from scalingfit._cli_io import CLIError, _first_line, _short

# options that say where and how output goes, not what is computed: rerun replaces or drops them
_OUTPUT_DESTS = ("out", "save_bootstrap")


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    except OSError as exc:
        raise CLIError(f"cannot read input file {path}: {exc.strerror or exc}") from None
    return h.hexdigest()


def _jsonable(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    return str(v)


def _text(v: Any) -> str:
    """An option value as command-line text that parses back to the same value."""
    if isinstance(v, (list, tuple)):
        return ",".join(_text(x) for x in v)
    if isinstance(v, float):
        return repr(v)
    return str(v)


def _actions(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if not isinstance(a, argparse._HelpAction)]


def arguments(args: argparse.Namespace, parser: argparse.ArgumentParser) -> dict[str, Any]:
    """Every option of the ``fit`` command with its value (defaults included), by option name."""
    out: dict[str, Any] = {}
    for a in _actions(parser):
        name = a.option_strings[0] if a.option_strings else a.dest
        out[name] = _jsonable(getattr(args, a.dest, None))
    return out


def command_line(recorded: dict[str, Any], parser: argparse.ArgumentParser, *, file: str | None = None,
                 out: str | None = None, drop_output_files: bool = False) -> list[str]:
    """The ``fit`` argv that reproduces ``recorded`` (from :func:`arguments`), optionally with
    another input path and --out; values are written as ``--opt=value`` so that a value starting
    with '-' (a formula) parses as a value."""
    argv = ["fit"]
    for a in _actions(parser):
        name = a.option_strings[0] if a.option_strings else a.dest
        if name not in recorded:
            continue
        v = recorded[name]
        if not a.option_strings:
            path = file if file is not None else str(v)
            argv.append("./" + path if path.startswith("-") else path)  # not an option
            continue
        if a.dest == "out" and out is not None:
            v = out
        if drop_output_files and a.dest in _OUTPUT_DESTS and a.dest != "out":
            continue
        if v is None:
            continue
        if isinstance(a, argparse.BooleanOptionalAction):
            argv.append(name if v else "--no-" + name[2:])
        elif isinstance(a, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
            if v != a.default:
                argv.append(name)
        elif isinstance(a, argparse._AppendAction):
            argv += [f"{name}={_text(x)}" for x in v]
        else:
            argv.append(f"{name}={_text(v)}")
    return argv


def provenance(args: argparse.Namespace, parser: argparse.ArgumentParser, version: str, sha256: str,
               sources: dict[str, str]) -> dict[str, Any]:
    """results.json's ``"provenance"``: what is needed to reproduce the run from the file alone."""
    recorded = arguments(args, parser)
    return {
        "scalingfit_version": version,
        "timestamp_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "input": str(args.file),
        "input_absolute": str(Path(args.file).resolve()),
        "input_sha256": sha256,
        "arguments": recorded,
        "command": "scalingfit " + shlex.join(command_line(recorded, parser)),
        "variables": sources,
    }


def rerun_argv(results: str, out: str | None, parser: argparse.ArgumentParser, input_path: str | None = None) -> tuple[list[str], dict[str, Any]]:
    """The ``fit`` argv recorded in a results.json, with the input checked against its sha256;
    every problem is one CLIError line."""
    try:
        res = json.loads(Path(results).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CLIError(f"results file not found: {results}") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise CLIError(f"cannot read {results} as results.json: {_first_line(exc)}") from None
    prov = res.get("provenance") if isinstance(res, dict) else None
    if not isinstance(prov, dict) or not isinstance(prov.get("arguments"), dict) or "input_sha256" not in prov:
        raise CLIError(f"{results} has no provenance record (written by 'scalingfit fit' before version with rerun, or not a results.json)")
    # the input as recorded: relative to the working directory, else its absolute path then
    if input_path is not None:
        if not Path(input_path).is_file():
            raise CLIError(f"--input: file not found: {input_path}")
        path: str | None = input_path
    else:
        candidates = [prov.get("input"), prov.get("input_absolute")]
        path = next((p for p in candidates if isinstance(p, str) and Path(p).is_file()), None)
    if path is None:
        raise CLIError(f"input file not found: {_short(str(prov.get('input')), 200)} (recorded in {results}); "
                       "if it has moved, give its new path with --input FILE")
    digest = sha256_file(path)
    if digest != prov["input_sha256"]:
        raise CLIError(f"{path} has changed since {results} was written: sha256 {digest[:12]}... != recorded {str(prov['input_sha256'])[:12]}...; "
                       "the rerun would not reproduce it")
    target = out if out is not None else str(Path(results).resolve().parent / "rerun")
    return command_line(prov["arguments"], parser, file=path, out=target, drop_output_files=True), prov
