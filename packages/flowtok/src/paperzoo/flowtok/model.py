"""The FlowTok velocity network: a plain DiT over the ``N`` latent tokens, with adaLN-Zero.

The text never enters this network: its forward takes exactly ``(x_t, t, null_indicator)``. The text only
sets the ODE's starting point ``x0 = Z_T``. The conditioning vector is ``c = t_emb + null_indicator_emb``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from paperzoo.flowtok.config import ModelConfig
from paperzoo.flowtok.layers import Attention, sincos_1d


def timestep_embedding(t: torch.Tensor, dim: int, scale: float = 1000.0) -> torch.Tensor:
    """Sinusoidal embedding of times ``(B,)`` in ``[0, 1]``, shape ``(B, dim)``."""
    half = dim // 2
    freq = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    angle = scale * t.float()[:, None] * freq  # [B, dim/2]
    return torch.cat([angle.cos(), angle.sin()], dim=-1)


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """adaLN modulation of ``(B, L, W)`` by per-sample ``(B, W)`` shift and scale."""
    return x * (1 + scale[:, None]) + shift[:, None]


class DiTBlock(nn.Module):
    """DiT block with adaLN-Zero: attention and MLP gated by zero-initialised modulations of ``c``.

    Args:
        width: model width.
        heads: attention heads.
        mlp_ratio: MLP width over model width.
    """

    def __init__(self, width: int, heads: int, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(width, heads)
        self.norm2 = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        hidden = int(width * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(width, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, width))
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(width, 6 * width))
        nn.init.zeros_(self.ada[1].weight)
        nn.init.zeros_(self.ada[1].bias)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """``x``: ``(B, L, W)``; ``c``: ``(B, W)``."""
        s1, g1, a1, s2, g2, a2 = self.ada(c).chunk(6, dim=-1)  # each [B, W]
        x = x + a1[:, None] * self.attn(modulate(self.norm1(x), s1, g1))
        return x + a2[:, None] * self.mlp(modulate(self.norm2(x), s2, g2))


class FinalLayer(nn.Module):
    """adaLN, then a zero-initialised linear map back to ``D`` channels."""

    def __init__(self, width: int, out_dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(width, 2 * width))
        self.linear = nn.Linear(width, out_dim)
        for layer in (self.ada[1], self.linear):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        shift, scale = self.ada(c).chunk(2, dim=-1)
        return self.linear(modulate(self.norm(x), shift, scale))


class TimeEmbedder(nn.Module):
    """Sinusoidal features of ``t`` through a 2-layer MLP, shape ``(B, width)``."""

    def __init__(self, width: int, freq_dim: int = 128) -> None:
        super().__init__()
        self.freq_dim = freq_dim
        self.mlp = nn.Sequential(nn.Linear(freq_dim, width), nn.SiLU(), nn.Linear(width, width))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.mlp(timestep_embedding(t, self.freq_dim))


def check_tokens(name: str, x: torch.Tensor, length: int, dim: int) -> None:
    """Raise ``ValueError`` unless ``x`` is a floating ``(B, length, dim)`` tensor."""
    if not isinstance(x, torch.Tensor) or x.dim() != 3 or tuple(x.shape[1:]) != (length, dim):
        got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{name}: expected shape (B, {length}, {dim}), got {got}")
    if not x.is_floating_point():
        raise ValueError(f"{name}: expected a floating tensor, got {x.dtype}")


def check_times(t: torch.Tensor, batch: int) -> None:
    """Raise ``ValueError`` unless ``t`` has shape ``(batch,)``."""
    if not isinstance(t, torch.Tensor) or tuple(t.shape) != (batch,):
        got = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
        raise ValueError(f"t: expected shape ({batch},), got {got}")


class FlowTokDiT(nn.Module):
    """Velocity field ``v(x_t, t, null_indicator)`` over ``N × D`` tokens; no text pathway.

    Args:
        cfg: the networks' config; the DiT reads ``num_tokens``, ``latent_dim``, ``width``, ``depth``, ``heads``
            and ``mlp_ratio``.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.num_tokens, self.latent_dim = cfg.num_tokens, cfg.latent_dim
        self.x_in = nn.Linear(cfg.latent_dim, cfg.width)
        self.register_buffer("pos", sincos_1d(cfg.num_tokens, cfg.width))
        self.t_embed = TimeEmbedder(cfg.width)
        self.null_embed = nn.Embedding(2, cfg.width)
        self.blocks = nn.ModuleList([DiTBlock(cfg.width, cfg.heads, cfg.mlp_ratio) for _ in range(cfg.depth)])
        self.final = FinalLayer(cfg.width, cfg.latent_dim)

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, null_indicator: torch.Tensor) -> torch.Tensor:
        """Velocity at ``(x_t, t)``.

        Args:
            x_t: the state, ``(B, N, D)``.
            t: times, ``(B,)``, 0 at the text latent and 1 at the image latent.
            null_indicator: ``(B,)`` 0/1 flags; 1 asks for the text-agnostic transport (guidance).

        Returns:
            The velocity, ``(B, N, D)``.
        """
        check_tokens("x_t", x_t, self.num_tokens, self.latent_dim)
        check_times(t, len(x_t))
        if not isinstance(null_indicator, torch.Tensor) or tuple(null_indicator.shape) != (len(x_t),):
            raise ValueError(f"null_indicator: expected shape ({len(x_t)},) of 0/1 flags")
        c = self.t_embed(t) + self.null_embed(null_indicator.long())  # [B, W]
        x = self.x_in(x_t) + self.pos  # [B, N, W]
        for block in self.blocks:
            x = block(x, c)
        return self.final(x, c)
