"""A tiny text-conditional DiT: patch tokens with self-attention, cross-attention to prompt tokens, and adaLN time.

The prompt reaches the image only through cross-attention (there is no pooled text vector in the
modulation), so how cross-attention spreads its mass over prompt words decides what the model draws.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from paperzoo.pladis.attention import DenseAttention
from paperzoo.pladis.config import ModelConfig
from paperzoo.pladis.vocab import IMAGE_SIZE


class Attention(nn.Module):
    """Multi-head attention whose core ``processor(q, k, v)`` can be swapped (see :func:`apply_pladis`).

    Args:
        dim: model width.
        heads: number of heads; ``dim`` must be divisible by it.
        is_cross_attention: True when keys and values come from the prompt tokens.
    """

    def __init__(self, dim: int, heads: int, is_cross_attention: bool) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"heads: expected a divisor of dim={dim}, got {heads}")
        self.heads = heads
        self.is_cross_attention = is_cross_attention
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.out = nn.Linear(dim, dim)
        self.processor: nn.Module = DenseAttention()

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        """``x [B, N, D]`` attends ``context [B, L, D]`` (cross) or itself (self) -> ``[B, N, D]``."""
        source = context if self.is_cross_attention else x
        b, n, d = x.shape
        q = self.q(x).view(b, n, self.heads, -1).transpose(1, 2)  # [B, H, N, Dh]
        k, v = self.kv(source).view(b, source.shape[1], 2, self.heads, -1).permute(2, 0, 3, 1, 4)  # [B, H, L, Dh]
        o = self.processor(q, k, v)  # [B, H, N, Dh]
        return self.out(o.transpose(1, 2).reshape(b, n, d))


class Block(nn.Module):
    """Self-attention, cross-attention and an MLP, each pre-normed and modulated by the time (adaLN-zero).

    Args:
        cfg: the model's config (``dim``, ``heads``, ``mlp_ratio``).
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        dim = cfg.dim
        self.norms = nn.ModuleList([nn.LayerNorm(dim, elementwise_affine=False) for _ in range(3)])
        self.self_attn = Attention(dim, cfg.heads, is_cross_attention=False)
        self.cross_attn = Attention(dim, cfg.heads, is_cross_attention=True)
        hidden = int(dim * cfg.mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
        self.modulation = nn.Linear(dim, 9 * dim)
        nn.init.zeros_(self.modulation.weight)
        nn.init.zeros_(self.modulation.bias)

    def forward(self, x: torch.Tensor, context: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        """``x [B, N, D]``, ``context [B, L, D]``, ``temb [B, D]`` -> ``[B, N, D]``."""
        mods = self.modulation(temb).unsqueeze(1).chunk(9, dim=-1)  # 9 x [B, 1, D]
        layers = (self.self_attn, lambda h: self.cross_attn(h, context), self.mlp)
        for i, layer in enumerate(layers):
            shift, scale, gate = mods[3 * i : 3 * i + 3]
            x = x + gate * layer(self.norms[i](x) * (1 + scale) + shift)
        return x


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal features of ``t [B]`` in ``[0, 1]`` -> ``[B, dim]``."""
    half = dim // 2
    freqs = torch.exp(-math.log(1000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    angles = 1000.0 * t.float()[:, None] * freqs[None] / 10.0
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


class TinyDiT(nn.Module):
    """Velocity model ``v(x_t, t, prompt)`` for 16x16 RGB images.

    Args:
        cfg: width, depth, heads, patch size and prompt vocabulary (:class:`~paperzoo.pladis.config.ModelConfig`).
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        dim, patch = cfg.dim, cfg.patch
        self.patch, self.vocab_size, self.max_prompt_len = patch, cfg.vocab_size, cfg.max_prompt_len
        n_tokens = (IMAGE_SIZE // patch) ** 2
        self.embed = nn.Linear(3 * patch * patch, dim)
        self.pos = nn.Parameter(torch.randn(1, n_tokens, dim) * 0.02)
        self.words = nn.Embedding(cfg.vocab_size, dim)
        self.time = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, dim))
        self.blocks = nn.ModuleList([Block(cfg) for _ in range(cfg.depth)])
        self.final_norm = nn.LayerNorm(dim, elementwise_affine=False)
        self.final_mod = nn.Linear(dim, 2 * dim)
        self.head = nn.Linear(dim, 3 * patch * patch)
        for layer in (self.final_mod, self.head):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor, t: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """Predict the flow velocity.

        Args:
            x: ``[B, 3, 16, 16]`` state at time t (t = 0 noise, t = 1 data).
            t: ``[B]`` times in ``[0, 1]``.
            tokens: ``[B, L]`` long prompt token ids (0 = null).

        Returns:
            ``[B, 3, 16, 16]`` velocity.
        """
        if x.dim() != 4 or x.shape[1:] != (3, IMAGE_SIZE, IMAGE_SIZE):
            raise ValueError(f"x: expected shape (B, 3, {IMAGE_SIZE}, {IMAGE_SIZE}), got {tuple(x.shape)}")
        b = x.shape[0]
        if t.shape != (b,):
            raise ValueError(f"t: expected shape ({b},), got {tuple(t.shape)}")
        if tokens.dim() != 2 or tokens.shape[0] != b or tokens.dtype != torch.long:
            raise ValueError(
                f"tokens: expected a long tensor of shape ({b}, L), got {tokens.dtype} {tuple(tokens.shape)}"
            )
        if tokens.shape[1] > self.max_prompt_len or bool((tokens < 0).any()) or bool((tokens >= self.vocab_size).any()):
            raise ValueError(f"tokens: expected ids in [0, {self.vocab_size}) and L <= {self.max_prompt_len}")
        p, side = self.patch, IMAGE_SIZE // self.patch
        patches = x.view(b, 3, side, p, side, p).permute(0, 2, 4, 1, 3, 5).reshape(b, side * side, 3 * p * p)
        h = self.embed(patches) + self.pos  # [B, N, D]
        context = self.words(tokens)  # [B, L, D]
        temb = self.time(timestep_embedding(t, h.shape[-1]))  # [B, D]
        for block in self.blocks:
            h = block(h, context, temb)
        shift, scale = self.final_mod(temb).unsqueeze(1).chunk(2, dim=-1)
        out = self.head(self.final_norm(h) * (1 + scale) + shift)  # [B, N, 3 p p]
        return out.view(b, side, side, 3, p, p).permute(0, 3, 1, 4, 2, 5).reshape(b, 3, IMAGE_SIZE, IMAGE_SIZE)
