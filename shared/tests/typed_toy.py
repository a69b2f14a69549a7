"""A tiny package in the shape every paper package has: a typed config, ``Model(cfg)``, a module that takes its
configs whole, and a ``Paper`` descriptor. The tests of the typed-config CLI run it."""

from __future__ import annotations

from dataclasses import dataclass

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from paperzoo.core import OptimConfig, Paper
from paperzoo.core.config import as_config, save_config_hparams


@dataclass
class ToyConfig:
    """The regressor."""

    dim: int = 4
    """Input width."""
    hidden: int = 8
    """Hidden width."""

    def __post_init__(self) -> None:
        if self.dim <= 0:
            raise ValueError(f"dim: expected a positive width, got {self.dim}")


class ToyModel(torch.nn.Module):
    def __init__(self, cfg: ToyConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.net = torch.nn.Sequential(
            torch.nn.Linear(cfg.dim, cfg.hidden), torch.nn.Tanh(), torch.nn.Linear(cfg.hidden, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class TypedData(pl.LightningDataModule):
    """y = sum(x), seeded.

    Args:
        n: number of samples.
        dim: input width.
    """

    def __init__(self, n: int = 32, dim: int = 4) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(n, dim, generator=g)
        self.y = self.x.sum(-1, keepdim=True)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(TensorDataset(self.x, self.y), batch_size=8)


class TypedModule(pl.LightningModule):
    """The regressor and its optimiser.

    Args:
        model: the model's config.
        optim: AdamW and its schedule.
    """

    def __init__(self, model: ToyConfig = ToyConfig(), optim: OptimConfig = OptimConfig()) -> None:  # noqa: B008
        super().__init__()
        self.cfg = as_config(ToyConfig, model)
        self.optim = as_config(OptimConfig, optim)
        save_config_hparams(self, model=self.cfg, optim=self.optim)
        self.model = ToyModel(self.cfg)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.model(x), y)
        self.log("train_loss", loss)
        return loss

    def configure_optimizers(self):
        return self.optim.build(self.parameters(), total_steps=int(self.trainer.estimated_stepping_batches))


def reproduce(seeds: list[int] = [0], out: str = "", quick: bool = False) -> int:  # noqa: B006
    """Print the seeds.

    Args:
        seeds: the seeds.
        out: the output folder.
        quick: a shorter run.
    """
    print(f"typed reproduce {seeds}")
    return 0


PAPER = Paper(
    name="typedtoy",
    title="A typed toy",
    arxiv="2503.00001",
    module="typed_toy:TypedModule",
    datamodule="typed_toy:TypedData",
    commands={"reproduce": "typed_toy:reproduce"},
)
