"""Wall-clock timing for the packages' efficiency claims: warmed-up medians and log-log slopes."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable


def median_time(fn: Callable[[], object], repeats: int = 5, warmup: int = 2, min_warmup_s: float = 0.25) -> float:
    """Median wall time of ``fn()`` in seconds after at least ``warmup`` calls and ``min_warmup_s`` seconds of them.

    A count alone is not enough for sub-millisecond calls: the first point timed in a fresh process read 0.81 ms
    for a Mamba decode step that takes 0.50 once warm (seed 0 of a committed ssmsurvey run, after 20 warm-up
    steps, about 15 ms), presumably while the thread pool and the clock speed settle. A quarter of a second
    covers it.
    """
    start = time.perf_counter()
    done = 0
    while done < warmup or time.perf_counter() - start < min_warmup_s:
        fn()
        done += 1
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def loglog_slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of ``log y`` against ``log x``."""
    lx, ly = [math.log(x) for x in xs], [math.log(y) for y in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly, strict=True)) / sum((a - mx) ** 2 for a in lx)
