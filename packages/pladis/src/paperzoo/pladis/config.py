"""The configs of the package: the DiT, its flow-matching training and sampling, the data, and the experiment.

``TinyDiT(ModelConfig(...))`` builds the model; ``PladisFlowModule(model=, optim=, flow=)`` and
``ShapesDataModule(data=)`` take these objects whole (``configs/*.yaml`` nest them as ``model: {model: ...,
optim: ..., flow: ...}`` and ``data: {data: ...}``); :class:`ExperimentConfig` holds the same objects for
``reproduce``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from paperzoo.core.optim import OptimConfig
from paperzoo.pladis.vocab import IMAGE_SIZE, VOCAB


def _positive_int(name: str, value: object, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name}: expected an int >= {minimum}, got {value!r}")


@dataclass
class ModelConfig:
    """The text-conditional DiT (:class:`paperzoo.pladis.model.TinyDiT`)."""

    dim: int = 96
    """Width of the patch and prompt tokens."""
    depth: int = 4
    """Blocks; each has one self-attention and one cross-attention layer."""
    heads: int = 4
    """Attention heads; must divide ``dim``."""
    patch: int = 4
    """Patch size in pixels; must divide the 16-pixel image side."""
    mlp_ratio: float = 4.0
    """Hidden width of each block's MLP, as a multiple of ``dim``."""
    vocab_size: int = len(VOCAB)
    """Prompt vocabulary (token 0 is the null token)."""
    max_prompt_len: int = 64
    """Longest prompt accepted (the maths treats prompts as bags of words; this bounds inputs for a clear error)."""

    def __post_init__(self) -> None:
        for name in ("dim", "depth", "heads", "patch", "vocab_size", "max_prompt_len"):
            _positive_int(name, getattr(self, name))
        if self.dim % self.heads:
            raise ValueError(f"heads: expected a divisor of dim={self.dim}, got {self.heads}")
        if IMAGE_SIZE % self.patch:
            raise ValueError(f"patch: expected a divisor of {IMAGE_SIZE}, got {self.patch}")
        if not self.mlp_ratio > 0:
            raise ValueError(f"mlp_ratio: expected a positive number, got {self.mlp_ratio}")


@dataclass
class FlowConfig:
    """Rectified-flow training with condition dropout, and the sampler ``predict`` uses."""

    cond_dropout: float = 0.1
    """Probability of replacing a prompt by the null prompt in training (enables CFG)."""
    sample_steps: int = 25
    """Euler steps of ``predict`` (the paper samples with 25)."""
    cfg: float = 0.0
    """Classifier-free guidance scale of ``predict`` (0: none)."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.cond_dropout < 1.0:
            raise ValueError(f"cond_dropout: expected a probability in [0, 1), got {self.cond_dropout}")
        _positive_int("sample_steps", self.sample_steps)
        if not (math.isfinite(self.cfg) and self.cfg >= 0):
            raise ValueError(f"cfg: expected a finite guidance scale >= 0, got {self.cfg}")


@dataclass
class DataConfig:
    """CompositionalShapes splits (:class:`paperzoo.pladis.data.ShapesDataModule`)."""

    n_train: int = 8192
    """Training images."""
    n_val: int = 512
    """Validation (and test) images."""
    n_fillers: int = 8
    """Distractor words per prompt."""
    batch_size: int = 128
    """Images per batch."""
    seed: int = 0
    """The data seed (independent of the model initialisation)."""

    def __post_init__(self) -> None:
        for name in ("n_train", "n_val", "batch_size"):
            _positive_int(name, getattr(self, name))
        _positive_int("n_fillers", self.n_fillers, minimum=0)
        _positive_int("seed", self.seed, minimum=0)


def base_model_optim() -> OptimConfig:
    """The base model's AdamW: rate 2e-3, 50 steps of linear warm-up, then constant."""
    return OptimConfig(lr=2e-3, warmup_steps=50, schedule="constant")


@dataclass(frozen=True)
class ExperimentConfig:
    """Everything the acceptance experiment (``reproduce``) depends on.

    Part A (Hopfield retrieval) has its own fixed settings in :mod:`paperzoo.pladis.hopfield`; these fields
    are Part B's: the base model and its training, the sampling settings and the evaluation sizes.
    """

    model: ModelConfig = field(default_factory=ModelConfig)
    """The base model's DiT."""
    optim: OptimConfig = field(default_factory=base_model_optim)
    """The base model's optimiser."""
    flow: FlowConfig = field(default_factory=FlowConfig)
    """Condition dropout of the base model's training (its sampler fields are unused: see ``steps``, ``cfg``)."""
    data: DataConfig = field(default_factory=lambda: DataConfig(n_val=128))
    """The base model's training data; ``seed`` is replaced by each run's seed."""
    train_steps: int = 1200
    """Optimiser steps of the base model."""
    n_samples: int = 1024
    """Prompts (and images) per setting."""
    n_real: int = 2048
    """Real images the Fréchet distance compares with."""
    steps: int = 25
    """Euler steps of every setting."""
    cfg: float = 3.0
    """CFG scale w of the guided settings."""
    alpha: float = 1.5
    """entmax's α."""
    lam: float = 2.0
    """PLADIS' λ."""
    sweep: tuple[float, ...] = (0.0, 1.0, 1.5, 2.0, 3.0, 4.0)
    """The λ values of the sweep (no CFG)."""
    classifier_steps: int = 400
    """Training steps of the attribute classifier."""

    def __post_init__(self) -> None:
        for name in ("train_steps", "n_samples", "steps", "classifier_steps"):
            _positive_int(name, getattr(self, name))
        _positive_int("n_real", self.n_real, minimum=2)
        if not (math.isfinite(self.cfg) and self.cfg >= 0):
            raise ValueError(f"cfg: expected a finite guidance scale >= 0, got {self.cfg}")
        if not (math.isfinite(self.alpha) and self.alpha > 1):
            raise ValueError(f"alpha: expected a finite number > 1, got {self.alpha}")
        if not (math.isfinite(self.lam) and self.lam >= 0):
            raise ValueError(f"lam: expected a finite number >= 0, got {self.lam}")
        if not self.sweep or any(not (math.isfinite(x) and x >= 0) for x in self.sweep):
            raise ValueError(f"sweep: expected finite λ values >= 0, got {self.sweep}")
