"""Training a classifier from scratch: :class:`PretrainModule`, and :func:`train_classifier`, which fits it with a
quiet trainer.

``fit --config configs/tiny.yaml`` trains ``PretrainModule`` on ``GroupShiftDataModule``; ``reproduce`` pre-trains
the original model and retrains (exact unlearning) through :func:`train_classifier`: the same module, the same
optimiser and schedule, the same loader (:func:`~paperzoo.grmu.data.train_loader`), built from the same configs.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import lightning.pytorch as pl
import torch
import torch.nn.functional as F

from paperzoo.core import quiet_trainer
from paperzoo.core.config import as_config, save_config_hparams
from paperzoo.grmu.config import ModelConfig, SGDConfig, TrainConfig
from paperzoo.grmu.data import N_ATTRS, N_CLASSES, GroupData, train_loader
from paperzoo.grmu.metrics import equalized_odds
from paperzoo.grmu.model import Classifier, build_model


class PretrainModule(pl.LightningModule):
    """Train a classifier with cross-entropy on the group-shifted training set; validation and test report
    accuracy, worst-group accuracy, EO and the forget group's accuracy (GA).

    Args:
        model: the classifier.
        optim: SGD and its per-step cosine schedule over the whole run.
        forget_group: the group (y*, a*) whose accuracy is logged as ``GA``.
    """

    def __init__(
        self,
        model: ModelConfig = ModelConfig(),  # noqa: B008
        optim: SGDConfig = SGDConfig(),  # noqa: B008
        forget_group: tuple[int, int] = (1, 0),
    ) -> None:
        super().__init__()
        self.cfg = as_config(ModelConfig, model)
        self.optim = as_config(SGDConfig, optim)
        if len(forget_group) != 2 or min(forget_group) < 0:
            raise ValueError(f"forget_group: expected a pair (y*, a*) of non-negative labels, got {forget_group}")
        self.forget_group = (int(forget_group[0]), int(forget_group[1]))
        save_config_hparams(self, model=self.cfg, optim=self.optim)
        self.hparams["forget_group"] = list(self.forget_group)
        self.model = build_model(self.cfg)
        self._eval: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, n_classes]`` of images ``[B, 3, S, S]``."""
        return self.model(x)

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        x, y, _a, _g = batch
        loss = F.cross_entropy(self(x), y)
        self.log("train/loss", loss, prog_bar=True)
        return loss

    def _eval_step(self, batch) -> None:
        x, y, a, _g = batch
        self._eval.append((self(x).argmax(1), y, a))

    def _eval_end(self, stage: str) -> None:
        pred, y, a = (torch.cat(t) for t in zip(*self._eval))
        self._eval.clear()
        accs = []
        for g in range(N_CLASSES * N_ATTRS):
            mask = (y == g // N_ATTRS) & (a == g % N_ATTRS)
            if mask.any():
                accs.append((pred[mask] == y[mask]).float().mean())
        ys, as_ = self.forget_group
        in_group = (y == ys) & (a == as_)
        self.log(f"{stage}/acc", (pred == y).float().mean() * 100, prog_bar=True)
        self.log(f"{stage}/worst_group_acc", torch.stack(accs).min() * 100)
        self.log(f"{stage}/EO", equalized_odds(pred, y, a))
        if in_group.any():
            self.log(f"{stage}/GA", (pred[in_group] == y[in_group]).float().mean() * 100)

    def validation_step(self, batch, batch_idx: int) -> None:
        self._eval_step(batch)

    def on_validation_epoch_end(self) -> None:
        self._eval_end("val")

    def test_step(self, batch, batch_idx: int) -> None:
        self._eval_step(batch)

    def on_test_epoch_end(self) -> None:
        self._eval_end("test")

    def predict_step(self, batch, batch_idx: int) -> torch.Tensor:
        return self(batch[0]).argmax(1)

    def configure_optimizers(self):
        # The cosine runs over every optimiser step of the run (epochs × batches per epoch).
        total = self.trainer.estimated_stepping_batches if self._trainer is not None else None
        return self.optim.build(self.parameters(), total)


class _EpochProgress(pl.Callback):
    """Calls ``advance()`` at the end of every training epoch."""

    def __init__(self, advance: Callable[[], object]) -> None:
        self.advance = advance

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.advance()


def train_classifier(
    data: GroupData,
    model: ModelConfig,
    train: TrainConfig,
    generator: torch.Generator,
    weights: torch.Tensor | None = None,
    progress: Callable[[], object] | None = None,
) -> Classifier:
    """Train a fresh classifier with cross-entropy: pre-training (all of D_tr) or retraining (D_r, optionally
    with REWEIGHT's sampling weights). The module is :class:`PretrainModule`, fitted by a quiet trainer.

    Args:
        data: the training data.
        model: the classifier.
        train: epochs, batch size and the optimiser.
        generator: seeds the initialisation (one draw, for torch's global generator) and then every batch.
        weights: per-sample sampling weights ``[N]`` (REWEIGHT), or None.
        progress: called once per epoch, if given.

    Returns:
        The trained classifier, in eval mode.
    """
    torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=generator)))
    module = PretrainModule(model, train.optim)
    loader = train_loader(data, train.batch_size, generator, weights)
    trainer = quiet_trainer(max_epochs=train.epochs, callbacks=[] if progress is None else [_EpochProgress(progress)])
    with warnings.catch_warnings():
        # Lightning's own use of torch's pytree API, and its note that the (evaluation) steps go unused here.
        warnings.filterwarnings("ignore", message=r".*LeafSpec.*")
        warnings.filterwarnings("ignore", message=r".*but have no `val_dataloader`.*")
        trainer.fit(module, train_dataloaders=loader)
    return module.model.eval()
