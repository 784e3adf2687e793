"""Where runs execute: one after another in this process (serial), or as tasks on a Dask cluster."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from xit.grid.config import GridConfig
from xit.grid.execute import (
    RunOutcome,
    chains,
    execute_chain,
    execute_run,
    finish_chain,
)
from xit.grid.runs import RunSpec
from xit.paths import export_xit_pythonpath


def run_serial(runs: list[RunSpec], report: Callable[[RunOutcome], None]) -> None:
    """Execute runs one after another (chain by chain); a first Ctrl-C stops after the current run, a second at once."""
    import signal
    import threading

    stop = threading.Event()

    def first_interrupt(signum: int, frame: object) -> None:
        # A KeyboardInterrupt raised inside papermill's event loop can be swallowed or turned into a
        # failed cell; a flag is checked between runs, so the stop is certain and no run is half-done.
        stop.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)
        print("\ninterrupt: stopping after the current run (Ctrl-C again to stop now)", file=sys.stderr)

    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, first_interrupt) if in_main else None
    try:
        for chain in chains(runs):
            outcomes = []
            for spec in chain:
                if stop.is_set():
                    raise KeyboardInterrupt
                outcomes.append(execute_run(spec))
                report(outcomes[-1])
            finish_chain(chain, outcomes)
    finally:
        if in_main:
            signal.signal(signal.SIGINT, previous)



def worker_env(workers: int) -> dict[str, str]:
    """Environment of a local Dask worker: PYTHONPATH, and the machine's cores split between the workers' kernels.

    Each run's kernel inherits it. Without the split every kernel's torch takes all cores, so two workers on a
    2-core machine run four compute threads on two cores. A thread count already set in the environment wins.
    """
    threads = str(max(1, (os.cpu_count() or 1) // workers))
    env = {"PYTHONPATH": os.environ["PYTHONPATH"]}
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[name] = os.environ.get(name, threads)
    return env


def run_dask(runs: list[RunSpec], config: GridConfig, report: Callable[[RunOutcome], None]) -> None:
    """Submit each chain of runs (xit.grid.execute.chains) as a task to a Dask cluster (a LocalCluster unless config.scheduler names one)."""
    from distributed import Client, LocalCluster, as_completed

    export_xit_pythonpath()
    cluster = None
    if config.scheduler:
        client = Client(config.scheduler)
    else:
        # One thread per worker process: each run's kernel already uses the cores torch gives it.
        cluster = LocalCluster(n_workers=config.workers, threads_per_worker=1, processes=True,
                               dashboard_address=None, env=worker_env(config.workers))
        client = Client(cluster)
    try:
        futures = [client.submit(execute_chain, chain, key=f"xit-run-{chain[0].run_id}", pure=False) for chain in chains(runs)]
        for future in as_completed(futures):
            for outcome in future.result():
                report(outcome)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
