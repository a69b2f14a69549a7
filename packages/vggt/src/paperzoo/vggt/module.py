"""The LightningModule: VGGT's multitask loss, AdamW with warm-up and cosine decay, and validation metrics."""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import torch.nn.functional as F
from torch import Tensor

from paperzoo.core.config import as_config, save_config_hparams
from paperzoo.core.optim import OptimConfig
from paperzoo.vggt.config import CAMERA_LOSSES, LossConfig, ModelConfig
from paperzoo.vggt.geometry import (
    auc_at,
    extrinsics_intrinsics_to_pose_encoding,
    normalize_scene,
    pose_encoding_to_extrinsics_intrinsics,
    relative_pose_errors,
)
from paperzoo.vggt.model import VGGT

# AdamW as the released training code sets it, at the paper's scale: peak 2e-4 after an 8K-step warm-up.
PAPER_OPTIM = OptimConfig(lr=2e-4, weight_decay=0.05, betas=(0.9, 0.95), warmup_steps=8000)


def camera_loss(
    predictions: list[Tensor],
    target: Tensor,
    gamma: float = 0.6,
    kind: str = "l1",
    huber_delta: float = 0.1,
    weights: tuple[float, float, float] = (1.0, 1.0, 0.5),
) -> Tensor:
    """Camera loss over refinement iterations: iteration ``k`` of ``n`` weighs ``gamma^(n - k)``.

    Args:
        predictions: pose encodings ``[B, S, 9]`` per iteration (the last is the final estimate).
        target: ground-truth encoding ``[B, S, 9]``.
        gamma: iteration discount.
        kind: ``l1`` (the released code) or ``huber`` (the paper's text).
        huber_delta: δ of the Huber loss.
        weights: translation, rotation, field-of-view weights.
    """
    if kind not in CAMERA_LOSSES:
        raise ValueError(f"camera_loss: expected one of {CAMERA_LOSSES}, got {kind!r}")
    total = target.new_zeros(())
    n = len(predictions)
    for k, pred in enumerate(predictions, start=1):
        err = (pred - target).abs() if kind == "l1" else F.huber_loss(pred, target, reduction="none", delta=huber_delta)
        parts = (err[..., :3].mean(), err[..., 3:7].mean(), err[..., 7:].mean())
        total = total + gamma ** (n - k) * sum(w * p for w, p in zip(weights, parts))
    return total


def image_gradient_error(error: Tensor, valid: Tensor, conf: Tensor, scales: int = 3) -> Tensor:
    """Confidence-weighted multi-scale gradient term ``Σ^ ⊙ |∇(pred - gt)|`` averaged over valid pairs.

    Args:
        error: ``pred - gt`` ``[N, H, W, K]``.
        valid: ``[N, H, W]``.
        conf: ``[N, H, W]``.
        scales: number of scales (each subsamples by 2).
    """
    total = error.new_zeros(())
    for scale in range(scales):
        step = 2**scale
        e, m, c = error[:, ::step, ::step], valid[:, ::step, ::step], conf[:, ::step, ::step]
        gx = (e[:, :, 1:] - e[:, :, :-1]).abs().sum(-1)
        gy = (e[:, 1:] - e[:, :-1]).abs().sum(-1)
        mx, my = m[:, :, 1:] & m[:, :, :-1], m[:, 1:] & m[:, :-1]
        term = (gx * c[:, :, 1:] * mx).sum() / mx.sum().clamp_min(1) + (gy * c[:, 1:] * my).sum() / my.sum().clamp_min(
            1
        )
        total = total + term / scales
    return total


