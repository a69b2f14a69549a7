"""What every method shares: the hyperparameters, the unlearning task, batching and plain training."""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from paperzoo.grmu.data import N_ATTRS, N_CLASSES, GroupData, reweight_weights
from paperzoo.grmu.model import Classifier, build_model


@dataclass
class TrainConfig:
    """Pre-training and retraining (exact unlearning).

    Attributes:
        epochs: epochs over the training (or retain) set.
        lr: SGD learning rate.
        momentum: SGD momentum.
        weight_decay: L2 weight decay.
        batch_size: batch size.
        width: channels of the CNN's first conv.
        feat_dim: dimension of the features Z (the CNN's; ResNet-18's is 512).
        arch: ``"cnn"`` (the acceptance experiment) or ``"resnet18"`` (the paper's backbone).
        weights: a local ResNet-18 checkpoint to start from, or None (from scratch).
    """

    epochs: int = 8
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    batch_size: int = 128
    width: int = 8
    feat_dim: int = 64
    arch: str = "cnn"
    weights: str | None = None


@dataclass
class UnlearnConfig:
    """Approximate unlearning: one budget for every method, plus each method's own knobs.

    Attributes:
        epochs: unlearning epochs (the paper caps them at 10).
        lr: SGD learning rate (constant).
        momentum: SGD momentum.
        weight_decay: L2 weight decay.
        batch_size: batch size.
        forgetting_epochs: epochs that contain a forget pass (MIU, SCRUB's max steps, NegGrad+, SalUn).
        mine_lr: SGD learning rate of the MINE critics.
        mine_hidden: hidden width of the MINE critics.
        mine_warmup_batches: MINE tuning batches before epoch 0.
        mine_batches: MINE tuning batches before every later epoch.
        lambda_mi: λ, the weight of the calibration loss.
        forget_clip: gradient-norm clip of MIU's forget steps (minimising a frozen critic's bound diverges).
        retain_clip: gradient-norm clip of MIU's retain steps, or 0 for none (the default, as in the paper).
            The squared calibration term reads a DV bound whose log-mean-exp can spike on one batch. After the
            first forget pass such a step can cost 10 points of test accuracy in one epoch (seed 12 in the
            README). A clip of 1 prevents that, but it moves MIU's UA away from the reference's (README).
        schedule: ``"alternating"`` (the reference code) or ``"summed"`` (the paper's single loss).
        lr_schedule: ``"constant"`` (the CelebA MIU config) or ``"cosine"`` (annealed per epoch to 0, as
            some of the reference configs do); it applies to every approximate method alike.
        shared_estimator: one critic for both models (an ablation; the code uses two).
        calibration: keep the calibration loss (off: the no-calibration ablation).
        l1_alpha: L1-sparse's initial penalty (decays linearly to 0).
        scrub_alpha: SCRUB's weight of the distillation term on the retain set.
        scrub_gamma: SCRUB's weight of the cross-entropy on the retain set.
        scrub_temperature: SCRUB's distillation temperature.
        scrub_max_epochs: epochs with SCRUB's max steps on D_f (its ``msteps``).
        salun_sparsity: fraction of weights SalUn keeps frozen (the least salient).
        neggrad_beta: NegGrad+'s weight of the retain loss (1 − β on the negated forget loss).
    """

    epochs: int = 10
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 5e-4
    batch_size: int = 128
    forgetting_epochs: int = 5
    mine_lr: float = 0.01
    mine_hidden: int = 512
    mine_warmup_batches: int = 100
    mine_batches: int = 10
    lambda_mi: float = 1.0
    forget_clip: float = 1.0
    retain_clip: float = 0.0
    schedule: str = "alternating"
    lr_schedule: str = "cosine"
    shared_estimator: bool = False
    calibration: bool = True
    l1_alpha: float = 1e-4
    scrub_alpha: float = 0.001
    scrub_gamma: float = 0.99
    scrub_temperature: float = 4.0
    scrub_max_epochs: int = 2
    salun_sparsity: float = 0.5
    neggrad_beta: float = 0.95


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


def index_batches(
    n: int, batch_size: int, generator: torch.Generator, weights: torch.Tensor | None = None
) -> Iterator[torch.Tensor]:
    """One epoch of index batches over ``n`` items: a shuffle, or ``n`` weighted draws with replacement.

    With weights this is a weighted random sampler (what the reference code feeds REWEIGHT's weights to).
    """
    order = (
        torch.randperm(n, generator=generator)
        if weights is None
        else torch.multinomial(weights.double(), n, replacement=True, generator=generator)
    )
    for i in range(0, n, batch_size):
        yield order[i : i + batch_size]


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

    The cosine schedule is stepped per epoch, not per batch, so that methods with different numbers of
    steps per epoch (a forget pass plus a retain pass, or a retain pass alone) follow the same curve.
    """
    if cfg.lr_schedule == "constant":
        lr = cfg.lr
    elif cfg.lr_schedule == "cosine":
        lr = 0.5 * cfg.lr * (1 + math.cos(math.pi * epoch / cfg.epochs))
    else:
        raise ValueError(f"lr_schedule: expected 'constant' or 'cosine', got {cfg.lr_schedule!r}")
    for group in opt.param_groups:
        group["lr"] = lr


def new_model(cfg: TrainConfig, size: int) -> Classifier:
    return build_model(cfg.arch, size, cfg.width, cfg.feat_dim, weights=cfg.weights)


def train_classifier(
    data: GroupData, cfg: TrainConfig, generator: torch.Generator, weights: torch.Tensor | None = None, progress=None
) -> Classifier:
    """Train a fresh CNN with cross-entropy: pre-training (all of D_tr) or retraining (D_r, optionally weighted).

    Args:
        data: the training data.
        cfg: the budget.
        generator: seeds the initialisation and the batches.
        weights: per-sample sampling weights ``[N]`` (REWEIGHT), or None.
        progress: called once per epoch, if given.
    """
    torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=generator)))
    model = new_model(cfg, data.x.shape[-1])
    opt = sgd(model, cfg.lr, cfg.momentum, cfg.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.epochs * -(-len(data) // cfg.batch_size))
    model.train()
    for _ in range(cfg.epochs):
        for x, y, _g in batches(data, cfg.batch_size, generator, weights):
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        if progress is not None:
            progress()
    return model.eval()


def retrain(task: UnlearnTask, cfg: TrainConfig, generator: torch.Generator, progress=None) -> Classifier:
    """Exact unlearning: train from scratch on D_r, with REWEIGHT's sampler when ``task.reweight``."""
    return train_classifier(task.retain, cfg, generator, task.retain_sample_weights(), progress)


def copy_model(model: Classifier) -> Classifier:
    out = copy.deepcopy(model)
    out.train()
    return out
