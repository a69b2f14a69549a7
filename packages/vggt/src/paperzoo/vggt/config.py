"""The typed configs of VGGT: the model (:class:`ModelConfig`) and its multitask loss (:class:`LossConfig`).

``VGGT(cfg)`` builds the model from a :class:`ModelConfig`; the LightningModule takes both configs whole, with
the shared :class:`~paperzoo.core.optim.OptimConfig`; the acceptance experiment (``reproduce.py``) holds the same
objects. On the command line they are nested options: ``--model.model.dim 64``, ``--model.loss.camera_loss
huber``, ``--model.optim.lr 1e-3``.
"""

from __future__ import annotations

from dataclasses import dataclass

ATTN_MODES = ("aa", "frame", "global", "cross")
CAMERA_LOSSES = ("l1", "huber")


def _at_least(name: str, value: float, low: float, what: str = "an integer") -> None:
    if value < low:
        raise ValueError(f"{name}: expected {what} >= {low}, got {value}")


@dataclass
class ModelConfig:
    """The VGGT model: patch stem, Alternating-Attention aggregator, camera, DPT and track heads.

    The defaults are the acceptance experiment's model; ``configs/gpu.yaml`` sets the paper's scale
    (patch 14, width 1024, 24 + 24 blocks).
    """

    patch_size: int = 8
    """Patch side of the conv stem; image sides must be multiples of it."""
    dim: int = 128
    """Aggregator token width C; the heads read 2C (frame and global outputs concatenated)."""
    depth: int = 4
    """Block pairs of the aggregator (the paper's 24 frame + 24 global blocks are ``depth: 24``)."""
    num_heads: int = 4
    """Attention heads of the aggregator and the camera head; ``dim / num_heads`` must be a multiple of 4."""
    mlp_ratio: float = 4.0
    """MLP hidden width over the token width."""
    num_registers: int = 4
    """Register tokens per frame (frame 1 has its own set, frames 2..N share another)."""
    attn_mode: str = "aa"
    """The block pair: ``aa`` (frame then global attention, the paper), ``frame``, ``global`` or ``cross``."""
    layer_scale: float = 0.01
    """LayerScale initial value of the aggregator's blocks."""
    rope_base: float = 100.0
    """Frequency base of the 2D rotary position embedding inside each frame."""
    camera_dim: int = 128
    """Width of the camera head's trunk."""
    camera_trunk_depth: int = 4
    """Self-attention blocks of the camera head over the frames' camera tokens."""
    camera_iterations: int = 4
    """Iterative refinements of the camera head (each adaLN-conditioned on the current estimate)."""
    dpt_layers: int = 4
    """Block pairs the DPT head reads (the last ``dpt_layers``); at most ``depth``."""
    dpt_features: int = 64
    """Fused feature width of the DPT head."""
    dpt_out_features: int = 32
    """Width of the DPT head's dense features at full resolution."""
    track_dim: int = 16
    """Channels of the tracking features the DPT head outputs."""
    track_iterations: int = 4
    """Refinement iterations of the track head."""

    def __post_init__(self) -> None:
        if self.attn_mode not in ATTN_MODES:
            raise ValueError(f"attn_mode: expected one of {ATTN_MODES}, got {self.attn_mode!r}")
        positive = ("patch_size", "dim", "depth", "num_heads", "camera_iterations")
        for name in (*positive, "dpt_features", "dpt_out_features", "track_dim", "track_iterations"):
            _at_least(name, getattr(self, name), 1)
        _at_least("num_registers", self.num_registers, 0)
        _at_least("camera_trunk_depth", self.camera_trunk_depth, 0)
        _at_least("camera_dim", self.camera_dim, 2)
        if self.mlp_ratio <= 0:
            raise ValueError(f"mlp_ratio: expected a positive ratio, got {self.mlp_ratio}")
        if self.rope_base <= 0:
            raise ValueError(f"rope_base: expected a positive frequency base, got {self.rope_base}")
        if self.dim % self.num_heads or (self.dim // self.num_heads) % 4:
            raise ValueError(
                f"dim: expected a multiple of {4 * self.num_heads} (4 x num_heads: 2D RoPE rotates quarters of "
                f"each head), got {self.dim}"
            )
        if self.camera_dim % self.num_heads:
            raise ValueError(f"camera_dim: expected a multiple of num_heads={self.num_heads}, got {self.camera_dim}")
        if not 1 <= self.dpt_layers <= self.depth:
            raise ValueError(f"dpt_layers: expected 1..depth={self.depth}, got {self.dpt_layers}")


@dataclass
class LossConfig:
    """VGGT's multitask loss ``L = L_camera + L_depth + L_pmap + λ L_track``."""

    camera_loss: str = "l1"
    """``l1`` (the released code) or ``huber`` (the paper's text) on the 9-D pose encoding."""
    huber_delta: float = 0.1
    """δ of the Huber camera loss."""
    camera_gamma: float = 0.6
    """Discount over camera refinements: iteration ``k`` of ``n`` weighs ``gamma^(n - k)``."""
    conf_alpha: float = 0.2
    """α of the ``−α log Σ`` term of the confidence-weighted depth and point losses."""
    gradient_weight: float = 1.0
    """Weight of the confidence-weighted gradient terms of the depth and point losses."""
    track_weight: float = 0.05
    """λ of the track loss."""

    def __post_init__(self) -> None:
        if self.camera_loss not in CAMERA_LOSSES:
            raise ValueError(f"camera_loss: expected one of {CAMERA_LOSSES}, got {self.camera_loss!r}")
        if self.huber_delta <= 0:
            raise ValueError(f"huber_delta: expected a positive δ, got {self.huber_delta}")
        if self.camera_gamma <= 0:
            raise ValueError(f"camera_gamma: expected a positive discount, got {self.camera_gamma}")
        for name in ("conf_alpha", "gradient_weight", "track_weight"):
            _at_least(name, getattr(self, name), 0.0, "a weight")
