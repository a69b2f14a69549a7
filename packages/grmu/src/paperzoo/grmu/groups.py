"""Samples with a target and a sensitive attribute, and their groups: what the synthetic generators
(:mod:`paperzoo.grmu.data`) and the local benchmark loaders (:mod:`paperzoo.grmu.local_data`) both return."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.utils.data import TensorDataset

N_CLASSES = 2
N_ATTRS = 2


def group_of(y: torch.Tensor, a: torch.Tensor, n_attrs: int = N_ATTRS) -> torch.Tensor:
    """The group index ``g = a + y * n_attrs`` (the reference code's encoding). Shapes: ``[N] -> [N]``."""
    return a + y * n_attrs


@dataclass
class GroupData:
    """One split: images ``x [N, 3, S, S]``, targets ``y [N]``, attributes ``a [N]``, groups ``g [N]``."""

    x: torch.Tensor
    y: torch.Tensor
    a: torch.Tensor

    @property
    def g(self) -> torch.Tensor:
        return group_of(self.y, self.a)

    def __len__(self) -> int:
        return self.y.shape[0]

    def subset(self, idx: torch.Tensor) -> GroupData:
        return GroupData(self.x[idx], self.y[idx], self.a[idx])

    def dataset(self) -> TensorDataset:
        """Per-sample ``(x, y, a, g)`` items, for evaluation loaders."""
        return TensorDataset(self.x, self.y, self.a, self.g)
