"""Pieces the LTI-era layers share: the position-wise output stage and input checks."""

from __future__ import annotations

import math

import torch
from torch import nn


class OutputStage(nn.Module):
    """GELU, then either a gated linear unit (``gated``) or a plain linear map, as in the S4/S4D blocks.

    Args:
        d_model: channels ``H``.
        gated: ``Linear(H, 2H)`` + GLU (multiplicative gating); otherwise ``Linear(H, H)``.
        dropout: dropout after the activation.
    """

    def __init__(self, d_model: int, gated: bool = True, dropout: float = 0.0) -> None:
        super().__init__()
        self.gated = gated
        self.act = nn.GELU()
        self.drop = nn.Dropout(dropout)
        self.proj = nn.Linear(d_model, 2 * d_model if gated else d_model)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        """``[B, L, H] -> [B, L, H]``."""
        y = self.proj(self.drop(self.act(y)))
        return nn.functional.glu(y, dim=-1) if self.gated else y


def check_sequence(name: str, x: torch.Tensor, d_model: int) -> None:
    """Raise ValueError unless ``x`` is ``[B, L, d_model]`` with L >= 1."""
    if x.dim() != 3 or x.shape[-1] != d_model or x.shape[1] < 1:
        raise ValueError(f"{name}: expected shape [batch, length, {d_model}], got {tuple(x.shape)}")


def log_uniform_dt(H: int, dt_min: float, dt_max: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """``log Δ`` drawn uniformly in ``[log dt_min, log dt_max]``, one per channel; ``[H]``."""
    u = torch.rand(H, generator=generator)
    return u * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)


def causal_fft_conv(u: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """Causal convolution ``y_l = sum_{j<=l} K_j u_{l-j}`` per channel, by FFT zero-padded to ``2L`` (no wrap-around).

    Args:
        u: ``[B, d, L]``.
        K: ``[d, L]`` the LTI SSM's kernel.

    Returns:
        ``[B, d, L]``.
    """
    L = u.shape[-1]
    n = 2 * L
    return torch.fft.irfft(torch.fft.rfft(u, n=n) * torch.fft.rfft(K, n=n), n=n)[..., :L]
