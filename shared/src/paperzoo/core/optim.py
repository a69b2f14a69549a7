"""The optimiser settings every package shares: AdamW with a linear warm-up, then cosine decay or a constant rate.

One schedule, written once::

    factor(step) = (step + 1) / warmup                                 while step < warmup
                 = 1                                                   "constant", or total <= warmup
                 = min_ratio + (1 - min_ratio) * (1 + cos(pi * p)) / 2 "cosine"

with ``p = (step - warmup) / (total - warmup)`` clipped to 1, so steps past ``total`` keep the last rate.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch

SCHEDULES = ("cosine", "constant")


def warmup_cosine(warmup_steps: int, total_steps: int, min_ratio: float = 0.0) -> Callable[[int], float]:
    """The learning-rate factor per optimiser step: linear warm-up over ``warmup_steps``, then a cosine decay to
    ``min_ratio`` at ``total_steps``.

    Args:
        warmup_steps: steps of linear warm-up (0: none); the factor reaches 1 at step ``warmup_steps - 1``.
        total_steps: the step where the decay ends; ``total_steps <= warmup_steps`` keeps the rate constant.
        min_ratio: the factor the decay ends at.
    """
    if warmup_steps < 0:
        raise ValueError(f"warmup_steps: expected a non-negative number of steps, got {warmup_steps}")

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        if total_steps <= warmup_steps:
            return 1.0
        progress = min(1.0, (step - warmup_steps) / (total_steps - warmup_steps))
        return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


def warmup_constant(warmup_steps: int) -> Callable[[int], float]:
    """Linear warm-up over ``warmup_steps`` (at least one), then the full rate."""
    warm = max(warmup_steps, 1)
    return lambda step: min(1.0, (step + 1) / warm)


@dataclass
class OptimConfig:
    """AdamW and its learning-rate schedule."""

    lr: float = 1e-3
    """Peak learning rate (reached at the end of the warm-up)."""
    weight_decay: float = 0.0
    """Decoupled weight decay of AdamW."""
    betas: tuple[float, float] = (0.9, 0.999)
    """AdamW's running-average coefficients."""
    warmup_steps: int = 0
    """Optimiser steps of linear warm-up."""
    schedule: str = "cosine"
    """After the warm-up: ``"cosine"`` (decay to ``min_lr_ratio`` at the last step) or ``"constant"``."""
    min_lr_ratio: float = 0.0
    """The cosine decay ends at ``lr * min_lr_ratio``."""

    def __post_init__(self) -> None:
        if self.lr <= 0:
            raise ValueError(f"optim.lr: expected a positive learning rate, got {self.lr}")
        if self.warmup_steps < 0:
            raise ValueError(f"optim.warmup_steps: expected a non-negative number of steps, got {self.warmup_steps}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"optim.schedule: expected one of {SCHEDULES}, got {self.schedule!r}")
        self.betas = (float(self.betas[0]), float(self.betas[1]))

    def factor(self, total_steps: int, warmup_steps: int | None = None) -> Callable[[int], float]:
        """The schedule's factor per step for a run of ``total_steps`` (``warmup_steps`` overrides the field)."""
        warm = self.warmup_steps if warmup_steps is None else warmup_steps
        if self.schedule == "constant":
            return warmup_constant(warm)
        return warmup_cosine(warm, total_steps, self.min_lr_ratio)

    def build(
        self, params: Iterable[torch.nn.Parameter] | Iterable[dict[str, Any]], total_steps: int, **kwargs: Any
    ) -> dict[str, Any]:
        """AdamW over ``params`` (tensors or parameter groups) with the schedule stepped per optimiser step.

        Args:
            params: what ``torch.optim.AdamW`` takes; groups may set their own ``weight_decay``.
            total_steps: length of the run in optimiser steps (``trainer.estimated_stepping_batches``).
            **kwargs: passed to :meth:`factor` (``warmup_steps=`` for a warm-up capped by the run's length).

        Returns:
            What ``LightningModule.configure_optimizers`` returns.
        """
        optimizer = torch.optim.AdamW(params, lr=self.lr, weight_decay=self.weight_decay, betas=self.betas)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, self.factor(total_steps, **kwargs))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
