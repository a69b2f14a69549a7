"""The package's configs: dataclasses whose fields carry their docstrings, validated on construction.

The classifier is built as ``build_model(ModelConfig(...))``; ``PretrainModule`` takes a ``ModelConfig`` and an
``SGDConfig`` whole; ``GroupShiftDataModule`` takes a ``DataConfig``; the experiment
(:class:`~paperzoo.grmu.experiment.ExperimentConfig`) holds the same objects, so ``fit --config configs/tiny.yaml``
and ``reproduce`` pre-train the same model in the same way. The approximate-unlearning methods read an
``UnlearnConfig``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

ARCHS = ("cnn", "resnet18")
LOCAL_KINDS = ("waterbirds", "celeba")
KINDS = ("groupshift", "digits", *LOCAL_KINDS)
SCHEDULES = ("alternating", "summed")
LR_SCHEDULES = ("constant", "cosine")


def _positive(**values: float) -> None:
    for name, value in values.items():
        if value <= 0:
            raise ValueError(f"{name}: expected a positive value, got {value}")


@dataclass
class ModelConfig:
    """The classifier: a feature extractor f_θ that gives Z, and a linear head ``fc`` (h_φ) on Z."""

    arch: str = "cnn"
    """``"cnn"`` (two conv blocks, the acceptance experiment's) or ``"resnet18"`` (the paper's backbone)."""
    size: int = 16
    """Image side: a multiple of 4 for the CNN, at least 32 px for ResNet-18."""
    width: int = 8
    """Channels of the CNN's first conv (the second has twice as many); ResNet-18 does not read it."""
    feat_dim: int = 64
    """Dimension of the CNN's features Z, the input of ``fc``; ResNet-18's Z is 512-d whatever this says."""
    n_classes: int = 2
    """Number of targets."""
    in_channels: int = 3
    """Image channels."""
    weights: str | None = None
    """A local ResNet-18 checkpoint (a state dict with torchvision's parameter names) for everything but ``fc``,
    or None to train from scratch."""

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise ValueError(f"arch: expected one of {', '.join(ARCHS)}, got {self.arch!r}")
        _positive(size=self.size, width=self.width, feat_dim=self.feat_dim)
        _positive(n_classes=self.n_classes, in_channels=self.in_channels)
        if self.arch == "cnn" and self.size % 4 != 0:
            raise ValueError(f"size: expected a multiple of 4 for the CNN, got {self.size}")
        if self.arch == "resnet18" and self.size < 32:
            raise ValueError(f"size: expected at least 32 px for ResNet-18, got {self.size}")
        if self.arch == "cnn" and self.weights is not None:
            raise ValueError(
                f"weights: expected None, since only arch 'resnet18' loads a checkpoint; got {self.weights!r}"
            )


@dataclass
class SGDConfig:
    """SGD with momentum, and a cosine decay of the rate to 0 over the run, stepped per optimiser step."""

    lr: float = 0.05
    """Learning rate at the first step."""
    momentum: float = 0.9
    """SGD momentum."""
    weight_decay: float = 5e-4
    """L2 weight decay (added to the gradient, as torch's SGD does)."""

    def __post_init__(self) -> None:
        _positive(lr=self.lr)
        if not 0 <= self.momentum < 1:
            raise ValueError(f"momentum: expected a value in [0, 1), got {self.momentum}")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay: expected a non-negative value, got {self.weight_decay}")

    def build(self, params: Any, total_steps: float | None = None) -> dict[str, Any]:
        """SGD over ``params``; with a finite ``total_steps``, torch's ``CosineAnnealingLR`` over that many steps.

        Returns:
            What ``LightningModule.configure_optimizers`` returns (no scheduler for an unbounded run).
        """
        optimizer = torch.optim.SGD(params, lr=self.lr, momentum=self.momentum, weight_decay=self.weight_decay)
        if total_steps is None or total_steps == float("inf"):
            return {"optimizer": optimizer}
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, max(1, int(total_steps)))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


@dataclass
class TrainConfig:
    """Training a classifier from scratch with cross-entropy: pre-training, and retraining (exact unlearning)."""

    epochs: int = 8
    """Epochs over the training (or retain) set."""
    batch_size: int = 128
    """Batch size."""
    optim: SGDConfig = field(default_factory=SGDConfig)
    """The optimiser and its per-step cosine schedule."""

    def __post_init__(self) -> None:
        _positive(epochs=self.epochs, batch_size=self.batch_size)


