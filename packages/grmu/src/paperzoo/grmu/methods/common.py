"""What every method shares: the unlearning task, batching, the per-epoch learning rate, and retraining."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch

from paperzoo.core.optim import warmup_cosine
from paperzoo.grmu.config import ModelConfig, TrainConfig, UnlearnConfig
from paperzoo.grmu.data import N_ATTRS, N_CLASSES, GroupData, index_batches, reweight_weights
from paperzoo.grmu.model import Classifier
from paperzoo.grmu.module import train_classifier


@dataclass
class UnlearnTask:
    """The training set split into a forget set and a retain set, with REWEIGHT's sampling weights.

    Attributes:
        train: the full training set D_tr.
        forget_idx: indices of D_f in ``train``.
        retain_idx: indices of D_r in ``train``.
        reweight: sample D_r with REWEIGHT's weights (otherwise uniformly).
    """

    train: GroupData
    forget_idx: torch.Tensor
    retain_idx: torch.Tensor
    reweight: bool = True
    n_groups: int = field(default=N_CLASSES * N_ATTRS)

    @property
    def forget(self) -> GroupData:
        return self.train.subset(self.forget_idx)

    @property
    def retain(self) -> GroupData:
        return self.train.subset(self.retain_idx)

    def group_weights(self) -> torch.Tensor:
        """w_g = |D_tr,g| / |D_r,g|. ``[G]``."""
        return reweight_weights(self.train.g, self.train.g[self.retain_idx], self.n_groups)

    def retain_sample_weights(self) -> torch.Tensor | None:
        """Per-retain-sample sampling weights ``[N_r]``, or None (uniform) without REWEIGHT."""
        if not self.reweight:
            return None
        return self.group_weights()[self.train.g[self.retain_idx]]

    def with_reweight(self, reweight: bool) -> UnlearnTask:
        return UnlearnTask(self.train, self.forget_idx, self.retain_idx, reweight, self.n_groups)


def batches(
    data: GroupData, batch_size: int, generator: torch.Generator, weights: torch.Tensor | None = None
) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """One epoch of ``(x, y, g)`` batches of ``data``."""
    g = data.g
    for idx in index_batches(len(data), batch_size, generator, weights):
        yield data.x[idx], data.y[idx], g[idx]


def cycle(
    data: GroupData, batch_size: int, generator: torch.Generator
) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Endless shuffled batches of ``data`` (for methods that pair every retain batch with a forget batch)."""
    while True:
        yield from batches(data, batch_size, generator)


def sgd(model: torch.nn.Module, lr: float, momentum: float, weight_decay: float) -> torch.optim.Optimizer:
    return torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)


def set_epoch_lr(opt: torch.optim.Optimizer, cfg: UnlearnConfig, epoch: int) -> None:
    """Set the learning rate of unlearning epoch ``epoch`` (0-based) by ``cfg.lr_schedule``.

    The cosine (:func:`~paperzoo.core.optim.warmup_cosine` without warm-up, over ``cfg.epochs``) is stepped per
    epoch, not per batch, so that methods with different numbers of steps per epoch (a forget pass plus a retain
    pass, or a retain pass alone) follow the same curve: ``lr · (1 + cos(π · epoch / epochs)) / 2``.
    """
    lr = cfg.lr if cfg.lr_schedule == "constant" else cfg.lr * warmup_cosine(0, cfg.epochs)(epoch)
    for group in opt.param_groups:
        group["lr"] = lr


def retrain(
    task: UnlearnTask, model: ModelConfig, train: TrainConfig, generator: torch.Generator, progress=None
) -> Classifier:
    """Exact unlearning: train from scratch on D_r, with REWEIGHT's sampler when ``task.reweight``."""
    return train_classifier(task.retain, model, train, generator, task.retain_sample_weights(), progress)


def copy_model(model: Classifier) -> Classifier:
    out = copy.deepcopy(model)
    out.train()
    return out
