"""The package's configs: the video LMM (:class:`ModelConfig`), its Mamba-2 mixer (:class:`Mamba2Config`), the
SynthHour generator (:class:`SynthHourConfig`) and the acceptance experiment (:class:`ExperimentConfig`).

``TinyLMM(cfg)`` and the baselines build from a :class:`ModelConfig`; ``VambaModule(model=..., optim=...)`` takes
it whole (``--model.model.d_model 96``, or a ``model: {model: {...}, optim: {...}}`` block in the YAML), and the
experiment holds the same objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from paperzoo.core.optim import OptimConfig

ARCHS = ("vamba", "transformer", "pooled", "ca_only", "question_only")
"""The experiment's arms: Vamba, the full and the pooled Transformer LMM, CA-only and question-only."""


def _positive(owner: object, *names: str) -> None:
    for name in names:
        value = getattr(owner, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name}: expected a positive integer, got {value!r}")


@dataclass
class Mamba2Config:
    """The Mamba-2 mixer (SSD). Defaults are the released Vamba mixer's."""

    d_model: int = 96
    """Width of the states the mixer reads and writes."""
    d_state: int = 128
    """State size ``N``."""
    d_conv: int = 4
    """Width of the causal depthwise conv."""
    expand: int = 2
    """Inner width ``E = expand * d_model``."""
    headdim: int = 64
    """Head size ``P`` (``E / P`` heads, each with one scalar ``A``)."""
    ngroups: int = 1
    """Groups of ``B`` and ``C``; must divide the number of heads."""
    chunk_size: int = 256
    """Chunk length of the SSD scan."""
    A_init_range: tuple[float, float] = (1.0, 16.0)
    """``A = -exp(A_log)`` starts uniform in ``-[low, high]``."""
    dt_min: float = 0.001
    """Smallest initial step ``dt`` (log-uniform between ``dt_min`` and ``dt_max``)."""
    dt_max: float = 0.1
    """Largest initial step ``dt``."""
    dt_init_floor: float = 1e-4
    """Initial ``dt`` is clamped from below to this."""
    conv_bias: bool = True
    """A bias in the depthwise conv."""
    recompute: bool = False
    """Keep only the in-projection's output for backward and recompute the conv, the scan and the gated norm
    there, as the fused Mamba-2 kernel of the released code does (a second mixer forward for less memory)."""

    def __post_init__(self) -> None:
        _positive(self, "d_model", "d_state", "d_conv", "expand", "headdim", "ngroups", "chunk_size")
        inner = self.expand * self.d_model
        if inner % self.headdim:
            raise ValueError(f"headdim: expected a divisor of expand * d_model = {inner}, got {self.headdim}")
        heads = inner // self.headdim
        if heads % self.ngroups:
            raise ValueError(f"ngroups: expected a divisor of the {heads} Mamba heads, got {self.ngroups}")
        self.A_init_range = (float(self.A_init_range[0]), float(self.A_init_range[1]))
        if not 0 < self.A_init_range[0] <= self.A_init_range[1]:
            raise ValueError(f"A_init_range: expected 0 < low <= high, got {self.A_init_range}")
        if not 0 < self.dt_min <= self.dt_max:
            raise ValueError(f"dt_min: expected 0 < dt_min <= dt_max = {self.dt_max}, got {self.dt_min}")