def confidence_loss(
    pred: Tensor,
    gt: Tensor,
    conf: Tensor,
    valid: Tensor,
    alpha: float = 0.2,
    gamma: float = 1.0,
    gradient_weight: float = 1.0,
) -> dict[str, Tensor]:
    """The aleatoric regression loss ``γ·|err|·Σ − α·log Σ`` plus the confidence-weighted gradient term.

    Args:
        pred: ``[B, S, H, W, K]`` (``K = 1`` for depth, 3 for points).
        gt: same shape.
        conf: ``[B, S, H, W]``, ≥ 1.
        valid: ``[B, S, H, W]`` bool.
        alpha: weight of ``−log Σ``.
        gamma: weight of the confidence-weighted error.
        gradient_weight: weight of the gradient term.

    Returns:
        ``reg`` (error·conf), ``conf`` (−α log conf), ``grad`` and their ``total``.
    """
    error = pred - gt
    norm = error.norm(dim=-1)  # [B, S, H, W]
    count = valid.sum().clamp_min(1)
    reg = gamma * (norm * conf * valid).sum() / count
    log_term = -alpha * (conf.log() * valid).sum() / count
    grad = image_gradient_error(error.flatten(0, 1), valid.flatten(0, 1), conf.flatten(0, 1))
    return {
        "reg": reg,
        "conf": log_term,
        "grad": gradient_weight * grad,
        "total": reg + log_term + gradient_weight * grad,
    }


def track_loss(
    tracks: list[Tensor], visibility_logits: Tensor, gt_tracks: Tensor, gt_visible: Tensor, gamma: float = 0.8
) -> Tensor:
    """L1 track error on visible points (iteration-weighted) plus visibility BCE.

    Args:
        tracks: ``[B, S, Q, 2]`` per iteration, pixels.
        visibility_logits: ``[B, S, Q]``.
        gt_tracks: ``[B, S, Q, 2]``.
        gt_visible: ``[B, S, Q]`` bool.
        gamma: iteration discount.
    """
    mask = gt_visible.float()
    n = len(tracks)
    total = gt_tracks.new_zeros(())
    for k, pred in enumerate(tracks, start=1):
        err = (pred - gt_tracks).abs().sum(-1)
        total = total + gamma ** (n - k) * (err * mask).sum() / mask.sum().clamp_min(1)
    return total + F.binary_cross_entropy_with_logits(visibility_logits, mask)


def prepare_targets(batch: dict[str, Tensor]) -> dict[str, Tensor]:
    """Normalised ground truth of a batch: camera-1 frame, one mean-distance scale per scene."""
    extrinsics, depth, points, scale = normalize_scene(
        batch["extrinsics"], batch["depth"], batch["world_points"], batch["valid"]
    )
    image_hw = tuple(batch["images"].shape[-2:])
    pose = extrinsics_intrinsics_to_pose_encoding(extrinsics, batch["intrinsics"], image_hw)
    return {"extrinsics": extrinsics, "depth": depth, "world_points": points, "scale": scale, "pose_enc": pose}


