"""The LightningModule: answer cross-entropy, stage-dependent trainable sets, per-question-type accuracy.

Stage 1 trains only ``cross_attn``, ``vision_mixer`` (with its pre-norm) and ``alpha``, the modules the paper
adds to the pretrained LMM; stage 2 trains everything. The baselines always train everything.
"""

from __future__ import annotations

import lightning.pytorch as pl
import torch
import torch.nn.functional as F

from paperzoo.core.config import as_config, save_config_hparams
from paperzoo.core.optim import OptimConfig
from paperzoo.vamba.baselines import build_model
from paperzoo.vamba.config import ARCHS, ModelConfig, SynthHourConfig
from paperzoo.vamba.data import QTYPES, make_sample

STAGE1_MODULES = ("cross_attn", "vision_mixer", "vision_norm", "alpha")


def stage1_trainable(name: str) -> bool:
    """Whether parameter ``name`` trains in stage 1 (the new modules only)."""
    return any(part in STAGE1_MODULES for part in name.split("."))


def answer_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the answer tokens: ``logits [B, N, V]``, ``labels [B, N]`` (-100 = no answer)."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)


def model_inputs(batch: dict) -> dict:
    """The model's keyword arguments from a collated batch."""
    keys = ("frames", "text", "frame_seq_idx", "text_seq_idx", "packed")
    return {k: batch[k] for k in keys if k in batch}


class VambaModule(pl.LightningModule):
    """Vamba or one of its baselines on SynthHour.

    Args:
        model: the LMM's sizes and switches (``use_mixer`` is set by ``arch``).
        optim: AdamW and its schedule: linear warm-up over ``optim.warmup_steps``, then cosine decay to zero at
            ``total_steps`` (``optim.schedule = "constant"`` keeps the rate after the warm-up).
        arch: ``vamba``, ``transformer``, ``pooled``, ``ca_only`` or ``question_only``.
        stage: 1 trains only the new modules (cross-attention, Mamba-2 mixer, alpha); 2 trains all.
        total_steps: the optimiser step where the cosine decay ends (0: a constant rate after the warm-up).
        freeze_vision: keep the frame encoder (ViT + projector) frozen in every stage, as a pretrained vision
            encoder (see :func:`pretrain_vision`).
    """

    def __init__(
        self,
        model: ModelConfig = ModelConfig(),  # noqa: B008
        optim: OptimConfig = OptimConfig(lr=1e-3, weight_decay=0.01, warmup_steps=20),  # noqa: B008
        arch: str = "vamba",
        stage: int = 2,
        total_steps: int = 0,
        freeze_vision: bool = False,
    ) -> None:
        super().__init__()
        if arch not in ARCHS:
            raise ValueError(f"arch: expected one of {ARCHS}, got {arch!r}")
        if stage not in (1, 2):
            raise ValueError(f"stage: expected 1 or 2, got {stage}")
        if total_steps < 0:
            raise ValueError(f"total_steps: expected a non-negative number of steps, got {total_steps}")
        self.arch, self.total_steps, self.freeze_vision = arch, total_steps, freeze_vision
        model, self.optim = as_config(ModelConfig, model), as_config(OptimConfig, optim)
        save_config_hparams(self, model=model, optim=self.optim)
        self.save_hyperparameters(
            {"arch": arch, "stage": stage, "total_steps": total_steps, "freeze_vision": freeze_vision}
        )
        self.model = build_model(arch, model)
        self.set_stage(stage)

    @property
    def cfg(self) -> ModelConfig:
        """The config of the model (with the arch's ``use_mixer``)."""
        return self.model.cfg

    def set_stage(self, stage: int) -> None:
        """Freeze everything but the stage-1 modules (stage 1), or unfreeze all (stage 2)."""
        if stage == 1 and self.arch not in ("vamba", "ca_only"):
            raise ValueError(f"stage: stage 1 applies to Vamba models only, not arch={self.arch!r}")
        self.stage = stage
        for name, p in self.model.named_parameters():
            frozen = self.freeze_vision and name.startswith("vision.")
            p.requires_grad_((stage == 2 or stage1_trainable(name)) and not frozen)

    def load_model(self, model: torch.nn.Module) -> None:
        """Swap in a (converted) model of the same arch, keeping the stage's trainable set."""
        self.model = model
        self.set_stage(self.stage)

    def forward(self, batch: dict) -> torch.Tensor:
        return self.model(**model_inputs(batch))

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        loss = answer_loss(self(batch), batch["labels"])
        self.log("train/loss", loss, prog_bar=True, batch_size=batch["text"].shape[0])
        return loss

    def _eval_step(self, batch: dict, prefix: str) -> None:
        logits = self(batch)
        labels = batch["labels"]
        loss = answer_loss(logits, labels)
        mask = labels != -100
        correct = (logits.argmax(-1)[mask] == labels[mask]).float()  # one per question, in sample order
        n = correct.numel()
        self.log(f"{prefix}/loss", loss, prog_bar=True, batch_size=n)
        self.log(f"{prefix}/acc", correct.mean(), prog_bar=True, batch_size=n)
        for t, name in enumerate(QTYPES):
            sel = batch["qtype"] == t
            if sel.any():
                self.log(f"{prefix}/acc_{name}", correct[sel].mean(), batch_size=int(sel.sum()))

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self._eval_step(batch, "val")

    def test_step(self, batch: dict, batch_idx: int) -> None:
        self._eval_step(batch, "test")

    def predict_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        logits = self(batch)
        mask = batch["labels"] != -100
        return logits.argmax(-1)[mask]

    def configure_optimizers(self) -> dict:
        params = [p for p in self.model.parameters() if p.requires_grad]
        return self.optim.build(params, total_steps=self.total_steps)


