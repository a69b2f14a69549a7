"""LightningModules: pre-training the original model, and MIU's alternating passes with manual optimisation."""

from __future__ import annotations

import lightning.pytorch as pl
import torch
import torch.nn.functional as F

from paperzoo.grmu.data import N_ATTRS, N_CLASSES
from paperzoo.grmu.metrics import equalized_odds
from paperzoo.grmu.model import build_model


class PretrainModule(pl.LightningModule):
    """Train θ_o with cross-entropy on the group-shifted training set; validation reports worst-group accuracy.

    Args:
        size: image side.
        width: channels of the first conv.
        feat_dim: dimension of Z (the CNN's).
        arch: ``"cnn"`` or ``"resnet18"``.
        weights: a local ResNet-18 checkpoint, or None.
        lr: SGD learning rate.
        momentum: SGD momentum.
        weight_decay: L2 weight decay.
        forget_group: the group whose test accuracy is logged as ``GA`` (y*, a*).
    """

    def __init__(
        self,
        size: int = 16,
        width: int = 8,
        feat_dim: int = 64,
        arch: str = "cnn",
        weights: str | None = None,
        lr: float = 0.05,
        momentum: float = 0.9,
        weight_decay: float = 5e-4,
        forget_group: tuple[int, int] = (1, 0),
    ) -> None:
        super().__init__()
        if lr <= 0:
            raise ValueError(f"lr: expected a positive learning rate, got {lr}")
        self.save_hyperparameters()
        self.model = build_model(arch, size, width, feat_dim, N_CLASSES, weights)
        self._eval: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, 2]`` of images ``[B, 3, S, S]``."""
        return self.model(x)

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        x, y, _a, _g = batch
        loss = F.cross_entropy(self(x), y)
        self.log("train/loss", loss, prog_bar=True)
        return loss

    def _eval_step(self, batch) -> None:
        x, y, a, _g = batch
        self._eval.append((self(x).argmax(1), y, a))

    def _eval_end(self, stage: str) -> None:
        pred, y, a = (torch.cat(t) for t in zip(*self._eval))
        self._eval.clear()
        accs = []
        for g in range(N_CLASSES * N_ATTRS):
            mask = (y == g // N_ATTRS) & (a == g % N_ATTRS)
            if mask.any():
                accs.append((pred[mask] == y[mask]).float().mean())
        ys, as_ = self.hparams.forget_group
        in_group = (y == ys) & (a == as_)
        self.log(f"{stage}/acc", (pred == y).float().mean() * 100, prog_bar=True)
        self.log(f"{stage}/worst_group_acc", torch.stack(accs).min() * 100)
        self.log(f"{stage}/EO", equalized_odds(pred, y, a))
        if in_group.any():
            self.log(f"{stage}/GA", (pred[in_group] == y[in_group]).float().mean() * 100)

    def validation_step(self, batch, batch_idx: int) -> None:
        self._eval_step(batch)

    def on_validation_epoch_end(self) -> None:
        self._eval_end("val")

    def test_step(self, batch, batch_idx: int) -> None:
        self._eval_step(batch)

    def on_test_epoch_end(self) -> None:
        self._eval_end("test")

    def predict_step(self, batch, batch_idx: int) -> torch.Tensor:
        return self(batch[0]).argmax(1)

    def configure_optimizers(self):
        opt = torch.optim.SGD(
            self.parameters(),
            lr=self.hparams.lr,
            momentum=self.hparams.momentum,
            weight_decay=self.hparams.weight_decay,
        )
        if self.trainer is None or self.trainer.max_epochs in (None, -1):
            return opt
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, self.trainer.max_epochs))
        return {"optimizer": opt, "lr_scheduler": sched}
