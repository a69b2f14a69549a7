"""Settings for every test session of the workspace (shared/tests and each package's tests).

pytest finds this file at the rootdir, so `make test`, `make test PAPER=<name>` and a bare `pytest <path>` from
the repository root all use it.
"""

from __future__ import annotations

import os


def pytest_configure(config) -> None:
    """Give each pytest-xdist worker its share of the cores.

    torch starts one OpenMP thread per core in every process. Under `pytest -n 2` on two cores that is four
    busy threads, and OpenMP threads spin while they wait for each other: a small op of one worker then waits
    for a time slice held by the other. Measured on the 2-core CI machine: `make test` took 2038 s with four
    threads (a quick reproduce 845 s, a 2-second MINE test 181 s) and 243 s with one thread per worker
    (cores // workers). The subprocesses the tests start inherit the setting through OMP_NUM_THREADS. A plain
    `pytest` without -n keeps torch's default.
    """
    workers = os.environ.get("PYTEST_XDIST_WORKER_COUNT")
    if not workers:
        return
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    threads = max(1, cores // int(workers))
    os.environ["OMP_NUM_THREADS"] = str(threads)
    os.environ["MKL_NUM_THREADS"] = str(threads)
    import torch

    torch.set_num_threads(threads)
