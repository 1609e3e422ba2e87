"""The issue-16 must-show: 10^6 bootstrap resamples of the Chinchilla fit over a Dask LocalCluster
of 2 worker processes (1 thread each) against the same call in this process (2 threads):
bit-identical results, and the CPU overhead of the cluster run (driver + workers, measured with
psutil) relative to the in-process run.

Usage: python scripts/scaleout_check.py [N] [ROUNDS]   (default 1_000_000 and 3; needs distributed and psutil)
"""

import sys
import time
import warnings

import numpy as np
import psutil
import scalingfit as sf
from distributed import Client, LocalCluster


def cpu(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return t.user + t.system


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    warnings.simplefilter("ignore")
    sys.path.insert(0, "benches")
    from bench_fit import _chinchilla

    N, D, y = _chinchilla()
    fit = sf.fit("chinchilla", {"N": N, "D": D}, y=y)
    me = psutil.Process()
    # the machine is shared: alternate the two runs and compare the least CPU time of each
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, Client(cluster) as client:
        procs = [psutil.Process(p) for p in client.run(lambda: __import__("os").getpid()).values()]
        for keep in ("summary", "samples"):
            loc, rem = [], []
            for _ in range(rounds):
                c0, t0 = cpu(me), time.perf_counter()
                local = sf.bootstrap(fit, n_resamples=n, seed=0, keep=keep, n_threads=2)
                loc.append((cpu(me) - c0, time.perf_counter() - t0))
                w0, c0, t0 = [cpu(p) for p in procs], cpu(me), time.perf_counter()
                remote = sf.bootstrap(fit, n_resamples=n, seed=0, keep=keep, executor=client)
                rem.append((cpu(me) - c0 + sum(cpu(p) - w for p, w in zip(procs, w0)), time.perf_counter() - t0))
                if keep == "samples":
                    same = np.array_equal(local.samples, remote.samples, equal_nan=True) and np.array_equal(local.status, remote.status)
                else:
                    a, b = local._moments, remote._moments
                    same = (np.array_equal(a["mean"], b["mean"]) and np.array_equal(a["cov"], b["cov"])
                            and all(np.array_equal(x["counts"], z["counts"]) for x, z in zip(a["hist"], b["hist"])))
                assert same, "the cluster run differs from the in-process run"
            cl, cr = min(c for c, _ in loc), min(c for c, _ in rem)
            print(f"keep={keep} n={n}: bit-identical in {rounds} of {rounds} rounds; least CPU over {rounds} alternating rounds: "
                  f"in-process (2 threads) {cl:.1f} s, LocalCluster (2 processes, driver + workers) {cr:.1f} s: "
                  f"overhead {100 * (cr / cl - 1):+.1f}%; all rounds in-process {[round(c, 1) for c, _ in loc]}, "
                  f"cluster {[round(c, 1) for c, _ in rem]}; wall {min(w for _, w in loc):.1f} s vs {min(w for _, w in rem):.1f} s",
                  flush=True)


if __name__ == "__main__":
    main()
