"""Held-out evaluation: pose AUC@30, point-map and depth errors, confidence calibration, tracks, and the
reference-frame semantics (camera 1 at identity, equivariance over frames 2..N, re-anchoring)."""

from __future__ import annotations

from collections import defaultdict

import torch
from scipy.stats import spearmanr
from torch import Tensor

from paperzoo.vggt.data import SceneDataset
from paperzoo.vggt.geometry import (
    apply_transform,
    auc_at,
    invert_extrinsics,
    pose_encoding_to_extrinsics_intrinsics,
    relative_pose_errors,
    rotation_angle_deg,
    unproject_depth,
)
from paperzoo.vggt.model import VGGT
from paperzoo.vggt.module import prepare_targets

# TAP-Vid's δ_avg thresholds, in pixels of a 256-pixel image; scaled to the evaluated resolution.
TRACK_THRESHOLDS_256 = (1.0, 2.0, 4.0, 8.0, 16.0)


def _masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    return (values * mask).sum() / mask.sum().clamp_min(1)


def _collate(scenes: dict[str, Tensor], index: slice) -> dict[str, Tensor]:
    dataset = SceneDataset({k: v[index] for k, v in scenes.items()})
    items = [dataset[i] for i in range(len(dataset))]
    return {k: torch.stack([item[k] for item in items]) for k in items[0]}


def _reorder(batch: dict[str, Tensor], order: list[int]) -> dict[str, Tensor]:
    """The same scenes with their frames in ``order`` (tracks are left out: their queries live in frame 1)."""
    keys = ("images", "depth", "valid", "extrinsics", "intrinsics", "world_points")
    return {k: batch[k][:, order] for k in keys}


def _pointmap_error(points: Tensor, target: Tensor, valid: Tensor) -> Tensor:
    return _masked_mean((points - target).norm(dim=-1), valid)


def depth_camera_points(pred: dict[str, Tensor], image_hw: tuple[int, int]) -> Tensor:
    """Point map ``[B, S, H, W, 3]`` in the predicted camera-1 frame from predicted depth and cameras."""
    extrinsics, intrinsics = pose_encoding_to_extrinsics_intrinsics(pred["pose_enc"], image_hw)
    camera_points = unproject_depth(pred["depth"], intrinsics)
    return apply_transform(invert_extrinsics(extrinsics), camera_points)


def spearman_per_view(conf: Tensor, error: Tensor, valid: Tensor) -> list[float]:
    """Spearman correlation of confidence and |error| over the valid pixels of each view."""
    out = []
    for c, e, v in zip(conf.flatten(0, 1), error.flatten(0, 1), valid.flatten(0, 1)):
        if v.sum() < 10:
            continue
        rho = spearmanr(c[v].numpy(), e[v].numpy()).statistic
        if rho == rho:  # constant inputs give NaN
            out.append(float(rho))
    return out


def track_delta_avg(tracks: Tensor, gt_tracks: Tensor, visible: Tensor, image_size: int) -> float:
    """TAP-Vid δ_avg over frames 2..S: fraction of visible points within each threshold, averaged."""
    error = (tracks[:, 1:] - gt_tracks[:, 1:]).norm(dim=-1)
    mask = visible[:, 1:]
    fractions = [float(_masked_mean((error < t * image_size / 256).float(), mask)) for t in TRACK_THRESHOLDS_256]
    return sum(fractions) / len(fractions)


