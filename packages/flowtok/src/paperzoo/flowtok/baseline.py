"""The text-as-condition baseline: flow matching from Gaussian noise, text tokens concatenated in the sequence.

This is the usual T2I recipe FlowTok argues against: the source is ``N(0, I)`` and the ``N`` text tokens join
the ``N`` image tokens in one sequence of ``2N`` (in-context conditioning, as in SD3/Show-o style models).
Same DiT blocks, width and depth as FlowTok; guidance drops the text to a learned null sequence.
"""

from __future__ import annotations

import torch
from torch import nn

from paperzoo.flowtok.layers import sincos_1d
from paperzoo.flowtok.model import DiTBlock, FinalLayer, TimeEmbedder, check_times, check_tokens


class CondFlowDiT(nn.Module):
    """Velocity field ``v(x_t, t, text)`` with the text concatenated to the image tokens.

    Args:
        num_tokens: ``N`` (image and text tokens alike).
        latent_dim: ``D``.
        text_dim: ``C``.
        width: model width.
        depth: DiT blocks.
        heads: attention heads.
        mlp_ratio: MLP width over model width.
    """

    def __init__(
        self,
        num_tokens: int = 8,
        latent_dim: int = 8,
        text_dim: int = 64,
        width: int = 128,
        depth: int = 4,
        heads: int = 4,
        mlp_ratio: float = 4.0,
    ) -> None:
        super().__init__()
        self.num_tokens, self.latent_dim, self.text_dim = num_tokens, latent_dim, text_dim
        self.x_in = nn.Linear(latent_dim, width)
        self.text_in = nn.Linear(text_dim, width)
        self.null_text = nn.Parameter(torch.zeros(num_tokens, text_dim))
        self.register_buffer("pos", sincos_1d(2 * num_tokens, width))
        self.t_embed = TimeEmbedder(width)
        self.blocks = nn.ModuleList([DiTBlock(width, heads, mlp_ratio) for _ in range(depth)])
        self.final = FinalLayer(width, latent_dim)

    def forward(
        self, x_t: torch.Tensor, t: torch.Tensor, text: torch.Tensor, null_indicator: torch.Tensor
    ) -> torch.Tensor:
        """Velocity at ``(x_t, t)`` given the text.

        Args:
            x_t: ``(B, N, D)``.
            t: ``(B,)``, 0 at the noise and 1 at the image latent.
            text: ``(B, N, C)`` text embeddings.
            null_indicator: ``(B,)`` 0/1; 1 replaces the text by the learned null sequence.

        Returns:
            The velocity, ``(B, N, D)``.
        """
        check_tokens("x_t", x_t, self.num_tokens, self.latent_dim)
        check_tokens("text", text, self.num_tokens, self.text_dim)
        check_times(t, len(x_t))
        keep = (null_indicator == 0).to(text.dtype)[:, None, None]
        text = keep * text + (1 - keep) * self.null_text
        x = torch.cat([self.text_in(text), self.x_in(x_t)], dim=1) + self.pos  # [B, 2N, W]
        c = self.t_embed(t)
        for block in self.blocks:
            x = block(x, c)
        return self.final(x[:, self.num_tokens :], c)
