"""A tiny regression package used by the CLI and DDP tests; run as a script it is ``paperzoo-toy``.

Each rank appends a line to ``<marker_dir>/rank<R>.txt`` per training step, so a test can check that
every rank of a DDP run trained.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from paperzoo.core import run_cli


class ToyData(pl.LightningDataModule):
    """y = x @ w + noise, seeded.

    Args:
        n: number of samples.
        dim: input width.
        batch_size: samples per batch.
    """

    def __init__(self, n: int = 64, dim: int = 4, batch_size: int = 8) -> None:
        super().__init__()
        if n <= 0:
            raise ValueError(f"n: expected a positive number of samples, got {n}")
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(n, dim, generator=g)
        self.y = self.x @ torch.randn(dim, 1, generator=g)
        self.batch_size = batch_size

    def train_dataloader(self) -> DataLoader:
        return DataLoader(TensorDataset(self.x, self.y), batch_size=self.batch_size)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(TensorDataset(self.x, self.y), batch_size=self.batch_size)


class ToyModule(pl.LightningModule):
    """A linear regressor.

    Args:
        dim: input width.
        lr: learning rate.
        marker_dir: where each rank records its steps (optional).
        blow_up: multiply the loss by inf after this many steps (to test the non-finite stop); -1 never.
    """

    def __init__(self, dim: int = 4, lr: float = 0.1, marker_dir: str = "", blow_up: int = -1) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = torch.nn.Linear(dim, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.net(x), y)
        if 0 <= self.hparams.blow_up <= self.global_step:
            loss = loss * float("nan")
        if self.hparams.marker_dir:
            path = Path(self.hparams.marker_dir) / f"rank{self.global_rank}.txt"
            with path.open("a") as f:
                f.write(f"{self.global_step} {os.getpid()} {self.trainer.world_size}\n")
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", torch.nn.functional.mse_loss(self.net(x), y))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


def reproduce(seeds: list[int] = [0, 1], out: Path | None = None, quick: bool = False) -> int:  # noqa: B006
    """Print the seeds (stands in for a package's experiment).

    Args:
        seeds: the seeds to run.
        out: the output folder.
        quick: a shorter run.
    """
    print(f"reproduce seeds={seeds} out={out} quick={quick}")
    return 0


def demo(steps: int = 3) -> None:
    """Print a greeting.

    Args:
        steps: how many lines.
    """
    if steps <= 0:
        from paperzoo.core import CliError

        raise CliError(f"--steps must be positive, got {steps}")
    for i in range(steps):
        print(f"demo {i}")


def main(args: list[str] | None = None) -> int:
    return run_cli("toy", ToyModule, ToyData, {"reproduce": reproduce, "demo": demo}, args=args)


if __name__ == "__main__":
    sys.exit(main())
