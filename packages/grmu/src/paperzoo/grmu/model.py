"""The classifiers: an explicit feature extractor f_θ (``features``, giving Z) and a linear ``fc`` head h_φ.

- :class:`SmallCNN`: two conv blocks, Z 64-d (the acceptance experiment).
- :class:`ResNet18`: the paper's backbone, Z 512-d (the scaled-up configs). Its parameter names follow
  torchvision's, so an ImageNet checkpoint saved from torchvision loads from a local path (``weights``).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn


class _FeatureClassifier(nn.Module):
    """What both classifiers share: the input check, ``features`` (Z) and ``forward`` (the ``fc`` head on Z).

    Subclasses set ``in_channels``, ``size``, ``feat_dim`` and ``fc``, and implement ``_extract``.
    """

    in_channels: int
    size: int
    feat_dim: int
    fc: nn.Linear

    def _extract(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Z = f_θ(x). ``[B, C, S, S] -> [B, feat_dim]``."""
        expected = (self.in_channels, self.size, self.size)
        if x.dim() != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(f"x: expected shape [B, {', '.join(map(str, expected))}], got {list(x.shape)}")
        return self._extract(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits h_φ(f_θ(x)). ``[B, C, S, S] -> [B, n_classes]``."""
        return self.fc(self.features(x))


class SmallCNN(_FeatureClassifier):
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

    def _extract(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C, S, S] -> [B, feat_dim]``."""
        return self.body(x)


class _BasicBlock(nn.Module):
    """Two 3×3 convs with batch norm and an identity (or 1×1 projection) shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = (
            nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))
            if stride != 1 or c_in != c_out
            else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, c_in, H, W] -> [B, c_out, H / stride, W / stride]``."""
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


class ResNet18(_FeatureClassifier):
    """ResNet-18 (He et al. 2016): a 7×7 stride-2 stem and max-pool, four stages of two basic blocks
    (64, 128, 256, 512 channels), global average pooling to Z (512-d), and the head ``fc``.

    Args:
        in_channels: image channels (3 for the ImageNet checkpoints).
        size: image side (at least 32, so that the last stage is at least 1×1).
        n_classes: number of targets.
        weights: a local checkpoint (a state dict, e.g. torchvision's ``resnet18`` ImageNet weights saved with
            ``torch.save``) for everything but ``fc``, which stays freshly initialised; None trains from scratch.
    """

    feat_dim = 512

    def __init__(
        self, in_channels: int = 3, size: int = 64, n_classes: int = 2, weights: str | Path | None = None
    ) -> None:
        super().__init__()
        if size < 32:
            raise ValueError(f"size: ResNet-18 expects images of at least 32 px, got {size}")
        self.in_channels, self.size = in_channels, size
        self.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        widths = (64, 128, 256, 512)
        for i, width in enumerate(widths):
            c_in, stride = (64, 1) if i == 0 else (widths[i - 1], 2)
            self.add_module(
                f"layer{i + 1}", nn.Sequential(_BasicBlock(c_in, width, stride), _BasicBlock(width, width, 1))
            )
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(self.feat_dim, n_classes)
        if weights is not None:
            self.load_backbone(weights)

    def load_backbone(self, path: str | Path) -> None:
        """Load every parameter but ``fc`` from the state dict at ``path``.

        Raises:
            FileNotFoundError: no file at ``path``.
            ValueError: the checkpoint lacks backbone parameters or has mismatched shapes (names them).
        """
        path = Path(path).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"weights: no checkpoint at {path}")
        state = torch.load(path, map_location="cpu", weights_only=True)
        state = {k: v for k, v in state.items() if not k.startswith("fc.")}
        own = {k: v for k, v in self.state_dict().items() if not k.startswith("fc.")}
        missing = sorted(set(own) - set(state))
        wrong = sorted(k for k in own.keys() & state.keys() if own[k].shape != state[k].shape)
        if missing or wrong:
            raise ValueError(
                f"weights: {path} is not a ResNet-18 backbone; missing {missing[:3]}, wrong shapes {wrong[:3]}"
            )
        self.load_state_dict(state, strict=False)

    def _extract(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C, S, S] -> [B, 512]``: the stem, four stages, global average pooling."""
        h = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        h = self.layer4(self.layer3(self.layer2(self.layer1(h))))
        return self.avgpool(h).flatten(1)


Classifier = SmallCNN | ResNet18
ARCHS = ("cnn", "resnet18")


def build_model(
    arch: str = "cnn",
    size: int = 16,
    width: int = 8,
    feat_dim: int = 64,
    n_classes: int = 2,
    weights: str | None = None,
) -> Classifier:
    """The classifier named by ``arch``: ``"cnn"`` (:class:`SmallCNN`) or ``"resnet18"`` (:class:`ResNet18`;
    ``width`` and ``feat_dim`` do not apply, Z is 512-d).

    Raises:
        ValueError: an unknown ``arch``, or ``weights`` with the CNN (it has no pretrained checkpoint).
    """
    if arch == "cnn":
        if weights is not None:
            raise ValueError("weights: only arch 'resnet18' loads a checkpoint")
        return SmallCNN(3, size, width, feat_dim, n_classes)
    if arch == "resnet18":
        return ResNet18(3, size, n_classes, weights)
    raise ValueError(f"arch: expected one of {', '.join(ARCHS)}, got {arch!r}")
