"""Transformer pieces shared by the tokenizer, the text encoder, the text projector and the DiTs.

Attention is plain softmax (``scaled_dot_product_attention``); RoPE and SwiGLU are the tokenizer's
changes over TA-TiTok.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def sincos_1d(length: int, width: int) -> torch.Tensor:
    """Fixed sin-cos position embedding, shape ``(length, width)`` (width even)."""
    pos = torch.arange(length, dtype=torch.float64)[:, None]
    freq = torch.exp(-math.log(10000.0) * torch.arange(0, width, 2, dtype=torch.float64) / width)
    angle = pos * freq  # [L, W/2]
    return torch.cat([angle.sin(), angle.cos()], dim=1).float()


def rope(x: torch.Tensor) -> torch.Tensor:
    """Rotary position embedding over the sequence axis.

    Args:
        x: queries or keys, shape ``(B, H, L, Dh)`` with ``Dh`` even.

    Returns:
        ``x`` rotated by position-dependent angles, same shape.
    """
    _, _, length, dh = x.shape
    freq = 1.0 / (10000.0 ** (torch.arange(0, dh, 2, device=x.device, dtype=torch.float32) / dh))
    angle = torch.arange(length, device=x.device, dtype=torch.float32)[:, None] * freq  # [L, Dh/2]
    cos, sin = angle.cos().to(x.dtype), angle.sin().to(x.dtype)
    x1, x2 = x[..., 0::2], x[..., 1::2]
    return torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1).flatten(-2)


class Attention(nn.Module):
    """Multi-head self-attention (softmax), optionally with RoPE on queries and keys.

    Args:
        width: model width.
        heads: number of heads (divides ``width``).
        use_rope: rotate queries and keys by position.
    """

    def __init__(self, width: int, heads: int, use_rope: bool = False) -> None:
        super().__init__()
        if width % heads:
            raise ValueError(f"heads: expected a divisor of width {width}, got {heads}")
        self.heads, self.use_rope = heads, use_rope
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, length, w = x.shape
        q, k, v = self.qkv(x).view(b, length, 3, self.heads, w // self.heads).permute(2, 0, 3, 1, 4)  # [B, H, L, Dh]
        if self.use_rope:
            q, k = rope(q), rope(k)
        out = F.scaled_dot_product_attention(q, k, v)  # [B, H, L, Dh]
        return self.proj(out.transpose(1, 2).reshape(b, length, w))


class SwiGLU(nn.Module):
    """SwiGLU feed-forward: ``W2 (silu(W1 x) ⊙ W3 x)``."""

    def __init__(self, width: int, hidden: int) -> None:
        super().__init__()
        self.w13 = nn.Linear(width, 2 * hidden)
        self.w2 = nn.Linear(hidden, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.w13(x).chunk(2, dim=-1)
        return self.w2(F.silu(a) * b)


class Block(nn.Module):
    """Pre-norm transformer block.

    Args:
        width: model width.
        heads: attention heads.
        hidden: feed-forward width.
        use_rope: RoPE in attention (the tokenizer).
        swiglu: SwiGLU instead of a GELU MLP (the tokenizer).
        dropout: dropout after attention and feed-forward (the text projector uses 0.1).
    """

    def __init__(
        self, width: int, heads: int, hidden: int, use_rope: bool = False, swiglu: bool = False, dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(width)
        self.attn = Attention(width, heads, use_rope)
        self.norm2 = nn.LayerNorm(width)
        if swiglu:
            self.mlp = SwiGLU(width, hidden)
        else:
            self.mlp = nn.Sequential(nn.Linear(width, hidden), nn.GELU(), nn.Linear(hidden, width))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``(B, L, width)`` -> ``(B, L, width)``."""
        x = x + self.drop(self.attn(self.norm1(x)))
        return x + self.drop(self.mlp(self.norm2(x)))
