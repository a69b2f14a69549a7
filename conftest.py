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


_CORE_SECONDS: dict[str, float] = {}


def _suite(nodeid: str) -> str:
    parts = nodeid.split("/")
    if parts[0] == "packages" and len(parts) > 1:
        return parts[1]
    return parts[0] if len(parts) > 1 else "other"


def pytest_runtest_logreport(report) -> None:
    """Add up each test phase's duration per suite (shared, or the package's name)."""
    _CORE_SECONDS[_suite(report.nodeid)] = _CORE_SECONDS.get(_suite(report.nodeid), 0.0) + report.duration


def pytest_terminal_summary(terminalreporter) -> None:
    """A table of test seconds per suite, slowest first: each package's default tests have about 60 s on one
    core, so that `make test` over 26 packages stays under 30 minutes on 2 cores."""
    if not _CORE_SECONDS or os.environ.get("PYTEST_XDIST_WORKER"):
        return
    terminalreporter.section("test seconds per suite (budget: about 60 s a package)")
    for suite, seconds in sorted(_CORE_SECONDS.items(), key=lambda kv: -kv[1]):
        flag = "  over budget" if suite != "shared" and seconds > 90 else ""
        terminalreporter.write_line(f"{suite:<16}{seconds:8.1f} s{flag}")
    terminalreporter.write_line(f"{'total':<16}{sum(_CORE_SECONDS.values()):8.1f} s")
