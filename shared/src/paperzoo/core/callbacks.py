"""Callbacks every paperzoo trainer carries."""

from __future__ import annotations

import math
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.utilities import rank_zero_warn

DIVERGED: list[str] = []
"""The message of every non-finite-loss stop in this process, in order: ``Reproduction.arm`` reads the ones a
stage adds to record that arm's metrics as NaN."""


class NonFiniteLossStop(pl.Callback):
    """Stop training, with a message, as soon as the training loss is NaN or infinite.

    Continuing would only write a broken checkpoint. The message names the step and the usual causes;
    ``triggered`` and ``message`` let the CLI turn it into a non-zero exit.
    """

    def __init__(self) -> None:
        self.triggered = False
        self.message = ""

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if loss is None:
            return
        value = loss.detach().float().item() if isinstance(loss, torch.Tensor) else float(loss)
        if math.isfinite(value):
            return
        self.triggered = True
        self.message = (
            f"training stopped: the loss became {value} at batch {batch_idx} of epoch {trainer.current_epoch} "
            f"(after {trainer.global_step} optimiser steps); "
            "lower the learning rate, enable gradient clipping, or use float32"
        )
        DIVERGED.append(self.message)
        rank_zero_warn(self.message)
        trainer.should_stop = True


class StepProgress(pl.Callback):
    """Advance a progress bar after every training batch and keep the training losses.

    ``reproduce`` trains many models; this lets each stage's bar (from :meth:`StageProgress.stage`) follow
    the optimiser steps, and keeps the loss curve for plots.

    Args:
        advance: called with no argument after every training batch (a stage's advance function).

    Attributes:
        losses: the training loss of every batch, as floats (batches whose step returned no loss are skipped).
    """

    def __init__(self, advance: Any) -> None:
        self.advance = advance
        self.losses: list[float] = []

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if loss is not None:
            self.losses.append(float(loss.detach()) if isinstance(loss, torch.Tensor) else float(loss))
        self.advance()
