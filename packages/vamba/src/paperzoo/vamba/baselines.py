"""The baselines of the acceptance experiment.

- :class:`TransformerLMM` with ``video="full"``: a Transformer LMM of equal size, causal self-attention over
  ``[video; text]`` with RoPE over the whole sequence (quadratic in ``M + N``);
- ``video="pooled"``: the same, with each frame's video tokens average-pooled to one token first;
- ``video="none"``: the question-only model (text alone);
- CA-only (Vamba without the Mamba-2 mixer) is :class:`~paperzoo.vamba.model.TinyLMM` with
  ``use_mixer=False``; see :func:`build_model`.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from paperzoo.vamba.config import ARCHS, ModelConfig
from paperzoo.vamba.model import Attention, LMMBase, SwiGLU, TinyLMM, check_text, rope_cos_sin


class TransformerDecoderLayer(nn.Module):
    """A Qwen2-style pre-norm layer: causal SA then SwiGLU MLP, over every token of ``[video; text]``.

    Parameter names match :class:`~paperzoo.vamba.model.VambaDecoderLayer`, so conversion copies by name.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.input_layernorm = nn.RMSNorm(cfg.d_model, eps=1e-6)
        self.self_attn = Attention(cfg.d_model, cfg.n_heads, cfg.n_kv_heads)
        self.post_attention_layernorm = nn.RMSNorm(cfg.d_model, eps=1e-6)
        self.mlp = SwiGLU(cfg.d_model, cfg.mlp_hidden)

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """``x [B, L, d] -> [B, L, d]``, causal."""
        x = x + self.self_attn(self.input_layernorm(x), causal=True, rope_q=rope, rope_k=rope)
        return x + self.mlp(self.post_attention_layernorm(x))


class TransformerLMM(LMMBase):
    """The Transformer LMM baseline: one causal sequence ``[video; text]``.

    Args:
        cfg: model sizes (shared with Vamba).
        video: ``"full"`` (every video token), ``"pooled"`` (one average token per frame) or ``"none"``
            (question-only).
    """

    def __init__(self, cfg: ModelConfig, video: str = "full") -> None:
        super().__init__(cfg)
        if video not in ("full", "pooled", "none"):
            raise ValueError(f"video: expected 'full', 'pooled' or 'none', got {video!r}")
        self.video = video
        self.layers = nn.ModuleList(TransformerDecoderLayer(cfg) for _ in range(cfg.n_layers))

    def forward(
        self,
        frames: torch.Tensor,
        text: torch.Tensor,
        frame_seq_idx: torch.Tensor | None = None,
        text_seq_idx: torch.Tensor | None = None,
        packed: bool = False,
    ) -> torch.Tensor:
        """Next-token logits of the text ``[B, N, vocab]`` from ``frames [B, T, C, S, S]`` and ``text [B, N]``.

        Raises:
            ValueError: bad shapes, or a packed batch (the baselines train on unpacked rows only).
        """
        if packed or frame_seq_idx is not None or text_seq_idx is not None:
            raise ValueError("TransformerLMM: packed rows are not supported; pass frames (batch, T, C, S, S) unpacked")
        b = frames.shape[0] if isinstance(frames, torch.Tensor) else 0
        self.vision.check_frames(frames)
        check_text(text, self.cfg, b)
        h = self.embed_tokens(text)  # [B, N, d]
        if self.video != "none":
            v = self.vision(frames)  # [B, M, d]
            if self.video == "pooled":
                v = v.view(b, frames.shape[1], self.cfg.patches_per_frame, -1).mean(dim=2)  # [B, T, d]
            h = torch.cat([v, h], dim=1)  # [B, M + N, d]
        L = h.shape[1]
        rope = rope_cos_sin(torch.arange(L, device=h.device).expand(b, L), self.head_dim)
        for layer in self.layers:
            h = layer(h, rope)
        return self.lm_head(self.norm(h[:, L - text.shape[1] :]))


def build_model(arch: str, cfg: ModelConfig) -> nn.Module:
    """The model of one experiment arm: ``vamba``, ``transformer``, ``pooled``, ``ca_only``, ``question_only``."""
    if arch == "vamba":
        return TinyLMM(dataclasses.replace(cfg, use_mixer=True))
    if arch == "ca_only":
        return TinyLMM(dataclasses.replace(cfg, use_mixer=False))
    if arch == "transformer":
        return TransformerLMM(cfg, "full")
    if arch == "pooled":
        return TransformerLMM(cfg, "pooled")
    if arch == "question_only":
        return TransformerLMM(cfg, "none")
    raise ValueError(f"arch: expected one of {ARCHS}, got {arch!r}")
