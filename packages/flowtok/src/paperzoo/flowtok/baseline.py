"""The text-as-condition baseline: flow matching from Gaussian noise, text tokens concatenated in the sequence.

This is the usual T2I recipe FlowTok argues against: the source is ``N(0, I)`` and the ``N`` text tokens join
the ``N`` image tokens in one sequence of ``2N`` (in-context conditioning, as in SD3/Show-o style models).
Same DiT blocks, width and depth as FlowTok; guidance drops the text to a learned null sequence.
"""

from __future__ import annotations

import torch
from torch import nn

from paperzoo.flowtok.config import ModelConfig
from paperzoo.flowtok.layers import sincos_1d
from paperzoo.flowtok.model import DiTBlock, FinalLayer, TimeEmbedder, check_times, check_tokens


class CondFlowDiT(nn.Module):
    """Velocity field ``v(x_t, t, text)`` with the text concatenated to the image tokens.

    Args:
        cfg: the networks' config; the baseline reads ``num_tokens`` (image and text tokens alike),
            ``latent_dim``, ``text_dim`` and the DiT fields ``width``, ``depth``, ``heads``, ``mlp_ratio``.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.num_tokens, self.latent_dim, self.text_dim = cfg.num_tokens, cfg.latent_dim, cfg.text_dim
        self.x_in = nn.Linear(cfg.latent_dim, cfg.width)
        self.text_in = nn.Linear(cfg.text_dim, cfg.width)
        self.null_text = nn.Parameter(torch.zeros(cfg.num_tokens, cfg.text_dim))
        self.register_buffer("pos", sincos_1d(2 * cfg.num_tokens, cfg.width))
        self.t_embed = TimeEmbedder(cfg.width)
        self.blocks = nn.ModuleList([DiTBlock(cfg.width, cfg.heads, cfg.mlp_ratio) for _ in range(cfg.depth)])
        self.final = FinalLayer(cfg.width, cfg.latent_dim)

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
