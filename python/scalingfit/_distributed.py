"""`bootstrap(..., executor=...)`: resample ranges as tasks on Dask, concurrent.futures or Ray.

The driver resolves the seed and (for keep="summary") the histogram edges once, cuts the index
range into tasks aligned to the summary blocks, sends each task the slim payload by value (the
problem without its Rust state, the bootstrap settings, the edges), resubmits failed tasks and
assembles the parts in index order. Resample i depends only on (seed, i), so the result is the
in-process call's, bit for bit.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from . import _core
from ._fit import _CONVERGED
from ._summary import BLOCK, Summary, merge_states, moments

#: work per task, in seconds of one-thread time (estimated from a probe)
TASK_SECONDS = 1.0
#: tries per range before the run fails
TRIES = 3
#: resamples timed locally to size the tasks
PROBE = 64


def make_bootstrapper(prob: Any, args: dict[str, Any]) -> Any:
    """The core bootstrapper of a problem (built again the same way after unpickling)."""
    return _core.Bootstrapper(prob.core, prob.columns, prob.y, weights=prob.weights, **args)


def run_range(payload: dict[str, Any], start: int, n: int) -> dict[str, Any]:
    """One task: resamples start..start+n-1 on one thread (runs on a worker)."""
    boot = make_bootstrapper(payload["problem"], payload["boot_args"])
    r = boot.run(int(start), int(n), 1)
    out: dict[str, Any] = {"start": int(start), "n": int(n), "status": np.asarray(r.status)}
    if payload["keep"] == "samples":
        out["samples"] = np.asarray(r.samples)
    else:
        summ = Summary(start, start + n, payload["edges"])
        summ.add(int(start), r.samples, _CONVERGED[r.status])
        out["state"] = summ.state()
    return out


def _submit(executor: Any, *args: Any) -> Any:
    if type(executor).__module__.startswith("distributed"):
        # a Dask client: a fresh key per submission, so a resubmitted range is run again
        return executor.submit(run_range, *args, pure=False)
    return executor.submit(run_range, *args)


def _ranges(start: int, n: int, task: int) -> list[tuple[int, int]]:
    """[start, start+n) cut at the multiples of ``task`` (a multiple of BLOCK)."""
    out = []
    a, stop = start, start + n
    while a < stop:
        b = min((a // task + 1) * task, stop)
        out.append((a, b - a))
        a = b
    return out


def run_on_executor(executor: Any, prob: Any, boot: Any, boot_args: dict[str, Any], start: int, n: int,
                    keep: str, edges: list[np.ndarray] | None, progress: bool) -> dict[str, Any]:
    """Run [start, start+n) on the executor; the fields of the BootstrapResult that differ
    from the in-process call's inputs (samples, status, elapsed, summary state, moments)."""
    if not callable(getattr(executor, "submit", None)):
        raise TypeError(
            f"executor must have a submit(fn, *args) method returning futures (a distributed.Client, a "
            f"concurrent.futures executor, or an adapter: see the README), got {type(executor).__name__}")
    t0 = time.perf_counter()
    # size the tasks: time a few resamples here on one thread
    # (doubling batches up to PROBE resamples or ~0.1 s: cold starts make one resample slow)
    done, m, t1 = 0, 1, time.perf_counter()
    while done < PROBE:
        boot.run(done, m, 1)
        done += m
        m *= 2
        if time.perf_counter() - t1 > 0.1:
            break
    per = max((time.perf_counter() - t1) / done, 1e-7)
    task = max(BLOCK, int(round(TASK_SECONDS / per / BLOCK)) * BLOCK)
    payload = {"problem": prob, "boot_args": boot_args, "keep": keep, "edges": edges}
    ranges = _ranges(start, n, task)
    bar = None
    if progress:
        try:
            from tqdm.auto import tqdm
        except ImportError:  # pragma: no cover
            raise ImportError("progress=True needs tqdm: pip install tqdm (or scalingfit[progress])") from None
        bar = tqdm(total=n, desc="bootstrap", unit="fit")
    pending = {_submit(executor, payload, a, m): (a, m, 1) for a, m in ranges}
    parts: list[dict[str, Any]] = []
    try:
        while pending:
            finished = [f for f in pending if f.done()]
            if not finished:
                time.sleep(0.02)
                continue
            for f in finished:
                a, m, tries = pending.pop(f)
                try:
                    part = f.result()
                except Exception as e:  # a lost worker, a killed process: run the range again
                    if tries >= TRIES:
                        raise RuntimeError(f"bootstrap: resamples {a}..{a + m - 1} failed {tries} times on the executor: {e!r}") from e
                    pending[_submit(executor, payload, a, m)] = (a, m, tries + 1)
                    continue
                parts.append(part)
                if bar is not None:
                    bar.update(m)
    except BaseException:
        for f in pending:
            f.cancel()
        raise
    finally:
        if bar is not None:
            bar.close()
    parts.sort(key=lambda q: q["start"])
    status = np.concatenate([q["status"] for q in parts]) if parts else np.empty(0, dtype=np.uint8)
    samples = state = None
    if keep == "samples":
        samples = np.concatenate([q["samples"] for q in parts])
    else:
        state = merge_states([q["state"] for q in parts])
    return {"samples": samples, "status": status, "elapsed": time.perf_counter() - t0,
            "_moments": None if state is None else moments(state), "_state": state}
