"""One LightningModule for every mixer: cross-entropy on the answer positions, AdamW with a cosine schedule."""

from __future__ import annotations

import math

import lightning.pytorch as pl
import torch
import torch.nn.functional as F

from paperzoo.ssmsurvey.data import IGNORE
from paperzoo.ssmsurvey.model import SequenceModel


def answer_accuracy(logits: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Token accuracy over the answer positions and the fraction of sequences with every answer right.

    Args:
        logits: ``[B, L, V]``.
        targets: ``[B, L]`` with ``IGNORE`` off the answers.
    """
    mask = targets != IGNORE
    correct = (logits.argmax(-1) == targets) & mask
    token = correct.sum() / mask.sum().clamp(min=1)
    sequence = ((correct | ~mask).all(dim=1)).float().mean()
    return token, sequence


class SSMSurveyModule(pl.LightningModule):
    """Trains a :class:`SequenceModel` on a synthetic task.

    Args:
        mixer: the sequence mixer (lti, s4d, s5, mamba, mamba2, transformer, lstm).
        vocab_size: vocabulary; ``None`` takes the datamodule's.
        d_model: width.
        n_layers: residual blocks.
        mixer_kwargs: options of the mixer (``{"init": "inv"}``, ``{"selective": false}``, ...).
        lr: peak learning rate.
        weight_decay: AdamW weight decay (not applied to SSM parameters A, Δ, D, norms and biases).
        warmup_steps: linear warm-up before the cosine decay.
        max_steps: length of the cosine schedule; ``None`` uses the trainer's estimate.
    """

    def __init__(
        self,
        mixer: str = "mamba",
        vocab_size: int | None = None,
        d_model: int = 64,
        n_layers: int = 2,
        mixer_kwargs: dict | None = None,
        lr: float = 3e-3,
        weight_decay: float = 0.1,
        warmup_steps: int = 20,
        max_steps: int | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.model: SequenceModel | None = None
        if vocab_size is not None:
            self.model = self._build(vocab_size)

    def _build(self, vocab_size: int) -> SequenceModel:
        hp = self.hparams
        return SequenceModel(hp.mixer, vocab_size, hp.d_model, hp.n_layers, hp.mixer_kwargs)

    def setup(self, stage: str) -> None:
        if self.model is None:
            datamodule = self.trainer.datamodule
            if datamodule is None or not hasattr(datamodule, "vocab_size"):
                raise ValueError("vocab_size: not set and no datamodule to take it from")
            self.hparams.vocab_size = datamodule.vocab_size
            self.model = self._build(datamodule.vocab_size)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """``[B, L]`` tokens -> ``[B, L, V]`` logits."""
        return self.model(tokens)

    def _shared(self, batch: tuple[torch.Tensor, torch.Tensor], prefix: str) -> torch.Tensor:
        tokens, targets = batch
        logits = self(tokens)
        loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=IGNORE)
        token, sequence = answer_accuracy(logits, targets)
        on_step = prefix == "train"
        self.log(f"{prefix}/loss", loss, prog_bar=True, on_step=on_step, on_epoch=not on_step)
        self.log(f"{prefix}/acc", token, prog_bar=True, on_step=on_step, on_epoch=not on_step)
        self.log(f"{prefix}/seq_acc", sequence, on_step=on_step, on_epoch=not on_step)
        return loss

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._shared(batch, "train")

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._shared(batch, "val")

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._shared(batch, "test")

    def predict_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> dict[str, torch.Tensor]:
        tokens, targets = batch
        return {"tokens": tokens, "prediction": self(tokens).argmax(-1), "targets": targets}

    def configure_optimizers(self) -> dict:
        decay, no_decay = [], []
        for name, p in self.model.named_parameters():
            ssm_param = any(k in name for k in ("A_log", "log_A", "A_imag", "log_L", "L_imag", "log_dt", "dt_bias"))
            (no_decay if p.dim() < 2 or ssm_param or name.endswith(".A") else decay).append(p)
        hp = self.hparams
        opt = torch.optim.AdamW(
            [{"params": decay, "weight_decay": hp.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=hp.lr,
            betas=(0.9, 0.98),
        )
        total = hp.max_steps or max(1, int(self.trainer.estimated_stepping_batches))
        warm = min(hp.warmup_steps, total // 2)

        def schedule(step: int) -> float:
            if step < warm:
                return (step + 1) / warm
            return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warm) / max(1, total - warm))))

        return {
            "optimizer": opt,
            "lr_scheduler": {"scheduler": torch.optim.lr_scheduler.LambdaLR(opt, schedule), "interval": "step"},
        }
