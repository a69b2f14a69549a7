"""Baseline mixers: causal multi-head attention (with a KV cache for decoding, optional entmax) and an LSTM."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from paperzoo.ssmsurvey.layers.common import check_sequence


def rotary(x: torch.Tensor, positions: torch.Tensor, base: float = 10000.0) -> torch.Tensor:
    """Rotary position embedding of ``x [B, heads, L, d]`` at integer ``positions [L]``."""
    d = x.shape[-1]
    freqs = base ** (-torch.arange(0, d, 2, device=x.device, dtype=torch.float32) / d)  # [d/2]
    angles = positions.to(torch.float32)[:, None] * freqs  # [L, d/2]
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
    x1, x2 = x[..., 0::2], x[..., 1::2]
    return torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1).flatten(-2)


class CausalAttention(nn.Module):
    """Causal multi-head self-attention with rotary positions, a position-wise MLP and a KV cache.

    Args:
        d_model: model width.
        n_heads: heads; must divide ``d_model``.
        attention: ``"softmax"`` or ``"entmax15"`` (the shared ``entmax_attention`` kernel).
        mlp_ratio: width of the GELU MLP after attention (0: none).
    """

    def __init__(self, d_model: int, n_heads: int = 4, attention: str = "softmax", mlp_ratio: int = 2) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"n_heads: must divide d_model = {d_model}, got {n_heads}")
        if attention not in ("softmax", "entmax15"):
            raise ValueError(f"attention: expected 'softmax' or 'entmax15', got {attention!r}")
        self.d_model, self.n_heads, self.attention = d_model, n_heads, attention
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=False)
        self.out = nn.Linear(d_model, d_model, bias=False)
        self.mlp = (
            nn.Sequential(nn.Linear(d_model, mlp_ratio * d_model), nn.GELU(), nn.Linear(mlp_ratio * d_model, d_model))
            if mlp_ratio
            else None
        )

    def _heads(self, t: torch.Tensor) -> torch.Tensor:
        B, L, _ = t.shape
        return t.view(B, L, self.n_heads, -1).transpose(1, 2)  # [B, heads, L, d]

    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool) -> torch.Tensor:
        if self.attention == "entmax15":
            from paperzoo.kernels.entmax import entmax_attention

            return entmax_attention(q, k, v, alpha=1.5, causal=causal)
        return F.scaled_dot_product_attention(q, k, v, is_causal=causal)

    def _finish(self, hidden: torch.Tensor, attn: torch.Tensor) -> torch.Tensor:
        B, _, L, _ = attn.shape
        y = self.out(attn.transpose(1, 2).reshape(B, L, self.d_model))
        if self.mlp is not None:
            y = y + self.mlp(y)
        return y

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        """``[B, L, d_model] -> [B, L, d_model]``."""
        check_sequence("hidden", hidden, self.d_model)
        q, k, v = (self._heads(t) for t in self.qkv(hidden).chunk(3, dim=-1))
        pos = torch.arange(hidden.shape[1], device=hidden.device)
        return self._finish(hidden, self._attend(rotary(q, pos), rotary(k, pos), v, causal=True))

    def init_state(self, batch: int, device: torch.device | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """An empty KV cache ``(k, v)``, each ``[B, heads, 0, d]``."""
        empty = torch.zeros(batch, self.n_heads, 0, self.d_model // self.n_heads, device=device)
        return empty, empty.clone()

    def step(
        self, hidden: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """One decode step against the KV cache: cost grows with the cache length.

        Args:
            hidden: ``[B, d_model]``.
            state: the KV cache ``(k, v)``, each ``[B, heads, T, d]``.

        Returns:
            ``([B, d_model], cache with T + 1 entries)``.
        """
        k_cache, v_cache = state
        q, k, v = (self._heads(t) for t in self.qkv(hidden[:, None]).chunk(3, dim=-1))
        pos = torch.tensor([k_cache.shape[2]], device=hidden.device)
        k_cache = torch.cat([k_cache, rotary(k, pos)], dim=2)
        v_cache = torch.cat([v_cache, v], dim=2)
        attn = self._attend(rotary(q, pos), k_cache, v_cache, causal=False)
        return self._finish(hidden, attn)[:, 0], (k_cache, v_cache)


class LSTMMixer(nn.Module):
    """A single-layer LSTM as a sequence mixer.

    Args:
        d_model: input and hidden width.
    """

    def __init__(self, d_model: int) -> None:
        super().__init__()
        self.d_model = d_model
        self.lstm = nn.LSTM(d_model, d_model, batch_first=True)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        """``[B, L, d_model] -> [B, L, d_model]``."""
        check_sequence("hidden", hidden, self.d_model)
        return self.lstm(hidden)[0]