class VGGTModule(pl.LightningModule):
    """VGGT trained with ``L = L_camera + L_depth + L_pmap + λ L_track``.

    Args:
        model: the model's config.
        loss: the multitask loss's weights and forms.
        optim: AdamW and its warm-up + cosine schedule; the warm-up is capped at a tenth of the run, and
            tokens, norms and biases get no weight decay.
    """

    def __init__(
        self,
        model: ModelConfig = ModelConfig(),  # noqa: B008
        loss: LossConfig = LossConfig(),  # noqa: B008
        optim: OptimConfig = PAPER_OPTIM,
    ) -> None:
        super().__init__()
        self.model_config = as_config(ModelConfig, model)
        self.loss_config = as_config(LossConfig, loss)
        self.optim_config = as_config(OptimConfig, optim)
        save_config_hparams(self, model=self.model_config, loss=self.loss_config, optim=self.optim_config)
        self.model = VGGT(self.model_config)

    def forward(self, images: Tensor, query_points: Tensor | None = None) -> dict[str, Any]:
        return self.model(images, query_points)

    def compute_losses(self, batch: dict[str, Tensor]) -> tuple[dict[str, Tensor], dict[str, Any], dict[str, Tensor]]:
        """Forward a batch and return (losses, predictions, normalised targets)."""
        hp = self.loss_config
        target = prepare_targets(batch)
        pred = self.model(batch["images"], batch["track_queries"])
        valid = batch["valid"]
        cam = camera_loss(pred["pose_enc_list"], target["pose_enc"], hp.camera_gamma, hp.camera_loss, hp.huber_delta)
        depth = confidence_loss(
            pred["depth"][..., None],
            target["depth"][..., None],
            pred["depth_conf"],
            valid,
            hp.conf_alpha,
            gradient_weight=hp.gradient_weight,
        )
        points = confidence_loss(
            pred["world_points"],
            target["world_points"],
            pred["world_points_conf"],
            valid,
            hp.conf_alpha,
            gradient_weight=hp.gradient_weight,
        )
        track = track_loss(pred["tracks"], pred["track_vis_logits"], batch["tracks"], batch["track_visible"])
        total = cam + depth["total"] + points["total"] + hp.track_weight * track
        losses = {"loss": total, "camera": cam, "depth": depth["total"], "pmap": points["total"], "track": track}
        return losses, pred, target

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        losses, _, _ = self.compute_losses(batch)
        self.log("train/loss", losses["loss"], prog_bar=True)
        self.log_dict({f"train/{k}": v for k, v in losses.items() if k != "loss"})
        return losses["loss"]

    def _evaluate(self, batch: dict[str, Tensor], stage: str) -> None:
        losses, pred, target = self.compute_losses(batch)
        extrinsics, _ = pose_encoding_to_extrinsics_intrinsics(pred["pose_enc"], tuple(batch["images"].shape[-2:]))
        size = batch["images"].shape[0]
        metrics = {f"{stage}/{k}": v for k, v in losses.items()}
        if batch["images"].shape[1] > 1:
            rotation_error, translation_error = relative_pose_errors(extrinsics, target["extrinsics"])
            metrics[f"{stage}/auc30"] = auc_at(rotation_error, translation_error)
        valid = batch["valid"]
        point_error = (pred["world_points"] - target["world_points"]).norm(dim=-1)
        metrics[f"{stage}/pmap_err"] = ((point_error * valid).sum() / valid.sum().clamp_min(1)).item()
        abs_rel = (pred["depth"] - target["depth"]).abs() / target["depth"].clamp_min(1e-6)
        metrics[f"{stage}/abs_rel"] = ((abs_rel * valid).sum() / valid.sum().clamp_min(1)).item()
        self.log_dict(metrics, prog_bar=stage == "val", batch_size=size)

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        self._evaluate(batch, "val")

    def test_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        self._evaluate(batch, "test")

    def predict_step(self, batch: dict[str, Tensor], batch_idx: int) -> dict[str, Tensor]:
        pred = self.model(batch["images"], batch.get("track_queries"))
        extrinsics, intrinsics = pose_encoding_to_extrinsics_intrinsics(
            pred["pose_enc"], tuple(batch["images"].shape[-2:])
        )
        keep = ("depth", "depth_conf", "world_points", "world_points_conf", "pose_enc")
        return {**{k: pred[k] for k in keep}, "extrinsics": extrinsics, "intrinsics": intrinsics}

    def configure_optimizers(self) -> dict[str, Any]:
        decay = [p for n, p in self.named_parameters() if p.ndim >= 2 and "token" not in n]
        no_decay = [p for n, p in self.named_parameters() if p.ndim < 2 or "token" in n]
        groups = [
            {"params": decay, "weight_decay": self.optim_config.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ]
        total = max(int(self.trainer.estimated_stepping_batches), 1)
        # Short runs keep most of their steps at the peak rate: the warm-up is at most a tenth of the run.
        warmup = min(self.optim_config.warmup_steps, max(total // 10, 1))
        return self.optim_config.build(groups, total, warmup_steps=warmup)
