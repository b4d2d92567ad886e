"""Where movies are aligned: a local process pool, or Dask distributed, behind one interface.

An executor takes a movie's path, output folder and parameter set (never arrays), runs
:func:`zorro.session.work.run_movie` somewhere that sees the same file system, and hands back
the manifest or the error. The session owns retries: executors never retry on their own.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from .work import Manifest, SessionParams, run_movie

if TYPE_CHECKING:
    from distributed import Future
    from distributed.deploy.cluster import Cluster


@dataclass(frozen=True)
class Outcome:
    """What became of one submitted movie: its manifest, or the error (``lost``: the worker
    died or the task was cancelled, not the movie's fault)."""

    key: str
    manifest: Manifest | None = None
    error: BaseException | None = None
    lost: bool = False


class Executor(Protocol):
    """The interface the session drives."""

    def capacity(self) -> int:
        """Movies that can run at once (the session keeps about twice as many in flight)."""
        ...

    def submit(self, key: str, movie: str, out_dir: str, params: SessionParams, param_hash: str) -> None:
        """Start aligning a movie; ``key`` is unique per attempt."""
        ...

    def results(self, timeout: float) -> list[Outcome]:
        """Outcomes finished since the last call, waiting up to ``timeout`` s for the first."""
        ...

    def cancel(self, key: str) -> None: ...

    def close(self) -> None: ...


class LocalExecutor:
    """A pool of ``workers`` fresh interpreters (spawn: thread pools of FFT and numexpr3 do not
    survive a fork), each aligning one movie at a time with the threads its parameters give.
    If a worker dies, the pool breaks: every movie in flight is reported lost and a new pool
    takes over."""

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, not {workers}")
        self.workers = workers
        self._pool = self._new_pool()
        self._futures: dict[cf.Future[Manifest], str] = {}

    def _new_pool(self) -> cf.ProcessPoolExecutor:
        return cf.ProcessPoolExecutor(
            self.workers, mp_context=multiprocessing.get_context("spawn"), initializer=_ignore_interrupts
        )

    def capacity(self) -> int:
        return self.workers

    def submit(self, key: str, movie: str, out_dir: str, params: SessionParams, param_hash: str) -> None:
        try:
            future = self._pool.submit(run_movie, movie, out_dir, params, param_hash)
        except cf.BrokenExecutor:
            self._pool = self._new_pool()
            future = self._pool.submit(run_movie, movie, out_dir, params, param_hash)
        self._futures[future] = key

    def results(self, timeout: float) -> list[Outcome]:
        if not self._futures:
            return []
        done, _ = cf.wait(self._futures, timeout=timeout, return_when=cf.FIRST_COMPLETED)
        outcomes: list[Outcome] = []
        for future in done:
            key = self._futures.pop(future)
            if future.cancelled():
                outcomes.append(Outcome(key, lost=True))
            elif isinstance(future.exception(), cf.BrokenExecutor):
                outcomes.append(Outcome(key, error=future.exception(), lost=True))
            elif future.exception() is not None:
                outcomes.append(Outcome(key, error=future.exception()))
            else:
                outcomes.append(Outcome(key, manifest=future.result()))
        if any(o.lost for o in outcomes):
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._new_pool()
        return outcomes

    def cancel(self, key: str) -> None:
        for future, k in self._futures.items():
            if k == key:
                future.cancel()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def _ignore_interrupts() -> None:
    """Workers leave Ctrl-C to the session, which stops them cleanly."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class DaskExecutor:
    """Dask distributed: a running scheduler (``address``), or a cluster object (LocalCluster,
    dask-jobqueue) that this executor then owns and closes. Tasks are impure with unique keys
    and no Dask retries; a worker lost mid-movie surfaces as ``KilledWorker`` (clusters this
    module starts set ``allowed-failures`` to 0 so the scheduler does not re-run it itself)."""

    def __init__(self, address: str | None = None, *, cluster: Cluster | None = None) -> None:
        from distributed import Client, as_completed

        if (address is None) == (cluster is None):
            raise ValueError("give a scheduler address or a cluster, not both or neither")
        self._cluster = cluster
        self.client = Client(address if cluster is None else cluster, set_as_default=False)
        self._futures: dict[str, Future[Manifest]] = {}
        self._done = as_completed(loop=self.client.loop)

    def capacity(self) -> int:
        threads: dict[str, int] = self.client.nthreads()  # per worker address
        return max(1, sum(threads.values()))

    def submit(self, key: str, movie: str, out_dir: str, params: SessionParams, param_hash: str) -> None:
        future = self.client.submit(run_movie, movie, out_dir, params, param_hash, key=key, pure=False, retries=0)
        self._futures[key] = future
        self._done.add(future)

    def results(self, timeout: float) -> list[Outcome]:
        from distributed.scheduler import KilledWorker

        deadline = time.monotonic() + timeout
        while not self._done.has_ready() and self._futures and time.monotonic() < deadline:
            time.sleep(0.02)  # as_completed has no timed wait; its futures update in the background
        outcomes: list[Outcome] = []
        for future in self._done.next_batch(block=False) if self._done.has_ready() else ():
            if self._futures.pop(future.key, None) is None:
                continue  # cancelled by the session
            if future.status == "finished":
                outcomes.append(Outcome(future.key, manifest=future.result()))
            elif future.status == "error":
                error = future.exception()
                outcomes.append(Outcome(future.key, error=error, lost=isinstance(error, KilledWorker)))
            else:  # cancelled, lost with its worker
                outcomes.append(Outcome(future.key, lost=True))
        return outcomes

    def cancel(self, key: str) -> None:
        future = self._futures.pop(key, None)
        if future is not None:
            future.cancel()

    def close(self) -> None:
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()


def local_cluster(workers: int, **kwargs: object) -> Cluster:
    """A Dask LocalCluster of ``workers`` single-threaded processes on 127.0.0.1."""
    import dask
    from distributed import LocalCluster

    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        return LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None, **kwargs
        )


_JOBQUEUE = {"slurm": "SLURMCluster", "pbs": "PBSCluster", "sge": "SGECluster"}


def cluster_from_config(path: str | Path) -> Cluster:
    """A cluster from a TOML file: ``[cluster]`` with ``kind`` (local, slurm, pbs, sge) and the
    keyword arguments of that dask-jobqueue class (cores, memory, walltime, queue, ...) or
    ``workers`` for local; ``[adapt]`` with ``minimum``/``maximum`` jobs. Values are taken
    as data, never evaluated."""
    import tomllib

    with Path(path).open("rb") as f:
        config = tomllib.load(f)
    options = dict(config.get("cluster", {}))
    kind = options.pop("kind", None)
    cluster: Cluster
    if kind == "local":
        cluster = local_cluster(int(options.pop("workers", 1)), **options)
    elif kind in _JOBQUEUE:
        import dask
        import dask_jobqueue

        with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
            cluster = getattr(dask_jobqueue, _JOBQUEUE[kind])(**options)
    else:
        raise ValueError(f"{path}: [cluster] kind must be one of local, {', '.join(_JOBQUEUE)}, not {kind!r}")
    adapt = config.get("adapt")
    if adapt:
        cluster.adapt(minimum=int(adapt.get("minimum", 0)), maximum=int(adapt["maximum"]))
    return cluster
