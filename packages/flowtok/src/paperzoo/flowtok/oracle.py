"""The evaluation oracle: an attribute classifier trained on renders only.

The oracle is trained on its own freshly rendered images (a separate data stream, never the generator's
data or weights). It predicts shape, colour and quadrant (classification) and the object's size
(regression); the Fréchet distance (FD, ``paperzoo.eval.frechet_distance``) is measured in its penultimate
features.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from paperzoo.flowtok.data import SIZE_RANGE


class Oracle(nn.Module):
    """Small CNN with three 4-way heads and a size head.

    Args:
        feature_dim: width of the feature layer used for FD.
    """

    def __init__(self, feature_dim: int = 64) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 24, 3, stride=2, padding=1),
            nn.SiLU(),
            nn.Conv2d(24, 48, 3, stride=2, padding=1),
            nn.SiLU(),
            nn.Conv2d(48, 64, 3, stride=2, padding=1),
            nn.SiLU(),
            nn.Flatten(),
            nn.Linear(64 * 16, feature_dim),
            nn.SiLU(),
        )
        self.heads = nn.Linear(feature_dim, 3 * 4 + 1)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """``(B, 3, 32, 32)`` images in ``[0, 1]`` -> ``(B, feature_dim)``."""
        if images.dim() != 4 or tuple(images.shape[1:]) != (3, 32, 32):
            raise ValueError(f"images: expected shape (B, 3, 32, 32), got {tuple(images.shape)}")
        return self.body(images * 2 - 1)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Attribute logits ``(B, 3, 4)`` and normalised size ``(B,)``."""
        out = self.heads(self.features(images))
        return out[:, :12].view(-1, 3, 4), out[:, 12]

    def loss(self, images: torch.Tensor, attrs: torch.Tensor, size: torch.Tensor) -> torch.Tensor:
        """Attribute CE plus size MSE, on renders blurred by a random amount (robust to decoder blur)."""
        logits, size_hat = self(random_blur(images))
        ce = F.cross_entropy(logits.reshape(-1, 4), attrs.reshape(-1))
        return ce + F.mse_loss(size_hat, normalise_size(size))

    @torch.no_grad()
    def predict(self, images: torch.Tensor, batch: int = 512) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Attributes ``(M, 3)``, size in pixels ``(M,)`` and features ``(M, F)`` of ``(M, 3, 32, 32)`` images."""
        attrs, sizes, feats = [], [], []
        for i in range(0, len(images), batch):
            f = self.features(images[i : i + batch])
            out = self.heads(f)
            attrs.append(out[:, :12].view(-1, 3, 4).argmax(-1))
            sizes.append(denormalise_size(out[:, 12]))
            feats.append(f)
        return torch.cat(attrs), torch.cat(sizes), torch.cat(feats)


def random_blur(images: torch.Tensor, max_sigma: float = 1.2) -> torch.Tensor:
    """Blur each ``(B, 3, H, W)`` image with a Gaussian of random width in ``[0, max_sigma]`` pixels."""
    sigma = max_sigma * torch.rand(len(images), device=images.device).clamp_min(1e-3)  # [B]
    offsets = torch.arange(-2, 3, device=images.device, dtype=images.dtype)
    kernel = torch.exp(-(offsets[None] ** 2) / (2 * sigma[:, None] ** 2))
    kernel = kernel / kernel.sum(dim=1, keepdim=True)  # [B, 5]
    b, c, h, w = images.shape
    x = images.reshape(1, b * c, h, w)
    k = kernel.repeat_interleave(c, dim=0)  # [B·C, 5]
    x = F.conv2d(F.pad(x, (2, 2, 0, 0), mode="replicate"), k.view(b * c, 1, 1, 5), groups=b * c)
    x = F.conv2d(F.pad(x, (0, 0, 2, 2), mode="replicate"), k.view(b * c, 1, 5, 1), groups=b * c)
    return x.view(b, c, h, w)


def normalise_size(size: torch.Tensor) -> torch.Tensor:
    lo, hi = SIZE_RANGE
    return (size - (lo + hi) / 2) / ((hi - lo) / 2)


def denormalise_size(value: torch.Tensor) -> torch.Tensor:
    lo, hi = SIZE_RANGE
    return value * ((hi - lo) / 2) + (lo + hi) / 2
