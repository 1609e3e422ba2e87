"""asv: the bootstrap on a Dask LocalCluster of 2 worker processes (1 thread each) beside the same
call in-process (2 threads), 10^5 resamples of the Chinchilla fit. The ratio of the two is the
scale-out overhead on one machine (python scripts/scaleout_check.py measures CPU time at 10^6)."""

import warnings

import scalingfit as sf

from .bench_fit import _chinchilla


class LocalClusterBootstrap:
    timeout = 600
    number = 1
    repeat = 3

    def setup(self):
        from distributed import Client, LocalCluster

        warnings.simplefilter("ignore")
        N, D, y = _chinchilla()
        self.fit = sf.fit("chinchilla", {"N": N, "D": D}, y=y)
        self.cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
        self.client = Client(self.cluster)

    def teardown(self):
        self.client.close()
        self.cluster.close()

    def time_in_process_1e5(self):
        sf.bootstrap(self.fit, n_resamples=100_000, seed=0, keep="summary", n_threads=2)

    def time_local_cluster_1e5(self):
        sf.bootstrap(self.fit, n_resamples=100_000, seed=0, keep="summary", executor=self.client)
