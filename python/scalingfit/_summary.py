"""keep='summary': moments and histograms of bootstrap samples that any split reproduces bit for bit.

Resample indices are cut into aligned blocks of :data:`BLOCK` (block j holds indices
j*BLOCK .. (j+1)*BLOCK-1, whatever range a run covers). Each block's moments (count, mean, sum of
outer products of deviations) come from its converged rows in index order with sequential sums
(numpy's reduction over the leading axis adds row after row; no BLAS, no pairwise reordering, no
FMA), and the blocks are folded in block order by Chan et al.'s update. A run whose range cuts a
block keeps that block's rows instead, so an adjacent run can complete it; the merged summary is
then the summary of one run over the whole range, to the last bit. Histograms count on edges
fixed before the run (from a pilot of resamples 0..pilot_size(n)-1 refitted from the warm start,
or given), by exact comparisons
(searchsorted), so counts are integers that simply add.
"""

from __future__ import annotations

from typing import Any

import numpy as np

BLOCK = 4096
PILOT = 1024


def pilot_size(n_points: int) -> int:
    """Resamples in the pilot: 1024, fewer for large data (at least 64), a function of the data
    alone so that every part of a split run bins on the same edges."""
    return int(min(PILOT, max(64, 2**22 // max(int(n_points), 1))))
BINS = 20000
VERSION = 1


def pilot_edges(pilot: np.ndarray, positive: list[bool], bins: int = BINS) -> list[np.ndarray]:
    """Histogram edges per parameter from converged pilot rows: their range widened by two
    widths each side (log-spaced, and widened in log, for positive parameters)."""
    out = []
    for k in range(pilot.shape[1]):
        col = pilot[:, k]
        col = col[np.isfinite(col)]
        if positive[k]:
            col = col[col > 0]
        if len(col) == 0:
            col = np.array([1.0])
        lo, hi = float(col.min()), float(col.max())
        if positive[k]:
            a, b = np.log(lo), np.log(hi)
            w = max(b - a, 1e-9 * max(abs(a), 1.0), 1e-12)
            e = np.exp(np.linspace(a - 2 * w, b + 2 * w, bins + 1))
        else:
            w = max(hi - lo, 1e-9 * max(abs(hi), abs(lo), 1e-300))
            e = np.linspace(lo - 2 * w, hi + 2 * w, bins + 1)
        if not (np.all(np.isfinite(e)) and np.all(np.diff(e) > 0)):
            # a range at the ends of float64: fall back to linear edges on the finite span
            e = np.linspace(lo - abs(lo) * 0.5 - 1.0, hi + abs(hi) * 0.5 + 1.0, bins + 1)
        out.append(e)
    return out


def check_edges(edges: Any, names: list[str]) -> list[np.ndarray]:
    """User-given histogram edges: a dict name -> increasing 1-D array (>= 2 finite values)."""
    if not isinstance(edges, dict):
        raise TypeError(f"edges must be a dict mapping each parameter name to increasing bin edges, got {type(edges).__name__}")
    missing = [n for n in names if n not in edges]
    extra = [k for k in edges if k not in names]
    if missing or extra:
        raise ValueError(f"edges must give bin edges for exactly the parameters {names}; missing {missing}, unknown {extra}")
    out = []
    for n in names:
        try:
            e = np.asarray(edges[n], dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"edges[{n!r}] must be a 1-D array of floats") from None
        if e.ndim != 1 or len(e) < 2 or not np.all(np.isfinite(e)) or not np.all(np.diff(e) > 0):
            raise ValueError(f"edges[{n!r}] must be a 1-D array of at least 2 finite, strictly increasing values")
        out.append(np.ascontiguousarray(e))
    return out


def _block_stats(rows: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    """(n, mean, M2) of rows in index order, by sequential sums over the leading axis."""
    n = len(rows)
    p = rows.shape[1]
    if n == 0:
        return 0, np.zeros(p), np.zeros((p, p))
    mean = rows.sum(axis=0) / n
    d = rows - mean
    m2 = (d[:, :, None] * d[:, None, :]).sum(axis=0)
    return n, mean, m2


def _fold(stats: list[tuple[int, np.ndarray, np.ndarray]], p: int) -> tuple[int, np.ndarray, np.ndarray]:
    """Chan et al.'s pairwise update, applied left to right in block order."""
    n, mean, m2 = 0, np.zeros(p), np.zeros((p, p))
    for nb, mb, m2b in stats:
        if nb == 0:
            continue
        tot = n + nb
        delta = mb - mean
        m2 = m2 + m2b + np.outer(delta, delta) * (n * nb / tot)
        mean = mean + delta * (nb / tot)
        n = tot
    return n, mean, m2


class Summary:
    """The summary of resamples [start, stop) as they arrive, in index order."""

    def __init__(self, start: int, stop: int, edges: list[np.ndarray]):
        self.start, self.stop = int(start), int(stop)
        self.edges = edges
        p = len(edges)
        self.p = p
        self.counts = [np.zeros(len(e) - 1, dtype=np.int64) for e in edges]
        self.under = np.zeros(p, dtype=np.int64)
        self.over = np.zeros(p, dtype=np.int64)
        self.blocks: dict[int, tuple[int, np.ndarray, np.ndarray]] = {}
        self.partial: dict[int, list[np.ndarray]] = {}  # block -> converged rows of the cut block
        self._cur: tuple[int, list[np.ndarray], int] | None = None  # (block, rows, first index)
        self.pos = self.start

    def add(self, first: int, samples: np.ndarray, converged: np.ndarray) -> None:
        """Resamples first.. first+len-1 (must continue the previous call)."""
        assert first == self.pos
        rows = samples[converged]
        for k in range(self.p):
            e = self.edges[k]
            col = rows[:, k]
            idx = np.searchsorted(e, col, side="right") - 1
            below, above = idx < 0, idx >= len(e) - 1
            # the last edge closes the last bin
            last = col == e[-1]
            above &= ~last
            idx[last] = len(e) - 2
            self.under[k] += int(below.sum())
            self.over[k] += int(above.sum())
            ok = ~(below | above)
            self.counts[k] += np.bincount(idx[ok], minlength=len(e) - 1)
        # moments, block by block
        i, n = 0, len(samples)
        while i < n:
            g = first + i
            b = g // BLOCK
            end = min((b + 1) * BLOCK, self.stop) - first
            take = min(end, n) - i
            seg = samples[i : i + take][converged[i : i + take]]
            if self._cur is None or self._cur[0] != b:
                self._cur = (b, [], g)
            self._cur[1].append(seg)
            i += take
            if first + i == min((b + 1) * BLOCK, self.stop):
                blk, parts, g0 = self._cur
                whole = np.concatenate(parts) if parts else np.empty((0, self.p))
                if g0 == blk * BLOCK and first + i == (blk + 1) * BLOCK:
                    self.blocks[blk] = _block_stats(whole)
                else:
                    self.partial[blk] = [whole]
                self._cur = None
        self.pos = first + n

    # -- state for merge and save ----------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """The accumulator's state, for merging partial results and saving."""
        ids = sorted(self.blocks)
        p = self.p
        pids = sorted(self.partial)
        return {
            "version": VERSION, "block": BLOCK, "start": self.start, "stop": self.stop,
            "edges": list(self.edges), "counts": list(self.counts), "under": self.under, "over": self.over,
            "block_ids": np.array(ids, dtype=np.int64),
            "block_n": np.array([self.blocks[b][0] for b in ids], dtype=np.int64),
            "block_mean": np.array([self.blocks[b][1] for b in ids]).reshape(len(ids), p),
            "block_m2": np.array([self.blocks[b][2] for b in ids]).reshape(len(ids), p, p),
            "partial_ids": [int(b) for b in pids],
            "partial_rows": [np.concatenate(self.partial[b]) for b in pids],
        }


def merge_states(states: list[dict[str, Any]]) -> dict[str, Any]:
    """One state from states of contiguous ranges sorted by start (checked by the caller)."""
    first = states[0]
    for i, s in enumerate(states[1:], 1):
        if s["block"] != first["block"] or s["version"] != first["version"]:
            raise ValueError(f"merge: part {i} was summarised with another block size or format version")
        if len(s["edges"]) != len(first["edges"]) or not all(np.array_equal(a, b) for a, b in zip(s["edges"], first["edges"])):
            raise ValueError(f"merge: part {i} has other histogram edges than part 0; summaries merge only with the same edges (same seed and pilot, or the same edges=)")
    p = len(first["edges"])
    stop = states[-1]["stop"]
    blocks: dict[int, tuple[int, np.ndarray, np.ndarray]] = {}
    partial: dict[int, list[np.ndarray]] = {}
    for s in states:
        for j, b in enumerate(s["block_ids"].tolist()):
            blocks[b] = (int(s["block_n"][j]), s["block_mean"][j], s["block_m2"][j])
        for b, rows in zip(s["partial_ids"], s["partial_rows"]):
            partial.setdefault(int(b), []).append(rows)
    start = first["start"]
    done_partial: dict[int, np.ndarray] = {}
    for b, rows_list in partial.items():
        rows = np.concatenate(rows_list) if rows_list else np.empty((0, p))
        lo, hi = max(b * BLOCK, start), min((b + 1) * BLOCK, stop)
        if lo == b * BLOCK and hi == (b + 1) * BLOCK:
            # completed by adjacent parts: the block's rows in index order give its stats
            blocks[b] = _block_stats(rows)
        else:
            done_partial[b] = rows
    ids = sorted(blocks)
    pids = sorted(done_partial)
    return {
        "version": first["version"], "block": first["block"], "start": start, "stop": stop,
        "edges": list(first["edges"]),
        "counts": [sum((s["counts"][k] for s in states[1:]), states[0]["counts"][k].copy()) for k in range(p)],
        "under": sum((s["under"] for s in states[1:]), states[0]["under"].copy()),
        "over": sum((s["over"] for s in states[1:]), states[0]["over"].copy()),
        "block_ids": np.array(ids, dtype=np.int64),
        "block_n": np.array([blocks[b][0] for b in ids], dtype=np.int64),
        "block_mean": np.array([blocks[b][1] for b in ids]).reshape(len(ids), p),
        "block_m2": np.array([blocks[b][2] for b in ids]).reshape(len(ids), p, p),
        "partial_ids": pids,
        "partial_rows": [done_partial[b] for b in pids],
    }


def moments(state: dict[str, Any]) -> dict[str, Any]:
    """n, mean and covariance of the converged resamples of a state; the cut blocks at the
    ends of its range count as blocks of their own (they are whole within the range)."""
    p = len(state["edges"])
    stats = {int(b): (int(n), m, m2) for b, n, m, m2 in zip(state["block_ids"].tolist(), state["block_n"], state["block_mean"], state["block_m2"])}
    for b, rows in zip(state["partial_ids"], state["partial_rows"]):
        stats[int(b)] = _block_stats(rows)
    n, mean, m2 = _fold([stats[b] for b in sorted(stats)], p)
    return {"n": n, "mean": mean, "cov": m2 / max(n - 1, 1),
            "hist": [{"edges": e, "counts": c} for e, c in zip(state["edges"], state["counts"])],
            "under": state["under"], "over": state["over"]}
