"""The typed configs: the networks, the flow objective, the pre-training stages and the experiment.

``FlowTokDiT(cfg)``, ``TextProjector(cfg)`` and ``AlignmentHead(cfg)`` build from a :class:`ModelConfig`; the
LightningModules take a :class:`ModelConfig`, a :class:`FlowConfig` and an ``OptimConfig`` whole; the
acceptance experiment (:class:`ExperimentConfig`) holds the same objects and builds every arm from them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from paperzoo.core import OptimConfig

KL_FORMS = ("standard", "crossflow")
ALIGN_TARGETS = ("mlp", "avgpool")
ALIGN_LOSSES = ("contrastive", "cosine")
T_SAMPLERS = ("uniform", "logit_normal")
I2T_CAPTIONS = ("all", "one")


def _check_positive_ints(**values: object) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}: expected an integer >= 1, got {value!r}")


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name}: expected one of {', '.join(choices)}, got {value!r}")


def flow_optim(**overrides: object) -> OptimConfig:
    """AdamW as every flow run uses it: betas (0.9, 0.95), weight decay 0.03, a 50-step linear warm-up, then a
    constant rate (lr 1e-3 unless overridden)."""
    fields = {"lr": 1e-3, "weight_decay": 0.03, "betas": (0.9, 0.95), "warmup_steps": 50, "schedule": "constant"}
    return OptimConfig(**{**fields, **overrides})


@dataclass
class ModelConfig:
    """FlowTok's networks: the text projector (a text VAE), the alignment head and the DiT velocity net.

    The text-as-condition baseline reads the DiT fields (and ``text_dim``) only.
    """

    num_tokens: int = 8
    """``N``: caption tokens, and image latent tokens (the data's ``CAPTION_LENGTH``)."""
    latent_dim: int = 8
    """``D``: channels per latent token, text and image alike."""
    text_dim: int = 64
    """``C``: width of the frozen text embeddings ``T_init``."""
    width: int = 128
    """DiT width."""
    depth: int = 4
    """DiT blocks."""
    heads: int = 4
    """DiT attention heads (divides ``width``)."""
    mlp_ratio: float = 4.0
    """DiT MLP width over model width."""
    projector_depth: int = 2
    """Text projector blocks (6 in the paper)."""
    projector_width: int = 64
    """Text projector width."""
    projector_heads: int = 4
    """Text projector attention heads (divides ``projector_width``)."""
    projector_hidden: int = 128
    """Text projector feed-forward width."""
    projector_dropout: float = 0.1
    """Text projector dropout (0.1 in the reference code)."""
    stochastic: bool = True
    """Sample ``Z_T = μ + σ ε``; False is the ``Z_T = μ`` ablation."""
    align_target: str = "mlp"
    """Alignment target ``T_P``: ``"mlp"`` (a per-token MLP) or ``"avgpool"`` (average over ``C / D`` channels)."""
    align_loss: str = "contrastive"
    """Alignment loss: ``"contrastive"`` (symmetric CE at a learnable temperature) or ``"cosine"`` (``1 - cos``)."""
    align_hidden: int = 64
    """Hidden width of the alignment MLP."""

    def __post_init__(self) -> None:
        _check_positive_ints(
            num_tokens=self.num_tokens,
            latent_dim=self.latent_dim,
            text_dim=self.text_dim,
            width=self.width,
            depth=self.depth,
            heads=self.heads,
            projector_depth=self.projector_depth,
            projector_width=self.projector_width,
            projector_heads=self.projector_heads,
            projector_hidden=self.projector_hidden,
            align_hidden=self.align_hidden,
        )
        if self.width % self.heads:
            raise ValueError(f"heads: expected a divisor of width {self.width}, got {self.heads}")
        if self.width % 2:
            raise ValueError(f"width: expected an even width (sin-cos positions), got {self.width}")
        if self.projector_width % self.projector_heads:
            raise ValueError(
                f"projector_heads: expected a divisor of projector_width {self.projector_width}, "
                f"got {self.projector_heads}"
            )
        if not self.mlp_ratio > 0:
            raise ValueError(f"mlp_ratio: expected a positive number, got {self.mlp_ratio}")
        if not 0 <= self.projector_dropout < 1:
            raise ValueError(f"projector_dropout: expected a probability in [0, 1), got {self.projector_dropout}")
        _check_choice("align_target", self.align_target, ALIGN_TARGETS)
        _check_choice("align_loss", self.align_loss, ALIGN_LOSSES)
        if self.align_target == "avgpool" and self.text_dim % self.latent_dim:
            raise ValueError(
                f"align_target: avgpool needs text_dim ({self.text_dim}) divisible by latent_dim ({self.latent_dim})"
            )


@dataclass
class FlowConfig:
    """The flow-matching objective ``L = L_fm + γ1 L_kld + γ2 L_align``, the guidance and the sampler."""

    gamma_kl: float = 1e-4
    """``γ1``, weight of the text VAE's KL (the paper's 1e-4; the released code uses 0.01)."""
    gamma_align: float = 1.0
    """``γ2``, weight of the alignment loss (0: none)."""
    kl_form: str = "standard"
    """``"standard"`` KL, or ``"crossflow"``, the reference code's ``-½ Σ (1 + log σ² - (0.3 μ)⁶ - σ²)``."""
    t_sampler: str = "uniform"
    """Training times: ``"uniform"`` (the paper) or ``"logit_normal"`` (the reference code)."""
    null_prob: float = 0.1
    """Probability of the null indicator (and target swap) per training sample."""
    guidance: float = 2.0
    """Indicator-guidance scale ``s`` at sampling (1: the conditional field only)."""
    steps: int = 20
    """Euler steps at sampling."""
    ema_decay: float = 0.995
    """Decay of the exponential moving average of the weights that sampling uses after training (0: the last
    weights). 0.995 is a half-life of about 140 steps, a fraction of the 1000-step tiny budget."""

    def __post_init__(self) -> None:
        if self.gamma_kl < 0:
            raise ValueError(f"gamma_kl: expected a non-negative weight, got {self.gamma_kl}")
        if self.gamma_align < 0:
            raise ValueError(f"gamma_align: expected a non-negative weight, got {self.gamma_align}")
        _check_choice("kl_form", self.kl_form, KL_FORMS)
        _check_choice("t_sampler", self.t_sampler, T_SAMPLERS)
        if not 0 <= self.null_prob < 1:
            raise ValueError(f"null_prob: expected a probability in [0, 1), got {self.null_prob}")
        _check_positive_ints(steps=self.steps)
        if not 0 <= self.ema_decay < 1:
            raise ValueError(f"ema_decay: expected a number in [0, 1), got {self.ema_decay}")


@dataclass
class StageConfig:
    """Sizes and budgets of the pre-training stages: mini-CLIP (stage 0), the 1-D tokenizer and the oracle."""

    num_pairs: int = 20000
    """Training pairs of every stage (and of the flow runs)."""
    batch_size: int = 128
    """Batch size of the stages."""
    text_dim: int = 64
    """``C``, width of the text encoder."""
    clip_steps: int = 150
    """Mini-CLIP steps."""
    tokenizer_width: int = 64
    """Tokenizer ViT width."""
    tokenizer_depth: int = 2
    """Tokenizer encoder and decoder blocks."""
    latent_dim: int = 8
    """``D``, channels per image latent token."""
    tokenizer_kl_weight: float = 1e-6
    """Weight of the tokenizer posterior's per-element KL."""
    tokenizer_steps: int = 1500
    """Tokenizer steps. At 600 the oracle recognised the shape on only 0.71 of the reconstructions."""
    oracle_pairs: int = 8000
    """Renders the oracle trains on (its own stream, never the generator's)."""
    oracle_steps: int = 500
    """Oracle steps."""
    optim: OptimConfig = field(
        default_factory=lambda: OptimConfig(
            lr=2e-3, weight_decay=0.0, betas=(0.9, 0.95), warmup_steps=20, schedule="constant"
        )
    )
    """AdamW of every stage: a 20-step warm-up, then a constant rate."""

    def __post_init__(self) -> None:
        _check_positive_ints(
            num_pairs=self.num_pairs,
            batch_size=self.batch_size,
            text_dim=self.text_dim,
            clip_steps=self.clip_steps,
            tokenizer_width=self.tokenizer_width,
            tokenizer_depth=self.tokenizer_depth,
            latent_dim=self.latent_dim,
            tokenizer_steps=self.tokenizer_steps,
            oracle_pairs=self.oracle_pairs,
            oracle_steps=self.oracle_steps,
        )
        if self.tokenizer_kl_weight < 0:
            raise ValueError(f"tokenizer_kl_weight: expected a non-negative weight, got {self.tokenizer_kl_weight}")


@dataclass
class ExperimentConfig:
    """Sizes and budgets of the acceptance experiment; every arm is built from ``model``, ``flow`` and ``optim``."""

    stages: StageConfig = field(default_factory=StageConfig)
    """The pre-training stages (data, mini-CLIP, tokenizer, oracle)."""
    model: ModelConfig = field(default_factory=ModelConfig)
    """FlowTok's networks (width 128, depth 4); the baseline gets the same DiT width and depth, and the ablations
    change one field each."""
    flow: FlowConfig = field(default_factory=lambda: FlowConfig(kl_form="crossflow"))
    """The objective and the sampler of every arm: the paper's ``γ1 = 1e-4`` with the reference code's KL form
    (at 1000 steps, seed 0, it reached 0.89 accuracy against 0.76 for the standard KL, whose ``μ²`` term also
    shrinks ``μ``), guidance 2, 20 Euler steps. Every arm is evaluated with the weight average (decay 0.995):
    seed 0 at 1000 steps, FlowTok reached 0.906 accuracy with the last weights, 0.940 with the average; at
    1500 steps with the average 0.957 / 0.967 / 0.982 on seeds 0 / 1 / 2."""
    optim: OptimConfig = field(default_factory=lambda: flow_optim(lr=2e-3))
    """AdamW of the text-to-image arms (FlowTok, its ablations, the baseline)."""
    i2t_optim: OptimConfig = field(default_factory=flow_optim)
    """AdamW of the image-to-text flow (lr 1e-3)."""
    train_steps: int = 1500
    """Optimiser steps of every flow run (the shared budget)."""
    batch_size: int = 128
    """Flow batch size."""
    strong_kl: float = 1e-2
    """``γ1`` of the alignment runs (the released code's 0.01)."""
    eval_repeats: int = 8
    """Captions per combination in the evaluation set (64 combinations)."""
    diversity_samples: int = 8
    """Samples per caption for the diversity measure."""
    bench_batch: int = 512
    """Batch of the throughput measurement."""
    bench_reps: int = 5
    """Timed repetitions of the throughput measurement (alternating methods; the median counts)."""
    i2t_captions: str = "one"
    """The captions the image-to-text flow learns to reach: ``"one"``, template 0 of each image's attributes, or
    ``"all"``, every training caption (three templates, as the text-to-image runs). A flow from the deterministic
    ``Z_I`` is a deterministic map: with three phrasings per image it lands between their ``Z_T`` modes."""

    def __post_init__(self) -> None:
        _check_choice("i2t_captions", self.i2t_captions, I2T_CAPTIONS)
        _check_positive_ints(
            train_steps=self.train_steps,
            batch_size=self.batch_size,
            eval_repeats=self.eval_repeats,
            diversity_samples=self.diversity_samples,
            bench_batch=self.bench_batch,
            bench_reps=self.bench_reps,
        )
        if self.diversity_samples < 2:
            raise ValueError(
                f"diversity_samples: expected at least 2 samples per caption, got {self.diversity_samples}"
            )
        if (self.model.latent_dim, self.model.text_dim) != (self.stages.latent_dim, self.stages.text_dim):
            raise ValueError(
                f"model: expected the stages' latent_dim {self.stages.latent_dim} and text_dim {self.stages.text_dim}, "
                f"got {self.model.latent_dim} and {self.model.text_dim}"
            )