def pretrain_vision(
    vision: torch.nn.Module, seed: int, steps: int, videos_per_step: int = 4, lr: float = 2e-3, frames: int = 16
) -> list[float]:
    """Pretrain a frame encoder on what each patch shows: its digit (or none) and its marker colour (or none).

    The paper starts from Qwen2-VL, whose vision encoder is pretrained; here the ViT and projector learn to
    recognise SynthHour's glyphs and markers from per-patch labels of single frames (a linear probe on each
    video token, discarded afterwards). No question, answer or temporal information is involved, so the
    QA training that follows still has to learn where to look and how to combine frames.

    Args:
        vision: a :class:`~paperzoo.vamba.model.FrameEncoder` (trained in place).
        seed: data seed (frames come from the train split, indices past those the QA training reads).
        steps: optimiser steps.
        videos_per_step: videos (of ``frames`` frames each) per step.
        lr: AdamW learning rate.
        frames: frames per video.

    Returns:
        the loss of every step.
    """
    cfg = SynthHourConfig(frames=frames, frame_size=vision.cfg.frame_size)
    probe = torch.nn.Linear(vision.cfg.d_model, 11 + 4)
    # glyphs and markers are rare among the background patches: weight them up
    digit_w = torch.tensor([5.0] * 10 + [1.0])
    marker_w = torch.tensor([1.0, 30.0, 30.0, 30.0])
    frozen = [p for p in vision.parameters() if not p.requires_grad]
    for p in frozen:  # a frozen encoder (freeze_vision) trains here, and only here
        p.requires_grad_(True)
    opt = torch.optim.AdamW([*vision.parameters(), *probe.parameters()], lr=lr)
    losses = []
    for step in range(steps):
        samples = [make_sample(cfg, seed, "train", 10**7 + step * videos_per_step + j) for j in range(videos_per_step)]
        tokens = vision(torch.stack([s["frames"] for s in samples]))  # [n, M, d]
        out = probe(tokens.reshape(-1, tokens.shape[-1]))
        digit = torch.stack([s["cell_digit"] for s in samples]).reshape(-1)
        marker = torch.stack([s["cell_marker"] for s in samples]).reshape(-1)
        loss = F.cross_entropy(out[:, :11], digit, weight=digit_w)
        loss = loss + F.cross_entropy(out[:, 11:], marker, weight=marker_w)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    for p in frozen:
        p.requires_grad_(False)
    return losses


@torch.no_grad()
def evaluate(model: torch.nn.Module, loader) -> dict[str, float]:
    """Accuracy per question type, overall accuracy and mean answer loss of ``model`` over ``loader``.

    The model is left in the mode it was in.
    """
    was_training = model.training
    model.eval()
    hits = {name: [] for name in QTYPES}
    losses = []
    for batch in loader:
        logits = model(**model_inputs(batch))
        labels = batch["labels"]
        losses.append(float(answer_loss(logits, labels)) * int((labels != -100).sum()))
        mask = labels != -100
        correct = (logits.argmax(-1)[mask] == labels[mask]).float()
        for t, name in enumerate(QTYPES):
            hits[name].extend(correct[batch["qtype"] == t].tolist())
    model.train(was_training)
    total = sum(len(v) for v in hits.values())
    out = {name: sum(v) / max(1, len(v)) for name, v in hits.items()}
    out["overall"] = sum(sum(v) for v in hits.values()) / max(1, total)
    out["loss"] = sum(losses) / max(1, total)
    return out
