"""A frozen CLIP stand-in: a small text transformer pre-trained against images ("mini-CLIP", stage 0).

FlowTok feeds frozen CLIP token embeddings ``T_init`` (77×768) to its text projector. CLIP weights cannot be
used offline, so stage 0 trains a small text encoder (token embedding plus 2 transformer layers, output
``C = 64`` per token, much wider than the latent's ``D``) contrastively against a small image CNN, then
freezes it. Only the text side is used afterwards.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from paperzoo.flowtok.data import CAPTION_LENGTH, VOCAB
from paperzoo.flowtok.layers import Block


class TextEncoder(nn.Module):
    """Token embedding plus transformer layers: caption ids -> per-token embeddings ``T_init``.

    Args:
        dim: output width ``C`` per token.
        depth: transformer layers.
        heads: attention heads.
    """

    def __init__(self, dim: int = 64, depth: int = 2, heads: int = 4) -> None:
        super().__init__()
        self.dim = dim
        self.embed = nn.Embedding(len(VOCAB), dim)
        self.pos = nn.Parameter(0.02 * torch.randn(CAPTION_LENGTH, dim))
        self.blocks = nn.ModuleList([Block(dim, heads, 2 * dim) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Embed captions.

        Args:
            tokens: ids, shape ``(B, N)`` with ``N = CAPTION_LENGTH``.

        Returns:
            ``T_init``, shape ``(B, N, C)``.
        """
        if tokens.dim() != 2 or tokens.shape[1] != CAPTION_LENGTH:
            raise ValueError(f"tokens: expected shape (B, {CAPTION_LENGTH}), got {tuple(tokens.shape)}")
        x = self.embed(tokens) + self.pos  # [B, N, C]
        for block in self.blocks:
            x = block(x)
        return self.norm(x)


class ImageTower(nn.Module):
    """The image side of mini-CLIP: a small CNN to one embedding per image, shape ``(B, dim)``."""

    def __init__(self, dim: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, 32, 3, stride=2, padding=1),
            nn.SiLU(),
            nn.Conv2d(32, 64, 3, stride=2, padding=1),
            nn.SiLU(),
            nn.Conv2d(64, 64, 3, stride=2, padding=1),
            nn.SiLU(),
            nn.Flatten(),
            nn.Linear(64 * 16, dim),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images * 2 - 1)


class MiniCLIP(nn.Module):
    """Text encoder and image tower trained with the symmetric CLIP loss (learnable temperature)."""

    def __init__(self, dim: int = 64, depth: int = 2, heads: int = 4) -> None:
        super().__init__()
        self.text = TextEncoder(dim, depth, heads)
        self.image = ImageTower(dim)
        self.log_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))

    def loss(self, images: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """CLIP loss of a batch of ``(B, 3, 32, 32)`` images and ``(B, N)`` captions."""
        text = F.normalize(self.text(tokens).mean(dim=1), dim=-1)  # [B, C]
        image = F.normalize(self.image(images), dim=-1)
        logits = self.log_scale.exp().clamp(max=100) * image @ text.T  # [B, B]
        labels = torch.arange(len(images), device=images.device)
        return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels))
