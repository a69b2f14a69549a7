"""The classifiers: an explicit feature extractor f_θ (``features``, giving Z) and a linear ``fc`` head h_φ.

- :class:`SmallCNN`: two conv blocks, Z 64-d (the acceptance experiment).
- :class:`ResNet18`: the paper's backbone, Z 512-d (the scaled-up configs). Its parameter names follow
  torchvision's, so an ImageNet checkpoint saved from torchvision loads from a local path (``weights``).

Both are built from a :class:`~paperzoo.grmu.config.ModelConfig`: ``build_model(cfg)`` picks the class by
``cfg.arch``.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from paperzoo.grmu.config import ModelConfig


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
        cfg: ``in_channels``, ``size`` (divisible by 4), ``width`` (channels of the first conv; the second has
            twice as many), ``feat_dim`` (Z, 64-d in the acceptance experiment), ``n_classes``.
    """

    def __init__(self, cfg: ModelConfig = ModelConfig()) -> None:  # noqa: B008
        super().__init__()
        self.cfg = cfg
        self.in_channels, self.size, self.feat_dim = cfg.in_channels, cfg.size, cfg.feat_dim
        width = cfg.width
        self.body = nn.Sequential(
            nn.Conv2d(cfg.in_channels, width, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(2 * width * (cfg.size // 4) ** 2, cfg.feat_dim),
            nn.ReLU(),
        )
        self.fc = nn.Linear(cfg.feat_dim, cfg.n_classes)

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
        cfg: ``in_channels`` (3 for the ImageNet checkpoints), ``size`` (at least 32, so that the last stage is
            at least 1×1), ``n_classes``, and ``weights``: a local checkpoint (a state dict, e.g. torchvision's
            ``resnet18`` ImageNet weights saved with ``torch.save``) for everything but ``fc``, which stays
            freshly initialised; None trains from scratch. ``width`` and ``feat_dim`` do not apply.
    """

    feat_dim = 512

    def __init__(self, cfg: ModelConfig = ModelConfig(arch="resnet18", size=64)) -> None:  # noqa: B008
        super().__init__()
        self.cfg = cfg
        self.in_channels, self.size = cfg.in_channels, cfg.size
        self.conv1 = nn.Conv2d(cfg.in_channels, 64, 7, 2, 3, bias=False)
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
        self.fc = nn.Linear(self.feat_dim, cfg.n_classes)
        if cfg.weights is not None:
            self.load_backbone(cfg.weights)

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


def build_model(cfg: ModelConfig) -> Classifier:
    """The classifier ``cfg.arch`` names: ``"cnn"`` (:class:`SmallCNN`) or ``"resnet18"`` (:class:`ResNet18`)."""
    return SmallCNN(cfg) if cfg.arch == "cnn" else ResNet18(cfg)
