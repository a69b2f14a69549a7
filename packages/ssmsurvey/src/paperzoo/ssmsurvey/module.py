"""One LightningModule for every mixer: cross-entropy on the answer positions, AdamW with a cosine schedule."""

from __future__ import annotations

import dataclasses

import lightning.pytorch as pl
import torch
import torch.nn.functional as F

from paperzoo.core.config import as_config, config_dict, save_config_hparams
from paperzoo.core.optim import OptimConfig
from paperzoo.ssmsurvey.config import BETAS, ModelConfig
from paperzoo.ssmsurvey.data import IGNORE
from paperzoo.ssmsurvey.model import SequenceModel, check_mixer_options


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
        model: the backbone and its mixer; ``vocab_size`` None takes the datamodule's at ``setup``.
        optim: AdamW and its schedule. Weight decay is not applied to the SSM parameters (A, Δ), D, norms and
            biases; the warm-up is capped at half the run.
        max_steps: length of the cosine schedule; ``None`` uses the trainer's estimate.
    """

    def __init__(
        self,
        model: ModelConfig = ModelConfig(),  # noqa: B008
        optim: OptimConfig = OptimConfig(lr=3e-3, weight_decay=0.1, betas=BETAS, warmup_steps=20),  # noqa: B008
        max_steps: int | None = None,
    ) -> None:
        super().__init__()
        self.cfg = as_config(ModelConfig, model)
        self.optim = as_config(OptimConfig, optim)
        if max_steps is not None and max_steps < 1:
            raise ValueError(f"max_steps: expected a positive number of steps (or None), got {max_steps}")
        self.max_steps = max_steps
        check_mixer_options(self.cfg.mixer, self.cfg.mixer_kwargs)
        save_config_hparams(self, model=self.cfg, optim=self.optim)
        self.hparams["max_steps"] = max_steps
        self.model: SequenceModel | None = None
        if self.cfg.vocab_size is not None:
            self.model = SequenceModel(self.cfg)

    def setup(self, stage: str) -> None:
        if self.model is None:
            datamodule = self.trainer.datamodule
            if datamodule is None or not hasattr(datamodule, "vocab_size"):
                raise ValueError("vocab_size: not set and no datamodule to take it from")
            self.cfg = dataclasses.replace(self.cfg, vocab_size=datamodule.vocab_size)
            self.hparams["model"] = config_dict(self.cfg)
            self.model = SequenceModel(self.cfg)

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
        groups = [
            {"params": decay, "weight_decay": self.optim.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ]
        total = self.max_steps or max(1, int(self.trainer.estimated_stepping_batches))
        return self.optim.build(groups, total, warmup_steps=min(self.optim.warmup_steps, total // 2))