@torch.no_grad()
def evaluate(model: VGGT, scenes: dict[str, Tensor], batch_size: int = 32, semantics: bool = True) -> dict[str, float]:
    """Evaluate ``model`` on rendered held-out ``scenes`` (no ground-truth scale or pose enters a prediction).

    Returns:
        ``auc30``; ``pmap_err`` (point head) and ``pmap_err_depthcam`` (depth unprojected with predicted
        cameras), mean L2 in normalised camera-1 units; ``abs_rel``; ``conf_spearman`` (depth confidence vs
        |depth error|); ``track_delta_avg``; and with ``semantics``: ``ref_rot_deg`` and ``ref_trans``
        (camera 1), ``other_rot_deg`` (frames 2..N), ``perm_rot_deg`` (change of relative rotations when
        frames 2..N are reversed), ``reanchor_err`` and ``reanchor_err_old`` (point error after swapping
        frames 1 and 2, against ground truth anchored at the new and at the old first camera).
    """
    was_training = model.training
    model.eval()
    sums: dict[str, list[Tensor]] = defaultdict(list)
    rotation_errors, translation_errors, spearman, deltas = [], [], [], []
    num = scenes["images"].shape[0]
    for start in range(0, num, batch_size):
        batch = _collate(scenes, slice(start, start + batch_size))
        image_hw = tuple(batch["images"].shape[-2:])
        size = image_hw[1]
        frames = batch["images"].shape[1]
        target = prepare_targets(batch)
        pred = model(batch["images"], batch["track_queries"])
        valid = batch["valid"]
        extrinsics, _ = pose_encoding_to_extrinsics_intrinsics(pred["pose_enc"], image_hw)
        if frames > 1:
            rotation_error, translation_error = relative_pose_errors(extrinsics, target["extrinsics"])
            rotation_errors.append(rotation_error)
            translation_errors.append(translation_error)
        sums["pmap_err"].append(_pointmap_error(pred["world_points"], target["world_points"], valid))
        sums["pmap_err_depthcam"].append(
            _pointmap_error(depth_camera_points(pred, image_hw), target["world_points"], valid)
        )
        sums["abs_rel"].append(
            _masked_mean((pred["depth"] - target["depth"]).abs() / target["depth"].clamp_min(1e-6), valid)
        )
        spearman += spearman_per_view(pred["depth_conf"], (pred["depth"] - target["depth"]).abs(), valid)
        deltas.append(track_delta_avg(pred["tracks"][-1], batch["tracks"], batch["track_visible"], size))
        if semantics and frames > 1:
            sums["ref_rot_deg"].append(rotation_angle_deg(extrinsics[:, 0, :, :3]).mean())
            sums["ref_trans"].append(extrinsics[:, 0, :, 3].norm(dim=-1).mean())
            sums["other_rot_deg"].append(rotation_angle_deg(extrinsics[:, 1:, :, :3]).mean())
            reversed_order = [0, *range(frames - 1, 0, -1)]
            permuted = model(batch["images"][:, reversed_order])
            perm_extrinsics, _ = pose_encoding_to_extrinsics_intrinsics(permuted["pose_enc"], image_hw)
            back = torch.empty_like(perm_extrinsics)
            back[:, reversed_order] = perm_extrinsics
            # Relative rotations between the same pairs of frames, from the two orders.
            rot_a, _ = relative_pose_errors(extrinsics, back)
            sums["perm_rot_deg"].append(rot_a.mean())
            swapped_order = [1, 0, *range(2, frames)]
            swapped = _reorder(batch, swapped_order)
            new_target = prepare_targets(swapped)
            swapped_pred = model(swapped["images"])
            sums["reanchor_err"].append(
                _pointmap_error(swapped_pred["world_points"], new_target["world_points"], swapped["valid"])
            )
            old_anchor_points = target["world_points"][:, swapped_order]
            sums["reanchor_err_old"].append(
                _pointmap_error(swapped_pred["world_points"], old_anchor_points, swapped["valid"])
            )
    model.train(was_training)
    metrics = {k: float(torch.stack(v).mean()) for k, v in sums.items()}
    if rotation_errors:
        metrics["auc30"] = auc_at(torch.cat(rotation_errors), torch.cat(translation_errors))
    metrics["conf_spearman"] = sum(spearman) / max(len(spearman), 1)
    metrics["track_delta_avg"] = sum(deltas) / len(deltas)
    return metrics
