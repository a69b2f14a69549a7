"""Evaluation: an attribute classifier (the CLIPScore proxy), its features for the Fréchet distance (the FID
proxy, computed by :func:`paperzoo.eval.frechet_distance`), and a counter of model evaluations (NFE)."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from paperzoo.pladis.data import make_dataset
from paperzoo.pladis.vocab import N_CLASSES


class AttributeClassifier(nn.Module):
    """A small CNN with one head per attribute (shape, colour, position) and a feature vector for FD.

    Args:
        features: width of the penultimate layer (the FD feature space).
    """

    def __init__(self, features: int = 64) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 32, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(32, 64, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(64, 64, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(64 * 4 * 4, features),
            nn.ReLU(),
        )
        self.heads = nn.ModuleList([nn.Linear(features, n) for n in N_CLASSES])

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """``[B, 3, 16, 16]`` -> ``[B, features]``."""
        if images.dim() != 4 or images.shape[1:] != (3, 16, 16):
            raise ValueError(f"images: expected shape (B, 3, 16, 16), got {tuple(images.shape)}")
        return self.body(images)

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        """``[B, 3, 16, 16]`` -> logits ``[[B, 3], [B, 6], [B, 4]]``."""
        h = self.features(images)
        return [head(h) for head in self.heads]

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """``[B, 3, 16, 16]`` -> predicted attributes ``[B, 3]``."""
        return torch.stack([logits.argmax(-1) for logits in self(images)], dim=1)


def train_classifier(seed: int, n_images: int = 8192, steps: int = 400, batch_size: int = 128) -> AttributeClassifier:
    """Train the attribute classifier on real CompositionalShapes images (with noise augmentation).

    The small Gaussian noise makes it read slightly imperfect generated images without being fooled by them.
    """
    generator = torch.Generator().manual_seed(10_000 + seed)
    torch.manual_seed(10_000 + seed)
    data = make_dataset(n_images, 0, 10_000 + seed)
    images, attributes = data["images"], data["attributes"]
    model = AttributeClassifier()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    for _ in range(steps):
        idx = torch.randint(0, n_images, (batch_size,), generator=generator)
        x = images[idx] + 0.15 * torch.rand(batch_size, 1, 1, 1, generator=generator) * torch.randn(
            batch_size, 3, 16, 16, generator=generator
        )
        loss = sum(F.cross_entropy(logits, attributes[idx, j]) for j, logits in enumerate(model(x)))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


def alignment(classifier: AttributeClassifier, images: torch.Tensor, attributes: torch.Tensor) -> torch.Tensor:
    """Per image: 1.0 when every attribute the classifier reads equals the prompt's, else 0.0 (``[N]``)."""
    return (classifier.predict(images) == attributes).all(dim=1).float()


@torch.no_grad()
def classifier_features(classifier: AttributeClassifier, images: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """Features ``[N, F]`` of ``images [N, 3, 16, 16]`` in batches."""
    return torch.cat([classifier.features(images[i : i + batch_size]) for i in range(0, images.shape[0], batch_size)])


class NFECounter:
    """Wraps a denoiser and counts its evaluations: forward calls, and per-sample evaluations.

    A forward call on a batch of B images evaluates the model once for each of them, so the NFE per sample of a
    sampling run is ``evaluations / n_samples`` whatever the batch size.

    Example:
        >>> counter = NFECounter(model)
        >>> counter(x, t, tokens)  # forwards to model
        >>> counter.nfe_per_sample(x.shape[0])
    """

    def __init__(self, denoiser: Callable[..., torch.Tensor]) -> None:
        self.denoiser = denoiser
        self.calls = 0
        self.evaluations = 0

    def __call__(self, x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        self.calls += 1
        self.evaluations += x.shape[0]
        return self.denoiser(x, *args, **kwargs)

    def nfe_per_sample(self, n_samples: int) -> float:
        """Model evaluations per generated sample."""
        return self.evaluations / n_samples
