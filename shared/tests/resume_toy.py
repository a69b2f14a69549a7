"""A small package whose ``reproduce`` trains three arms as stages; the interruption and divergence tests run it.

Environment: ``RESUME_TOY_MARKS`` (a folder: each arm appends a line to ``computed-<seed>-<arm>`` when it is
really computed, and writes ``started-<seed>-<arm>`` when it starts), ``RESUME_TOY_BLOCK`` (a file: while it
does not exist, arm ``b`` of seed 0 waits for it, so a test can interrupt the run there) and ``RESUME_TOY_NAN``
(an arm whose loss becomes NaN).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from paperzoo.core import Paper, quiet_trainer, seed_all
from paperzoo.eval import Reproduction

PAPER = Paper(
    name="resumetoy",
    title="A resumable toy",
    arxiv="2503.00003",
    module="resume_toy:Regressor",
    datamodule=None,
    commands={"reproduce": "resume_toy:reproduce"},
)
ARMS = {"a": 0.05, "b": 0.02}


class Regressor(pl.LightningModule):
    """y = x @ w by SGD; ``nan`` makes the loss NaN."""

    def __init__(self, lr: float = 0.05, nan: bool = False) -> None:
        super().__init__()
        self.lr, self.nan = lr, nan
        self.net = torch.nn.Linear(4, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.net(x), y)
        return loss * float("nan") if self.nan else loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.lr)


def train(seed: int, arm: str, advance) -> dict[str, float]:
    marks = Path(os.environ["RESUME_TOY_MARKS"])
    (marks / f"started-{seed}-{arm}").touch()
    block = os.environ.get("RESUME_TOY_BLOCK")
    while block and (seed, arm) == (0, "b") and not Path(block).exists():
        time.sleep(0.05)
    seed_all(seed)
    x = torch.randn(64, 4)
    y = x @ torch.arange(1.0, 5.0).unsqueeze(1)
    module = Regressor(lr=ARMS[arm], nan=os.environ.get("RESUME_TOY_NAN") == arm)
    quiet_trainer(max_steps=20).fit(module, DataLoader(TensorDataset(x, y), batch_size=16))
    with (marks / f"computed-{seed}-{arm}").open("a") as handle:
        handle.write("computed\n")
    with torch.no_grad():
        return {"mse": float(torch.nn.functional.mse_loss(module.net(x), y))}


def reproduce(seeds: list[int] = [0, 1], out: str = "", fresh: bool = False) -> int:  # noqa: B006
    """Train the arms of every seed, then state two claims.

    Args:
        seeds: the seeds.
        out: the output folder.
        fresh: recompute every stage.
    """
    with Reproduction(PAPER, seeds, out=out, config={"arms": ARMS}, fresh=fresh, progress=False) as run:
        for seed in seeds:
            for arm, lr in ARMS.items():
                run.arm(seed, arm, lambda advance, s=seed, a=arm: train(s, a, advance), key={"lr": lr}, total=20)
        run.claim("a-fits", "Arm a fits y.", "mse", "a", at_most=50.0)
        run.claim("a-beats-b", "The larger step fits better in 20 steps.", "mse", "a", vs="b", op="<=", ratio=1.0)
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(PAPER.main())
