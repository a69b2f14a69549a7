"""The classifier: a 2-conv CNN with an explicit feature extractor f_θ (Z, 64-d) and an ``fc`` head h_φ."""

from __future__ import annotations

import torch
from torch import nn


class SmallCNN(nn.Module):
    """Two conv blocks, a linear layer to the features Z, and the linear head ``fc``.

    Args:
        in_channels: image channels.
        size: image side (divisible by 4).
        width: channels of the first conv (the second has twice as many).
        feat_dim: dimension of Z, the input of ``fc`` (64 in the acceptance experiment).
        n_classes: number of targets.
    """

    def __init__(self, in_channels: int = 3, size: int = 16, width: int = 8, feat_dim: int = 64, n_classes: int = 2):
        super().__init__()
        if size % 4 != 0:
            raise ValueError(f"size: expected a multiple of 4, got {size}")
        self.in_channels, self.size, self.feat_dim = in_channels, size, feat_dim
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(2 * width * (size // 4) ** 2, feat_dim),
            nn.ReLU(),
        )
        self.fc = nn.Linear(feat_dim, n_classes)

    def _check(self, x: torch.Tensor) -> None:
        expected = (self.in_channels, self.size, self.size)
        if x.dim() != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(f"x: expected shape [B, {', '.join(map(str, expected))}], got {list(x.shape)}")

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Z = f_θ(x). ``[B, C, S, S] -> [B, feat_dim]``."""
        self._check(x)
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits h_φ(f_θ(x)). ``[B, C, S, S] -> [B, n_classes]``."""
        return self.fc(self.features(x))
