"""Callbacks every paperzoo trainer carries."""

from __future__ import annotations

import math
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.utilities import rank_zero_warn


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
        rank_zero_warn(self.message)
        trainer.should_stop = True