@dataclass
class ModelConfig:
    """Sizes and switches of the tiny video LMM (defaults: the acceptance experiment's d = 96, 3 layers)."""

    vocab_size: int = 31
    """Text vocabulary: SynthHour's 21 words and 10 digits."""
    d_model: int = 96
    """Decoder width ``d``."""
    n_layers: int = 3
    """Decoder layers."""
    n_heads: int = 4
    """Query heads of self- and cross-attention; must divide ``d_model``."""
    n_kv_heads: int = 2
    """Key/value heads (GQA); must divide ``n_heads``."""
    mlp_hidden: int = 256
    """SwiGLU hidden width."""
    frame_size: int = 32
    """Frame height and width in pixels."""
    patch_size: int = 8
    """Patch side; must divide ``frame_size``."""
    channels: int = 3
    """Colour channels of a frame."""
    vit_dim: int = 96
    """Width of the frame encoder (ViT)."""
    vit_layers: int = 1
    """ViT blocks (attention inside one frame only)."""
    vit_heads: int = 4
    """ViT heads; must divide ``vit_dim``."""
    max_frames: int = 64
    """The longest video (frames per row) the model accepts."""
    max_text: int = 64
    """The longest text (tokens per row)."""
    d_state: int = 32
    """Mamba-2 state size ``N``."""
    d_conv: int = 4
    """Mamba-2 causal conv width."""
    expand: int = 2
    """Mamba-2 inner width ``E = expand * d``."""
    headdim: int = 32
    """Mamba-2 head size ``P`` (``E / P`` heads)."""
    ngroups: int = 1
    """Mamba-2 groups of ``B`` and ``C``."""
    chunk_size: int = 64
    """Chunk length of the SSD scan."""
    ca_layer_norm: bool = False
    """Normalise the video states before cross-attention (released default: off)."""
    alpha_balancing: bool = False
    """``h + a SA + (1 - a) CA`` with a learned ``a`` (released default: off)."""
    ca_rope: bool = False
    """RoPE on cross-attention Q/K (released default: off)."""
    use_mixer: bool = True
    """Run the Mamba-2 mixer on the video (False gives the CA-only ablation)."""
    mixer_recompute: bool = True
    """The mixer recomputes its conv, scan and gated norm in backward (:attr:`Mamba2Config.recompute`); False
    keeps every activation."""

    def __post_init__(self) -> None:
        _positive(self, "vocab_size", "d_model", "n_layers", "n_heads", "n_kv_heads", "mlp_hidden", "frame_size")
        _positive(self, "patch_size", "channels", "vit_dim", "vit_layers", "vit_heads", "max_frames", "max_text")
        if self.frame_size % self.patch_size:
            raise ValueError(f"patch_size: expected a divisor of frame_size = {self.frame_size}, got {self.patch_size}")
        if self.d_model % self.n_heads:
            raise ValueError(f"n_heads: expected a divisor of d_model = {self.d_model}, got {self.n_heads}")
        if self.n_heads % self.n_kv_heads:
            raise ValueError(f"n_kv_heads: expected a divisor of n_heads = {self.n_heads}, got {self.n_kv_heads}")
        if self.vit_dim % self.vit_heads:
            raise ValueError(f"vit_heads: expected a divisor of vit_dim = {self.vit_dim}, got {self.vit_heads}")
        _ = self.mixer  # building the mixer's config validates its sizes

    @property
    def patches_per_frame(self) -> int:
        """Video tokens per frame."""
        return (self.frame_size // self.patch_size) ** 2

    @property
    def mixer(self) -> Mamba2Config:
        """The Mamba-2 mixer of each decoder layer."""
        return Mamba2Config(
            d_model=self.d_model,
            d_state=self.d_state,
            d_conv=self.d_conv,
            expand=self.expand,
            headdim=self.headdim,
            ngroups=self.ngroups,
            chunk_size=self.chunk_size,
            recompute=self.mixer_recompute,
        )


@dataclass
class SynthHourConfig:
    """The SynthHour generator."""

    frames: int = 16
    """``T``, frames per video."""
    frame_size: int = 32
    """``S``, pixels per side (a multiple of 8, the glyph size)."""
    glyphs_per_video: int | None = None
    """Glyph events scattered over the video (None: one per frame on average)."""
    noise: float = 0.15
    """Standard deviation of the background noise."""

    def __post_init__(self) -> None:
        if self.frames < 2:
            raise ValueError(f"frames: expected at least 2 frames per video, got {self.frames}")
        if self.frame_size < 8 or self.frame_size % 8:
            raise ValueError(f"frame_size: expected a positive multiple of 8 (the glyph size), got {self.frame_size}")


@dataclass
class SweepConfig:
    """The efficiency sweep of ``reproduce``: forward + backward of batch 1 at growing video lengths."""

    frames: tuple[int, ...] = (64, 128, 256, 512)
    """Frame counts ``T`` (the time and memory claims read ``T = 256``, or the middle one without it)."""
    repeats: int = 2
    """Timed repetitions per point, after one warm-up."""

    def __post_init__(self) -> None:
        self.frames = tuple(int(f) for f in self.frames)
        if len(self.frames) < 2 or any(f < 1 for f in self.frames):
            raise ValueError(f"frames: expected at least two positive frame counts, got {self.frames}")
        _positive(self, "repeats")


@dataclass
class ExperimentConfig:
    """The acceptance experiment: every arm's model and optimiser, the step budget and the efficiency sweep.

    Every arm trains ``sum(steps of curriculum)`` optimiser steps of ``batch_size``; Vamba and CA-only take the
    Transformer's checkpoint after ``pre_steps``, train ``stage1_steps`` in stage 1 and the rest in stage 2.
    """

    model: ModelConfig = field(default_factory=ModelConfig)
    """The model of every arm (``build_model`` sets ``use_mixer`` per arm)."""
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=3e-3, weight_decay=0.01, warmup_steps=20))
    """AdamW of the Transformer, pooled and question-only arms (the stages set their own ``lr``); the cosine
    decay runs over each training call's steps."""
    stage1_lr: float = 3e-3
    """Learning rate of stage 1 (cross-attention, Mamba-2 mixer, alpha)."""
    stage2_lr: float = 2e-3
    """Learning rate of stage 2 (everything but the frozen vision encoder)."""
    batch_size: int = 16
    """Samples per optimiser step."""
    curriculum: tuple[tuple[int, int], ...] = ((4, 1000), (16, 400))
    """``(frames, steps)`` phases of the video length, the same for every arm."""
    pre_steps: int = 600
    """Transformer steps before the checkpoint Vamba is converted from (the "pretrained LMM")."""
    stage1_steps: int = 200
    """Stage-1 steps (also those of the initialisation ablation)."""
    vision_steps: int = 300
    """Steps of the frame encoder's pretraining on per-patch labels."""
    frames: int = 16
    """``T`` of the validation and test videos (the accuracies are measured at this length)."""
    val_size: int = 256
    """Validation questions (the stage-1 losses of the initialisation claim)."""
    test_size: int = 600
    """Test questions."""
    sweep: SweepConfig = field(default_factory=SweepConfig)
    """The efficiency sweep (not part of the trained arms' cache key)."""

    def __post_init__(self) -> None:
        self.curriculum = tuple((int(f), int(n)) for f, n in self.curriculum)
        _positive(self, "batch_size", "stage1_steps", "frames", "val_size", "test_size")
        for name in ("pre_steps", "vision_steps"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}: expected a non-negative number of steps, got {getattr(self, name)}")
        if self.pre_steps + self.stage1_steps > self.main_steps:
            raise ValueError(
                f"curriculum: expected at least pre_steps + stage1_steps = {self.pre_steps + self.stage1_steps} "
                f"steps, got {self.main_steps}"
            )

    @property
    def main_steps(self) -> int:
        """Optimiser steps of every arm."""
        return sum(n for _, n in self.curriculum)
