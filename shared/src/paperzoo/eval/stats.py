"""Summaries over seeds: mean, sample standard deviation and a 95% confidence interval."""

from __future__ import annotations

import math
from dataclasses import dataclass

# Two-sided 97.5% quantiles of Student's t for 1..30 degrees of freedom; past 30 the normal's 1.96 is
# within 4% and the table would only add digits.
_T975 = [
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
]  # fmt: skip


def t_quantile_975(dof: int) -> float:
    """The 0.975 quantile of Student's t with ``dof`` degrees of freedom (``dof >= 1``)."""
    if dof < 1:
        raise ValueError(f"dof: expected >= 1, got {dof}")
    return _T975[dof - 1] if dof <= len(_T975) else 1.96


@dataclass(frozen=True)
class SeedSummary:
    """Mean, sample std and 95% t-interval of one metric over seeds."""

    n: int
    mean: float
    std: float
    ci_low: float
    ci_high: float

    def __str__(self) -> str:
        if not math.isfinite(self.mean):
            return "nan (non-finite)"
        if self.n < 2:
            return f"{self.mean:.4g}"
        return f"{self.mean:.4g} ± {self.std:.2g}"


def summarize(values: list[float]) -> SeedSummary:
    """Summarise per-seed values. One value gives a zero std and a degenerate interval; a non-finite value (an
    arm that diverged) makes every field NaN.

    Raises:
        ValueError: an empty list.
    """
    if not values:
        raise ValueError("values: expected at least one value")
    xs = [float(v) for v in values]
    if not all(math.isfinite(v) for v in xs):
        return SeedSummary(len(xs), math.nan, math.nan, math.nan, math.nan)
    n = len(xs)
    mean = sum(xs) / n
    if n == 1:
        return SeedSummary(1, mean, 0.0, mean, mean)
    std = math.sqrt(sum((v - mean) ** 2 for v in xs) / (n - 1))
    half = t_quantile_975(n - 1) * std / math.sqrt(n)
    return SeedSummary(n, mean, std, mean - half, mean + half)