@dataclass
class DataConfig:
    """The group-shifted data: a synthetic task, or one of the paper's benchmarks read from a local folder.

    In the synthetic training split the attribute agrees with the target with probability ``p_align``;
    validation and test are group-balanced. A local benchmark brings its own group shift; its splits are
    capped at ``n_train``, ``n_val`` and ``n_test`` samples (a seeded random subset).
    """

    kind: str = "groupshift"
    """``"groupshift"`` (strokes on coloured backgrounds), ``"digits"`` (scikit-learn's digits, coloured), or a
    local benchmark, ``"waterbirds"`` or ``"celeba"`` (read from ``root``)."""
    n_train: int = 20000
    """Training samples (group-shifted)."""
    n_val: int = 2000
    """Validation samples (group-balanced)."""
    n_test: int = 4000
    """Test samples (group-balanced)."""
    p_align: float = 0.9
    """p(a = y) in the synthetic training split."""
    size: int = 16
    """Image side."""
    root: str | None = None
    """The local benchmark's folder, in its official layout (only for ``waterbirds`` and ``celeba``)."""
    target: str = "Attractive"
    """CelebA's target attribute (the paper's other split uses ``Blond_Hair``)."""
    sensitive: str = "Male"
    """CelebA's sensitive attribute."""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind: expected one of {', '.join(KINDS)}, got {self.kind!r}")
        _positive(n_train=self.n_train, n_val=self.n_val, n_test=self.n_test, size=self.size)
        if not 0.5 < self.p_align < 1.0:
            raise ValueError(f"p_align: expected a probability in (0.5, 1), got {self.p_align}")
        if self.kind in LOCAL_KINDS and self.root is None:
            raise ValueError(f"root: expected the folder kind {self.kind!r} reads its data from, got None")
        if self.root is not None:
            self.root = str(self.root)


@dataclass
class UnlearnConfig:
    """Approximate unlearning: one budget for every method, plus each method's own knobs."""

    epochs: int = 10
    """Unlearning epochs (the paper caps them at 10)."""
    lr: float = 0.01
    """SGD learning rate of the first epoch."""
    momentum: float = 0.9
    """SGD momentum."""
    weight_decay: float = 5e-4
    """L2 weight decay."""
    batch_size: int = 128
    """Batch size."""
    forgetting_epochs: int = 5
    """Epochs that contain a forget pass (MIU, NegGrad+, SalUn), counted from the first; SCRUB's max steps
    have their own count."""
    mine_lr: float = 0.01
    """SGD learning rate of the MINE critics."""
    mine_hidden: int = 512
    """Hidden width of the MINE critics."""
    mine_warmup_batches: int = 100
    """MINE tuning batches before epoch 0."""
    mine_batches: int = 10
    """MINE tuning batches before every later epoch."""
    lambda_mi: float = 1.0
    """λ, the weight of the calibration loss."""
    forget_clip: float = 1.0
    """Gradient-norm clip of MIU's forget steps (minimising a frozen critic's bound diverges)."""
    retain_clip: float = 0.0
    """Gradient-norm clip of MIU's retain steps, or 0 for none (the default, as in the paper).

    The squared calibration term reads a DV bound whose log-mean-exp can spike on one batch. After the first
    forget pass such a step can cost 10 points of test accuracy in one epoch (seed 12 in the README). A clip of
    1 prevents that, but it moves MIU's UA away from the reference's (README)."""
    schedule: str = "alternating"
    """``"alternating"`` (the reference code: a forget pass, then a retain pass) or ``"summed"`` (the paper's
    single loss)."""
    lr_schedule: str = "cosine"
    """``"constant"`` (the CelebA MIU config) or ``"cosine"`` (annealed per epoch towards 0, as some of the
    reference configs do); it applies to every approximate method alike."""
    shared_estimator: bool = False
    """One critic for both models (an ablation; the code uses two)."""
    calibration: bool = True
    """Keep the calibration loss (off: the no-calibration ablation)."""
    l1_alpha: float = 1e-4
    """L1-sparse's initial penalty (decays linearly to 0)."""
    scrub_alpha: float = 0.001
    """SCRUB's weight of the distillation term on the retain set."""
    scrub_gamma: float = 0.99
    """SCRUB's weight of the cross-entropy on the retain set."""
    scrub_temperature: float = 4.0
    """SCRUB's distillation temperature."""
    scrub_max_epochs: int = 2
    """Epochs with SCRUB's max steps on D_f (its ``msteps``)."""
    salun_sparsity: float = 0.5
    """Fraction of weights SalUn keeps frozen (the least salient)."""
    neggrad_beta: float = 0.95
    """NegGrad+'s weight of the retain loss (1 − β on the negated forget loss)."""

    def __post_init__(self) -> None:
        _positive(epochs=self.epochs, lr=self.lr, batch_size=self.batch_size, mine_lr=self.mine_lr)
        _positive(mine_hidden=self.mine_hidden, scrub_temperature=self.scrub_temperature)
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule: expected 'alternating' or 'summed', got {self.schedule!r}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule: expected 'constant' or 'cosine', got {self.lr_schedule!r}")
        if not 0 <= self.salun_sparsity < 1:
            raise ValueError(f"salun_sparsity: expected a fraction in [0, 1), got {self.salun_sparsity}")
        for name in (
            "forgetting_epochs",
            "mine_warmup_batches",
            "mine_batches",
            "lambda_mi",
            "forget_clip",
            "retain_clip",
            "l1_alpha",
            "scrub_max_epochs",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}: expected a non-negative value, got {getattr(self, name)}")
