"""paperzoo.eval.timing: warmed-up medians."""

from __future__ import annotations

from paperzoo.eval import median_time


def test_median_time_warms_up_for_a_minimum_time():
    calls = []
    median_time(lambda: calls.append(1), repeats=3, warmup=2, min_warmup_s=0.05)
    assert len(calls) > 100  # a no-op call takes microseconds: 0.05 s of warm-up is thousands of calls
    calls.clear()
    median_time(lambda: calls.append(1), repeats=3, warmup=2, min_warmup_s=0.0)
    assert len(calls) == 5
